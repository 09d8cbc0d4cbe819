"""`harden verify` under a real engine: the three examples with --stack, the nodemon regression of
issue 15 (as harden split it before the fix, and as it does now), projects broken by hand that
verify must report, a base image that is not there (exit 2), and Ctrl-C (nothing left behind).

verify is run as users run it (`python -m harden verify --format json`), and after every run the
engine is searched for anything carrying the run's label or names (verify_lib.leftovers)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import e2e_lib
from harden_testlib import FIXTURES, write_files
from verify_lib import leftovers, run_label, run_verify, stack_verdicts, verdicts

pytestmark = pytest.mark.e2e

EXAMPLES = e2e_lib.EXAMPLES
# seconds each service runs before it is judged (the default is 20; these start within 2 s)
WAIT = "10"
# the DB each example's stack must bring up healthy after hardening
STORES = {"seed-stack": ["mysql"], "flask-postgres-redis": ["db", "redis"], "node-express": ["mysql"]}


@pytest.fixture(scope="module")
def engine(docker_engine) -> None:
    problem = e2e_lib.compose_problem()
    if problem:
        e2e_lib.skip_or_fail(problem)
    if subprocess.run(["docker", "image", "inspect", "node:18", "node:18-slim"], capture_output=True).returncode:
        e2e_lib.skip_or_fail("stand-in aliases node:18/node:18-slim missing (run sudo .ci/e2e.sh)")


# --------------------------------------------------------------------------- the examples, --stack


@pytest.mark.parametrize("example", sorted(STORES))
def test_examples_verify_equivalent_with_stack(engine, example):
    proc, rep = run_verify("--stack", "--wait", WAIT, str(EXAMPLES / example))
    assert rep is not None, proc.stderr
    assert proc.returncode == 0, (rep["regressions"], rep["not_verified"], proc.stderr[-3000:])
    assert rep["result"] == "equivalent" and rep["regressions"] == [] and rep["not_verified"] == []
    assert "Dockerfile" in rep["changed_files"]
    # every image was built both ways: root with a compiler before, non-root without one after
    assert rep["images"], rep
    for img in rep["images"]:
        b, a = img["before"], img["after"]
        assert b["ok"] and a["ok"], img
        assert b["user"] == "" and "gcc" in b["compilers"], b
        assert a["user"] not in ("", "root", "0") and a["compilers"] == [], a
        assert a["size"] < b["size"], (example, b["size"], a["size"])
    assert rep["services"] and set(verdicts(rep).values()) == {"equivalent"}, verdicts(rep)
    # the whole stack came up both ways; the stores turned healthy after hardening
    assert rep["stack"]["up"]["before"]["ok"] and rep["stack"]["up"]["after"]["ok"]
    sv = stack_verdicts(rep)
    assert set(sv.values()) <= {"equivalent", "expected"}, sv
    by_name = {s["service"]: s for s in rep["stack"]["services"]}
    for store in STORES[example]:
        assert by_name[store]["after"]["health"] == "healthy", by_name[store]
    # dev tools moved to the dev profile are reported as such, not as missing
    for s in rep["stack"]["services"]:
        if s["verdict"] == "expected":
            assert s["after"] is None and "profiles: dev" in s["reasons"][0], s
    assert rep["cleanup"]["containers"] > 0 and rep["cleanup"]["images"] >= 2, rep["cleanup"]
    assert leftovers(run_label(proc.stderr)) == []


# --------------------------------------------------------------------------- issue 15: nodemon

# What split-stages wrote for tests/fixtures/node-nodemon-start before it followed compose's
# `command: npm start` into package.json (commit efc29fd, `harden diff`): dev dependencies are
# pruned, and the start script runs ./node_modules/nodemon/bin/nodemon.js.
NODEMON_SPLIT_BEFORE_THE_FIX = """\
FROM node:18 AS builder

# Create app directory
WORKDIR /usr/src/app

# Install app dependencies
COPY package*.json ./
RUN npm install
# hadolint ignore=DL3059
RUN npm prune --omit=dev

FROM node:18-slim AS production

# Create app directory
WORKDIR /usr/src/app

COPY --from=builder /usr/src/app /usr/src/app

# Bundle app source
COPY . .
USER 1000:1000

EXPOSE 8080
CMD [ "node", "app.js" ]
"""


def test_nodemon_split_as_before_the_fix_is_a_regression(engine, tmp_path):
    hardened = tmp_path / "node-nodemon-start"
    shutil.copytree(FIXTURES / "node-nodemon-start", hardened)
    (hardened / "Dockerfile").write_text(NODEMON_SPLIT_BEFORE_THE_FIX)
    proc, rep = run_verify("--wait", WAIT, "--hardened", str(hardened), str(FIXTURES / "node-nodemon-start"))
    assert rep is not None, proc.stderr
    assert proc.returncode == 1, (rep["regressions"], rep["not_verified"])
    web = next(s for s in rep["services"] if s["name"] == "web")
    assert web["verdict"] == "regression"
    assert web["before"]["state"] == "running", web["before"]
    assert web["after"]["state"] == "exited" and web["after"]["exit_code"] == 127, web["after"]
    assert "running before, exited 127 after" in web["reasons"]
    assert any("not found" in r and "node_modules/nodemon/bin/nodemon.js" in r for r in web["reasons"]), web["reasons"]
    assert any("nodemon.js: not found" in ln for ln in web["after"]["logs"]), web["after"]["logs"]
    assert leftovers(run_label(proc.stderr)) == []


def test_nodemon_fixture_is_equivalent_with_the_fix(engine):
    proc, rep = run_verify("--wait", WAIT, str(FIXTURES / "node-nodemon-start"))
    assert rep is not None, proc.stderr
    assert proc.returncode == 0, (rep["regressions"], rep["not_verified"])
    assert verdicts(rep) == {"web": "equivalent"}
    web = rep["services"][0]
    assert web["before"]["state"] == web["after"]["state"] == "running"
    assert any("greeter listening on 8080" in ln for ln in web["after"]["logs"]), web["after"]["logs"]
    # split-stages split it and kept the dev dependencies (no prune: the start runs nodemon); the user added
    img = rep["images"][0]
    assert img["after"]["user"] == "1000:1000" and img["before"]["user"] == ""
    assert leftovers(run_label(proc.stderr)) == []


# --------------------------------------------------------------------------- broken by hand

APP = """\
import http.server
import os

os.makedirs("/app/data", exist_ok=True)
with open("/app/data/started", "w") as f:  # the app keeps its state beside its code
    f.write(str(os.getpid()))
print("state written, serving on 8000", flush=True)
http.server.ThreadingHTTPServer(("0.0.0.0", 8000), http.server.SimpleHTTPRequestHandler).serve_forever()
"""
DOCKERFILE = """\
FROM python:3.12-slim
WORKDIR /app
COPY app.py .
RUN mkdir -p /app/data
CMD ["python3", "app.py"]
"""
COMPOSE = """\
services:
  web:
    build: .
    environment:
      PYTHONUNBUFFERED: "1"
    ports:
      - "${WEB_PORT:-8000}:8000"
"""


def test_a_user_who_cannot_write_its_data_folder_is_a_regression(engine, tmp_path):
    """Hardened by hand the careless way: USER without making /app/data writable. The container
    dies with PermissionError where the original kept serving; verify must say so (exit 1)."""
    original = write_files(tmp_path / "orig" / "state-app", {"app.py": APP, "Dockerfile": DOCKERFILE,
                                                             "compose.yaml": COMPOSE})
    broken = write_files(tmp_path / "hard" / "state-app", {
        "app.py": APP, "compose.yaml": COMPOSE,
        "Dockerfile": DOCKERFILE.replace('CMD ["python3"', 'RUN useradd --system --uid 10001 app\n'
                                         'USER 10001:10001\nCMD ["python3"')})
    proc, rep = run_verify("--wait", WAIT, "--hardened", str(broken), str(original))
    assert rep is not None, proc.stderr
    assert proc.returncode == 1, rep
    web = rep["services"][0]
    assert web["verdict"] == "regression", web
    assert web["before"]["state"] == "running" and web["after"]["state"] == "exited", web
    assert any(r.startswith("new in the logs: Permission denied: PermissionError: [Errno 13] Permission denied")
               for r in web["reasons"]), web["reasons"]
    assert rep["images"][0]["after"]["user"] == "10001:10001"
    assert rep["regressions"] and rep["regressions"][0].startswith("web: running before, exited 1 after")
    # the same project, hardened properly, is equivalent: the check above is about the bug
    fixed = write_files(tmp_path / "fixed" / "state-app", {
        "app.py": APP, "compose.yaml": COMPOSE,
        "Dockerfile": DOCKERFILE.replace('CMD ["python3"', 'RUN useradd --system --uid 10001 app '
                                         '&& chown 10001 /app/data\nUSER 10001:10001\nCMD ["python3"')})
    proc2, rep2 = run_verify("--wait", WAIT, "--hardened", str(fixed), str(original))
    assert proc2.returncode == 0 and verdicts(rep2) == {"web": "equivalent"}, rep2
    for p in (proc, proc2):
        assert leftovers(run_label(p.stderr)) == []


STACK_BEFORE = """\
services:
  web:
    image: python:3.12-slim
    command: ["python3", "-m", "http.server", "8000"]
    depends_on:
      - cache
  cache:
    image: redis:7
"""
# a healthcheck that can never pass (wrong port), and a dependent waiting for it
STACK_BROKEN = """\
services:
  web:
    image: python:3.12-slim
    command: ["python3", "-m", "http.server", "8000"]
    depends_on:
      cache:
        condition: service_healthy
  cache:
    image: redis:7
    healthcheck:
      test: ["CMD", "redis-cli", "-p", "6390", "ping"]
      interval: 1s
      timeout: 2s
      retries: 3
"""


def test_stack_with_a_healthcheck_that_never_passes_is_a_regression(engine, tmp_path):
    original = write_files(tmp_path / "orig" / "cache-app", {"compose.yaml": STACK_BEFORE})
    broken = write_files(tmp_path / "hard" / "cache-app", {"compose.yaml": STACK_BROKEN})
    proc, rep = run_verify("--stack", "--wait", "5", "--hardened", str(broken), str(original))
    assert rep is not None, proc.stderr
    assert proc.returncode == 1, rep
    assert rep["images"] == [] and rep["services"] == []  # nothing is built: compose-only
    st = rep["stack"]
    assert st["up"]["before"]["ok"] and not st["up"]["after"]["ok"], st["up"]
    sv = stack_verdicts(rep)
    assert sv == {"web": "regression", "cache": "regression"}, sv
    by = {s["service"]: s for s in st["services"]}
    assert by["cache"]["after"]["health"] == "unhealthy" and by["cache"]["reasons"] == ["does not turn healthy (unhealthy)"]
    assert by["web"]["before"]["state"] == "running" and by["web"]["after"]["state"] in ("created", "missing"), by["web"]
    assert any(r.startswith("stack: `up` fails after hardening") for r in rep["regressions"]), rep["regressions"]
    assert leftovers(run_label(proc.stderr)) == []


# --------------------------------------------------------------------------- could not run


def test_a_base_image_that_is_not_here_is_exit_2_with_one_line(engine, tmp_path):
    df = "FROM python:3.0-harden-verify-no-such-tag\nWORKDIR /app\nCOPY app.py .\nCMD [\"python3\", \"app.py\"]\n"
    original = write_files(tmp_path / "orig" / "p", {"app.py": "print('hi')\n", "Dockerfile": df, "compose.yaml":
                                                     "services:\n  app:\n    build: .\n"})
    hard = write_files(tmp_path / "hard" / "p", {"app.py": "print('hi')\n", "compose.yaml": "services:\n  app:\n    build: .\n",
                                                 "Dockerfile": df.replace("CMD", "USER 10001\nCMD")})
    proc = subprocess.run([sys.executable, "-m", "harden", "verify", "--hardened", str(hard), str(original)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    last = proc.stderr.splitlines()[-1]
    assert last.startswith("harden: error: verify: could not verify everything: Dockerfile: its base image is not "
                           "available here: "), proc.stderr
    assert [ln for ln in proc.stderr.splitlines() if ln.startswith("harden: error")] == [last]
    assert "Result: could not verify everything (1):" in proc.stdout
    assert leftovers(run_label(proc.stderr)) == []


# --------------------------------------------------------------------------- Ctrl-C


SLOW_DOCKERFILE = """\
FROM python:3.12-slim
WORKDIR /app
RUN echo {token} && sleep 40
COPY app.py .
CMD ["python3", "app.py"]
"""


@pytest.mark.parametrize("moment", ["building", "watching"])
def test_ctrl_c_leaves_nothing_behind(engine, tmp_path, moment):
    """SIGINT while an image builds (a RUN is running in a build container) or while the services
    run: verify removes what it made and exits 130."""
    token = f"harden-verify-ctrl-c-{os.getpid()}-{moment}"
    app = "import time\nprint('up', flush=True)\ntime.sleep(600)\n"
    original = write_files(tmp_path / "orig" / "slow", {
        "app.py": app, "compose.yaml": "services:\n  app:\n    build: .\n",
        "Dockerfile": SLOW_DOCKERFILE.format(token=token) if moment == "building" else DOCKERFILE.replace("app.py .", "app.py .")})
    hard = write_files(tmp_path / "hard" / "slow", {
        "app.py": app, "compose.yaml": "services:\n  app:\n    build: .\n",
        "Dockerfile": (SLOW_DOCKERFILE.format(token=token) if moment == "building" else DOCKERFILE).replace(
            "CMD", "USER 65534\nCMD")})
    proc = subprocess.Popen([sys.executable, "-m", "harden", "verify", "--wait", "120", "--hardened", str(hard),
                             str(original)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            # as a terminal's foreground process gets it: a test run started in the
                            # background by a shell without job control inherits SIGINT ignored
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    seen: list[str] = []
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            seen.append(line)
            if moment == "building" and line.startswith("verify: building Dockerfile before"):
                time.sleep(8)  # the RUN sleep is running in a build container now
                break
            if moment == "watching" and "watching for" in line:
                time.sleep(3)
                break
        assert proc.poll() is None, "".join(seen)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    err = "".join(seen) + err
    print(err)
    assert proc.returncode == 130, err
    assert err.rstrip().endswith("harden: error: interrupted"), err[-2000:]
    assert "verify: cleaning up" in err
    assert leftovers(run_label(err)) == []
    if moment == "building":
        ps = subprocess.run(["docker", "ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Command}}"],
                            capture_output=True, text=True).stdout
        assert token not in ps, f"a build container of the interrupted build is left:\n{ps}"
