"""SARIF 2.1.0 output: valid against the published schema (tests/data), one result per change
or skip, rule help from the transform docs, and fixes that rebuild the new file exactly."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import jsonschema
import pytest

from harden_testlib import FIXTURES, run_harden
from harden.config import Options
from harden.engine import run
from harden.sarif import to_sarif
from tiny_transforms import TINY, AddLabel, StageLabel

SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-schema-2.1.0.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def _valid(doc: dict) -> None:
    errors = sorted(VALIDATOR.iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]


def _apply_fixes(text: str, results: list[dict]) -> str:
    """Apply every result's fix (regions refer to the original text) from the bottom up."""
    lines = text.splitlines(keepends=True)
    starts = [0]
    for ln in lines:
        starts.append(starts[-1] + len(ln))
    edits = []
    for r in results:
        for fix in r.get("fixes", []):
            for ch in fix["artifactChanges"]:
                for rep in ch["replacements"]:
                    reg = rep["deletedRegion"]
                    if "charOffset" in reg:
                        a, b = reg["charOffset"], reg["charOffset"] + reg["charLength"]
                    else:
                        a = starts[reg["startLine"] - 1] + reg["startColumn"] - 1
                        b = starts[reg["endLine"] - 1] + reg["endColumn"] - 1
                    edits.append((a, b, rep.get("insertedContent", {}).get("text", "")))
    for a, b, new in sorted(edits, reverse=True):
        text = text[:a] + new + text[b:]
    return text


def test_schema_file_is_the_sarif_2_1_0_schema():
    assert SCHEMA["title"] == "Static Analysis Results Format (SARIF) Version 2.1.0 JSON Schema"
    assert len(SCHEMA["definitions"]) == 52
    with pytest.raises(jsonschema.ValidationError):  # the validator really checks
        VALIDATOR.validate({"version": "2.1.0", "runs": [{"tool": {"driver": {}}}]})


@pytest.fixture
def tiny_result(tmp_path):
    (tmp_path / "compose.yaml").write_text(
        "services:\n  web:\n    image: nginx\n  # harden: ignore\n  db:\n    image: postgres\n")
    (tmp_path / "Dockerfile").write_text("FROM python:3.12 AS build\nRUN true\nFROM alpine:refuse\nCMD [\"sh\"]")
    return run(tmp_path, Options(), transforms=TINY, jobs=1), tmp_path


def test_tiny_sarif_snapshot(tiny_result, snap_json):
    result, root = tiny_result
    doc = to_sarif(result, transforms=TINY, cwd=root)
    _valid(doc)
    assert json.dumps(doc, indent=2) + "\n" == snap_json


def test_tiny_sarif_content(tiny_result):
    result, root = tiny_result
    doc = to_sarif(result, transforms=TINY, cwd=root)
    run_ = doc["runs"][0]
    rules = run_["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == ["add-label", "stage-label"]
    assert rules[0]["help"]["text"] == AddLabel.docs() and rules[1]["shortDescription"]["text"] == StageLabel.summary
    by = {}
    for r in run_["results"]:
        loc = r["locations"][0]["physicalLocation"]
        by.setdefault(r["ruleId"], []).append((r["level"], loc["artifactLocation"]["uri"], loc["region"]["startLine"],
                                               bool(r.get("fixes")), bool(r.get("suppressions"))))
    # a change at line 3 of compose.yaml (labels after web's image), the suppressed db, the note
    assert sorted(by["add-label"]) == [("note", "compose.yaml", 5, False, True),
                                        ("warning", "compose.yaml", 2, False, False),
                                        ("warning", "compose.yaml", 3, True, False)]
    # one change (LABEL after the first FROM), one skip (the stage that refuses)
    assert sorted(by["stage-label"]) == [("note", "Dockerfile", 3, False, False), ("warning", "Dockerfile", 1, True, False)]


def test_fixes_rebuild_the_new_text(tiny_result):
    result, root = tiny_result
    doc = to_sarif(result, transforms=TINY, cwd=root)
    for f in result.changed_files:
        mine = [r for r in doc["runs"][0]["results"]
                if r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == f.rel]
        assert _apply_fixes(f.before, mine) == f.after


def test_apply_sarif_has_no_fixes(tiny_result):
    result, root = tiny_result
    doc = to_sarif(result, applied=True, transforms=TINY, cwd=root)
    _valid(doc)
    assert not any("fixes" in r for r in doc["runs"][0]["results"])


@pytest.mark.parametrize("fixture", ["cfg-pragmas", "cfg-toml", "core-seed", "core-crlf-bom", "core-multi-project"])
def test_real_sarif_is_valid_and_fixes_apply(tmp_path, fixture):
    if not (FIXTURES / fixture).is_dir():
        pytest.skip(f"fixture {fixture} not present")
    proj = tmp_path / fixture
    shutil.copytree(FIXTURES / fixture, proj)
    p = run_harden("diff", ".", "--format", "sarif", cwd=proj)
    assert p.returncode in (0, 1), p.stderr
    doc = json.loads(p.stdout)
    _valid(doc)
    results = doc["runs"][0]["results"]
    names = {r["id"] for r in doc["runs"][0]["tool"]["driver"]["rules"]}
    assert all(r["ruleId"] in names for r in results)
    for r in results:
        uri = r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        assert not uri.startswith(("/", "file:")) and (proj / uri).is_file(), uri
    # applying every fix gives what `apply` writes
    expected = {}
    for r in results:
        uri = r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        expected.setdefault(uri, []).append(r)
    before = {uri: (proj / uri).read_bytes().decode("utf-8") for uri in expected}
    assert run_harden("apply", ".", cwd=proj).returncode == 0
    for uri, rs in expected.items():
        if any(r.get("fixes") for r in rs):
            assert _apply_fixes(before[uri], rs) == (proj / uri).read_bytes().decode("utf-8"), uri


def test_sarif_from_apply_cli(tmp_path):
    proj = tmp_path / "cfg-toml"
    shutil.copytree(FIXTURES / "cfg-toml", proj)
    p = run_harden("apply", str(proj), "--format", "sarif")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    _valid(doc)
    # the project is outside the current directory: absolute file URIs
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in doc["runs"][0]["results"]}
    assert uris and all(u.startswith("file:///") for u in uris)
