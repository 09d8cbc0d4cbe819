"""A real engine: a worker that connects to MySQL once at start-up crashes on the original
project and stays up after `python -m harden apply`; the database reports healthy.

Driven with Compose v2 (`docker compose`); the hardened file must pass docker-compose 1.29 too
where it is installed. Marked e2e: skipped when `docker info` fails, unless CI is set (then it fails).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from harden_testlib import V2, assert_compose_valid, compose_clis, compose_config, in_ci

pytestmark = pytest.mark.e2e

COMPOSE = """\
services:
  # MySQL; the worker below needs it at start-up
  db:
    image: mysql:8.0
    environment:
      MYSQL_ROOT_PASSWORD: ${DB_ROOT_PASSWORD:-e2e-root-pw}
      MYSQL_DATABASE: app
  worker:
    image: mysql:8.0
    # connect ONCE, no retry: crash if the database is not ready yet
    entrypoint: ["sh", "-c", "mysql -h db -uroot -e 'select 1' app && echo CONNECTED && exec sleep 3600"]
    environment:
      MYSQL_PWD: ${DB_ROOT_PASSWORD:-e2e-root-pw}
    depends_on:
      - db   # the database
"""

ENV = {**os.environ, "DOCKER_BUILDKIT": "0", "COMPOSE_DOCKER_CLI_BUILD": "0"}


def _engine_problem() -> str | None:
    if shutil.which("docker") is None or V2 not in compose_clis():
        return "docker or Compose v2 (`docker compose`) not installed"
    if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        return "docker info failed: no engine"
    if subprocess.run(["docker", "image", "inspect", "mysql:8.0"], capture_output=True).returncode != 0:
        return "image mysql:8.0 (stand-in) not present"
    return None


@pytest.fixture
def engine():
    problem = _engine_problem()
    if problem:
        if in_ci():
            pytest.fail(problem)
        pytest.skip(problem)


def _dc(project: str, folder: Path, *args: str, timeout: int = 150) -> subprocess.CompletedProcess:
    return subprocess.run([*compose_clis()[V2], "-p", project, *args], cwd=folder, capture_output=True,
                          text=True, env=ENV, timeout=timeout)


def _container(project: str, folder: Path, service: str) -> dict:
    cid = _dc(project, folder, "ps", "-a", "-q", service).stdout.strip()
    assert cid, f"no container for {service}"
    out = subprocess.run(["docker", "inspect", cid], capture_output=True, text=True, check=True).stdout
    return json.loads(out)[0]


def _wait_exit(project: str, folder: Path, service: str, seconds: float) -> dict:
    deadline = time.time() + seconds
    while True:
        info = _container(project, folder, service)
        if not info["State"]["Running"] or time.time() > deadline:
            return info
        time.sleep(1)


def _logs(project: str, folder: Path) -> str:
    return _dc(project, folder, "logs", "--no-color", "--tail", "60").stdout


def test_worker_survives_after_harden(engine, tmp_path):
    folder = tmp_path / "stack"
    folder.mkdir()
    (folder / "docker-compose.yml").write_text(COMPOSE)
    project = f"hardenhc{uuid.uuid4().hex[:8]}"
    try:
        # 1. original: the worker starts with the database and crashes
        up = _dc(project, folder, "up", "-d")
        assert up.returncode == 0, up.stderr
        info = _wait_exit(project, folder, "worker", 30)
        assert not info["State"]["Running"] and info["State"]["ExitCode"] != 0, \
            "original worker did not crash: the test cannot tell a fix from luck\n" + _logs(project, folder)
        _dc(project, folder, "down", "-v")

        # 2. harden apply (through the CLI, as a user would run it)
        proc = subprocess.run([sys.executable, "-m", "harden", "apply", str(folder)],
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        text = (folder / "docker-compose.yml").read_text()
        assert "condition: service_healthy" in text and "mysqladmin" in text
        assert "e2e-root-pw" not in text.split("healthcheck:")[1].split("worker:")[0]
        assert_compose_valid(compose_config(folder, ["docker-compose.yml"]), "hardened docker-compose.yml")

        # 3. hardened: `up` waits for the healthcheck, the worker connects and stays up
        up = _dc(project, folder, "up", "-d")
        assert up.returncode == 0, up.stderr + _logs(project, folder)
        time.sleep(5)
        worker = _container(project, folder, "worker")
        db = _container(project, folder, "db")
        logs = _logs(project, folder)
        assert worker["State"]["Running"], "worker exited after harden\n" + logs
        assert worker["RestartCount"] == 0
        assert "CONNECTED" in _dc(project, folder, "logs", "--no-color", "worker").stdout, logs
        assert db["State"]["Health"]["Status"] == "healthy", logs
    except Exception:
        print(_logs(project, folder))
        raise
    finally:
        _dc(project, folder, "down", "-v", "--rmi", "local", "--remove-orphans")
