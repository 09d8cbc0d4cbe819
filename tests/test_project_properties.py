"""Properties over generated multi-file compose projects: the shapes that damaged real projects
(issue 14), in every combination.

A generated project has a base file and, drawn at random: plain `${VAR}` scalars in ports,
environment and volumes; an override file; an alternate file that stands alone
(docker-compose.prod.yml) or an overlay with partial services (in a sub-folder too); a second
file whose services `extends` the base's, with the database reached through a network alias,
a `hostname`, a `container_name` or a `links` alias. For each one, after `harden apply`:

- no transform fails (a failure is a transform whose edits the safety net had to refuse);
- the safety net, run over the files as written, finds nothing the originals did not have;
- every file still parses, and applying again changes nothing;
- `docker compose config -q` (Compose v2, and docker-compose 1.29 where installed) passes for
  every combination it passed before (a smaller sample: each call costs ~50 ms).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml as pyyaml
from hypothesis import given, settings
from hypothesis import strategies as st

from harden import safety
from harden.engine import Run
from harden_testlib import assert_compose_still_valid, compose_config, harden_run, write_files
from strategies import n_examples

DB_IMAGES = {"postgres": "postgres:16", "mysql": "mysql:8.0", "redis": "redis:7", "mariadb": "mariadb:11"}


@dataclass
class Project:
    files: dict[str, str] = field(default_factory=dict)
    combos: list[list[str]] = field(default_factory=list)  # how the files are used


def _port(draw, host_var: str, container: int) -> str:
    plain = draw(st.booleans())
    value = draw(st.sampled_from([f"${{{host_var}}}:{container}", f"${{{host_var}:-{container}}}:{container}",
                                  f"127.0.0.1:${{{host_var}:-{container}}}:{container}"]))
    return value if plain else f'"{value}"'


@st.composite
def projects(draw) -> Project:
    p = Project()
    kind = draw(st.sampled_from(sorted(DB_IMAGES)))
    db = draw(st.sampled_from(["db", "database", kind]))
    how = draw(st.sampled_from(["name", "alias", "hostname", "container_name", "links"]))
    host = db if how == "name" else f"{db}-host"
    lines = ["services:", "  web:", "    build: ."]
    lines += ["    ports:", f"      - {_port(draw, 'WEB_PORT', 8000)}"]
    lines += ["    environment:", f"      DB_HOST: {host}" if draw(st.booleans()) else f"      DB_HOST: ${{DB_HOST:-{host}}}"]
    if how == "links":
        lines += ["    links:", f"      - {db}:{host}"]
    if draw(st.booleans()):
        lines += ["    depends_on:", f"      - {db}"]
    if draw(st.booleans()):
        lines += ["    volumes:", "      - ${DATA_DIR:-./data}:/app/data"]
    worker = draw(st.booleans())
    if worker:
        lines += ["  worker:", "    build: .", "    command: python worker.py", "    environment:",
                  f"      - DB_HOST={host}"]
        if how == "links":
            lines += ["    links:", f"      - {db}:{host}"]
    lines += [f"  {db}:", f"    image: {DB_IMAGES[kind]}"]
    if how == "alias":
        lines += ["    networks:", "      default:", "        aliases:", f"          - {host}"]
    elif how in ("hostname", "container_name"):
        lines += [f"    {how}: {host}"]
    if draw(st.booleans()):
        lines += ["    ports:", f"      - {_port(draw, 'DB_PORT', 5432)}"]
    if draw(st.booleans()):
        lines += ["  adminer:", "    image: adminer", "    ports:", f"      - {_port(draw, 'ADMINER_PORT', 8080)}"]
    p.files["docker-compose.yml"] = "\n".join(lines) + "\n"
    p.files["Dockerfile"] = 'FROM python:3.12-slim\nWORKDIR /app\nCOPY . .\nCMD ["python", "app.py"]\n'
    p.files["app.py"] = "print('hi')\n"
    base = ["docker-compose.yml"]
    if draw(st.booleans()):
        p.files["docker-compose.override.yml"] = (
            "services:\n"
            f"  {db}:\n"
            "    ports:\n"
            f"      - {_port(draw, 'DB_PORT', 5432)}\n"
        )
        base = ["docker-compose.yml", "docker-compose.override.yml"]
    p.combos.append(base)
    other = draw(st.sampled_from(["none", "prod", "overlay", "ci-folder", "extends"]))
    if other == "prod":
        p.files["docker-compose.prod.yml"] = (
            "services:\n"
            "  web:\n"
            "    build: .\n"
            "    environment:\n"
            f"      DB_HOST: {db}\n"
            f"    depends_on: [{db}]\n"
            f"  {db}:\n"
            f"    image: {DB_IMAGES[kind]}\n"
            "  nginx:\n"
            "    image: nginx:1.25\n"
            "    ports:\n"
            f"      - {_port(draw, 'HTTP_PORT', 80)}\n"
            "    depends_on:\n"
            "      - web\n"
        )
        p.combos += [["docker-compose.prod.yml"], ["docker-compose.yml", "docker-compose.prod.yml"]]
    elif other in ("overlay", "ci-folder"):
        name = "docker-compose.ci.yml" if other == "overlay" else ".ci/compose.ci.yaml"
        p.files[name] = (
            "services:\n"
            "  web:\n"
            "    environment:\n"
            "      CI: \"true\"\n"
            "  tests:\n"
            "    image: example/tests:1\n"
            "    environment:\n"
            f"      DATABASE_URL: postgres://app@{db}/app\n"
        )
        p.combos += [["docker-compose.yml", name]]
    elif other == "extends":
        p.files["docker-compose.dev.yml"] = (
            "services:\n"
            "  dev-web:\n"
            "    extends:\n"
            "      file: docker-compose.yml\n"
            "      service: web\n"
            f"  dev-{db}:\n"
            "    extends:\n"
            "      file: docker-compose.yml\n"
            f"      service: {db}\n"
            "    networks:\n"
            "      default:\n"
            "        aliases:\n"
            f"          - {host}\n"
            f"          - {db}\n"
        )
        if how == "links":  # links name a service of the same project
            p.files["docker-compose.dev.yml"] = p.files["docker-compose.dev.yml"].replace(
                "      service: web\n", f"      service: web\n    links:\n      - dev-{db}:{host}\n", 1)
        p.combos += [["docker-compose.dev.yml"]]
    return p




def _snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


def _findings(root: Path) -> dict:
    run = Run(root)
    run.load()
    assert not run.result.errors, [e.one_line() for e in run.result.errors]
    out = {}
    for combo in safety.combinations(run):
        safety.measure_edges(combo, run)
        found = safety.violations(combo, run)
        if any(k[0] == "incomplete" for k in found):
            continue  # an overlay alone: no way the files are used
        for k, v in found.items():
            out[(combo.label, k)] = v
    return out


def _apply(root: Path):
    result = harden_run(root)
    for f in result.files:
        if f.changed:
            f.path.write_text(f.after)
    return result


def _check(project: Project, root: Path) -> None:
    write_files(root, project.files)
    before = _findings(root)
    result = _apply(root)
    failed = [(o.transform, o.file, o.reason) for o in result.outcomes if o.status == "failed"]
    assert not failed, failed
    assert not result.errors, [e.one_line() for e in result.errors]
    for rel, text in _snapshot(root).items():
        if rel.endswith((".yml", ".yaml")):
            pyyaml.safe_load(text)
    new = {k: v for k, v in _findings(root).items() if k not in before}
    assert not new, sorted(new.values())
    once = _snapshot(root)
    again = harden_run(root)
    assert not [f.rel for f in again.files if f.changed], "a second apply would change files"
    assert _snapshot(root) == once


@pytest.mark.slow
@settings(max_examples=n_examples(80))
@given(projects())
def test_generated_multi_file_projects_are_never_damaged(project):
    with tempfile.TemporaryDirectory() as tmp:
        _check(project, Path(tmp))


@pytest.mark.slow
@settings(max_examples=n_examples(15))
@given(projects())
def test_generated_multi_file_projects_still_pass_compose(project):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_files(root, project.files)
        before = {tuple(c): compose_config(root, [root / f for f in c]) for c in project.combos}
        _apply(root)
        for c in project.combos:
            assert_compose_still_valid(before[tuple(c)], compose_config(root, [root / f for f in c]),
                                       " -f ".join([""] + c))
