"""The rewrite shapes of issue 16, built and run for real (classic builder, Compose v2).

Each project in tests/fixtures/build-* below is a small web app written the way such projects
write it, in a shape harden refused before issue 16. The test copies it, runs `harden apply`,
builds it and brings it up. Then the app answers on 127.0.0.1 with the uid it runs as and, where
it keeps files, whether it could write there; the production image holds no compiler, no
devDependency the builder pruned and no build tool the rewrite dropped; a second apply changes
nothing. The shapes:

- item 1, a stage built FROM the stage that runs: build-node-dev-target (compose targets
  `development`; `builder` is built FROM it and runs `npm run build`, which writes into the
  root-owned app folder: the whole file is built too, through that stage, as root) and
  build-python-two-targets (both the target and the stage built from it run: the user is
  created once, the second target's pip install runs as root);
- item 2, USER before the install: build-node-user-first (USER node, npm ci), build-python-
  user-site (USER app, pip install --user), build-python-user-venv (USER app, pip install);
- item 3, file commands beside the install: build-python-mixed-run (pip install && mkdir -p
  /app/uploads), build-node-chown-workdir (npm ci && chown -R node:node, USER node later),
  build-node-install-elsewhere (cd /tmp/app && npm install, cp -a into the work directory);
- the Python split of a start command through `poetry run` (CMD poetry run ... && exec poetry
  run gunicorn ...): build-poetry-run-flask, poetry installed outside the virtualenv, so the
  production image has no poetry and runs the commands from the virtualenv;
- an official ONBUILD image, `FROM rails:onbuild` alone: build-rails-onbuild (the image's
  triggers copy the app into its WORKDIR, /usr/src/app, and `rails server` writes tmp/pids and
  log/ there). The stand-in is made here from python:3.12-slim with the same layout (WORKDIR,
  ONBUILD COPY, the command), and the app's bin/rails is a Python stand-in for `rails server`
  that writes what Rails writes at start-up;
- item 4, uv's Python image: build-uv-image-flask (ghcr.io/astral-sh/uv:python3.12-bookworm-slim
  -> python:3.12-slim-bookworm). No registry is reachable: the two images are stand-ins made
  here from the local ones (python:3.12-slim, a Debian bookworm image, with uv's binaries from
  ghcr.io/astral-sh/uv:0.13.9), labelled e2e.standin, made only when missing.

Not built: the non-root changes for `java:8-jre` (no JRE image is available here), a base image
named with version arguments only (`golang:${GOLANG_VERSION}-alpine${ALPINE_VERSION}`: the same
Alpine user as any golang:*-alpine, and no golang Alpine image is available here), and the
images harden now leaves or finds already non-root (nothing is written there).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field

import pytest

import e2e_lib
from e2e_lib import Example, Stack, log

pytestmark = pytest.mark.e2e

FIXTURES = e2e_lib.REPO / "tests" / "fixtures"
COMPILERS = ("gcc", "cc", "g++", "c++")

# stand-ins made from local images (see the module docstring): image -> Dockerfile
STANDINS = {
    "ghcr.io/astral-sh/uv:python3.12-bookworm-slim": (
        "FROM python:3.12-slim\n"
        "COPY --from=ghcr.io/astral-sh/uv:0.13.9 /uv /uvx /usr/local/bin/\n"
        'LABEL e2e.standin="ghcr.io/astral-sh/uv:python3.12-bookworm-slim"\n'
    ),
    "python:3.12-slim-bookworm": 'FROM python:3.12-slim\nLABEL e2e.standin="python:3.12-slim-bookworm"\n',
    # the official (deprecated) ONBUILD image as it is laid out: Debian, WORKDIR /usr/src/app, a
    # trigger that copies the app there before the Dockerfile's own steps, `rails server` as the
    # command (here the app's bin/rails, a Python stand-in that writes what Rails writes)
    "rails:onbuild": (
        "FROM python:3.12-slim\n"
        "RUN mkdir -p /usr/src/app\n"
        "WORKDIR /usr/src/app\n"
        "ONBUILD COPY . /usr/src/app\n"
        "EXPOSE 3000\n"
        'CMD ["python3", "bin/rails", "server", "-b", "0.0.0.0"]\n'
        'LABEL e2e.standin="rails:onbuild"\n'
    ),
}
NEEDED = ("node:20", "node:20-slim", "python:3.12", "python:3.12-slim", "ghcr.io/astral-sh/uv:0.13.9")


@dataclass(frozen=True)
class Project:
    fixture: str
    port: int  # the app's port in the container
    hello: str  # what the app answers under "hello"
    uid: int | None  # the uid the hardened app runs as (None: the uid useradd gave app)
    transforms: tuple[str, ...]  # what `harden apply` must change in the Dockerfile
    writes: bool = False  # the app writes into WRITE_DIR and must be able to
    absent: tuple[str, ...] = ()  # paths the production image must not hold (suffix match)
    present: tuple[str, ...] = ()  # and must hold
    extra_services: tuple[str, ...] = ()  # other services to check (same answer, other port var)
    uv: bool = False  # uv and poetry read only their own CA bundles: point them at the system one

    @property
    def example(self) -> Example:
        ports = ("WEB_PORT",) + tuple(f"{s.upper()}_PORT" for s in self.extra_services)
        return Example(name=self.fixture, port_vars=ports, app_services=("web", *self.extra_services),
                       web_service="web", web_port_var="WEB_PORT", web_path="/", web_expect=self.hello,
                       stores={}, waits=(), source=FIXTURES / self.fixture)


SPLIT, USER = "split-stages", "non-root-user"
PROJECTS = [
    # item 1
    Project("build-node-dev-target", 3000, "node-dev", 1000, (USER,), present=("usr/src/app/node_modules/is-number",)),
    Project("build-python-two-targets", 8000, "two-targets-app", 10001, (USER,), extra_services=("debug",)),
    # item 2
    Project("build-node-user-first", 3000, "node-user", 1000, (SPLIT,), writes=True,
            absent=("bin/gcc", "node_modules/is-number"), present=("home/node/app/node_modules/express",)),
    Project("build-python-user-site", 8000, "user-site", None, (SPLIT,), writes=True,  # uid of useradd: see below
            absent=("bin/gcc",), present=("home/app/.local/bin/gunicorn",)),
    Project("build-python-user-venv", 8000, "user-venv", None, (SPLIT,), writes=True,
            absent=("bin/gcc",), present=("opt/venv/bin/gunicorn",)),
    # item 3
    Project("build-python-mixed-run", 8000, "mixed-run", 10001, (SPLIT, USER), writes=True,
            absent=("bin/gcc",), present=("opt/venv/bin/gunicorn", "app/uploads")),
    Project("build-node-chown-workdir", 3000, "node-chown", 1000, (SPLIT,), writes=True,
            absent=("node_modules/is-number",), present=("usr/src/app/node_modules/express",)),
    Project("build-node-install-elsewhere", 3000, "node-elsewhere", 1000, (SPLIT, USER),
            absent=("node_modules/is-number", "tmp/app/node_modules"), present=("usr/src/app/node_modules/express",)),
    # a start command through `poetry run`: production runs the commands from the virtualenv
    Project("build-poetry-run-flask", 8000, "poetry-run", 10001, (SPLIT, USER), uv=True,
            absent=("bin/gcc", "bin/poetry"), present=("opt/venv/bin/gunicorn",)),
    # an official ONBUILD image: the app's folder is the image's WORKDIR, Rails writes tmp/ and log/
    Project("build-rails-onbuild", 3000, "rails-onbuild", 10001, (USER,), writes=True,
            present=("usr/src/app/bin/rails",)),
    # item 4
    Project("build-uv-image-flask", 8000, "uv-image", 10001, (SPLIT, USER), uv=True,
            absent=("bin/uv", "bin/uvx"), present=("app/.venv/bin/gunicorn",)),
]


@dataclass
class Built:
    project: Project
    stack: Stack
    harden_output: str
    answers: dict[str, dict] = field(default_factory=dict)


def _docker(*args: str, timeout: float = 600, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, **kw)


@pytest.fixture(scope="module")
def standins(docker_engine) -> None:
    missing = [img for img in NEEDED if _docker("image", "inspect", img).returncode]
    if missing:
        e2e_lib.skip_or_fail(f"stand-in image(s) {', '.join(missing)} not built (run sudo .ci/e2e.sh)")
    env = {**os.environ, "DOCKER_BUILDKIT": "0"}
    for image, dockerfile in STANDINS.items():
        if _docker("image", "inspect", image).returncode == 0:
            continue
        proc = _docker("build", "--force-rm", "-t", image, "-", input=dockerfile, env=env)
        assert proc.returncode == 0, f"stand-in {image}: {proc.stdout[-2000:]}{proc.stderr[-2000:]}"
        log(f"made the stand-in {image}")


@pytest.fixture(scope="module", params=PROJECTS, ids=lambda p: p.fixture)
def built(request, standins, tmp_path_factory) -> Built:
    project: Project = request.param
    stack = e2e_lib.open_stack(project.example, tmp_path_factory.mktemp(project.fixture), "hard")
    request.addfinalizer(stack.down)
    if project.uv:
        e2e_lib.trust_host_ca(stack)
    proc = stack.harden_apply()
    out = proc.stdout + proc.stderr
    print(f"$ python -m harden apply {stack.dir}\n{out}")
    if proc.returncode != 0:
        pytest.fail(f"`harden apply` exited {proc.returncode}:\n{out[-4000:]}", pytrace=False)
    stack.build()
    stack.up()
    return Built(project, stack, out)


def _answer(b: Built, service: str = "web") -> dict:
    var = "WEB_PORT" if service == "web" else f"{service.upper()}_PORT"
    status, body = b.stack.http_get(var, "/", timeout=120)
    assert status == 200, f"{b.project.fixture} {service}: GET / -> {status}: {body[:500]}"
    return json.loads(body)


def _image_id(b: Built, service: str = "web") -> str:
    return b.stack.image_of(service)["Id"]


def test_harden_made_the_rewrite(built: Built):
    """What the test builds is the rewrite of issue 16, not the Dockerfile as it was."""
    for name in built.project.transforms:
        assert "Dockerfile" in built.harden_output and name in built.harden_output, built.harden_output
    text = (built.stack.dir / "Dockerfile").read_text()
    if SPLIT in built.project.transforms:
        assert "AS builder" in text and "AS production" in text, text
    log(f"{built.project.fixture}: rewritten Dockerfile\n{text}")


def test_app_answers_as_a_non_root_user(built: Built):
    p = built.project
    for service in ("web", *p.extra_services):
        answer = _answer(built, service)
        log(f"{p.fixture} {service}: answers {answer}")
        assert answer["uid"] != 0, f"{p.fixture} {service} runs as root: {answer}"
        if p.uid is not None:
            assert answer["uid"] == p.uid, answer
        if service == "web":
            assert answer["hello"] == p.hello, answer
        if p.writes:
            assert answer.get("wrote") is True, f"{p.fixture}: the app cannot write where it keeps files: {answer}"


def test_user_of_a_user_created_by_the_dockerfile(built: Built):
    """USER app (useradd, no uid given) before the install: production runs as that same user."""
    if built.project.uid is not None:
        pytest.skip("the uid is fixed")
    answer = _answer(built)
    proc = _docker("run", "--rm", "--entrypoint", "id", _image_id(built), "-u", "app")
    assert proc.returncode == 0, proc.stderr
    assert answer["uid"] == int(proc.stdout.strip()), (answer, proc.stdout)


def test_production_image_holds_what_it_should_and_nothing_else(built: Built):
    p = built.project
    files = e2e_lib.image_files(_image_id(built))
    for suffix in p.absent:
        hits = [f for f in files if f.rstrip("/").endswith(suffix) or f"/{suffix}/" in f"/{f}/"]
        assert not hits, f"{p.fixture}: the production image holds {hits[:5]}"
    for suffix in p.present:
        assert any(f.rstrip("/").endswith(suffix) for f in files), f"{p.fixture}: no {suffix} in the image"


def test_second_apply_changes_nothing(built: Built):
    proc = subprocess.run([sys.executable, "-m", "harden", "diff", str(built.stack.dir)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"harden diff after apply exited {proc.returncode}:\n{proc.stdout}{proc.stderr}"


def test_stage_built_from_the_target_still_builds_as_root(built: Built):
    """item 1: the stages built FROM the target run their build steps as root (USER root at their
    top): `npm run build` writes dist/ into the root-owned app folder, `pip install` into the
    system site-packages. Without it, as the new user, both fail with Permission denied."""
    p = built.project
    if p.fixture == "build-node-dev-target":
        text = (built.stack.dir / "Dockerfile").read_text()
        assert "FROM development AS builder\n# hadolint ignore=DL3002,DL3066\nUSER root\n" in text, text
        tag = f"{built.stack.project}-whole:latest"
        proc = _docker("build", "--force-rm", "-t", tag, str(built.stack.dir), timeout=1200,
                       env={**os.environ, "DOCKER_BUILDKIT": "0"})
        try:
            assert proc.returncode == 0, f"the whole Dockerfile does not build:\n{proc.stdout[-6000:]}{proc.stderr[-3000:]}"
            assert "Step 1/" in proc.stdout  # the classic builder
            files = e2e_lib.image_files(tag)
            assert any(f.endswith("usr/src/app/dist/server.js") for f in files)
        finally:
            _docker("rmi", "-f", tag)
    elif p.fixture == "build-python-two-targets":
        text = (built.stack.dir / "Dockerfile").read_text()
        assert text.count("useradd") == 1, text
        files = e2e_lib.image_files(_image_id(built, "debug"))
        assert any("flask_debugtoolbar/" in f for f in files)
    else:
        pytest.skip("not an item 1 project")
