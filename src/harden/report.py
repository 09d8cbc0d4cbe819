"""Rendering a RunResult: unified diff, the text summary, JSON (SARIF is in sarif.py).

Every renderer works from the same RunResult, so what ``diff`` shows is what ``apply`` writes.
``changes(file)`` splits a file's diff into the smallest changed line ranges and says which
transform made each one (from the per-transform steps the engine records); JSON and SARIF
both use it.

JSON (``--format json``), format version 1. Keys are always present (null when empty), lists
are in a stable order (files by path; outcomes and notes by file, then registry order)::

    {
      "format": 1,                      # bumped only on an incompatible change
      "harden": "0.1.0",                # the version that wrote it
      "applied": false,                 # true for `apply` (files were written)
      "transforms": ["split-stages", ...],   # the transforms that ran, in run order
      "summary": {"files": 3, "changed": 2, "unchanged": 1, "skipped": 0,
                  "suppressed": 1, "failed": 0, "notes": 1, "errors": 0, "projects_in_error": 0},
      "files": [{
        "path": "app/Dockerfile",       # relative to the project root (PATH), "/" separated
        "kind": "dockerfile",           # or "compose"
        "changed": true,
        "transforms": ["non-root-user"],     # the transforms that changed this file
        "changes": [{                   # one per changed line range
          "transform": "non-root-user", # the transform that made it (first in run order)
          "transforms": ["non-root-user"],   # all transforms whose edits are in this range
          "line": 6,                    # first line of the old file the change touches
          "old": {"start": 6, "count": 0},   # 1-based, like a unified diff hunk header
          "new": {"start": 6, "count": 3},
          "removed": [],                # old lines (without newline)
          "added": ["RUN groupadd ...", ...]
        }],
        "diff": "--- a/app/Dockerfile\n+++ b/app/Dockerfile\n@@ ..."   # "" when unchanged
      }],
      "outcomes": [{"transform": "split-stages", "file": "app/Dockerfile",
                    "status": "changed|unchanged|skipped|suppressed|failed",
                    "reason": null, "part": null, "line": null}],
      "notes": [{"transform": "networks", "file": "compose.yaml", "line": 12,
                 "message": "..."}],
      "errors": [{"file": "b/compose.yaml", "line": 4, "message": "invalid YAML: ..."}],
      "projects_in_error": [{"project": "b/compose.yaml", "files": ["b/Dockerfile", "b/compose.yaml"]}]
    }

In a folder run a file that cannot be read leaves out only its own project (the compose files
read with it and the Dockerfiles they build, or the lone Dockerfile): it is in "errors", the
project in "projects_in_error", and none of its files is in "files".

Outcomes with transform "harden" are the tool's own skips (a symlink that leads outside the
project, a remote build context, ...) and notes with transform "harden" are about pragmas.
"""

from __future__ import annotations

from .record import field, record
from typing import Any

from . import fastdiff
from .engine import FileResult, RunResult

JSON_FORMAT_VERSION = 1


def unified_diff(rel: str, before: str, after: str) -> str:
    a = before.splitlines(keepends=True)
    b = after.splitlines(keepends=True)
    out = []
    for line in fastdiff.unified_diff(a, b, fromfile=f"a/{rel}", tofile=f"b/{rel}", n=3):
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
        body = line.rstrip("\n")
        if line.startswith(("+++", "---")):
            out.append(f"\x1b[1m{body}\x1b[0m\n")
        elif line.startswith("+"):
            out.append(f"\x1b[32m{body}\x1b[0m\n")
        elif line.startswith("-"):
            out.append(f"\x1b[31m{body}\x1b[0m\n")
        elif line.startswith("@@"):
            out.append(f"\x1b[36m{body}\x1b[0m\n")
        else:
            out.append(line)
    return "".join(out)


# ------------------------------------------------------------------ changes and attribution
@record
class Change:
    """One changed line range of a file: old lines [old_start, old_end) replaced by new lines
    [new_start, new_end) (0-based, end exclusive)."""

    transforms: list[str]
    old_start: int
    old_end: int
    new_start: int
    new_end: int
    removed: list[str] = field(default_factory=list)  # with their line endings
    added: list[str] = field(default_factory=list)

    @property
    def transform(self) -> str:
        return self.transforms[0] if self.transforms else "harden"

    @property
    def line(self) -> int:
        """1-based line of the old file where the change is: its first removed line, or for a pure
        insertion the line it follows (1 when it goes at the very top)."""
        if self.old_end > self.old_start:
            return self.old_start + 1
        return max(self.old_start, 1)


def _provenance(f: FileResult) -> tuple[list[str | None], dict[int, str]]:
    """Which transform wrote each line of ``f.after`` (None: an original line), and which
    removed each original line (by 0-based index)."""
    orig = f.before.splitlines(keepends=True)
    cur = orig
    origin: list[tuple[str, Any]] = [("o", i) for i in range(len(orig))]
    removed_by: dict[int, str] = {}
    steps = list(getattr(f, "steps", None) or [])
    if steps and steps[-1][2] != f.after or not steps and f.changed:
        steps.append(((f.transforms or ["harden"])[-1], "", f.after))
    for name, _before, after in steps:
        new = after.splitlines(keepends=True)
        nxt: list[tuple[str, Any]] = []
        for tag, i1, i2, j1, j2 in fastdiff.opcodes(cur, new):
            if tag == "equal":
                nxt += origin[i1:i2]
                continue
            for kind, v in origin[i1:i2]:
                if kind == "o":
                    removed_by.setdefault(v, name)
            nxt += [("t", name)] * (j2 - j1)
        cur, origin = new, nxt
    return [v if k == "t" else None for k, v in origin], removed_by


def changes(f: FileResult, order: list[str] | None = None) -> list[Change]:
    """The file's changes as the smallest changed line ranges, each attributed to the
    transforms whose edits it holds (in ``order``, the run order, when given)."""
    if not f.changed:
        return []
    old = f.before.splitlines(keepends=True)
    new = f.after.splitlines(keepends=True)
    writer, remover = _provenance(f)
    rank = {n: i for i, n in enumerate(order or f.transforms)}
    out: list[Change] = []
    for tag, i1, i2, j1, j2 in fastdiff.opcodes(old, new):
        if tag == "equal":
            continue
        names = {remover[i] for i in range(i1, i2) if i in remover}
        names |= {writer[j] for j in range(j1, j2) if writer[j] is not None}
        if not names:  # the chained and the direct diff matched lines differently
            names = set(f.transforms[:1])
        ordered = sorted(names, key=lambda n: (rank.get(n, len(rank)), n))
        out.append(Change(ordered, i1, i2, j1, j2, old[i1:i2], new[j1:j2]))
    return out


# ------------------------------------------------------------------ text summary
def _where(file: str, line: int | None) -> str:
    return f"{file}:{line}" if line else file


def _counts(result: RunResult) -> dict[str, int]:
    st = [o.status for o in result.outcomes]
    changed = len(result.changed_files)
    return {
        "files": len(result.files),
        "changed": changed,
        "unchanged": len(result.files) - changed,
        "skipped": st.count("skipped"),
        "suppressed": st.count("suppressed"),
        "failed": st.count("failed"),
        "notes": len(result.notes),
        "errors": len(result.errors),
        "projects_in_error": len(result.errored),
    }


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def summary_text(result: RunResult, *, applied: bool) -> str:
    """Per changed file the transforms that changed it and the size of the change; then the
    skips (with reasons), failures, suppressions, notes; then one line of counts."""
    lines: list[str] = []
    verb = "rewrote" if applied else "would rewrite"
    for f in result.changed_files:
        by = ", ".join(f.transforms) if f.transforms else "harden"
        old = f.before.splitlines()
        new = f.after.splitlines()
        plus = minus = 0
        for tag, i1, i2, j1, j2 in fastdiff.opcodes(old, new):
            if tag != "equal":
                minus += i2 - i1
                plus += j2 - j1
        lines.append(f"{verb} {f.rel} (+{plus} -{minus}): {by}")
    for o in result.outcomes:
        if o.status == "skipped":
            part = f" [{o.part}]" if o.part else ""
            who = "" if o.transform == "harden" else f" {o.transform}"
            lines.append(f"skipped{who}{part} in {_where(o.file, o.line)}: {o.reason}")
    for o in result.outcomes:
        if o.status == "failed":
            lines.append(f"failed {o.transform} on {_where(o.file, o.line)}: {o.reason}")
    # suppressions: one line per place, listing the transforms it held back
    grouped: dict[tuple, list[str]] = {}
    for o in result.outcomes:
        if o.status == "suppressed":
            grouped.setdefault((o.file, o.line, o.part, o.reason), []).append(o.transform)
    for (file, line, part, reason), names in grouped.items():
        what = f" [{part}]" if part else ""
        lines.append(f"suppressed{what} in {_where(file, line)} by {reason}: {', '.join(names)}")
    for n in result.notes:
        lines.append(f"note ({n.transform}) {_where(n.file, n.line)}: {n.message}")
    c = _counts(result)
    head = f"{_plural(c['changed'], 'file')} {'changed' if applied else 'to change'}"
    if not result.files:
        head = "no Dockerfile or compose file found"
    for name, files in result.errored:
        others = [f for f in files if f != name]
        lines.append(f"left out {name}" + (f" (with {', '.join(others)})" if others else "")
                     + ": a file of this project could not be read")
    lines.append(
        f"{head}, {c['unchanged']} unchanged, {c['skipped']} skipped, {c['suppressed']} suppressed, "
        f"{c['failed']} failed, {_plural(c['notes'], 'note')}"
        + (f", {_plural(c['projects_in_error'], 'project')} in error" if c["projects_in_error"] else "")
    )
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ JSON
def _strip_nl(lines: list[str]) -> list[str]:
    return [ln.rstrip("\r\n") for ln in lines]


def to_json(result: RunResult, *, applied: bool) -> dict[str, Any]:
    from . import __version__

    files = []
    for f in result.files:
        chs = changes(f, result.transforms)
        files.append({
            "path": f.rel,
            "kind": f.kind,
            "changed": f.changed,
            "transforms": list(f.transforms),
            "changes": [
                {
                    "transform": c.transform,
                    "transforms": c.transforms,
                    "line": c.line,
                    "old": {"start": c.old_start + 1 if c.old_end > c.old_start else c.old_start, "count": c.old_end - c.old_start},
                    "new": {"start": c.new_start + 1 if c.new_end > c.new_start else c.new_start, "count": c.new_end - c.new_start},
                    "removed": _strip_nl(c.removed),
                    "added": _strip_nl(c.added),
                }
                for c in chs
            ],
            "diff": unified_diff(f.rel, f.before, f.after) if f.changed else "",
        })
    return {
        "format": JSON_FORMAT_VERSION,
        "harden": __version__,
        "applied": applied,
        "transforms": list(result.transforms),
        "summary": _counts(result),
        "files": files,
        "outcomes": [
            {"transform": o.transform, "file": o.file, "status": o.status, "reason": o.reason, "part": o.part, "line": o.line}
            for o in result.outcomes
        ],
        "notes": [{"transform": n.transform, "file": n.file, "line": n.line, "message": n.message} for n in result.notes],
        # a folder run goes on without the projects whose files cannot be read: each error, and
        # the projects left out (their files are neither shown nor written)
        "errors": [{"file": e.path, "line": e.line, "message": " ".join(e.message.split())} for e in result.errors],
        "projects_in_error": [{"project": name, "files": files} for name, files in result.errored],
    }


def json_text(result: RunResult, *, applied: bool) -> str:
    import json

    return json.dumps(to_json(result, applied=applied), indent=2, ensure_ascii=False) + "\n"
