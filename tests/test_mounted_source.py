"""App source read through a bind mount (model.mounted_source): a dev compose file mounts the
checkout over the working directory of an image that copies none of it (cookiecutter-django's
local.yml, `.:/code`); harden reads the app there, with the same reader and bounds as a build
context, and only inside the project."""

from __future__ import annotations

from pathlib import Path

import pytest

from harden_testlib import copy_fixture, harden_run, write_files
from harden.engine import Run
from harden.model import mounted_source
from harden.roles import classify_all

DOCKERFILE = "FROM python:3.12-slim\nCOPY requirements.txt /requirements.txt\nRUN pip install -r /requirements.txt\n" \
             "COPY start /start\nWORKDIR /app\n"
APP = {
    "docker/requirements.txt": "django==5.0.6\n",
    "docker/start": "#!/bin/sh\nexec python manage.py runserver 0.0.0.0:8000\n",
    "src/app.py": "import os\nimport redis\nr = redis.Redis(host=os.environ.get('REDIS_HOST', 'cache'))\n",
}


def _service(tmp_path: Path, service: str, dockerfile: str | None = DOCKERFILE, **files: str):
    write_files(tmp_path, {**APP, **({"docker/Dockerfile": dockerfile} if dockerfile else {}), **files})
    r = Run(tmp_path)
    r.load()
    project = r.projects[0]
    return mounted_source(project, project.service(service), r.discovery.root)


def _compose(volumes: str, extra: str = "", build: str = "    build: ./docker\n") -> str:
    return f"services:\n  web:\n{build}{extra}    volumes:\n{volumes}  cache:\n    image: redis:7\n"


@pytest.mark.parametrize("volumes,where", [
    ("      - .:/app\n", "."),
    ("      - ./:/app:cached\n", "."),
    ("      - type: bind\n        source: .\n        target: /app\n", "."),
    # a volume over the dependencies hides them, not the app
    ("      - .:/app\n      - /app/node_modules\n", "."),
    # a mount elsewhere
    ("      - .:/srv\n", None),
])
def test_the_folder_a_bind_mount_puts_at_the_working_directory(tmp_path, volumes, where):
    got = _service(tmp_path, "web", **{"compose.yaml": _compose(volumes)})
    assert got == (tmp_path.resolve() if where == "." else None)


def test_a_mount_above_the_working_directory_reads_the_folder_inside_it(tmp_path):
    dockerfile = DOCKERFILE.replace("WORKDIR /app", "WORKDIR /srv/src")
    got = _service(tmp_path, "web", dockerfile, **{"compose.yaml": _compose("      - .:/srv\n")})
    assert got == (tmp_path / "src").resolve()


@pytest.mark.parametrize("volumes", [
    "      - app-code:/app\n",                      # a named volume is not source
    "      - /srv/checkout:/app\n",                 # an absolute host path
    "      - ~/code:/app\n",                        # a home path
    "      - ${CODE_DIR:-.}:/app\n",                # a variable
    "      - ../:/app\n",                           # outside the project
    "      - .:/app\n      - ./src:/app/src\n",     # part of it from another host folder
    "      - ./src:/app/src\n",                     # not the working directory itself
    "      - type: volume\n        source: app-code\n        target: /app\n",
])
def test_no_source_outside_the_project_or_from_a_volume(tmp_path, volumes):
    root = tmp_path / "p"
    assert _service(root, "web", **{"compose.yaml": _compose(volumes) + "volumes:\n  app-code:\n"}) is None


@pytest.mark.parametrize("dockerfile", [
    DOCKERFILE + "COPY . .\n",                       # the image has the app there
    DOCKERFILE.replace("COPY start /start", "COPY . /app"),
    DOCKERFILE.replace("WORKDIR /app", "WORKDIR $APP_HOME"),
    DOCKERFILE.replace("WORKDIR /app\n", ""),        # the base image's working directory: unknown
])
def test_an_image_with_files_at_its_working_directory_is_read_from_its_build_context(tmp_path, dockerfile):
    assert _service(tmp_path, "web", dockerfile, **{"compose.yaml": _compose("      - .:/app\n")}) is None


def test_a_service_that_builds_nothing_is_read_through_its_working_directory(tmp_path):
    text = _compose("      - ./src:/code\n", extra="    working_dir: /code\n    command: python app.py\n",
                    build="    image: python:3.12-slim\n")
    assert _service(tmp_path, "web", None, **{"compose.yaml": text}) == (tmp_path / "src").resolve()
    no_wd = _compose("      - ./src:/code\n", build="    image: python:3.12-slim\n")
    assert _service(tmp_path, "web", None, **{"compose.yaml": no_wd}) is None


def test_what_the_mounted_source_says_decides_whom_the_service_talks_to(tmp_path):
    """The image (built from ./compose/local/django) copies only its start script and
    requirements; the code is the checkout mounted over /app. Its settings name postgres, and
    nothing names the search engine: django talks to postgres, not to search."""
    path = copy_fixture("net-mounted-source", tmp_path)
    r = Run(path)
    r.load()
    project = r.projects[0]
    roles = classify_all(project, _Ctx(r))
    assert roles["django"].talks_known and roles["django"].talks_to == {"postgres"}
    res = harden_run(path, select=["networks"])
    assert not [o for o in res.outcomes if o.transform == "networks" and o.status == "skipped"]


class _Ctx:
    def __init__(self, run):
        self.run = run

    def facts(self, project, name):
        return self.run.facts(project, name)

    def service_option(self, name, key, default=None):
        return default
