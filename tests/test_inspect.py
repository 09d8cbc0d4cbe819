"""`harden inspect`: role, port, talks_to, egress and file:line evidence per compose service.

Snapshots (text and JSON) of realistic projects, the JSON shape checked field by field, the
config overrides, one-line errors, nothing written, lazy imports, and the promise behind the
`egress` column: a bot that calls the internet never ends up on internal-only networks after
`harden apply`.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harden_testlib import FIXTURES, REPO, run_harden

EXAMPLES = REPO / "examples"
PROJECTS = {
    "seed-stack": EXAMPLES / "seed-stack",
    "flask-pg-redis": FIXTURES / "inspect-flask-pg-redis",
    "bots": FIXTURES / "inspect-bots",
    "celery": FIXTURES / "inspect-celery",
    "node-express": FIXTURES / "inspect-node-express",
    "reverse-proxy": FIXTURES / "inspect-reverse-proxy",
}
ROLES = {"web", "worker", "database", "cache", "queue", "proxy", "devtool", "other"}
EVIDENCE = re.compile(r"^(?P<file>[^:\s][^:]*?)(?::(?P<line>\d+))?: (?P<what>\S.*)$")


def _copy(tmp_path: Path, name: str) -> Path:
    dest = tmp_path / name
    shutil.copytree(PROJECTS[name], dest, symlinks=True)
    return dest


def _inspect(path: Path, *args: str) -> subprocess.CompletedProcess:
    p = run_harden("inspect", str(path), *args)
    assert p.returncode == 0, (p.returncode, p.stderr)
    assert p.stderr == "", p.stderr
    return p


def _json(path: Path, *args: str) -> dict:
    return json.loads(_inspect(path, "--format", "json", *args).stdout)


def _by_name(data: dict) -> dict[str, dict]:
    return {s["name"]: s for s in data["services"]}


def _tree(path: Path) -> dict[str, str]:
    return {p.relative_to(path).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file()}


def _compose_services(path: Path) -> list[tuple[str, str]]:
    """(project folder, service) of every compose file under path, in compose order."""
    out = []
    for f in sorted(path.rglob("*compose*.y*ml")):
        data = yaml.safe_load(f.read_text())
        folder = f.parent.relative_to(path).as_posix() or "."
        out += [(folder, name) for name in data.get("services") or {}]
    return out


# --------------------------------------------------------------------- snapshots


@pytest.mark.parametrize("name", sorted(PROJECTS))
def test_text_snapshot(name, tmp_path, snap_text):
    assert _inspect(_copy(tmp_path, name)).stdout == snap_text


@pytest.mark.parametrize("name", sorted(PROJECTS))
def test_json_snapshot(name, tmp_path, snap_json):
    assert _inspect(_copy(tmp_path, name), "--format", "json").stdout == snap_json


def test_several_projects_json_snapshot(tmp_path, snap_json):
    for name in ("node-express", "celery", "bots"):
        shutil.copytree(PROJECTS[name], tmp_path / "stacks" / name)
    out = _inspect(tmp_path / "stacks", "--format", "json").stdout
    assert out == snap_json
    data = json.loads(out)
    # stable order: by project, then compose order
    assert [(s["project"], s["name"]) for s in data["services"]] == _compose_services(tmp_path / "stacks")
    assert [s["project"] for s in data["services"]] == sorted(s["project"] for s in data["services"])
    assert all(list(s) == ["project", "name", "role", "port", "talks_to", "egress", "evidence"] for s in data["services"])
    assert all(ev.startswith(s["project"] + "/") for s in data["services"] for ev in s["evidence"])


def test_several_projects_text_has_a_project_column(tmp_path):
    for name in ("node-express", "celery"):
        shutil.copytree(PROJECTS[name], tmp_path / name)
    out = _inspect(tmp_path).stdout
    assert out.splitlines()[0].split() == ["PROJECT", "SERVICE", "ROLE", "PORT", "TALKS", "TO", "EGRESS"]
    assert "\ncelery/worker (celery/docker-compose.yml:8):\n" in out
    assert "\nnode-express/api (node-express/docker-compose.yml:3):\n" in out


# ------------------------------------------------------------------- JSON shape


@pytest.mark.parametrize("name", sorted(PROJECTS))
def test_json_shape_field_by_field(name, tmp_path):
    path = _copy(tmp_path, name)
    data = _json(path)
    assert list(data) == ["services"]
    services = data["services"]
    expected = _compose_services(path)
    assert [s["name"] for s in services] == [n for _, n in expected]
    names = {n for _, n in expected}
    for s in services:
        assert list(s) == ["name", "role", "port", "talks_to", "egress", "evidence"], s  # one project: no "project"
        assert isinstance(s["name"], str) and s["name"] in names
        assert s["role"] in ROLES
        assert s["port"] is None or (type(s["port"]) is int and 1 <= s["port"] <= 65535)
        assert isinstance(s["talks_to"], list) and s["talks_to"] == sorted(set(s["talks_to"]))
        assert all(t in names and t != s["name"] for t in s["talks_to"])
        assert s["egress"] in (True, False, None)
        assert isinstance(s["evidence"], list) and s["evidence"]
        for ev in s["evidence"]:
            m = EVIDENCE.match(ev)
            assert m, ev
            f = path / m["file"]
            assert f.is_file(), f"{ev}: {m['file']} is not a file under PATH"
            if m["line"]:
                n = int(m["line"])
                assert 1 <= n <= len(f.read_text().splitlines()), ev
        # every column is backed by a line of evidence
        for t in s["talks_to"]:
            assert any(f": talks to {t}: " in ev for ev in s["evidence"]), (s["name"], t)
        if s["port"] is not None:
            assert any(f"port = {s['port']}" in ev or f": port {s['port']}: " in ev for ev in s["evidence"]), s
        if s["egress"] is None:
            assert any(": egress unknown: " in ev for ev in s["evidence"]), s


def test_evidence_lines_point_at_what_they_say(tmp_path):
    path = _copy(tmp_path, "seed-stack")
    compose = (path / "docker-compose.yml").read_text().splitlines()
    for s in _json(path)["services"]:
        for ev in s["evidence"]:
            m = EVIDENCE.match(ev)
            text = (path / m["file"]).read_text().splitlines()[int(m["line"]) - 1] if m["line"] else ""
            what = m["what"]
            if what.startswith("talks to") and what.endswith("depends_on"):
                assert text.strip() == "depends_on:", ev
            elif what.startswith("publishes ports") or "side of the first published port" in what:
                assert text.strip() == "ports:", ev
            elif what.startswith("image "):
                assert text.strip().startswith("image:"), ev
            elif "EXPOSE" in what:
                assert text.startswith("EXPOSE"), ev
            elif what.startswith("no published ports"):
                assert text == f"  {s['name']}:", ev
            elif what.startswith("runs python -m"):
                assert text.strip().startswith("command:"), ev
    assert compose[10] == "  bot:"


# ------------------------------------------------------------------- semantics


def test_seed_stack_facts(tmp_path):
    s = _by_name(_json(_copy(tmp_path, "seed-stack")))
    assert (s["web"]["role"], s["web"]["port"], s["web"]["talks_to"], s["web"]["egress"]) == ("web", 8000, ["mysql"], False)
    # the bot shares the web image: EXPOSE 8000 speaks for uvicorn, not for the bot
    assert (s["bot"]["role"], s["bot"]["port"], s["bot"]["egress"]) == ("worker", None, False)
    assert "Dockerfile:15: EXPOSE 8000 is not its port: the app source serves no HTTP" in s["bot"]["evidence"]
    assert "docker-compose.yml:13: runs python -m src.bot" in s["bot"]["evidence"]  # <command> -> compose command
    assert "Dockerfile:16: runs uvicorn src.web:app" in s["web"]["evidence"]  # <command> -> Dockerfile CMD
    assert "src/web.py:9: FastAPI app" in s["web"]["evidence"]
    assert (s["mysql"]["role"], s["mysql"]["port"]) == ("database", 3306)
    assert (s["adminer"]["role"], s["adminer"]["talks_to"]) == ("devtool", ["mysql"])


def test_bots_call_the_internet_from_their_source(tmp_path):
    s = _by_name(_json(_copy(tmp_path, "bots")))
    assert s["discord-bot"]["egress"] is True and s["discord-bot"]["role"] == "worker"
    # no token variable in the compose file: only the source says it talks to Telegram
    tg = s["telegram-bot"]
    assert tg["egress"] is True and tg["talks_to"] == ["redis"]
    assert "compose.yaml:27: the app source calls the internet" in tg["evidence"]
    assert "telegram/bot/app.py:3: imports aiogram (Telegram API)" in tg["evidence"]
    assert s["dashboard"]["egress"] is None  # an image harden cannot read
    assert s["mysql"]["egress"] is False and s["redis"]["egress"] is False


def test_celery_worker_and_node_app(tmp_path):
    c = _by_name(_json(_copy(tmp_path, "celery")))
    assert {n: (c[n]["role"], c[n]["talks_to"]) for n in c} == {
        "dashboard": ("web", ["redis"]), "worker": ("worker", ["redis"]),
        "beat": ("worker", ["redis"]), "redis": ("cache", [])}
    assert c["worker"]["egress"] is True and "proj/tasks.py:7: calls hooks.slack.com" in c["worker"]["evidence"]
    assert c["dashboard"]["port"] == 5000 and c["worker"]["port"] is None
    n = _by_name(_json(_copy(tmp_path, "node-express")))
    assert (n["api"]["role"], n["api"]["port"], n["api"]["talks_to"], n["api"]["egress"]) == ("web", 3000, ["postgres"], True)
    assert "src/routes/orders.js:8: calls api.exchangerate.host" in n["api"]["evidence"]


def test_reverse_proxy_and_config_overrides(tmp_path):
    s = _by_name(_json(_copy(tmp_path, "reverse-proxy")))
    assert (s["caddy"]["role"], s["caddy"]["talks_to"], s["caddy"]["port"]) == ("proxy", ["api", "notes"], 80)
    assert "Caddyfile:3: talks to api: upstream in Caddyfile" in s["caddy"]["evidence"]
    # .harden.toml: [services.api] egress = false; [services.notes] role = "web", port = 8081
    assert s["api"]["egress"] is False and ".harden.toml:3: config: egress = false" in s["api"]["evidence"]
    assert s["notes"]["port"] == 8081  # the config wins over the source's :8080
    assert ".harden.toml:8: config: port = 8081" in s["notes"]["evidence"]
    assert '.harden.toml:7: config: role = "web"' in s["notes"]["evidence"]


def test_config_role_override_changes_the_role_and_says_so(tmp_path):
    path = _copy(tmp_path, "celery")
    assert _by_name(_json(path))["dashboard"]["role"] == "web"
    (path / "pyproject.toml").write_text('[project]\nname = "x"\n\n[tool.harden.services.dashboard]\nrole = "worker"\n')
    d = _by_name(_json(path))["dashboard"]
    assert d["role"] == "worker"
    assert 'pyproject.toml:5: config: role = "worker"' in d["evidence"]


def test_explicit_config_file(tmp_path):
    path = _copy(tmp_path, "celery")
    cfg = tmp_path / "other.toml"
    cfg.write_text("[services.worker]\negress = false\nport = 9000\n")
    w = _by_name(_json(path, "--config", str(cfg)))["worker"]
    assert (w["egress"], w["port"]) == (False, 9000)


@pytest.mark.parametrize("ports, expected", [
    (['"8080:80"'], 80),
    (['"127.0.0.1:${P:-5000}:5001/tcp"'], 5001),
    (['"9000"'], 9000),
    (['"3000-3002:3000-3002"'], 3000),
    (["{target: 8443, published: 443}"], 8443),
    (['"${HOST_PORT}:${APP_PORT:-7000}"'], 7000),
    (['"${HOST_PORT}:${APP_PORT}"'], None),
])
def test_port_from_the_first_published_port(tmp_path, ports, expected):
    (tmp_path / "compose.yaml").write_text(
        "services:\n  app:\n    image: ghcr.io/example/app:1\n    ports:\n" + "".join(f"      - {p}\n" for p in ports))
    app = _json(tmp_path)["services"][0]
    assert app["port"] == expected
    if expected is None:
        assert not any("port" in ev and "publishes" not in ev for ev in app["evidence"]), app["evidence"]


def test_port_from_expose_of_the_stage_that_runs(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM golang:1.22 AS build\nEXPOSE 1111\nFROM debian:12 AS run\nEXPOSE 9090/tcp 9091\n"
                                         "CMD [\"/srv\"]\nFROM debian:12 AS debug\nEXPOSE 2222\n")
    (tmp_path / "compose.yaml").write_text("services:\n  app:\n    build:\n      context: .\n      target: run\n"
                                           "  dbg:\n    build: .\n")
    s = _by_name(_json(tmp_path))
    assert s["app"]["port"] == 9090 and "Dockerfile:4: port 9090: EXPOSE 9090/tcp 9091" in s["app"]["evidence"]
    assert s["dbg"]["port"] == 2222


# ----------------------------------------------------------------- text format


def test_text_table_is_aligned(tmp_path):
    path = _copy(tmp_path, "reverse-proxy")
    out = _inspect(path).stdout
    data = _json(path)["services"]
    table = out.split("\n\n", 1)[0].splitlines()
    head = table[0]
    starts = [head.index(c) for c in ("SERVICE", "ROLE", "PORT", "TALKS TO", "EGRESS")]
    assert starts[0] == 0 and len(table) == 1 + len(data)
    for row, s in zip(table[1:], data):
        for i in starts[1:]:
            assert row[i - 2:i] == "  " and row[i] != " ", (head, row)
        cells = [row[a:b].strip() for a, b in zip(starts, starts[1:] + [None])]
        port = "-" if s["port"] is None else str(s["port"])
        egress = {True: "yes", False: "no", None: "unknown"}[s["egress"]]
        assert cells == [s["name"], s["role"], port, ", ".join(s["talks_to"]) or "-", egress], row
    assert "\n  compose.yaml:4: image caddy:2.8 is caddy (proxy)\n" in out


def test_no_services(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM alpine:3.20\n")
    assert _inspect(tmp_path).stdout == f"no compose services under {tmp_path}\n"
    assert _json(tmp_path) == {"services": []}


# ------------------------------------------------------- errors, writes, imports


def _one_error(p: subprocess.CompletedProcess) -> str:
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert p.stdout == ""
    assert p.stderr.startswith("harden: error: ") and p.stderr.count("\n") == 1 and "Traceback" not in p.stderr, p.stderr
    return p.stderr


def test_bad_input_is_one_line_exit_2(tmp_path):
    assert _one_error(run_harden("inspect", str(tmp_path / "nope"))) == f"harden: error: {tmp_path / 'nope'}: no such file or directory\n"
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    image: [nginx\n")
    assert _one_error(run_harden("inspect", str(tmp_path))).startswith("harden: error: compose.yaml:")
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    image: nginx\n")
    (tmp_path / ".harden.toml").write_text("[services.web]\nrole = 'frontend'\n")
    assert _one_error(run_harden("inspect", str(tmp_path))).startswith(
        "harden: error: .harden.toml:2: [services.web] role: must be one of web, worker")
    assert _one_error(run_harden("inspect", str(tmp_path), "--format", "sarif")) == \
        "harden: error: --format: unknown format 'sarif' (use text, json)\n"


def test_inspect_writes_nothing(tmp_path):
    path = _copy(tmp_path, "reverse-proxy")
    before = _tree(path)
    _inspect(path)
    _inspect(path, "--format", "json")
    assert _tree(path) == before


def test_help_lists_inspect_and_imports_nothing_of_it():
    code = ("import sys\nsys.argv = ['harden', '--help']\nfrom harden.cli import main\n"
            "try:\n    main()\nexcept SystemExit as e:\n    rc = e.code\n"
            "print(rc, sorted(m for m in sys.modules if m.startswith(('harden.inspect', 'harden.roles', 'harden.engine'))),"
            " file=sys.stderr)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert p.stderr.strip() == "0 []", p.stderr
    assert re.search(r"^\s*inspect\s+Show each compose service", p.stdout, re.M), p.stdout


# ------------------------------------------- egress: the bot keeps a way out


def _networks_of(compose: dict, service: str) -> list[str]:
    nets = compose["services"][service].get("networks")
    if nets is None:
        return ["default"]
    return list(nets) if isinstance(nets, (list, dict)) else []


def _internal(compose: dict, net: str) -> bool:
    conf = (compose.get("networks") or {}).get(net)
    return bool(isinstance(conf, dict) and conf.get("internal"))


def _apply(path: Path) -> dict:
    p = run_harden("apply", str(path))
    assert p.returncode == 0, p.stderr
    return yaml.safe_load((path / "compose.yaml").read_text())


BOTS = ("discord-bot", "telegram-bot")


def test_a_bot_that_calls_the_internet_is_never_only_on_internal_networks(tmp_path):
    path = _copy(tmp_path, "bots")
    assert all(_by_name(_json(path))[b]["egress"] is True for b in BOTS)
    compose = _apply(path)
    for bot in BOTS:
        nets = _networks_of(compose, bot)
        assert compose["services"][bot].get("networks") is not None, "networks transform did not place the bot"
        assert nets and not all(_internal(compose, n) for n in nets), (bot, nets, compose.get("networks"))
    # and the stores are still isolated from the public dashboard's side
    assert "frontend" not in _networks_of(compose, "mysql")


def test_the_same_bots_said_offline_do_land_on_internal_networks(tmp_path):
    """Control for the test above: the check does see `internal: true` when egress is off."""
    path = _copy(tmp_path, "bots")
    (path / ".harden.toml").write_text("".join(f"[services.{b}]\negress = false\n\n" for b in BOTS)
                                       + "[services.dashboard]\negress = false\n")
    assert all(_by_name(_json(path))[b]["egress"] is False for b in BOTS)
    compose = _apply(path)
    for bot in BOTS:
        nets = _networks_of(compose, bot)
        assert nets and all(_internal(compose, n) for n in nets), (bot, nets, compose.get("networks"))


# ------------------------------------------- known wrong beliefs (inspect shows them)


def test_a_user_name_is_not_a_host(tmp_path):
    s = _by_name(_json(_copy(tmp_path, "reverse-proxy")))
    assert s["notes-db"]["talks_to"] == []


def test_gunicorn_config_bind_is_the_port(tmp_path):
    s = _by_name(_json(_copy(tmp_path, "flask-pg-redis")))
    assert s["web"]["port"] == 5000
