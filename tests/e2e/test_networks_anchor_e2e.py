"""Issue 16, item 5, built and run for real: `networks` written once in an anchor.

web and worker read their networks from one `<<: *app` anchor and reach the cache by name. The
cache shares `appnet` with web, which publishes a port, so harden moves it to `backend` and adds
`backend` once, in the anchor (both sharers need it). Brought up under Compose v2 with the local
stand-ins (python:3.12-slim, redis:7): web still answers with the cache's PONG, the worker still
reaches it, and the cache is no longer on appnet.
"""

from __future__ import annotations

import os
import subprocess
import time
import urllib.request
import uuid

import pytest
import yaml

import e2e_lib

pytestmark = pytest.mark.e2e

# one line of Python per service: web answers GET / with the cache's reply to PING; the worker
# writes the reply into /tmp/ok and stays up
_PING = "import socket;s=socket.create_connection(('cache',6379),3);s.sendall(b'PING\\r\\n');r=s.recv(64).decode().strip()"
WEB = ("import http.server\n"
       "class H(http.server.BaseHTTPRequestHandler):\n"
       "  def do_GET(self):\n"
       f"    {_PING}\n"
       "    self.send_response(200);self.end_headers();self.wfile.write(r.encode())\n"
       "http.server.HTTPServer(('0.0.0.0',8000),H).serve_forever()\n")
WORKER = ("import time\n"
          "while True:\n"
          "  try:\n"
          f"    {_PING}\n"
          "    open('/tmp/ok','w').write(r)\n"
          "  except OSError as e:\n"
          "    open('/tmp/ok','w').write(str(e))\n"
          "  time.sleep(1)\n")

COMPOSE = f"""x-app: &app
  image: python:3.12-slim
  networks:
    - appnet   # the app's own network

services:
  web:
    <<: *app
    command: ["python3", "-c", {yaml.safe_dump(WEB, default_style='"', width=10_000).strip()}]
    ports:
      - "127.0.0.1:${{WEB_PORT}}:8000"
  worker:
    <<: *app
    command: ["python3", "-c", {yaml.safe_dump(WORKER, default_style='"', width=10_000).strip()}]
  cache:
    image: redis:7
    networks: [appnet]

networks:
  appnet:
"""


def test_networks_added_once_in_an_anchor_keep_every_sharer_reaching_the_store(tmp_path, docker_engine):
    e2e_lib.require_v2()
    folder = tmp_path / "anchor"
    folder.mkdir()
    (folder / "compose.yaml").write_text(COMPOSE)
    e2e_lib.harden_apply(folder, "networks")
    out = (folder / "compose.yaml").read_text()
    assert out.startswith("x-app: &app\n  image: python:3.12-slim\n  networks:\n    - appnet   # the app's own "
                          "network\n    - backend\n")
    data = yaml.safe_load(out)
    assert data["services"]["cache"]["networks"] == ["backend"]
    assert out.count("networks:") == 3  # the anchor's, the cache's and the top level: web and worker have none

    project = f"harden-e2e-anchor-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, **e2e_lib.COMPOSE_ENV, "WEB_PORT": str(e2e_lib.free_port())}
    try:
        up = e2e_lib.compose_v2(folder, project, env, "up", "-d")
        assert up.returncode == 0, up.stderr
        url = f"http://127.0.0.1:{env['WEB_PORT']}/"
        answer, deadline = None, time.time() + 60
        while time.time() < deadline:
            try:
                answer = urllib.request.urlopen(url, timeout=3).read().decode()
                break
            except OSError:
                time.sleep(1)
        assert answer == "+PONG", answer
        got = None
        for _ in range(30):
            got = e2e_lib.compose_v2(folder, project, env, "exec", "-T", "worker", "cat", "/tmp/ok").stdout.strip()
            if got:
                break
            time.sleep(1)
        assert got == "+PONG", got
        cache = e2e_lib.compose_v2(folder, project, env, "ps", "-q", "cache").stdout.strip()
        nets = subprocess.run(["docker", "inspect", cache, "--format",
                               "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}"],
                              capture_output=True, text=True, timeout=30).stdout.split()
        assert nets == [f"{project}_backend"], nets
    finally:
        e2e_lib.compose_v2(folder, project, env, "down", "-v", "--remove-orphans", timeout=300)
