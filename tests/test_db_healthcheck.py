"""db-healthcheck: snapshots over the health-* fixtures, refusals, secrets, examples."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from harden_testlib import (FIXTURES, assert_project_still_valid, changed_text, copy_fixture, harden_run,
                            project_compose_config, write_files)
from harden.compose_doc import ComposeDoc
from harden.io import write_atomic
from harden.transforms.db_healthcheck import DbHealthcheck

NAME = "db-healthcheck"
HEALTH_FIXTURES = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir() and p.name.startswith("health-"))


def run_examples(transform, tmp_path: Path) -> None:
    for ex in transform.examples:
        folder = tmp_path / ex.name
        folder.mkdir()
        for rel, text in ex.files.items():
            (folder / rel).write_text(text)
        result = harden_run(folder, select=[transform.name])
        assert not result.errors
        for rel, text in ex.files.items():
            want = ex.expect.get(rel, text)
            assert changed_text(result, rel) == want, f"example {ex.name}: {rel}"


@pytest.mark.parametrize("fixture", HEALTH_FIXTURES)
def test_snapshot(fixture, tmp_path, snap_compose):
    folder = copy_fixture(fixture, tmp_path)
    result = harden_run(folder, select=[NAME])
    assert not result.errors
    for f in sorted(result.files, key=lambda f: f.rel):
        if f.kind == "compose":
            assert f.after == snap_compose(name=f"{fixture}--{f.rel.replace('/', '_')}")


def test_examples(tmp_path):
    run_examples(DbHealthcheck, tmp_path)


def test_docstring_sections():
    doc = DbHealthcheck.docs()
    for section in ("What it does:", "Why:", "Example:", "Safety:", "When it refuses:"):
        assert section in doc


def _outcomes(result, status):
    return {o.part: o.reason for o in result.outcomes if o.transform == NAME and o.status == status and o.part}


def _healthcheck_test(text: str, service: str) -> str | None:
    doc = ComposeDoc("x", text)
    svc = doc.services().get(service)
    hc = svc.get("healthcheck") if svc else None
    return None if hc is None else hc.get("test")


def test_checks_per_image_and_tag(tmp_path):
    folder = copy_fixture("health-mariadb-tags", tmp_path)
    out = changed_text(harden_run(folder, select=[NAME]), "compose.yaml")
    assert _healthcheck_test(out, "legacy")[1] == "mysqladmin"  # 10.3: no healthcheck.sh yet
    for s in ("lts", "eleven", "pinned"):  # 11.x has no mysqladmin; digest only -> healthcheck.sh
        assert list(_healthcheck_test(out, s)) == ["CMD", "healthcheck.sh", "--connect", "--innodb_initialized"]
    folder = copy_fixture("health-more-stores", tmp_path)
    out = changed_text(harden_run(folder, select=[NAME]), "compose.yaml")
    assert _healthcheck_test(out, "mongo-old")[1] == "mongo"
    assert _healthcheck_test(out, "mongo")[1] == "mongosh"
    assert list(_healthcheck_test(out, "mysql-elsewhere"))[-2:] == ["-P", "3307"]
    assert "rabbitmq-diagnostics" in _healthcheck_test(out, "rabbit")
    assert "9200" in _healthcheck_test(out, "search")[1]
    assert "start_period: 60s" in out


def test_refusals_are_reported(tmp_path):
    folder = copy_fixture("health-more-stores", tmp_path)
    result = harden_run(folder, select=[NAME])
    skipped = _outcomes(result, "skipped")
    assert set(skipped) == {"mssql"}
    assert "login" in skipped["mssql"]
    out = changed_text(result, "compose.yaml")
    for s in skipped:
        assert _healthcheck_test(out, s) is None
    folder = copy_fixture("health-clients", tmp_path)
    result = harden_run(folder, select=[NAME])
    skipped = _outcomes(result, "skipped")
    # cache2 runs `sh -c "redis-server --requirepass \"$$CACHE_PASSWORD\""`: a shell expands it
    assert set(skipped) == {"migrate", "redis-cli", "cache", "cache3"}
    assert "ends by running `mysql`" in skipped["migrate"]
    assert "no shell expands it" in skipped["cache3"]
    assert "literal --requirepass" in skipped["cache"]


def test_existing_healthchecks_left_alone(tmp_path):
    folder = copy_fixture("health-existing", tmp_path)
    before = (folder / "compose.yaml").read_text()
    out = changed_text(harden_run(folder, select=[NAME]), "compose.yaml")
    # only pgbuilt (FROM postgres, no HEALTHCHECK) gets one
    assert out.count("healthcheck:") - before.count("healthcheck:") == 1
    assert _healthcheck_test(out, "pgbuilt")[0] == "CMD-SHELL"
    # never through the anchor
    assert out.split("services:")[0] == before.split("services:")[0]


def test_no_secret_in_any_added_line(tmp_path):
    """Values of password-like variables never appear in what harden adds."""
    for fixture in HEALTH_FIXTURES:
        folder = copy_fixture(fixture, tmp_path / "s")
        result = harden_run(folder, select=[NAME, "depends-healthy"])
        for f in result.files:
            if f.kind != "compose":
                continue
            secrets = set()
            for m in re.finditer(r"(?im)^\s*-?\s*([A-Z_]*(?:PASSWORD|PASS|SECRET|TOKEN|PWD)[A-Z_]*)\s*[:=]\s*(\S+)", f.before):
                v = m.group(2).strip("'\"")
                if len(v) >= 4 and not v.startswith("$"):
                    secrets.add(v)
            secrets.add("hunter2")
            added = [ln for ln in f.after.splitlines() if ln not in f.before.splitlines()]
            for ln in added:
                for s in secrets:
                    assert s not in ln, (fixture, ln)
                if "test:" in ln:
                    assert re.search(r"(?<!\$)\$(?!\$)", ln) is None, f"unescaped $ in {ln}"
                    assert " -p" not in ln.replace(" -p 6", "")  # no password flag
        shutil.rmtree(tmp_path / "s")


def test_idempotent_and_flow_test_lists(tmp_path):
    for fixture in HEALTH_FIXTURES:
        folder = copy_fixture(fixture, tmp_path / "i")
        result = harden_run(folder, select=[NAME])
        for f in result.changed_files:
            for ln in f.after.splitlines():
                if ln.strip().startswith("test:"):
                    assert ln.strip().startswith("test: [") and ln.rstrip().endswith("]")
            write_atomic(f.path, f.after)
        again = harden_run(folder, select=[NAME])
        assert not again.changed_files, fixture
        shutil.rmtree(tmp_path / "i")


@pytest.mark.parametrize("fixture", HEALTH_FIXTURES)
def test_output_passes_docker_compose_config(fixture, tmp_path):
    folder = copy_fixture(fixture, tmp_path)
    before = project_compose_config(folder)
    result = harden_run(folder, select=[NAME, "depends-healthy"])
    for f in result.changed_files:
        write_atomic(f.path, f.after)
    assert_project_still_valid(before, project_compose_config(folder))


def test_version_key_raised_for_start_period(tmp_path):
    folder = copy_fixture("health-more-stores", tmp_path)
    result = harden_run(folder, select=[NAME])
    assert changed_text(result, "compose.yaml").startswith('version: "2.3"\n')
    assert any("2.3" in n.message for n in result.notes)


def test_redis_password_from_variable_goes_through_env(tmp_path):
    folder = copy_fixture("health-pg-redis", tmp_path)
    out = changed_text(harden_run(folder, select=[NAME]), "compose.yaml")
    redis = ComposeDoc("x", out).services()["redis"]
    assert redis["environment"]["REDISCLI_AUTH"] == "${REDIS_PASSWORD}"
    assert "REDIS_PASSWORD" not in str(redis["healthcheck"]["test"])


def test_shared_anchor_service_is_skipped(tmp_path):
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "compose.yaml").write_text(
        "services:\n  db: &db\n    image: postgres:16\n  db2:\n    <<: *db\n")
    result = harden_run(tmp_path / "p", select=[NAME])
    assert not result.changed_files
    assert "anchor" in _outcomes(result, "skipped")["db"]


def test_add_key_twice_to_the_same_mapping():
    """compose_doc.add_key after a key harden added earlier (it has no position)."""
    doc = ComposeDoc("c.yaml", "services:\n  db:\n    image: redis  # x\n  # next\n  web:\n    image: w\n")
    node = doc.services()["db"]
    doc.add_key(node, "environment", {"A": "1"})
    doc.add_key(node, "healthcheck", {"test": ["CMD", "true"]})
    assert doc.render() == (
        "services:\n  db:\n    image: redis  # x\n    environment:\n      A: \"1\"\n"
        "    healthcheck:\n      test:\n        - CMD\n        - \"true\"\n  # next\n  web:\n    image: w\n")
    assert list(node.keys()) == ["image", "environment", "healthcheck"]


@pytest.mark.parametrize("command, port", [
    (["postgres", "-p", "5433"], "5433"),
    ("postgres -c port=5434 -c max_connections=200", "5434"),
    (["postgres", "-c", "max_connections=200", "-c", "port=5436"], "5436"),
    (["postgres", "-cport=5437"], "5437"),
    ("postgres --port=5438", "5438"),
    ("postgres -c max_connections=200", None),  # control: default port, no -p
])
def test_postgres_check_follows_the_server_port(command, port):
    """A server moved to another port with `-c port=N` (the form the postgres docs and many
    compose files use) must be probed there: pg_isready on 5432 would never turn healthy."""
    from harden.catalog import parse_image
    from harden.healthchecks import plan_for

    plan = plan_for("postgres", parse_image("postgres:16"), {"image": "postgres:16", "command": command})
    text = str(plan.test)
    if port is None:
        assert " -p " not in text
    else:
        assert f"-p {port} " in text


@pytest.mark.parametrize("image, first", [
    ("mariadb:10.6.4-focal", "mysqladmin"),   # pinned patch from 2021: no healthcheck.sh in that image
    ("mariadb:10.5.8", "mysqladmin"),
    ("mariadb:10.11.2", "mysqladmin"),
    ("mariadb:10.8", "mysqladmin"),           # series ended before healthcheck.sh
    ("mariadb:11.0.1", "mariadb-admin"),      # 11.x has no mysql* names
    ("mariadb:10.6.14", "healthcheck.sh"),
    ("mariadb:10.11.4", "healthcheck.sh"),
    ("mariadb:10.6", "healthcheck.sh"),       # rolling minor tag follows the newest patch
    ("mariadb:11.4.2", "healthcheck.sh"),
    ("mariadb:10", "healthcheck.sh"),
    ("mariadb:lts", "healthcheck.sh"),
])
def test_mariadb_pinned_patch_without_healthcheck_sh(image, first):
    from harden.catalog import parse_image
    from harden.healthchecks import plan_for

    plan = plan_for("mariadb", parse_image(image), {"image": image})
    assert list(plan.test)[1] == first
    if first != "healthcheck.sh":
        assert list(plan.test)[2:5] == ["ping", "-h", "127.0.0.1"]


@pytest.mark.parametrize("image", ["clickhouse/clickhouse-server:23.3.7.5-alpine", "clickhouse/clickhouse-server:24.3",
                                   "yandex/clickhouse-server:21.8"])
def test_clickhouse_pings_the_http_interface(image):
    # Plausible, Sentry, PostHog: the app waited for ClickHouse with service_started only
    from harden.catalog import parse_image
    from harden.healthchecks import plan_for

    plan = plan_for("clickhouse", parse_image(image), {"image": image})
    assert list(plan.test) == ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8123/ping"]


def test_clickhouse_without_a_client_is_refused():
    from harden.catalog import parse_image
    from harden.healthchecks import NoCheck, plan_for

    with pytest.raises(NoCheck):
        plan_for("clickhouse", parse_image("clickhouse/clickhouse-server:25.4-distroless"), {})


def test_image_from_dotenv_gets_the_check_of_what_dotenv_names(tmp_path):
    (tmp_path / ".env").write_text("DB_IMAGE=mariadb:10.6.4\n")
    (tmp_path / "compose.yaml").write_text("services:\n  db:\n    image: ${DB_IMAGE:-mariadb:11}\n")
    result = harden_run(tmp_path, select=[NAME])
    out = changed_text(result, "compose.yaml")
    assert _healthcheck_test(out, "db")[1] == "mysqladmin"  # 10.6.4 from .env, not the default 11
    assert any(".env sets (mariadb:10.6.4)" in n.message for n in result.notes)


def test_stores_by_family_and_unrecognised_images_named(tmp_path):
    """Issue 16, item 7: Redis with modules (redislabs/redismod) is Redis; an image harden does
    not know that the app talks Redis/PostgreSQL to is skipped with the image named."""
    root = write_files(tmp_path / "p", {"compose.yaml": (
        "services:\n"
        "  web:\n"
        "    image: example/web\n"
        "    environment:\n"
        "      REDIS_URL: redis://kv:6379/0\n"
        "      CACHE_HOST: modcache\n"
        "      PG_HOST: pg\n"
        "  kv:\n"
        "    image: acme/keyvalue:2\n"
        "  modcache:\n"
        "    image: redislabs/redismod\n"
        "  pg:\n"
        "    image: registry.example.com/team/pgbase:15\n"
        "  other:\n"
        "    image: acme/unrelated:1\n"
        "  worker:\n"
        "    image: example/worker\n"
        "    environment:\n"
        "      DATABASE_URL: postgresql://app@search-db:5432/app\n"
        "  search-db:\n"
        "    image: acme/zulip-postgresql:14\n"
    )})
    res = harden_run(root, select=["db-healthcheck"])
    data = yaml.safe_load(changed_text(res, "compose.yaml"))["services"]
    assert "redis-cli" in " ".join(map(str, data["modcache"]["healthcheck"]["test"]))
    assert "healthcheck" not in data["kv"] and "healthcheck" not in data["pg"]
    skipped = {o.part: o.reason for o in res.outcomes if o.status == "skipped"}
    assert "acme/keyvalue:2 is not one harden recognises" in skipped["kv"] and "redis-cli ping" in skipped["kv"]
    assert "talks PostgreSQL" in skipped["pg"] and "pg_isready" in skipped["pg"]
    assert "other" not in skipped  # nobody talks to it as a store: nothing to say
    # named for the family the app speaks to it: built on that image, it gets the family's check
    assert "pg_isready" in " ".join(map(str, data["search-db"]["healthcheck"]["test"]))
    assert any("acme/zulip-postgresql:14 is taken for a PostgreSQL image" in n.message for n in res.notes)


@pytest.mark.parametrize("script, last", [
    ("exec memcached -S", ["memcached", "-S"]),
    ("echo 'x' > \"$$F\"\necho \"a:$$(cat $$P)\" >> \"$$F\"\nexec memcached -S\n", ["memcached", "-S"]),
    ("set -e; chown -R redis /data && exec gosu redis redis-server --port 7000  # go", ["redis-server", "--port", "7000"]),
    ("A=1 B=2 exec docker-entrypoint.sh rabbitmq-server", ["docker-entrypoint.sh", "rabbitmq-server"]),
    ("redis-server --save '' 2>&1", ["redis-server", "--save", "", "2>&1"]),
    ("redis-server & sleep 2; redis-cli set a b; wait", ["wait"]),
    ("redis-server &", None),               # backgrounded: not what keeps the container up
    ("test -f x || exec redis-server", None),  # only when the test fails
    ("cat <<EOF > /c\nport 1\nEOF\nredis-server /c", None),  # here-documents are not read
    ("echo 'unbalanced", None),
])
def test_shell_script_is_read_to_its_last_command(script, last):
    from harden.healthchecks import last_command

    assert last_command(script) == last


def test_stores_started_through_a_shell_script(tmp_path):
    """zulip's stores: each command is `sh -euc SCRIPT` that prepares a config or reads a
    secret file and then execs the server. The check fits the server the script ends with;
    the Redis password comes from the same secret file, read by the check's own shell."""
    root = write_files(tmp_path / "p", {"compose.yaml": (
        "services:\n"
        "  memcached:\n"
        "    image: memcached:alpine\n"
        "    command:\n"
        "      - sh\n"
        "      - -euc\n"
        "      - |\n"
        "        echo 'mech_list: plain' > \"$$SASL_CONF_PATH\"\n"
        "        exec memcached -S -p 11311\n"
        "    environment:\n"
        "      SASL_CONF_PATH: /home/memcache/memcached.conf\n"
        "  rabbitmq:\n"
        "    image: rabbitmq:4.2\n"
        "    command: [\"sh\", \"-euc\", \"echo x >> /etc/rabbitmq/rabbitmq.conf\\nexec docker-entrypoint.sh rabbitmq-server\"]\n"
        "  redis:\n"
        "    image: redis:alpine\n"
        "    command:\n"
        "      - sh\n"
        "      - -euc\n"
        "      - '/usr/local/bin/docker-entrypoint.sh --requirepass \"$$(cat $$REDIS_PASSWORD_FILE)\"'\n"
        "    environment:\n"
        "      REDIS_PASSWORD_FILE: /run/secrets/redis_password\n"
        "  redis-own-var:\n"
        "    image: redis:alpine\n"
        "    command: [\"sh\", \"-c\", \"PW=$$(cat /run/secrets/pw); exec redis-server --requirepass \\\"$$PW\\\"\"]\n"
        "  mc-debian:\n"
        "    image: memcached:1.6\n"
        "  mc-socket:\n"
        "    image: memcached:1.6\n"
        "    command: memcached -s /tmp/mc.sock\n"
        "  helper:\n"
        "    image: redis:alpine\n"
        "    command: [\"sh\", \"-c\", \"sleep 5; redis-cli -h redis ping\"]\n"
    )})
    res = harden_run(root, select=[NAME])
    data = yaml.safe_load(changed_text(res, "compose.yaml"))["services"]
    assert data["memcached"]["healthcheck"]["test"] == ["CMD", "nc", "-z", "127.0.0.1", "11311"]
    assert data["mc-debian"]["healthcheck"]["test"] == ["CMD", "bash", "-c", "</dev/tcp/127.0.0.1/11211"]
    assert data["rabbitmq"]["healthcheck"]["test"] == ["CMD", "rabbitmq-diagnostics", "-q", "ping"]
    assert data["redis"]["healthcheck"]["test"] == [
        "CMD-SHELL", 'REDISCLI_AUTH="$$(cat "$${REDIS_PASSWORD_FILE}")" redis-cli ping | grep -q PONG']
    skipped = _outcomes(res, "skipped")
    assert set(skipped) == {"redis-own-var", "mc-socket", "helper"}
    assert "computed by its start-up script" in skipped["redis-own-var"]
    assert "unix socket" in skipped["mc-socket"]
    assert "ends by running `redis-cli`" in skipped["helper"]


def test_an_image_the_repository_builds_elsewhere_is_read_through_that_dockerfile(tmp_path):
    """dfir-iris runs `${DB_IMAGE_NAME:-ghcr.io/dfir-iris/iriswebapp_db}:${DB_IMAGE_TAG:-v2.4.20}`,
    which its dev file builds as `iriswebapp_db:v2.4.7` FROM postgres; piggymetrics runs
    `sqshq/piggymetrics-mongodb`, which its dev overlay builds FROM mongo:3. The published image
    may carry another version than the Dockerfile: the mongo check works with either shell."""
    root = write_files(tmp_path / "p", {
        "docker-compose.yml": (
            "services:\n"
            "  db:\n"
            "    image: ${DB_IMAGE_NAME:-ghcr.io/acme/app_db}:${DB_IMAGE_TAG:-v2.4.20}\n"
            "  mongodb:\n"
            "    image: acme/shop-mongodb\n"
            "  other:\n"
            "    image: acme/unknown-store:1\n"
        ),
        "docker-compose.dev.yml": (
            "services:\n"
            "  db:\n"
            "    build:\n"
            "      context: docker/db\n"
            "    image: app_db:v2.4.7\n"
            "  mongodb:\n"
            "    build: mongodb\n"
            "  other:\n"
            "    ports:\n"
            "      - 127.0.0.1:5000:5000\n"
        ),
        "docker/db/Dockerfile": "FROM postgres:12-alpine\nCOPY init.sh /docker-entrypoint-initdb.d/\n",
        "docker/db/init.sh": "#!/bin/sh\n",
        "mongodb/Dockerfile": "FROM mongo:3\n",
    })
    res = harden_run(root, select=[NAME])
    data = yaml.safe_load(changed_text(res, "docker-compose.yml"))["services"]
    assert "pg_isready" in data["db"]["healthcheck"]["test"][1]
    assert data["mongodb"]["healthcheck"]["test"] == [
        "CMD-SHELL", "mongosh --quiet --eval \"db.adminCommand('ping')\" || mongo --quiet --eval \"db.adminCommand('ping')\""]
    assert "healthcheck" not in data["other"]
    notes = [n.message for n in res.notes]
    assert any(m.startswith("db: its image ${DB_IMAGE_NAME:-ghcr.io/acme/app_db}:${DB_IMAGE_TAG:-v2.4.20} is taken for "
                            "the one docker-compose.dev.yml (db, docker/db/Dockerfile) builds, FROM postgres:12-alpine")
               for m in notes), notes
    # two different Dockerfiles build images of that name: harden cannot tell which one runs
    (root / "docker-compose.ci.yml").write_text("services:\n  db2:\n    build: other\n    image: elsewhere/app_db:ci\n")
    write_files(root, {"other/Dockerfile": "FROM mysql:8.0\n"})
    res = harden_run(root, select=[NAME])
    data = yaml.safe_load(changed_text(res, "docker-compose.yml"))["services"]
    assert "healthcheck" not in data["db"]


def test_a_built_store_image_whose_entrypoint_runs_a_job_is_not_a_server(tmp_path):
    """docker-elk's setup: FROM elasticsearch, ENTRYPOINT ["/entrypoint.sh"], a one-off job that
    creates users. The script of the build context is read: it does not start the server, so
    no healthcheck; an entrypoint script that ends with `exec "$@"` (the server as CMD) or that
    harden cannot read is still the server."""
    root = write_files(tmp_path / "p", {
        "compose.yaml": (
            "services:\n"
            "  setup:\n    build: setup\n"
            "  search:\n    build: search\n"
            "  db:\n    build: db\n"
        ),
        "setup/Dockerfile": "FROM docker.elastic.co/elasticsearch/elasticsearch:7.17.0\nENTRYPOINT [\"/entrypoint.sh\"]\n",
        "setup/entrypoint.sh": "#!/usr/bin/env bash\nfor u in a b; do\n  echo \"$u\"\ndone\n",
        "search/Dockerfile": ("FROM docker.elastic.co/elasticsearch/elasticsearch:7.17.0\nCOPY start.sh /start.sh\n"
                              "ENTRYPOINT [\"/start.sh\"]\nCMD [\"eswrapper\"]\n"),
        "search/start.sh": "#!/bin/sh\nset -e\nchown -R 1000 /data\nexec /usr/local/bin/docker-entrypoint.sh \"$@\"\n",
        "db/Dockerfile": "FROM postgres:16\nRUN make-init\nENTRYPOINT [\"/made-at-build.sh\"]\n",
    })
    res = harden_run(root, select=[NAME])
    data = yaml.safe_load(changed_text(res, "compose.yaml"))["services"]
    assert "healthcheck" not in data["setup"]
    assert "healthcheck" in data["search"] and "healthcheck" in data["db"]
    skipped = _outcomes(res, "skipped")
    assert "ENTRYPOINT runs /entrypoint.sh, a script whose last line closes a loop" in skipped["setup"]


def test_healthcheck_without_test_on_an_unknown_image_does_not_claim_the_image_has_none(tmp_path):
    """`healthcheck: {disable: false}` keeps a third-party image's own HEALTHCHECK, which harden cannot
    see: it leaves the service alone without saying the image defines none."""
    write_files(tmp_path, {"compose.yaml": (
        "services:\n  db:\n    image: ghcr.io/example/postgres:14-vector\n"
        "    environment:\n      POSTGRES_PASSWORD: x\n    healthcheck:\n      disable: false\n")})
    result = harden_run(tmp_path, select=[NAME])
    reason = _outcomes(result, "skipped")["db"]
    assert "defines none" not in reason
    assert "does not know whether ghcr.io/example/postgres:14-vector defines one" in reason
    assert not result.changed_files
