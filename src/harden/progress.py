"""A progress bar on stderr, for runs over many projects.

Drawn only when stderr is a terminal, and only once a run has taken longer than ``delay``
seconds (a small project never flickers). Redraws at most every ``interval`` seconds and
erases itself when done, so the summary and the diff are never mixed with it.

Use: ``bar = Progress.for_stderr()``; pass ``bar`` (a callable ``(phase, done, total)``) to
``engine.run(..., progress=bar)``; call ``bar.close()`` at the end.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

PHASES = {"reading": "reading", "transforming": "hardening", "projects": "projects"}


class Progress:
    def __init__(self, stream: TextIO, *, delay: float = 0.3, interval: float = 0.1, width: int | None = None,
                 clock=time.monotonic):
        self.stream = stream
        self.delay = delay
        self.interval = interval
        self.width = width
        self.clock = clock
        self.start = clock()
        self.last = 0.0
        self.drawn = False

    @classmethod
    def for_stderr(cls, stream: TextIO | None = None) -> "Progress | None":
        """A bar on stderr when it is a terminal (and TERM is not "dumb"), else None."""
        import os

        stream = stream or sys.stderr
        try:
            tty = stream.isatty()
        except (AttributeError, ValueError):
            tty = False
        if not tty or os.environ.get("TERM") == "dumb":
            return None
        return cls(stream)

    def line(self, phase: str, done: int, total: int) -> str:
        total = max(total, done, 1)
        cols = self.width
        if not cols:
            import shutil  # only on a terminal: its import costs ~2 ms

            cols = shutil.get_terminal_size((80, 20)).columns
        label = PHASES.get(phase, phase)
        count = f" {done}/{total} {label}"
        bar_w = max(10, min(40, cols - 1 - len("harden [] 100%") - len(count)))
        filled = int(bar_w * done / total)
        pct = int(100 * done / total)
        return f"harden [{'#' * filled}{'.' * (bar_w - filled)}] {pct:3d}%{count}"[: max(cols - 1, 20)]

    def __call__(self, phase: str, done: int, total: int) -> None:
        now = self.clock()
        if now - self.start < self.delay:
            return
        if self.drawn and now - self.last < self.interval and done < total:
            return
        self.last = now
        self.drawn = True
        self.stream.write("\r\x1b[2K" + self.line(phase, done, total))
        self.stream.flush()

    def close(self) -> None:
        if self.drawn:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()
            self.drawn = False
