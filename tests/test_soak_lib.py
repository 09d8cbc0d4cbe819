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


def test_a_finding_on_a_line_harden_rewrote_is_the_old_one_when_the_old_line_had_it(tmp_path):
    """DL3025 (shell-form CMD) on `CMD poetry run x && \\` is the same finding on `CMD x && \\`
    after harden dropped `poetry run`; a code the replaced lines did not have is new, and so is
    one on a line harden added."""
    before = "FROM python:3.12\nRUN pip install -r r.txt\nCMD poetry run alembic upgrade && \\\n    poetry run app\n"
    after = ("FROM python:3.12 AS builder\nRUN pip install -r r.txt\n\nFROM python:3.12-slim AS production\n"
             "RUN apt-get install -y curl\nCMD alembic upgrade && \\\n    app\n")
    raw_b = [{"code": "DL3025", "line": 3, "text": "CMD poetry run alembic upgrade && \\"},
             {"code": "DL3042", "line": 2, "text": "RUN pip install -r r.txt"}]
    raw_a = [{"code": "DL3025", "line": 6, "text": "CMD alembic upgrade && \\"},
             {"code": "DL3042", "line": 2, "text": "RUN pip install -r r.txt"},
             {"code": "DL3008", "line": 5, "text": "RUN apt-get install -y curl"}]
    new = soak_lib.new_hadolint_findings(before, raw_b, after, raw_a)
    assert [x["code"] for x in new] == ["DL3008"]
    # the same rewrite turning exec form into shell form: DL3025 is new
    raw_b2 = [f for f in raw_b if f["code"] != "DL3025"]
    assert [x["code"] for x in soak_lib.new_hadolint_findings(before, raw_b2, after, raw_a)] == ["DL3025", "DL3008"]


def test_a_dockerfile_is_known_by_its_first_instruction(tmp_path):
    from soak_lib import _looks_like_dockerfile

    write_files(tmp_path, {"a": "# syntax=docker/dockerfile:1\nARG BASE=python\nFROM ${BASE}\n",
                           "b": 'ace.define("x", [], function () {});\n'})
    assert _looks_like_dockerfile(tmp_path / "a") and not _looks_like_dockerfile(tmp_path / "b")


# ------------------------------------------------------------------ the practice table (issue 16)

@pytest.mark.parametrize("ref, kind, detail", [
    ("python:3.12-slim", "runtime", "python"),
    ("docker.io/library/node:22-alpine", "runtime", "node"),
    ("localhost:5000/team/node:20", "runtime", "node"),
    ("ghcr.io/astral-sh/uv:python3.12-bookworm-slim", "runtime", "python"),
    ("cimg/python:3.10-browsers", "runtime", "python"),
    ("mcr.microsoft.com/dotnet/aspnet:8.0", "runtime", "dotnet"),
    ("eclipse-temurin:21-jre", "runtime", "jvm"),
    ("java:8-jre", "runtime", "jvm"),
    ("rails:onbuild", "runtime", "ruby"),
    ("php:8.3-cli", "runtime", "php"),
    ("php:${PHP}-fpm", "php-fpm", "${php}-fpm"),
    ("php:8.2-apache", "php-fpm", "8.2-apache"),
    ("debian@sha256:0123", "os", "debian"),
    ("registry.access.redhat.com/ubi9/ubi-minimal", "os", "ubi-minimal"),
    ("cgr.dev/chainguard/wolfi-base", "os", "wolfi-base"),
    ("gcr.io/distroless/static:nonroot", "distroless", "distroless/static"),
    ("scratch", "scratch", ""),
    ("postgres:16", "server", "postgres"),
    ("zulip/zulip-postgresql:14", "server", "postgres"),
    ("nginx:1.27", "server", "nginx"),
    ("docker.elastic.co/beats/filebeat:9.5.1", "server", "filebeat"),
    ("adminer", "server", "dev tool"),
    ("${JITSI_REPO}/base:latest", "unknown", "name from a variable"),
    ("garland/aws-cli-docker:1.15", "unknown", "garland/aws-cli-docker"),
])
def test_image_kind(ref, kind, detail):
    assert soak_lib.image_kind(ref) == (kind, detail)


@pytest.mark.parametrize("ref, family", [
    ("postgres", "postgres"), ("docker.io/library/postgres:15-alpine", "postgres"), ("postgis/postgis:16", "postgres"),
    ("sqshq/piggymetrics-mongodb", "mongo"), ("bitnami/redis:7", "redis"), ("valkey/valkey:8", "valkey"),
    ("redis/redis-stack-server", "redis"), ("docker.elastic.co/elasticsearch/elasticsearch:9", "elasticsearch"),
    ("lscr.io/linuxserver/mariadb", "mariadb"), ("rabbitmq:3-management", "rabbitmq"), ("memcached", "memcached"),
    ("mongo-express", None), ("prometheuscommunity/postgres-exporter", None), ("ghcr.io/joeferner/redis-commander", None),
    ("redis/redisinsight", None), ("nginx", None), ("python:3.12", None), ("${DB_IMAGE}", None),
])
def test_store_family(ref, family):
    assert soak_lib.store_family(ref) == family


def test_dockerfile_instructions_join_continuations_and_heredocs():
    text = ("# escape=\\\nFROM python:3.12 AS base\nRUN pip install \\\n    # a comment inside\n\n    -r requirements.txt\n"
            "RUN <<EOF\nset -e\nnpm ci\nEOF\nUSER app\n")
    got = [(i.line, i.keyword, i.args) for i in soak_lib.dockerfile_instructions(text)]
    assert got == [(1, "FROM", "python:3.12 AS base"), (2, "RUN", "pip install -r requirements.txt"),
                   (6, "RUN", "<<EOF\nset -e\nnpm ci"), (10, "USER", "app")]


def test_root_image_and_user_in_force():
    text = ("ARG PY=3.12\nARG FROM\nFROM python:${PY}-slim AS base\nRUN useradd app\nUSER app\n"
            "FROM base AS build\nUSER root\nRUN make\n"
            "FROM base AS final\nCMD [\"x\"]\n"
            "FROM ${FROM} AS other\n"
            "FROM alpine:3.20 AS var\nARG UID=0\nUSER ${UID}:${UID}\n"
            "FROM alpine:3.20 AS unresolved\nUSER ${APP_USER}\n"
            "FROM cimg/python:3.10 AS ci\n")
    ga, stages = soak_lib.parse_dockerfile(text)
    assert ga == {"PY": "3.12", "FROM": None}
    assert [s.part for s in stages] == ["stage base", "stage build", "stage final", "stage other", "stage var",
                                        "stage unresolved", "stage ci"]
    assert soak_lib.root_image(ga, stages, 2) == "python:3.12-slim"
    assert soak_lib.root_image(ga, stages, 3) == "${FROM}"
    assert soak_lib.user_in_force(ga, stages, 0) == (True, "USER app")
    assert soak_lib.user_in_force(ga, stages, 1) == (False, "USER root")
    assert soak_lib.user_in_force(ga, stages, 2) == (True, "USER app in stage base")  # inherited from its base stage
    assert soak_lib.user_in_force(ga, stages, 4)[0] is False  # ${UID} is 0 by its ARG default
    assert soak_lib.user_in_force(ga, stages, 5)[0] is True  # a variable nobody set: not root
    assert soak_lib.user_in_force(ga, stages, 6) == (True, "cimg/python:3.10 runs as a non-root user by default")
    ga, stages = soak_lib.parse_dockerfile("FROM node:22\nRUN npm ci\n")
    assert soak_lib.user_in_force(ga, stages, 0) == (False, "no USER")


@pytest.mark.parametrize("run, lang, yes", [
    ("pip install -r requirements.txt", "python", True),
    ("pip install --no-cache-dir --upgrade pip setuptools wheel", "python", False),
    ("pip install poetry && poetry install --no-root", "python", True),
    ("python3 -m pip install .", "python", True),
    ("pip install -i https://mirror.invalid/simple gunicorn", "python", True),
    ("uv sync --frozen", "python", True),
    ("pipenv install --system --deploy", "python", True),
    ("apt-get install -y python3-pip", "python", False),
    ("npm ci --omit=dev", "node", True),
    ("npm i -g pnpm", "node", False),
    ("corepack enable && pnpm install --frozen-lockfile", "node", True),
    ("yarn", "node", True),
    ("yarn install --frozen-lockfile && yarn build", "node", True),
    ("yarn build", "node", False),
    ("yarn global add serve", "node", False),
    ("npm run build", "node", False),
])
def test_installs_dependencies(run, lang, yes):
    assert soak_lib.installs_dependencies(run, lang) is yes


def test_store_of_service_tells_a_store_from_a_helper(tmp_path):
    s = soak_lib.store_of_service
    assert s({"image": "postgres:16", "command": None, "entrypoint": None}) == "postgres"
    assert s({"image": "postgres:16", "command": ["postgres", "-c", "max_connections=200"]}) == "postgres"
    assert s({"image": "redis:7", "command": ["--appendonly", "yes"]}) == "redis"
    assert s({"image": "memcached", "command": ["sh", "-euc", "echo x; exec memcached -S"]}) == "memcached"
    assert s({"image": "redis", "command": ["sh", "-euc", "/usr/local/bin/docker-entrypoint.sh --requirepass x"]}) == "redis"
    assert s({"image": "mysql", "command": ["chown", "-R", "999:999", "/var/lib/mysql"]}) is None
    assert s({"image": "postgres", "entrypoint": ["psql", "-h", "db"]}) is None
    assert s({"image": "nginx"}) is None
    write_files(tmp_path, {
        "mongodb/Dockerfile": "FROM mongo:3\nADD init.sh /init.sh\nENTRYPOINT [\"/init.sh\"]\n",
        "mongodb/init.sh": "#!/bin/sh\nmongod --fork\nexec gosu mongodb mongod \"$@\"\n",
        "setup/Dockerfile": "ARG V\nFROM docker.elastic.co/elasticsearch/elasticsearch:${V:-9}\nENTRYPOINT [\"/entrypoint.sh\"]\n",
        "setup/entrypoint.sh": "#!/usr/bin/env bash\nwait_for_elasticsearch\ncurl http://elasticsearch:9200\n",
        "db/Dockerfile": "FROM postgres:12-alpine\nCOPY create_user.sh /docker-entrypoint-initdb.d/\n",
        "app/Dockerfile": "FROM python:3.12\n",
    })
    build = lambda d: {"build": {"context": str(tmp_path / d), "dockerfile": "Dockerfile"}, "image": f"proj_{d}"}
    assert s(build("mongodb")) == "mongo"  # its entrypoint script starts mongod
    assert s(build("setup")) is None  # a setup job on the elasticsearch image
    assert s(build("db")) == "postgres"
    assert s(build("app")) is None  # the base decides, not the image tag
    assert s({"image": "bankruptcy_production_postgres", "build": {"context": str(tmp_path / "missing")}}) == "postgres"


def test_dev_tool_of_service(tmp_path):
    d = soak_lib.dev_tool_of_service
    write_files(tmp_path, {"maildev.Dockerfile": "FROM node:24-alpine\nRUN npm i -g maildev@2.0.5\nCMD maildev\n",
                           "Dockerfile": "FROM node:24-alpine\nRUN npm ci\n"})
    assert d({"image": "adminer"}) == "adminer"
    assert d({"image": "dpage/pgadmin4:8"}) == "pgadmin4"
    assert d({"image": "axllent/mailpit"}) == "mailpit"
    assert d({"build": {"context": str(tmp_path), "dockerfile": "maildev.Dockerfile"}}) == "maildev"
    assert d({"build": {"context": str(tmp_path), "dockerfile": "Dockerfile"}}) is None
    # the project's own product: it builds the image it names
    assert d({"image": "ghcr.io/joeferner/redis-commander:latest", "build": {"context": str(tmp_path)}}) is None
    assert d({"image": "calcom/cal.com", "command": ["npx", "prisma", "studio"]}) == "prisma studio"
    assert d({"image": "postgres"}) is None


def test_exposure_of_a_store(tmp_path):
    write_files(tmp_path, {"api/.env.example": "DATABASE_HOST=db\n", "api/Dockerfile": "FROM node:22\n",
                           "api/docker-compose.yml": "services: {db: {image: postgres}}\n"})
    web = {"image": "myapp", "ports": [{"target": 8000, "published": "8000"}], "environment": {"DB_URL": "postgres://u:p@db:5432/x"}}
    proxy = {"image": "nginx", "ports": [{"target": 80, "published": "80"}]}
    db = {"image": "postgres:16", "networks": {"default": None}}
    services = {"web": web, "proxy": proxy, "db": db}
    assert soak_lib.exposed_to(services, "db") == ["proxy (on default)"]
    assert soak_lib.needs(services, "web", "db") and not soak_lib.needs(services, "proxy", "db")
    # off the store's network, bound to loopback, or a dev tool: not exposed
    assert soak_lib.exposed_to({**services, "proxy": {**proxy, "networks": {"frontend": None}}}, "db") == []
    assert soak_lib.exposed_to({**services, "proxy": {**proxy, "ports": [{"target": 80, "published": "80", "host_ip": "127.0.0.1"}]}}, "db") == []
    assert soak_lib.exposed_to({**services, "proxy": {**proxy, "image": "adminer"}}, "db") == []
    # a port without a host port is published on a random one
    assert soak_lib.publishes({"ports": [{"target": 80}]}) and not soak_lib.publishes({"expose": ["80"]})
    # the network stack of another service, the host's
    assert soak_lib.exposed_to({"db": db, "side": {"network_mode": "service:proxy"}, "proxy": {**proxy, "network_mode": "service:side"}}, "db") == []
    assert soak_lib.exposed_to({"db": {**db, "network_mode": "host"}}, "db") == ["host network"]
    assert soak_lib.service_networks({"a": {"network_mode": "service:b"}, "b": {"networks": {"x": None, "y": {}}}}, "a") == {"x", "y"}
    # a network alias, and a client built from a context whose own files name the host
    aliased = {**db, "networks": {"default": {"aliases": ["database"]}}}
    assert soak_lib.needs({"db": aliased, "w": {"environment": {"H": "database"}}}, "w", "db")
    built = {"build": {"context": str(tmp_path / "api"), "dockerfile": "Dockerfile"}, "ports": [{"target": 3000}]}
    assert soak_lib.needs({"db": db, "api": built}, "api", "db")
    assert not soak_lib.needs({"db": {**db}, "api": built, "x": {}}, "api", "x")  # compose files name every service


def test_service_origins_follow_includes(tmp_path):
    write_files(tmp_path, {
        "compose.yaml": "include:\n  - services/db.yaml\nservices:\n  web:\n    image: nginx\n",
        "services/db.yaml": "services:\n  db:\n    image: postgres\n",
        "compose.override.yml": "services:\n  web:\n    ports: ['80:80']\n  adminer:\n    image: adminer\n",
    })
    assert soak_lib.service_origins(tmp_path, ["compose.yaml", "compose.override.yml"]) == {
        "db": "services/db.yaml", "web": "compose.yaml", "adminer": "compose.override.yml"}


def test_rebase_model():
    m = {"services": {"a": {"build": {"context": "/w/before/case/app", "dockerfile": "Dockerfile"}},
                      "b": {"build": {"context": "/w/before/case"}}, "c": {"image": "/w/before/casex"}}}
    got = soak_lib.rebase_model(m, Path("/w/before/case"), Path("/w/after/case"))
    assert got["services"]["a"]["build"]["context"] == "/w/after/case/app"
    assert got["services"]["b"]["build"]["context"] == "/w/after/case"
    assert got["services"]["c"]["image"] == "/w/before/casex"


def test_measure_dockerfiles():
    pr = soak_lib.Practice()
    before = {
        "Dockerfile": "FROM python:3.12-slim\nWORKDIR /app\nCOPY . .\nRUN pip install -r requirements.txt\nCMD [\"python\", \"app.py\"]\n",
        "web/Dockerfile": "FROM node:22 AS dev\nRUN npm ci\nFROM node:22-slim\nUSER node\n",
        "db/Dockerfile": "FROM postgres:16\n",
        "fpm/Dockerfile": "FROM php:8.3-fpm\n",
        "tool/Dockerfile": "FROM python:3.12\nRUN pip install --upgrade pip\n",
    }
    after = dict(before)
    after["Dockerfile"] = ("FROM python:3.12-slim AS builder\nRUN pip install -r requirements.txt\n"
                           "FROM python:3.12-slim\nCOPY --from=builder /app /app\nUSER app\nCMD [\"python\", \"app.py\"]\n")
    soak_lib.measure_dockerfiles(pr, before, after, {"web/Dockerfile": {"dev"}})
    nr = pr.units["non-root"]
    assert set(nr) == {("Dockerfile", "stage 0"), ("web/Dockerfile", "stage dev"), ("web/Dockerfile", "stage 1"),
                       ("tool/Dockerfile", "stage 0")}
    assert (nr[("Dockerfile", "stage 0")].before, nr[("Dockerfile", "stage 0")].after) == (False, True)
    assert nr[("web/Dockerfile", "stage 1")].already
    assert not nr[("web/Dockerfile", "stage dev")].done and nr[("web/Dockerfile", "stage dev")].detail == "no USER"
    assert not nr[("tool/Dockerfile", "stage 0")].done
    assert list(pr.units["split-python"]) == [("Dockerfile",)] and pr.units["split-python"][("Dockerfile",)].done
    assert pr.units["split-node"] == {}  # web/Dockerfile has two stages already
    assert pr.excluded["non-root"] == {"a server or store image that runs as its own user": 1,
                                       "php-fpm/Apache (the master starts as root and drops to www-data)": 1}
    assert pr.excluded["split-python"] == {"installs no dependencies": 1}


def test_test_images_are_not_split_units(tmp_path):
    """A Dockerfile whose start script runs the linters and tests, or that only test/CI compose
    files build, is not eligible for the split practices (harden leaves it, with the reason)."""
    (tmp_path / "startup.ci.sh").write_text("#!/bin/sh\nset -e\nnpm run migrate\nnpm run lint\n")
    (tmp_path / "startup.sh").write_text("#!/bin/sh\nif [ -n \"$T\" ]; then npm test; fi\nexec npm start\n")
    ci = "FROM node:22\nWORKDIR /app\nCOPY . .\nRUN npm ci\nCMD [\"/opt/startup.ci.sh\"]\n"
    app = "FROM node:22\nWORKDIR /app\nCOPY . .\nRUN npm ci\nCMD [\"/opt/startup.sh\"]\n"
    assert soak_lib.image_is_for_tests(ci, tmp_path, set()) == soak_lib.TEST_IMAGE_WHY
    assert soak_lib.image_is_for_tests(app, tmp_path, set()) is None  # the test only runs on a condition
    assert soak_lib.image_is_for_tests(app, tmp_path, {"docker-compose.test.yml", "ci/compose.yaml"})
    assert soak_lib.image_is_for_tests(app, tmp_path, {"docker-compose.test.yml", "docker-compose.yml"}) is None
    assert soak_lib.image_is_for_tests('FROM python:3.12\nCMD ["pytest", "-q"]\n', tmp_path, set())
    pr = soak_lib.Practice()
    soak_lib.measure_dockerfiles(pr, {"ci.Dockerfile": ci, "Dockerfile": app}, {"ci.Dockerfile": ci, "Dockerfile": app},
                                 {}, {"ci.Dockerfile": soak_lib.TEST_IMAGE_WHY})
    assert list(pr.units["split-node"]) == [("Dockerfile",)]
    assert pr.excluded["split-node"] == {soak_lib.TEST_IMAGE_WHY: 1}


def test_an_entrypoint_that_switches_user_is_not_a_non_root_unit(tmp_path):
    """An image whose entrypoint script starts as root and runs the app as its own user (gosu,
    su-exec, `su app -c`) is not counted by the non-root practice, as php-fpm is not; a script
    that only mentions such a command in a comment, or does not switch, still counts."""
    (tmp_path / "docker").mkdir()
    (tmp_path / "docker" / "entry.sh").write_text("#!/bin/sh\nchown -R app /data\nexec gosu app \"$@\"\n")
    (tmp_path / "plain.sh").write_text("#!/bin/sh\n# no gosu here: we used `su app -c` once\nexec \"$@\"\n")
    (tmp_path / "su.sh").write_text("#!/bin/bash\nsu zulip -c '/app/manage.py migrate'\nexec supervisord -n\n")
    drops = "FROM ubuntu:24.04\nCOPY docker/entry.sh /usr/local/bin/start\nENTRYPOINT [\"/usr/local/bin/start\"]\nCMD [\"app\"]\n"
    plain = "FROM ubuntu:24.04\nCOPY plain.sh /plain.sh\nENTRYPOINT [\"/plain.sh\"]\n"
    su = "FROM ubuntu:24.04\nCOPY su.sh /sbin/su.sh\nENTRYPOINT /sbin/su.sh\n"
    assert soak_lib.entrypoint_drops_user(drops, tmp_path) == soak_lib.DROPS_USER_WHY  # by the COPY's source
    assert soak_lib.entrypoint_drops_user(plain, tmp_path) is None
    assert soak_lib.entrypoint_drops_user(su, tmp_path) == soak_lib.DROPS_USER_WHY
    assert soak_lib.entrypoint_drops_user("FROM ubuntu:24.04\nCMD [\"/sbin/su.sh\"]\n", tmp_path) is None
    pr = soak_lib.Practice()
    texts = {"Dockerfile": su, "plain/Dockerfile": plain}
    soak_lib.measure_dockerfiles(pr, texts, texts, {}, {}, {"Dockerfile": soak_lib.DROPS_USER_WHY})
    assert list(pr.units["non-root"]) == [("plain/Dockerfile", "stage 0")]
    assert pr.excluded["non-root"] == {soak_lib.DROPS_USER_WHY: 1}


def _practice_case(tmp_path):
    write_files(tmp_path, {
        "compose.yaml": "services:\n  web:\n    image: app\n  db:\n    image: postgres\n  adminer:\n    image: adminer\n",
        "compose.prod.yml": "services:\n  proxy:\n    image: nginx\n",
    })
    web_before = {"image": "app", "ports": [{"target": 80, "published": "80"}], "environment": {"DB_HOST": "db"},
                  "depends_on": {"db": {"condition": "service_started"}}}
    db_before = {"image": "postgres"}
    before = {"services": {"web": web_before, "db": db_before, "adminer": {"image": "adminer", "ports": [{"target": 8080}]}}}
    after = {"services": {"web": {**web_before, "depends_on": {"db": {"condition": "service_healthy"}}},
                          "db": {**db_before, "healthcheck": {"test": ["CMD", "pg_isready"]}, "networks": {"backend": None}},
                          "adminer": {"image": "adminer", "profiles": ["dev"]}}}
    prod_before = {"services": {**before["services"], "proxy": {"image": "nginx", "ports": [{"target": 443, "published": "443"}]}}}
    prod_after = {"services": {**after["services"], "proxy": {"image": "nginx", "ports": [{"target": 443, "published": "443"}]},
                               "db": {**db_before, "networks": {"default": None}}}}  # the overlay undoes nothing here:
    prod_after["services"]["db"]["healthcheck"] = {"test": ["CMD", "pg_isready"]}
    pr = soak_lib.Practice()
    base, prod = Combo(("compose.yaml",), "alone"), Combo(("compose.yaml", "compose.prod.yml"), "default file + sibling")
    for c, b, a in ((base, before, after), (prod, prod_before, prod_after)):
        soak_lib.measure_models(pr, tmp_path, c, "before", b)
        soak_lib.measure_models(pr, tmp_path, c, "after", a)
    return pr


def test_measure_models(tmp_path):
    pr = _practice_case(tmp_path)
    hc = pr.units["store-healthcheck"]
    assert list(hc) == [("compose.yaml", "db")] and (hc[("compose.yaml", "db")].before, hc[("compose.yaml", "db")].done) == (False, True)
    edge = pr.units["healthy-edge"][("compose.yaml", "web -> db")]
    assert edge.done and not edge.already
    assert pr.units["dev-profile"][("compose.yaml", "adminer")].done
    iso = pr.units["store-isolated"][("compose.yaml", "db")]
    # alone: off web's network after; with the prod file: on default with proxy, which does not use it
    assert not iso.done and iso.not_done_in == ["compose.yaml + compose.prod.yml"]
    assert iso.detail == "shares a network with proxy (on default)"
    assert iso.before is False  # adminer (a dev tool) and web (uses db) never count; proxy does


@pytest.mark.parametrize("rel, yes", [
    ("docker-compose.test.yml", True), ("compose-e2e-test.yml", True), ("docker-compose.relational.ci.yaml", True),
    ("tests/compose.yaml", True), ("ci/base.yaml", True), ("docker-compose.yml", False),
    ("docker-compose.document.yaml", False), ("contest/docker-compose.yml", False), ("docker-compose.citus.yml", False),
])
def test_test_stack(rel, yes):
    assert soak_lib.is_test_stack(rel) is yes


def test_dev_tools_of_a_test_stack_are_not_eligible(tmp_path):
    """A test or CI stack runs its tests against every service in it (the tests read the mail
    catcher): its dev tools are fixtures, and moving them into a profile would break the tests.
    They are counted once as not eligible, however many combinations and states see them."""
    pr = soak_lib.Practice()
    model = {"services": {"api": {"image": "app", "environment": {"MAIL_HOST": "maildev"}},
                          "maildev": {"image": "maildev/maildev"}}}
    test = Combo(("docker-compose.test.yaml",), "alone")
    dev = Combo(("docker-compose.yaml",), "alone")
    for c in (test, dev):
        for state in ("before", "after"):
            soak_lib.measure_models(pr, tmp_path, c, state, model)
    assert set(pr.units["dev-profile"]) == {("docker-compose.yaml", "maildev")}
    assert pr.excluded["dev-profile"] == {soak_lib.TEST_STACK_WHY: 1}


def test_explain_misses_and_the_table(tmp_path):
    pr = _practice_case(tmp_path)
    pr.unit("non-root", ("Dockerfile", "stage 0"), file="Dockerfile", part="stage 0", outcome_part="stage 0",
            what="python:3.12").see("after", False)
    pr.unit("split-node", ("a/Dockerfile",), file="a/Dockerfile", part=None, outcome_part=None, what="node:22").see("after", False)
    lost = pr.unit("dev-profile", ("compose.yaml", "mailhog"), file="compose.yaml", part="mailhog", outcome_part="mailhog", what="mailhog")
    lost.see("before", True)
    lost.see("after", False)
    report = {"outcomes": [
        {"transform": "networks", "file": "compose.yaml", "status": "skipped", "part": "networks",
         "reason": "db would still share the network default with the public service proxy; harden adds networks but never removes one"},
        {"transform": "networks", "file": "compose.yaml", "status": "skipped", "part": "networks", "reason": "unrelated to that store"},
        {"transform": "non-root-user", "file": "Dockerfile", "status": "skipped", "part": "stage 0",
         "reason": "cannot tell how to add a user on base image python:3.12"},
        {"transform": "non-root-user", "file": "other/Dockerfile", "status": "skipped", "part": "stage 0", "reason": "not this one"},
    ]}
    soak_lib.explain_misses(pr, report)
    assert pr.units["store-isolated"][("compose.yaml", "db")].reason == \
        "<name> would still share the network <name> with the public service <name>; harden adds networks but never removes one"
    assert pr.units["non-root"][("Dockerfile", "stage 0")].reason == "cannot tell how to add a user on base image <image>"
    assert pr.units["split-node"][("a/Dockerfile",)].reason == "no reason given (harden reports nothing on this file)"
    assert lost.reason == "done before harden, not after"
    total = soak_lib.Practice()
    total.merge(pr, "case1")
    text = soak_lib.practice_table(total)
    rows = {ln.split("  ")[0]: ln.split() for ln in text.splitlines()}
    assert rows["database/broker/cache services with a healthcheck"][-7:] == ["1", "1", "100%", "0", "1", ">=95%", "PASS"]
    assert rows["stores sharing no network with a published service"][-7:] == ["0", "1", "0%", "0", "0", ">=95%", "below"]
    assert rows["dev tools in a profile"][-7:] == ["1", "2", "50%", "0", "1", ">=100%", "below"]
    assert rows["single-stage Python Dockerfiles split"][-7:] == ["0", "0", "-", "0", "0", ">=90%", "-"]
    assert "case1: compose.yaml [db] (postgres): shares a network with proxy (on default)" in text
    assert "done before harden, not after" in text and "case1: compose.yaml [mailhog]" in text


def test_soak_case_measures_the_practices(tmp_path):
    """Through soak_case, with harden and Compose for real: which units are eligible, and what
    was done before, do not depend on what harden does; a file harden leaves alone is measured
    from its one model."""
    tools = soak_lib.find_tools()
    need(tools.docker, "Compose v2")
    src = write_files(tmp_path / "src", {
        "case/compose.yaml": ("services:\n  web:\n    build: .\n    ports: ['8000:8000']\n    environment:\n"
                              "      DB_HOST: db\n    depends_on: [db]\n  db:\n    image: postgres:16\n"
                              "  adminer:\n    image: adminer\n    ports: ['8080:8080']\n"),
        "case/Dockerfile": "FROM python:3.12-slim\nWORKDIR /app\nCOPY requirements.txt .\nRUN pip install -r requirements.txt\n"
                           "COPY . .\nCMD [\"python\", \"app.py\"]\n",
        "case/requirements.txt": "flask\n",
        "case/app.py": "print('hi')\n",
        "case/cache/compose.yaml": ("services:\n  cache:\n    image: redis:7\n    healthcheck:\n"
                                    "      test: [CMD, redis-cli, ping]\n"),
    }) / "case"
    with ThreadPoolExecutor(2) as pool:
        r = soak_lib.soak_case("case", src, tmp_path / "work", tools, pool)
    assert r.failures == [], r.render()
    u = r.practice.units
    assert set(u["non-root"]) == {("Dockerfile", "stage 0")} and u["non-root"][("Dockerfile", "stage 0")].before is False
    assert set(u["split-python"]) == {("Dockerfile",)}
    assert set(u["store-healthcheck"]) == {("compose.yaml", "db"), ("cache/compose.yaml", "cache")}
    assert u["store-healthcheck"][("cache/compose.yaml", "cache")].already
    assert u["store-healthcheck"][("compose.yaml", "db")].before is False
    assert set(u["healthy-edge"]) >= {("compose.yaml", "web -> db")}
    assert u["healthy-edge"][("compose.yaml", "web -> db")].before is False
    assert set(u["dev-profile"]) == {("compose.yaml", "adminer")}
    assert u["store-isolated"][("compose.yaml", "db")].before is True  # web uses it; adminer is a dev tool
    for units in u.values():
        for unit in units.values():
            assert unit.done or unit.reason, unit  # every miss is explained, if only by "no reason given"


def test_services_without_image(tmp_path):
    write_files(tmp_path, {
        "compose.yaml": "x-base: &base\n  image: app\nservices:\n  web:\n    <<: *base\n  db:\n    image: postgres\n",
        "compose.override.yml": "services:\n  web:\n    ports: ['80:80']\n  worker:\n    command: celery\n",
        "child.yml": "services:\n  job:\n    extends: {file: compose.yaml, service: web}\n",
        "broken.yml": "services: [\n",
    })
    assert soak_lib.services_without_image(tmp_path, ["compose.yaml"]) == []
    assert soak_lib.services_without_image(tmp_path, ["compose.override.yml"]) == ["web", "worker"]
    assert soak_lib.services_without_image(tmp_path, ["compose.yaml", "compose.override.yml"]) == ["worker"]
    assert soak_lib.services_without_image(tmp_path, ["child.yml"]) == []
    assert soak_lib.services_without_image(tmp_path, ["compose.override.yml", "broken.yml"]) == []


def test_practice_combination():
    alone_ok = {"compose.yaml", "docker-compose.postgres.yml", "dev/docker-compose.yml", "ci/base.yaml", "x.yml"}
    ok = lambda c, documented=(): soak_lib.practice_combination(c, set(documented), alone_ok.__contains__)
    assert ok(Combo(("overrides/compose.redis.yaml",), "alone"))  # alone: measured when compose accepts it
    assert ok(Combo(("compose.yaml", "compose.override.yml"), "default `docker compose up`"))
    assert ok(Combo(("compose.yaml", "overrides/compose.redis.yaml"), "nearest ancestor's default file + file"))  # an overlay
    assert not ok(Combo(("compose.yaml", "docker-compose.postgres.yml"), "default file + sibling"))  # a project of its own
    assert not ok(Combo(("compose.yaml", "dev/docker-compose.yml"), "nearest ancestor's default file + file"))
    assert ok(Combo(("compose.yaml", "dev/docker-compose.yml"), "x"), [("compose.yaml", "dev/docker-compose.yml")])
    assert ok(Combo(("zulip.yaml", "ci/base.yaml"), "nearest ancestor's default file + file"))  # the base needs it
    assert not ok(Combo(("compose.yaml", "dev/docker-compose.yml", "x.yml"), "documented in a.md"))


def test_an_image_the_project_builds_is_known_by_its_dockerfile(tmp_path):
    write_files(tmp_path, {"db/Dockerfile": "FROM postgres:12-alpine\nHEALTHCHECK CMD pg_isready\n",
                           "app/Dockerfile": "FROM node:22\n"})
    dev = {"services": {"db": {"image": "proj_db:v2", "build": {"context": str(tmp_path / "db")}},
                        "app": {"image": "proj_app", "build": {"context": str(tmp_path / "app")}}}}
    built = soak_lib.built_images([dev])
    assert set(built) == {"proj_db:v2", "proj_db", "*/proj_db", "proj_app", "*/proj_app"}
    assert soak_lib.with_builds({"x": {"image": "ghcr.io/team/proj_db:v3"}}, built)["x"]["build"] == dev["services"]["db"]["build"]
    services = soak_lib.with_builds({"db": {"image": "proj_db:v2"}, "studio": {"image": "proj_app", "command": ["npx", "prisma", "studio"]},
                                     "other": {"image": "postgres"}}, built)
    assert soak_lib.store_of_service(services["db"]) == "postgres" and soak_lib._has_healthcheck(services["db"])
    assert soak_lib.dev_tool_of_service(services["studio"]) == "prisma studio"  # runs the product's image, is a tool
    assert "build" not in services["other"]
    pr = soak_lib.Practice()
    write_files(tmp_path, {"compose.yaml": "services:\n  db:\n    image: proj_db:v2\n"})
    soak_lib.measure_models(pr, tmp_path, Combo(("compose.yaml",), "alone"), "after", {"services": {"db": {"image": "proj_db:v2"}}}, built)
    assert pr.units["store-healthcheck"][("compose.yaml", "db")].done


def test_an_edge_gets_the_refusal_that_names_its_store(tmp_path):
    """depends-healthy says why per edge on the dependent service: web -> cache and web -> mq
    both have part `web`; each unit takes the refusal that names its own store."""
    pr = _practice_case(tmp_path)
    for store in ("cache", "mq"):
        pr.unit("healthy-edge", ("compose.yaml", f"web -> {store}"), file="compose.yaml", part=f"web -> {store}",
                outcome_part="web", what=store).see("after", False)
    report = {"outcomes": [
        {"transform": "depends-healthy", "file": "compose.yaml", "status": "skipped", "part": "web",
         "reason": "depends_on cache stays service_started: cache has no healthcheck to wait for (no client)"},
        {"transform": "depends-healthy", "file": "compose.yaml", "status": "skipped", "part": "web",
         "reason": "depends_on mq stays service_started: mq has no healthcheck to wait for (a login)"},
    ]}
    soak_lib.explain_misses(pr, report)
    assert pr.units["healthy-edge"][("compose.yaml", "web -> cache")].reason.endswith("(no client)")
    assert pr.units["healthy-edge"][("compose.yaml", "web -> mq")].reason.endswith("(a login)")
