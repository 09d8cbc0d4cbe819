"""The store healthchecks of issue 16 that are new shapes, run for real (Compose v2):

- Redis started through a shell script that reads its password from a secret file (zulip's
  `sh -euc '/usr/local/bin/docker-entrypoint.sh --requirepass "$$(cat $$REDIS_PASSWORD_FILE)"'`):
  the check computes the same password in the container and turns healthy; a client that
  connects once, with that password, waits for it and gets PONG;
- memcached, which ships no client, started through `sh -c '...; exec memcached'`: the check on
  the Debian image is a TCP connect through bash's /dev/tcp (the stand-in below is Debian's
  memcached package on the local bookworm base).

Stand-ins (no registry is reachable): `redis:7` from .ci/e2e.sh / ../shared/e2e; `memcached:1.6` is
built here from harden-e2e/bookworm:minbase with Debian's memcached, labelled e2e.standin, only
when missing. Not run here: the Alpine memcached check (`nc -z`, BusyBox; no Alpine image is
available) and Elasticsearch's 200/401 probe (no Elasticsearch image).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from harden_testlib import V2, compose_clis, in_ci

pytestmark = pytest.mark.e2e

ENV = {**os.environ, "DOCKER_BUILDKIT": "0", "COMPOSE_DOCKER_CLI_BUILD": "0"}
MEMCACHED = "memcached:1.6"
MEMCACHED_STANDIN = (
    "FROM harden-e2e/bookworm:minbase\n"
    "RUN apt-get update && apt-get install -y --no-install-recommends memcached && rm -rf /var/lib/apt/lists/*\n"
    "USER memcache\n"
    'CMD ["memcached"]\n'
    f'LABEL e2e.standin="{MEMCACHED}"\n'
)

COMPOSE = """\
services:
  redis:
    image: redis:7
    command:
      - sh
      - -euc
      - '/usr/local/bin/docker-entrypoint.sh --requirepass "$$(cat $$REDIS_PASSWORD_FILE)"'
    secrets:
      - redis_password
    environment:
      REDIS_PASSWORD_FILE: /run/secrets/redis_password
  cache:
    image: memcached:1.6
    command: ["sh", "-c", "echo starting memcached; exec memcached -p 11311"]
  client:
    image: redis:7
    # connect ONCE with the password, no retry
    entrypoint: ["sh", "-c", "redis-cli -h redis -a \\"$$(cat /run/secrets/redis_password)\\" --no-auth-warning ping | grep -q PONG && echo CONNECTED && exec sleep 3600"]
    secrets:
      - redis_password
    depends_on:
      - redis
      - cache
secrets:
  redis_password:
    file: ./redis_password.txt
"""


def _have(image: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", image], capture_output=True).returncode == 0


@pytest.fixture
def engine(tmp_path_factory):
    problem = None
    if V2 not in compose_clis():
        problem = "Compose v2 (`docker compose`) not installed"
    elif subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        problem = "docker info failed: no engine"
    elif not _have("redis:7"):
        problem = "image redis:7 (stand-in) not present"
    elif not _have(MEMCACHED):
        if not _have("harden-e2e/bookworm:minbase"):
            problem = f"no {MEMCACHED} and no harden-e2e/bookworm:minbase to build its stand-in from"
        else:
            ctx = tmp_path_factory.mktemp("memcached-standin")
            (ctx / "Dockerfile").write_text(MEMCACHED_STANDIN)
            b = subprocess.run(["docker", "build", "-q", "-t", MEMCACHED, str(ctx)], capture_output=True,
                               text=True, env=ENV, timeout=900)
            if b.returncode != 0:
                problem = f"could not build the {MEMCACHED} stand-in: {b.stderr[-500:]}"
    if problem:
        if in_ci():
            pytest.fail(problem)
        pytest.skip(problem)


def _dc(project: str, folder: Path, *args: str, timeout: int = 200) -> subprocess.CompletedProcess:
    return subprocess.run([*compose_clis()[V2], "-p", project, *args], cwd=folder, capture_output=True,
                          text=True, env=ENV, timeout=timeout)


def _inspect(project: str, folder: Path, service: str) -> dict:
    cid = _dc(project, folder, "ps", "-a", "-q", service).stdout.strip()
    assert cid, f"no container for {service}"
    return json.loads(subprocess.run(["docker", "inspect", cid], capture_output=True, text=True, check=True).stdout)[0]


def test_checks_of_shell_started_stores_turn_healthy(engine, tmp_path):
    folder = tmp_path / "stack"
    folder.mkdir()
    (folder / "compose.yaml").write_text(COMPOSE)
    (folder / "redis_password.txt").write_text("e2e-secret-pw\n")
    proc = subprocess.run([sys.executable, "-m", "harden", "apply", "--select", "db-healthcheck",
                           "--select", "depends-healthy", str(folder)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = (folder / "compose.yaml").read_text()
    assert "e2e-secret-pw" not in text
    assert 'REDISCLI_AUTH="$$(cat "$${REDIS_PASSWORD_FILE}")" redis-cli ping' in text
    assert '["CMD", "bash", "-c", "</dev/tcp/127.0.0.1/11311"]' in text
    assert text.count("condition: service_healthy") == 2
    project = f"hardenstores{uuid.uuid4().hex[:8]}"
    try:
        up = _dc(project, folder, "up", "-d", "--wait", "--wait-timeout", "120", "redis", "cache")
        assert up.returncode == 0, up.stdout + up.stderr + _dc(project, folder, "logs").stdout
        for svc in ("redis", "cache"):
            assert _inspect(project, folder, svc)["State"]["Health"]["Status"] == "healthy", svc
        up = _dc(project, folder, "up", "-d")
        assert up.returncode == 0, up.stderr
        deadline = time.time() + 30
        while "CONNECTED" not in _dc(project, folder, "logs", "--no-color", "client").stdout:
            assert time.time() < deadline, _dc(project, folder, "logs", "--no-color").stdout
            time.sleep(1)
        assert _inspect(project, folder, "client")["State"]["Running"]
        # control: the checks fail where nothing answers (a wrong password, a closed port)
        bad = subprocess.run(["docker", "exec", _inspect(project, folder, "redis")["Id"], "sh", "-c",
                              'REDISCLI_AUTH=wrong redis-cli ping | grep -q PONG'], capture_output=True)
        assert bad.returncode != 0
        closed = subprocess.run(["docker", "exec", _inspect(project, folder, "cache")["Id"], "bash", "-c",
                                 "</dev/tcp/127.0.0.1/11211"], capture_output=True)
        assert closed.returncode != 0
    finally:
        _dc(project, folder, "down", "-v", "--remove-orphans", "-t", "2")
