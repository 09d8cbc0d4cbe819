"""A Go binary `go install` put in /go/bin, started by name from compose, after the split: built
and run for real.

The image is single-stage on golang:1.22 (whose PATH holds /go/bin) and compose starts the binary
by name (`command: server --port 8080`). split-stages moves production to distroless, whose PATH
does not hold /go/bin: harden puts it there. Built with the classic builder from the local
stand-ins (golang:1.22, gcr.io/distroless/static-debian12:nonroot) and brought up under Compose
v2: the server answers. Without the PATH line the container fails with "executable file not found".
"""

from __future__ import annotations

import os
import time
import urllib.request
import uuid

import pytest

import e2e_lib

pytestmark = pytest.mark.e2e

FILES = {
    "go.mod": "module example.com/server\n\ngo 1.22\n",
    "cmd/server/main.go": (
        "package main\n\nimport (\n\t\"flag\"\n\t\"fmt\"\n\t\"net/http\"\n)\n\n"
        "func main() {\n\tport := flag.String(\"port\", \"8080\", \"port\")\n\tflag.Parse()\n"
        "\thttp.HandleFunc(\"/\", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, \"ok\") })\n"
        "\t_ = http.ListenAndServe(\":\"+*port, nil)\n}\n"),
    "Dockerfile": "FROM golang:1.22\nWORKDIR /src\nCOPY . .\nRUN CGO_ENABLED=0 go install ./cmd/server\n",
    "compose.yaml": ("services:\n  api:\n    build: .\n    command: server --port 8080\n    ports:\n"
                     "      - \"127.0.0.1:${API_PORT}:8080\"\n"),
}


def test_a_go_binary_started_by_name_is_found_after_the_split(tmp_path, docker_engine):
    e2e_lib.require_v2()
    folder = tmp_path / "go"
    for rel, text in FILES.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    e2e_lib.harden_apply(folder, "split-stages")
    out = (folder / "Dockerfile").read_text()
    assert "FROM gcr.io/distroless/static-debian12:nonroot AS production" in out
    assert 'ENV PATH="/go/bin:$PATH"' in out

    project = f"harden-e2e-gopath-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, **e2e_lib.COMPOSE_ENV, "API_PORT": str(e2e_lib.free_port())}
    try:
        up = e2e_lib.compose_v2(folder, project, env, "up", "-d", "--build")
        assert up.returncode == 0, up.stdout + up.stderr
        answer, deadline = None, time.time() + 60
        while time.time() < deadline:
            try:
                answer = urllib.request.urlopen(f"http://127.0.0.1:{env['API_PORT']}/", timeout=3).read().decode()
                break
            except OSError:
                time.sleep(1)
        assert answer == "ok", e2e_lib.compose_v2(folder, project, env, "logs").stdout
    finally:
        e2e_lib.compose_v2(folder, project, env, "down", "-v", "--rmi", "local", "--remove-orphans")
