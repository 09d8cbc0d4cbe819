"""The damage classes found on real projects (issue 14), each reproduced as it was seen, and the
safety net that must catch such damage before anything is written.

1. a plain scalar holding `{`/`}` (`- ${PORT}:8080`) rewritten into YAML that no longer parses;
2. an alternate compose file (docker-compose.prod.yml) treated as an override of the base;
3. `depends_on` toward a host name that is a network alias, not a service;
4. a network named by a service but declared only in a file not loaded with it.
"""

from __future__ import annotations

from pathlib import Path

import yaml as pyyaml

from harden_testlib import assert_compose_valid, compose_config, harden_run, write_files




def _after(result, rel: str) -> str:
    for f in result.files:
        if f.rel == rel:
            return f.after
    raise AssertionError(f"{rel} not in the result")


# ------------------------------------------------------------ 1. plain scalars with braces

def test_plain_port_with_a_variable_stays_valid_yaml_dev_profiles(tmp_path):
    root = write_files(tmp_path, {"compose.yaml": (
        "services:\n"
        "  adminer:\n"
        "    image: adminer\n"
        "    ports:\n"
        "      - ${PORT}:8080\n"
    )})
    result = harden_run(root, select=["dev-profiles"])
    out = _after(result, "compose.yaml")
    assert '- "127.0.0.1:${PORT}:8080"\n' in out
    assert pyyaml.safe_load(out)["services"]["adminer"]["ports"] == ["127.0.0.1:${PORT}:8080"]


def test_plain_database_port_with_a_default_stays_valid_yaml_networks(tmp_path):
    root = write_files(tmp_path, {"compose.yaml": (
        "services:\n"
        "  web:\n"
        "    image: nginx\n"
        "    ports:\n"
        "      - ${WEB_PORT}:80   # public\n"
        "    environment:\n"
        "      DATABASE_URL: postgres://app@db/app\n"
        "  db:\n"
        "    image: postgres:16\n"
        "    ports:\n"
        "      - ${DB_PORT:-5432}:5432   # for local tools\n"
    )})
    result = harden_run(root, select=["networks"])
    out = _after(result, "compose.yaml")
    assert '- "127.0.0.1:${DB_PORT:-5432}:5432"   # for local tools\n' in out
    data = pyyaml.safe_load(out)
    assert data["services"]["db"]["ports"] == ["127.0.0.1:${DB_PORT:-5432}:5432"]
    assert data["services"]["web"]["ports"] == ["${WEB_PORT}:80"]


# ------------------------------------------------------- helpers: the outputs as compose sees them

def _apply(result) -> None:
    for f in result.files:
        if f.changed:
            f.path.write_text(f.after)


def _net_findings(root: Path) -> list[str]:
    """Everything the safety net objects to in the files as they are on disk."""
    from harden import safety
    from harden.engine import _REJECTED_AS_READ, Run

    run = Run(root)
    run.load()
    out = []
    for combo in safety.combinations(run):
        v = safety.violations(combo, run)
        if not any(k[0] in _REJECTED_AS_READ for k in v):  # compose refuses it as it is: no way it is used
            out += sorted(v.values())
    return out


def _assert_combinations_valid(root: Path, combos: list[list[str]]) -> None:
    """Every installed compose CLI accepts each combination (Compose v2 required)."""
    for files in combos:
        assert_compose_valid(compose_config(root, [root / f for f in files]), " -f ".join([""] + files))


# ------------------------------------------------ 2. alternate files are projects of their own

PROD_CASE = {
    "docker-compose.yml": (
        "services:\n"
        "  web:\n"
        "    build: .\n"
        "    ports:\n"
        "      - \"8000:8000\"\n"
        "    environment:\n"
        "      DATABASE_URL: postgres://app:pw@db/app\n"
        "    depends_on:\n"
        "      - db\n"
        "  db:\n"
        "    image: postgres:16\n"
    ),
    "docker-compose.prod.yml": (
        "# run with: docker compose -f docker-compose.prod.yml up -d\n"
        "services:\n"
        "  web:\n"
        "    build: .\n"
        "    environment:\n"
        "      DATABASE_URL: postgres://app:pw@db/app\n"
        "    depends_on:\n"
        "      - db\n"
        "  db:\n"
        "    image: postgres:16\n"
        "  nginx:\n"
        "    image: nginx:1.25\n"
        "    ports:\n"
        "      - \"80:80\"\n"
        "    depends_on:\n"
        "      - web\n"
    ),
    "Dockerfile": "FROM python:3.12-slim\nCOPY app.py .\nCMD [\"python\", \"app.py\"]\n",
    "app.py": "print('hello')\n",
}


def _healthy_edges_have_healthchecks(text: str) -> None:
    data = pyyaml.safe_load(text)
    for name, svc in data["services"].items():
        for dep, spec in (svc.get("depends_on") or {}).items() if isinstance(svc.get("depends_on"), dict) else ():
            if (spec or {}).get("condition") == "service_healthy":
                assert "healthcheck" in data["services"][dep], f"{name} waits on {dep}, which has no healthcheck in this file"


def test_a_complete_prod_file_is_a_project_of_its_own(tmp_path):
    root = write_files(tmp_path, PROD_CASE)
    result = harden_run(root, select=["db-healthcheck", "depends-healthy", "networks"])
    assert not [o for o in result.outcomes if o.status == "failed"], result.outcomes
    base, prod = _after(result, "docker-compose.yml"), _after(result, "docker-compose.prod.yml")
    # each file holds both halves of what it needs: the healthcheck beside the service_healthy,
    # the networks declaration beside the services that name them
    for text in (base, prod):
        _healthy_edges_have_healthchecks(text)
        data = pyyaml.safe_load(text)
        used = {n for s in data["services"].values() for n in (s.get("networks") or [])}
        assert used <= set(data.get("networks") or {}), text
    assert "condition: service_healthy" in base and "condition: service_healthy" in prod
    assert "nginx" not in base
    _apply(result)
    assert _net_findings(root) == []
    _assert_combinations_valid(root, [["docker-compose.yml"], ["docker-compose.prod.yml"],
                                      ["docker-compose.yml", "docker-compose.prod.yml"]])


def test_a_partial_file_in_a_subfolder_is_an_overlay_of_the_base_above(tmp_path):
    root = write_files(tmp_path, {
        "compose.yaml": (
            "services:\n"
            "  web:\n"
            "    image: example/web:1\n"
            "    ports:\n"
            "      - \"8000:8000\"\n"
            "    environment:\n"
            "      DB_HOST: db\n"
            "  db:\n"
            "    image: mysql:8.0\n"
        ),
        # the CI overlay: `docker compose -f compose.yaml -f .ci/compose.ci.yaml up`
        ".ci/compose.ci.yaml": (
            "services:\n"
            "  web:\n"
            "    environment:\n"
            "      CI: \"true\"\n"
            "  db:\n"
            "    tmpfs:\n"
            "      - /var/lib/mysql\n"
            "  tests:\n"
            "    image: example/tests:1\n"
            "    environment:\n"
            "      DB_HOST: db\n"
        ),
    })
    result = harden_run(root)
    assert not [o for o in result.outcomes if o.status == "failed"], result.outcomes
    ci = _after(result, ".ci/compose.ci.yaml")
    # the healthcheck and the networks are declared in compose.yaml, which is always loaded first
    assert "healthcheck" not in ci and "\nnetworks:" not in ci
    tests = pyyaml.safe_load(ci)["services"]["tests"]
    # the service the overlay adds waits for the database, reaches it on backend, and keeps a
    # way out (backend is internal; harden cannot tell that the test runner never calls out)
    assert tests["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert tests["networks"] == ["backend", "default"]
    _apply(result)
    assert _net_findings(root) == []
    _assert_combinations_valid(root, [["compose.yaml"], ["compose.yaml", ".ci/compose.ci.yaml"]])


def test_a_complete_file_on_a_network_only_its_base_declares_is_an_overlay(tmp_path):
    """jitsi's add-ons (`-f docker-compose.yml -f jibri.yml`): every service has an image, but
    they join a network only the base declares, so compose rejects the file alone. It is read
    with its base: here the store it adds keeps its alias on the shared network, with the
    reason, instead of being planned as a project of its own."""
    root = write_files(tmp_path, {
        "docker-compose.yml": ("services:\n  web:\n    image: example/web:1\n    ports: ['443:443']\n"
                               "    networks:\n      meet:\nnetworks:\n  meet:\n"),
        "extras/mongo.yml": ("services:\n  mongodb:\n    image: mongo:7\n    networks:\n      meet:\n"
                             "        aliases:\n          - mongodb.meet\n"),
    })
    result = harden_run(root, select=["networks"])
    assert not any(f.changed for f in result.files)
    (o,) = [o for o in result.outcomes if o.transform == "networks" and o.status == "skipped"]
    assert o.file == "extras/mongo.yml" and "has the alias mongodb.meet on meet" in o.reason


def test_an_overlay_without_a_base_is_left_alone(tmp_path):
    root = write_files(tmp_path, {"deploy/docker-compose.staging.yml": (
        "services:\n"
        "  web:\n"
        "    depends_on: [db]\n"
        "  db:\n"
        "    ports: [\"5432:5432\"]\n"
    )})
    result = harden_run(root)
    assert not any(f.changed for f in result.files)
    assert any(o.status == "skipped" and "neither `image` nor `build`" in (o.reason or "") for o in result.outcomes)


# ------------------------------------------------------ 3. hosts are not always service names

EXTENDS_CASE = {
    "docker-compose.base.yml": (
        "services:\n"
        "  app:\n"
        "    build: .\n"
        "    environment:\n"
        "      DB_HOST: db\n"
        "  db:\n"
        "    image: postgres:16\n"
    ),
    "docker-compose.dev.yml": (
        "services:\n"
        "  dev-app:\n"
        "    extends:\n"
        "      file: docker-compose.base.yml\n"
        "      service: app\n"
        "    ports:\n"
        "      - \"8000:8000\"\n"
        "  dev-db:\n"
        "    extends:\n"
        "      file: docker-compose.base.yml\n"
        "      service: db\n"
        "    networks:\n"
        "      default:\n"
        "        aliases:\n"
        "          - db\n"
    ),
    "Dockerfile": "FROM python:3.12-slim\nCOPY app.py .\nCMD [\"python\", \"app.py\"]\n",
    "app.py": "print('hello')\n",
}


def test_a_network_alias_leads_to_its_service_and_extends_passes_no_undefined_edge(tmp_path):
    root = write_files(tmp_path, EXTENDS_CASE)
    result = harden_run(root, select=["db-healthcheck", "depends-healthy", "networks"])
    assert not [o for o in result.outcomes if o.status == "failed"], result.outcomes
    base, dev = _after(result, "docker-compose.base.yml"), _after(result, "docker-compose.dev.yml")
    assert "depends_on" not in base  # dev-app would inherit it, and dev has no service `db`
    assert pyyaml.safe_load(dev)["services"]["dev-app"]["depends_on"] == {"dev-db": {"condition": "service_healthy"}}
    # dev-app reaches dev-db by the alias `db`, which exists on `default` only: networks stays out
    assert "networks:\n      - " not in dev
    assert any(o.transform == "networks" and "alias" in (o.reason or "") for o in result.outcomes)
    _apply(result)
    assert _net_findings(root) == []
    _assert_combinations_valid(root, [["docker-compose.base.yml"], ["docker-compose.dev.yml"]])


def test_hosts_resolve_through_hostname_container_name_and_links(tmp_path):
    root = write_files(tmp_path, {"compose.yaml": (
        "services:\n"
        "  a:\n"
        "    image: example/a\n"
        "    environment:\n"
        "      DB_HOST: pg.local\n"
        "  b:\n"
        "    image: example/b\n"
        "    environment:\n"
        "      REDIS_URL: redis://kv:6379/0\n"
        "  c:\n"
        "    image: example/c\n"
        "    links:\n"
        "      - mongo:docs\n"
        "    environment:\n"
        "      MONGO_URL: mongodb://docs:27017/x\n"
        "  postgres:\n"
        "    image: postgres:16\n"
        "    hostname: pg.local\n"
        "  redis:\n"
        "    image: redis:7\n"
        "    container_name: kv\n"
        "  mongo:\n"
        "    image: mongo:7\n"
    )})
    result = harden_run(root, select=["db-healthcheck", "depends-healthy"])
    data = pyyaml.safe_load(_after(result, "compose.yaml"))["services"]
    assert data["a"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert data["b"]["depends_on"] == {"redis": {"condition": "service_healthy"}}
    assert data["c"]["depends_on"] == {"mongo": {"condition": "service_healthy"}}


# ------------------------------------------- the safety net catches each class without its fix


def _old_plain_token(self, text, col, value, *, flow=False):
    """compose_doc before the fix: a plain scalar ended at the first `}` or `]`, in block context too."""
    import re

    rest = text[col:]
    if rest[:1] in "'\"":
        return self._scalar_token(text, col)
    m = re.match(r"(.*?)(?=\s+#|\s*$|\s*,\s|\s*[\]}])", rest)
    return (m.group(1) if m else rest).rstrip()


def _old_grouping(folder, files, above=None):
    """project.py before the fix: every sibling compose file joined the base as an override."""
    from harden.project import COMPOSE_BASES, ComposeGroup

    names = {f.name: f for f in files}
    bases = [names[b] for b in COMPOSE_BASES if b in names]
    if not bases:
        return [ComposeGroup(folder, [f]) for f in files]
    return [ComposeGroup(folder, [bases[0]] + [f for f in files if f not in bases])] + \
        [ComposeGroup(folder, [b]) for b in bases[1:]]


def _written(result) -> dict[str, str]:
    return {f.rel: f.after for f in result.files}


def test_net_catches_a_broken_plain_scalar(tmp_path, monkeypatch):
    from harden.compose_doc import ComposeDoc

    monkeypatch.setattr(ComposeDoc, "_value_token", _old_plain_token)
    root = write_files(tmp_path, {"compose.yaml": (
        "services:\n"
        "  db:\n"
        "    image: postgres:16\n"
        "    ports:\n"
        "      - ${DB_PORT:-5432}:5432\n"
        "  adminer:\n"
        "    image: adminer\n"
        "    ports:\n"
        "      - ${PORT}:8080\n"
    )})
    result = harden_run(root)
    failed = {o.transform: o.reason for o in result.outcomes if o.status == "failed"}
    assert set(failed) == {"networks", "dev-profiles"}, result.outcomes
    assert all("would no longer parse" in r for r in failed.values())
    out = _written(result)["compose.yaml"]
    pyyaml.safe_load(out)  # what would be written still parses
    assert "- ${PORT}:8080\n" in out and "- ${DB_PORT:-5432}:5432\n" in out


def test_net_catches_edits_split_across_alternate_files(tmp_path, monkeypatch):
    import harden.project

    monkeypatch.setattr(harden.project, "group_compose_files", _old_grouping)
    root = write_files(tmp_path, PROD_CASE)
    result = harden_run(root, select=["db-healthcheck", "depends-healthy", "networks"])
    failed = [o for o in result.outcomes if o.status == "failed"]
    assert failed, result.outcomes
    assert any("undefined network" in o.reason or "no healthcheck" in o.reason for o in failed), failed
    _apply(result)
    assert _net_findings(root) == []
    _assert_combinations_valid(root, [["docker-compose.yml"], ["docker-compose.prod.yml"]])


def test_net_catches_an_edge_to_an_alias_inherited_through_extends(tmp_path, monkeypatch):
    import harden.transforms.depends_healthy as dh

    monkeypatch.setattr(dh, "service_for_host", lambda project, svc, host: host if project.service(host) else None)
    monkeypatch.setattr(dh.DependsHealthy, "_defined_where_extended", lambda self, p, c, s, edges: edges)
    # and the rule that adds no depends_on to a service another file extends: the net is what is tested
    from harden.model import Service
    monkeypatch.setattr(Service, "extended_elsewhere", lambda self: [])
    root = write_files(tmp_path, EXTENDS_CASE)
    result = harden_run(root, select=["db-healthcheck", "depends-healthy"])
    failed = [o for o in result.outcomes if o.status == "failed"]
    assert [o.transform for o in failed] == ["depends-healthy"], result.outcomes
    assert "depends on undefined service 'db'" in failed[0].reason
    assert "depends_on" not in _written(result)["docker-compose.base.yml"]
    # its notes about edges it did not make are gone with its edits
    assert not [n for n in result.notes if n.transform == "depends-healthy" and "added depends_on" in n.message]
    _apply(result)
    assert _net_findings(root) == []


def test_a_transform_that_stands_aside_leaves_no_notes_of_its_undone_edits(tmp_path):
    """The CI overlay publishes db and adds a public proxy: its networks run binds db's port in
    the overlay, then stands aside (db would have to move in compose.yaml, its own project's).
    The binding is undone, and so is the note that told of it."""
    root = write_files(tmp_path, {
        "compose.yaml": "services:\n  web:\n    image: example/web:1\n    environment:\n      DB_HOST: db\n"
                        "  db:\n    image: postgres:16\n",
        "compose.ci.yaml": "services:\n  db:\n    ports: ['5432:5432']\n  proxy:\n    image: nginx:1.27\n"
                           "    ports: ['80:80']\n    depends_on: [web]\n",
    })
    result = harden_run(root, select=["networks"])
    assert not any(f.changed for f in result.files)
    assert any(o.file == "compose.ci.yaml" and o.status == "skipped" for o in result.outcomes)
    assert result.notes == []


ELK_LIKE = {
    "docker-compose.yml": ("services:\n  elasticsearch:\n    image: elasticsearch:8.13.0\n    networks: [elk]\n"
                           "  kibana:\n    image: kibana:8.13.0\n    ports: ['5601:5601']\n    networks: [elk]\n"
                           "    depends_on: [elasticsearch]\nnetworks:\n  elk:\n"),
    # docker-elk's add-ons: `docker compose -f docker-compose.yml -f extensions/curator/curator-compose.yml up`
    "extensions/curator/curator-compose.yml": ("services:\n  curator:\n    build:\n      context: extensions/curator/\n"
                                               "    networks:\n      - elk\n    depends_on:\n      - elasticsearch\n"),
    "extensions/curator/Dockerfile": "FROM python:3.12-slim\nRUN pip install elasticsearch-curator\nCMD [\"curator\"]\n",
}


def test_an_add_on_in_a_sub_folder_resolves_paths_against_its_base_and_follows_the_store(tmp_path):
    """The add-on joins `elk`, which only the base declares: an overlay. Its relative paths
    resolve against the base's folder, as compose resolves them (`-f` first file), so its
    Dockerfile is found; when the store leaves `elk` for backend, the add-on's service follows
    it there in its own file. The add-on alone (compose rejects it as read: `elk` undeclared)
    is no way the files are used, so a second undeclared name there is no damage."""
    root = write_files(tmp_path, ELK_LIKE)
    result = harden_run(root)
    assert not [o for o in result.outcomes if o.status == "failed"], result.outcomes
    assert not any("not found" in (o.reason or "") for o in result.outcomes)
    assert "extensions/curator/Dockerfile" in {f.rel for f in result.files}
    base = pyyaml.safe_load(_after(result, "docker-compose.yml"))
    assert base["services"]["elasticsearch"]["networks"] == ["backend"]
    add_on = pyyaml.safe_load(_after(result, "extensions/curator/curator-compose.yml"))
    assert add_on["services"]["curator"]["networks"] == ["elk", "backend"]
    _apply(result)
    assert _net_findings(root) == []
    _assert_combinations_valid(root, [["docker-compose.yml"],
                                      ["docker-compose.yml", "extensions/curator/curator-compose.yml"]])
