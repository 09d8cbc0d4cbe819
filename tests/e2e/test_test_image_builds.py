"""Test/CI images whose start writes into the working directory, built and run for real
(classic builder, stand-in node:20-slim).

non-root-user hands a test image's working directory to the app user (COPY --chown, and chown
of the folder alone when WORKDIR made it first). Each fixture is copied, hardened, built and
run to the end of its start (the tests or the app, then exit): it must exit 0 as uid 1000.
Then the one line that hands the folder is taken out again and the same start must fail with
a permission error, so the test fails when the handing does nothing:

- user-node-test-install: only docker-compose.test.yml builds it; its start script runs an
  offline `npm install` (a `file:` dependency) in /srv/chat, which the COPY creates: the
  COPY's --chown is what makes it work (without it npm fails with EACCES);
- user-node-ci-log: its start writes server.log into /app, which WORKDIR made before the
  COPY --chown (which does not change the owner of an existing folder): the `RUN chown` of the
  folder is what makes it work (without it sh cannot create the log: Permission denied).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid

import pytest

import e2e_lib

pytestmark = pytest.mark.e2e

FIXTURES = e2e_lib.REPO / "tests" / "fixtures"

# fixture -> (what the hardened start prints, the line that hands the folder, what replaces it,
#             what the start prints without it)
CASES = {
    "user-node-test-install": ("hello chat as uid 1000", "COPY --chown=1000:1000 . /srv/chat\n",
                               "COPY . /srv/chat\n", "EACCES"),
    "user-node-ci-log": ("uid 1000 log bytes", "RUN chown 1000:1000 /app\n", "", "Permission denied"),
}


def _docker(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "DOCKER_BUILDKIT": "0"}
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def node_image(docker_engine) -> None:
    if _docker("image", "inspect", "node:20-slim").returncode:
        e2e_lib.skip_or_fail("stand-in image node:20-slim not built (run sudo .ci/e2e.sh)")


@pytest.mark.parametrize("fixture", sorted(CASES))
def test_the_start_writes_into_the_working_directory_as_the_app_user(fixture, node_image, tmp_path, request):
    expect, handing, without, failure = CASES[fixture]
    proj = tmp_path / fixture
    shutil.copytree(FIXTURES / fixture, proj)
    proc = subprocess.run([sys.executable, "-m", "harden", "apply", str(proj)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = (proj / "Dockerfile").read_text()
    assert handing in text and "USER 1000:1000\n" in text, text
    e2e_lib.log(f"{fixture}: hardened Dockerfile\n{text}")

    tags: list[str] = []
    request.addfinalizer(lambda: [_docker("rmi", "-f", t) for t in tags])

    def build_and_start() -> tuple[str, subprocess.CompletedProcess]:
        tag = f"harden-e2e-testroot-{fixture}:{uuid.uuid4().hex[:8]}"
        built = _docker("build", "--force-rm", "-t", tag, str(proj))
        assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
        tags.append(tag)
        # the start as the image runs it, offline (the install is of a `file:` dependency)
        ran = _docker("run", "--rm", "--network", "none", "-e", "npm_config_update_notifier=false", tag,
                      timeout=300)
        return tag, ran

    tag, ran = build_and_start()
    out = ran.stdout + ran.stderr
    assert ran.returncode == 0, out
    assert expect in out, out
    uid = _docker("run", "--rm", tag, "id", "-u")
    assert uid.returncode == 0 and uid.stdout.strip() == "1000", uid.stdout + uid.stderr

    # the same start without the line that hands the folder: a permission error
    (proj / "Dockerfile").write_text(text.replace(handing, without, 1))
    _tag, ran = build_and_start()
    out = ran.stdout + ran.stderr
    assert ran.returncode != 0 and failure in out, out
