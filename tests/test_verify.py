"""`harden verify` without an engine: the comparisons, the build-output reading, the model it runs,
the report, and the command line's errors. The end-to-end tests (tests/e2e/test_verify*.py) run it
for real."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harden_testlib import FIXTURES, run_harden
from harden.verify import (RunObs, compare_run, compare_stack_service, created_images, error_lines,
                           json_report, new_errors, sanitize_model, text_report)

RUNNING = RunObs("running")


def exited(code: int, *logs: str) -> RunObs:
    return RunObs("exited", exit_code=code, logs=list(logs))


# --------------------------------------------------------------------------- one service, alone


def test_both_running_is_equivalent():
    v = compare_run(RunObs("running", logs=["listening on 8000"]), RunObs("running", logs=["listening on 8000"]))
    assert v.status == "equivalent" and v.reasons == []


def test_both_exiting_the_same_way_is_equivalent():
    db_error = "MySQLdb.OperationalError: (2005, \"Unknown server host 'mysql' (-2)\")"
    assert compare_run(exited(1, db_error), exited(1, db_error)).status == "equivalent"


def test_running_before_and_dead_after_is_a_regression():
    v = compare_run(RUNNING, exited(1, "Traceback ..."))
    assert v.status == "regression"
    assert v.reasons == ["running before, exited 1 after"]


def test_the_nodemon_regression():
    """What issue 15 saw: npm start runs a pruned devDependency -> sh prints `not found`, exit 127."""
    after = exited(127, "> greeter@0.3.0 start", "sh: 1: ./node_modules/nodemon/bin/nodemon.js: not found")
    v = compare_run(RunObs("running", logs=["[nodemon] starting `node ./app.js`"]), after)
    assert v.status == "regression"
    assert v.reasons[0] == "running before, exited 127 after"
    assert v.reasons[1].startswith("new in the logs: not found: sh: 1: ./node_modules/nodemon/bin/nodemon.js")


@pytest.mark.parametrize("line, category", [
    ("PermissionError: [Errno 13] Permission denied: '/app/data/state.json'", "Permission denied"),
    ("Error: EACCES: permission denied, open '/usr/src/app/logs/app.log'", "EACCES"),
    ("/bin/sh: 1: gunicorn: not found", "not found"),
    ("ModuleNotFoundError: No module named 'flask'", "ModuleNotFoundError"),
    ("Error: Cannot find module 'express'", "cannot find module"),
    ("exec /usr/local/bin/app: exec format error", "exec format error"),
])
def test_a_new_error_in_the_logs_is_a_regression_even_when_both_exit_alike(line, category):
    v = compare_run(exited(1, "connection refused"), exited(1, "connection refused", line))
    assert v.status == "regression", v
    assert any(r.startswith(f"new in the logs: {category}:") for r in v.reasons), v.reasons


def test_an_error_both_sides_show_is_not_new():
    line = "WARNING: config.json not found, using the defaults"
    assert compare_run(RunObs("running", logs=[line]), RunObs("running", logs=[line])).status == "equivalent"
    assert new_errors([line], [line]) == {}
    assert error_lines([line]) == {"not found": line}


def test_exit_127_only_after_is_a_regression_without_a_log_line():
    v = compare_run(exited(1), exited(127))
    assert v.status == "regression" and "127 (not found)" in v.reasons[0]
    v = compare_run(exited(1), exited(126))
    assert v.status == "regression" and "126 (cannot execute)" in v.reasons[0]


def test_other_differences_are_reported_but_are_not_regressions():
    v = compare_run(exited(1), exited(2))
    assert v.status == "differs" and v.reasons == ["exited 1 before, 2 after"]
    v = compare_run(exited(1), RUNNING)
    assert v.status == "differs" and "runs after hardening" in v.reasons[0]


def test_a_start_that_fails_only_after_is_a_regression():
    v = compare_run(RUNNING, RunObs("not-started", error="Error response from daemon: unable to find user app"))
    assert v.status == "regression" and "does not start after hardening" in v.reasons[0]


def test_an_original_that_does_not_start_cannot_be_compared():
    v = compare_run(RunObs("not-started", error="network traefik-public declared as external, but could not be found"),
                    RunObs("not-started", error="network traefik-public declared as external, but could not be found"))
    assert v.status == "not-verified"


def test_healthy_before_unhealthy_after_and_oom():
    assert compare_run(RunObs("running", health="healthy"), RunObs("running", health="unhealthy")).status == "regression"
    assert compare_run(RunObs("running", health="healthy"), RunObs("running", health="starting")).status == "equivalent"
    v = compare_run(RUNNING, RunObs("exited", exit_code=137, oom=True))
    assert v.status == "regression" and "killed for memory after hardening" in v.reasons


# --------------------------------------------------------------------------- the stack


def test_stack_db_that_does_not_turn_healthy():
    v = compare_stack_service("db", RUNNING, RunObs("running", health="starting"))
    assert v.status == "regression" and v.reasons == ["does not turn healthy (starting)"]
    v = compare_stack_service("db", RUNNING, RunObs("running", health="healthy"))
    assert v.status == "equivalent"


def test_stack_dependent_that_started_before_its_db_was_healthy():
    db = RunObs("running", health="healthy", first_healthy="2025-01-01T10:00:20.123456789Z")
    early = RunObs("running", started_at="2025-01-01T10:00:05.5Z")
    late = RunObs("running", started_at="2025-01-01T10:00:21Z")
    v = compare_stack_service("web", RUNNING, early, waits_for={"db": db})
    assert v.status == "regression" and v.reasons == ["started before db was healthy (service_healthy)"]
    assert compare_stack_service("web", RUNNING, late, waits_for={"db": db}).status == "equivalent"
    # when the probe history no longer tells when it turned healthy, nothing is claimed
    unknown = RunObs("running", health="healthy", first_healthy=None)
    assert compare_stack_service("web", RUNNING, early, waits_for={"db": unknown}).status == "equivalent"


def test_stack_more_restarts_after_is_a_regression():
    v = compare_stack_service("worker", RunObs("running", restarts=0), RunObs("running", restarts=3))
    assert v.status == "regression" and v.reasons == ["restarted 3 times after hardening, 0 before"]
    assert compare_stack_service("worker", RunObs("running", restarts=2), RunObs("running", restarts=2)).status == "equivalent"


def test_stack_profile_moves_and_improvements():
    v = compare_stack_service("adminer", RUNNING, None, after_profiles=["dev"])
    assert v.status == "expected" and v.reasons == ["no longer started by a plain `up` (profiles: dev)"]
    v = compare_stack_service("bot", exited(1, "Can't connect to MySQL server"), RunObs("running"))
    assert v.status == "equivalent" and v.reasons == ["exited 1 before, runs after hardening"]
    v = compare_stack_service("migrate", exited(0), exited(1))
    assert v.status == "regression" and v.reasons == ["exited 0 before, 1 after"]
    v = compare_stack_service("web", RUNNING, RunObs("missing", error="dependency failed to start: container db is unhealthy"))
    assert v.status == "regression" and "not started after hardening" in v.reasons[0]


# --------------------------------------------------------------------------- reading the builder


CLASSIC_OUTPUT = """\
Step 1/9 : FROM python:3.12 AS builder
 ---> ba044f5f8021
Step 2/9 : WORKDIR /app
 ---> Using cache
 ---> 1111aaaa2222
Step 3/9 : RUN python3 -m venv /opt/venv
 ---> Running in 0a1b2c3d4e5f
Removing intermediate container 0a1b2c3d4e5f
 ---> 3333bbbb4444
Step 4/9 : COPY requirements.txt .
 ---> 5555cccc6666
Step 5/9 : FROM python:3.12-slim AS production
 ---> a4b9d630b107
Step 6/9 : COPY --from=builder /opt/venv /opt/venv
 ---> 7777dddd8888
Step 7/9 : FROM builder
 ---> 5555cccc6666
Step 8/9 : USER 10001:10001
 ---> Running in 9999eeee0000
Removing intermediate container 9999eeee0000
 ---> abcdefabcdef
Step 9/9 : LABEL harden.verify=1234
 ---> Running in 121212121212
 ---> fedcbafedcba
Successfully built fedcbafedcba
Successfully tagged harden-verify-1234-0:before
"""


def test_created_images_are_the_layers_this_build_made():
    # not the FROM images, not layers taken from the cache, each id once
    assert created_images(CLASSIC_OUTPUT) == ["3333bbbb4444", "5555cccc6666", "7777dddd8888", "abcdefabcdef",
                                              "fedcbafedcba"]


# --------------------------------------------------------------------------- the model it runs


def test_sanitized_model_runs_beside_the_users_own_stack():
    model = {
        "name": "shop",
        "services": {
            "web": {"build": {"context": "/tmp/x/after/shop", "dockerfile": "Dockerfile"}, "image": "shop-web",
                    "container_name": "shop-web", "ports": [{"target": 80, "published": "8080"}],
                    "pull_policy": "build", "entrypoint": None, "command": None,
                    "volumes": [{"type": "volume", "source": "data", "target": "/data"}]},
            "db": {"image": "postgres:16", "ports": [{"target": 5432, "published": "5432"}], "command": ["postgres"]},
        },
        "volumes": {"data": {"name": "shop_data"}, "shared": {"name": "shared-data", "external": True}},
        "networks": {"default": {"name": "shop_default"}, "proxy": {"name": "traefik", "external": True}},
    }
    m = sanitize_model(model, {"web": "harden-verify-1234-0:after"})
    web, db = m["services"]["web"], m["services"]["db"]
    assert web["image"] == "harden-verify-1234-0:after" and "build" not in web
    for gone in ("container_name", "ports", "pull_policy", "entrypoint", "command"):
        assert gone not in web, gone
    assert "ports" not in db and db["command"] == ["postgres"] and db["image"] == "postgres:16"
    assert "name" not in m
    # project-scoped names (not the user's shop_data), external ones as they are
    assert m["volumes"] == {"data": {}, "shared": {"name": "shared-data", "external": True}}
    assert m["networks"] == {"default": {}, "proxy": {"name": "traefik", "external": True}}
    assert model["services"]["web"]["ports"], "the input model is not changed"


# --------------------------------------------------------------------------- the report


def _report(**over) -> dict:
    obs_b = {"state": "running", "exit_code": None, "health": None, "restarts": 0, "started_at": None,
             "error": None, "oom": False, "describe": "running", "logs": ["[nodemon] starting `node ./app.js`"]}
    obs_a = {**obs_b, "state": "exited", "exit_code": 127, "describe": "exited 127",
             "logs": ["sh: 1: ./node_modules/nodemon/bin/nodemon.js: not found"]}
    built = {"ok": True, "seconds": 4.7, "user": "", "user_display": "root", "size": 836_000_000,
             "compilers": ["gcc", "cc"], "error": None, "missing_image": False, "output_tail": []}
    rep = {
        "version": 1, "path": "greeter", "compose": "docker compose 2.26.1", "hardened": None,
        "changed_files": ["Dockerfile"], "harden_failed": [], "wait_seconds": 20.0,
        "compose_projects": [{"files": ["docker-compose.yml"], "error": None}],
        "images": [{"dockerfile": "Dockerfile", "services": ["web"], "standalone": False, "target": None, "args": {},
                    "before": built, "after": {**built, "user": "1000:1000", "user_display": "1000:1000",
                                               "size": 394_000_000, "compilers": []}}],
        "services": [{"name": "web", "compose_project": "docker-compose.yml", "service": "web", "image": "Dockerfile",
                      "compose_user": None, "before": obs_b, "after": obs_a, "verdict": "regression",
                      "reasons": ["running before, exited 127 after"]}],
        "stack": None, "regressions": ["web: running before, exited 127 after"], "not_verified": [], "notes": [],
        "cleanup": {"containers": 2, "networks": 2, "volumes": 0, "images": 3},
        "result": "regression", "exit_code": 1, "seconds": 35.2,
    }
    rep.update(over)
    return rep


def test_text_report_shows_builds_users_sizes_compilers_logs_and_the_result():
    text = text_report(_report())
    assert "  Dockerfile -> web\n" in text
    assert "    user      root                        1000:1000\n" in text
    assert "    size      836 MB                      394 MB\n" in text
    assert "    compiler  gcc, cc                     none\n" in text
    assert "web  regression   before: running                after: exited 127" in text
    assert "| sh: 1: ./node_modules/nodemon/bin/nodemon.js: not found" in text
    assert "Result: REGRESSION (1):\n  - web: running before, exited 127 after\n" in text
    assert text.endswith("Exit 1 (35 s).\n")


def test_text_report_nothing_to_verify_and_incomplete():
    text = text_report(_report(changed_files=[], images=[], services=[], regressions=[], exit_code=0))
    assert "harden changes nothing here" in text and "Result: nothing to verify" in text
    text = text_report(_report(regressions=[], not_verified=["Dockerfile: its base image is not available here: x"],
                               exit_code=2))
    assert "Result: could not verify everything (1):\n  - Dockerfile: its base image" in text


def test_json_report_round_trips():
    rep = _report()
    assert json.loads(json_report(rep)) == rep


# --------------------------------------------------------------------------- the command line


def test_verify_without_an_engine_is_one_line_and_exit_2(tmp_path):
    proj = tmp_path / "p"
    shutil.copytree(FIXTURES / "node-nodemon-start", proj)
    if shutil.which("docker"):
        env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"}
        p = subprocess.run([sys.executable, "-m", "harden", "verify", str(proj)], capture_output=True, text=True,
                           env=env, timeout=120)
        assert p.returncode == 2, (p.stdout, p.stderr)
        assert p.stderr.startswith("harden: error: verify: no Docker engine reachable: ") and p.stderr.count("\n") == 1, p.stderr
        assert p.stdout == ""
    env = {**os.environ, "PATH": str(tmp_path / "empty-bin")}
    p = subprocess.run([sys.executable, "-m", "harden", "verify", str(proj)], capture_output=True, text=True, env=env,
                       timeout=120)
    assert p.returncode == 2 and p.stderr == "harden: error: verify: no docker CLI on PATH: verify needs a Docker engine\n"
    assert sorted(x.name for x in proj.iterdir()) == sorted(x.name for x in (FIXTURES / "node-nodemon-start").iterdir())


@pytest.mark.parametrize("args, message", [
    (["--format", "sarif"], "--format: unknown format 'sarif' (use text, json)"),
    (["--wait", "0"], "--wait: must be more than 0 seconds"),
    (["--select", "nope"], None),
])
def test_verify_option_errors(tmp_path, args, message):
    p = run_harden("verify", str(FIXTURES / "node-nodemon-start"), *args)
    assert p.returncode == 2 and p.stderr.count("\n") == 1, p.stderr
    if message:
        assert p.stderr == f"harden: error: {message}\n"


def test_verify_hardened_must_be_a_folder(tmp_path):
    p = run_harden("verify", str(FIXTURES / "node-nodemon-start" / "Dockerfile"), "--hardened", str(tmp_path))
    assert p.returncode == 2 and p.stderr == "harden: error: --hardened: PATH and DIR must both be folders\n"


def test_verify_is_listed_in_help_and_loads_lazily():
    p = run_harden("--help")
    assert p.returncode == 0 and "verify" in p.stdout
    code = ("import sys\nimport harden.cli\nprint('harden.verify' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr


def test_log_timestamps_sort_to_the_nanosecond():
    from harden.verify import _ns_key

    stamps = ["2026-12-05T01:33:01.000000002Z", "2026-12-05T01:33:01.000000001Z", "2026-12-05T01:33:00.9Z",
              "2026-12-05T01:33:01Z"]
    assert sorted(stamps, key=_ns_key) == ["2026-12-05T01:33:00.9Z", "2026-12-05T01:33:01Z",
                                           "2026-12-05T01:33:01.000000001Z", "2026-12-05T01:33:01.000000002Z"]
