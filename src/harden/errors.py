"""Exceptions shared by the documents, the engine and the transforms.

None of these reach the user as a traceback: the engine turns them into outcomes and the CLI
into one line (``harden: error: FILE[:LINE]: what is wrong``) and exit code 2.
"""

from __future__ import annotations


class HardenError(Exception):
    """Bad input: a file harden cannot read or parse. Ends the run with exit 2."""

    def __init__(self, path: str, message: str, line: int | None = None):
        super().__init__(message)
        self.path = path
        self.message = message
        self.line = line

    def __reduce__(self):  # picklable across worker processes
        return (HardenError, (self.path, self.message, self.line))

    def one_line(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        msg = " ".join(self.message.split())
        return f"{where}: {msg}"


class Skip(Exception):
    """Raised by a transform for input it cannot change safely; its edits are discarded."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason

    def __reduce__(self):
        return (Skip, (self.reason,))


class EditError(Exception):
    """An edit helper was asked for something it cannot do without damage."""
