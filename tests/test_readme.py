"""The README's example diffs are what harden prints today (scripts/readme_examples.py --write
regenerates them), and its two commands are the ones CI and users run."""

from __future__ import annotations

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _tool():
    spec = importlib.util.spec_from_file_location("readme_examples", REPO / "scripts" / "readme_examples.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_example_diffs_are_current():
    tool = _tool()
    found = tool.blocks((REPO / "README.md").read_text(encoding="utf-8"))
    assert len(found) >= 6, "README lost its example diffs"
    for args, shown in found:
        assert shown == tool.diff_for(args), f"README diff for `{args}` is stale: run scripts/readme_examples.py --write"


def test_readme_commands():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert 'pip install -e . && harden diff examples/seed-stack' in text
    assert 'pip install -e ".[test]" && pytest' in text
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert "\npytest\n" in ci
