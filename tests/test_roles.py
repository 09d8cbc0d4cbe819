"""roles.classify: role, whom a service talks to, egress, with evidence."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harden_testlib import copy_fixture
from harden.engine import Run
from harden.roles import classify, classify_all, hosts_in, original_reach


def _project(path: Path):
    r = Run(path)
    r.load()
    return r.projects[0]


def _from_text(tmp_path: Path, text: str, **extra: str):
    (tmp_path / "compose.yaml").write_text(text)
    for rel, body in extra.items():
        p = tmp_path / rel.replace("__", "/")
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(body)
    return _project(tmp_path)


@dataclass
class FakeCtx:
    options: dict = field(default_factory=dict)
    fact: object = None

    def service_option(self, name, key, default=None):
        return self.options.get(name, {}).get(key, default)

    def facts(self, project, name):
        return self.fact if name == "app" else None


@pytest.mark.parametrize("value,hosts", [
    ("db", {"db"}),
    ("postgres://u:p@db:5432/x", {"db"}),
    ("redis://cache:6379/0", {"cache"}),
    ("mongodb://a:1,b:2/x?replicaSet=rs", {"a", "b"}),
    ("${DB_HOST:-mysql}", {"mysql"}),
    ("${DB_HOST}", set()),
    ("kafka1:9092,kafka2:9092", {"kafka1", "kafka2"}),
    ("jdbc:postgresql://postgres:5432/api", {"postgres"}),
])
def test_hosts_in(value, hosts):
    assert hosts <= hosts_in(value)
    if not hosts:
        assert hosts_in(value) == set()


def test_seed_roles(tmp_path):
    roles = classify_all(_project(copy_fixture("net-seed", tmp_path)))
    assert roles["mysql"].role == "database" and roles["mysql"].store and roles["mysql"].egress is False
    assert roles["web"].role == "web" and roles["web"].publishes and roles["web"].talks_to == {"mysql"}
    assert roles["bot"].role == "worker" and roles["bot"].egress is True
    assert any("TELEGRAM_BOT_TOKEN" in e for e in roles["bot"].evidence)
    assert roles["adminer"].role == "devtool" and roles["adminer"].talks_to == {"mysql"}
    assert roles["adminer"].public


def test_proxy_upstreams_from_mounted_config(tmp_path):
    roles = classify_all(_project(copy_fixture("net-reverse-proxy", tmp_path)))
    assert roles["proxy"].role == "proxy" and roles["proxy"].talks_to == {"app"}
    assert any("default.conf" in e for e in roles["proxy"].evidence)
    assert roles["app"].talks_to == {"db", "redis"}
    assert roles["redis"].role == "cache" and roles["redis"].store


def test_traefik_labels_mean_ingress_and_traefik_talks_to_them(tmp_path):
    p = _from_text(tmp_path, "services:\n  traefik:\n    image: traefik:v3\n    ports: ['80:80']\n"
                             "  app:\n    image: x/app\n    labels:\n      traefik.enable: 'true'\n")
    roles = classify_all(p)
    assert roles["app"].ingress and roles["app"].public
    assert roles["traefik"].talks_to == {"app"}


def test_overrides_and_facts(tmp_path):
    p = _from_text(tmp_path, "services:\n  app:\n    build: .\n  sidecar:\n    image: x/unknown\n"
                             "  pg:\n    image: postgres:16\n", Dockerfile="FROM python:3.12-slim\n")

    @dataclass
    class Facts:
        serves_http: bool = True
        clients: tuple = ("postgres",)
        env_hosts: tuple = ()
        egress: bool | None = False
        evidence: tuple = ()
        truncated: bool = False

    @dataclass
    class Ev:
        file: str
        line: int = 1

    ctx = FakeCtx(options={"sidecar": {"role": "devtool", "egress": "true"}},
                  fact=Facts(evidence=(Ev("app/main.py"),)))
    app = classify(p, p.service("app"), ctx)
    assert app.role == "web" and app.talks_to == {"pg"} and app.egress is False and app.talks_known
    side = classify(p, p.service("sidecar"), ctx)
    assert side.role == "devtool" and side.egress is True

    # facts that rest on no source file (only the command line) prove no absence
    thin = classify(p, p.service("app"), FakeCtx(fact=Facts(evidence=(Ev("<command>"),))))
    assert thin.egress is None and not thin.talks_known and thin.talks_to == {"pg"}
    partial = classify(p, p.service("app"), FakeCtx(fact=Facts(evidence=(Ev("a.py"),), truncated=True)))
    assert partial.egress is None and not partial.talks_known


def test_unknown_egress_is_none_and_a_command_host_counts(tmp_path):
    p = _from_text(tmp_path, "services:\n  jobs:\n    image: x/jobs\n    command: wait-for db:5432 -- run\n"
                             "  db:\n    image: postgres\n")
    r = classify(p, p.service("jobs"))
    assert r.egress is None and r.talks_to == {"db"} and not r.talks_known


def test_search_and_object_stores_count_as_stores(tmp_path):
    p = _from_text(tmp_path, "services:\n  es:\n    image: docker.elastic.co/elasticsearch/elasticsearch:8.13.0\n"
                             "  s3:\n    image: minio/minio\n  q:\n    image: rabbitmq:3-management\n")
    roles = classify_all(p)
    assert roles["es"].role == "database" and roles["s3"].role == "database" and roles["q"].role == "queue"
    assert all(r.store for r in roles.values())


def test_a_store_built_from_its_official_image_is_a_store(tmp_path):
    """rabbitmq built from `FROM rabbitmq:3.13-management` (no `image:`): the Dockerfile's base
    says what it is, as db-healthcheck reads it; the app source in the same context (a Node
    app using amqplib) must not make it a web service (found on a real project: its ports
    stayed public and it got no network plan)."""
    path = copy_fixture("net-built-broker", tmp_path)
    run = Run(path)
    run.load()
    roles = classify_all(run.projects[0])
    assert roles["rabbitmq"].role == "queue" and roles["rabbitmq"].store
    assert roles["app"].role == "web"
    assert roles["user-worker"].role == "worker"


def test_a_service_that_reaches_the_docker_host_or_a_lan_address_calls_out(tmp_path):
    """host.docker.internal (extra_hosts: host-gateway) and a literal LAN address are outside
    the compose networks: on an internal network only, they are unreachable, so they count
    as egress even when the source shows no internet client."""
    path = copy_fixture("net-host-gateway", tmp_path)
    run = Run(path)
    run.load()
    roles = classify_all(run.projects[0])
    assert roles["syncer"].egress is True
    assert any("host.docker.internal" in e and "extra_hosts" in e for e in roles["syncer"].evidence)
    assert roles["reporter"].egress is True
    assert any("192.168.10.20" in e for e in roles["reporter"].evidence)
    # the same read from an env file: the host it names counts, and so does the database
    assert roles["archiver"].egress is True
    assert any("archive-db.example.com" in e and "archiver.env" in e for e in roles["archiver"].evidence)
    assert "db" in roles["archiver"].talks_to
    # control: the same services naming only the stack's own database do not call out
    compose = path / "docker-compose.yml"
    text = compose.read_text().replace("host.docker.internal", "db").replace("192.168.10.20", "db")
    env = path / "archiver.env"
    env.write_text(env.read_text().replace("archive-db.example.com", "db"))
    compose.write_text(text.replace('    extra_hosts:\n      - "db:host-gateway"\n', ""))
    run = Run(path)
    run.load()
    roles = classify_all(run.projects[0])
    assert roles["syncer"].egress is not True and roles["reporter"].egress is not True
    assert roles["archiver"].egress is not True


def test_store_image_with_a_variable_tag_is_read_through_its_default(tmp_path):
    # Keycloak's and many self-hosted samples: `postgres:${POSTGRES_VERSION:-15}`; the ':' inside
    # the variable made the name unreadable and the database a "web" service with public ports
    project = _from_text(tmp_path, (
        "services:\n"
        "  db:\n"
        "    image: postgres:${POSTGRES_VERSION:-15}\n"
        "    ports: [\"${PG_PORT:-5432}:5432\"]\n"
        "  cache:\n"
        "    image: ${REDIS_IMAGE:-redis:7-alpine}\n"
        "  tool:\n"
        "    image: adminer:${ADMINER_TAG}\n"
        "  app:\n"
        "    image: quay.io/keycloak/keycloak:${KC_VERSION}\n"
        "    ports: [\"8080:8080\"]\n"
        "    depends_on: [db]\n"
    ))
    roles = classify_all(project)
    assert (roles["db"].role, roles["db"].kind) == ("database", "postgres")
    assert roles["cache"].kind == "redis" and roles["cache"].store
    assert roles["tool"].role == "devtool"
    assert roles["app"].role == "web"


def test_store_image_from_the_projects_dotenv(tmp_path):
    # Mattermost's docker deployment: `image: postgres:${POSTGRES_IMAGE_TAG}` with the tag in .env;
    # compose interpolates .env, and so does harden for an image's kind (a value wins over a default)
    (tmp_path / ".env").write_text("DB_IMAGE=mariadb:11\nPG_TAG=13-alpine\n")
    project = _from_text(tmp_path, (
        "services:\n"
        "  db:\n"
        "    image: ${DB_IMAGE}\n"
        "  pg:\n"
        "    image: postgres:${PG_TAG:-16}\n"
        "  other:\n"
        "    image: ${OTHER_IMAGE}\n"
    ))
    roles = classify_all(project)
    assert roles["db"].kind == "mariadb" and roles["db"].role == "database"
    assert roles["pg"].kind == "postgres"
    assert roles["other"].kind is None


def test_interpolate_image():
    from harden.model import interpolate_image

    env = {"TAG": "13", "EMPTY": "", "IMG": "redis"}
    assert interpolate_image("postgres:${TAG:-16}", env) == "postgres:13"
    assert interpolate_image("postgres:${EMPTY:-16}", env) == "postgres:${EMPTY:-16}"  # :- takes the default
    assert interpolate_image("$IMG:7", env) == "redis:7"
    assert interpolate_image("${NOPE}:1", env) == "${NOPE}:1"


@pytest.mark.parametrize("words, kind", [
    (["maildev"], "maildev"), (["/usr/local/bin/MailHog"], "mailhog"), (["npx", "prisma", "studio"], "prisma-studio"),
    (["npx", "--yes", "prisma", "studio", "--port", "5555"], "prisma-studio"), (["yarn", "prisma", "studio"], "prisma-studio"),
    (["pnpm", "dlx", "prisma", "studio"], "prisma-studio"), (["sh", "-c", "npx prisma studio && echo"], "prisma-studio"),
    (["nginx-entrypoint.sh"], "nginx"), (["nginx", "-g", "daemon off;"], "nginx"), (["tini", "--", "caddy", "run"], "caddy"),
    (["npm", "run", "studio"], None), (["node", "server.js"], None), (["prisma", "migrate", "deploy"], None),
    (["python", "-m", "smtpd"], None), (["bench", "worker"], None), ([], None),
])
def test_program_kind(words, kind):
    from harden.catalog import program_kind

    assert program_kind(words) == kind


def test_a_tool_is_known_by_the_program_it_starts(tmp_path):
    p = _from_text(tmp_path, (
        "services:\n  mail:\n    build:\n      context: .\n      dockerfile: mail.Dockerfile\n"
        "  studio:\n    image: acme/app\n    command: [npx, prisma, studio]\n    environment:\n      DATABASE_URL: postgres://u@db/x\n"
        "  front:\n    image: acme/app\n    command: [nginx-entrypoint.sh]\n    environment:\n      BACKEND: app:8000\n"
        "  app:\n    image: acme/app\n  db:\n    image: postgres:16\n"),
        **{"mail.Dockerfile": "FROM node:22-alpine AS base\nRUN npm i -g maildev\nCMD maildev\nFROM base\nENV X=1\n"})
    roles = classify_all(p)
    assert (roles["mail"].role, roles["mail"].kind) == ("devtool", "maildev")
    assert "its Dockerfile's ENTRYPOINT/CMD runs `maildev`" in roles["mail"].evidence[0]
    assert (roles["studio"].role, roles["studio"].kind, roles["studio"].talks_to) == ("devtool", "prisma-studio", {"db"})
    assert roles["front"].role == "proxy" and roles["front"].talks_to == {"app"} and roles["front"].talks_known
    assert roles["app"].role == "worker"


def test_talks_to_from_the_configuration_completes_what_harden_sees(tmp_path):
    p = _from_text(tmp_path, "services:\n  ui:\n    image: acme/ui\n    depends_on: [api]\n  api:\n    image: acme/api\n"
                             "  db:\n    image: postgres\n")
    assert not classify(p, p.service("ui")).talks_known
    r = classify(p, p.service("ui"), FakeCtx(options={"ui": {"talks_to": []}}))
    assert r.talks_known and r.talks_to == {"api"}  # what harden sees stays
    r = classify(p, p.service("ui"), FakeCtx(options={"ui": {"talks_to": ["db"]}}))
    assert r.talks_to == {"api", "db"}
def test_an_env_file_is_read_once_per_version_and_callers_get_their_own_copy(tmp_path, monkeypatch):
    import os

    from harden import model

    env = tmp_path / "app.env"
    env.write_text("DB_HOST=db\n# c\nexport CACHE_URL='redis://cache'\n")
    parsed = []
    real = model._parse_env_file
    monkeypatch.setattr(model, "_parse_env_file", lambda p: parsed.append(p) or real(p))
    first = model._read_env_file(env)
    assert first == {"DB_HOST": "db", "CACHE_URL": "redis://cache"}
    first["DB_HOST"] = "changed"
    assert model._read_env_file(env) == {"DB_HOST": "db", "CACHE_URL": "redis://cache"}
    assert len(parsed) == 1
    env.write_text("DB_HOST=postgres\n")
    st = env.stat()
    os.utime(env, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert model._read_env_file(env) == {"DB_HOST": "postgres"}
    assert len(parsed) == 2
    assert model._read_env_file(tmp_path / "missing.env") == {}
    assert model._read_env_file(tmp_path) == {}  # a folder


# ------------------------------------------------- whom a service can reach as the files are


def test_original_reach_follows_networks_namespaces_links_and_names(tmp_path):
    project = _from_text(tmp_path, (
        "services:\n"
        "  ui:\n    image: acme/ui\n"                                  # default only
        "  api:\n    image: acme/api\n    networks: [tier, default]\n"
        "  sidecar:\n    image: acme/sidecar\n    network_mode: service:api\n"
        "  db:\n    image: postgres:16\n    networks: [tier]\n"
        "  legacy:\n    image: acme/legacy\n    networks: [old]\n    links: [db]\n"
        "  search:\n    image: elasticsearch:8.13.0\n    networks: [named-b]\n"
        "  indexer:\n    image: acme/indexer\n    networks: [named-a]\n"
        "  agent:\n    image: acme/agent\n    network_mode: host\n"
        "networks:\n  tier:\n  old:\n  named-a:\n    name: search_net\n  named-b:\n    name: search_net\n"))
    reach = original_reach(project)
    assert reach["ui"] == {"api", "sidecar", "agent"}
    assert reach["sidecar"] == reach["api"] - {"sidecar"} | {"api"}
    assert "db" in reach["api"] and "db" in reach["sidecar"] and "db" not in reach["ui"]
    assert reach["legacy"] == {"db", "agent"} and "legacy" in reach["db"]
    # two keys naming one network are one network
    assert "search" in reach["indexer"] and "indexer" in reach["search"]
    # the host's network is not compose's: harden cannot bound it
    assert reach["agent"] is None


def test_original_reach_cannot_bound_a_network_name_with_a_variable(tmp_path):
    project = _from_text(tmp_path, (
        "services:\n  ui:\n    image: acme/ui\n    networks: [edge]\n"
        "  db:\n    image: postgres:16\n    networks: [tier]\n"
        "networks:\n  edge:\n    name: ${EDGE_NET:-edge}\n  tier:\n"))
    assert original_reach(project) == {"ui": None, "db": None}


def test_original_reach_is_measured_before_any_network_moves(tmp_path):
    """The first question measures every project of the run as read; later answers are that
    measure, not the files as a transform has edited them since."""
    r = Run(tmp_path)
    (tmp_path / "compose.yaml").write_text(
        "services:\n  ui:\n    image: acme/ui\n  db:\n    image: postgres:16\n    networks: [tier]\n"
        "networks:\n  tier:\n")
    r.load()
    project = r.projects[0]
    assert original_reach(project)["ui"] == set()
    doc = project.base
    doc.add_key(doc.data["services"]["ui"], "networks", ["tier"])
    project.invalidate()
    assert original_reach(project)["ui"] == set()
