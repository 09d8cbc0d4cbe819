"""A compose healthcheck's tool survives the split, built and run for real.

The web image is single-stage on python:3.12 (which ships curl) and its compose healthcheck runs
`curl`; a client waits for it with `condition: service_healthy`. split-stages moves production to
python:3.12-slim, which has no curl: harden installs curl in production because the healthcheck
runs it. Built with the classic builder from the local stand-ins and brought up under Compose v2:
web turns healthy as the app user, and the client (which only starts once web is healthy) reaches
it. Without the curl step the healthcheck never passes and the client never starts.
"""

from __future__ import annotations

import os
import time
import uuid

import pytest

import e2e_lib

pytestmark = pytest.mark.e2e

DOCKERFILE = """\
FROM python:3.12
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
CMD ["python", "app.py"]
"""

APP = """\
import http.server

import six  # noqa: F401  (what the builder installs)

http.server.HTTPServer(("0.0.0.0", 8000), http.server.SimpleHTTPRequestHandler).serve_forever()
"""

COMPOSE = """\
services:
  web:
    build: .
    healthcheck:
      test: ["CMD", "curl", "-fsS", "http://localhost:8000/"]
      interval: 2s
      retries: 30
  client:
    image: python:3.12-slim
    command: ["python3", "-c", "import urllib.request,time; print('status', urllib.request.urlopen('http://web:8000/').status, flush=True); time.sleep(3600)"]
    depends_on:
      web:
        condition: service_healthy
"""


def test_a_healthcheck_that_runs_curl_stays_green_after_the_split(tmp_path, docker_engine):
    e2e_lib.require_v2()
    folder = tmp_path / "hc"
    folder.mkdir()
    for name, text in {"Dockerfile": DOCKERFILE, "requirements.txt": "six==1.16.0\n", "app.py": APP,
                       "compose.yaml": COMPOSE}.items():
        (folder / name).write_text(text)
    e2e_lib.harden_apply(folder, "split-stages,non-root-user")
    out = (folder / "Dockerfile").read_text()
    assert "FROM python:3.12-slim AS production" in out and "apt-get install -y --no-install-recommends curl" in out
    assert "USER 10001:10001" in out

    project = f"harden-e2e-hc-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, **e2e_lib.COMPOSE_ENV}
    try:
        up = e2e_lib.compose_v2(folder, project, env, "up", "-d", "--build")
        assert up.returncode == 0, up.stdout + up.stderr
        state, deadline = "", time.time() + 120
        while time.time() < deadline:
            state = e2e_lib.compose_v2(folder, project, env, "ps", "--format", "{{.Service}} {{.Health}}").stdout
            if "web healthy" in state:
                break
            time.sleep(2)
        assert "web healthy" in state, state
        logs = ""
        for _ in range(30):
            logs = e2e_lib.compose_v2(folder, project, env, "logs", "client").stdout
            if "status 200" in logs:
                break
            time.sleep(1)
        assert "status 200" in logs, logs
        uid = e2e_lib.compose_v2(folder, project, env, "exec", "-T", "web", "id", "-u").stdout.strip()
        assert uid == "10001", uid
    finally:
        e2e_lib.compose_v2(folder, project, env, "down", "-v", "--rmi", "local", "--remove-orphans")
