"""SARIF 2.1.0 output (``--format sarif``), for GitHub code scanning and other SARIF viewers.

One run; ``tool.driver.rules`` has one rule per transform that ran (id = transform name, help =
its documentation). Results:

- a change: one result per changed line range (report.changes), ``ruleId`` = the transform
  that made it, level ``warning``, location = the first line of the current file the change
  touches, and the change as a ``fix`` (one replacement: ``deletedRegion`` + ``insertedContent``)
  when ``diff`` produced it (``apply`` has already written it, so no fix);
- a skip (the transform left a unit or a service/stage alone): level ``note`` with the reason;
- a note (advice the user must act on): level ``warning``;
- a suppression (``# harden: ignore`` or the config's per-service ``ignore``): level ``note``
  with ``suppressions: [{kind: inSource | external}]``.

Failures of a transform and harden's own skips go to ``invocations[0].toolExecutionNotifications``.

Paths: artifact URIs are relative to the current directory when the project is inside it (run
harden from the repository root in CI and GitHub maps them to files), else absolute file URIs.
Regions: lines are 1-based; a fix deletes whole lines (``startColumn`` 1 up to ``endLine`` =
the line after, ``endColumn`` 1); at the end of the file, where there is no line after, the
deleted region is given as ``charOffset``/``charLength`` (``columnKind`` unicodeCodePoints).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .engine import FileResult, RunResult

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"


def _uri(result: RunResult, rel: str, cwd: Path | None) -> str:
    path = Path(result.root) / rel
    base = Path(cwd) if cwd is not None else Path.cwd()
    try:
        return Path(os.path.abspath(path)).relative_to(os.path.abspath(base)).as_posix()
    except ValueError:
        return Path(os.path.abspath(path)).as_uri()


ERROR_RULE = "unreadable-file"


def _rule(name: str, cls: Any) -> dict[str, Any]:
    rule: dict[str, Any] = {"id": name, "name": "".join(w.capitalize() for w in name.split("-"))}
    if cls is not None:
        summary = getattr(cls, "summary", "") or name
        docs = cls.docs() if hasattr(cls, "docs") else summary
        rule["shortDescription"] = {"text": summary}
        rule["fullDescription"] = {"text": docs.split("\n\n")[0]}
        rule["help"] = {"text": docs, "markdown": _help_markdown(cls.name if hasattr(cls, "name") else name, summary, docs)}
    else:
        rule["shortDescription"] = {"text": name}
    rule["defaultConfiguration"] = {"level": "warning"}
    rule["properties"] = {"tags": ["docker", "hardening", "compose" if getattr(cls, "kind", "") == "compose" else "dockerfile"]}
    return rule


def _help_markdown(name: str, summary: str, docs: str) -> str:
    return f"**{name}**: {summary}\n\n{docs}\n"


def _location(uri: str, line: int | None, message: str | None = None) -> dict[str, Any]:
    loc: dict[str, Any] = {
        "physicalLocation": {
            "artifactLocation": {"uri": uri},
            # GitHub needs a startLine; a finding about the whole file points at line 1
            "region": {"startLine": max(int(line or 1), 1)},
        }
    }
    if message:
        loc["message"] = {"text": message}
    return loc


def _fix(f: FileResult, uri: str, ch: Any, description: str) -> dict[str, Any]:
    old_lines = f.before.splitlines(keepends=True)
    if ch.old_end < len(old_lines):
        region: dict[str, Any] = {"startLine": ch.old_start + 1, "startColumn": 1, "endLine": ch.old_end + 1, "endColumn": 1}
    else:
        offset = sum(len(x) for x in old_lines[: ch.old_start])
        region = {"charOffset": offset, "charLength": sum(len(x) for x in old_lines[ch.old_start:ch.old_end])}
    replacement: dict[str, Any] = {"deletedRegion": region}
    inserted = "".join(ch.added)
    if inserted:
        replacement["insertedContent"] = {"text": inserted}
    return {
        "description": {"text": description},
        "artifactChanges": [{"artifactLocation": {"uri": uri}, "replacements": [replacement]}],
    }


def to_sarif(result: RunResult, *, applied: bool = False, transforms: list | None = None,
             cwd: Path | None = None) -> dict[str, Any]:
    """The SARIF log as a dict. ``transforms``: the transform classes (default: looked up in the
    registry by the names that ran)."""
    from . import __version__
    from .report import changes

    classes: dict[str, Any] = {}
    if transforms is not None:
        classes = {t.name: t for t in transforms}
    else:
        try:
            from harden.transforms import all_transforms

            classes = {t.name: t for t in all_transforms()}
        except Exception:  # the report must not fail because one module does not import
            classes = {}
    names = list(result.transforms)
    for o in list(result.outcomes) + list(result.notes):  # type: ignore[operator]
        if o.transform != "harden" and o.transform not in names:
            names.append(o.transform)
    rules = [_rule(n, classes.get(n)) for n in names]
    index = {n: i for i, n in enumerate(names)}

    results: list[dict[str, Any]] = []
    notifications: list[dict[str, Any]] = []

    def add(rule: str, level: str, text: str, uri: str, line: int | None, **extra: Any) -> None:
        r: dict[str, Any] = {"ruleId": rule, "ruleIndex": index[rule], "level": level, "message": {"text": text},
                             "locations": [_location(uri, line)]}
        r.update(extra)
        results.append(r)

    for f in result.files:
        if not f.changed:
            continue
        uri = _uri(result, f.rel, cwd)
        for ch in changes(f, result.transforms):
            rule = ch.transform if ch.transform in index else None
            if rule is None:
                continue
            cls = classes.get(rule)
            summary = getattr(cls, "summary", "") or rule
            others = [t for t in ch.transforms if t != rule]
            n_add, n_del = len(ch.added), ch.old_end - ch.old_start
            what = []
            if n_add:
                what.append(f"adds {n_add} line{'s' if n_add != 1 else ''}")
            if n_del:
                what.append(f"removes {n_del} line{'s' if n_del != 1 else ''}")
            text = f"{summary}: {' and '.join(what)}" + (f" (with {', '.join(others)})" if others else "")
            if applied:
                text += " (applied)"
            extra: dict[str, Any] = {}
            if not applied:
                extra["fixes"] = [_fix(f, uri, ch, f"harden {rule}")]
            extra["properties"] = {"transforms": ch.transforms}
            add(rule, "warning", text, uri, ch.line, **extra)
    for o in result.outcomes:
        uri = _uri(result, o.file, cwd)
        part = f" [{o.part}]" if o.part else ""
        if o.transform == "harden" or o.transform not in index:
            if o.status in ("skipped", "failed"):
                notifications.append({"level": "note" if o.status == "skipped" else "error",
                                      "message": {"text": f"{o.status}{part}: {o.reason}"},
                                      "locations": [_location(uri, o.line)]})
            continue
        if o.status == "skipped":
            add(o.transform, "note", f"{o.transform} skipped{part}: {o.reason}", uri, o.line)
        elif o.status == "suppressed":
            kind = "inSource" if (o.reason or "").startswith("#") else "external"
            add(o.transform, "note", f"{o.transform} suppressed{part} by {o.reason}", uri, o.line,
                suppressions=[{"kind": kind, "justification": o.reason or ""}])
        elif o.status == "failed":
            notifications.append({"level": "error", "message": {"text": f"{o.transform} failed{part}: {o.reason}"},
                                  "locations": [_location(uri, o.line)],
                                  "associatedRule": {"id": o.transform, "index": index[o.transform]}})
    for n in result.notes:
        uri = _uri(result, n.file, cwd)
        if n.transform in index:
            add(n.transform, "warning", n.message, uri, n.line)
        else:
            notifications.append({"level": "warning", "message": {"text": n.message}, "locations": [_location(uri, n.line)]})

    if result.errors:  # a file that could not be read: its project was left out
        if ERROR_RULE not in index:
            index[ERROR_RULE] = len(rules)
            rules.append({"id": ERROR_RULE, "name": "UnreadableFile",
                          "shortDescription": {"text": "A file harden cannot read or parse; its project is left out"},
                          "defaultConfiguration": {"level": "error"}})
        for e in result.errors:
            add(ERROR_RULE, "error", f"{' '.join(e.message.split())} (this project was left out)",
                _uri(result, e.path, cwd), e.line)
    invocation: dict[str, Any] = {"executionSuccessful": not result.errors}
    if notifications:
        invocation["toolExecutionNotifications"] = notifications
    return {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "harden", "version": __version__, "semanticVersion": __version__,
                                "rules": rules}},
            "invocations": [invocation],
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    }


def sarif_text(result: RunResult, *, applied: bool = False, transforms: list | None = None,
               cwd: Path | None = None) -> str:
    return json.dumps(to_sarif(result, applied=applied, transforms=transforms, cwd=cwd), indent=2, ensure_ascii=False) + "\n"
