"""split-stages + non-root-user on poetry, pipenv, uv, Go and Node projects, built and run for real.

Each project in tests/fixtures/build-* is a small web service with a single-stage Dockerfile
written the way such projects usually write it (real lock files). The test copies it twice: the
original is built and brought up as it is, the other copy after `harden apply`. Then:

- the hardened image builds, its container answers on 127.0.0.1, and the process answering
  runs as a non-root uid (the app reports its own uid, so this holds for distroless too);
- the production image holds no compiler and none of the build tools the rewrite drops
  (poetry, pipenv, uv, the Go toolchain): checked on the image's file list, no shell needed;
- the original shows every one of these checks can fail: it runs as root and ships the tools.

The builds share their layers (the original is torn down after the hardened copy is built);
build-go-install builds only the hardened copy (build-go-http shows the Go original already). A
warm run takes about four minutes, most of it compiling Go's standard library and pip/poetry/
pipenv/uv downloading from PyPI.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import e2e_lib
from e2e_lib import Example, Stack, log

pytestmark = pytest.mark.e2e

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

# stand-ins beyond e2e_lib.BASE_IMAGES, built by .ci/e2e-images.sh
EXTRA_IMAGES = ("golang:1.22", "gcr.io/distroless/static-debian12:nonroot", "ghcr.io/astral-sh/uv:0.13.9")

# executables the production images must not hold (any bin/ folder)
COMPILERS = ("gcc", "cc", "g++", "c++")


@dataclass(frozen=True)
class Project:
    fixture: str
    service: str
    hello: str  # what the app answers under "hello"
    tools: tuple[str, ...]  # build tools the production image must not hold (bin/<name>)
    tool_dirs: tuple[str, ...] = ()  # and folders (site- or dist-packages/<pkg>/, the Go root)
    original_has_compiler: bool = True
    downloads: bool = True  # fetches packages during the build (needs the host CA, see e2e_lib.trust_host_ca)
    build_original: bool = True  # False: only the hardened copy (saves a build where it shows nothing new)
    kept: tuple[str, ...] = ()  # files production must still hold (a devDependency the start runs)

    @property
    def example(self) -> Example:
        return Example(
            name=self.fixture, port_vars=("WEB_PORT",), app_services=(self.service,),
            web_service=self.service, web_port_var="WEB_PORT", web_path="/", web_expect=self.hello,
            stores={}, waits=(), source=FIXTURES / self.fixture,
        )


PROJECTS = [
    Project("build-poetry-flask", "web", "poetry", ("poetry",), ("-packages/poetry/",)),
    Project("build-pipenv-flask", "web", "pipenv", ("pipenv",), ("-packages/pipenv/",)),
    # python:3.12-slim: no compiler in the original either; uv comes from its own image
    Project("build-uv-flask", "web", "uv", ("uv", "uvx"), original_has_compiler=False),
    # no external modules: no Go module proxy is reachable from these machines
    Project("build-go-http", "api", "go", ("go", "gofmt"), ("usr/lib/go-", "usr/local/go/"), downloads=False),
    # `go install` + CMD ["hello"]: the binary is in /go/bin, on PATH only in the golang image
    Project("build-go-install", "hello", "go", ("go", "gofmt"), ("usr/lib/go-", "usr/local/go/"), downloads=False,
            build_original=False),
    # the start script runs `npm run preflight`, whose bin is a devDependency (a file: workspace tool, so no
    # registry): split without the prune, production keeps node_modules with it and starts as before
    Project("build-node-devdep-start", "web", "node", (), downloads=False,
            kept=("app/node_modules/.bin/preflight", "app/node_modules/preflight")),
]


@dataclass
class Pair:
    project: Project
    original: Stack
    hardened: Stack
    harden_output: str


def _forbidden(files: list[str], project: Project) -> list[str]:
    """The compilers and build tools among the image's files: every bin/<tool>, and the first
    path under each tool folder (site-packages/poetry/, the Go root)."""
    names = set(COMPILERS) | set(project.tools)
    bins = sorted(f for f in files if f.rsplit("/", 2)[-2:-1] == ["bin"] and f.rsplit("/", 1)[-1] in names)
    folders: list[str] = []
    for d in project.tool_dirs:
        hits = sorted(f for f in files if d in f)
        if hits:
            folders.append(hits[0])
    return bins + folders


def _answer(stack: Stack) -> dict:
    status, body = stack.http_get("WEB_PORT", "/", timeout=120)
    assert status == 200, f"{stack.project}: GET / -> {status}: {body[:500]}"
    return json.loads(body)


def _image(stack: Stack, service: str) -> dict:
    return stack.image_of(service)


@pytest.fixture(scope="module")
def extra_images(docker_engine) -> None:
    missing = [img for img in EXTRA_IMAGES
               if subprocess.run(["docker", "image", "inspect", img], capture_output=True).returncode]
    if missing:
        e2e_lib.skip_or_fail(f"stand-in image(s) {', '.join(missing)} not built (run sudo .ci/e2e.sh)")


@pytest.fixture(scope="module", params=PROJECTS, ids=lambda p: p.fixture)
def pair(request, extra_images, tmp_path_factory) -> Pair:
    project: Project = request.param
    example = project.example
    original = e2e_lib.open_stack(example, tmp_path_factory.mktemp(f"{project.fixture}-orig"), "orig")
    request.addfinalizer(original.down)
    hardened = e2e_lib.open_stack(example, tmp_path_factory.mktemp(f"{project.fixture}-hard"), "hard")
    request.addfinalizer(hardened.down)
    if project.downloads:
        e2e_lib.trust_host_ca(original)
        e2e_lib.trust_host_ca(hardened)
    # the original first: the hardened builder stage reuses its layers
    if project.build_original:
        original.build()
        original.up()
    if os.environ.get("HARDEN_E2E_NO_APPLY") == "1":
        out = "(HARDEN_E2E_NO_APPLY=1: not applied)"
    else:
        proc = hardened.harden_apply()
        out = proc.stdout + proc.stderr
        print(f"$ python -m harden apply {hardened.dir}\n{out}")
        if proc.returncode != 0:
            pytest.fail(f"`harden apply` exited {proc.returncode}:\n{out[-4000:]}", pytrace=False)
    hardened.build()
    hardened.up()
    return Pair(project, original, hardened, out)


# --------------------------------------------------------------------------- the original


def test_original_runs_as_root_and_ships_the_build_tools(pair: Pair):
    """The checks below can fail: the project as written runs as root and ships its tools."""
    p = pair.project
    if not p.build_original:
        pytest.skip(f"{p.fixture}: the original is not built (another project shows the same)")
    answer = _answer(pair.original)
    assert answer.get("hello") == p.hello, answer
    log(f"original {p.fixture}: answers {answer}")
    assert answer["uid"] == 0, f"expected the original to run as root: {answer}"
    found = _forbidden(e2e_lib.image_files(_image(pair.original, p.service)["Id"]), p)
    log(f"original {p.fixture}: build tools in the image: {found}")
    for tool in p.tools:
        assert any(f.endswith(f"bin/{tool}") for f in found), f"no {tool} in the original image: {found}"
    if p.original_has_compiler:
        assert any(f.endswith("bin/gcc") for f in found), f"no gcc in the original image: {found}"


# --------------------------------------------------------------------------- after harden apply


def test_rewrite_splits_the_stages(pair: Pair):
    text = (pair.hardened.dir / "Dockerfile").read_text()
    stages = re.findall(r"(?im)^FROM\s+(\S+)\s+AS\s+(\S+)\s*$", text)
    assert [alias for _img, alias in stages] == ["builder", "production"], (
        f"{pair.project.fixture}: harden did not split the Dockerfile:\n{pair.harden_output}\n{text}"
    )


def test_hardened_answers(pair: Pair):
    answer = _answer(pair.hardened)
    log(f"hardened {pair.project.fixture}: answers {answer}")
    assert answer.get("hello") == pair.project.hello, answer


def test_hardened_process_is_not_root(pair: Pair):
    """The process that answers the request runs as a non-root uid, the one the image names."""
    answer = _answer(pair.hardened)
    assert answer["uid"] != 0, f"the hardened app runs as root: {answer}"
    user = _image(pair.hardened, pair.project.service)["Config"].get("User") or ""
    uid = user.split(":", 1)[0]
    assert uid, "the production image sets no USER"
    if uid.isdigit():
        assert int(uid) == answer["uid"], f"image USER {user!r}, app runs as uid {answer['uid']}"


def test_production_image_has_no_compiler_or_build_tool(pair: Pair):
    image = _image(pair.hardened, pair.project.service)
    found = _forbidden(e2e_lib.image_files(image["Id"]), pair.project)
    log(f"hardened {pair.project.fixture}: {e2e_lib.size_mb(image):.0f} MB, build tools: {found}")
    assert not found, f"the production image still holds {found}"


def test_production_keeps_what_the_start_runs(pair: Pair):
    """A devDependency the start runs stays in production (the split leaves the prune out)."""
    if not pair.project.kept:
        pytest.skip(f"{pair.project.fixture}: its start runs no devDependency")
    assert "devDependencies kept in production" in pair.harden_output, pair.harden_output
    assert "prune" not in (pair.hardened.dir / "Dockerfile").read_text()
    files = set(e2e_lib.image_files(_image(pair.hardened, pair.project.service)["Id"]))
    missing = [f for f in pair.project.kept if f not in files]
    assert not missing, f"production lacks {missing}"


def test_production_image_is_smaller(pair: Pair):
    if not pair.project.build_original:
        pytest.skip(f"{pair.project.fixture}: the original is not built")
    before = e2e_lib.size_mb(_image(pair.original, pair.project.service))
    after = e2e_lib.size_mb(_image(pair.hardened, pair.project.service))
    log(f"{pair.project.fixture}: {before:.0f} MB -> {after:.0f} MB")
    assert after < before, f"production image {after:.0f} MB, original {before:.0f} MB"


def test_second_apply_changes_nothing(pair: Pair):
    proc = subprocess.run([sys.executable, "-m", "harden", "diff", str(pair.hardened.dir)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"harden diff after apply exited {proc.returncode}:\n{proc.stdout}{proc.stderr}"
