"""split-stages: snapshot tests over realistic fixtures, outcomes and notes, refusals, hadolint."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from harden_testlib import FIXTURES, changed_text, copy_fixture, harden_run

NAME = "split-stages"

SPLIT = [
    "split-python-mysql", "split-python-req-chain", "split-python-pip-dot", "split-python-poetry",
    "split-python-uv", "split-python-pipenv", "split-python-alpine", "split-syntax-arg",
    "split-node-npm", "split-node-yarn", "split-node-pnpm", "split-go", "split-go-alpine",
    "split-python-pip-global-opts", "split-node-global-cli", "split-python-entrypoint-tools",
    "split-python-poetry-installer", "split-python-uv-image", "split-python-mixed-run",
    # its ENTRYPOINT script runs `python manage.py migrate && exec gunicorn ...`: the venv has both
    "split-python-startscript",
    # the CMD's script runs `npm run migrate`, whose package.json script runs ts-node (a devDependency):
    # split without the prune, production copies /app with every devDependency
    "split-node-startscript-devtool",
]
REFUSED = {
    "split-heredoc": "RUN heredoc at line 5",
    "split-unknown-installer": "Ruby (bundle)",
    "split-ubuntu-python": "base image ubuntu:22.04 is not an official python image",
    "split-compose-target": "builds target 'app'",
    # `pip --no-cache-dir install` is an install too: the sed beside it is what stops the split
    "split-python-pip-sed": "mixes dependency installation with `sed -i s/psycopg2-binary/psycopg2/g`",
    # uv ignores VIRTUAL_ENV with --system: production would copy an empty virtualenv
    "split-python-uv-system": "`uv pip install ... --system` installs outside an environment harden can copy",
    # its start script runs the linters and the tests
    "split-node-test-image": "a test image: its start runs `npm run lint` (CMD at line 8 -> ci/run-checks.sh line 3)",
}


def _run(tmp_path, name, **opts):
    proj = copy_fixture(name, tmp_path)
    if opts:
        from harden.config import Options
        from harden.engine import run

        o = Options(select=[NAME])
        o.values.update(opts)
        return proj, run(proj, o)
    return proj, harden_run(proj, select=[NAME])


def _outcome(result, file="Dockerfile"):
    found = [o for o in result.outcomes if o.transform == NAME and o.file == file]
    assert len(found) == 1, found
    return found[0]


def _notes(result):
    return [n.message for n in result.notes if n.transform == NAME]


def _stages(text):
    return re.findall(r"(?im)^FROM\s+(?:--platform=\S+\s+)?(\S+)\s+AS\s+(\S+)\s*$", text)


def _comment_lines(text):
    return [line.strip() for line in text.splitlines() if line.strip().startswith("#")]


# --------------------------------------------------------------------------- snapshots

@pytest.mark.parametrize("name", SPLIT)
def test_split_snapshot(tmp_path, name, snap_dockerfile):
    proj, result = _run(tmp_path, name)
    assert not result.errors
    assert _outcome(result).status == "changed"
    after = changed_text(result, "Dockerfile")
    assert after == snap_dockerfile
    before = (proj / "Dockerfile").read_text()
    # two stages, builder first, and the builder is what production copies from
    stages = _stages(after)
    assert [alias for _img, alias in stages] == ["builder", "production"]
    assert "COPY --from=builder " in after
    # every comment line of the input is still there
    for c in _comment_lines(before):
        assert c in _comment_lines(after), c
    # CMD/ENTRYPOINT end up in production only, unchanged
    prod = after.split("AS production", 1)[1]
    for k in ("CMD", "ENTRYPOINT"):
        for line in before.splitlines():
            if line.startswith(k + " "):
                assert line in prod.splitlines()
                assert line not in after.split("AS production", 1)[0].splitlines()


@pytest.mark.parametrize("name", ["split-python-mysql", "split-node-npm", "split-go"])
def test_split_diff_snapshot(tmp_path, name, snap_diff):
    from harden.report import unified_diff  # the renderer `harden diff` uses

    _proj, result = _run(tmp_path, name)
    f = next(f for f in result.files if f.rel == "Dockerfile")
    assert unified_diff(f.rel, f.before, f.after) == snap_diff


# --------------------------------------------------------------------------- outcomes

def test_python_full_base_goes_slim_with_runtime_lib(tmp_path):
    _proj, result = _run(tmp_path, "split-python-mysql")
    after = changed_text(result, "Dockerfile")
    assert _stages(after) == [("python:3.12", "builder"), ("python:3.12-slim", "production")]
    prod = after.split("AS production", 1)[1]
    builder = after.split("AS production", 1)[0]
    # compilers and headers stay in the builder; the runtime library and curl (HEALTHCHECK) in production
    assert "gcc" in builder and "default-libmysqlclient-dev" in builder
    assert "gcc" not in prod and "-dev" not in prod and "pkg-config" not in prod
    assert "apt-get install -y --no-install-recommends libmariadb3 curl" in prod
    assert "rm -rf /var/lib/apt/lists/*" in prod
    # the venv: created before the install in the builder, same path and PATH in production
    assert builder.index("RUN python3 -m venv /opt/venv") < builder.index("RUN pip install")
    assert "COPY --from=builder /opt/venv /opt/venv" in prod
    assert 'PATH="/opt/venv/bin:$PATH"' in prod
    assert "requirements-web.txt" not in prod  # only the builder needs it
    notes = _notes(result)
    assert len(notes) == 1 and "python:3.12-slim" in notes[0] and "libmariadb3" in notes[0]


def test_runtime_steps_run_in_production(tmp_path):
    """collectstatic/compilemessages make files the app serves: they run in production, after the
    app and the venv are there; gettext (needed by compilemessages) stays installed."""
    _proj, result = _run(tmp_path, "split-python-req-chain")
    after = changed_text(result, "Dockerfile")
    builder, prod = after.split("AS production", 1)
    assert "collectstatic" not in builder and "collectstatic" in prod
    assert prod.index("COPY --from=builder /opt/venv") < prod.index("COPY . .") < prod.index("collectstatic")
    assert "libpq5 libjpeg62-turbo gettext" in prod
    assert "build-essential" not in prod
    for k in ("LABEL", "VOLUME", "EXPOSE", "STOPSIGNAL"):
        assert k not in builder
        assert k in prod
    assert "ARG DJANGO_ENV=production" in builder and "ARG DJANGO_ENV=production" in prod
    assert _notes(result) == []


def test_syntax_directive_and_global_arg_stay_first(tmp_path):
    _proj, result = _run(tmp_path, "split-syntax-arg")
    after = changed_text(result, "Dockerfile")
    lines = after.splitlines()
    assert lines[:5] == ["# syntax=docker/dockerfile:1", "# escape=\\", "",
                         "# Python version for both the build and the image", "ARG PYTHON_VERSION=3.12"]
    assert lines[5] == "FROM --platform=linux/amd64 python:${PYTHON_VERSION} AS builder"
    assert "FROM --platform=linux/amd64 python:${PYTHON_VERSION}-slim AS production" in lines
    # the stage ARG is declared in both stages; LABEL only in production
    assert lines.count("ARG APP_VERSION=dev") == 2
    assert after.index("LABEL") > after.index("AS production")
    assert lines[-2:] == ["# end of file", ""] or lines[-1] == "# end of file"
    # BuildKit flags of the RUN are kept as written
    assert "RUN --mount=type=cache,target=/root/.cache/pip pip install -r requirements.txt" in lines


def test_poetry_installs_into_the_venv(tmp_path):
    _proj, result = _run(tmp_path, "split-python-poetry")
    after = changed_text(result, "Dockerfile")
    builder, prod = after.split("AS production", 1)
    # poetry itself is installed before the venv exists: it stays out of what production copies
    assert builder.index('RUN pip install "poetry==$POETRY_VERSION"') < builder.index("RUN python3 -m venv")
    assert builder.index("ENV VIRTUAL_ENV=/opt/venv") < builder.index("poetry install")
    assert "poetry" not in prod.replace("POETRY_", "")
    # psycopg2 has no wheel: built against the full image's libpq, it needs libpq5 in slim
    assert "libpq5" in prod
    assert "# hadolint ignore=DL3008" in prod  # the input installed no apt packages to compare with


def test_uv_sync_targets_the_venv_and_uv_stays_in_builder(tmp_path):
    _proj, result = _run(tmp_path, "split-python-uv")
    after = changed_text(result, "Dockerfile")
    builder, prod = after.split("AS production", 1)
    assert "UV_PROJECT_ENVIRONMENT=/opt/venv" in builder
    assert "astral-sh/uv" in builder and "astral-sh/uv" not in prod
    assert "# uv from its official image" in builder


def test_alpine_mixed_run_gets_runtime_lib(tmp_path):
    _proj, result = _run(tmp_path, "split-python-alpine")
    prod = changed_text(result, "Dockerfile").split("AS production", 1)[1]
    assert "RUN apk add --no-cache libpq\n" in prod
    assert "musl-dev" not in prod and "gcc" not in prod


def test_pipenv_bullseye_libs_already_in_python_image(tmp_path):
    _proj, result = _run(tmp_path, "split-python-pipenv")
    prod = changed_text(result, "Dockerfile").split("AS production", 1)[1]
    assert "apt-get" not in prod  # libffi7/libssl1.1 ship with python:*-slim
    assert "pipenv" not in prod


def test_venv_option(tmp_path):
    _proj, result = _run(tmp_path, "split-python-pipenv", venv="/venv")
    after = changed_text(result, "Dockerfile")
    assert "RUN python3 -m venv /venv" in after
    assert "COPY --from=builder /venv /venv" in after
    assert "/opt/venv" not in after


def test_node_build_and_prune(tmp_path):
    _proj, result = _run(tmp_path, "split-node-npm")
    after = changed_text(result, "Dockerfile")
    builder, prod = after.split("AS production", 1)
    assert builder.index("RUN npm run build") < builder.index("RUN npm prune --omit=dev")
    assert "COPY --from=builder /usr/src/app /usr/src/app" in prod
    assert "npm" not in prod
    assert _stages(after) == [("node:20", "builder"), ("node:20-slim", "production")]
    assert any("production uses node:20-slim" in n.message for n in result.notes)


def test_node_full_base_kept_when_production_runs_curl(tmp_path):
    proj = tmp_path / "p"
    proj.mkdir()
    (proj / "package.json").write_text('{"name": "x", "dependencies": {"express": "^4"}}\n')
    (proj / "Dockerfile").write_text(
        "FROM node:20\nWORKDIR /app\nCOPY package.json ./\nRUN npm install\nCOPY . .\n"
        "HEALTHCHECK CMD curl -fsS http://127.0.0.1:3000/ || exit 1\nCMD [\"node\", \"server.js\"]\n")
    result = harden_run(proj, select=["split-stages"])
    after = changed_text(result, "Dockerfile")
    assert _stages(after) == [("node:20", "builder"), ("node:20", "production")]
    assert any("node:*-slim does not have" in n.message and "curl" in n.message for n in result.notes)


def test_node_yarn_native_build_tools_stay_in_builder(tmp_path):
    _proj, result = _run(tmp_path, "split-node-yarn")
    after = changed_text(result, "Dockerfile")
    builder, prod = after.split("AS production", 1)
    assert "RUN yarn install --production --frozen-lockfile" in builder
    assert "apk add" not in prod  # python3 make g++ were for node-gyp
    assert "HEALTHCHECK" in prod


def test_node_pnpm(tmp_path):
    _proj, result = _run(tmp_path, "split-node-pnpm")
    after = changed_text(result, "Dockerfile")
    builder, prod = after.split("AS production", 1)
    assert "RUN pnpm prune --prod" in builder
    assert "USER node" in prod and "USER" not in builder


def test_go_static_binary_on_distroless(tmp_path):
    _proj, result = _run(tmp_path, "split-go")
    after = changed_text(result, "Dockerfile")
    builder, prod = after.split("AS production", 1)
    assert "FROM gcr.io/distroless/static-debian12:nonroot AS production" in after
    assert "ENV CGO_ENABLED=0" in builder
    assert "COPY --from=builder /usr/local/bin/server /usr/local/bin/server" in prod
    assert "COPY . ." not in prod
    assert any("only the binary" in n for n in _notes(result))


def test_go_alpine_with_files_tz_and_shell(tmp_path):
    _proj, result = _run(tmp_path, "split-go-alpine")
    after = changed_text(result, "Dockerfile")
    builder, prod = after.split("AS production", 1)
    assert "FROM alpine:3.20 AS production" in after
    assert "COPY --from=builder /app/report /app/report" in prod
    assert "COPY . ." in prod  # template.ParseFiles reads templates/ at run time
    assert "RUN apk add --no-cache ca-certificates tzdata" in prod
    assert "git" not in prod


def test_already_multi_stage_is_left_alone(tmp_path):
    proj, result = _run(tmp_path, "split-already-multistage")
    assert _outcome(result).status == "unchanged"
    assert changed_text(result, "Dockerfile") == (proj / "Dockerfile").read_text()


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_refusals_change_nothing(tmp_path, name):
    proj, result = _run(tmp_path, name)
    o = _outcome(result)
    assert o.status == "skipped"
    assert REFUSED[name] in o.reason
    assert changed_text(result, "Dockerfile") == (proj / "Dockerfile").read_text()


def test_idempotent(tmp_path):
    for name in SPLIT:
        proj = copy_fixture(name, tmp_path / "a")
        first = harden_run(proj, select=[NAME])
        (proj / "Dockerfile").write_text(changed_text(first, "Dockerfile"))
        second = harden_run(proj, select=[NAME])
        assert _outcome(second).status == "unchanged", name


def test_pragma_suppresses(tmp_path):
    proj = copy_fixture("split-python-alpine", tmp_path)
    df = proj / "Dockerfile"
    df.write_text("# harden: ignore[split-stages]\n" + df.read_text())
    result = harden_run(proj, select=[NAME])
    assert changed_text(result, "Dockerfile") == df.read_text()


# --------------------------------------------------------------------------- units

@pytest.mark.parametrize("text, reason", [
    ("FROM python:3.12\nRUN pip install --user -r r.txt\n", "--user"),
    ("FROM python:3.12\nSHELL [\"/bin/bash\", \"-c\"]\nRUN pip install -r r.txt\n", "SHELL"),
    ("FROM python:${PY}\nRUN pip install -r r.txt\n", "without a default"),
    ("FROM python:3.12\nRUN pip install -r r.txt && npm ci\n", "mixes"),
    ("FROM python:3.12\nRUN curl -sSL https://example.com/get.sh | sh && pip install x\n", "mixes"),
    ("FROM python:3.12\nRUN python setup.py install\n", "python setup.py"),
    ("FROM python:3.12\nENV UV_SYSTEM_PYTHON=1\nRUN pip install uv\nRUN uv pip install -r r.txt\n",
     "UV_SYSTEM_PYTHON at line 2 makes `uv pip install` install into the system Python"),
    ("FROM python:3.12\nRUN pip install uv\nRUN UV_SYSTEM_PYTHON=true uv pip install -r r.txt\n",
     "`UV_SYSTEM_PYTHON=true uv pip ...` installs into the system Python"),
    # issue 16 item 2: USER before the install is split, unless who installs cannot be told
    ("FROM python:3.12\nUSER ${APP_USER}\nRUN pip install -r r.txt\n",
     "USER ${APP_USER} at line 2 comes from a build variable"),
    ("FROM python:3.12\nUSER app\nRUN pip install -r a.txt\nUSER root\nRUN pip install -r b.txt\n",
     "the build steps run as different users (app, root)"),
    ("FROM golang:1.22\nWORKDIR /s\nCOPY . .\nUSER nobody\nRUN go build -o /s/app .\n",
     "USER at line 4 comes before the Go build"),
    ("FROM python:3.12\nRUN pip install --user -r r.txt\n", "installs into root's home"),
    ("FROM python:3.12\nUSER 1000\nRUN pip install --user -r r.txt\n",
     "installs into the home of user 1000, which harden cannot find in this Dockerfile; set ENV HOME"),
    ("FROM python:3.12\nRUN adduser --system app\nUSER app\nRUN pip install --user -r r.txt\n",
     "installs into the home of user app"),
    ("FROM python:3.12\nRUN useradd -m app\nUSER app\nRUN pip install --user -r r.txt && pip install -r s.txt\n",
     "installs into the user's site while other installs do not"),
    ("FROM python:3.12\nRUN pip install -r r.txt\nCMD poetry run app\n", "poetry run"),
    ("FROM node:20\nRUN npm ci\n", "without a WORKDIR"),
    ("FROM node:20\nCOPY package.json /tmp/app/\nRUN cd /tmp/app && npm install\nCOPY . /usr/src/app\n",
     "without a WORKDIR (`npm install` at line 3 runs in /tmp/app, after `cd`); harden cannot tell which files the "
     "build produced (set WORKDIR to the app's folder and install there)"),
    # the app's folder is set after an install elsewhere that nothing copies into it (a test image
    # whose start script installs again): what production needs from the install is unknown
    ("FROM node:20\nCOPY package*.json /tmp/app/\nRUN cd /tmp/app && npm install\nCOPY . /usr/src/app\n"
     "WORKDIR /usr/src/app\nCMD [\"/opt/start.sh\"]\n",
     "`npm install` at line 3 installs in /tmp/app (after `cd`), and nothing copies what it installed into the "
     "app's folder /usr/src/app (WORKDIR at line 5)"),
    ("FROM python:3.12\nRUN pip install -r r.txt\nCMD poetry run app\n",
     "call the commands directly (the environment's bin folder is first on PATH in production)"),
    ('FROM python:3.12\nRUN pip install -r r.txt\nCMD ["poetry", "run", "app"]\n',
     "runs through `poetry run`, a tool the production stage would not have; poetry does not install the "
     "environment production copies"),
    ("FROM node:20\nWORKDIR /app\nCOPY . .\nRUN npm i -g pm2 && npm ci\nCMD [\"pm2-runtime\", \"app.js\"]\n",
     "production runs pm2-runtime, which the RUN at line 4 installs together with other build steps"),
    ("FROM golang:1.22\nWORKDIR /s\nCOPY . .\nRUN go build ./...\n", "cannot tell the binary name"),
    ("FROM golang:1.14-alpine\nWORKDIR /go/src/app\nCOPY . .\nRUN go install -v\nCMD [\"app\"]\n",
     "`go build`/`go install` of the current folder without go.mod in the build context (GOPATH mode)"),
])
def test_refuses(tmp_path, text, reason):
    (tmp_path / "Dockerfile").write_text(text)
    result = harden_run(tmp_path, select=[NAME])
    o = _outcome(result)
    assert o.status == "skipped", o
    assert reason in o.reason
    assert changed_text(result, "Dockerfile") == text


def test_nothing_to_build_is_unchanged(tmp_path):
    text = "FROM nginx:1.27-alpine\nRUN apk add --no-cache curl\nCOPY site/ /usr/share/nginx/html/\n"
    (tmp_path / "Dockerfile").write_text(text)
    result = harden_run(tmp_path, select=[NAME])
    assert _outcome(result).status == "unchanged"


def test_arg_default_resolves_base_and_digest_keeps_image(tmp_path):
    text = ("ARG PY=3.12\nFROM python:${PY}@sha256:" + "a" * 64 + "\nWORKDIR /app\nCOPY r.txt .\n"
            "RUN pip install -r r.txt\nCOPY . .\nCMD [\"python\", \"app.py\"]\n")
    (tmp_path / "Dockerfile").write_text(text)
    result = harden_run(tmp_path, select=[NAME])
    after = changed_text(result, "Dockerfile")
    img = "python:${PY}@sha256:" + "a" * 64
    assert _stages(after) == [(img, "builder"), (img, "production")]
    assert any("pinned by digest" in n for n in _notes(result))


def test_unknown_dev_package_is_kept_with_a_note(tmp_path):
    text = ("FROM python:3.12-slim\nRUN apt-get update && apt-get install -y --no-install-recommends gcc libfoo-dev "
            "&& rm -rf /var/lib/apt/lists/*\nWORKDIR /app\nCOPY r.txt .\nRUN pip install -r r.txt\n"
            "CMD [\"python\", \"app.py\"]\n")
    (tmp_path / "Dockerfile").write_text(text)
    result = harden_run(tmp_path, select=[NAME])
    prod = changed_text(result, "Dockerfile").split("AS production", 1)[1]
    assert "libfoo-dev" in prod and "gcc" not in prod
    assert any("libfoo-dev" in n and "runtime library" in n for n in _notes(result))


def test_existing_venv_is_reused(tmp_path):
    text = ("FROM python:3.12-slim\nRUN python -m venv /venv\nENV PATH=/venv/bin:$PATH\nWORKDIR /app\n"
            "COPY requirements.txt .\nRUN pip install -r requirements.txt\nCOPY . .\nCMD [\"python\", \"app.py\"]\n")
    (tmp_path / "Dockerfile").write_text(text)
    result = harden_run(tmp_path, select=[NAME])
    after = changed_text(result, "Dockerfile")
    assert "/opt/venv" not in after
    assert after.count("ENV PATH=/venv/bin:$PATH") == 2
    assert "COPY --from=builder /venv /venv" in after


def test_global_cli_builds_in_builder_and_is_installed_where_it_runs(tmp_path):
    """`npm i -g @nestjs/cli` then `RUN nest build` and `CMD nest start`: the build step is a
    builder step (it was left for production, where `nest` did not exist), and production, whose
    CMD runs `nest`, installs the CLI too."""
    _proj, result = _run(tmp_path, "split-node-global-cli")
    builder, prod = changed_text(result, "Dockerfile").split("AS production", 1)
    assert builder.index("RUN nest build") < builder.index("RUN npm prune --omit=dev")
    assert "nest build" not in prod
    assert "RUN npm install -g @nestjs/cli@10" in builder and "RUN npm install -g @nestjs/cli@10" in prod
    assert prod.index("RUN npm install -g @nestjs/cli@10") < prod.index("CMD nest start")


@pytest.mark.parametrize("install, cmd, in_prod", [
    ("npm install pm2 -g", '["pm2-runtime", "ecosystem.config.js"]', True),
    ("yarn global add serve@14", '["serve", "-s", "build"]', True),
    ("corepack enable", '["pnpm", "start"]', True),
    ("npm install -g typescript", '["node", "dist/index.js"]', False),  # tsc only builds
    ("npm i -g @angular/cli", '["ng", "serve", "--host", "0.0.0.0"]', True),
])
def test_global_node_tools_follow_their_use(tmp_path, install, cmd, in_prod):
    text = (f"FROM node:20-alpine\nWORKDIR /app\nCOPY package*.json ./\nRUN {install}\nRUN npm ci\nCOPY . .\n"
            f"RUN npm run build\nCMD {cmd}\n")
    (tmp_path / "Dockerfile").write_text(text)
    result = harden_run(tmp_path, select=[NAME])
    builder, prod = changed_text(result, "Dockerfile").split("AS production", 1)
    assert f"RUN {install}\n" in builder
    assert (f"RUN {install}\n" in prod) is in_prod


def test_author_prune_after_build_is_not_repeated(tmp_path):
    """The Dockerfile reinstalls production dependencies only after the build: no second prune."""
    text = ("FROM node:18-alpine\nWORKDIR /app\nCOPY package.json yarn.lock ./\nRUN yarn install --frozen-lockfile\n"
            "COPY . .\nRUN yarn build\nRUN yarn install --frozen-lockfile --production\nCMD [\"yarn\", \"start\"]\n")
    (tmp_path / "Dockerfile").write_text(text)
    (tmp_path / "yarn.lock").write_text("\n")
    result = harden_run(tmp_path, select=[NAME])
    after = changed_text(result, "Dockerfile")
    assert after.count("--production") == 1
    assert "COPY --from=builder /app /app" in after.split("AS production", 1)[1]


def test_alpine_release_guess_is_said(tmp_path):
    text = ("FROM golang:alpine\nWORKDIR /src\nCOPY . .\nRUN go build -o /bin/app .\nCMD [\"/bin/app\"]\n")
    (tmp_path / "Dockerfile").write_text(text)
    (tmp_path / "go.mod").write_text("module example.com/app\n\ngo 1.22\n")
    (tmp_path / "main.go").write_text('package main\n\nimport "os"\n\nfunc main() { os.ReadFile("x") }\n')
    result = harden_run(tmp_path, select=[NAME])
    assert "FROM alpine:3.20 AS production" in changed_text(result, "Dockerfile")
    assert any("the release is a guess" in n for n in _notes(result))


@pytest.mark.parametrize("prefix, prod_base", [
    ("CGO_ENABLED=1", "debian:bookworm-slim"),  # a cgo binary needs the C library
    ("CGO_ENABLED=0 GOOS=linux", "gcr.io/distroless/static-debian12:nonroot"),
])
def test_cgo_set_in_the_run_prefix_is_read(tmp_path, prefix, prod_base):
    """`CGO_ENABLED=1 go build` in the RUN itself: production needs the C library, and no
    `ENV CGO_ENABLED=0` goes in front of a build that sets it anyway."""
    text = f"FROM golang:1.22-bookworm\nWORKDIR /src\nCOPY . .\nRUN {prefix} go build -o /bin/app .\nCMD [\"/bin/app\"]\n"
    (tmp_path / "Dockerfile").write_text(text)
    (tmp_path / "go.mod").write_text("module example.com/app\n\ngo 1.22\n")
    (tmp_path / "main.go").write_text("package main\n\nfunc main() {}\n")
    result = harden_run(tmp_path, select=[NAME])
    after = changed_text(result, "Dockerfile")
    assert f"FROM {prod_base} AS production" in after
    assert "ENV CGO_ENABLED" not in after


def test_tools_the_entrypoint_script_runs_stay_available(tmp_path):
    """python:X -> python:X-slim drops curl; the entrypoint script (not the Dockerfile) calls it."""
    _proj, result = _run(tmp_path, "split-python-entrypoint-tools")
    prod = changed_text(result, "Dockerfile").split("AS production", 1)[1]
    assert "apt-get install -y --no-install-recommends curl \\" in prod
    assert "wget" not in prod and "git" not in prod  # only named in a comment
    assert any("production installs curl" in n for n in _notes(result))


def test_official_installers_piped_to_python_or_sh_are_tools(tmp_path):
    """`curl install.python-poetry.org | python3 -` and the uv installer: tools of the builder,
    with the `ln -s` that links them; production gets neither, nor the manifests (poetry.lock*)."""
    _proj, result = _run(tmp_path, "split-python-poetry-installer")
    builder, prod = changed_text(result, "Dockerfile").split("AS production", 1)
    assert "install.python-poetry.org" in builder and builder.index("ln -s") < builder.index("RUN python3 -m venv")
    assert "poetry" not in prod and "pyproject.toml" not in prod
    assert "FROM python:3.11-slim AS production" in changed_text(result, "Dockerfile")
    text = ("FROM python:3.12-slim\nRUN curl -LsSf https://astral.sh/uv/install.sh | sh\nENV PATH=/root/.local/bin:$PATH\n"
            "WORKDIR /app\nCOPY requirements.txt .\nRUN uv pip install -r requirements.txt\nCOPY . .\n"
            "CMD [\"python\", \"app.py\"]\n")
    (tmp_path / "uv").mkdir()
    (tmp_path / "uv" / "Dockerfile").write_text(text)
    after = changed_text(harden_run(tmp_path / "uv", select=[NAME]), "Dockerfile")
    assert "astral.sh" not in after.split("AS production", 1)[1]


def test_runtime_libs_table():
    from harden import runtime_libs as rl

    assert rl.runtime_of("libpq-dev", "apt") == ("libpq5",)
    assert rl.runtime_of("default-libmysqlclient-dev", "apt") == ("libmariadb3",)
    assert rl.runtime_of("libssl-dev", "apt", "bullseye") == ("libssl1.1",)
    assert rl.runtime_of("libssl-dev", "apt", "trixie") == ("libssl3t64",)
    assert rl.runtime_of("postgresql-dev", "apk") == ("libpq",)
    assert rl.runtime_of("mariadb-dev", "apk") == ("mariadb-connector-c",)
    assert rl.runtime_of("libnothing-dev", "apt") is None
    assert rl.is_build_only("build-essential", "apt") and rl.is_build_only("gcc-12", "apt")
    assert not rl.is_build_only("curl", "apt")
    assert rl.strip_version("curl=7.88.1-10+deb12u5") == "curl"


def test_classify_words():
    from harden.stacks.shell import classify

    assert classify(["pip", "install", "--upgrade", "pip", "setuptools"]).kind == "tool"
    assert classify(["python3", "-m", "pip", "install", "-r", "requirements/prod.txt"]).kind == "install"
    assert classify(["pip", "install", "poetry==1.8.3"]).kind == "tool"
    assert classify(["pip", "install", "."]).kind == "install"
    # pip's general options before the subcommand
    assert classify(["pip", "--no-cache-dir", "install", "-r", "r.txt"]).kind == "install"
    assert classify(["pip3", "-q", "--timeout", "60", "install", "."]).kind == "install"
    assert classify(["python", "-m", "pip", "--no-cache-dir", "install", "-U", "pip"]).kind == "tool"
    assert classify(["npm", "ci", "--omit=dev"]).prod_only
    assert classify(["npm", "install", "-g", "pnpm"]).kind == "tool"
    assert classify(["go", "build", "-o", "/x", "."]).kind == "build"
    assert classify(["DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "gcc"]).pkgs == ["gcc"]
    assert classify(["apk", "add", "--virtual", ".build-deps", "gcc"]).pkgs == ["gcc"]
    assert classify(["bundle", "install"]).kind == "foreign"
    from harden.stacks.node import node_global_bins
    assert node_global_bins(classify(["npm", "i", "-g", "@nestjs/cli@10.3.2"])) == {"nest"}
    assert node_global_bins(classify(["npm", "install", "--global", "@scope/tool"])) == {"tool"}
    assert node_global_bins(classify(["corepack", "enable", "pnpm"])) == {"pnpm", "pnpx"}
    assert node_global_bins(classify(["npm", "ci"])) == set()


# --------------------------------------------------------------------------- inline examples

def test_inline_examples(tmp_path):
    from harden.transforms.split_stages import SplitStages

    assert SplitStages.docs().startswith("What it does:")
    for section in ("Why:", "Example:", "Safety:", "When it refuses"):
        assert section in SplitStages.docs()
    for ex in SplitStages.examples:
        d = tmp_path / ex.name
        d.mkdir()
        for rel, text in ex.files.items():
            (d / rel).write_text(text)
        result = harden_run(d, select=[NAME])
        assert not result.errors
        for rel, text in ex.files.items():
            if rel == "Dockerfile" or rel in ex.expect:
                assert changed_text(result, rel) == ex.expect.get(rel, text), ex.name
            else:
                assert (d / rel).read_text() == text  # the engine writes nothing in-process
        status = _outcome(result).status
        assert status == ("changed" if ex.expect else "unchanged" if ex.name == "already-multi-stage" else "skipped"), ex.name


# --------------------------------------------------------------------------- hadolint

def _hadolint_codes(path: Path) -> set[str]:
    # JSON: hadolint 2.x has no `parseable` format (it printed usage, the set was always empty)
    out = subprocess.run(["hadolint", "--no-fail", "--format", "json", str(path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    import json

    return {f["code"] for f in json.loads(out.stdout or "[]")}


# DL3059 (info: "consecutive RUN") comes from the prune step the Node builder adds after the
# build RUN; merging it would mean editing the author's RUN.
ALLOWED_NEW = {"DL3059"}


@pytest.mark.skipif(shutil.which("hadolint") is None, reason="hadolint not installed")
@pytest.mark.parametrize("name", SPLIT)
def test_no_new_hadolint_warnings(tmp_path, name):
    proj, result = _run(tmp_path, name)
    before = _hadolint_codes(proj / "Dockerfile")
    out = tmp_path / "out.Dockerfile"
    out.write_text(changed_text(result, "Dockerfile"))
    after = _hadolint_codes(out)
    assert after - before - ALLOWED_NEW == set()


def test_python_2_is_refused(tmp_path):
    proj = tmp_path / "p"
    proj.mkdir()
    (proj / "requirements.txt").write_text("flask==1.1.4\n")
    (proj / "Dockerfile").write_text("FROM python:2.7\nWORKDIR /app\nCOPY . /app\nRUN pip install -r requirements.txt\n"
                                     "CMD [\"python\", \"app.py\"]\n")
    result = harden_run(proj, select=["split-stages"])
    assert changed_text(result, "Dockerfile") == (proj / "Dockerfile").read_text()
    skips = [o for o in result.outcomes if o.status == "skipped" and o.transform == "split-stages"]
    assert skips and "Python 2" in skips[0].reason


def test_uv_project_environment_in_the_system_prefix_is_refused(tmp_path):
    """`ENV UV_PROJECT_ENVIRONMENT=/usr/local` (uv syncing into the image's own Python, a pattern
    from uv's Docker guide): a `python3 -m venv /usr/local` would overwrite that Python."""
    from harden_testlib import harden_run

    for n, (prefix, refused) in enumerate((("/usr/local", True), ("/usr/local/", True), ("/usr", True),
                                           ("/opt/venv", False))):
        proj = tmp_path / f"p{n}"
        proj.mkdir()
        (proj / "pyproject.toml").write_text('[project]\nname = "app"\nversion = "0"\ndependencies = ["flask"]\n')
        (proj / "uv.lock").write_text("version = 1\n")
        (proj / "app.py").write_text("import flask\n")
        (proj / "Dockerfile").write_text(
            "FROM python:3.12\n"
            "COPY --from=ghcr.io/astral-sh/uv:0.4 /uv /bin/uv\n"
            f"ENV UV_PROJECT_ENVIRONMENT={prefix}\n"
            "WORKDIR /app\n"
            "COPY pyproject.toml uv.lock ./\n"
            "RUN uv sync --frozen --no-dev\n"
            "COPY . .\n"
            'CMD ["python", "app.py"]\n')
        result = harden_run(proj, select=["split-stages"])
        skipped = [o for o in result.outcomes if o.status == "skipped" and o.transform == "split-stages"]
        if refused:
            assert skipped and "UV_PROJECT_ENVIRONMENT" in skipped[0].reason, (prefix, result.outcomes)
            assert not result.changed_files
        else:
            assert not skipped and result.changed_files, (prefix, result.outcomes)
            assert "RUN python3 -m venv /opt/venv" in result.changed_files[0].after


_NODE_PRISMA_DF = ("FROM node:20-alpine\nWORKDIR /app\nCOPY package*.json ./\nCOPY prisma ./prisma/\nRUN npm ci\n"
                   "RUN npx prisma generate\nCOPY . .\nRUN npm run build\nEXPOSE 3000\n")


@pytest.mark.parametrize("cmd, scripts, tool", [
    # the NestJS + Prisma layout: the start script migrates with the prisma CLI, a devDependency
    ('CMD ["npm", "run", "start:prod"]\n', {"start:prod": "prisma migrate deploy && node dist/main.js"}, "prisma"),
    ('CMD npx prisma migrate deploy && node dist/main.js\n', {}, "prisma"),
    ('CMD ["yarn", "start"]\n', {"start": "nest start"}, "@nestjs/cli"),
    ('CMD ["npm", "start"]\n', {"prestart": "tsc", "start": "node dist/main.js"}, "typescript"),
])
def test_node_start_command_that_runs_a_dev_dependency_keeps_them(tmp_path, cmd, scripts, tool):
    import json

    proj = tmp_path / "p"
    proj.mkdir()
    (proj / "package.json").write_text(json.dumps({
        "name": "x", "scripts": {"build": "nest build", **scripts},
        "dependencies": {"@prisma/client": "5", "@nestjs/core": "10"},
        "devDependencies": {"prisma": "5", "@nestjs/cli": "10", "typescript": "5"}}))
    (proj / "Dockerfile").write_text(_NODE_PRISMA_DF + cmd)
    _after, note = _kept_split(harden_run(proj, select=[NAME]))
    assert f"from the devDependency {tool}. Move {tool} to dependencies" in note, note


def test_node_start_command_with_the_tool_in_dependencies_is_split(tmp_path):
    import json

    proj = tmp_path / "p"
    proj.mkdir()
    (proj / "package.json").write_text(json.dumps({
        "name": "x", "scripts": {"start:prod": "prisma migrate deploy && node dist/main.js"},
        "dependencies": {"@prisma/client": "5", "prisma": "5"}, "devDependencies": {"typescript": "5"}}))
    (proj / "Dockerfile").write_text(_NODE_PRISMA_DF + 'CMD ["npm", "run", "start:prod"]\n')
    after = changed_text(harden_run(proj, select=[NAME]), "Dockerfile")
    assert _stages(after) == [("node:20-alpine", "builder"), ("node:20-alpine", "production")]


def test_monorepo_dockerfile_in_a_subfolder_with_context_dotdot(tmp_path):
    # compose in docker/, build context .., dockerfile docker/api.Dockerfile: the file is named as it is
    # (was docker/../docker/api.Dockerfile) and the split reads the context the build uses
    proj = tmp_path / "p"
    (proj / "docker").mkdir(parents=True)
    (proj / "services" / "api").mkdir(parents=True)
    (proj / "services" / "api" / "requirements.txt").write_text("flask\n")
    (proj / "docker" / "compose.yml").write_text(
        "services:\n  api:\n    build:\n      context: ..\n      dockerfile: docker/api.Dockerfile\n")
    (proj / "docker" / "api.Dockerfile").write_text(
        "FROM python:3.12\nWORKDIR /app\nCOPY services/api/requirements.txt .\nRUN pip install -r requirements.txt\n"
        "COPY services/api .\nCMD [\"gunicorn\", \"-b\", \"0.0.0.0:8000\", \"app:app\"]\n")
    result = harden_run(proj, select=[NAME])
    assert [f.rel for f in result.files if f.after != f.before] == ["docker/api.Dockerfile"]
    assert _outcome(result, "docker/api.Dockerfile").status == "changed"
    after = changed_text(result, "docker/api.Dockerfile")
    assert _stages(after) == [("python:3.12", "builder"), ("python:3.12-slim", "production")]


# --------------------------------------------------------------------------- issue 16: Python bases that are not python:*

_UV_APP = {
    "pyproject.toml": '[project]\nname = "x"\nversion = "0.1.0"\ndependencies = ["flask"]\n',
    "uv.lock": "version = 1\n",
    ".dockerignore": ".venv\n",
}


def _uv_image_project(tmp_path, base, tail='CMD ["python", "-m", "app"]\n'):
    for rel, text in _UV_APP.items():
        (tmp_path / rel).write_text(text)
    (tmp_path / "Dockerfile").write_text(
        f"FROM {base}\nWORKDIR /app\nCOPY pyproject.toml uv.lock ./\nRUN uv sync --frozen --no-dev\nCOPY . .\n{tail}")
    return harden_run(tmp_path, select=[NAME])


@pytest.mark.parametrize("base, production, note", [
    ("ghcr.io/astral-sh/uv:python3.12-bookworm-slim", "python:3.12-slim-bookworm", "the official image"),
    ("astral/uv:0.8.11-python3.13-trixie-slim", "python:3.13-slim-trixie", "the official image"),
    # the full variant (python:3.12-bookworm + uv): production gets the slim one, as python:3.12 does
    ("ghcr.io/astral-sh/uv:python3.12-bookworm", "python:3.12-slim-bookworm", "without compilers and headers"),
    ("ghcr.io/astral-sh/uv:python3.14-alpine3.23", "python:3.14-alpine3.23", "the official image"),
])
def test_uv_python_image_production_is_the_official_python_image(tmp_path, base, production, note):
    result = _uv_image_project(tmp_path, base)
    after = changed_text(result, "Dockerfile")
    assert _stages(after) == [(base, "builder"), (production, "production")]
    builder, prod = after.split("AS production", 1)
    assert "RUN uv sync --frozen --no-dev" in builder and "uv sync" not in prod
    assert "COPY --from=builder /opt/venv /opt/venv" in prod
    assert any(note in n and production in n for n in _notes(result))


def test_uv_python_image_without_its_own_command_keeps_the_image(tmp_path):
    """No CMD/ENTRYPOINT: the container runs the image's default command, which python:* has not."""
    result = _uv_image_project(tmp_path, "ghcr.io/astral-sh/uv:python3.12-bookworm-slim", tail="")
    after = changed_text(result, "Dockerfile")
    img = "ghcr.io/astral-sh/uv:python3.12-bookworm-slim"
    assert _stages(after) == [(img, "builder"), (img, "production")]
    assert any("no CMD or ENTRYPOINT of its own" in n for n in _notes(result))


def test_uv_python_image_that_runs_uv_in_production_keeps_the_image(tmp_path):
    result = _uv_image_project(tmp_path, "ghcr.io/astral-sh/uv:python3.12-bookworm-slim",
                               tail='HEALTHCHECK CMD uv --version\nCMD ["python", "-m", "app"]\n')
    img = "ghcr.io/astral-sh/uv:python3.12-bookworm-slim"
    assert _stages(changed_text(result, "Dockerfile")) == [(img, "builder"), (img, "production")]
    assert any("runs uv at run time" in n for n in _notes(result))


@pytest.mark.parametrize("base", [
    "cimg/python:3.10",  # pyenv's Python under /home/circleci: a venv made there points at it
    "ghcr.io/astral-sh/uv:debian",  # uv's Debian image: no Python of the official image's
    "tiangolo/uvicorn-gunicorn-fastapi:python3.11",  # its start script runs the image's own gunicorn
])
def test_python_installs_on_other_images_stay_refused_with_what_to_do(tmp_path, base):
    text = f"FROM {base}\nWORKDIR /app\nCOPY requirements.txt .\nRUN pip install -r requirements.txt\nCOPY . .\n"
    (tmp_path / "Dockerfile").write_text(text)
    result = harden_run(tmp_path, select=[NAME])
    o = _outcome(result)
    assert o.status == "skipped" and f"base image {base} is not an official python image" in o.reason
    assert "build FROM the official python image, or split it by hand" in o.reason
    assert changed_text(result, "Dockerfile") == text


def test_python_image_carried():
    from harden.stacks.python import python_image_carried as carried

    assert carried("ghcr.io/astral-sh/uv", "python3.12-bookworm-slim") == "python:3.12-slim-bookworm"
    assert carried("docker.io/astral/uv", "python3.11-bullseye-slim") == "python:3.11-slim-bullseye"
    assert carried("ghcr.io/astral-sh/uv", "0.5.4-python3.12-bookworm") == "python:3.12-bookworm"
    assert carried("ghcr.io/astral-sh/uv", "python3.12-alpine") == "python:3.12-alpine"
    for tag in ("latest", "0.13.9", "debian-slim", "alpine3.22", "python3.12-bookworm-slim-extra"):
        assert carried("ghcr.io/astral-sh/uv", tag) is None, tag
    assert carried("example.com/uv", "python3.12-bookworm-slim") is None


# --------------------------------------------------------------------------- issue 16: USER before the install

_NODE_USER_DF = ("FROM node:20-alpine\nWORKDIR /home/node/app\nCOPY --chown=node:node package*.json ./\nUSER node\n"
                 "RUN npm ci\nCOPY --chown=node:node . .\nRUN npm run build\nEXPOSE 3000\nCMD [\"node\", \"dist/server.js\"]\n")


def test_user_before_npm_ci_installs_as_that_user_and_production_copies_with_chown(tmp_path):
    """`USER node` then `npm ci` (was refused): the builder installs and builds as node, as before;
    production copies the work directory owned by node and runs as node."""
    (tmp_path / "package.json").write_text('{"name": "x", "dependencies": {"express": "^4"}}\n')
    (tmp_path / "Dockerfile").write_text(_NODE_USER_DF)
    after = changed_text(harden_run(tmp_path, select=[NAME]), "Dockerfile")
    builder, prod = after.split("AS production", 1)
    assert builder.index("USER node") < builder.index("RUN npm ci") < builder.index("RUN npm prune --omit=dev")
    assert prod == ("\nWORKDIR /home/node/app\nCOPY --from=builder --chown=node /home/node/app /home/node/app\n"
                    "USER node\nEXPOSE 3000\nCMD [\"node\", \"dist/server.js\"]\n")
    # non-root-user then finds production already non-root
    both = harden_run(tmp_path, select=[NAME, "non-root-user"])
    assert changed_text(both, "Dockerfile") == after
    assert [o.status for o in both.outcomes if o.transform == "non-root-user"] == ["unchanged"]


def test_user_before_pip_install_gets_a_venv_it_owns(tmp_path):
    """`USER app` then `pip install -r`: root makes the virtualenv before the USER line and hands it to
    app, who installs into it; production copies it with --chown=app."""
    text = ("FROM python:3.12-slim\nRUN useradd --create-home app\nWORKDIR /home/app\n# the app's own user\n"
            "USER app:app\nCOPY requirements.txt .\nRUN pip install --no-cache-dir -r requirements.txt\nCOPY . .\n"
            "CMD [\"python\", \"app.py\"]\n")
    (tmp_path / "Dockerfile").write_text(text)
    after = changed_text(harden_run(tmp_path, select=[NAME]), "Dockerfile")
    builder, prod = after.split("AS production", 1)
    assert ("WORKDIR /home/app\nRUN python3 -m venv /opt/venv \\\n    && chown -R app:app /opt/venv\n"
            "ENV VIRTUAL_ENV=/opt/venv \\\n    PATH=\"/opt/venv/bin:$PATH\"\n# the app's own user\nUSER app:app\n") in builder
    assert prod.index("RUN useradd --create-home app") < prod.index("USER app:app") < prod.index(
        "COPY --from=builder --chown=app:app /opt/venv /opt/venv") < prod.index("COPY . .")


@pytest.mark.parametrize("create, env, site", [
    ("RUN useradd --create-home app", "", "/home/app/.local"),
    ("RUN useradd -m -d /srv/app -u 1001 app", "", "/srv/app/.local"),
    ("RUN adduser -D -h /app app", "", "/app/.local"),
    ("RUN adduser --disabled-password --gecos '' app", "", "/home/app/.local"),
    ("RUN useradd -m app", "ENV HOME=/data\n", "/data/.local"),
    ("RUN useradd -m app", "ENV PYTHONUSERBASE=/opt/site\n", "/opt/site"),
])
def test_pip_install_user_as_a_non_root_user_copies_its_site(tmp_path, create, env, site):
    """`USER app` then `pip install --user` (was refused): no virtualenv; production copies the
    user's site (~/.local, or PYTHONUSERBASE) owned by that user."""
    text = (f"FROM python:3.12-slim\n{create}\nUSER app\n{env}WORKDIR /home/app\nCOPY requirements.txt .\n"
            "RUN pip install --user --no-cache-dir -r requirements.txt\nCOPY . .\nCMD [\"python\", \"app.py\"]\n")
    (tmp_path / "Dockerfile").write_text(text)
    after = changed_text(harden_run(tmp_path, select=[NAME]), "Dockerfile")
    builder, prod = after.split("AS production", 1)
    assert "venv" not in after
    assert f"COPY --from=builder --chown=app {site} {site}\n" in prod
    assert prod.index(create) < prod.index("USER app") < prod.index("COPY --from=builder")
    assert "pip install" in builder and "pip install" not in prod


# --------------------------------------------------------------------------- issue 16: file commands beside the install

def _split_text(tmp_path, text, files=None):
    for rel, body in (files or {}).items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(body)
    (tmp_path / "Dockerfile").write_text(text)
    return harden_run(tmp_path, select=[NAME])


def test_mkdir_beside_pip_install_runs_in_production_too(tmp_path):
    """`pip install ... && mkdir -p /app/uploads` (was refused): the RUN stays whole in the builder;
    production, which copies only the virtualenv, makes the folder at the same place."""
    _proj, result = _run(tmp_path, "split-python-mixed-run")
    builder, prod = changed_text(result, "Dockerfile").split("AS production", 1)
    assert "RUN pip install --no-cache-dir -r requirements.txt && mkdir -p /app/uploads\n" in builder
    assert prod.index("COPY --from=builder /opt/venv") < prod.index("RUN mkdir -p /app/uploads\n") < prod.index("COPY . .")
    assert "pip install" not in prod


def test_file_commands_on_copied_files_run_in_production_in_order(tmp_path):
    text = ("FROM python:3.12-slim\nWORKDIR /app\nCOPY requirements.txt .\nCOPY bin/start.sh /usr/local/bin/start.sh\n"
            "RUN mkdir -p /var/lib/app && pip install -r requirements.txt && chmod +x /usr/local/bin/start.sh "
            "&& ln -s /usr/local/bin/start.sh /start && chown nobody /var/lib/app && rm -rf /root/.cache\n"
            "COPY . .\nCMD [\"/start\"]\n")
    result = _split_text(tmp_path, text, {"bin/start.sh": "#!/bin/sh\n"})
    prod = changed_text(result, "Dockerfile").split("AS production", 1)[1]
    assert ("RUN mkdir -p /var/lib/app \\\n    && chmod +x /usr/local/bin/start.sh \\\n"
            "    && ln -s /usr/local/bin/start.sh /start \\\n    && chown nobody /var/lib/app\n") in prod
    assert "rm -rf" not in prod and "pip install" not in prod


def test_chown_of_the_node_work_directory_becomes_chown_of_the_copy(tmp_path):
    """`npm ci && chown -R node:node /app` then USER node: COPY --from does not keep owners, so the
    copy of /app gets --chown=node:node (without it, node could not write there any more)."""
    text = ("FROM node:20-alpine\nWORKDIR /app\nCOPY package*.json ./\nRUN npm ci --omit=dev && chown -R node:node /app\n"
            "COPY . .\nUSER node\nCMD [\"node\", \"server.js\"]\n")
    result = _split_text(tmp_path, text, {"package.json": '{"name": "x", "dependencies": {"express": "^4"}}\n'})
    builder, prod = changed_text(result, "Dockerfile").split("AS production", 1)
    assert "RUN npm ci --omit=dev && chown -R node:node /app\n" in builder
    assert "COPY --from=builder --chown=node:node /app /app\n" in prod and "chown -R" not in prod
    # /app itself exists in production before the copy (WORKDIR made it, root-owned): the copy
    # gives only what it copies to node, so /app is chowned on its own (not -R: no second copy of
    # node_modules in a layer). Found by building it (tests/e2e/test_issue16_builds.py).
    assert "RUN chown node:node /app\n" in prod


def test_install_in_another_folder_copied_into_the_work_directory_stays_in_the_builder(tmp_path):
    """`cd /tmp/app && npm install`, later `cp -a /tmp/app/node_modules /usr/src/app`: production has
    no /tmp/app/node_modules, so the copy runs in the builder, and production gets the result with
    the work directory (it ran in production before, where it failed)."""
    text = ("FROM node:20-alpine\nCOPY package*.json /tmp/app/\nRUN cd /tmp/app && npm install\n"
            "COPY . /usr/src/app\nRUN cp -a /tmp/app/node_modules /usr/src/app\nWORKDIR /usr/src/app\n"
            "RUN npm run build\nCMD [\"node\", \"dist/main.js\"]\n")
    result = _split_text(tmp_path, text, {"package.json": '{"name": "x", "scripts": {"build": "tsc"}}\n'})
    builder, prod = changed_text(result, "Dockerfile").split("AS production", 1)
    assert "RUN cp -a /tmp/app/node_modules /usr/src/app\n" in builder and "cp -a" not in prod
    assert "COPY --from=builder /usr/src/app /usr/src/app\n" in prod


@pytest.mark.parametrize("text, reason", [
    # order and failure: only `&&` joins are split
    ("FROM python:3.12\nWORKDIR /app\nRUN pip install -r r.txt; mkdir -p /app/data\n", "joined by `;`"),
    ("FROM python:3.12\nWORKDIR /app\nRUN pip install -r r.txt && cp /opt/venv/x /etc/x\n",
     "`cp /opt/venv/x /etc/x` at line 3 copies or moves files outside what production copies from the builder"),
    ("FROM node:20\nWORKDIR /app\nCOPY . .\nRUN npm ci && chown -R node /app/node_modules\n",
     "changes the owner of part of /app, which production copies from the builder"),
    ("FROM node:20\nWORKDIR /home/node/app\nCOPY . .\nRUN npm ci && chown -R node /home/node\n",
     "changes the owner of a folder that holds /home/node/app"),
    ("FROM python:3.12\nWORKDIR /app\nCOPY requirements.txt .\nRUN pip install -r requirements.txt && chmod 600 requirements.txt\n",
     "changes /app/requirements.txt, which harden cannot tell is there in the production stage"),
    ("FROM python:3.12\nWORKDIR /app\nRUN pip install -r r.txt && mkdir -p $DATA_DIR\n",
     "cannot tell which files it changes ($DATA_DIR)"),
    ("FROM python:3.12\nWORKDIR /app\nCOPY . .\nRUN pip install -r r.txt && chmod +x /app/*.sh\n",
     "names files by a pattern"),
    ("FROM python:3.12\nWORKDIR /app\nRUN cd /srv && pip install -r /app/r.txt && mkdir -p data\n",
     "runs after a `cd` with relative paths"),
    ("FROM node:20\nWORKDIR /app\nCOPY package.json /tmp/app/\nRUN cd /tmp/app && npm install\nCOPY . .\n",
     "installs in /tmp/app (after `cd`), outside the work directory /app production copies"),
    ("FROM golang:1.22\nWORKDIR /s\nCOPY . .\nRUN go build -o /s/app . && mkdir -p /data\n",
     "mixes the Go build with `mkdir -p /data`"),
])
def test_file_commands_that_cannot_be_carried_are_refused(tmp_path, text, reason):
    result = _split_text(tmp_path, text)
    o = _outcome(result)
    assert o.status == "skipped" and reason in o.reason, o.reason
    assert changed_text(result, "Dockerfile") == text


@pytest.mark.parametrize("text, status", [
    # a dev container: the heredoc adds a package repository, nothing is installed to split
    ("FROM mcr.microsoft.com/devcontainers/javascript-node:22\nRUN apt-get install -y lsb-release curl gpg\n"
     "RUN <<EOF\n    curl -fsSL https://packages.redis.io/gpg | gpg --dearmor -o /usr/share/keyrings/r.gpg\n"
     "    apt-get update\nEOF\nRUN apt-get install -y redis\n", "unchanged"),
    # the same heredoc beside an install: harden still cannot place what it does
    ("FROM python:3.12\nWORKDIR /app\nRUN <<EOF\n    apt-get update\nEOF\nCOPY r.txt .\nRUN pip install -r r.txt\n",
     "skipped"),
    # a heredoc that names an installer is refused as before
    ("FROM python:3.12\nWORKDIR /app\nRUN <<EOF\n    make install\nEOF\n", "skipped"),
])
def test_heredoc_without_an_installer_is_not_a_refusal_when_nothing_is_split(tmp_path, text, status):
    result = _split_text(tmp_path, text)
    o = _outcome(result)
    assert o.status == status, o
    if status == "skipped":
        assert "RUN heredoc at line 3" in o.reason
    assert changed_text(result, "Dockerfile") == text


# ------------------------------------------------------------------ the start command compose gives
# (issue 15: `command: npm start` -> "start": "./node_modules/nodemon/bin/nodemon.js ./app.js" with
# nodemon a devDependency; the split pruned it and the container exited 127)

_NODE_DF = ("FROM node:20\nWORKDIR /usr/src/app\nCOPY package*.json ./\nRUN npm install\nCOPY . .\n"
            "EXPOSE 8080\nCMD [ \"node\", \"app.js\" ]\n")


def _node_project(tmp_path, compose_service: str, scripts: dict, *, deps=None, dev=None):
    import json

    from harden_testlib import write_files

    return write_files(tmp_path / "p", {
        "package.json": json.dumps({"name": "x", "scripts": scripts,
                                    "dependencies": deps if deps is not None else {"express": "4"},
                                    "devDependencies": dev if dev is not None else {"nodemon": "3"}}),
        "Dockerfile": _NODE_DF,
        "docker-compose.yml": "services:\n  web:\n    build: .\n" + compose_service,
    })


def _kept_split(result):
    """The split that keeps devDependencies: changed, no prune in either stage, production copies
    the work directory (node_modules with the dev dependencies); its one note."""
    out = _outcome(result)
    assert out.status == "changed", out
    after = changed_text(result, "Dockerfile")
    assert [alias for _img, alias in _stages(after)] == ["builder", "production"]
    assert "prune" not in after and "--production" not in after, after
    assert "COPY --from=builder /usr/src/app /usr/src/app" in after.split("AS production", 1)[1] or \
        "COPY --from=builder /app /app" in after.split("AS production", 1)[1], after
    notes = [n for n in _notes(result) if n.startswith("devDependencies kept in production")]
    assert len(notes) == 1, _notes(result)
    return after, notes[0]


def test_the_nodemon_fixture_keeps_dev_dependencies_and_says_why():
    result = harden_run(FIXTURES / "node-nodemon-start", select=[NAME])
    _after, note = _kept_split(result)
    assert note == (
        "devDependencies kept in production (no `npm prune --omit=dev`): compose service web "
        '(docker-compose.yml:5) command -> package.json script "start" runs '
        "`./node_modules/nodemon/bin/nodemon.js ./app.js` from the devDependency nodemon. Move nodemon to "
        "dependencies and harden prunes the others; until then production carries every devDependency")


@pytest.mark.parametrize("service, scripts, tool", [
    # a path into node_modules/ names the package, a path into node_modules/.bin/ its command
    ("    command: npm start\n", {"start": "./node_modules/nodemon/bin/nodemon.js ./app.js"}, "nodemon"),
    ("    command: npm run dev\n", {"dev": "node_modules/.bin/nodemon app.js"}, "nodemon"),
    ("    command: node node_modules/nodemon/bin/nodemon.js app.js\n", {}, "nodemon"),
    ("    command: [\"npx\", \"nodemon\", \"app.js\"]\n", {}, "nodemon"),
    ("    command: yarn nodemon app.js\n", {}, "nodemon"),
    ("    command: pnpm exec nodemon app.js\n", {}, "nodemon"),
    ("    command: sh -c \"npm start\"\n", {"start": "nodemon app.js"}, "nodemon"),
    ("    command: [\"sh\", \"-c\", \"npm run watch\"]\n", {"watch": "NODE_ENV=dev nodemon app.js"}, "nodemon"),
    # a post script runs after the script compose starts
    ("    command: npm start\n", {"start": "node app.js", "poststart": "nodemon --version"}, "nodemon"),
    # a scoped package through its path
    ("    command: node ./node_modules/@acme/devserver/cli.js\n", {}, "@acme/devserver"),
    # the entrypoint compose sets replaces the image's
    ("    entrypoint: [\"npm\", \"run\", \"serve\"]\n", {"serve": "nodemon app.js"}, "nodemon"),
])
def test_compose_start_command_that_runs_a_dev_dependency_keeps_them(tmp_path, service, scripts, tool):
    dev = {"nodemon": "3", "@acme/devserver": "1"}
    proj = _node_project(tmp_path, service, scripts, dev=dev)
    _after, note = _kept_split(harden_run(proj, select=[NAME]))
    assert f"from the devDependency {tool}. Move {tool} to dependencies" in note, note
    assert note.startswith("devDependencies kept in production (no `npm prune --omit=dev`): compose service web ("), note


@pytest.mark.parametrize("service, scripts, deps", [
    # the same commands are fine when nothing they run is pruned
    ("    command: npm start\n", {"start": "node app.js"}, None),
    ("    command: npm start\n", {"start": "./node_modules/nodemon/bin/nodemon.js ./app.js"},
     {"express": "4", "nodemon": "3"}),
    ("    command: node ./node_modules/express/lib/express.js\n", {}, None),
])
def test_compose_start_command_without_dev_dependencies_is_split(tmp_path, service, scripts, deps):
    proj = _node_project(tmp_path, service, scripts, deps=deps)
    after = changed_text(harden_run(proj, select=[NAME]), "Dockerfile")
    assert _stages(after) == [("node:20", "builder"), ("node:20-slim", "production")]
    assert "RUN npm prune --omit=dev" in after


def test_a_dev_script_compose_does_not_run_does_not_block_the_split(tmp_path):
    # package.json has a nodemon `dev` script, but compose starts `npm start` (node app.js)
    proj = _node_project(tmp_path, "    command: npm start\n", {"start": "node app.js", "dev": "nodemon app.js"})
    after = changed_text(harden_run(proj, select=[NAME]), "Dockerfile")
    assert _stages(after)[-1] == ("node:20-slim", "production")


def test_compose_command_using_a_global_tool_keeps_its_install_in_production(tmp_path):
    import json

    from harden_testlib import write_files

    proj = write_files(tmp_path / "p", {
        "package.json": json.dumps({"name": "x", "dependencies": {"express": "4"}}),
        "Dockerfile": ("FROM node:20\nWORKDIR /app\nRUN npm install -g pm2\nCOPY package*.json ./\nRUN npm ci\n"
                       "COPY . .\nCMD [\"node\", \"app.js\"]\n"),
        "docker-compose.yml": "services:\n  web:\n    build: .\n    command: pm2-runtime app.js\n",
    })
    after = changed_text(harden_run(proj, select=[NAME]), "Dockerfile")
    production = after.split(" AS production\n", 1)[1]
    assert "RUN npm install -g pm2" in production, after


@pytest.mark.parametrize("cmd, scripts", [
    ('["npm", "run", "start:prod"]', {"build": "nest build", "start:prod": "nest start"}),
    ('["yarn", "serve"]', {"serve": "pm2-runtime dist/main.js"}),
    ('["npm", "start"]', {"prestart": "nest build", "start": "node dist/main.js"}),
])
def test_global_tool_run_by_a_package_json_script_is_installed_in_production(tmp_path, cmd, scripts):
    """`npm i -g @nestjs/cli` in the builder, and the start command runs `nest` through a
    package.json script: production must install it too (it was left in the builder: the
    container failed with `nest: not found`)."""
    from harden_testlib import write_files

    tool = "@nestjs/cli" if "nest" in json.dumps(scripts) else "pm2"
    pm, lock = ("yarn", "yarn.lock") if "yarn" in cmd else ("npm", "package-lock.json")
    proj = write_files(tmp_path / "p", {
        "package.json": json.dumps({"name": "x", "scripts": scripts, "dependencies": {"@nestjs/core": "10"},
                                    "devDependencies": {"@nestjs/cli": "10", "typescript": "5"}}),
        lock: "",
        "Dockerfile": (f"FROM node:20\nWORKDIR /app\nRUN npm i -g {tool}\nCOPY package*.json ./\n"
                       f"RUN {'yarn install' if pm == 'yarn' else 'npm ci'}\nCOPY . .\nCMD {cmd}\n"),
    })
    after = changed_text(harden_run(proj, select=[NAME]), "Dockerfile")
    production = after.split(" AS production\n", 1)[1]
    assert f"RUN npm i -g {tool}\n" in production, after


@pytest.mark.parametrize("command, tool", [
    ("poetry run uvicorn app:app --host 0.0.0.0", "poetry"),
    ("[\"pipenv\", \"run\", \"python\", \"app.py\"]", "pipenv"),
    ("sh -c \"uv run gunicorn app:app\"", "uv"),
])
def test_compose_command_running_a_python_builder_tool_is_refused(tmp_path, command, tool):
    from harden_testlib import write_files

    proj = write_files(tmp_path / "p", {
        "requirements.txt": "flask==3.0.3\n",
        "Dockerfile": ("FROM python:3.12\nWORKDIR /app\nCOPY requirements.txt .\nRUN pip install -r requirements.txt\n"
                       "COPY . .\nCMD [\"python\", \"app.py\"]\n"),
        "docker-compose.yml": f"services:\n  web:\n    build: .\n    command: {command}\n",
    })
    result = harden_run(proj, select=[NAME])
    out = _outcome(result)
    assert out.status == "skipped", out
    assert out.reason.startswith(f"compose service web (docker-compose.yml:4) command runs `{tool}")
    assert f"{tool} is installed only in the builder stage" in out.reason


def test_compose_command_from_the_virtualenv_is_split(tmp_path):
    from harden_testlib import write_files

    proj = write_files(tmp_path / "p", {
        "requirements.txt": "flask==3.0.3\n",
        "Dockerfile": ("FROM python:3.12\nWORKDIR /app\nCOPY requirements.txt .\nRUN pip install -r requirements.txt\n"
                       "COPY . .\nCMD [\"python\", \"app.py\"]\n"),
        "docker-compose.yml": "services:\n  web:\n    build: .\n    command: sh -c \"curl -fsS x || true; gunicorn app:app\"\n",
    })
    after = changed_text(harden_run(proj, select=[NAME]), "Dockerfile")
    assert _stages(after) == [("python:3.12", "builder"), ("python:3.12-slim", "production")]
    # production runs curl (compose's command): python:3.12-slim does not have it
    assert "install -y --no-install-recommends curl" in after.split(" AS production\n", 1)[1], after


# --------------------------------------------------------------------------- poetry run in production (issue 16)

_POETRY_PROJECT = {
    "pyproject.toml": ('[tool.poetry]\nname = "app"\nversion = "0.1.0"\n\n[tool.poetry.dependencies]\n'
                       'python = "^3.12"\nuvicorn = "^0.30"\nalembic = "^1.13"\n\n[tool.poetry.scripts]\n'
                       'serve = "app.main:run"\n'),
    "poetry.lock": "# locked\n",
}
_POETRY_HEAD = ("FROM python:3.12-slim\nWORKDIR /app\nCOPY pyproject.toml poetry.lock ./\n"
                "RUN pip install poetry==1.8.3 && poetry install --only main --no-root\nCOPY . .\n")


@pytest.mark.parametrize("cmd, want", [
    # shell form, two commands, a continuation line: each `poetry run` at a command's start goes
    ("CMD poetry run alembic upgrade head && \\\n    poetry run uvicorn --host=0.0.0.0 app.main:app\n",
     "CMD alembic upgrade head && \\\n    uvicorn --host=0.0.0.0 app.main:app\n"),
    ('CMD ["poetry", "run", "uvicorn", "app.main:app", "--port", "8000"]\n',
     'CMD ["uvicorn", "app.main:app", "--port", "8000"]\n'),
    ("ENTRYPOINT exec poetry run python -m app\n", "ENTRYPOINT exec python -m app\n"),
])
def test_poetry_run_in_the_start_command_runs_from_the_virtualenv(tmp_path, cmd, want):
    from harden_testlib import write_files

    proj = write_files(tmp_path / "p", {**_POETRY_PROJECT, "Dockerfile": _POETRY_HEAD + cmd})
    result = harden_run(proj, select=[NAME])
    assert _outcome(result).status == "changed"
    after = changed_text(result, "Dockerfile")
    builder, production = after.split(" AS production\n", 1)
    assert production.endswith('PATH="/opt/venv/bin:$PATH"\nCOPY . .\n' + want), after
    assert "poetry run" not in after
    assert any("directly instead of through `poetry run`" in n.message for n in result.notes)
    # applying again changes nothing
    (proj / "Dockerfile").write_text(after)
    assert not harden_run(proj, select=[NAME]).files[0].changed


@pytest.mark.parametrize("cmd, files, reason", [
    ("CMD poetry run serve\n", {}, "`serve` is a script of pyproject.toml"),
    ('CMD ["sh", "-c", "poetry run uvicorn app:app"]\n', {}, "it is not `poetry run <command>` alone"),
    ("CMD sh -c 'poetry run uvicorn app:app'\n", {}, "harden cannot tell that each `poetry` in it starts"),
    ("CMD poetry run -v uvicorn app:app\n", {}, "`poetry run -v` passes an option to poetry"),
    ("CMD poetry run uvicorn app:app && poetry show\n", {}, "harden cannot tell that each `poetry` in it starts"),
    ('ENTRYPOINT ["poetry", "run"]\nCMD ["uvicorn", "app:app"]\n', {}, "it is not `poetry run <command>` alone"),
    ("CMD poetry run uvicorn app:app\n", {"pyproject.toml": "[tool.poetry\n"}, "cannot read the project's scripts"),
    ("CMD poetry run uvicorn app:app && pipenv run x\n", {}, "runs through `poetry run`"),
    # exec form: production has neither pipenv nor uv (this was split before, into a broken image)
    ('CMD ["pipenv", "run", "python", "app.py"]\n', {}, "runs through `pipenv run`"),
    ('CMD ["uv", "run", "app.py"]\n', {}, "runs through `uv run`"),
])
def test_poetry_run_that_cannot_be_dropped_is_refused(tmp_path, cmd, files, reason):
    from harden_testlib import write_files

    proj = write_files(tmp_path / "p", {**_POETRY_PROJECT, **files, "Dockerfile": _POETRY_HEAD + cmd})
    out = _outcome(harden_run(proj, select=[NAME]))
    assert out.status == "skipped", out
    assert reason in out.reason
    assert "call the commands directly" in out.reason


# --------------------------------------------------------------------------- start scripts


def _script_project(tmp_path, files):
    import json

    proj = tmp_path / "p"
    for rel, text in files.items():
        f = proj / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(text if isinstance(text, str) else json.dumps(text))
    return proj


_SCRIPT_DF = ("FROM node:20-alpine\nWORKDIR /app\nCOPY package*.json ./\nRUN npm ci\nCOPY . .\nRUN npm run build\n"
            "COPY start.sh /start.sh\n")
_SCRIPT_PKG = {"name": "x", "scripts": {"build": "tsc", "seed": "ts-node seed.ts", "start": "node dist/main.js"},
        "dependencies": {"express": "4"}, "devDependencies": {"ts-node": "10", "typescript": "5"}}


def test_a_start_script_that_runs_a_dev_dependency_keeps_them(tmp_path):
    proj = _script_project(tmp_path, {"Dockerfile": _SCRIPT_DF + 'CMD ["/start.sh"]\n', "package.json": _SCRIPT_PKG,
                                    "start.sh": "#!/bin/sh\nset -e\nnpm run seed\nexec npm start\n"})
    after, note = _kept_split(harden_run(proj, select=[NAME]))
    assert note.startswith('devDependencies kept in production (no `npm prune --omit=dev`): CMD at line 8 -> start.sh '
                           'line 3 -> package.json script "seed" runs `ts-node seed.ts` from the devDependency ts-node. '
                           "Move ts-node to dependencies (or run the compiled JavaScript there instead) and harden "
                           "prunes the others"), note
    assert after.count("COPY start.sh /start.sh") == 1


@pytest.mark.parametrize("pm, lock, install, prune", [
    ("npm", "package-lock.json", "npm ci", "npm prune --omit=dev"),
    ("yarn", "yarn.lock", "yarn install --frozen-lockfile", "yarn install --production --frozen-lockfile"),
    ("pnpm", "pnpm-lock.yaml", "pnpm install --frozen-lockfile", "pnpm prune --prod"),
])
def test_kept_dev_dependencies_with_each_package_manager(tmp_path, pm, lock, install, prune):
    """The same start (a script running ts-node) keeps them with yarn 1 and pnpm too: the note names
    the prune it left out; without the dev start step that prune is there."""
    df = (f"FROM node:20-alpine\nWORKDIR /app\nCOPY package.json {lock} ./\nRUN {install}\nCOPY . .\n"
          f"RUN {pm} run build\nCMD [\"{pm}\", \"run\", \"serve\"]\n")
    scripts = {"build": "tsc", "serve": "ts-node -r tsconfig-paths/register src/main.ts"}
    pkg = {**_SCRIPT_PKG, "scripts": scripts, "devDependencies": {"ts-node": "10", "tsconfig-paths": "4",
                                                                   "typescript": "5"}}
    proj = _script_project(tmp_path, {"Dockerfile": df, "package.json": pkg, lock: ""})
    after, note = _kept_split(harden_run(proj, select=[NAME]))
    assert note.startswith(f"devDependencies kept in production (no `{prune}`): CMD at line 7 -> package.json script "
                           '"serve" runs `ts-node -r tsconfig-paths/register` from the devDependencies ts-node, '
                           "tsconfig-paths. Move ts-node, tsconfig-paths to dependencies"), note
    proj2 = _script_project(tmp_path / "plain", {"Dockerfile": df, "package.json": {**pkg, "scripts": {
        **scripts, "serve": "node dist/main.js"}}, lock: ""})
    plain = harden_run(proj2, select=[NAME])
    assert f"RUN {prune}" in changed_text(plain, "Dockerfile")
    assert not [n for n in _notes(plain) if n.startswith("devDependencies kept")]


def test_a_global_tool_the_start_runs_is_still_refused_when_dev_dependencies_are_kept(tmp_path):
    """Keeping node_modules does not bring a global tool installed in a RUN with the build steps."""
    df = ("FROM node:20-alpine\nWORKDIR /app\nCOPY package*.json ./\nRUN npm i -g pm2 && npm ci\nCOPY . .\n"
          "RUN npm run build\nCOPY start.sh /start.sh\nCMD [\"/start.sh\"]\n")
    proj = _script_project(tmp_path, {"Dockerfile": df, "package.json": _SCRIPT_PKG,
                                      "start.sh": "#!/bin/sh\nset -e\nnpm run seed\nexec pm2-runtime dist/main.js\n"})
    out = _outcome(harden_run(proj, select=[NAME]))
    assert out.status == "skipped", out
    assert "production runs pm2-runtime, which the RUN at line 4 installs together with other build steps" in out.reason


def test_a_start_script_that_runs_dependencies_only_is_split(tmp_path):
    proj = _script_project(tmp_path, {"Dockerfile": _SCRIPT_DF + 'CMD ["/start.sh"]\n', "package.json": _SCRIPT_PKG,
                                    "start.sh": "#!/bin/sh\nset -e\necho starting\nexec npm start\n"})
    after = changed_text(harden_run(proj, select=[NAME]), "Dockerfile")
    assert "RUN npm prune --omit=dev" in after and after.count("COPY start.sh /start.sh") == 1


def test_a_start_script_harden_cannot_follow_is_refused_naming_it(tmp_path):
    proj = _script_project(tmp_path, {"Dockerfile": _SCRIPT_DF + 'CMD ["/start.sh"]\n', "package.json": _SCRIPT_PKG,
                                    "start.sh": "#!/bin/sh\n. /etc/app.env\nexec npm start\n"})
    out = _outcome(harden_run(proj, select=[NAME]))
    assert out.status == "skipped" and "start.sh line 2 runs `. /etc/app.env`" in out.reason, out
    assert "devDependency" in out.reason


def test_a_start_script_harden_cannot_follow_is_refused_even_when_dev_dependencies_would_be_kept(tmp_path):
    """What the script does past the line harden cannot read is unknown: keeping node_modules may not
    be all it needs, so the split is refused as before, naming both."""
    proj = _script_project(tmp_path, {"Dockerfile": _SCRIPT_DF + 'CMD ["/start.sh"]\n', "package.json": _SCRIPT_PKG,
                                    "start.sh": "#!/bin/sh\nnpm run seed\n. /etc/app.env\nexec npm start\n"})
    result = harden_run(proj, select=[NAME])
    out = _outcome(result)
    assert out.status == "skipped", out
    assert out.reason.startswith("CMD at line 8 -> start.sh line 3 runs `. /etc/app.env`"), out.reason
    assert ('(CMD at line 8 -> start.sh line 2 -> package.json script "seed" runs `ts-node seed.ts` from the '
            "devDependency ts-node)") in out.reason, out.reason
    assert not result.changed_files


def test_a_preloaded_dev_dependency_is_kept(tmp_path):
    """`node -r tsconfig-paths/register dist/main.js`: the preloaded module would be pruned too."""
    pkg = {**_SCRIPT_PKG, "devDependencies": {"tsconfig-paths": "4", "typescript": "5"}}
    proj = _script_project(tmp_path, {"Dockerfile": _SCRIPT_DF + 'CMD ["node", "-r", "tsconfig-paths/register", "dist/main.js"]\n',
                                    "package.json": pkg, "start.sh": ""})
    _after, note = _kept_split(harden_run(proj, select=[NAME]))
    assert "runs `node -r tsconfig-paths/register` from the devDependency tsconfig-paths." in note, note


def test_types_packages_are_not_commands(tmp_path):
    """@types/node in devDependencies does not make `node dist/main.js` a devDependency's command."""
    pkg = {**_SCRIPT_PKG, "devDependencies": {"@types/node": "20", "typescript": "5"}}
    proj = _script_project(tmp_path, {"Dockerfile": _SCRIPT_DF + 'CMD ["npm", "start"]\n', "package.json": pkg,
                                    "start.sh": ""})
    assert _outcome(harden_run(proj, select=[NAME])).status == "changed"


def test_a_global_tool_a_start_script_runs_stays_in_production(tmp_path):
    df = ("FROM node:20-alpine\nRUN npm i -g ts-node typescript\nWORKDIR /app\nCOPY package*.json ./\nRUN npm ci\n"
          "COPY . .\nRUN npm run build\nCMD [\"sh\", \"/app/start.sh\"]\n")
    pkg = {**_SCRIPT_PKG, "devDependencies": {"typescript": "5"}}
    proj = _script_project(tmp_path, {"Dockerfile": df, "package.json": pkg,
                                    "start.sh": "ts-node scripts/warm-cache.ts\nexec node dist/main.js\n"})
    after = changed_text(harden_run(proj, select=[NAME]), "Dockerfile")
    assert "RUN npm i -g ts-node typescript" in after.split("AS production", 1)[1]


def test_an_image_only_ci_compose_files_build_is_a_test_image(tmp_path):
    files = {"Dockerfile": _SCRIPT_DF + 'CMD ["npm", "start"]\n', "package.json": {**_SCRIPT_PKG, "devDependencies": {}},
             "start.sh": "", "docker-compose.ci.yml": "services:\n  api:\n    build: .\n"}
    proj = _script_project(tmp_path, files)
    out = _outcome(harden_run(proj, select=[NAME]))
    assert out.status == "skipped", out
    assert out.reason.startswith("a test image: only test or CI compose files build it (docker-compose.ci.yml: "
                                 "the name says `ci`)"), out.reason
    # built by the main compose file too: an application image
    (proj / "docker-compose.yml").write_text("services:\n  api:\n    build: .\n")
    assert _outcome(harden_run(proj, select=[NAME])).status == "changed"


def test_a_python_start_script_that_runs_poetry_is_refused(tmp_path):
    proj = tmp_path / "p"
    proj.mkdir()
    (proj / "requirements.txt").write_text("flask\n")
    (proj / "start.sh").write_text("#!/bin/sh\nexec poetry run flask run\n")
    (proj / "Dockerfile").write_text("FROM python:3.12-slim\nWORKDIR /app\nCOPY requirements.txt .\n"
                                     "RUN pip install -r requirements.txt\nCOPY . .\nCMD [\"./start.sh\"]\n")
    out = _outcome(harden_run(proj, select=[NAME]))
    assert out.status == "skipped" and "CMD at line 6 -> start.sh line 2 runs `poetry run flask`" in out.reason, out


# --------------------------------------------------------------------------- removals of context files

def _project(tmp_path, files):
    for rel, text in files.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return tmp_path


GO_RM = {
    "Dockerfile": "FROM golang:1.22-alpine\nWORKDIR /src\nCOPY . .\nRUN rm Makefile notes.txt\n"
                  "RUN rm -rf docs/\nRUN go mod download\nRUN go build -o /usr/local/bin/svc ./cmd/svc\n"
                  "CMD [\"/usr/local/bin/svc\"]\n",
    "go.mod": "module example.com/svc\n\ngo 1.22\n",
    "cmd/svc/main.go": "package main\n\nfunc main() {}\n",
    "Makefile": "all:\n", "notes.txt": "x\n",
}


def test_go_context_rm_stays_in_builder(tmp_path):
    """`rm` without -f of files `COPY . .` brought: a Go production stage that holds only the
    binary has no such files, so replaying it there fails the build; it runs in the builder."""
    proj = _project(tmp_path, GO_RM)
    result = harden_run(proj, select=[NAME])
    builder, prod = changed_text(result, "Dockerfile").split("AS production", 1)
    assert "RUN rm Makefile notes.txt" in builder
    assert "rm Makefile" not in prod
    assert "COPY . ." not in prod
    assert "RUN rm -rf docs/" in prod  # a forced removal cannot fail: kept where the author ran it


def test_node_context_rm_is_carried_by_the_workdir_copy(tmp_path):
    """Production copies /app from the builder, where the removal already ran: running it again
    there fails (the file is gone)."""
    proj = _project(tmp_path, {
        "Dockerfile": "FROM node:20\nWORKDIR /app\nCOPY package*.json ./\nRUN npm ci\nCOPY . .\n"
                      "RUN rm Dockerfile README.md\nRUN npm run build\nCMD [\"node\", \"dist/index.js\"]\n",
        "package.json": json.dumps({"name": "a", "scripts": {"build": "tsc"}, "dependencies": {"express": "4"},
                                    "devDependencies": {"typescript": "5"}}),
        "package-lock.json": "{}", "README.md": "x\n",
    })
    result = harden_run(proj, select=[NAME])
    builder, prod = changed_text(result, "Dockerfile").split("AS production", 1)
    assert "RUN rm Dockerfile README.md" in builder
    assert "rm Dockerfile" not in prod
    assert "COPY --from=builder /app /app" in prod


def test_python_context_rm_runs_after_productions_own_copy(tmp_path):
    """Production copies the context itself (`COPY . .`): the removal (a secret file, say) must
    run there too."""
    proj = _project(tmp_path, {
        "Dockerfile": "FROM python:3.12\nWORKDIR /app\nCOPY requirements.txt .\nRUN pip install -r requirements.txt\n"
                      "COPY . .\nRUN rm Dockerfile .env\nCMD [\"gunicorn\", \"app:app\"]\n",
        "requirements.txt": "gunicorn\nflask\n", ".env": "X=1\n", "app.py": "import flask\n",
    })
    result = harden_run(proj, select=[NAME])
    _builder, prod = changed_text(result, "Dockerfile").split("AS production", 1)
    assert prod.index("COPY . .") < prod.index("RUN rm Dockerfile .env")


def test_go_install_binary_called_by_name_from_compose_stays_on_path(tmp_path):
    """`go install` leaves the binary in /go/bin, on the golang image's PATH only; the compose
    service starts it by name (`command: server --port 8080`), so production puts /go/bin on
    PATH as the builder had it (else: executable file not found in $PATH)."""
    proj = _project(tmp_path, {
        "Dockerfile": "FROM golang:1.22\nWORKDIR /src\nCOPY go.mod ./\nRUN go mod download\nCOPY . .\n"
                      "RUN go install ./cmd/server\n",
        "go.mod": "module example.com/x\n\ngo 1.22\n",
        "cmd/server/main.go": "package main\n\nfunc main() {}\n",
        "compose.yaml": "services:\n  api:\n    build: .\n    command: server --port 8080\n    ports:\n      - \"8080:8080\"\n",
    })
    result = harden_run(proj, select=[NAME])
    _builder, prod = changed_text(result, "Dockerfile").split("AS production", 1)
    assert "COPY --from=builder /go/bin/server /go/bin/server" in prod
    assert 'ENV PATH="/go/bin:$PATH"' in prod


GO_SERVER = {
    "Dockerfile": "FROM golang:1.22\nWORKDIR /src\nCOPY go.mod ./\nRUN go mod download\nCOPY . .\n"
                  "RUN go build -o /usr/local/bin/server ./cmd/server\nCMD [\"server\"]\n",
    "go.mod": "module example.com/x\n\ngo 1.22\n",
    "cmd/server/main.go": "package main\n\nfunc main() {}\n",
}


@pytest.mark.parametrize("test, base", [
    ('["CMD", "curl", "-f", "http://localhost:8080/health"]', "debian:bookworm-slim"),
    ('curl -f http://localhost:8080/health || exit 1', "debian:bookworm-slim"),
])
def test_compose_healthcheck_tools_stay_in_production(tmp_path, test, base):
    """The compose healthcheck runs in the production image: distroless has no curl and no shell,
    and a dependent waiting for service_healthy would never start."""
    proj = _project(tmp_path, {**GO_SERVER, "compose.yaml": (
        "services:\n  api:\n    build: .\n    healthcheck:\n      test: " + test + "\n"
        "  web:\n    image: nginx:1.27\n    depends_on:\n      api:\n        condition: service_healthy\n")})
    result = harden_run(proj, select=[NAME])
    after = changed_text(result, "Dockerfile")
    _builder, prod = after.split("AS production", 1)
    assert f"FROM {base} AS production" in after
    assert "install -y --no-install-recommends curl" in prod


def test_compose_shell_healthcheck_keeps_a_shell_for_go(tmp_path):
    proj = _project(tmp_path, {**GO_SERVER, "compose.yaml": (
        "services:\n  api:\n    build: .\n    healthcheck:\n      test: [\"CMD-SHELL\", \"/usr/local/bin/server -check\"]\n")})
    result = harden_run(proj, select=[NAME])
    after = changed_text(result, "Dockerfile")
    assert "distroless" not in after and "FROM debian:bookworm-slim AS production" in after


def test_python_slim_gets_curl_a_compose_healthcheck_runs(tmp_path):
    proj = _project(tmp_path, {
        "Dockerfile": "FROM python:3.12\nWORKDIR /app\nCOPY requirements.txt .\nRUN pip install -r requirements.txt\n"
                      "COPY . .\nCMD [\"gunicorn\", \"-b\", \"0.0.0.0:8000\", \"app:app\"]\n",
        "requirements.txt": "gunicorn\nflask\n", "app.py": "from flask import Flask\napp = Flask(__name__)\n",
        "compose.yaml": "services:\n  web:\n    build: .\n    healthcheck:\n      test: curl -f http://localhost:8000/ || exit 1\n",
    })
    result = harden_run(proj, select=[NAME])
    after = changed_text(result, "Dockerfile")
    _builder, prod = after.split("AS production", 1)
    assert "FROM python:3.12-slim AS production" in after
    assert "install -y --no-install-recommends curl" in prod


def test_tools_a_compose_healthcheck_runs_stay_available(tmp_path):
    """python:X -> python:X-slim drops curl; compose's own healthcheck (not the Dockerfile) calls
    it inside the production image, and a service_healthy wait on the service would never end."""
    (tmp_path / "requirements.txt").write_text("fastapi\nuvicorn\n")
    (tmp_path / "Dockerfile").write_text(
        "FROM python:3.12\nWORKDIR /app\nCOPY requirements.txt .\nRUN pip install -r requirements.txt\n"
        "COPY . .\nCMD [\"uvicorn\", \"main:app\", \"--host\", \"0.0.0.0\"]\n")
    (tmp_path / "compose.yaml").write_text(
        "services:\n  api:\n    build: .\n    healthcheck:\n"
        "      test: [\"CMD\", \"curl\", \"-f\", \"http://localhost:8000/health\"]\n      interval: 10s\n")
    result = harden_run(tmp_path, select=[NAME])
    prod = changed_text(result, "Dockerfile").split("AS production", 1)[1]
    assert "apt-get install -y --no-install-recommends curl \\" in prod
    assert any("production installs curl" in n for n in _notes(result))


@pytest.mark.parametrize("test, distroless", [
    ('["CMD-SHELL", "wget -qO- http://localhost:8080/health || exit 1"]', False),
    ('"/usr/local/bin/server -check || exit 1"', False),
    ('["CMD", "/usr/local/bin/server", "-check"]', True),
])
def test_go_compose_healthcheck_through_a_shell_keeps_a_shell(tmp_path, test, distroless):
    """distroless has no /bin/sh: a compose healthcheck compose runs through the shell needs one."""
    (tmp_path / "go.mod").write_text("module example.com/app\n\ngo 1.22\n")
    (tmp_path / "main.go").write_text("package main\n\nfunc main() {}\n")
    (tmp_path / "Dockerfile").write_text(
        "FROM golang:1.22\nWORKDIR /src\nCOPY . .\nRUN go build -o /usr/local/bin/server .\n"
        "CMD [\"/usr/local/bin/server\"]\n")
    (tmp_path / "compose.yaml").write_text(
        f"services:\n  app:\n    build: .\n    healthcheck:\n      test: {test}\n")
    result = harden_run(tmp_path, select=[NAME])
    after = changed_text(result, "Dockerfile")
    assert ("FROM gcr.io/distroless/static-debian12:nonroot AS production" in after) is distroless
    if "wget" in test:
        assert "wget" in after.split("AS production", 1)[1]


@pytest.mark.parametrize("extra_pkg, prod_base", [("", "node:20"), ("openssl", "node:20-slim")])
def test_node_prisma_keeps_openssl(tmp_path, extra_pkg, prod_base):
    """Prisma's engines load libssl: node:*-slim lacks it, so production stays on the full image
    unless the Dockerfile installs OpenSSL itself."""
    (tmp_path / "package.json").write_text(
        '{"name": "api", "dependencies": {"@prisma/client": "^5", "express": "^4"}, "devDependencies": {"prisma": "^5"}}\n')
    (tmp_path / "package-lock.json").write_text("{}\n")
    pkg = f"RUN apt-get update && apt-get install -y --no-install-recommends {extra_pkg} && rm -rf /var/lib/apt/lists/*\n" \
        if extra_pkg else ""
    (tmp_path / "Dockerfile").write_text(
        f"FROM node:20\n{pkg}WORKDIR /app\nCOPY package*.json ./\nRUN npm ci\nCOPY . .\nRUN npx prisma generate\n"
        "CMD [\"node\", \"index.js\"]\n")
    result = harden_run(tmp_path, select=[NAME])
    after = changed_text(result, "Dockerfile")
    assert f"FROM {prod_base} AS production" in after
    assert any("OpenSSL" in n for n in _notes(result)) is (not extra_pkg)
