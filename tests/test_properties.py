"""Engine-level properties over generated projects (compose file + Dockerfile), hypothesis.

For any generated project (tests/strategies.py: anchors, both list/map forms, comments in every
position, quoting styles, 2/4-space indentation, CRLF, BOM, `---`, missing final newline,
multi-stage Dockerfiles with ARG before FROM, continuations, heredocs):
- no transform selected -> every file byte-identical;
- no error and no transform *failure* on valid input (a failure is a transform bug);
- every output re-parses (ComposeDoc/DockerfileDoc and a plain ruamel load);
- every comment survives, and the file's BOM/newline style/final newline are kept;
- every service, key and value the transforms do not own is unchanged in the loaded document;
- applying twice changes nothing the second time;
- `config -q` still passes when it passed before, per compose CLI (Compose v2, and
  docker-compose 1.29 where installed; a sample, slow).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from harden.compose_doc import ComposeDoc
from harden.config import Options
from harden.dockerfile_doc import DockerfileDoc
from harden.engine import run
from harden_testlib import compose_config, compose_regressions
from strategies import compose_cases, count_missing, dockerfile_cases, lost_comments, n_examples

# keys of a service the transforms may change, and how
GROWS = {"depends_on", "networks", "profiles", "environment"}  # existing entries kept, new ones allowed
OWNED = {"healthcheck", "user", "ports", "build", "read_only", "security_opt", "cap_drop"}  # checked separately
TOP_OWNED = {"networks", "version", "services"}


def _plain(x):
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_plain(v) for v in x]
    return x


def _load(text: str):
    return _plain(YAML(typ="rt").load(text.lstrip("\ufeff")))


def _names(v) -> set[str]:
    if isinstance(v, dict):
        return {str(k) for k in v}
    if isinstance(v, list):
        return {str(x).split("=", 1)[0] for x in v}
    return set()


def _container_port(p) -> str:
    return str(p).rsplit(":", 1)[-1] if not isinstance(p, dict) else str(p.get("target"))


def check_compose_kept(before: str, after: str, left: set[str] = frozenset()) -> None:
    """``left``: the stores a note says left a network they shared with a public service."""
    a, b = _load(before), _load(after)
    assert set(a.get("services") or {}) == set(b.get("services") or {}), "services added or lost"
    for k in set(a) | set(b):
        if k in TOP_OWNED:
            continue
        assert a.get(k) == b.get(k), f"top-level {k!r} changed"
    assert _names(a.get("networks")) <= _names(b.get("networks")), "a top-level network was removed"
    for name, sa in (a.get("services") or {}).items():
        sb = b["services"][name]
        for k in set(sa) | set(sb):
            va, vb = sa.get(k), sb.get(k)
            if k == "networks" and name in left:
                assert "backend" in _names(vb), f"{name} left a network but is not on backend"
            elif k == "depends_on":
                # an entry goes only with a dev tool that moved into a profile in this run
                # (dev-profiles: Compose would refuse to start the service otherwise)
                for gone in _names(va) - _names(vb):
                    ta, tb = (a["services"].get(gone) or {}), (b["services"].get(gone) or {})
                    assert tb.get("profiles") and not ta.get("profiles"), f"{name}.depends_on lost {gone}"
            elif k in GROWS:
                assert _names(va) <= _names(vb), f"{name}.{k} lost an entry"
                if k == "environment" and isinstance(va, dict) and isinstance(vb, dict):
                    assert all(vb[e] == va[e] for e in va), f"{name}.environment value changed"
            elif k == "ports":
                # a database's published port may be removed or bound to 127.0.0.1; the
                # container side of the ports that stay is unchanged
                assert {_container_port(p) for p in vb or []} <= {_container_port(p) for p in va or []}, name
            elif k == "build":
                ca = va if isinstance(va, str) else (va or {}).get("context", ".")
                cb = vb if isinstance(vb, str) else (vb or {}).get("context", ".")
                assert ca == cb, f"{name}.build context changed"
            elif k in OWNED:
                continue
            else:
                assert va == vb, f"{name}.{k} changed: {va!r} -> {vb!r}"


def check_dockerfile_kept(before: str, after: str, comments: list[str]) -> None:
    doc_a = DockerfileDoc("Dockerfile", before)
    doc_b = DockerfileDoc("Dockerfile", after)  # re-parses
    assert not count_missing(comments, after), "a Dockerfile comment was lost"
    # directives stay first, ARG before FROM stays before the first FROM
    assert list(doc_a.directives().items()) == list(doc_b.directives().items())[: len(doc_a.directives())]
    first_from_b = doc_b.stages[0].startline
    lines_b = doc_b.lines
    for inst in doc_a.preamble:
        assert any(lines_b[i] == inst.lines[0] for i in range(first_from_b)), f"{inst.lines[0]!r} left the preamble"
    # what the final stage runs with is kept in the final stage
    final_a, final_b = doc_a.stages[-1], doc_b.stages[-1]
    raw_b = "\n".join(i.raw for i in final_b.instructions)
    for inst in final_a.instructions:
        if inst.instruction in ("ENV", "EXPOSE", "CMD", "ENTRYPOINT", "WORKDIR", "LABEL"):
            assert inst.raw in raw_b, f"{inst.raw!r} is no longer in the final stage"


def conventions_kept(before: str, after: str) -> None:
    assert after.startswith("\ufeff") == before.startswith("\ufeff"), "BOM"
    crlf = "\r\n" in before
    body = after.lstrip("\ufeff")
    if crlf:
        assert "\n" not in body.replace("\r\n", ""), "bare LF in a CRLF file"
    else:
        assert "\r" not in body, "CR in an LF file"
    assert body.endswith("\n") == before.endswith("\n"), "final newline"


def _write_project(root: Path, compose_text: str, docker_text: str | None) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "compose.yaml").write_bytes(compose_text.encode("utf-8"))
    if docker_text is not None:
        (root / "Dockerfile").write_bytes(docker_text.encode("utf-8"))
        (root / "requirements.txt").write_text("flask\n")
        (root / "app.py").write_text("print('hello')\n")


def check_project(compose_case, docker_case) -> None:
    docker_text = docker_case.text if compose_case.builds else None
    with tempfile.TemporaryDirectory() as td:
        root = Path(td) / "proj"
        _write_project(root, compose_case.text, docker_text)

        # no transform selected: byte-identical
        noop = run(root, Options(select=[]))
        assert not noop.errors, [e.one_line() for e in noop.errors]
        assert all(f.after == f.before for f in noop.files)

        result = run(root, Options())
        assert not result.errors, [e.one_line() for e in result.errors]
        failed = [(o.transform, o.file, o.reason) for o in result.outcomes if o.status == "failed"]
        assert not failed, f"transform failed on valid input: {failed}"
        for f in result.files:
            assert f.before == f.path.read_bytes().decode("utf-8")  # the engine wrote nothing
            if not f.changed:
                continue
            conventions_kept(f.before, f.after)
            if f.kind == "compose":
                ComposeDoc(f.rel, f.after)  # re-parses through harden's own loader
                assert not lost_comments(compose_case.comments, f.before, f.after), "a compose comment was lost"
                left = {n.message.split(":", 1)[0] for n in result.notes if "left the network" in n.message}
                check_compose_kept(f.before, f.after, left)
            else:
                check_dockerfile_kept(f.before, f.after, docker_case.comments)
            f.path.write_bytes(f.after.encode("utf-8"))

        # idempotent: the second run changes nothing
        again = run(root, Options())
        assert not again.errors, [e.one_line() for e in again.errors]
        assert not again.changed_files, {f.rel: f.after for f in again.changed_files}


@pytest.mark.slow
@settings(max_examples=n_examples(120))
@given(compose_cases(max_services=4), dockerfile_cases(max_stages=2))
def test_generated_projects_hold_every_invariant(compose_case, docker_case):
    check_project(compose_case, docker_case)


@settings(max_examples=n_examples(60))
@given(dockerfile_cases())
def test_generated_dockerfiles_alone(docker_case):
    with tempfile.TemporaryDirectory() as td:
        root = Path(td) / "proj"
        root.mkdir()
        (root / "Dockerfile").write_bytes(docker_case.text.encode("utf-8"))
        (root / "requirements.txt").write_text("flask\n")
        assert DockerfileDoc("Dockerfile", docker_case.text).render() == docker_case.text
        result = run(root, Options())
        assert not result.errors, [e.one_line() for e in result.errors]
        failed = [(o.transform, o.reason) for o in result.outcomes if o.status == "failed"]
        assert not failed, failed
        for f in result.changed_files:
            conventions_kept(f.before, f.after)
            check_dockerfile_kept(f.before, f.after, docker_case.comments)
            f.path.write_bytes(f.after.encode("utf-8"))
        assert not run(root, Options()).changed_files


# ------------------------------------------------------------------ compose CLIs sample

@pytest.mark.slow
@settings(max_examples=n_examples(6))
@given(compose_cases(max_services=4, allow_crlf=False), dockerfile_cases(max_stages=1, allow_crlf=False))
def test_docker_compose_config_still_passes(compose_v2, compose_case, docker_case):
    with tempfile.TemporaryDirectory() as td:
        root = Path(td) / "proj"
        _write_project(root, compose_case.text, docker_case.text if compose_case.builds else None)
        before = compose_config(root, ["compose.yaml"])
        result = run(root, Options())
        assert not result.errors
        for f in result.changed_files:
            f.path.write_bytes(f.after.encode("utf-8"))
        bad = compose_regressions(before, compose_config(root, ["compose.yaml"]))
        assert not bad, f"{bad}\n" + (root / "compose.yaml").read_text()
