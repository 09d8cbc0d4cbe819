"""Bad input: one line `harden: error: FILE[:LINE]: what is wrong`, exit 2, nothing written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harden_testlib import run_harden

GOOD_DOCKERFILE = "FROM python:3.12-slim\nCMD [\"python\"]\n"

CASES = {
    "invalid-yaml": ("services:\n  web:\n    image: [nginx\n", "invalid YAML", 4),
    "duplicate-key": ("services:\n  web:\n    image: a\n    image: b\n", "duplicate key", 4),
    "tab-indent": ("services:\n\tweb:\n\t\timage: a\n", "tab", 2),
    "empty": ("", "empty compose file", None),
    "whitespace-only": ("\n  \n# just a comment\n", "empty compose file", None),
    "top-level-list": ("- services\n- web\n", "not a mapping", 1),
    "top-level-scalar": ("hello\n", "not a mapping", 1),
    "services-is-list": ("services:\n  - web\n", "`services` is not a mapping", 2),
}


def _check_one_error(proc, name: str, what: str, line: int | None):
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert lines[0].startswith(f"harden: error: {name}"), lines[0]
    if line is not None:
        assert lines[0].startswith(f"harden: error: {name}:{line}:"), lines[0]
    assert what.lower() in lines[0].lower(), lines[0]


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("command", ["diff", "apply"])
def test_bad_compose(tmp_path, case, command):
    text, what, line = CASES[case]
    (tmp_path / "compose.yaml").write_text(text)
    (tmp_path / "Dockerfile").write_text(GOOD_DOCKERFILE)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    proc = run_harden(command, str(tmp_path))
    _check_one_error(proc, "compose.yaml", what, line)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_not_utf8(tmp_path):
    (tmp_path / "docker-compose.yml").write_bytes(b"services:\n  web:\n    image: caf\xe9\n")
    proc = run_harden("diff", str(tmp_path))
    _check_one_error(proc, "docker-compose.yml", "not valid UTF-8", 3)


def test_dockerfile_without_from(tmp_path):
    (tmp_path / "Dockerfile").write_text("# no base\nRUN echo hi\n")
    proc = run_harden("apply", str(tmp_path))
    _check_one_error(proc, "Dockerfile", "no FROM", None)
    assert (tmp_path / "Dockerfile").read_text() == "# no base\nRUN echo hi\n"


def test_unknown_instruction(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM alpine\nRUNN echo hi\n")
    proc = run_harden("diff", str(tmp_path))
    _check_one_error(proc, "Dockerfile", "unknown instruction", 2)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file(tmp_path):
    f = tmp_path / "compose.yaml"
    f.write_text("services:\n  web:\n    image: nginx\n")
    f.chmod(0)
    proc = run_harden("diff", str(tmp_path))
    _check_one_error(proc, "compose.yaml", "permission denied", None)


def test_unreadable_file_in_process(tmp_path, monkeypatch):
    """The same path as above, forced even as root."""
    import builtins

    from harden.engine import run

    f = tmp_path / "compose.yaml"
    f.write_text("services:\n  web:\n    image: nginx\n")
    real_open = builtins.open

    def fake_open(path, *a, **k):
        if Path(path) == f:
            raise PermissionError(13, "Permission denied")
        return real_open(path, *a, **k)

    monkeypatch.setattr(builtins, "open", fake_open)
    result = run(tmp_path)
    assert [e.one_line() for e in result.errors] == ["compose.yaml: cannot read file: permission denied"]


def test_alias_bomb_is_refused_fast(tmp_path):
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]']
    prev = "a"
    for name in "bcdefghi":
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 10) + "]")
        prev = name
    lines.append("services:\n  web:\n    image: nginx\n    labels: *i")
    (tmp_path / "compose.yaml").write_text("\n".join(lines) + "\n")
    proc = run_harden("diff", str(tmp_path))
    _check_one_error(proc, "compose.yaml", "alias bomb", None)


def test_missing_path(tmp_path):
    proc = run_harden("diff", str(tmp_path / "nope"))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"harden: error: {tmp_path / 'nope'}: no such file or directory"]


def test_one_bad_file_stops_only_its_own_project(tmp_path):
    """Issue 18: a folder run applies a/ and reports b/ (its broken compose file and the
    Dockerfile beside it are left as they were), exit 2 at the end."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "compose.yaml").write_text("services:\n  db:\n    image: mysql:8.0\n  app:\n    image: x\n    depends_on: [db]\n")
    (tmp_path / "b" / "compose.yaml").write_text("services:\n  web:\n    image: [\n")
    (tmp_path / "b" / "Dockerfile").write_text('FROM python:3.12-slim\nCMD ["python", "-m", "app"]\n')
    before_a = (tmp_path / "a" / "compose.yaml").read_bytes()
    before_b = {p.name: p.read_bytes() for p in (tmp_path / "b").iterdir()}
    proc = run_harden("apply", str(tmp_path))
    assert proc.returncode == 2
    assert (tmp_path / "a" / "compose.yaml").read_bytes() != before_a  # a/ was hardened
    assert {p.name: p.read_bytes() for p in (tmp_path / "b").iterdir()} == before_b
    assert "harden: error: b/compose.yaml:4: invalid YAML" in proc.stderr
    assert "1 project in error" in proc.stdout and "Traceback" not in proc.stderr
    # the same file named on the command line: the error alone, nothing written
    alone = run_harden("apply", str(tmp_path / "b" / "compose.yaml"))
    assert alone.returncode == 2 and alone.stderr.strip().count("\n") == 0


def test_transforms_are_imported_as_harden_transforms():
    """The bare `transforms` package would load a second copy of every module."""
    import subprocess
    import sys

    repo = Path(__file__).resolve().parent.parent
    offenders = []
    for p in list((repo / "src").rglob("*.py")) + list((repo / "transforms").rglob("*.py")) + list((repo / "tests").rglob("*.py")):
        if "fixtures" in p.parts:
            continue
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
            s = line.strip()
            if s.startswith(("import transforms", "from transforms")):
                offenders.append(f"{p.relative_to(repo)}:{n}")
    assert offenders == []
    code = "import harden.transforms, sys; print(any(m == 'transforms' or m.startswith('transforms.') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=repo / "transforms")
    assert out.stdout.strip() == "False", out.stderr
