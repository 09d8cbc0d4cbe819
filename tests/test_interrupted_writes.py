"""Interrupted writes: `harden apply` killed (SIGKILL) at every step of its writes.

The project is two fixtures side by side (core-multi-project: four files in three folders, and
core-seed: a Dockerfile and a compose file), six files to rewrite. The debug hook
HARDEN_TEST_SLOW_WRITES=seconds (harden/io.py) pauses before and after each rename, so the
write phase has 12 observable steps: a temporary file appears, a file is replaced. The test
watches the folder and kills apply right after step k, for every k, then checks:
- every file is byte for byte the old or the new version, never a mix, never truncated;
- the next `apply` removes every temporary file the killed run left and finishes the job;
- a final `diff` has nothing left to do.
Nothing here measures time: the kill points are events seen on disk, not delays.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures"
PARTS = ("core-multi-project", "core-seed")
TMP_PREFIX = ".harden-tmp-"


def _project(dest: Path) -> Path:
    root = dest / "proj"
    root.mkdir()
    for name in PARTS:
        if not (FIXTURES / name).is_dir():
            pytest.skip(f"fixture {name} missing")
        shutil.copytree(FIXTURES / name, root / name, symlinks=True)
    return root


def _files(root: Path) -> dict[str, bytes]:
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for fn in files:
            p = Path(dirpath) / fn
            try:
                out[str(p.relative_to(root))] = p.read_bytes()
            except FileNotFoundError:  # a temporary file renamed while we looked
                continue
    return out


def _temps(root: Path) -> list[str]:
    return [k for k in _files(root) if os.path.basename(k).startswith(TMP_PREFIX)]


def _expected(root: Path) -> dict[str, bytes]:
    from harden.engine import run

    result = run(root)
    assert not result.errors, [e.one_line() for e in result.errors]
    return {f.rel: f.after.encode("utf-8") for f in result.changed_files}


def _apply(root: Path, env: dict | None = None, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "harden", "apply", str(root)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def _state(root: Path, old: dict[str, bytes]) -> tuple:
    """What an observer sees: which files changed, which temps exist."""
    now = _files(root)
    return tuple(sorted(k for k in now if k in old and now[k] != old[k])), tuple(sorted(_temps(root)))


def _kill_after_event(root: Path, old: dict[str, bytes], k: int, env: dict) -> int:
    """Run apply and SIGKILL it right after the k-th change of the folder's state (0: as soon
    as it runs). Returns how many state changes were seen."""
    proc = _apply(root, env)
    seen = 0
    last = _state(root, old)
    deadline = 120.0  # a hang fails instead of blocking CI (not a timing assertion)
    start = time.monotonic()
    try:
        while proc.poll() is None and seen < k:
            if time.monotonic() - start > deadline:
                pytest.fail("apply did not finish its writes")
            cur = _state(root, old)
            if cur != last:
                seen += 1
                last = cur
            time.sleep(0.002)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        proc.stdout.close()
        proc.stderr.close()
    return seen


def _apply_in_process(root: Path) -> int:
    import contextlib
    import io

    from harden.cli import main

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            main(["apply", str(root)])
        except SystemExit as e:
            return e.code if isinstance(e.code, int) else 0
    return 0


def _check_old_or_new(root: Path, old: dict[str, bytes], new: dict[str, bytes], where: str) -> None:
    now = _files(root)
    for rel, data in old.items():
        assert rel in now, f"{where}: {rel} disappeared"
        allowed = {data, new.get(rel, data)}
        assert now[rel] in allowed, f"{where}: {rel} is neither the old nor the new version ({len(now[rel])} bytes)"


@pytest.mark.slow
def test_apply_killed_at_every_write_step(tmp_path: Path):
    root = _project(tmp_path)
    old = _files(root)
    new = _expected(root)
    assert len(new) >= 4, f"the project must rewrite several files, got {sorted(new)}"
    env = dict(os.environ, HARDEN_TEST_SLOW_WRITES="0.05")
    pristine = tmp_path / "pristine"
    shutil.copytree(root, pristine, symlinks=True)
    steps = 2 * len(new) + 1  # temp appears + file replaced, per file; then run to the end
    outcomes = []
    for k in range(steps):
        shutil.rmtree(root)
        shutil.copytree(pristine, root, symlinks=True)
        seen = _kill_after_event(root, old, k, env)
        _check_old_or_new(root, old, new, f"killed after step {k}")
        changed, temps = _state(root, old)
        outcomes.append((seen, len(changed), len(temps)))
        # the next run cleans up and completes
        assert _apply_in_process(root) == 0
        assert not _temps(root), f"temporary files left after the next apply: {_temps(root)}"
        assert {r: d for r, d in _files(root).items() if r in new} == new
        assert {r: d for r, d in _files(root).items() if r not in new} == {r: d for r, d in old.items() if r not in new}
    # the kill points covered the whole write phase: a kill with a temp file present, kills
    # with some files written and others not, and a run with all files written
    assert any(t > 0 for _s, _c, t in outcomes), outcomes
    assert any(0 < c < len(new) for _s, c, _t in outcomes), outcomes
    assert outcomes[0][1] == 0 and outcomes[-1][1] == len(new), outcomes


def test_write_atomic_leaves_the_old_file_when_the_write_fails(tmp_path: Path, monkeypatch):
    from harden import io

    target = tmp_path / "compose.yaml"
    target.write_text("old\n")
    os.chmod(target, 0o640)

    def boom(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(io.os, "replace", boom)
    with pytest.raises(OSError):
        io.write_atomic(target, "new\n")
    assert target.read_text() == "old\n"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(TMP_PREFIX)]
    monkeypatch.undo()
    io.write_atomic(target, "new\n")
    assert target.read_text() == "new\n" and (os.stat(target).st_mode & 0o777) == 0o640


def test_stale_temps_are_cleaned_by_apply(tmp_path: Path):
    root = _project(tmp_path)
    stale = root / "core-seed" / f"{TMP_PREFIX}abc123"
    stale.write_text("half a file")
    keep = root / "core-seed" / "notes.harden-tmp.txt"  # only our prefix is touched
    keep.write_text("mine")
    assert _apply_in_process(root) == 0
    assert not stale.exists() and keep.exists()
