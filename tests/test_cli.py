"""The command line: exit codes 0/1/2, one-line errors, paths, colour, --version, lazy imports,
the apply summary and the progress bar."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harden_testlib import FIXTURES, run_harden
from harden import __version__
from harden.progress import Progress


def _proj(tmp_path: Path, name: str = "cfg-toml") -> Path:
    dest = tmp_path / name
    shutil.copytree(FIXTURES / name, dest)
    return dest


def _one_error_line(p: subprocess.CompletedProcess, expected: str | None = None) -> str:
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert p.stderr.startswith("harden: error: ") and p.stderr.count("\n") == 1, p.stderr
    assert "Traceback" not in p.stderr
    if expected is not None:
        assert p.stderr == f"harden: error: {expected}\n"
    return p.stderr


def test_version():
    p = run_harden("--version")
    assert p.returncode == 0 and p.stdout == f"harden {__version__}\n"


def test_help_imports_nothing_heavy():
    code = ("import sys\nsys.argv = ['harden', '--help']\nfrom harden.cli import main\n"
            "try:\n    main()\nexcept SystemExit as e:\n    rc = e.code\n"
            "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
            "('ruamel', 'dockerfile_parse', 'libcst', 'harden.transforms', 'tomllib', 'json'))\n"
            "heavy += sorted(m for m in sys.modules if m.startswith('harden.') and m not in ('harden.cli', 'harden.__main__', 'harden.commands', 'harden.entry'))\n"
            "print(rc, heavy, file=sys.stderr)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert p.stderr.strip() == "0 []", p.stderr
    assert "diff" in p.stdout and "apply" in p.stdout


def test_diff_exit_codes_and_apply(tmp_path):
    proj = _proj(tmp_path)
    p = run_harden("diff", str(proj))
    assert p.returncode == 1, p.stderr
    before = {f: (proj / f).read_text() for f in ("compose.yaml", "app/Dockerfile")}
    assert {f: (proj / f).read_text() for f in before} == before  # diff writes nothing
    p = run_harden("apply", str(proj))
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].startswith("rewrote app/Dockerfile (+") and lines[0].endswith("): split-stages, non-root-user")
    assert lines[1].startswith("rewrote compose.yaml (+")
    assert "suppressed [worker] in compose.yaml by [services.worker] ignore in the config: networks" in lines
    assert lines[-1].startswith("2 files changed, 0 unchanged, ")
    p = run_harden("diff", str(proj))
    assert p.returncode == 0 and p.stdout == "", p.stdout
    assert p.stderr.splitlines()[-1].startswith("0 files to change, 2 unchanged")


def test_diff_paths_are_relative_to_path_and_uncoloured_in_a_pipe(tmp_path):
    proj = _proj(tmp_path)
    p = run_harden("diff", str(proj))
    heads = [ln for ln in p.stdout.splitlines() if ln.startswith(("--- ", "+++ "))]
    assert heads == ["--- a/app/Dockerfile", "+++ b/app/Dockerfile", "--- a/compose.yaml", "+++ b/compose.yaml"]
    assert "\x1b[" not in p.stdout
    p = run_harden("diff", str(proj), "--color")
    assert "\x1b[32m+" in p.stdout and "\x1b[1m--- a/app/Dockerfile\x1b[0m" in p.stdout
    p2 = run_harden("diff", "app/Dockerfile", cwd=proj)  # a single file: paths relative to its folder
    assert p2.returncode == 1 and p2.stdout.startswith("--- a/Dockerfile\n+++ b/Dockerfile\n")


def test_single_compose_file(tmp_path):
    proj = _proj(tmp_path)
    p = run_harden("diff", str(proj / "compose.yaml"), "--format", "json")
    import json

    doc = json.loads(p.stdout)
    assert [f["path"] for f in doc["files"]] == ["compose.yaml"] and p.returncode == 1


def test_missing_path(tmp_path):
    _one_error_line(run_harden("diff", str(tmp_path / "nope")), f"{tmp_path / 'nope'}: no such file or directory")
    _one_error_line(run_harden("apply", "nope", cwd=tmp_path), "nope: no such file or directory")


def test_unreadable_file(tmp_path):
    (tmp_path / "Dockerfile").write_bytes(b"FROM alpine\nRUN echo \xff\n")
    _one_error_line(run_harden("diff", str(tmp_path)), "Dockerfile:2: not valid UTF-8 (byte 0xff)")


def test_unreadable_file_permission(tmp_path):
    import os

    f = tmp_path / "Dockerfile"
    f.write_text("FROM alpine\n")
    f.chmod(0)
    try:
        if os.access(f, os.R_OK):
            pytest.skip("running as root: permissions do not stop reads")
        _one_error_line(run_harden("diff", str(tmp_path)), "Dockerfile: cannot read file: permission denied")
    finally:
        f.chmod(0o644)


def test_bad_yaml_is_one_line_and_nothing_written(tmp_path):
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    image: [nginx\n")
    err = _one_error_line(run_harden("apply", str(tmp_path)))
    assert err.startswith("harden: error: compose.yaml:")
    assert (tmp_path / "compose.yaml").read_text() == "services:\n  web:\n    image: [nginx\n"


@pytest.mark.parametrize("args, expected", [
    (["diff", "--select", "netwrks"], "--select: unknown transform 'netwrks' (known: "),
    (["apply", "--ignore", "split-stages,nope"], "--ignore: unknown transform 'nope' (known: "),
    (["diff", "--format", "xml"], "--format: unknown format 'xml' (use text, json, sarif)"),
    (["diff", "--frobnicate"], "No such option: --frobnicate"),
    (["diff", "--format"], "Option '--format' requires an argument."),
    (["frob"], "No such command 'frob'."),
    (["diff", "--set", "uid=root"], "--set: uid: must be an integer, not 'root'"),
    (["explain", "nope"], "unknown transform 'nope' (known: "),
])
def test_usage_errors_are_one_line(tmp_path, args, expected):
    (tmp_path / "Dockerfile").write_text("FROM alpine\n")
    err = _one_error_line(run_harden(*args, cwd=tmp_path))
    assert err.startswith(f"harden: error: {expected}"), err


def test_bare_harden_shows_help():
    p = run_harden()
    assert p.returncode == 2 and "Usage: harden" in p.stdout


def test_nothing_to_do(tmp_path):
    (tmp_path / "README.md").write_text("no docker here\n")
    p = run_harden("diff", str(tmp_path))
    assert p.returncode == 0 and p.stdout == ""
    assert p.stderr == "no Dockerfile or compose file found, 0 unchanged, 0 skipped, 0 suppressed, 0 failed, 0 notes\n"


def test_no_progress_bar_when_stderr_is_not_a_terminal(tmp_path):
    p = run_harden("diff", str(_proj(tmp_path)))
    assert "\r" not in p.stderr and "[#" not in p.stderr


def test_progress_bar_draws_on_a_terminal_only_after_a_delay():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    now = [0.0]
    s = Tty()
    bar = Progress(s, delay=0.3, interval=0.1, width=60, clock=lambda: now[0])
    bar("reading", 1, 10)
    assert s.getvalue() == ""  # quick runs never show a bar
    now[0] = 0.5
    bar("transforming", 5, 10)
    assert s.getvalue().endswith("harden [###############...............]  50% 5/10 hardening")
    now[0] = 0.55
    bar("transforming", 6, 10)  # too soon: not redrawn
    assert s.getvalue().count("\r") == 1
    now[0] = 0.7
    bar("transforming", 10, 10)
    assert "100% 10/10" in s.getvalue()
    bar.close()
    assert s.getvalue().endswith("\r\x1b[2K")
    assert Progress.for_stderr(io.StringIO()) is None  # not a terminal: no bar
    assert isinstance(Progress.for_stderr(Tty()), Progress)


def test_engine_calls_the_progress_callback(tmp_path):
    from harden.config import Options
    from harden.engine import run

    calls = []
    run(_proj(tmp_path), Options(), jobs=1, progress=lambda *a: calls.append(a))
    phases = {c[0] for c in calls}
    assert phases == {"reading", "transforming"}
    last = [c for c in calls if c[0] == "transforming"][-1]
    assert last[1] == last[2] > 0


def test_a_failing_transform_exits_2_and_keeps_the_others(tmp_path, monkeypatch, capsys):
    """An unexpected error in one transform: that transform's edits are rolled back, the others
    are shown/written, and the exit code says something went wrong (2), with one error line."""
    from harden import entry
    from harden.transforms.networks import Networks

    def boom(self, unit, ctx):
        raise RuntimeError("boom")

    monkeypatch.setattr(Networks, "apply", boom)
    proj = _proj(tmp_path)
    for argv in (["diff", str(proj)], ["apply", str(proj)]):
        with pytest.raises(SystemExit) as e:
            entry.main(argv)
        out, errtext = capsys.readouterr()
        assert e.value.code == 2, (argv, out, errtext)
        assert "failed networks on compose.yaml: RuntimeError: boom" in (out + errtext)
        last = errtext.strip().splitlines()[-1]
        assert last.startswith("harden: error: compose.yaml: networks failed") and "bug in harden" in last
    text = (proj / "compose.yaml").read_text()
    assert "service_healthy" in text and "frontend" not in text  # the others written, networks not


def test_an_edit_the_document_refuses_is_a_skip_not_a_failure(tmp_path, monkeypatch, capsys):
    """EditError is the document layer saying an edit cannot be made without damage: that
    transform stands aside for the unit with the reason (rolled back); the run is not an error."""
    from harden import entry
    from harden.errors import EditError
    from harden.transforms.networks import Networks

    def refuse(self, unit, ctx):
        unit.base.add_key(unit.base.services(), "zz-partial", "x")  # an edit made before the refusal...
        raise EditError("ports is written in flow style ({...}); harden leaves it as it is")

    monkeypatch.setattr(Networks, "apply", refuse)
    proj = _proj(tmp_path)
    with pytest.raises(SystemExit) as e:
        entry.main(["apply", str(proj)])
    out, errtext = capsys.readouterr()
    assert e.value.code == 0, (out, errtext)
    assert "skipped networks in compose.yaml: an edit it needs cannot be made without damage: ports is written in flow style" in out
    assert "harden: error" not in errtext
    text = (proj / "compose.yaml").read_text()
    assert "service_healthy" in text and "zz-partial" not in text  # ...is rolled back, the others stand
