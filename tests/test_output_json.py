"""`--format json`: the documented shape (report.py), stable order, and `harden list --format json`."""

from __future__ import annotations

import json
import shutil

from harden_testlib import FIXTURES, run_harden
from harden.config import Options
from harden.engine import run
from harden.report import changes, json_text, to_json
from tiny_transforms import TINY


def _tiny(tmp_path):
    (tmp_path / "compose.yaml").write_text(
        "# app\nservices:\n  web:\n    image: nginx\n  # harden: ignore\n  db:\n    image: postgres\n")
    (tmp_path / "Dockerfile").write_text("FROM python:3.12 AS build\nRUN true\nFROM alpine:refuse\nCMD [\"sh\"]\n")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "Dockerfile").write_text("# harden: ignore-file\nFROM alpine\n")
    return run(tmp_path, Options(), transforms=TINY, jobs=1)


def test_json_snapshot(tmp_path, snap_json):
    assert json_text(_tiny(tmp_path), applied=False) == snap_json


def test_json_shape(tmp_path):
    doc = to_json(_tiny(tmp_path), applied=False)
    assert list(doc) == ["format", "harden", "applied", "transforms", "summary", "files", "outcomes", "notes",
                         "errors", "projects_in_error"]
    assert doc["format"] == 1 and doc["applied"] is False and doc["transforms"] == ["add-label", "stage-label"]
    assert doc["summary"] == {"files": 3, "changed": 2, "unchanged": 1, "skipped": 1, "suppressed": 2, "failed": 0, "notes": 1,
                              "errors": 0, "projects_in_error": 0}
    assert doc["errors"] == [] and doc["projects_in_error"] == []
    assert [f["path"] for f in doc["files"]] == ["Dockerfile", "compose.yaml", "other/Dockerfile"]
    for f in doc["files"]:
        assert list(f) == ["path", "kind", "changed", "transforms", "changes", "diff"]
        assert f["changed"] == bool(f["changes"]) == bool(f["diff"])
        for c in f["changes"]:
            assert list(c) == ["transform", "transforms", "line", "old", "new", "removed", "added"]
            assert c["transform"] == c["transforms"][0] and c["new"]["count"] == len(c["added"])
    for o in doc["outcomes"]:
        assert list(o) == ["transform", "file", "status", "reason", "part", "line"]
        assert o["status"] in ("changed", "unchanged", "skipped", "suppressed", "failed")
    assert {(o["transform"], o["file"], o["status"]) for o in doc["outcomes"]} >= {
        ("stage-label", "Dockerfile", "changed"), ("stage-label", "Dockerfile", "skipped"),
        ("stage-label", "other/Dockerfile", "suppressed"), ("add-label", "compose.yaml", "suppressed"),
        ("add-label", "compose.yaml", "changed")}
    assert doc["notes"] == [{"transform": "add-label", "file": "compose.yaml", "line": 3, "message": "labelled web"}]


def test_changes_are_attributed_to_their_transform(tmp_path):
    (tmp_path / "compose.yaml").write_text("services:\n  a:\n    image: x\n\n  b:\n    image: y\n")

    class Second(TINY[0]):
        name = "second"

        def apply(self, project, ctx):
            svc = project.service("b")
            svc.doc.add_key(svc.node, "restart", "always")

    r = run(tmp_path, Options(), transforms=[TINY[0], Second], jobs=1)
    f = r.files[0]
    got = [(c.transforms, c.line, [x.strip() for x in c.added]) for c in changes(f, r.transforms)]
    assert got == [
        (["add-label"], 3, ["labels:", 'hardened: "true"']),
        # two transforms inserted at the same place: one change, both named, run order first
        (["add-label", "second"], 6, ["labels:", 'hardened: "true"', "restart: always"]),
    ]


def test_cli_json_diff_and_apply(tmp_path):
    proj = tmp_path / "cfg-pragmas"
    shutil.copytree(FIXTURES / "cfg-pragmas", proj)
    p = run_harden("diff", str(proj), "--format", "json")
    assert p.returncode == 1 and p.stderr == "", p.stderr
    doc = json.loads(p.stdout)
    assert doc["applied"] is False and doc["summary"]["changed"] >= 1
    assert any(o["status"] == "suppressed" and o["part"] == "cache" for o in doc["outcomes"])
    p = run_harden("apply", str(proj), "--format", "json")
    assert p.returncode == 0, p.stderr
    applied = json.loads(p.stdout)
    assert applied["applied"] is True and applied["files"] == doc["files"]
    assert applied["outcomes"] == doc["outcomes"]


def test_cli_json_after_apply_nothing_pending(tmp_path):
    proj = tmp_path / "cfg-toml"
    shutil.copytree(FIXTURES / "cfg-toml", proj)
    assert run_harden("apply", str(proj)).returncode == 0
    p = run_harden("diff", str(proj), "--format", "json")
    assert p.returncode == 0 and json.loads(p.stdout)["summary"]["changed"] == 0, p.stdout


def test_list_json():
    from harden.transforms import all_transforms

    p = run_harden("list", "--format", "json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc == [{"name": t.name, "summary": t.summary, "kind": t.kind} for t in all_transforms()]
    assert all(d["kind"] in ("compose", "dockerfile") and d["summary"] for d in doc)
    p = run_harden("list", "--format", "sarif")
    assert p.returncode == 2 and p.stderr == "harden: error: --format: unknown format 'sarif' (use text, json)\n"
