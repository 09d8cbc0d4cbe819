"""dev-profiles: inline examples, snapshots over fixtures, and what compose makes of the output."""

from __future__ import annotations

from pathlib import Path

import pytest

from harden_testlib import (FIXTURES, assert_compose_valid, changed_text, compose_config, compose_model, copy_fixture,
                            harden_run, write_files)
from harden.config import Options
from harden.engine import run
from harden.transforms.dev_profiles import DevProfiles

SNAP_FIXTURES = ["net-seed", "net-prod-needs-devtool", "net-override", "net-long-ports", "core-seed"]




def _run(tmp_path, files, **opts):
    write_files(tmp_path, files)
    o = Options()
    o.select = ["dev-profiles"]
    o.values.update(opts)
    return run(tmp_path, o)


@pytest.mark.parametrize("example", DevProfiles.examples, ids=lambda e: e.name)
def test_inline_examples(example, tmp_path):
    write_files(tmp_path, example.files)
    res = harden_run(tmp_path, select=["dev-profiles"])
    assert not res.errors
    for f in res.files:
        want = example.expect.get(f.rel, example.files.get(f.rel))
        if want is not None:
            assert f.after == want, f.rel


def test_docstring_has_the_sections():
    doc = DevProfiles.docs()
    for section in ("What it does:", "Why:", "Example:", "Safety:", "When it refuses:"):
        assert section in doc


@pytest.mark.parametrize("name", SNAP_FIXTURES)
def test_snapshot(name, tmp_path, snap_diff):
    from harden.report import unified_diff

    path = copy_fixture(name, tmp_path)
    res = harden_run(path, select=["dev-profiles"])
    assert not res.errors
    assert not [o for o in res.outcomes if o.status == "failed"]
    text = "".join(unified_diff(f.rel, f.before, f.after) for f in res.changed_files)
    extra = [f"# {o.status} [{o.part}] {o.reason}" for o in res.outcomes
             if o.transform == "dev-profiles" and o.status == "skipped"]
    extra += [f"# note {n.file}:{n.line}: {n.message}" for n in res.notes if n.transform == "dev-profiles"]
    assert text + "\n".join(extra) + "\n" == snap_diff


@pytest.mark.parametrize("name", SNAP_FIXTURES)
def test_compose_accepts_the_output_and_only_tools_move(name, tmp_path):
    path = copy_fixture(name, tmp_path)
    res = harden_run(path, select=["dev-profiles"])
    for f in res.changed_files:
        f.path.write_text(f.after)
    files = [f.path for f in sorted((f for f in res.files if f.kind == "compose"),
                                    key=lambda f: ("override" in f.rel, f.rel))]
    assert_compose_valid(compose_config(path, files), name)
    cfg = compose_model(path, files, profiles=["*"])  # every profile: the dev tools too
    default = compose_model(path, files)  # what a plain `up` starts
    from harden.catalog import is_devtool

    moved = [n for n, svc in cfg["services"].items() if "dev" in (svc.get("profiles") or [])]
    assert set(cfg["services"]) - set(default["services"]) == set(moved)
    for name_ in moved:
        svc = cfg["services"][name_]
        assert is_devtool(svc.get("image")), name_
        for p in svc.get("ports") or []:  # long form: {target, published, host_ip, ...}
            assert p.get("host_ip") == "127.0.0.1", p
    again = harden_run(path, select=["dev-profiles"])
    assert not again.changed_files


def test_prod_dependency_keeps_the_tool_in_the_default_profile(tmp_path):
    res = _run(tmp_path, {"compose.yaml": "services:\n  app:\n    build: .\n    links: [mail:smtp]\n"
                                          "  mail:\n    image: maildev/maildev\n  ui:\n    image: adminer\n"})
    out = res.files[0].after
    assert "  ui:\n    image: adminer\n    profiles:\n      - dev\n" in out
    assert "  mail:\n    image: maildev/maildev\n" in out and out.count("profiles") == 1
    assert any(o.part == "mail" and "app (the default profile)" in o.reason for o in res.outcomes if o.reason)
    assert any("--profile dev up" in n.message for n in res.notes)


def test_a_tool_needed_only_by_another_tool_moves_with_it(tmp_path):
    res = _run(tmp_path, {"compose.yaml": "services:\n  pma:\n    image: phpmyadmin/phpmyadmin:5\n"
                                          "    depends_on: [mail]\n  mail:\n    image: mailhog/mailhog\n"})
    assert res.files[0].after.count("profiles:\n      - dev\n") == 2


def test_profile_name_is_an_option_and_role_override_counts(tmp_path):
    write_files(tmp_path, {"compose.yaml": "services:\n  docs:\n    image: acme/docs-preview\n    ports: ['4000:4000']\n"})
    o = Options()
    o.select = ["dev-profiles"]
    o.values["dev_profile"] = "tools"
    o.services = {"docs": {"role": "devtool"}}
    out = run(tmp_path, o).files[0].after
    assert out == ("services:\n  docs:\n    image: acme/docs-preview\n    profiles:\n      - tools\n"
                   "    ports: ['127.0.0.1:4000:4000']\n")


def test_registry_and_namespace_do_not_hide_a_tool(tmp_path):
    res = _run(tmp_path, {"compose.yaml": "services:\n  a:\n    image: docker.io/dpage/pgadmin4:8@sha256:abc\n"
                                          "  b:\n    image: ghcr.io/rediscommander/redis-commander:latest\n"
                                          "  c:\n    image: registry.example.com:5000/mongo-express\n"})
    assert res.files[0].after.count("profiles:") == 3


# ----------------------------------------------------- tools known by the program they start

_APP = "FROM python:3.12-slim\nWORKDIR /app\nCOPY . .\nCMD [\"python\", \"app.py\"]\n"


def test_a_tool_installed_on_a_language_image_is_known_by_its_cmd(tmp_path):
    """`RUN npm i -g maildev` + `CMD maildev` on a node image is MailDev, though the image is
    node's; its build context is the app's folder, whose source is not what runs there."""
    res = _run(tmp_path, {
        "compose.yaml": ("services:\n  api:\n    build: .\n    ports: ['3000:3000']\n  maildev:\n    build:\n"
                         "      context: .\n      dockerfile: maildev.Dockerfile\n    ports:\n      - 1080:1080\n"),
        "Dockerfile": _APP, "app.py": "import psycopg\npsycopg.connect('postgresql://u@db/x')\n",
        "maildev.Dockerfile": "FROM node:22-alpine\n\nRUN npm i -g maildev@2.0.5\n\nCMD maildev\n",
    })
    out = changed_text(res, "compose.yaml")
    assert "      dockerfile: maildev.Dockerfile\n    profiles:\n      - dev\n    ports:\n      - \"127.0.0.1:1080:1080\"\n" in out
    assert "  api:\n    build: .\n    ports: ['3000:3000']\n" in out  # the app is not a tool


@pytest.mark.parametrize("command", ["[npx, prisma, studio]", "npx prisma studio --port 5555",
                                     "[sh, -c, 'yarn prisma studio']"])
def test_a_database_ui_started_by_its_command(tmp_path, command):
    res = _run(tmp_path, {"compose.yaml": ("services:\n  db:\n    image: postgres:16\n  studio:\n    image: acme/app\n"
                                           f"    command: {command}\n    depends_on: [db]\n")})
    assert f"  studio:\n    image: acme/app\n    profiles:\n      - dev\n    command: {command}\n" in res.files[0].after


def test_a_command_that_only_mentions_a_tool_is_not_one(tmp_path):
    res = _run(tmp_path, {"compose.yaml": ("services:\n  app:\n    image: acme/app\n    command: [node, server.js]\n"
                                           "    environment:\n      SMTP_HOST: mailpit\n  mailpit:\n    image: axllent/mailpit\n")})
    out = res.files[0].after
    assert out.count("profiles:") == 1 and "  mailpit:\n    image: axllent/mailpit\n    profiles:\n" in out


def test_a_service_that_sends_to_a_moved_tool_is_named(tmp_path):
    res = _run(tmp_path, {"compose.yaml": ("services:\n  app:\n    image: acme/app\n    environment:\n"
                                           "      SMTP_HOST: mailpit\n  mailpit:\n    image: axllent/mailpit\n")})
    assert any("without it, app (mailpit) cannot reach it" in n.message for n in res.notes)


@pytest.mark.parametrize("rel", ["docker-compose.test.yml", "compose-e2e-test.yml", "docker-compose.relational.ci.yaml",
                                 "tests/compose.yaml"])
def test_a_test_stack_keeps_its_tools(tmp_path, rel):
    """The tests of a test or CI stack read the mail catcher: in a profile it would not start
    and the tests would fail. Left, with the reason."""
    res = _run(tmp_path, {rel: ("services:\n  api:\n    image: acme/app\n    environment:\n      MAIL_HOST: mailhog\n"
                                "  mailhog:\n    image: mailhog/mailhog\n")})
    assert not res.changed_files
    (o,) = [o for o in res.outcomes if o.transform == "dev-profiles" and o.status == "skipped"]
    assert o.status == "skipped" and o.part == "mailhog"
    assert f"{rel} is a test or CI stack" in o.reason and "profiles: [dev]` by hand" in o.reason


def test_a_depends_on_entry_on_a_tool_goes_with_it(tmp_path):
    """`depends_on` only orders the start: the entry goes (the key when it was the only one),
    so compose still starts the app in the default profile; a note names it."""
    res = _run(tmp_path, {"compose.yaml": ("services:\n  worker:\n    image: acme/app\n    depends_on: [mailpit]\n"
                                           "  mailpit:\n    image: axllent/mailpit\n")})
    assert changed_text(res, "compose.yaml") == ("services:\n  worker:\n    image: acme/app\n"
                                                 "  mailpit:\n    image: axllent/mailpit\n    profiles:\n      - dev\n")
    assert any(n.message.startswith("worker: took mailpit out of its depends_on") for n in res.notes)
    assert not [o for o in res.outcomes if o.status in ("skipped", "failed")]


def test_the_entry_goes_after_depends_healthy_rewrote_the_list(tmp_path):
    """The whole run: depends-healthy turns the list into a mapping first; the tool's entry then
    goes with its line and its end-of-line comment, and compose (v2 and 1.x) accepts the result,
    with and without the dev profile. A second run changes nothing."""
    write_files(tmp_path, {"compose.yaml": (
        "services:\n  worker:\n    image: acme/app\n    depends_on:\n      - cache\n"
        "      # mail in development\n      - mailpit  # smtp\n  cache:\n    image: redis:7\n"
        "  mailpit:\n    image: axllent/mailpit\n")})
    res = harden_run(tmp_path)
    out = changed_text(res, "compose.yaml")
    assert "    depends_on:\n      cache:\n        condition: service_healthy\n      # mail in development\n" in out
    assert "mailpit:  #" not in out and "# smtp" not in out and "\n      \n" not in out
    assert "  mailpit:\n    image: axllent/mailpit\n    profiles:\n      - dev\n" in out
    for f in res.changed_files:
        f.path.write_text(f.after)
    assert_compose_valid(compose_config(tmp_path, [tmp_path / "compose.yaml"]), "dropped edge")
    assert "mailpit" not in compose_model(tmp_path, [tmp_path / "compose.yaml"])["services"]
    assert "mailpit" in compose_model(tmp_path, [tmp_path / "compose.yaml"], profiles=["*"])["services"]
    assert not harden_run(tmp_path).changed_files


@pytest.mark.parametrize("app, why", [
    ("    <<: *base\n", "comes from an anchor or `extends`"),
    ("    depends_on:\n      mailpit:\n        condition: service_completed_successfully\n",
     "service_completed_successfully"),
])
def test_a_tool_the_app_needs_for_more_than_order_stays(tmp_path, app, why):
    """An entry shared through an anchor (other services would lose it too) or one that waits
    for the tool to complete stays, and so does the tool, with how to free it."""
    res = _run(tmp_path, {"compose.yaml": ("x-base: &base\n  image: acme/app\n  depends_on: [mailpit]\n"
                                           "services:\n  worker:\n    image: acme/app\n" + app +
                                           "  mailpit:\n    image: axllent/mailpit\n")})
    assert not res.changed_files
    (o,) = [o for o in res.outcomes if o.transform == "dev-profiles" and o.status == "skipped"]
    assert why in o.reason and "take mailpit out of worker's depends_on" in o.reason
    assert "docker-compose 1.x rejects" in o.reason


def test_a_tool_that_uses_its_dependent_keeps_the_entry_and_a_second_run_changes_nothing(tmp_path):
    """A database that waits for its admin UI, which talks to the database: dropping the entry
    would let depends-healthy make the UI wait for the database on the next run (found by the
    property test). The order is the user's to choose: left, with the reason; idempotent."""
    write_files(tmp_path, {"compose.yaml": ("services:\n  adminer:\n    image: adminer\n    environment:\n"
                                            "      - DB_HOST=db\n  db:\n    image: postgres:16\n"
                                            "    depends_on:\n      - adminer\n")})
    res = harden_run(tmp_path)
    (o,) = [o for o in res.outcomes if o.transform == "dev-profiles" and o.status == "skipped"]
    assert "adminer uses db itself" in o.reason
    for f in res.changed_files:
        f.path.write_text(f.after)
    assert "- adminer" in (tmp_path / "compose.yaml").read_text()
    assert not harden_run(tmp_path).changed_files
