"""Rendering a RunResult: unified diff, the text summary, JSON."""

from __future__ import annotations

import difflib
import json
from typing import Any

from .engine import RunResult


def unified_diff(rel: str, before: str, after: str) -> str:
    a = before.splitlines(keepends=True)
    b = after.splitlines(keepends=True)
    out = []
    for line in difflib.unified_diff(a, b, fromfile=f"a/{rel}", tofile=f"b/{rel}", n=3):
        if not line.endswith("\n"):
            line += "\n\\ No newline at end of file\n"
        out.append(line)
    return "".join(out)


def diff_text(result: RunResult, color: bool = False) -> str:
    parts = []
    for f in result.changed_files:
        d = unified_diff(f.rel, f.before, f.after)
        if color:
            d = colorize(d)
        parts.append(d)
    return "".join(parts)


def colorize(d: str) -> str:
    out = []
    for line in d.splitlines(keepends=True):
        if line.startswith(("+++", "---")):
            out.append(f"\x1b[1m{line.rstrip(chr(10))}\x1b[0m\n")
        elif line.startswith("+"):
            out.append(f"\x1b[32m{line.rstrip(chr(10))}\x1b[0m\n")
        elif line.startswith("-"):
            out.append(f"\x1b[31m{line.rstrip(chr(10))}\x1b[0m\n")
        elif line.startswith("@@"):
            out.append(f"\x1b[36m{line.rstrip(chr(10))}\x1b[0m\n")
        else:
            out.append(line)
    return "".join(out)


def summary_text(result: RunResult, *, applied: bool) -> str:
    lines: list[str] = []
    verb = "rewrote" if applied else "would rewrite"
    for f in result.changed_files:
        by = ", ".join(f.transforms) if f.transforms else "harden"
        lines.append(f"{verb} {f.rel} ({by})")
    skips = [o for o in result.outcomes if o.status == "skipped"]
    fails = [o for o in result.outcomes if o.status == "failed"]
    supp = [o for o in result.outcomes if o.status == "suppressed"]
    for o in skips:
        where = f"{o.file}:{o.line}" if o.line else o.file
        part = f" [{o.part}]" if o.part else ""
        lines.append(f"skipped {o.transform}{part} in {where}: {o.reason}")
    for o in fails:
        lines.append(f"failed {o.transform} on {o.file}: {o.reason}")
    for o in supp:
        where = f"{o.file}:{o.line}" if o.line else o.file
        part = f" [{o.part}]" if o.part else ""
        lines.append(f"suppressed {o.transform}{part} in {where} ({o.reason})")
    for n in result.notes:
        where = f"{n.file}:{n.line}" if n.line else n.file
        lines.append(f"note ({n.transform}) {where}: {n.message}")
    changed = len(result.changed_files)
    unchanged = len(result.files) - changed
    lines.append(
        f"{changed} file{'s' if changed != 1 else ''} {'changed' if applied else 'to change'}, "
        f"{unchanged} unchanged, {len(skips)} skipped, {len(fails)} failed, {len(result.notes)} "
        f"note{'s' if len(result.notes) != 1 else ''}"
    )
    return "\n".join(lines) + "\n"


def to_json(result: RunResult, *, applied: bool) -> dict[str, Any]:
    return {
        "applied": applied,
        "files": [
            {
                "path": f.rel,
                "kind": f.kind,
                "changed": f.changed,
                "transforms": f.transforms,
                "diff": unified_diff(f.rel, f.before, f.after) if f.changed else "",
            }
            for f in result.files
        ],
        "outcomes": [
            {k: v for k, v in o.__dict__.items()} for o in result.outcomes
        ],
        "notes": [n.__dict__ for n in result.notes],
        "errors": [e.one_line() for e in result.errors],
    }


def json_text(result: RunResult, *, applied: bool) -> str:
    return json.dumps(to_json(result, applied=applied), indent=2) + "\n"
