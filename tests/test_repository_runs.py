"""A run over a whole repository (issue 18): files that are not ours are not read, and one broken
file stops only its own project.

- discovery leaves out a vendored snippet library named dockerfile.js and an editor's
  Dockerfile.vim (by extension, and nothing under static/), and a file named like a Dockerfile
  whose first instruction is no Dockerfile instruction is skipped with a note, not an error;
- mutation: in a tree of several projects, each compose file and Dockerfile in turn is broken
  (bytes that are not UTF-8, or YAML that does not parse). The run exits 2, names the file,
  leaves every file of that project as it was, and gives every other project exactly the output
  of a run in which the broken file does not exist.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harden_testlib import FIXTURES, harden_run, run_harden, write_files

# four independent projects side by side: compose + Dockerfiles, compose only, a lone Dockerfile
PARTS = {"seed": "core-seed", "shop": "core-multi-project", "nodeapp": "split-node-npm", "alpine": "user-alpine"}


def _tree(root: Path) -> Path:
    for name, fixture in PARTS.items():
        shutil.copytree(FIXTURES / fixture, root / name, symlinks=True)
    return root


def _files() -> list[str]:
    """Every compose file and Dockerfile of the tree, as discovery finds them."""
    from harden.project import discover

    out = []
    for name, fixture in PARTS.items():
        d = discover(FIXTURES / fixture)
        out += [f"{name}/{d.rel(f)}" for g in d.groups for f in g.files] + [f"{name}/{d.rel(f)}" for f in d.dockerfiles]
    return sorted(set(out))


def test_files_that_are_not_dockerfiles_are_not_read(tmp_path):
    write_files(tmp_path, {
        "static/assets/js/plugin/ace/src-noconflict/snippets/dockerfile.js":
            'ace.define("ace/snippets/dockerfile",["require","exports","module"],function(e,t,n){});\n',
        "snip/Dockerfile.vim": '" Vim syntax file\nsyn keyword dockerfileKeyword FROM RUN\n',
        "tools/dockerfile": "ace.define('x', [], function () {});\n",  # a Dockerfile by name only
        "app/Dockerfile": 'FROM python:3.12-slim\nCMD ["python", "-m", "app"]\n',
    })
    result = harden_run(tmp_path)
    assert not result.errors, [e.one_line() for e in result.errors]
    assert [f.rel for f in result.files] == ["app/Dockerfile"]
    skipped = [o for o in result.outcomes if o.file == "tools/dockerfile"]
    assert skipped and skipped[0].status == "skipped" and "not a Dockerfile" in skipped[0].reason
    proc = run_harden("diff", str(tmp_path))
    assert proc.returncode == 1 and "error" not in proc.stderr


def _break(path: Path) -> None:
    if path.name.endswith((".yml", ".yaml")):
        path.write_text(path.read_text() + "\nx-broken: [unclosed\n")
    else:
        path.write_bytes(path.read_bytes() + b"\n# caf\xe9 in Latin-1\n")


def _outputs(result) -> dict[str, str]:
    return {f.rel: f.after for f in result.files}


@pytest.mark.parametrize("victim", _files())
def test_a_broken_file_stops_only_its_own_project(tmp_path, victim):
    broken = _tree(tmp_path / "broken")
    _break(broken / victim)
    without = _tree(tmp_path / "without")
    (without / victim).unlink()

    a = harden_run(broken)
    assert [e.path for e in a.errors] == [victim]
    assert len(a.errored) == 1
    name, left_out = a.errored[0]
    assert name == victim and victim in left_out
    out_a = _outputs(a)
    assert not set(left_out) & set(out_a), "a file of the broken project is shown or would be written"
    b = harden_run(without)
    out_b = {rel: text for rel, text in _outputs(b).items() if rel not in left_out}
    assert out_a == out_b, "another project's output depends on the broken file"
    assert any(f.changed for f in a.files), "the other projects were not hardened"

    before = {p: p.read_bytes() for p in broken.rglob("*") if p.is_file()}
    proc = run_harden("apply", str(broken))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"harden: error: {victim}" in proc.stderr
    for p, data in before.items():
        rel = p.relative_to(broken).as_posix()
        if rel in left_out:
            assert p.read_bytes() == data, f"{rel} of the broken project was written"
    written = {p.relative_to(broken).as_posix(): p.read_text() for p in before if p.relative_to(broken).as_posix() in out_a}
    assert written == out_a


def test_a_yaml_file_named_like_compose_that_is_not_one_is_left_alone(tmp_path):
    write_files(tmp_path, {
        "ops/compose.yml": "steps:\n  - run: make deploy\nowner: ops\n",  # another tool's file
        "legacy/docker-compose.yml": "web:\n  image: nginx:1.25\n  links: [db]\ndb:\n  image: postgres:16\n",
        "app/compose.yaml": "services:\n  web:\n    image: nginx:1.25\n",
    })
    result = harden_run(tmp_path)
    assert not result.errors
    skipped = {o.file: o.reason for o in result.outcomes if o.status == "skipped" and o.transform == "harden"}
    assert "not a compose file" in skipped.get("ops/compose.yml", "")
    assert "legacy/docker-compose.yml" not in skipped  # the v1 layout is still a compose file
    assert {f.rel for f in result.files} == {"legacy/docker-compose.yml", "app/compose.yaml"}
