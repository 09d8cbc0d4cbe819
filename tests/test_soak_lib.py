"""The soak's own oracles (tests/soak_lib.py), on small made-up inputs: an oracle that sees
nothing would let the soak pass over real damage. No corpus needed; the compose and hadolint
ones skip without the tool (and fail under CI)."""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import soak_lib
from soak_lib import Combo
from harden_testlib import write_files

pytestmark = pytest.mark.soak




def need(tool: str | None, what: str) -> None:
    if not tool:
        if soak_lib.in_ci():
            pytest.fail(f"{what} is not installed (CI is set)")
        pytest.skip(f"{what} is not installed")


# ------------------------------------------------------------------ finding compose files

def test_compose_files_by_name_and_by_content(tmp_path):
    write_files(tmp_path, {
        "compose.yaml": "services:\n  web:\n    image: nginx\n",
        "compose-dev-backend.yml": "services: {}\n",  # named like one: kept even when empty
        "local.yml": "services:\n  django:\n    build: .\n    ports: ['8000:8000']\n",
        "overrides/compose.mariadb.yaml": "services:\n  db:\n    image: mariadb\n",
        "jibri.yml": "services:\n  jibri:\n    environment: {A: b}\n",
        "tagged.yml": "services:\n  a:\n    ports: !reset []\n",
        "config/services.yaml": "services:\n  _defaults:\n    autowire: true\n",  # Symfony
        ".gitlab-ci.yml": "services:\n  - docker:dind\n",
        "mkdocs.yml": "site_name: x\n",
        "node_modules/pkg/docker-compose.yml": "services:\n  x:\n    image: y\n",
        "broken.yml": "services: [\n",
    })
    assert soak_lib.compose_files(tmp_path) == [
        "compose-dev-backend.yml", "compose.yaml", "jibri.yml", "local.yml",
        "overrides/compose.mariadb.yaml", "tagged.yml"]


def test_yaml_loader_accepts_compose_tags():
    data = soak_lib.load_yaml("services:\n  a:\n    ports: !reset []\n    environment: !override {A: '1'}\n")
    assert data == {"services": {"a": {"ports": [], "environment": {"A": "1"}}}}


# ------------------------------------------------------------------ combinations

def test_combinations():
    files = ["compose.yaml", "compose.override.yml", "docker-compose.prod.yml", "overrides/compose.redis.yaml",
             "sub/docker-compose.yml", "sub/deeper/x.yml", "other/a.yml"]
    combos, total = soak_lib.combinations(files)
    got = [(c.files, c.why.split()[0]) for c in combos]
    assert got == [
        (("compose.yaml",), "alone"), (("compose.override.yml",), "alone"), (("docker-compose.prod.yml",), "alone"),
        (("overrides/compose.redis.yaml",), "alone"), (("sub/docker-compose.yml",), "alone"),
        (("sub/deeper/x.yml",), "alone"), (("other/a.yml",), "alone"),
        (("compose.yaml", "compose.override.yml"), "default"),
        (("compose.yaml", "docker-compose.prod.yml"), "default"),
        (("compose.yaml", "overrides/compose.redis.yaml"), "nearest"),
        (("compose.yaml", "sub/docker-compose.yml"), "nearest"),
        (("sub/docker-compose.yml", "sub/deeper/x.yml"), "nearest"),
        (("compose.yaml", "other/a.yml"), "nearest"),
    ]
    assert total == len(combos)
    assert Combo(("sub/docker-compose.yml", "sub/deeper/x.yml"), "").folder == "sub"
    capped, total = soak_lib.combinations(files, cap=3)
    assert len(capped) == 3 and total == 13


def test_default_file_order_is_composes():
    # Compose 2.26 takes docker-compose.yml over docker-compose.yaml (checked on this machine)
    combos, _ = soak_lib.combinations(["docker-compose.yaml", "docker-compose.yml", "docker-compose.override.yaml"])
    assert [c.files for c in combos if c.why.startswith("default `")] == [("docker-compose.yml", "docker-compose.override.yaml")]


def test_documented_combinations(tmp_path):
    write_files(tmp_path, {
        "docker-compose.yml": "services: {}\n", "jibri.yml": "services:\n  jibri: {}\n",
        "rtcstats/mongodb/mongodb.yml": "services:\n  mongodb: {}\n", "rtcstats.yml": "services:\n  rtc: {}\n",
        "README.md": "Run `docker compose -f docker-compose.yml -f jibri.yml up -d`\n"
                     "and  docker-compose -f docker-compose.yml -f rtcstats.yml -f ./rtcstats/mongodb/mongodb.yml up\n"
                     "not: docker compose -f docker-compose.yml -f missing.yml up\n"
                     "not: docker compose -f $FILE -f jibri.yml up\n",
        "rtcstats/README.md": "cd .. && docker compose --file=../docker-compose.yml --file ../rtcstats.yml up\n",
    })
    files = soak_lib.compose_files(tmp_path)
    got = [c.files for c in soak_lib.documented_combinations(tmp_path, files)]
    assert got == [("docker-compose.yml", "jibri.yml"),
                   ("docker-compose.yml", "rtcstats.yml", "rtcstats/mongodb/mongodb.yml"),
                   ("docker-compose.yml", "rtcstats.yml")]


def test_variables_without_default():
    text = ("image: ${IMAGE:?set it}\nports: ['${PORT}:80', '${OTHER:-8080}:81', '$BARE:82']\n"
            "cmd: echo $$ESCAPED $${ALSO}\n# ${COMMENTED}\nx: ${WITH-default} ${REQ?x}\n")
    assert soak_lib.variables_without_default([text]) == ["BARE", "IMAGE", "PORT", "REQ"]


def test_env_stubs(tmp_path):
    write_files(tmp_path, {
        "compose.yaml": "services:\n  a:\n    image: x\n    env_file: .env\n",
        "sub/x.yml": "services:\n  b:\n    env_file: [./b.env, {path: ./opt.env, required: false}, '${E}.env', ../../out.env]\n",
        "sub/b.env": "",
    })
    files = soak_lib.compose_files(tmp_path)
    combos, _ = soak_lib.combinations(files)
    # sub/x.yml alone resolves against sub/, with compose.yaml against the root
    assert soak_lib.env_stubs(tmp_path, files, combos) == [".env", "b.env", "opt.env", "sub/opt.env"]


# ------------------------------------------------------------------ depends_on / healthchecks

def _model(**services):
    return {"services": services}


def test_depends_violations(tmp_path):
    write_files(tmp_path, {
        "app/Dockerfile": "FROM python:3.12 AS base\nHEALTHCHECK CMD curl -f localhost\nFROM base AS prod\nCMD x\n",
        "off/Dockerfile": "FROM redis\nHEALTHCHECK NONE\n",
        "cont/Dockerfile": "FROM alpine\nRUN echo \\\n  HEALTHCHECK CMD x\n",
    })
    healthy = {"condition": "service_healthy", "required": True}
    model = _model(
        web={"depends_on": {"db": healthy, "cache": healthy, "api": healthy, "off": healthy, "cont": healthy,
                            "gone": {"condition": "service_started"}, "bare": healthy, "notest": healthy}},
        db={"healthcheck": {"test": ["CMD", "pg_isready"]}},
        cache={"healthcheck": {"test": ["CMD", "x"], "disable": True}},
        api={"build": {"context": str(tmp_path / "app"), "dockerfile": "Dockerfile", "target": "prod"}},
        off={"build": {"context": str(tmp_path / "off"), "dockerfile": "Dockerfile"}},
        cont={"build": {"context": str(tmp_path / "cont"), "dockerfile": "Dockerfile"}},
        bare={"image": "mariadb"},
        notest={"image": "x", "healthcheck": {"interval": "2s"}},
    )
    got = soak_lib.depends_violations(model)
    assert sorted(got) == [("no-healthcheck", "web", "bare"), ("no-healthcheck", "web", "cache"),
                           ("no-healthcheck", "web", "cont"), ("no-healthcheck", "web", "notest"),
                           ("no-healthcheck", "web", "off"), ("undefined", "web", "gone")]
    assert soak_lib.healthy_targets(model) == {"db", "cache", "api", "off", "cont", "bare", "notest"}


# ------------------------------------------------------------------ coverage

COMPOSE = """\
version: "3"
services:
  web:
    image: nginx
    depends_on:
      - db

  db:
    image: postgres
volumes:
  data:
"""

DOCKERFILE = "# syntax=docker/dockerfile:1\nFROM node:20 AS build\nRUN npm ci\nFROM node:20-slim\nCOPY --from=build /app /app\nCMD [\"node\"]\n"


def change(line, added, removed=(), old_count=None):
    return {"line": line, "added": list(added), "removed": list(removed),
            "old": {"start": line, "count": len(removed) if old_count is None else old_count}}


def test_part_of_change():
    p = soak_lib.part_of_change
    assert p("compose", COMPOSE, change(1, [], ['version: "3"'])) is None
    assert p("compose", COMPOSE, change(5, ["      db:", "        condition: service_healthy"], ["      - db"])) == "web"
    assert p("compose", COMPOSE, change(7, ["    networks: [backend]"])) == "web"  # after web's last line
    assert p("compose", COMPOSE, change(9, ["    healthcheck: {}"])) == "db"
    assert p("compose", COMPOSE, change(11, ["networks:", "  backend:"])) is None  # new top-level key
    assert p("dockerfile", DOCKERFILE, change(1, ["# added"], old_count=0)) is None
    assert p("dockerfile", DOCKERFILE, change(3, ["RUN x"])) == "stage build"
    assert p("dockerfile", DOCKERFILE, change(5, ["USER 1000"])) == "stage 1"


def test_coverage_counts():
    report = {
        "files": [
            {"path": "compose.yaml", "kind": "compose", "changes": [
                change(1, [], ['version: "3"']) | {"transforms": ["db-healthcheck"]},
                change(5, ["x"], ["- db"]) | {"transforms": ["depends-healthy", "networks"]},
                change(9, ["    healthcheck: {}"]) | {"transforms": ["db-healthcheck"]},
                change(11, ["networks:"]) | {"transforms": ["networks"]},
            ]},
            {"path": "other.yml", "kind": "compose", "changes": [
                change(1, [], ['version: "3"']) | {"transforms": ["db-healthcheck"]}]},
            {"path": "Dockerfile", "kind": "dockerfile", "changes": [
                change(5, ["USER 1000"]) | {"transforms": ["non-root-user"]}]},
        ],
        "outcomes": [
            {"transform": "networks", "file": "compose.yaml", "status": "skipped", "part": "db", "reason": "r1"},
            {"transform": "networks", "file": "compose.yaml", "status": "skipped", "part": "web", "reason": "r2"},
            {"transform": "non-root-user", "file": "x/Dockerfile", "status": "skipped", "part": None, "reason": "base image a:1 is odd"},
            {"transform": "non-root-user", "file": "y/Dockerfile", "status": "skipped", "part": None, "reason": "base image b:2 is odd"},
            {"transform": "dev-profiles", "file": "compose.yaml", "status": "suppressed", "part": "adminer", "reason": "pragma"},
            {"transform": "split-stages", "file": "Dockerfile", "status": "failed", "part": None, "reason": "bug"},
            {"transform": "harden", "file": "compose.yaml", "status": "skipped", "part": "web", "reason": "Dockerfile a/b/Dockerfile not found"},
        ],
    }
    texts = {"compose.yaml": COMPOSE, "other.yml": 'version: "3"\nservices: {}\n', "Dockerfile": DOCKERFILE}
    cov = soak_lib.coverage_of(report, texts)
    assert cov.changed == {
        "db-healthcheck": {("compose.yaml", "db"), ("other.yml", None)},  # top-level only counted where nothing else
        "depends-healthy": {("compose.yaml", "web")},
        "networks": {("compose.yaml", "web")},
        "non-root-user": {("Dockerfile", "stage 1")},
    }
    assert cov.skipped["networks"] == {("compose.yaml", "db"), ("compose.yaml", "web")}
    assert cov.reasons["non-root-user"] == {"base image <image> is odd": 2}
    table = soak_lib.coverage_table(cov, ["split-stages", "non-root-user", "db-healthcheck", "depends-healthy", "networks", "dev-profiles"])
    rows = {ln.split()[0]: ln.split()[1:] for ln in table.splitlines() if ln and ln.split()[0] in (
        "split-stages", "non-root-user", "networks", "dev-profiles", "total")}
    # changed, eligible, %, skipped (and not changed), failed, suppressed
    assert rows["networks"] == ["1", "2", "50%", "1", "0", "0"]
    assert rows["non-root-user"] == ["1", "3", "33%", "2", "0", "0"]
    assert rows["split-stages"] == ["0", "0", "-", "0", "1", "0"]
    assert rows["dev-profiles"] == ["0", "0", "-", "0", "0", "1"]
    assert rows["total"] == ["5", "8", "62%", "3", "1", "1"]
    assert "harden: 1 skips" in table and "Dockerfile <path> not found" in table


def test_normalize_reason():
    n = soak_lib.normalize_reason
    assert n("cannot tell how to add a user on base image java:8-jre (not a known Debian/Ubuntu image)", None) == \
        "cannot tell how to add a user on base image <image> (not a known Debian/Ubuntu image)"
    assert n("no healthcheck added: its command runs `sh`, not the redis server", "redis") == \
        "no healthcheck added: its command runs `…`, not the <name> server"
    assert n("`include:` ./services/redis.yaml not followed: service cache is defined both here", None) == \
        "`include:` <path> not followed: service <name> is defined both here"
    assert n("CMD at line 20 runs through `poetry run`", "stage 0") == "CMD at line N runs through `…`"


# ------------------------------------------------------------------ the compose and hadolint oracles

def test_compose_check_sees_damage(tmp_path):
    tools = soak_lib.find_tools()
    need(tools.docker, "Compose v2")
    write_files(tmp_path, {"compose.yaml": "services:\n  web:\n    image: ${IMAGE:?set it}\n    ports: ['${PORT}:80']\n"})
    combo = Combo(("compose.yaml",), "alone")
    assert not soak_lib.compose_check(tools, tmp_path, combo, "v2").ok  # IMAGE unset: compose stops
    ok = soak_lib.compose_check(tools, tmp_path, combo, "v2", ["IMAGE", "PORT"])
    assert ok.ok and ok.placeholders and ok.model["services"]["web"]["ports"][0]["published"] == "1"
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    image: nginx\n    networks: [backend]\n")
    bad = soak_lib.compose_check(tools, tmp_path, combo, "v2-all-profiles")
    assert not bad.ok and "backend" in bad.error


def test_soak_case_finds_nothing_on_a_project_harden_leaves_alone(tmp_path):
    tools = soak_lib.find_tools()
    src = write_files(tmp_path / "src", {"case/compose.yaml": "# a comment\nservices:\n  web:\n    image: nginx\n"}) / "case"
    with ThreadPoolExecutor(2) as pool:
        r = soak_lib.soak_case("case", src, tmp_path / "work", tools, pool)
    assert r.failures == [], r.render()
    assert r.exit_codes["apply"] == 0 and r.exit_codes["diff"] == 0
    assert r.report is not None and r.report["format"] == 1


def test_hadolint_findings(tmp_path):
    tools = soak_lib.find_tools()
    need(tools.hadolint, "hadolint")
    df = write_files(tmp_path, {"Dockerfile": "FROM debian:12\nRUN apt-get update && apt-get install -y curl\n"}) / "Dockerfile"
    keys, raw, err = soak_lib.hadolint_findings(tools, df, tmp_path / "scratch")
    assert err is None
    assert ("DL3008", "RUN apt-get update && apt-get install -y curl") in keys
    assert all(f["text"] for f in raw)


def test_a_dockerfile_is_known_by_its_first_instruction(tmp_path):
    from soak_lib import _looks_like_dockerfile

    write_files(tmp_path, {"a": "# syntax=docker/dockerfile:1\nARG BASE=python\nFROM ${BASE}\n",
                           "b": 'ace.define("x", [], function () {});\n'})
    assert _looks_like_dockerfile(tmp_path / "a") and not _looks_like_dockerfile(tmp_path / "b")
