"""Invariants that hold for every fixture project (DESIGN.md §5).

- no transform selected: every file comes back byte-identical;
- apply, then apply again: the second run changes nothing;
- every output re-parses (ComposeDoc / DockerfileDoc);
- no full-line comment of the input is missing from the output;
- `config -q` passes on every output whose input passed, per compose CLI: Compose v2 (`docker
  compose`, required; it also checks that each network, volume, secret and config a service
  names is declared) and docker-compose 1.29 where it is installed.
"""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest

from harden_testlib import FIXTURES, assert_project_still_valid, fixture_names, harden_run, project_compose_config
from harden.io import write_atomic


def _apply(path: Path):
    result = harden_run(path)
    assert not result.errors, [e.one_line() for e in result.errors]
    for f in result.changed_files:
        write_atomic(f.path, f.after)
    return result


def _comment_lines(text: str) -> Counter:
    return Counter(ln.strip() for ln in text.splitlines() if ln.strip().startswith("#"))


@pytest.fixture(params=fixture_names())
def project(request, tmp_path):
    dest = tmp_path / request.param
    shutil.copytree(FIXTURES / request.param, dest, symlinks=True)
    return dest


def test_there_are_enough_fixtures():
    assert len(fixture_names()) >= 15


def test_noop_is_byte_identical(project):
    result = harden_run(project, select=[])
    assert not result.errors
    assert result.files, "fixture has no files harden reads"
    for f in result.files:
        assert f.after == f.before
        assert f.path.read_bytes() == f.before.encode("utf-8")


def test_apply_is_idempotent_and_keeps_comments(project):
    first = _apply(project)
    second = harden_run(project)
    assert not second.errors
    again = [f.rel for f in second.changed_files]
    assert again == [], f"second apply would change {again}"
    for f in first.files:
        before = _comment_lines(f.before)
        after = _comment_lines(f.path.read_text(encoding="utf-8"))
        missing = before - after
        assert not missing, f"{f.rel} lost comment lines: {list(missing)}"


def test_outputs_reparse(project):
    from harden.compose_doc import ComposeDoc
    from harden.dockerfile_doc import DockerfileDoc

    result = harden_run(project)
    for f in result.files:
        if f.kind == "compose":
            ComposeDoc(f.rel, f.after)
        else:
            DockerfileDoc(f.rel, f.after)


def test_compose_config_still_passes(project):
    before = project_compose_config(project)
    _apply(project)
    assert_project_still_valid(before, project_compose_config(project))
