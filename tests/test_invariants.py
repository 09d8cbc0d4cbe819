"""Invariants that hold for every fixture project (DESIGN.md §5).

- no transform selected: every file comes back byte-identical;
- apply, then apply again: the second run changes nothing;
- every output re-parses (ComposeDoc / DockerfileDoc);
- no full-line comment of the input is missing from the output;
- `docker-compose config -q` passes on every output whose input passed.
"""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from harden_testlib import FIXTURES, fixture_names, harden_run
from harden.io import write_atomic

DOCKER_COMPOSE = shutil.which("docker-compose")


def _apply(path: Path):
    result = harden_run(path)
    assert not result.errors, [e.one_line() for e in result.errors]
    for f in result.changed_files:
        write_atomic(f.path, f.after)
    return result


def _comment_lines(text: str) -> Counter:
    return Counter(ln.strip() for ln in text.splitlines() if ln.strip().startswith("#"))


def _compose_ok(folder: Path, files: list[Path]) -> tuple[bool, str]:
    args = [DOCKER_COMPOSE]
    for f in files:
        args += ["-f", str(f)]
    proc = subprocess.run(args + ["config", "-q"], cwd=folder, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "HOME": "/tmp"})
    return proc.returncode == 0, proc.stderr


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


@pytest.mark.skipif(DOCKER_COMPOSE is None, reason="docker-compose is not installed (.ci/run installs it)")
def test_compose_config_still_passes(project):
    from harden.project import discover

    groups = discover(project).groups
    before = {tuple(g.files): _compose_ok(g.folder, g.files) for g in groups}
    _apply(project)
    for g in groups:
        ok_before, _ = before[tuple(g.files)]
        ok_after, err = _compose_ok(g.folder, g.files)
        if ok_before:
            assert ok_after, f"{[f.name for f in g.files]}: docker-compose config fails after harden:\n{err}"
