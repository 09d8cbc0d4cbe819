"""depends-healthy: snapshots (run after db-healthcheck, as in the registry), the rule that
service_healthy only targets services with a healthcheck, cycles, versions, overrides."""

from __future__ import annotations

import shutil

import pytest
import yaml

from harden_testlib import FIXTURES, changed_text, copy_fixture, harden_run
from harden.compose_doc import ComposeDoc
from harden.config import Options
from harden.engine import Run
from harden.healthchecks import can_wait_healthy
from harden.io import write_atomic
from harden.transforms.depends_healthy import DependsHealthy, hosts_in_value
from test_db_healthcheck import run_examples

NAMES = ["db-healthcheck", "depends-healthy"]
HEALTH_FIXTURES = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir() and p.name.startswith("health-"))


@pytest.mark.parametrize("fixture", HEALTH_FIXTURES)
def test_snapshot(fixture, tmp_path, snap_compose, snap_diff):
    folder = copy_fixture(fixture, tmp_path)
    result = harden_run(folder, select=NAMES)
    assert not result.errors
    for f in sorted(result.files, key=lambda f: f.rel):
        if f.kind == "compose":
            assert f.after == snap_compose(name=f"{fixture}--{f.rel.replace('/', '_')}")


def test_examples(tmp_path):
    run_examples(DependsHealthy, tmp_path)


def test_docstring_sections():
    doc = DependsHealthy.docs()
    for section in ("What it does:", "Why:", "Example:", "Safety:", "When it refuses:"):
        assert section in doc


def _apply(folder, select=NAMES):
    result = harden_run(folder, select=select)
    assert not result.errors
    for f in result.changed_files:
        write_atomic(f.path, f.after)
    return result


@pytest.mark.parametrize("fixture", HEALTH_FIXTURES)
def test_service_healthy_only_on_dependencies_with_a_healthcheck(fixture, tmp_path):
    folder = copy_fixture(fixture, tmp_path)
    _apply(folder)
    run = Run(folder, Options(select=[]))
    run.load()
    checked = 0
    for project in run.projects:
        for svc in project.services():
            deps = svc.merged.get("depends_on")
            if not isinstance(deps, dict):
                continue
            for dep, spec in deps.items():
                if isinstance(spec, dict) and spec.get("condition") == "service_healthy":
                    target = project.service(str(dep))
                    assert target is not None and can_wait_healthy(project, target), (svc.name, dep)
                    checked += 1
    if fixture != "health-extends":
        assert checked, "fixture produced no service_healthy edge at all"
    # and a second run changes nothing
    assert not harden_run(folder, select=NAMES).changed_files


def test_conditions_and_order(tmp_path):
    folder = copy_fixture("health-more-stores", tmp_path)
    out = changed_text(harden_run(folder, select=NAMES), "compose.yaml")
    deps = ComposeDoc("x", out).services()["app"]["depends_on"]
    assert list(deps) == ["mongo", "rabbit", "search", "secure-search", "memcached", "mssql",
                          "mysql-elsewhere", "mongo-old"]
    assert {k: v["condition"] for k, v in deps.items()} == {
        "mongo": "service_healthy", "rabbit": "service_healthy", "search": "service_healthy",
        "secure-search": "service_healthy", "memcached": "service_healthy", "mssql": "service_started",
        "mysql-elsewhere": "service_healthy", "mongo-old": "service_healthy"}


def test_existing_conditions_kept(tmp_path):
    folder = copy_fixture("health-existing", tmp_path)
    result = harden_run(folder, select=NAMES)
    out = changed_text(result, "compose.yaml")
    app = ComposeDoc("x", out).services()["app"]["depends_on"]
    assert app["own"]["condition"] == "service_started"  # written by the user: kept
    app2 = ComposeDoc("x", out).services()["app2"]["depends_on"]
    assert {k: v["condition"] for k, v in app2.items()} == {
        "own": "service_healthy", "anchored": "service_healthy", "disabled": "service_started",
        "oracle": "service_healthy", "pgbuilt": "service_healthy", "withhc": "service_healthy",
        "partial": "service_started"}


def test_comments_kept_in_place(tmp_path):
    folder = copy_fixture("health-mysql-seed", tmp_path)
    out = changed_text(harden_run(folder, select=NAMES), "docker-compose.yml")
    assert "      mysql:   # the bot needs the database\n        condition: service_healthy\n" in out
    assert "    depends_on:\n      # database first\n      mysql:\n" in out
    assert "    depends_on:  # UI for the DB\n" in out


def test_version_3_removed_with_note(tmp_path):
    folder = copy_fixture("health-mysql-seed", tmp_path)
    result = harden_run(folder, select=NAMES)
    out = changed_text(result, "docker-compose.yml")
    assert not out.startswith("version")
    assert out.startswith("# A bot and a web app")  # the blank line under `version:` goes with it
    assert any("removed `version" in n.message for n in result.notes)


def test_version_2_0_raised_to_2_1_when_only_conditions_are_needed(tmp_path):
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "docker-compose.yml").write_text(
        "version: '2'\nservices:\n  db:\n    image: postgres:16\n"
        "    healthcheck:\n      test: [\"CMD\", \"pg_isready\"]\n"
        "  web:\n    image: w\n    depends_on:\n      - db\n")
    out = changed_text(harden_run(tmp_path / "p", select=["depends-healthy"]), "docker-compose.yml")
    assert out.startswith("version: '2.1'\n")
    assert "      db:\n        condition: service_healthy\n" in out


def test_override_edits_go_to_the_file_that_owns_depends_on(tmp_path):
    folder = copy_fixture("health-override", tmp_path)
    result = harden_run(folder, select=NAMES)
    base = changed_text(result, "docker-compose.yml")
    over = changed_text(result, "docker-compose.override.yml")
    assert "      db:\n        condition: service_healthy" in base
    assert "      redis:   # sessions\n        condition: service_healthy" in over


def test_anchor_depends_on_is_edited_once_for_every_service_that_shares_it(tmp_path):
    """Issue 16, item 5: worker reads depends_on from &app; converting it there is the same edit
    every sharer would get, so the anchor is edited once (cron has its own list: edited there)."""
    folder = copy_fixture("health-extends", tmp_path)
    result = harden_run(folder, select=NAMES)
    assert not [o for o in result.outcomes if o.transform == "depends-healthy" and o.status == "skipped"
                and o.part in ("worker", "cron")]
    out = changed_text(result, "compose.yaml")
    assert out.startswith("x-app: &app\n  image: example/app\n  depends_on:\n    db:\n      condition: service_healthy\n")
    data = yaml.safe_load(out)["services"]
    assert data["worker"]["depends_on"] == data["cron"]["depends_on"] == {"db": {"condition": "service_healthy"}}


def test_anchor_edge_only_when_every_sharer_wants_it(tmp_path):
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "compose.yaml").write_text(
        "x-app: &app\n  image: example/app\n  depends_on:\n    - db\n"
        "services:\n"
        "  db:\n    image: postgres:16\n"
        "  cache:\n    image: redis:7\n"
        "  web:\n    <<: *app\n    environment:\n      REDIS_URL: redis://cache:6379/0\n"
        "  worker:\n    <<: *app\n    environment:\n      REDIS_URL: redis://cache:6379/1\n"
        "  cable:\n    <<: *app\n")
    result = harden_run(tmp_path / "p", select=NAMES)
    data = yaml.safe_load(changed_text(result, "compose.yaml"))
    # the conversion is shared; the new edge to cache is wanted by web and worker, not by cable
    assert data["x-app"]["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert any("not adding depends_on cache" in n.message and "shared with" in n.message for n in result.notes)


def test_no_edge_that_closes_a_cycle(tmp_path):
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "compose.yaml").write_text(
        "services:\n  db:\n    image: postgres:16\n    depends_on:\n      - web\n"
        "  web:\n    image: w\n    environment:\n      DB_HOST: db\n")
    result = harden_run(tmp_path / "p", select=["depends-healthy"])
    assert not result.changed_files
    assert any("cycle" in n.message for n in result.notes)


def test_flow_mappings_rewritten_in_block_style_or_left_with_the_reason(tmp_path):
    folder = copy_fixture("health-clients", tmp_path)
    result = harden_run(folder, select=NAMES)
    out = changed_text(result, "compose.yaml")
    # db's healthcheck is new: its explicit service_started becomes healthy, in block style
    assert "    depends_on:\n      db:\n        condition: service_healthy\n      cache3:\n" in out
    said = [o.reason for o in result.outcomes if o.part == "flowmap" and o.status == "skipped"]
    # the edge that cannot wait says why (cache3's password is a literal `$$CACHE_PASSWORD`)
    assert said == ["depends_on cache3 stays service_started: cache3 has no healthcheck to wait for (redis is "
                    "started with --requirepass $$CACHE_PASSWORD; no shell expands it, so the password is that "
                    "literal text and a healthcheck would have to copy it. Use ${VAR} (compose interpolation) "
                    "instead and rerun)"]
    root = tmp_path / "p"
    root.mkdir()
    (root / "compose.yaml").write_text(
        "services:\n  db:\n    image: postgres:16\n"
        "  app:\n    image: example/app\n    depends_on: {db: {restart: true}}\n"
        "  empty:\n    image: example/app\n    depends_on: {}\n"
        "  noted:\n    image: example/app\n    depends_on: {db: {restart: true}}  # keep this\n")
    result = harden_run(root, select=NAMES)
    out = changed_text(result, "compose.yaml")
    assert "  app:\n    image: example/app\n    depends_on:\n      db:\n        restart: true\n" \
           "        condition: service_healthy\n" in out
    assert "depends_on: {}\n" in out  # nothing to change there, nothing refused
    assert "depends_on: {db: {restart: true}}  # keep this\n" in out
    skipped = {o.part: o.reason for o in result.outcomes if o.transform == "depends-healthy" and o.status == "skipped"}
    assert set(skipped) == {"noted"} and "flow style" in skipped["noted"] and "comments" in skipped["noted"]


def test_explicit_service_started_on_a_store_that_had_no_healthcheck(tmp_path):
    """kutt: `redis: condition: service_started` beside `postgres: condition: service_healthy`
    because redis had no healthcheck. Once harden adds one, the file asks for healthy too; a
    service_started on a store that already had a check is the user's choice and stays."""
    root = tmp_path / "p"
    root.mkdir()
    (root / "compose.yaml").write_text(
        "services:\n"
        "  server:\n    image: example/app\n    depends_on:\n"
        "      postgres:\n        condition: service_healthy\n"
        "      redis:\n        condition: service_started\n"
        "      cache:\n        condition: service_started  # on purpose\n"
        "  postgres:\n    image: postgres:16\n    healthcheck:\n      test: [\"CMD\", \"pg_isready\"]\n"
        "  redis:\n    image: redis:alpine\n"
        "  cache:\n    image: redis:alpine\n    healthcheck:\n      test: [\"CMD\", \"redis-cli\", \"ping\"]\n")
    result = harden_run(root, select=NAMES)
    deps = yaml.safe_load(changed_text(result, "compose.yaml"))["services"]["server"]["depends_on"]
    assert {k: v["condition"] for k, v in deps.items()} == {
        "postgres": "service_healthy", "redis": "service_healthy", "cache": "service_started"}
    assert any("redis now waits for service_healthy instead of service_started" in n.message for n in result.notes)
    # run alone on the result: nothing more to do
    for f in result.changed_files:
        write_atomic(f.path, f.after)
    assert not harden_run(root, select=NAMES).changed_files


def test_links_to_a_store_wait_for_it(tmp_path):
    """shiori: `links: [postgres, mariadb]` and no depends_on. links start the store first but
    do not wait for it; the service now waits for each linked store's healthcheck."""
    root = tmp_path / "p"
    root.mkdir()
    (root / "compose.yaml").write_text(
        "services:\n"
        "  app:\n    image: example/app\n    links:\n      - \"postgres\"\n      - \"mariadb:db\"\n      - helper\n"
        "  postgres:\n    image: postgres:13\n"
        "  mariadb:\n    image: mariadb:10.5.27\n"
        "  helper:\n    image: example/helper\n")
    result = harden_run(root, select=NAMES)
    deps = yaml.safe_load(changed_text(result, "compose.yaml"))["services"]["app"]["depends_on"]
    assert deps == {"postgres": {"condition": "service_healthy"}, "mariadb": {"condition": "service_healthy"}}
    assert any("its links name postgres" in n.message for n in result.notes)


def test_no_healthy_without_healthcheck_alone(tmp_path):
    """Run alone (no db-healthcheck first): nothing has a healthcheck, nothing becomes healthy."""
    folder = copy_fixture("health-mysql-seed", tmp_path)
    result = harden_run(folder, select=["depends-healthy"])
    assert "service_healthy" not in changed_text(result, "docker-compose.yml")


@pytest.mark.parametrize("value,hosts", [
    ("db", {"db"}), ("db:5432", {"db"}), ("postgres://u:p@db:5432/app", {"db"}),
    ("mongodb://a:27017,b:27017/x?replicaSet=r", {"a", "b"}), ("${DB_HOST:-mysql}", {"mysql"}),
    ("redis://:${REDIS_PASSWORD}@redis:6379/0", {"redis"}), ("eleven,newest", {"eleven", "newest"}),
])
def test_hosts_in_value(value, hosts):
    assert hosts_in_value(value) == hosts


def test_no_new_depends_on_in_a_service_others_extend(tmp_path):
    """docker-compose refuses `depends_on` in a service that another service extends."""
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "docker-compose.yml").write_text(
        "version: '2'\nservices:\n  app:\n    image: x\n    environment:\n      CELERY_BROKER: redis://redis\n"
        "  worker:\n    extends:\n      service: app\n    command: celery worker\n"
        "  redis:\n    image: redis:7\n")
    result = harden_run(tmp_path / "p", select=NAMES)
    out = changed_text(result, "docker-compose.yml")
    from harden.compose_doc import ComposeDoc

    services = ComposeDoc("c", out).data["services"]
    assert "depends_on" not in services["app"]
    assert any("other services extend it" in n.message for n in result.notes)


SWARM_BASE = (
    "version: \"3.8\"\n"
    "services:\n"
    "  db:\n"
    "    image: postgres:15\n"
    "    healthcheck:\n"
    "      test: [\"CMD-SHELL\", \"pg_isready -h 127.0.0.1\"]\n"
    "{db_extra}"
    "  api:\n"
    "    image: example/api:1\n"
    "    depends_on: [db]\n"
    "{api_extra}"
)


@pytest.mark.parametrize("db_extra, api_extra, tail, sign", [
    ("", "", "networks:\n  back:\n    driver: overlay\n", "overlay"),
    ("    deploy:\n      placement:\n        constraints: [node.role == manager]\n", "", "", "placement"),
    ("", "    deploy:\n      mode: global\n", "", "global"),
    ("", "    ports:\n      - target: 8000\n        published: 80\n        mode: ingress\n", "", "ingress"),
])
def test_swarm_stack_files_keep_depends_on_a_list(tmp_path, db_extra, api_extra, tail, sign):
    # `docker stack deploy` rejects depends_on conditions ("depends_on must be a list", moby#46827)
    text = SWARM_BASE.format(db_extra=db_extra, api_extra=api_extra) + tail
    (tmp_path / "docker-compose.yml").write_text(text)
    result = harden_run(tmp_path, select=["depends-healthy"])
    assert not [f for f in result.files if f.changed]
    reasons = [o.reason for o in result.outcomes if o.transform == "depends-healthy" and o.status == "skipped"]
    assert reasons and "swarm" in reasons[0] and sign in reasons[0]


def test_plain_deploy_resources_are_not_swarm(tmp_path):
    # deploy.resources / replicas are honoured by docker compose too: not a sign of a stack file
    text = SWARM_BASE.format(db_extra="", api_extra="    deploy:\n      replicas: 2\n      resources:\n        limits: {cpus: '0.5'}\n")
    (tmp_path / "docker-compose.yml").write_text(text)
    out = changed_text(harden_run(tmp_path, select=["depends-healthy"]), "docker-compose.yml")
    assert "condition: service_healthy" in out


def test_depends_on_through_a_yaml_alias_is_left_with_the_reason(tmp_path):
    # Superset's docker-compose-non-dev.yml: `depends_on: *superset-depends-on` (an alias, not <<:)
    text = (
        "x-deps: &deps\n"
        "  - db\n"
        "services:\n"
        "  db:\n"
        "    image: postgres:15\n"
        "  app:\n"
        "    image: example/app:1\n"
        "    depends_on: *deps\n"
        "  worker:\n"
        "    image: example/app:1\n"
        "    depends_on: *deps\n"
    )
    (tmp_path / "compose.yaml").write_text(text)
    result = harden_run(tmp_path, select=["db-healthcheck", "depends-healthy"])
    out = changed_text(result, "compose.yaml")
    assert out.startswith("x-deps: &deps\n  - db\nservices:\n")
    assert out.count("depends_on: *deps") == 2 and "condition" not in out
    skipped = {o.part: o.reason for o in result.outcomes if o.transform == "depends-healthy" and o.status == "skipped"}
    assert set(skipped) == {"app", "worker"} and "&deps" in skipped["app"]


def test_an_edge_that_cannot_wait_says_why(tmp_path):
    """The store's own reason for having no healthcheck is given on the service whose edge
    stays service_started (docker-elk's kibana -> elasticsearch was silent)."""
    folder = copy_fixture("health-more-stores", tmp_path)
    result = harden_run(folder, select=NAMES)
    said = [o.reason for o in result.outcomes
            if o.transform == "depends-healthy" and o.status == "skipped" and o.part == "app"]
    assert said == ["depends_on mssql stays service_started: mssql has no healthcheck to wait for (SQL Server needs "
                    "a login for every probe and its sqlcmd path differs per release; add a healthcheck by hand)"]
    alone = harden_run(folder, select=["depends-healthy"])  # no db-healthcheck: nothing has one
    said = {o.reason.split(":")[0] for o in alone.outcomes if o.status == "skipped" and o.part == "app"}
    assert "depends_on mongo stays service_started" in said
    assert any("harden did not add one here" in o.reason for o in alone.outcomes if o.part == "app")


def test_an_extension_file_in_a_subfolder_is_an_overlay_of_the_base_above(tmp_path):
    """docker-elk: `docker compose -f docker-compose.yml -f extensions/curator/curator-compose.yml`.
    The extension's services all build, but it names elasticsearch and the network elk that only
    the base defines: compose rejects it alone, so it is read on top of the base, its relative
    paths resolve against the base's folder, and its edge waits for the check the base's
    elasticsearch gets."""
    root = tmp_path / "elk"
    files = {
        "docker-compose.yml": (
            "services:\n"
            "  elasticsearch:\n"
            "    image: docker.elastic.co/elasticsearch/elasticsearch:8.13.4\n"
            "    environment:\n"
            "      discovery.type: single-node\n"
            "      xpack.security.enabled: \"false\"\n"
            "    networks:\n"
            "      - elk\n"
            "networks:\n"
            "  elk:\n"
        ),
        "extensions/curator/curator-compose.yml": (
            "services:\n"
            "  curator:\n"
            "    build:\n"
            "      context: extensions/curator/\n"
            "    networks:\n"
            "      - elk\n"
            "    depends_on:\n"
            "      - elasticsearch\n"
        ),
        "extensions/curator/Dockerfile": "FROM untergeek/curator:8.0.21\nENTRYPOINT [\"crond\", \"-f\"]\n",
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    result = harden_run(root, select=NAMES)
    assert not result.errors
    ext = yaml.safe_load(changed_text(result, "extensions/curator/curator-compose.yml"))["services"]["curator"]
    assert ext["depends_on"] == {"elasticsearch": {"condition": "service_healthy"}}
    base = yaml.safe_load(changed_text(result, "docker-compose.yml"))["services"]["elasticsearch"]
    assert "healthcheck" in base
    # the build context is the base's folder + extensions/curator/, not the extension's folder + ...
    assert not any("not found" in (o.reason or "") for o in result.outcomes), result.outcomes
    run = Run(root, Options(select=[]))
    run.load()
    overlay = next(p for p in run.projects if "extensions/curator/curator-compose.yml" in p.rels)
    assert overlay.rels == ["docker-compose.yml", "extensions/curator/curator-compose.yml"]
    assert set(overlay.dockerfiles) == {"curator"}
    # the extension alone is rejected by compose as read (elasticsearch, elk undefined): the
    # safety net does not hold harden's edits to keeping it "valid"
    run._measure_baseline()
    labels = [c.label for c, _before in run._baseline]
    assert "-f extensions/curator/curator-compose.yml" not in labels
    assert "-f docker-compose.yml -f extensions/curator/curator-compose.yml" in labels


def test_depends_on_from_extends_is_edited_once_where_it_is_written(tmp_path):
    """dfir-iris: docker-compose.yml and docker-compose.dev.yml extend app and db from
    docker-compose.base.yml, which writes `depends_on: [db]` once. That file is read as a
    project of its own (on top of docker-compose.yml), where db has a healthcheck: the edit is
    made there, once, and the extenders say nothing. Where no project can make it, the refusal
    names the file and service it comes from."""
    root = tmp_path / "p"
    files = {
        "docker-compose.base.yml": (
            "services:\n"
            "  db:\n"
            "    environment:\n"
            "      - POSTGRES_PASSWORD\n"
            "  app:\n"
            "    command: [\"serve\"]\n"
            "    depends_on:\n"
            "      - \"db\"\n"
        ),
        "docker-compose.yml": (
            "services:\n"
            "  db:\n"
            "    extends:\n      file: docker-compose.base.yml\n      service: db\n"
            "    image: postgres:16\n"
            "  app:\n"
            "    extends:\n      file: docker-compose.base.yml\n      service: app\n"
            "    image: example/app:1\n"
        ),
        "docker-compose.dev.yml": (
            "services:\n"
            "  db:\n"
            "    extends:\n      file: docker-compose.base.yml\n      service: db\n"
            "    image: postgres:16-alpine\n"
            "  app:\n"
            "    extends:\n      file: docker-compose.base.yml\n      service: app\n"
            "    image: example/app:dev\n"
        ),
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    result = harden_run(root, select=NAMES)
    assert not result.errors
    base = yaml.safe_load(changed_text(result, "docker-compose.base.yml"))["services"]["app"]
    assert base["depends_on"] == {"db": {"condition": "service_healthy"}}
    for rel in ("docker-compose.yml", "docker-compose.dev.yml"):
        assert "healthcheck" in yaml.safe_load(changed_text(result, rel))["services"]["db"]
    skipped = [o for o in result.outcomes if o.transform == "depends-healthy" and o.status == "skipped"]
    assert skipped == []
    # control: the dev file's db loses its image, so its check cannot exist there and the
    # shared edit cannot be made for every extender; the refusal says where depends_on is written
    (root / "docker-compose.dev.yml").write_text(files["docker-compose.dev.yml"].replace(
        "    image: postgres:16-alpine\n", "    image: example/unknown-store:1\n"))
    result = harden_run(root, select=NAMES)
    said = {o.reason for o in result.outcomes if o.transform == "depends-healthy" and o.status == "skipped"}
    assert any("(docker-compose.base.yml, service app)" in r for r in said), said
    text = changed_text(result, "docker-compose.base.yml")
    assert "condition" not in text


def test_an_overlay_gets_the_depends_on_its_base_file_does_not_write(tmp_path):
    """The base file only names the services; the overlay says app uses db. The wait goes into
    the overlay (compose adds it to the base file's app), whose own project gave db its
    healthcheck in the base file; the base file gets nothing else from this overlay."""
    from harden_testlib import assert_compose_valid, compose_config, compose_model, write_files

    base = "services:\n  app:\n    image: example/app:1\n  db:\n    image: postgres:16\n"
    overlay = ("services:\n  app:\n    ports:\n      - '8000:8000'\n    environment:\n"
               "      DATABASE_URL: postgres://u:p@db:5432/app\n  db:\n    environment:\n      POSTGRES_PASSWORD: x\n")
    root = write_files(tmp_path / "p", {"compose.yaml": base, "compose.prod.yaml": overlay})
    res = harden_run(root, select=["db-healthcheck", "depends-healthy"])
    assert not res.errors
    for f in res.changed_files:
        f.path.write_text(f.after)
    assert "depends_on" not in (root / "compose.yaml").read_text()
    over = yaml.safe_load((root / "compose.prod.yaml").read_text())
    assert over["services"]["app"]["depends_on"] == {"db": {"condition": "service_healthy"}}
    note = [n for n in res.notes if n.transform == "depends-healthy" and "added depends_on db" in n.message]
    assert note and (note[0].file, note[0].line) == ("compose.prod.yaml", 2)
    files = [root / "compose.yaml", root / "compose.prod.yaml"]
    assert_compose_valid(compose_config(root, files))
    model = compose_model(root, files)
    assert model["services"]["app"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert model["services"]["db"].get("healthcheck")
    assert not harden_run(root, select=["db-healthcheck", "depends-healthy"]).changed_files


def _write(root, files):
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def test_no_new_depends_on_in_a_service_another_file_extends(tmp_path):
    """docker-compose 1.x refuses to extend a service that has depends_on, from another file
    too ("services with 'depends_on' cannot be extended"): the edge goes to the extending
    service in its own file, not to the extended one."""
    root = tmp_path / "p"
    _write(root, {
        "docker-compose.yml": (
            "services:\n  web:\n    build: .\n    environment:\n      DATABASE_URL: postgres://u:p@db:5432/app\n"
            "    ports:\n      - \"8000:8000\"\n  db:\n    image: postgres:16\n"),
        "docker-compose.staging.yml": (
            "services:\n  web:\n    extends:\n      file: docker-compose.yml\n      service: web\n"
            "    command: [\"gunicorn\", \"app:app\"]\n"
            "  db:\n    extends:\n      file: docker-compose.yml\n      service: db\n"),
        "Dockerfile": "FROM python:3.12-slim\nCOPY . /app\n",
    })
    result = harden_run(root, select=NAMES)
    assert not result.errors
    base = yaml.safe_load(changed_text(result, "docker-compose.yml"))["services"]
    staging = yaml.safe_load(changed_text(result, "docker-compose.staging.yml"))["services"]
    assert "depends_on" not in base["web"]
    assert staging["web"]["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert any("web: not adding depends_on on db: other services extend it" in n.message for n in result.notes)


def test_extends_from_another_file_follows_that_services_own_extends(tmp_path):
    """pycroft: docker-compose.dev.yml extends `dev` of docker-compose.base.yml, which gets its
    build from `extends: dev-base` in that file. The dev file's services have a build through
    that chain: the file stands alone (it is not an overlay harden leaves), and the edge that
    base's `dev` would pass to every extender (`db` is `dev-db` there) is not added."""
    root = tmp_path / "p"
    _write(root, {
        "docker-compose.base.yml": (
            "services:\n"
            "  dev-base:\n    build: .\n    environment:\n      DB_URI: postgresql://u:p@db:5432/app\n"
            "  dev:\n    extends: dev-base\n    volumes:\n      - \".:/app\"\n"
            "  db:\n    image: postgres:16\n    environment:\n      - POSTGRES_PASSWORD=p\n"),
        "docker-compose.dev.yml": (
            "services:\n"
            "  dev-app:\n    extends:\n      file: docker-compose.base.yml\n      service: dev\n"
            "    networks:\n      dev:\n        aliases:\n          - app\n    ports:\n      - \"5000:5000\"\n"
            "  dev-db:\n    extends:\n      file: docker-compose.base.yml\n      service: db\n"
            "    networks:\n      dev:\n        aliases:\n          - db\n"
            "networks:\n  dev:\n"),
        "Dockerfile": "FROM python:3.12-slim\nCOPY . /app\n",
    })
    result = harden_run(root, select=NAMES)
    assert not result.errors
    left = [o for o in result.outcomes if o.transform == "harden" and o.status == "skipped"]
    assert left == [], [o.reason for o in left]
    base = yaml.safe_load(changed_text(result, "docker-compose.base.yml"))["services"]
    assert "depends_on" not in base["dev"] and "depends_on" not in base["dev-base"]
    dev = yaml.safe_load(changed_text(result, "docker-compose.dev.yml"))["services"]
    assert dev["dev-app"]["depends_on"] == {"dev-db": {"condition": "service_healthy"}}
