"""The `harden` command's entry point: a start-up fast path in front of the typer app.

Importing typer costs more than everything else a `harden diff` on a small project does
(~45 ms of a ~140 ms run), and diff/apply are what pre-commit and CI run on every commit. So
the common, well-formed invocations of those two commands are recognised here with a strict
parser and run directly (commands.py, the same functions the typer app calls). Anything else
(help, --version, list/explain/inspect, an unknown or misspelt option, a missing value, a value
that looks like an option, two paths) goes to the typer app unchanged, which produces the
usual help and usage errors. tests/test_entry.py checks that every invocation this parser
accepts reaches the command with exactly the arguments typer would have passed.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional, Sequence

# option -> (keyword, repeatable); every one takes exactly one value
_VALUE_OPTIONS = {
    "--select": ("select", True),
    "--ignore": ("ignore", True),
    "--set": ("sets", True),
    "--format": ("format", False),
    "--config": ("config", False),
}
_FLAGS = {"diff": {"--color": ("color", True), "--no-color": ("color", False)}, "apply": {}}


def parse(args: Sequence[str]) -> Optional[tuple[str, dict]]:
    """``(command, keyword arguments)`` for a well-formed diff/apply invocation, else None."""
    if not args or args[0] not in _FLAGS:
        return None
    command, flags = args[0], _FLAGS[args[0]]
    kw: dict = {}
    paths: list[str] = []
    i, positional_only = 1, False
    while i < len(args):
        tok = args[i]
        i += 1
        if positional_only or not tok.startswith("-"):
            paths.append(tok)
            continue
        if tok == "--":
            positional_only = True
            continue
        if tok in flags:
            key, value = flags[tok]
            kw[key] = value
            continue
        name, eq, value = tok.partition("=")
        if name not in _VALUE_OPTIONS:
            return None
        if not eq:
            if i >= len(args) or args[i].startswith("-"):
                return None
            value = args[i]
            i += 1
        key, repeatable = _VALUE_OPTIONS[name]
        if repeatable:
            kw.setdefault(key, []).append(value)
        else:
            kw[key] = value
    if len(paths) > 1 or "" in paths or kw.get("config") == "":
        return None
    kw["path"] = Path(paths[0]) if paths else Path(".")
    if "config" in kw:
        kw["config"] = Path(kw["config"])
    return command, kw


def main(argv: Optional[Sequence[str]] = None) -> None:
    parsed = parse(sys.argv[1:] if argv is None else list(argv))
    if parsed is None:
        from .cli import main as typer_main

        typer_main(None if argv is None else list(argv))
        return
    from . import commands

    command, kw = parsed
    sys.exit(commands.guarded(lambda: getattr(commands, command)(**kw)))
