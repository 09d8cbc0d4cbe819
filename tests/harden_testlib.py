"""Shared test helpers (import them from here, not from conftest: tests/e2e has a conftest of its own): snapshot extensions that keep one real file per output in the
top-level snapshots/ folder, and helpers to run harden on a copy of a fixture."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SNAPSHOTS = REPO / "snapshots"


class _TopLevel(SingleFileSnapshotExtension):
    _write_mode = WriteMode.TEXT

    @classmethod
    def dirname(cls, *, test_location) -> str:  # snapshots/<test module>/
        return str(SNAPSHOTS / test_location.basename)


class DockerfileSnapshot(_TopLevel):
    file_extension = "Dockerfile"


class ComposeSnapshot(_TopLevel):
    file_extension = "compose.yaml"


class DiffSnapshot(_TopLevel):
    file_extension = "diff"


class TextSnapshot(_TopLevel):
    file_extension = "txt"


class JsonSnapshot(_TopLevel):
    file_extension = "json"


class BytesSnapshot(SingleFileSnapshotExtension):
    """For outputs that must be compared byte for byte (CRLF)."""

    _write_mode = WriteMode.BINARY
    file_extension = "bin"

    @classmethod
    def dirname(cls, *, test_location) -> str:
        return str(SNAPSHOTS / test_location.basename)


def fixture_names() -> list[str]:
    return sorted(p.name for p in FIXTURES.iterdir() if p.is_dir() and p.name != "apps" and not p.name.startswith("_"))


def copy_fixture(name: str, dest: Path) -> Path:
    target = dest / name
    shutil.copytree(FIXTURES / name, target, symlinks=True)
    return target


def run_harden(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harden", *args], capture_output=True, text=True, cwd=cwd)


def harden_run(path: Path, select: list[str] | None = None):
    """Run the engine in-process and return the RunResult."""
    from harden.config import Options
    from harden.engine import run

    opts = Options()
    if select is not None:
        opts.select = select
    return run(path, opts)


def changed_text(result, rel: str) -> str:
    for f in result.files:
        if f.rel == rel:
            return f.after
    raise KeyError(rel)
