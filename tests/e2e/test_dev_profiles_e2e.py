"""dev-profiles, run for real: a tool the app lists in `depends_on` moves with that entry.

The app waits for a mail catcher (here the adminer stand-in plays the tool: any dev tool image
works the same) through `depends_on`. harden gives the tool `profiles: [dev]` and takes it out of
the app's depends_on. Under Compose v2 and docker-compose 1.29: a plain `up` starts the app
without the tool (it used to start both; with the entry left, Compose v2 would reject the
project), and `--profile dev up` starts both again.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest
import yaml

import e2e_lib

pytestmark = pytest.mark.e2e

COMPOSE = """services:
  app:
    image: python:3.12-slim
    command: ["python3", "-m", "http.server", "8000"]
    depends_on:
      - mail   # the app's SMTP server in development
  mail:
    image: adminer
    labels:
      role: mail catcher
"""


def _compose(tool, folder, project, *args, timeout=180):
    cli = e2e_lib.compose_clis()[tool]
    return subprocess.run([*cli, "-p", project, *args], cwd=folder, env={**os.environ, **e2e_lib.COMPOSE_ENV},
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("tool", [e2e_lib.V2, e2e_lib.V1])
def test_a_tool_the_app_waited_for_moves_and_the_app_still_starts(tmp_path, docker_engine, tool):
    problem = e2e_lib.compose_problem(tool)
    if problem:
        e2e_lib.skip_or_fail(problem)
    folder = tmp_path / "devtool"
    folder.mkdir()
    (folder / "compose.yaml").write_text(COMPOSE)
    # the tool is known by role here (the stand-in's image name is adminer's anyway)
    (folder / ".harden.toml").write_text('[services.mail]\nrole = "devtool"\n')
    done = subprocess.run([sys.executable, "-m", "harden", "apply", str(folder), "--select", "dev-profiles"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    data = yaml.safe_load((folder / "compose.yaml").read_text())
    assert "depends_on" not in data["services"]["app"]
    assert data["services"]["mail"]["profiles"] == ["dev"]

    project = f"harden-e2e-devtool-{uuid.uuid4().hex[:8]}"
    try:
        up = _compose(tool, folder, project, "up", "-d")
        assert up.returncode == 0, up.stdout + up.stderr
        running = _compose(tool, folder, project, "ps", "--services", "--filter", "status=running").stdout.split()
        assert running == ["app"], running
        up = _compose(tool, folder, project, "--profile", "dev", "up", "-d")
        assert up.returncode == 0, up.stdout + up.stderr
        running = _compose(tool, folder, project, "--profile", "dev", "ps", "--services", "--filter",
                           "status=running").stdout.split()
        assert sorted(running) == ["app", "mail"], running
    finally:
        _compose(tool, folder, project, "--profile", "dev", "down", "-v", "--remove-orphans", timeout=300)
