"""stacks.jvm's Spring reader and what harden.roles makes of it: whom a Spring service talks to."""

from __future__ import annotations

from pathlib import Path

import pytest

from harden_testlib import write_files as _write
from harden.engine import Run
from harden.roles import classify_all, source_context
from harden.stacks import jvm


def _projects(path: Path):
    r = Run(path)
    r.load()
    return r.projects


# ------------------------------------------------------------------------- reading files


def test_flatten_yaml_dotted_keys_lists_and_documents():
    text = ("spring:\n  data:\n    mongodb:\n      host: accounts-db\n  kafka:\n    bootstrap-servers:\n"
            "      - kafka-1:9092\n      - kafka-2:9092\n---\nspring.config.activate.on-profile: prod\n"
            "server:\n  ssl:\n    enabled: true\n")
    pairs = dict(jvm.flatten_yaml(text))
    assert pairs["spring.data.mongodb.host"] == "accounts-db"
    assert pairs["spring.kafka.bootstrap-servers[1]"] == "kafka-2:9092"
    assert pairs["server.ssl.enabled"] == "true"
    assert pairs["spring.config.activate.on-profile"] == "prod"


def test_parse_properties_separators_comments_continuations():
    text = ("# a comment\n! another\nspring.redis.host = cache\nspring.rabbitmq.addresses:mq-1:5672,\\\n"
            "    mq-2:5672\nserver.port 8080\n")
    pairs = dict(jvm.parse_properties(text))
    assert pairs == {"spring.redis.host": "cache", "spring.rabbitmq.addresses": "mq-1:5672,mq-2:5672",
                     "server.port": "8080"}


@pytest.mark.parametrize("value,env,want", [
    ("${DB_HOST:localhost}", {}, "localhost"),
    ("${DB_HOST:localhost}", {"DB_HOST": "pg"}, "pg"),
    ("jdbc:postgresql://${DB_HOST}:5432/x", {}, None),  # unknown stays unknown
    ("${spring.data.redis.host}", {"SPRING_DATA_REDIS_HOST": "cache"}, "cache"),  # relaxed binding
    ("${app.db-host:fallback}", {}, "from-config"),
    ("plain", {}, "plain"),
])
def test_resolve_placeholders(value, env, want):
    cfg = jvm.SpringConfig(props=[("app.db-host", "from-config", "application.yml")])
    assert jvm.resolve(value, env, cfg) == want


@pytest.mark.parametrize("key,value,hosts", [
    ("spring.datasource.url", "jdbc:postgresql://db:5432/app", {"db"}),
    ("spring.datasource.url", "jdbc:oracle:thin:@oracle-db:1521:XE", {"oracle-db"}),
    ("spring.data.mongodb.uri", "mongodb://u:p@mongo-1:27017,mongo-2:27017/app", {"mongo-1", "mongo-2"}),
    ("spring.redis.host", "cache", {"cache"}),
    ("spring.kafka.bootstrap-servers", "kafka:9092", {"kafka"}),
    ("eureka.client.serviceUrl.defaultZone", "http://registry:8761/eureka/", {"registry"}),
    ("spring.application.name", "billing", set()),  # not a host
    ("eureka.instance.prefer-ip-address", "true", set()),
])
def test_hosts_of(key, value, hosts):
    assert jvm.hosts_of(value, key) == hosts


def test_read_spring_reads_where_spring_boot_looks(tmp_path):
    ctx = _write(tmp_path, {
        "pom.xml": "<project/>",
        "src/main/resources/application.yml": "spring:\n  data:\n    redis:\n      host: cache\n",
        "src/main/resources/config/application-prod.properties": "spring.datasource.url=jdbc:mysql://mysql/x\n",
        "src/main/resources/bootstrap.yml": "spring:\n  application:\n    name: billing\n",
        "src/main/resources/templates/application.yml": "not: config\n",  # not a config location
        "src/test/resources/application.yml": "spring:\n  data:\n    redis:\n      host: test-cache\n",
        "config/application.yml": "feature:\n  url: http://flags:4242\n",  # ./config beside the jar
    })
    assert jvm.is_jvm_context(ctx)
    cfg = jvm.read_spring(ctx)
    assert sorted(cfg.files) == ["config/application.yml", "src/main/resources/application.yml",
                                 "src/main/resources/bootstrap.yml",
                                 "src/main/resources/config/application-prod.properties"]
    talks = jvm.spring_talks(ctx, {})
    assert set(talks.hosts) == {"cache", "mysql", "flags"}
    assert talks.app_name == "billing" and talks.complete


def test_gaps_make_it_incomplete(tmp_path):
    ctx = _write(tmp_path, {
        "build.gradle": "",
        "src/main/resources/application.properties": (
            "spring.config.additional-location=file:/etc/billing/\n"
            "spring.datasource.url=jdbc:postgresql://${DB_HOST}/x\n"),
    })
    talks = jvm.spring_talks(ctx, {})
    assert not talks.complete
    assert any("additional-location" in g for g in talks.gaps)
    assert any("spring.datasource.url" in g for g in talks.gaps)
    # the environment names the host: that gap goes away
    talks = jvm.spring_talks(ctx, {"DB_HOST": "db"})
    assert "db" in talks.hosts and all("datasource" not in g for g in talks.gaps)


def test_code_literals_main_sources_only(tmp_path):
    ctx = _write(tmp_path, {
        "pom.xml": "<project/>",
        "src/main/java/a/Client.java": ('@FeignClient(name = "ledger")\ninterface C {}\n'
                                        'class D { String u = "http://rates:9000/v1"; }\n'),
        "src/test/java/a/ClientTest.java": 'class T { String h = "fixture-db"; }\n',
    })
    talks = jvm.spring_talks(ctx, {})
    assert "ledger" in talks.literals and "rates" in talks.hosts
    assert "fixture-db" not in talks.literals


@pytest.mark.parametrize("config,why", [
    ("eureka:\n  client:\n    serviceUrl:\n      defaultZone: http://registry:8761/eureka/\n", "Eureka"),
    ("spring:\n  cloud:\n    consul:\n      host: consul\n", "Consul"),
])
def test_discovery_clients(tmp_path, config, why):
    ctx = _write(tmp_path, {"pom.xml": "", "src/main/resources/application.yml": config})
    talks = jvm.spring_talks(ctx, {})
    assert talks.discovery and why in talks.discovery
    assert talks.registry_hosts in (["registry"], ["consul"])


def test_eureka_server_is_not_a_client(tmp_path):
    ctx = _write(tmp_path, {"pom.xml": "", "src/main/resources/application.yml": (
        "eureka:\n  client:\n    register-with-eureka: false\n    fetchRegistry: false\n"
        "    serviceUrl:\n      defaultZone: http://localhost:8761/eureka/\n")})
    assert jvm.spring_talks(ctx, {}).discovery is None


# ------------------------------------------------------------------- Spring Cloud Config


def _server(root: Path, own: str, served: dict[str, str]) -> Path:
    files = {"pom.xml": "", "src/main/resources/application.yml": own}
    files.update({f"src/main/resources/{k}": v for k, v in served.items()})
    return _write(root, files)


def test_native_server_serves_app_and_shared_files(tmp_path):
    srv = _server(tmp_path / "cfg", "spring:\n  profiles:\n    active: native\n  cloud:\n    config:\n      server:\n"
                  "        native:\n          search-locations: classpath:/shared\n", {
                      "shared/application.yml": "spring:\n  rabbitmq:\n    host: mq\n",
                      "shared/billing-prod.yml": "spring:\n  data:\n    mongodb:\n      host: billing-db\n",
                      "shared/other.yml": "spring:\n  data:\n    mongodb:\n      host: other-db\n",
                  })
    served = jvm.served_by(srv, "billing", {})
    assert not served.gaps
    assert {v for _k, v, _f in served.props} == {"mq", "billing-db"}


def test_native_profile_default_locations(tmp_path):
    srv = _server(tmp_path / "cfg", "server:\n  port: 8888\n", {"billing.properties": "spring.redis.host=cache\n"})
    assert jvm.served_by(srv, "billing", {}).gaps  # not native: what it serves is not known
    served = jvm.served_by(srv, "billing", {"SPRING_PROFILES_ACTIVE": "native"})
    # the default locations (classpath:/, classpath:/config) hold the server's own application.yml
    # too, which it then serves every application, as Spring Cloud Config does
    assert not served.gaps and {v for _k, v, _f in served.props} == {"cache", "8888"}


@pytest.mark.parametrize("own", [
    "spring:\n  cloud:\n    config:\n      server:\n        git:\n          uri: https://git.example.com/cfg\n",
    "spring:\n  profiles:\n    active: native\n  cloud:\n    config:\n      server:\n        native:\n"
    "          search-locations: file:/config-repo\n",
    "spring:\n  profiles:\n    active: native\n  cloud:\n    config:\n      server:\n        native:\n"
    "          search-locations: classpath:/{application}\n",
])
def test_what_a_server_serves_unread_is_a_gap(tmp_path, own):
    srv = _server(tmp_path / "cfg", own, {})
    assert jvm.served_by(srv, "billing", {}).gaps


# ------------------------------------------------------------------------ through roles


_PREBUILT = """services:
  accounts:
    image: acme/accounts:1.4
    ports: ["8080:8080"]
  accounts-db:
    image: mongo:7
  reports:
    image: acme/reports:1.4
    ports: ["8081:8081"]
"""
_DEV = """services:
  accounts:
    build: ./accounts
  accounts-db:
    ports: ["27017:27017"]
  reports:
    build: ./reports
"""


def test_image_only_service_reads_the_overlay_build(tmp_path):
    _write(tmp_path, {
        "docker-compose.yml": _PREBUILT, "docker-compose.dev.yml": _DEV,
        "accounts/pom.xml": "", "accounts/Dockerfile": "FROM eclipse-temurin:21-jre\n",
        "accounts/src/main/resources/application.yml": "spring:\n  data:\n    mongodb:\n      host: accounts-db\n",
        "reports/pom.xml": "", "reports/Dockerfile": "FROM eclipse-temurin:21-jre\n",
        "reports/src/main/resources/application.properties": "reports.accounts-url=http://accounts:8080\n",
    })
    base = next(p for p in _projects(tmp_path) if len(p.docs) == 1)
    ctx, how = source_context(base, base.service("accounts"))
    assert ctx == (tmp_path / "accounts").resolve() and "docker-compose.dev.yml builds accounts" in how
    roles = classify_all(base)
    assert roles["accounts"].talks_to == {"accounts-db"} and roles["accounts"].talks_known
    assert roles["reports"].talks_to == {"accounts"} and roles["reports"].talks_known
    assert any("its source: docker-compose.dev.yml builds reports" in e for e in roles["reports"].evidence)


def test_overlay_with_another_image_is_not_the_source(tmp_path):
    _write(tmp_path, {
        "docker-compose.yml": _PREBUILT,
        "docker-compose.dev.yml": "services:\n  accounts:\n    image: acme/accounts-dev\n    build: ./accounts\n",
        "accounts/pom.xml": "", "accounts/Dockerfile": "FROM eclipse-temurin:21-jre\n",
    })
    base = next(p for p in _projects(tmp_path) if len(p.docs) == 1)
    assert source_context(base, base.service("accounts")) is None
    assert not classify_all(base)["accounts"].talks_known


def test_config_server_files_make_a_client_known(tmp_path):
    _write(tmp_path, {
        "compose.yaml": ("services:\n  cfg:\n    build: ./cfg\n  billing:\n    build: ./billing\n"
                         "    ports: ['80:8080']\n  billing-db:\n    image: postgres:16\n  ledger-db:\n"
                         "    image: postgres:16\n"),
        "cfg/pom.xml": "", "cfg/Dockerfile": "FROM eclipse-temurin:21-jre\n",
        "cfg/src/main/resources/application.properties": (
            "spring.profiles.active=native\nspring.cloud.config.server.native.search-locations=classpath:/apps\n"),
        "cfg/src/main/resources/apps/billing.yml": "spring:\n  datasource:\n    url: jdbc:postgresql://billing-db/b\n",
        "cfg/src/main/resources/apps/ledger.yml": "spring:\n  datasource:\n    url: jdbc:postgresql://ledger-db/l\n",
        "billing/pom.xml": "", "billing/Dockerfile": "FROM eclipse-temurin:21-jre\n",
        "billing/src/main/resources/bootstrap.yml": ("spring:\n  application:\n    name: billing\n  cloud:\n"
                                                     "    config:\n      uri: http://cfg:8888\n"),
    })
    roles = classify_all(_projects(tmp_path)[0])
    r = roles["billing"]
    assert r.talks_to == {"cfg", "billing-db"} and r.talks_known
    assert any("billing-db in spring.datasource.url in cfg/src/main/resources/apps/billing.yml" in e
               for e in r.evidence)


def test_config_server_harden_cannot_read_leaves_it_unknown(tmp_path):
    _write(tmp_path, {
        "compose.yaml": ("services:\n  cfg:\n    image: hyness/spring-cloud-config-server\n  billing:\n"
                         "    build: ./billing\n    ports: ['80:8080']\n  db:\n    image: postgres:16\n"),
        "billing/pom.xml": "", "billing/Dockerfile": "FROM eclipse-temurin:21-jre\n",
        "billing/src/main/resources/application.yml": "spring:\n  config:\n    import: configserver:http://cfg:8888\n",
    })
    r = classify_all(_projects(tmp_path)[0])["billing"]
    assert "cfg" in r.talks_to and not r.talks_known
    assert "config server cfg" in (r.unknown_why or "")


def test_spring_hosts_outside_the_project_mean_egress(tmp_path):
    _write(tmp_path, {
        "compose.yaml": "services:\n  rates:\n    build: .\n    ports: ['80:8080']\n",
        "pom.xml": "", "Dockerfile": "FROM eclipse-temurin:21-jre\n",
        "src/main/resources/application.yml": "rates:\n  url: https://api.exchangerate.host/latest\n",
    })
    assert classify_all(_projects(tmp_path)[0])["rates"].egress is True


# ------------------------------------------------------------------------------- networks


def test_registry_clients_keep_the_same_networks(tmp_path):
    """Eureka hands out the address a client registers, on one of its networks (the first
    interface): callers reach it only there, so the clients of one registry get the same
    networks, and a store one of them uses is reported, not isolated from the others."""
    from harden.config import Options
    from harden.engine import run

    eureka = "eureka:\n  client:\n    serviceUrl:\n      defaultZone: http://registry:8761/eureka/\n"
    _write(tmp_path, {
        "compose.yaml": ("services:\n  registry:\n    build: ./registry\n    ports: ['8761:8761']\n"
                         "  edge:\n    build: ./edge\n    ports: ['80:8080']\n"
                         "  orders:\n    build: ./orders\n  orders-db:\n    image: postgres:16\n"),
        "registry/pom.xml": "", "registry/Dockerfile": "FROM eclipse-temurin:21-jre\n",
        "registry/src/main/resources/application.yml": (
            "eureka:\n  client:\n    register-with-eureka: false\n    fetch-registry: false\n"),
        "edge/pom.xml": "", "edge/Dockerfile": "FROM eclipse-temurin:21-jre\n",
        "edge/src/main/resources/application.yml": eureka,
        "orders/pom.xml": "", "orders/Dockerfile": "FROM eclipse-temurin:21-jre\n",
        "orders/src/main/resources/application.yml": eureka + (
            "spring:\n  datasource:\n    url: jdbc:postgresql://orders-db/orders\n"),
    })
    roles = classify_all(_projects(tmp_path)[0])
    assert roles["edge"].discovery == roles["orders"].discovery == "Eureka at registry"
    assert roles["edge"].talks_known and roles["registry"].talks_known and roles["registry"].discovery is None
    o = Options()
    o.select = ["networks"]
    res = run(tmp_path, o)
    out = res.files[0].after
    import yaml

    svcs = yaml.safe_load(out)["services"]
    assert set(svcs["edge"]["networks"]) == set(svcs["orders"]["networks"]) == {"frontend", "backend"}
    assert svcs["orders-db"]["networks"] == ["backend"]
    assert set(svcs["registry"]["networks"]) >= {"frontend"}
    skip = [x for x in res.outcomes if x.status == "skipped" and x.part == "orders-db"]
    assert skip and "find each other through Eureka at registry" in skip[0].reason


def test_hosts_in_start_scripts_and_dockerfile_count(tmp_path):
    _write(tmp_path, {
        "compose.yaml": ("services:\n  api:\n    build: .\n    ports: ['80:8080']\n  db:\n    image: postgres:16\n"
                         "  cache:\n    image: redis:7\n"),
        "pom.xml": "",
        "Dockerfile": "FROM eclipse-temurin:21-jre\nENV CACHE_URL=redis://cache:6379\nCMD [\"/start.sh\"]\n",
        "docker/start.sh": "#!/bin/sh\nexec java -Dspring.datasource.url=jdbc:postgresql://db:5432/api -jar app.jar\n",
        "src/main/resources/application.yml": "server:\n  port: 8080\n",
    })
    r = classify_all(_projects(tmp_path)[0])["api"]
    assert r.talks_to == {"db", "cache"} and r.talks_known
