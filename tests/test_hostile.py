"""Hostile repositories: harden must end in bounded time and memory with a clear word.

Symlinks out of the project and symlink loops, files harden may not read or write, a 50 MB
compose file, deep YAML nesting, alias bombs, a 100,000-line Dockerfile, odd file names; a
repository whose code would leave a marker if anything imported or ran it; secrets in the
environment and in `.env` that must never be copied anywhere.

Subprocess runs have a generous timeout (a hang fails instead of blocking CI) and an address
space limit (RLIMIT_AS) so a memory blow-up fails fast. Nothing asserts on wall-clock time.
"""

from __future__ import annotations

import contextlib
import io
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures"
MEM_LIMIT = 2 * 1024**3  # bytes of address space for one harden run
TIMEOUT = 120

COMPOSE = """\
# the app and its database
services:
  web:
    build: .
    ports:
      - "8000:8000"
    depends_on:
      - db
  db:
    image: postgres:16
    environment:
      POSTGRES_PASSWORD: example
"""
DOCKERFILE = 'FROM python:3.12-slim\nWORKDIR /app\nCOPY . .\nRUN pip install -r requirements.txt\nCMD ["python", "app.py"]\n'


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEM_LIMIT, MEM_LIMIT))


def harden(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    try:
        return subprocess.run([sys.executable, "-m", "harden", *args], capture_output=True, text=True, cwd=cwd,
                              env=env, timeout=TIMEOUT, preexec_fn=_limits)
    except subprocess.TimeoutExpired:
        pytest.fail(f"harden {' '.join(args)} did not finish within {TIMEOUT}s")


def in_process(*args: str) -> tuple[int, str, str]:
    from harden.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(list(args))
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 0
    return code, out.getvalue(), err.getvalue()


def one_error(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = [ln for ln in stderr.splitlines() if ln.startswith("harden: error: ")]
    assert len(lines) == 1 and len(stderr.splitlines()) == 1, stderr
    return lines[0]


def tree(root: Path) -> dict[str, bytes]:
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for fn in files:
            p = Path(dirpath) / fn
            if not p.is_symlink():
                out[str(p.relative_to(root))] = p.read_bytes()
    return out


def project(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "compose.yaml").write_text(COMPOSE)
    (root / "Dockerfile").write_text(DOCKERFILE)
    (root / "requirements.txt").write_text("flask\n")
    (root / "app.py").write_text("print('hi')\n")
    return root


# ------------------------------------------------------------------------- symlinks

def test_symlinks_out_of_the_project_are_not_followed(tmp_path: Path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "compose.yaml").write_text(COMPOSE)
    (outside / "Dockerfile").write_text(DOCKERFILE)
    before = tree(outside)
    root = tmp_path / "proj"
    root.mkdir()
    (root / "compose.yaml").symlink_to(outside / "compose.yaml")
    (root / "Dockerfile").symlink_to(outside / "Dockerfile")
    (root / "sub").symlink_to(outside, target_is_directory=True)
    for cmd in ("diff", "apply"):
        p = harden(cmd, str(root))
        assert p.returncode in (0, 1, 2) and "Traceback" not in p.stderr, p.stderr
    assert tree(outside) == before
    assert (root / "compose.yaml").is_symlink() and (root / "Dockerfile").is_symlink()


def test_symlink_loops_end(tmp_path: Path):
    root = project(tmp_path / "proj")
    (root / "docker-compose.yml").symlink_to(root / "docker-compose.override.yml")
    (root / "docker-compose.override.yml").symlink_to(root / "docker-compose.yml")
    (root / "Dockerfile.loop").symlink_to(root / "Dockerfile.loop")
    (root / "loop").symlink_to(root, target_is_directory=True)
    (root / "deeper").mkdir()
    (root / "deeper" / "up").symlink_to(root, target_is_directory=True)
    for cmd in ("diff", "apply"):
        p = harden(cmd, str(root))
        assert p.returncode in (0, 1, 2) and "Traceback" not in p.stderr, p.stderr


def test_symlink_inside_the_project_is_written_through(tmp_path: Path):
    # write_atomic used to rename the new text over the link itself: the link became a copy
    # and its target stayed unchanged
    root = project(tmp_path / "proj")
    (root / "real").mkdir()
    shutil.move(root / "compose.yaml", root / "real" / "compose.yaml")
    (root / "compose.yaml").symlink_to(Path("real") / "compose.yaml")
    code, _out, err = in_process("apply", str(root))
    assert code == 0, err
    assert (root / "compose.yaml").is_symlink()
    assert (root / "real" / "compose.yaml").read_text() != COMPOSE  # the target was hardened


def test_a_path_that_is_a_symlink_loop(tmp_path: Path):
    loop = tmp_path / "compose.yaml"
    loop.symlink_to(loop)
    p = harden("diff", str(loop))
    assert p.returncode == 2
    one_error(p.stderr)


# ---------------------------------------------------------------------- permissions

def test_unreadable_file(tmp_path: Path, monkeypatch):
    root = project(tmp_path / "proj")
    target = root / "compose.yaml"
    if os.geteuid() != 0:
        os.chmod(target, 0)
        try:
            p = harden("diff", str(root))
        finally:
            os.chmod(target, 0o644)
        assert p.returncode == 2 and "permission denied" in one_error(p.stderr)
    # as root (CI) permission bits are ignored: the same code path, through a refusing open()
    import builtins

    real_open = builtins.open

    def refusing_open(file, *a, **k):
        if str(file) == str(target):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *a, **k)

    monkeypatch.setattr(builtins, "open", refusing_open)
    code, _out, err = in_process("diff", str(root))
    assert code == 2
    assert "compose.yaml" in one_error(err) and "permission denied" in err


def test_unwritable_file_changes_nothing(tmp_path: Path, monkeypatch):
    """The second of two files cannot be written: apply exits 2 with one line and the first
    file is not changed either (every new version is staged before any rename)."""
    root = project(tmp_path / "proj")
    before = tree(root)
    import tempfile  # harden.io imports it when it writes, and calls tempfile.mkstemp

    real_mkstemp = tempfile.mkstemp
    calls = []

    def mkstemp(*a, **k):
        calls.append(k.get("dir"))
        if len(calls) == 2:
            raise PermissionError(13, "Permission denied")
        return real_mkstemp(*a, **k)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    code, _out, err = in_process("apply", str(root))
    assert len(calls) == 2, "the project must need two files written"
    assert code == 2 and "cannot write" in one_error(err)
    assert tree(root) == before


# ------------------------------------------------------------------- big and deep

def test_50mb_compose_file_is_refused_fast(tmp_path: Path):
    root = tmp_path / "proj"
    root.mkdir()
    line = "      - LONG_VALUE=" + "x" * 100 + "\n"
    with open(root / "compose.yaml", "w") as f:
        f.write("services:\n  web:\n    image: nginx\n    environment:\n")
        f.write(line * (50 * 1024 * 1024 // len(line)))
    p = harden("diff", str(root))
    assert p.returncode == 2
    assert "larger than" in one_error(p.stderr)


def test_deep_nesting_is_refused(tmp_path: Path):
    root = tmp_path / "proj"
    root.mkdir()
    depth = 10_000
    (root / "compose.yaml").write_text("services:\n  web:\n    image: nginx\n    labels: " + "[" * depth + "]" * depth + "\n")
    p = harden("diff", str(root))
    assert p.returncode == 2
    one_error(p.stderr)
    block = "services:\n  web:\n    image: nginx\n    x-deep:\n" + "".join(" " * (4 + 2 * i) + f"k{i}:\n" for i in range(1000))
    (root / "compose.yaml").write_text(block)
    p = harden("diff", str(root))
    assert p.returncode in (0, 1, 2)
    if p.returncode == 2:
        one_error(p.stderr)


def test_billion_laughs_is_refused(tmp_path: Path):
    root = tmp_path / "proj"
    root.mkdir()
    lines = ['x-a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 10):
        lines.append(f"x-a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]")
    lines += ["services:", "  web:", "    image: nginx", "    x-bomb: *a9"]
    (root / "compose.yaml").write_text("\n".join(lines) + "\n")
    p = harden("diff", str(root))
    assert p.returncode == 2
    assert "alias" in one_error(p.stderr)
    # the same with a merge-key bomb
    lines = ["x-m0: &m0 {a: 1}"]
    for i in range(1, 30):
        lines.append(f"x-m{i}: &m{i}\n  <<: [*m{i - 1}, *m{i - 1}]\n  k{i}: {i}")
    lines += ["services:", "  web:", "    <<: *m29", "    image: nginx"]
    (root / "compose.yaml").write_text("\n".join(lines) + "\n")
    p = harden("diff", str(root))
    assert p.returncode in (0, 1, 2)
    if p.returncode == 2:
        one_error(p.stderr)


@pytest.mark.slow
def test_dockerfile_of_100000_lines(tmp_path: Path):
    root = tmp_path / "proj"
    root.mkdir()
    body = "".join(f"RUN echo {i} \\\n    && true\n" if i % 10 == 0 else f"# comment {i}\n" for i in range(100_000))
    (root / "Dockerfile").write_text("FROM python:3.12-slim\n" + body + 'CMD ["python", "app.py"]\n')
    before = tree(root)
    p = harden("diff", str(root))
    assert p.returncode in (0, 1, 2), p.stderr
    if p.returncode == 2:
        one_error(p.stderr)
    assert tree(root) == before


def test_odd_file_names(tmp_path: Path):
    root = project(tmp_path / "my project ✓")
    sub = root / "sérvice dir"
    sub.mkdir()
    (sub / "Dockerfile").write_text(DOCKERFILE)
    (sub / "requirements.txt").write_text("flask\n")
    (root / "compose.yaml").write_text(COMPOSE.replace("build: .", "build: ./sérvice dir"))
    p = harden("diff", str(root))
    assert p.returncode in (0, 1), p.stderr
    assert "Traceback" not in p.stderr
    code, _out, err = in_process("apply", str(root))
    assert code == 0, err
    code, _out, err = in_process("diff", str(root))
    assert code == 0, err


# --------------------------------------------------------- never run the repository

MARKER_CODE = "import pathlib; pathlib.Path({marker!r}).write_text('ran')\n"


def test_repository_code_is_never_imported_or_run(tmp_path: Path):
    marker = tmp_path / "MARKER"
    root = project(tmp_path / "proj")
    code = MARKER_CODE.format(marker=str(marker))
    for name in ("app.py", "setup.py", "conftest.py", "sitecustomize.py", "usercustomize.py", "manage.py",
                 "harden.py", "yaml.py", "ruamel.py", "typer.py", "gunicorn.conf.py", "__main__.py"):
        (root / name).write_text(code)
    (root / "app").mkdir()
    (root / "app" / "__init__.py").write_text(code)
    (root / "harden").mkdir()
    (root / "harden" / "__init__.py").write_text(code)  # a package that shadows ours
    (root / ".pth-trap.pth").write_text(f"import pathlib; pathlib.Path({str(marker)!r}).write_text('pth')\n")
    (root / "pyproject.toml").write_text('[project]\nname = "trap"\n[tool.harden]\n')
    (root / "compose.yaml").write_text(COMPOSE.replace("build: .", "build: .\n    command: python app.py"))
    # `python -m harden` run from *inside* the repository puts the current folder first on
    # sys.path (Python's rule, before any harden code runs): a `harden/` package there would be
    # imported instead of ours. The installed `harden` script does not do that; for `-m`,
    # PYTHONSAFEPATH=1 (or `python -P`) is the guard. Both ways are checked here.
    exe = shutil.which("harden")
    runs = [([sys.executable, "-m", "harden"], dict(os.environ, PYTHONPATH="", PYTHONSAFEPATH="1"))]
    if exe:
        runs.append(([exe], dict(os.environ, PYTHONPATH="")))
    for prefix, env in runs:
        for args in (("diff", "."), ("apply", "."), ("inspect", "."), ("diff", "--format", "json", ".")):
            try:
                p = subprocess.run([*prefix, *args], capture_output=True, text=True, cwd=root, env=env,
                                   timeout=TIMEOUT, preexec_fn=_limits)
            except subprocess.TimeoutExpired:
                pytest.fail(f"harden {' '.join(args)} did not finish")
            assert "Traceback" not in p.stderr, p.stderr
            assert p.returncode in (0, 1, 2), p.stderr
            assert not marker.exists(), f"`{' '.join(prefix + list(args))}` ran repository code"


# ------------------------------------------------------------------------- secrets

SECRETS = {"MYSQL_ROOT_PASSWORD": "s3cr3t-env-mysql", "POSTGRES_PASSWORD": "s3cr3t-env-pg",
           "MYSQL_PASSWORD": "s3cr3t-env-user", "REDIS_PASSWORD": "s3cr3t-env-redis",
           "MARIADB_ROOT_PASSWORD": "s3cr3t-env-maria"}
DOTENV = {k: v.replace("-env-", "-dotenv-") for k, v in SECRETS.items()}


def _fixture_dirs() -> list[Path]:
    if not FIXTURES.is_dir():
        return []
    names = [p for p in sorted(FIXTURES.iterdir()) if p.is_dir() and p.name != "apps"]
    # every fixture with a database is interesting; keep the run short
    return [p for p in names if any(w in p.name for w in ("seed", "health", "mysql", "maria", "pg", "postgres"))][:8]


@pytest.mark.parametrize("fixture", _fixture_dirs(), ids=lambda p: p.name)
def test_no_secret_from_the_environment_is_copied(fixture: Path, tmp_path: Path):
    root = tmp_path / fixture.name
    shutil.copytree(fixture, root, symlinks=True)
    dotenv = root / ".env"
    had = dotenv.read_text() if dotenv.exists() else ""
    dotenv.write_text(had + "".join(f"{k}={v}\n" for k, v in DOTENV.items()))
    inputs = "".join(p.read_text(errors="replace") for p in root.rglob("*") if p.is_file() and p.name != ".env")
    env = dict(os.environ, **SECRETS)
    outputs = []
    for args in (("diff", "--no-color", str(root)), ("diff", "--format", "json", str(root)), ("apply", str(root))):
        p = harden(*args, env=env)
        assert "Traceback" not in p.stderr, p.stderr
        outputs += [p.stdout, p.stderr]
    outputs += [p.read_text(errors="replace") for p in root.rglob("*") if p.is_file() and p.name != ".env"]
    text = "\n".join(outputs)
    for value in list(SECRETS.values()) + list(DOTENV.values()):
        if value not in inputs:
            assert value not in text, f"secret {value} was copied into the output"
