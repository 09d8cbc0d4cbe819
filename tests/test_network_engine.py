"""networks + dev-profiles on a real Docker engine.

A small project (MySQL, a python:3.12-slim "web" that publishes a port, a worker that calls the
internet, Adminer) is rewritten with `python -m harden apply` and started with Compose v2
(`docker compose`; docker-compose 1.29 must accept the output too where it is installed):

- a container on `frontend` alone cannot open a TCP connection to the database (by name or by
  its backend address), while one on `backend` can;
- the database's published port is bound to 127.0.0.1, the web port still answers on the host;
- Adminer starts only with `--profile dev`;
- the worker that calls the internet is on at least one network that is not internal.

Skipped when `docker info` fails, unless CI is set (then it fails).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from harden_testlib import V2, assert_compose_valid, compose_clis, compose_config, in_ci

pytestmark = pytest.mark.e2e

ENV = dict(os.environ, DOCKER_BUILDKIT="0", COMPOSE_DOCKER_CLI_BUILD="0", COMPOSE_INTERACTIVE_NO_CLI="1")
IMAGES = ("mysql:8.0", "python:3.12-slim", "adminer")


def _sh(args, timeout=120, check=False, cwd=None):
    p = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=ENV, cwd=cwd)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p


def _engine_problem() -> str | None:
    if shutil.which("docker") is None or V2 not in compose_clis():
        return "docker or Compose v2 (`docker compose`) is not installed"
    try:
        if _sh(["docker", "info"], timeout=20).returncode != 0:
            return "docker info fails"
    except subprocess.TimeoutExpired:
        return "docker info timed out"
    missing = [i for i in IMAGES if _sh(["docker", "image", "inspect", i], timeout=20).returncode != 0]
    if missing:
        return f"stand-in images missing: {missing} (build them with /work/shared/e2e/images.sh)"
    return None


@pytest.fixture(scope="module")
def engine():
    problem = _engine_problem()
    if problem:
        if in_ci():
            pytest.fail(f"CI is set and the engine test cannot run: {problem}", pytrace=False)
        pytest.skip(problem)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


COMPOSE = """\
# e2e: a public web app, a worker that calls out, MySQL and Adminer on one default network
services:
  web:
    image: python:3.12-slim
    command: ["python3", "-m", "http.server", "8000"]
    ports:
      - "{web}:8000"
    environment:
      DB_HOST: db

  worker:
    image: python:3.12-slim
    command: ["python3", "-c", "import time; time.sleep(100000)"]
    environment:
      DB_HOST: db
      WEBHOOK_URL: https://hooks.example.com/notify   # posts to the outside

  db:
    image: mysql:8.0
    environment:
      MYSQL_ROOT_PASSWORD: root
    ports:
      - "{db}:3306"   # local clients

  adminer:
    image: adminer
    ports:
      - "{adminer}:8080"
    depends_on:
      - db
"""

PROBE = ("import socket,sys\n"
         "try:\n"
         "    socket.create_connection((sys.argv[1], 3306), timeout=3).close()\n"
         "except Exception as e:\n"
         "    print(type(e).__name__, e); sys.exit(1)\n"
         "print('connected')\n")


def _probe(network: str, host: str) -> subprocess.CompletedProcess:
    return _sh(["docker", "run", "--rm", "--network", network, "python:3.12-slim", "python3", "-c", PROBE, host],
               timeout=60)


def test_isolation_egress_and_profiles_on_a_real_engine(engine, tmp_path):
    project = f"hardennet{secrets.token_hex(4)}"
    ports = {"web": _free_port(), "db": _free_port(), "adminer": _free_port()}
    folder = tmp_path / "app"
    folder.mkdir()
    (folder / "compose.yaml").write_text(COMPOSE.format(**ports))
    dc = [*compose_clis()[V2], "-p", project, "-f", str(folder / "compose.yaml")]
    applied = subprocess.run([sys.executable, "-m", "harden", "apply", str(folder), "--select", "networks,dev-profiles"],
                             capture_output=True, text=True, timeout=60)
    assert applied.returncode in (0, 1), applied.stderr
    text = (folder / "compose.yaml").read_text()
    assert "networks:" in text and "profiles:" in text, text
    try:
        assert_compose_valid(compose_config(folder, ["compose.yaml"]), "hardened compose.yaml")
        _sh(dc + ["up", "-d"], timeout=180, check=True)
        fe, be = f"{project}_frontend", f"{project}_backend"

        # a plain `up` starts no dev tool
        assert _sh(dc + ["ps", "-q", "adminer"]).stdout.strip() == ""
        running = set(_sh(dc + ["ps", "--services", "--filter", "status=running"]).stdout.split())
        assert {"web", "worker", "db"} <= running and "adminer" not in running, running

        # backend reaches the database (wait for MySQL to listen)
        deadline = time.time() + 120
        while True:
            ok = _probe(be, "db")
            if ok.returncode == 0 or time.time() > deadline:
                break
            time.sleep(3)
        assert ok.returncode == 0, f"a container on {be} cannot reach db:3306: {ok.stdout}{ok.stderr}"

        # frontend alone does not: neither by name nor by the database's backend address
        db_id = _sh(dc + ["ps", "-q", "db"], check=True).stdout.strip()
        info = json.loads(_sh(["docker", "inspect", db_id], check=True).stdout)[0]
        db_nets = info["NetworkSettings"]["Networks"]
        assert set(db_nets) == {be}, f"db is on {sorted(db_nets)}"
        db_ip = db_nets[be]["IPAddress"]
        for host in ("db", db_ip):
            bad = _probe(fe, host)
            assert bad.returncode != 0, f"a container on {fe} reached {host}:3306"

        # the database port is published on 127.0.0.1 only; the web port still answers
        bindings = info["NetworkSettings"]["Ports"]["3306/tcp"]
        assert bindings and all(b["HostIp"] == "127.0.0.1" for b in bindings), bindings
        with urllib.request.urlopen(f"http://127.0.0.1:{ports['web']}/", timeout=10) as r:
            assert r.status == 200

        # the worker that calls out is on a network that is not internal
        w_id = _sh(dc + ["ps", "-q", "worker"], check=True).stdout.strip()
        w_nets = json.loads(_sh(["docker", "inspect", w_id], check=True).stdout)[0]["NetworkSettings"]["Networks"]
        internal = {n: _sh(["docker", "network", "inspect", "-f", "{{.Internal}}", n], check=True).stdout.strip()
                    for n in w_nets}
        assert be in w_nets and any(v == "false" for v in internal.values()), internal

        # with the dev profile Adminer runs, on 127.0.0.1
        _sh(dc + ["--profile", "dev", "up", "-d"], timeout=120, check=True)
        a_id = _sh(dc + ["ps", "-q", "adminer"], check=True).stdout.strip()
        assert a_id
        a_info = json.loads(_sh(["docker", "inspect", a_id], check=True).stdout)[0]
        assert a_info["State"]["Running"]
        assert all(b["HostIp"] == "127.0.0.1" for b in a_info["NetworkSettings"]["Ports"]["8080/tcp"])
    except BaseException:
        logs = _sh(dc + ["logs", "--no-color", "--tail", "50"], timeout=60)
        print(text, "\n--- logs ---\n", logs.stdout[-6000:], logs.stderr[-2000:], file=sys.stderr)
        raise
    finally:
        _sh(dc + ["--profile", "dev", "down", "-v", "--rmi", "local", "--remove-orphans"], timeout=180)
