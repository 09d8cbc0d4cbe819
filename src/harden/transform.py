"""The transform interface.

A transform is one class in one module of ``transforms/``. It declares ``name`` (kebab-case,
stable), ``summary`` (one imperative line), ``kind`` ("dockerfile" or "compose"), a docstring
with the sections What it does / Why / Example / Safety / When it refuses, and ``examples``:
inline before -> after cases that the tests run.

``apply(unit, ctx)`` edits only through the document helpers, calls ``ctx.note(...)`` for advice
the user must act on, ``ctx.skip_part(...)`` for one service or stage it leaves alone, and
raises ``Skip(reason)`` when it cannot change the unit safely at all (its edits are then
discarded).
"""

from __future__ import annotations

from .record import field, record
from typing import Any, ClassVar


@record
class Example:
    """An inline example. ``files`` maps a relative path to its text; ``expect`` maps a path to
    the text after this transform alone (paths not named must stay unchanged)."""

    name: str
    files: dict[str, str]
    expect: dict[str, str] = field(default_factory=dict)


class Transform:
    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    kind: ClassVar[str] = ""  # "dockerfile" | "compose"
    examples: ClassVar[list[Example]] = []

    def apply(self, unit: Any, ctx: Any) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    @classmethod
    def docs(cls) -> str:
        import inspect

        return inspect.cleandoc(cls.__doc__ or cls.summary)
