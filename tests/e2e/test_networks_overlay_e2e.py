"""Networks and depends_on written into an overlay whose base file only names the services, built
and run for real.

compose.yaml names web, front and cache (images only: on its own there is nothing to isolate, and
harden leaves it as it is); compose.prod.yaml publishes front, gives web and front their commands.
harden gives the cache its healthcheck in compose.yaml (a project of its own) and writes the networks
and web's wait for the healthy cache into compose.prod.yaml only (compose adds an overlay's keys to
the base file's services). Brought up under Compose v2 with the local stand-ins (python:3.12-slim,
redis:7) from both files: front still reaches web, web still gets the cache's PONG, and front (the
public service) can no longer resolve the cache.
"""

from __future__ import annotations

import os
import time
import urllib.request
import uuid

import pytest
import yaml

import e2e_lib

pytestmark = pytest.mark.e2e

BASE = """\
services:
  web:
    image: python:3.12-slim
  front:
    image: python:3.12-slim
  cache:
    image: redis:7
"""

# web answers GET / with the cache's reply to PING; front answers GET / with web's answer, and
# GET /cache with whether it can still resolve the cache's name
WEB = ("import http.server,socket\n"
       "class H(http.server.BaseHTTPRequestHandler):\n"
       "  def do_GET(self):\n"
       "    s=socket.create_connection(('cache',6379),3);s.sendall(b'PING\\r\\n');r=s.recv(64).strip()\n"
       "    self.send_response(200);self.end_headers();self.wfile.write(r)\n"
       "http.server.HTTPServer(('0.0.0.0',8000),H).serve_forever()\n")
FRONT = ("import http.server,socket,urllib.request\n"
         "class H(http.server.BaseHTTPRequestHandler):\n"
         "  def do_GET(self):\n"
         "    if self.path=='/cache':\n"
         "      try:\n"
         "        socket.getaddrinfo('cache',6379);r=b'resolves'\n"
         "      except OSError:\n"
         "        r=b'unknown'\n"
         "    else:\n"
         "      r=urllib.request.urlopen('http://web:8000/',timeout=5).read()\n"
         "    self.send_response(200);self.end_headers();self.wfile.write(r)\n"
         "http.server.HTTPServer(('0.0.0.0',8080),H).serve_forever()\n")


def _q(code: str) -> str:
    return yaml.safe_dump(code, default_style='"', width=10_000).strip()


OVERLAY = f"""\
services:
  web:
    command: ["python3", "-c", {_q(WEB)}]
    environment:
      REDIS_HOST: cache
  front:
    command: ["python3", "-c", {_q(FRONT)}]
    ports:
      - "127.0.0.1:${{FRONT_PORT}}:8080"
  cache:
    command: ["redis-server", "--save", ""]
"""

TALKS = '[services.front]\ntalks_to = ["web"]\n'


def _compose(folder, project, env, *args, timeout=180):
    return e2e_lib.compose_v2(folder, project, env, "-f", "compose.yaml", "-f", "compose.prod.yaml", *args, timeout=timeout)


def _get(url: str, wait: float = 60) -> str | None:
    deadline = time.time() + wait
    while time.time() < deadline:
        try:
            return urllib.request.urlopen(url, timeout=5).read().decode()
        except OSError:
            time.sleep(1)
    return None


def test_networks_written_in_the_overlay_isolate_the_store_and_keep_the_app_working(tmp_path, docker_engine):
    e2e_lib.require_v2()
    folder = tmp_path / "overlay"
    folder.mkdir()
    (folder / "compose.yaml").write_text(BASE)
    (folder / "compose.prod.yaml").write_text(OVERLAY)
    (folder / ".harden.toml").write_text(TALKS)
    e2e_lib.harden_apply(folder, "networks,db-healthcheck,depends-healthy")
    # compose.yaml, a project of its own, gets the cache's healthcheck and nothing else
    base = yaml.safe_load((folder / "compose.yaml").read_text())
    assert base["services"]["cache"]["healthcheck"] and "networks" not in base and "depends_on" not in base["services"]["web"]
    over = yaml.safe_load((folder / "compose.prod.yaml").read_text())
    assert over["services"]["cache"]["networks"] == ["backend"]
    assert "backend" not in over["services"]["front"]["networks"]
    assert over["services"]["web"]["depends_on"] == {"cache": {"condition": "service_healthy"}}

    project = f"harden-e2e-overlay-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, **e2e_lib.COMPOSE_ENV, "FRONT_PORT": str(e2e_lib.free_port())}
    try:
        up = _compose(folder, project, env, "up", "-d")  # web starts once the cache is healthy
        assert up.returncode == 0, up.stderr
        state = _compose(folder, project, env, "ps", "--format", "{{.Service}} {{.Health}}").stdout
        assert "cache healthy" in state, state
        base = f"http://127.0.0.1:{env['FRONT_PORT']}"
        assert _get(base + "/") == "+PONG"
        assert _get(base + "/cache") == "unknown"
    finally:
        _compose(folder, project, env, "down", "-v", "--remove-orphans", timeout=300)
