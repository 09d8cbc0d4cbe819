"""The rewrites tests/e2e/test_split_builds.py and tests/e2e/test_issue16_builds.py build and run
(tests/fixtures/build-*), pinned as snapshots, and the rules those builds taught split-stages (unit
tests without an engine)."""

from __future__ import annotations

import re

import pytest

from harden_testlib import changed_text, copy_fixture, harden_run

BUILD = ["build-poetry-flask", "build-pipenv-flask", "build-uv-flask", "build-go-http", "build-go-install",
         # issue 16: USER before the install, file commands beside it, uv's Python image
         "build-node-user-first", "build-python-user-site", "build-python-user-venv", "build-python-mixed-run",
         "build-node-chown-workdir", "build-node-install-elsewhere", "build-uv-image-flask",
         # a start command through `poetry run`
         "build-poetry-run-flask",
         # the start script runs a devDependency's bin through `npm run`: split without the prune
         "build-node-devdep-start"]
# issue 16, item 1: not split (already several stages), the target gets the user
BUILD_USER_ONLY = ["build-node-dev-target", "build-python-two-targets",
                   # an official ONBUILD image: the user, and Rails' folders in the image's WORKDIR
                   "build-rails-onbuild"]


def _split(tmp_path, files: dict[str, str]):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return harden_run(tmp_path, select=["split-stages"])


def _outcome(result):
    found = [o for o in result.outcomes if o.transform == "split-stages" and o.file == "Dockerfile"]
    assert len(found) == 1, found
    return found[0]


def _notes(result):
    return [n.message for n in result.notes if n.transform == "split-stages"]


@pytest.mark.parametrize("name", BUILD)
def test_build_fixture_snapshot(tmp_path, name, snap_dockerfile):
    """split-stages + non-root-user as the e2e test builds them (read these as code)."""
    proj = copy_fixture(name, tmp_path)
    result = harden_run(proj, select=["split-stages", "non-root-user"])
    assert not result.errors
    after = changed_text(result, "Dockerfile")
    assert after == snap_dockerfile
    assert [a for a in re.findall(r"(?im)^FROM\s+\S+\s+AS\s+(\S+)\s*$", after)] == ["builder", "production"]


@pytest.mark.parametrize("name", BUILD_USER_ONLY)
def test_build_fixture_user_only_snapshot(tmp_path, name, snap_dockerfile):
    proj = copy_fixture(name, tmp_path)
    result = harden_run(proj, select=["split-stages", "non-root-user"])
    assert not result.errors
    assert [o.status for o in result.outcomes if o.transform == "non-root-user"] == ["changed"]
    assert changed_text(result, "Dockerfile") == snap_dockerfile


UV_PROJECT = {
    "pyproject.toml": '[project]\nname = "x"\nversion = "0.1.0"\ndependencies = ["flask"]\n',
    "uv.lock": "version = 1\n",
    "app.py": "import flask\n",
}


def _uv_dockerfile(tail: str, head: str = "") -> str:
    return (
        "FROM python:3.12-slim\n"
        "COPY --from=ghcr.io/astral-sh/uv:0.13.9 /uv /uvx /bin/\n"
        f"{head}"
        "WORKDIR /app\n"
        "COPY pyproject.toml uv.lock ./\n"
        "RUN uv sync --frozen --no-dev --no-install-project\n"
        "COPY . .\n"
        f"{tail}"
    )


def test_uv_cmd_from_project_venv_keeps_that_path(tmp_path):
    """CMD /app/.venv/bin/gunicorn: the venv lives at /app/.venv in both stages (was /opt/venv:
    the container failed to start, `stat /app/.venv/bin/gunicorn: no such file`)."""
    result = _split(tmp_path, {**UV_PROJECT, ".dockerignore": ".venv\n", "Dockerfile": _uv_dockerfile(
        'CMD ["/app/.venv/bin/gunicorn", "app:app"]\n')})
    after = changed_text(result, "Dockerfile")
    builder, production = after.split("AS production", 1)
    assert "RUN python3 -m venv /app/.venv\n" in builder
    assert "UV_PROJECT_ENVIRONMENT=/app/.venv" in builder
    assert "COPY --from=builder /app/.venv /app/.venv\n" in production
    assert "/opt/venv" not in after
    assert not _notes(result) or not any(".dockerignore" in n for n in _notes(result))


def test_relative_venv_path_in_env_resolves_against_workdir(tmp_path):
    result = _split(tmp_path, {**UV_PROJECT, ".dockerignore": "**/.venv\n", "Dockerfile": _uv_dockerfile(
        'ENV PATH=".venv/bin:$PATH"\nCMD ["gunicorn", "app:app"]\n')})
    after = changed_text(result, "Dockerfile")
    assert "COPY --from=builder /app/.venv /app/.venv\n" in after


def test_project_venv_without_dockerignore_gets_a_note(tmp_path):
    result = _split(tmp_path, {**UV_PROJECT, "Dockerfile": _uv_dockerfile(
        'ENV PATH="/app/.venv/bin:$PATH"\nCMD ["gunicorn", "app:app"]\n')})
    assert _outcome(result).status == "changed"
    assert any("add `.venv` to .dockerignore" in n for n in _notes(result)), _notes(result)


def test_no_venv_named_keeps_the_default(tmp_path):
    result = _split(tmp_path, {**UV_PROJECT, "Dockerfile": _uv_dockerfile('CMD ["gunicorn", "app:app"]\n')})
    after = changed_text(result, "Dockerfile")
    assert "COPY --from=builder /opt/venv /opt/venv\n" in after
    assert ".venv" not in after


def test_explicit_uv_project_environment_wins(tmp_path):
    result = _split(tmp_path, {**UV_PROJECT, "Dockerfile": _uv_dockerfile(
        'CMD ["/app/.venv/bin/gunicorn", "app:app"]\n', head="ENV UV_PROJECT_ENVIRONMENT=/srv/env\n")})
    after = changed_text(result, "Dockerfile")
    assert "COPY --from=builder /srv/env /srv/env\n" in after


def test_two_project_venvs_named_is_refused(tmp_path):
    result = _split(tmp_path, {**UV_PROJECT, "Dockerfile": _uv_dockerfile(
        'ENV PATH="/app/.venv/bin:$PATH"\nCMD ["/srv/.venv/bin/gunicorn", "app:app"]\n')})
    out = _outcome(result)
    assert out.status == "skipped"
    assert "several virtualenvs (/app/.venv, /srv/.venv)" in out.reason
    assert not result.files or all(f.after == f.before for f in result.files)


def test_venvs_folder_or_variable_path_is_not_a_project_venv(tmp_path):
    result = _split(tmp_path, {**UV_PROJECT, "Dockerfile": _uv_dockerfile(
        'ENV PATH="$HOME/.venv/bin:/opt/.venvs/x/bin:$PATH"\nCMD ["gunicorn", "app:app"]\n')})
    after = changed_text(result, "Dockerfile")
    assert "COPY --from=builder /opt/venv /opt/venv\n" in after


def test_poetry_in_project_venv_on_path(tmp_path):
    """POETRY_VIRTUALENVS_IN_PROJECT + PATH=/app/.venv/bin: poetry installs into the active
    VIRTUAL_ENV, which is now that path."""
    result = _split(tmp_path, {
        "pyproject.toml": '[tool.poetry]\nname = "x"\nversion = "0.1.0"\n',
        "poetry.lock": "",
        ".dockerignore": ".venv\n",
        "Dockerfile": (
            "FROM python:3.12\n"
            "RUN pip install poetry==2.5.1\n"
            "ENV POETRY_VIRTUALENVS_IN_PROJECT=1\n"
            "WORKDIR /app\n"
            "COPY pyproject.toml poetry.lock ./\n"
            "RUN poetry install --only main --no-root\n"
            "COPY . .\n"
            'ENV PATH="/app/.venv/bin:$PATH"\n'
            'CMD ["gunicorn", "app:app"]\n'
        ),
    })
    after = changed_text(result, "Dockerfile")
    assert "RUN python3 -m venv /app/.venv\nENV VIRTUAL_ENV=/app/.venv" in after
    assert "COPY --from=builder /app/.venv /app/.venv\n" in after


GO_PROJECT = {
    "go.mod": "module example.com/hello\n\ngo 1.22\n",
    "cmd/hello/main.go": 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hi") }\n',
}


def _go(tmp_path, build: str, cmd: str, env: str = ""):
    result = _split(tmp_path, {**GO_PROJECT, "Dockerfile": (
        f"FROM golang:1.22\nWORKDIR /go/src/app\n{env}COPY . .\n{build}\n{cmd}\n")})
    return changed_text(result, "Dockerfile").split("AS production", 1)[1]


def test_go_install_called_by_name_gets_its_folder_on_path(tmp_path):
    """`go install` + CMD ["hello"]: /go/bin is on PATH only in the golang image (was: the
    distroless container failed, `exec: "hello": executable file not found in $PATH`)."""
    prod = _go(tmp_path, "RUN go install ./cmd/hello", 'CMD ["hello"]')
    assert 'COPY --from=builder /go/bin/hello /go/bin/hello\nENV PATH="/go/bin:$PATH"\n' in prod


def test_go_binary_on_the_default_path_needs_no_path(tmp_path):
    prod = _go(tmp_path, "RUN go build -o /usr/local/bin/hello ./cmd/hello", 'CMD ["hello"]')
    assert "COPY --from=builder /usr/local/bin/hello /usr/local/bin/hello\n" in prod
    assert "PATH" not in prod


@pytest.mark.parametrize("cmd", ['CMD ["/go/bin/hello"]', 'ENTRYPOINT ["/go/bin/hello", "serve"]'])
def test_go_binary_called_by_its_path_needs_no_path(tmp_path, cmd):
    prod = _go(tmp_path, "RUN go install ./cmd/hello", cmd)
    assert "PATH" not in prod


def test_go_relative_binary_needs_no_path(tmp_path):
    prod = _go(tmp_path, "RUN go build -o server ./cmd/hello", 'CMD ["./server"]')
    assert "COPY --from=builder /go/src/app/server /go/src/app/server\n" in prod
    assert "PATH" not in prod


def test_go_folder_the_dockerfile_already_puts_on_path(tmp_path):
    prod = _go(tmp_path, "RUN go install ./cmd/hello", 'CMD ["hello"]', env='ENV PATH="$PATH:/go/bin"\n')
    assert prod.count("ENV PATH") == 1  # the author's ENV, kept in both stages; nothing added


@pytest.mark.parametrize("build, binary", [
    ("RUN go build main.go", "/go/src/app/main"),
    ("RUN go build cmd/hello/main.go", "/go/src/app/main"),  # written to the current folder
    ("RUN go build server.go routes.go", "/go/src/app/server"),
    ("RUN go build -o srv main.go", "/go/src/app/srv"),
])
def test_go_build_of_files_names_the_binary_after_the_first_file(tmp_path, build, binary):
    """`go build main.go` writes ./main (was: the module's name, /go/src/app/hello, and the
    production build failed: COPY failed: stat app/hello: file does not exist)."""
    prod = _go(tmp_path, build, f'CMD ["{binary}"]')
    assert f"COPY --from=builder {binary} {binary}\n" in prod


def test_go_build_after_cd_resolves_the_output_there(tmp_path):
    """`RUN cd src && go build -o server .` writes /go/src/app/src/server (was: /go/src/app/server,
    and COPY --from=builder failed)."""
    prod = _go(tmp_path, "RUN cd cmd/hello && go build -o server .", 'CMD ["/go/src/app/cmd/hello/server"]')
    assert "COPY --from=builder /go/src/app/cmd/hello/server /go/src/app/cmd/hello/server\n" in prod


@pytest.mark.parametrize("build, why", [
    ("RUN cd cmd/hello && go build .", "named after the go.mod of that folder"),
    ("RUN cd $SRC && go build -o server .", "cannot resolve"),
])
def test_go_build_after_cd_harden_cannot_follow_is_refused(tmp_path, build, why):
    result = _split(tmp_path, {**GO_PROJECT, "Dockerfile": (
        f"FROM golang:1.22\nWORKDIR /go/src/app\nCOPY . .\n{build}\nCMD [\"server\"]\n")})
    out = _outcome(result)
    assert out.status == "skipped" and why in out.reason, out


@pytest.mark.parametrize("run, tool", [
    ("RUN pip install pipenv && pipenv install --system --deploy", "pipenv"),
    ("RUN pip install --upgrade pip && pip install poetry==2.5.1 && poetry install --no-root", "poetry"),
])
def test_installer_installed_in_the_install_run_is_noted(tmp_path, run, tool):
    """Built for real: `RUN pip install pipenv && pipenv install --system` put pipenv into the
    production virtualenv (it runs with the virtualenv first on PATH); the rewrite says so."""
    result = _split(tmp_path, {"Pipfile": "", "Pipfile.lock": "{}", "pyproject.toml": "", "poetry.lock": "",
                               "Dockerfile": f"FROM python:3.12\nWORKDIR /app\nCOPY . .\n{run}\nCMD [\"python\", \"app.py\"]\n"})
    assert _outcome(result).status == "changed"
    notes = [n for n in _notes(result) if "goes into the virtualenv" in n]
    assert len(notes) == 1 and f"so {tool} goes into the virtualenv production copies" in notes[0], _notes(result)


def test_installer_in_a_run_of_its_own_is_not_noted(tmp_path):
    result = _split(tmp_path, {"Pipfile": "", "Pipfile.lock": "{}", "Dockerfile": (
        "FROM python:3.12\nRUN pip install --upgrade pip && pip install pipenv\nWORKDIR /app\nCOPY . .\n"
        "RUN pipenv install --system --deploy\nCMD [\"python\", \"app.py\"]\n")})
    assert not [n for n in _notes(result) if "goes into the virtualenv" in n]


@pytest.mark.parametrize("start, prod_base, copies_app", [
    ('CMD ["sh", "-c", "exec ./server --port $PORT"]', "debian:bookworm-slim", False),
    ('ENTRYPOINT ["/bin/bash", "-c", "./server"]', "debian:bookworm-slim", False),
    ('ENTRYPOINT ["./start.sh"]', "debian:bookworm-slim", True),
    ('CMD ["/go/src/app/docker-entrypoint.sh", "server"]', "debian:bookworm-slim", True),
    ('CMD ["./server"]', "gcr.io/distroless/static-debian12:nonroot", False),
    ('ENTRYPOINT ["/go/src/app/server"]\nCMD ["serve", "--port", "8080"]', "gcr.io/distroless/static-debian12:nonroot", False),
])
def test_go_start_command_through_a_shell_or_script(tmp_path, start, prod_base, copies_app):
    """An exec-form CMD that runs sh, bash or a start script needs a shell, and the script
    needs the app files (was: distroless and only the binary; the container could not start)."""
    result = _split(tmp_path, {**GO_PROJECT, "Dockerfile": (
        f"FROM golang:1.22\nWORKDIR /go/src/app\nCOPY . .\nRUN go build -o server ./cmd/hello\n{start}\n")})
    after = changed_text(result, "Dockerfile")
    assert f"\nFROM {prod_base} AS production\n" in after
    prod = after.split("AS production", 1)[1]
    assert ("COPY . .\n" in prod) == copies_app, prod
