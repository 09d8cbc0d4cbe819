"""The start-up fast path (harden.entry) in front of the typer app: every invocation it accepts
must reach the command with exactly the arguments typer would pass, everything else must go to
typer, and a plain `harden diff` must not import typer at all."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from harden_testlib import FIXTURES, run_harden
from harden import commands
from harden.entry import parse


def _bound(command: str, kw: dict) -> dict:
    sig = inspect.signature(getattr(commands, command))
    b = sig.bind(**kw)
    b.apply_defaults()
    return dict(b.arguments)


def _typer_call(argv: list[str], monkeypatch) -> tuple[str, dict] | None:
    """What the typer app passes to commands.diff/apply for ``argv``; None when it refuses."""
    from harden import cli

    seen: list[tuple[str, dict]] = []
    for name in ("diff", "apply"):
        real = getattr(commands, name)

        def fake(*a, _name=name, _real=real, **k):
            b = inspect.signature(_real).bind(*a, **k)
            b.apply_defaults()
            seen.append((_name, dict(b.arguments)))
            return 0

        monkeypatch.setattr(commands, name, fake)
    try:
        cli.app(args=argv, prog_name="harden", standalone_mode=False)
    except Exception:
        if seen:
            raise
        return None
    finally:
        monkeypatch.undo()
    assert len(seen) <= 1
    return seen[0] if seen else None


CASES = [
    ["diff"],
    ["apply"],
    ["diff", "proj"],
    ["apply", "proj"],
    ["diff", "proj", "--select", "networks"],
    ["diff", "--select", "networks,dev-profiles", "--select", "split-stages", "proj"],
    ["diff", "--select=networks", "--ignore=", "proj"],
    ["diff", "--ignore", "", "proj"],
    ["apply", "--set", "uid=1000", "--set", "backend_network=db", "proj"],
    ["diff", "--format", "json", "--format", "sarif", "proj"],
    ["diff", "--format=bogus", "proj"],
    ["diff", "--config", "cfg.toml", "proj"],
    ["diff", "--config=a=b.toml", "proj"],
    ["diff", "--color", "proj"],
    ["diff", "--no-color", "--color", "--no-color"],
    ["diff", "--", "-weird-name"],
    ["apply", "--", "--select"],
    ["diff", "--set=a=b=c"],
    ["diff", "sub dir/with space"],
]


@pytest.mark.parametrize("argv", CASES, ids=lambda a: " ".join(a) or "empty")
def test_fast_path_matches_typer(argv, monkeypatch):
    fast = parse(argv)
    assert fast is not None, "a common invocation should take the fast path"
    command, kw = fast
    assert (command, _bound(command, kw)) == _typer_call(argv, monkeypatch)


REFUSED = [
    [], ["--help"], ["-h"], ["--version"], ["diff", "--help"], ["apply", "-h"], ["list"],
    ["inspect", "proj"], ["explain", "networks"], ["diff", "a", "b"], ["diff", "--select"],
    ["diff", "--select", "--ignore", "x"], ["diff", "--sel", "networks"], ["apply", "--color"],
    ["diff", "--color=yes"], ["diff", "-"], ["diff", ""], ["diff", "--config", ""], ["dif"],
    ["diff", "--format"], ["diff", "--unknown"],
]


@pytest.mark.parametrize("argv", REFUSED, ids=lambda a: " ".join(a) or "empty")
def test_everything_else_goes_to_typer(argv):
    assert parse(argv) is None


_VALUES = st.text(alphabet="ab=,- .", max_size=4)
_ITEM = st.one_of(
    st.tuples(st.sampled_from(["--select", "--ignore", "--set", "--format", "--config"]), _VALUES).map(list),
    st.builds(lambda o, v: [f"{o}={v}"], st.sampled_from(["--select", "--ignore", "--set", "--format", "--config"]), _VALUES),
    st.sampled_from([["--color"], ["--no-color"], ["--"], ["proj"], ["-"], ["--help"], ["--bogus"], ["--sel"], [""]]),
    _VALUES.map(lambda v: [v]),
)


@settings(max_examples=500, deadline=None, derandomize=True)
@given(st.sampled_from(["diff", "apply", "list", "--version"]), st.lists(_ITEM, max_size=5))
def test_any_accepted_invocation_matches_typer(command, items):
    argv = [command] + [tok for item in items for tok in item]
    fast = parse(argv)
    if fast is None:
        return
    mp = pytest.MonkeyPatch()
    name, kw = fast
    assert (name, _bound(name, kw)) == _typer_call(argv, mp)


def test_plain_diff_does_not_import_typer(tmp_path):
    code = ("import sys\nsys.argv = ['harden', 'diff', sys.argv[1]]\nfrom harden.entry import main\n"
            "try:\n    main()\nexcept SystemExit as e:\n    rc = e.code\n"
            "print(rc, sorted(m for m in sys.modules if m.split('.')[0] in ('typer', 'click')), file=sys.stderr)")
    p = subprocess.run([sys.executable, "-c", code, str(FIXTURES / "core-seed")], capture_output=True, text=True)
    assert p.stderr.strip().splitlines()[-1] == "1 []", p.stderr


def test_fast_and_typer_paths_print_the_same(tmp_path):
    proj = FIXTURES / "core-seed"
    code = "import sys\nfrom harden.cli import main\nmain(sys.argv[1:])"
    for argv in (["diff", str(proj)], ["diff", "--format", "json", str(proj)], ["diff", "--select", "nope", str(proj)],
                 ["diff", str(proj / "missing")]):
        fast = run_harden(*argv)
        slow = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True)
        assert (fast.returncode, fast.stdout, fast.stderr) == (slow.returncode, slow.stdout, slow.stderr), argv


def test_console_script_is_the_fast_entry():
    from importlib.metadata import entry_points

    (ep,) = [e for e in entry_points(group="console_scripts") if e.name == "harden"]
    assert ep.value == "harden.entry:main"
