"""Mutation tests over every fixture project in tests/fixtures/*/.

Each compose file and Dockerfile of a fixture is damaged the ways files get damaged: a line
dropped, duplicated, swapped or re-indented, a tab inserted, the file truncated, stray or
invalid bytes (bad UTF-8, NUL, a lone CR, a BOM in the middle), merge-conflict markers. For
every mutant, `harden diff` and `harden apply` (on a copy):
- exit 0, 1 (diff only) or 2, never with an exception (no traceback);
- on exit 2 name the damaged file in a `harden: error: ...` line and leave it as it was; when it
  was the only project, that line is all there is and no file changes; in a tree of several
  projects the others are still done (issue 18), and the error says a project was left out;
- on success leave no temporary file, write files that parse again, and a second run has
  nothing left to do.
Most mutants run the CLI in-process (typer's CliRunner, ~20 ms); a sample runs the real
`python -m harden` in a subprocess and checks that stderr has no "Traceback".
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from harden.project import is_compose_name, is_dockerfile_name

FIXTURES = Path(__file__).resolve().parent / "fixtures"
MUTANTS_PER_FIXTURE = int(os.environ.get("HARDEN_MUTANTS", "4"))  # more locally: HARDEN_MUTANTS=40


def fixture_dirs() -> list[Path]:
    if not FIXTURES.is_dir():
        return []
    return sorted(p for p in FIXTURES.iterdir() if p.is_dir() and p.name != "apps" and not p.name.startswith("_"))


def target_files(root: Path) -> list[Path]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in ("node_modules", ".git", "__pycache__"))
        for fn in sorted(filenames):
            if is_compose_name(fn) or is_dockerfile_name(fn):
                out.append(Path(dirpath) / fn)
    return out


# ----------------------------------------------------------------------- operators

def _lines(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True) or [b""]


def drop_line(data: bytes, rnd: random.Random) -> bytes:
    ls = _lines(data)
    del ls[rnd.randrange(len(ls))]
    return b"".join(ls)


def duplicate_line(data: bytes, rnd: random.Random) -> bytes:
    ls = _lines(data)
    i = rnd.randrange(len(ls))
    ls.insert(i, ls[i] if ls[i].endswith(b"\n") else ls[i] + b"\n")
    return b"".join(ls)


def swap_lines(data: bytes, rnd: random.Random) -> bytes:
    ls = _lines(data)
    if len(ls) > 1:
        i = rnd.randrange(len(ls) - 1)
        a, b = ls[i], ls[i + 1]
        if not b.endswith(b"\n"):
            a, b = a.rstrip(b"\r\n"), b + (b"\r\n" if a.endswith(b"\r\n") else b"\n")
        ls[i], ls[i + 1] = b, a
    return b"".join(ls)


def reindent_line(data: bytes, rnd: random.Random) -> bytes:
    ls = _lines(data)
    i = rnd.randrange(len(ls))
    if rnd.random() < 0.5 and ls[i].startswith(b" "):
        ls[i] = ls[i][rnd.choice([1, 2]):]
    else:
        ls[i] = b" " * rnd.choice([1, 2, 3]) + ls[i]
    return b"".join(ls)


def insert_tab(data: bytes, rnd: random.Random) -> bytes:
    ls = _lines(data)
    i = rnd.randrange(len(ls))
    where = rnd.choice(["start", "indent", "middle"])
    if where == "start":
        ls[i] = b"\t" + ls[i]
    elif where == "indent":
        stripped = ls[i].lstrip(b" ")
        ls[i] = b"\t" * max(1, (len(ls[i]) - len(stripped)) // 4) + stripped
    else:
        j = rnd.randrange(len(ls[i]) + 1)
        ls[i] = ls[i][:j] + b"\t" + ls[i][j:]
    return b"".join(ls)


def truncate(data: bytes, rnd: random.Random) -> bytes:
    return data[: rnd.randrange(len(data) + 1)]


def stray_bytes(data: bytes, rnd: random.Random) -> bytes:
    junk = rnd.choice([b"\xff\xfe", b"\xc3", b"\x00", b"\r", b"\x1b[31m", b"\xef\xbb\xbf", b"\xed\xa0\x80",
                       b"\x7f", b"\xe2\x80\xa8", b"{{", b"]]", b"*", b"&", b"!!python/object:os.system"])
    j = rnd.randrange(len(data) + 1)
    return data[:j] + junk + data[j:]


def conflict_markers(data: bytes, rnd: random.Random) -> bytes:
    ls = _lines(data)
    i = rnd.randrange(len(ls) + 1)
    j = min(len(ls), i + rnd.randrange(1, 4))
    ours = ls[i:j]
    theirs = [rnd.choice([b"  image: other:1\n", b"FROM other:1\n", b"    ports: []\n"])]
    block = [b"<<<<<<< HEAD\n", *ours, b"=======\n", *theirs, b">>>>>>> feature\n"]
    return b"".join(ls[:i] + block + ls[j:])


OPERATORS = [drop_line, duplicate_line, swap_lines, reindent_line, insert_tab, truncate, stray_bytes, conflict_markers]


# ------------------------------------------------------------------------ checking

def snapshot_tree(root: Path) -> dict[str, bytes]:
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for fn in files:
            p = Path(dirpath) / fn
            if not p.is_symlink():
                out[str(p.relative_to(root))] = p.read_bytes()
    return out


class _Res:
    def __init__(self, exit_code: int, stdout: str, stderr: str):
        self.exit_code, self.stdout, self.stderr = exit_code, stdout, stderr


def invoke(*args: str) -> _Res:
    """The real entry point (harden.cli.main), in-process: its exit code and output."""
    import contextlib
    import io

    from harden.cli import main

    out, err = io.StringIO(), io.StringIO()
    code = None
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(list(args))
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
        except BaseException as e:  # noqa: BLE001 - any exception is the bug we look for
            import traceback

            tb = "".join(traceback.format_exception(e))
            pytest.fail(f"harden {' '.join(args)} raised:\n{tb}")
    assert code is not None, "main() returned without exiting"
    return _Res(code, out.getvalue(), err.getvalue())


def assert_error(stderr: str, what: str, rel: str | None, before: dict, after: dict) -> None:
    """Exit 2 on a damaged file: its `harden: error:` line; alone (and nothing written) when it
    was the only project, else the other projects went on and its own file is untouched."""
    lines = stderr.splitlines()
    errors = [ln for ln in lines if ln.startswith("harden: error: ")]
    assert errors, f"{what}: stderr was {stderr!r}"
    if rel is not None:
        assert any(ln.startswith(f"harden: error: {rel}") for ln in errors), f"{what}: stderr was {stderr!r}"
    if "left out" in stderr:
        assert rel is None or after.get(rel) == before.get(rel), f"{what}: the damaged file was written"
    else:
        assert len(lines) == 1, f"{what}: stderr was {stderr!r}"
        assert after == before, f"{what}: harden failed but changed files"


def check_mutant(root: Path, label: str, rel: str | None = None) -> int:
    before = snapshot_tree(root)
    d = invoke("diff", "--no-color", str(root))
    assert d.exit_code in (0, 1, 2), (label, d.exit_code, d.stderr)
    if d.exit_code == 2:
        assert_error(d.stderr, label, rel, before, before)
    assert snapshot_tree(root) == before, f"{label}: diff wrote to a file"

    a = invoke("apply", str(root))
    assert a.exit_code in (0, 2), (label, a.exit_code, a.stderr)
    after = snapshot_tree(root)
    assert not [k for k in after if os.path.basename(k).startswith(".harden-tmp-")], f"{label}: temp file left"
    if a.exit_code == 2:
        assert_error(a.stderr, label, rel, before, after)
        assert d.exit_code == 2, f"{label}: diff succeeded but apply failed: {a.stderr}"
    else:
        assert d.exit_code != 2, f"{label}: diff failed but apply succeeded: {d.stderr}"
        again = invoke("diff", "--no-color", str(root))
        assert again.exit_code == 0, f"{label}: not idempotent, second diff:\n{again.stdout}"
    return d.exit_code


@pytest.mark.parametrize("fixture", fixture_dirs(), ids=lambda p: p.name)
def test_mutants_of_fixture(fixture: Path, tmp_path: Path):
    rnd = random.Random(zlib.crc32(fixture.name.encode()))  # a fixed seed per fixture
    targets = [p.relative_to(fixture) for p in target_files(fixture)]
    if not targets:
        pytest.skip("fixture has no compose file or Dockerfile")
    codes = []
    for k in range(MUTANTS_PER_FIXTURE):
        rel = rnd.choice(targets)
        op = OPERATORS[(zlib.crc32(fixture.name.encode()) + k) % len(OPERATORS)] if k < 2 else rnd.choice(OPERATORS)
        root = tmp_path / f"m{k}"
        shutil.copytree(fixture, root, symlinks=True)
        original = (root / rel).read_bytes()
        mutated = op(original, rnd)
        (root / rel).write_bytes(mutated)
        codes.append(check_mutant(root, f"{fixture.name}/{rel} {op.__name__} #{k}", rel.as_posix()))
    assert set(codes) <= {0, 1, 2}


def test_every_operator_can_produce_a_refusal(tmp_path: Path):
    """The operators are not toothless: on a real compose file, the damaging ones make harden
    refuse with exit 2 (so the exit-2 branch of check_mutant is exercised)."""
    text = (b"services:\n  web:\n    image: nginx\n    ports:\n      - \"8080:80\"\n  db:\n    image: postgres:16\n")
    cases = {
        "tab": b"services:\n\tweb:\n    image: nginx\n",
        "nul": text.replace(b"nginx", b"ng\x00inx"),
        "utf8": text.replace(b"nginx", b"ng\xffinx"),
        "conflict": b"<<<<<<< HEAD\n" + text + b"=======\nservices: {}\n>>>>>>> other\n",
        "truncated": text[: text.index(b"nginx") + 3].replace(b"image: ", b"image: \""),
        "dup": text + b"  db:\n    image: mysql\n",
    }
    for name, data in cases.items():
        root = tmp_path / name
        root.mkdir()
        (root / "compose.yaml").write_bytes(data)
        assert check_mutant(root, name) == 2, name


# ------------------------------------------------------------------- real CLI sample

def _sample() -> list[tuple[Path, str]]:
    rnd = random.Random(1234)
    dirs = fixture_dirs()
    picks = []
    for fx in rnd.sample(dirs, min(4, len(dirs))):
        targets = target_files(fx)
        if targets:
            picks.append((fx, str(rnd.choice(targets).relative_to(fx))))
    return picks


@pytest.mark.slow
@pytest.mark.parametrize("fixture,rel", _sample(), ids=lambda x: x.name if isinstance(x, Path) else x)
def test_real_cli_on_mutants(fixture: Path, rel: str, tmp_path: Path):
    rnd = random.Random(zlib.crc32(rel.encode()))
    for op in (truncate, stray_bytes):
        root = tmp_path / op.__name__
        shutil.copytree(fixture, root, symlinks=True)
        (root / rel).write_bytes(op((root / rel).read_bytes(), rnd))
        before = snapshot_tree(root)
        for cmd in ("diff", "apply"):
            p = subprocess.run([sys.executable, "-m", "harden", cmd, str(root)], capture_output=True, text=True, timeout=120)
            assert "Traceback" not in p.stderr, p.stderr
            assert p.returncode in ((0, 1, 2) if cmd == "diff" else (0, 2)), p.stderr
            if p.returncode == 2:
                assert_error(p.stderr, f"{rel} {op.__name__} {cmd}", rel, before, snapshot_tree(root))
