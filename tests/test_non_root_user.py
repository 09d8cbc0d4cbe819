"""non-root-user: snapshots over the user-* fixtures, the inline examples, the refusals, hadolint."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from harden_testlib import FIXTURES, copy_fixture, harden_run
from harden.config import DEFAULT_OPTIONS, Options
from harden.engine import run
from harden.io import write_atomic
from harden.report import unified_diff
from harden.transforms import names
from harden.stacks.system import classify_base as classify
from harden.transforms.non_root_user import NonRootUser

NAME = "non-root-user"
USER_FIXTURES = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir() and p.name.startswith("user-"))


def _run(path: Path, **values):
    opts = Options(select=[NAME], values=dict(DEFAULT_OPTIONS, **values))
    result = run(path, opts)
    assert not result.errors, [e.one_line() for e in result.errors]
    return result


def _project(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "proj"
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(text.encode())
    return root


def _after(result, rel: str = "Dockerfile") -> str:
    for f in result.files:
        if f.rel == rel:
            return f.after
    raise KeyError(rel)


def _mine(result, status: str | None = None) -> list:
    return [o for o in result.outcomes if o.transform == NAME and (status is None or o.status == status)]


def _notes(result) -> list[str]:
    return [n.message for n in result.notes if n.transform == NAME]


# ------------------------------------------------------------------ fixtures: snapshots


@pytest.mark.parametrize("name", [n for n in USER_FIXTURES if n not in ("user-compose-user", "user-distroless-nonroot",
                                                                     "user-gosu-entrypoint",
                                                                     "user-django-startup-collectstatic",
                                                                     "user-nonroot-already", "user-pragma", "user-servers",
                                                                     "user-node-install-at-start")])
def test_fixture_diff(name, tmp_path, snap_diff):
    result = _run(copy_fixture(name, tmp_path))
    assert result.changed_files
    diff = "".join(unified_diff(f.rel, f.before, f.after) for f in result.changed_files)
    assert diff == snap_diff


@pytest.mark.parametrize("name", USER_FIXTURES)
def test_fixture_summary(name, tmp_path, snap_text):
    """What the user reads: files rewritten, skips with their reasons, notes."""
    result = _run(copy_fixture(name, tmp_path))
    assert _describe(result) == snap_text


def _describe(result) -> str:
    lines = [f"changed {f.rel}" for f in result.changed_files]
    for o in _mine(result):
        if o.status != "changed":
            part = f" [{o.part}]" if o.part else ""
            where = f"{o.file}:{o.line}" if o.line else o.file
            lines.append(f"{o.status}{part} {where}" + (f": {o.reason}" if o.reason else ""))
    for n in result.notes:
        if n.transform == NAME:
            lines.append(f"note {n.file}:{n.line}: {n.message}")
    return "\n".join(lines) + "\n"


# What each fixture must come out as, independent of the snapshots.
EXPECT = {
    "user-alpine": ("changed", "USER 10001:10001", None),
    "user-chainguard": ("changed", "USER 65532:65532", None),
    "user-compose-target": ("changed", "USER 10001:10001", None),
    "user-compose-user": ("skipped", None, "sets `user:`"),
    "user-debian-python": ("changed", "USER 10001:10001", None),
    "user-distroless": ("changed", "USER 65532:65532", None),
    "user-distroless-nonroot": ("unchanged", None, None),
    "user-django-startup-collectstatic": ("skipped", None, "runs `manage.py collectstatic` at start-up"),
    "user-gosu-entrypoint": ("skipped", None, "installs gosu (RUN at line 4) to switch to another user at start-up"),
    "user-go-scratch": ("changed", "USER 10001:10001", None),
    "user-node": ("changed", "USER 1000:1000", None),
    "user-node-install-at-start": ("skipped", None, "start.sh line 2 runs `npm install` at start-up"),
    "user-node-test-install": ("changed", "USER 1000:1000", None),
    "user-node-ci-log": ("changed", "USER 1000:1000", None),
    "user-nonroot-already": ("unchanged", None, None),
    "user-pragma": ("suppressed", None, "# harden: ignore"),
    "user-root-at-end": ("changed", "USER 10001:10001", None),
    "user-servers": ("skipped", None, "a USER here would break it"),
    "user-syntax-heredoc": ("changed", "USER 10001:10001", None),
    "user-ubi": ("changed", "USER 10001:10001", None),
}


def test_every_user_fixture_has_an_expectation():
    assert sorted(EXPECT) == USER_FIXTURES


@pytest.mark.parametrize("name", USER_FIXTURES)
def test_fixture_outcome(name, tmp_path):
    status, user_line, reason = EXPECT[name]
    result = _run(copy_fixture(name, tmp_path))
    statuses = {o.status for o in _mine(result)}
    assert status in statuses, (statuses, _mine(result))
    if status == "changed":
        for f in result.changed_files:
            assert f.transforms == [NAME]
            last = _last_user(f.after, f.rel)
            assert last == user_line.split()[1], f.after
    else:
        assert not result.changed_files
    if reason:
        assert any(reason in (o.reason or "") for o in _mine(result))


def _last_user(text: str, rel: str) -> str | None:
    """The USER the stage that runs ends with (last stage, or compose target prod)."""
    from harden.dockerfile_doc import DockerfileDoc

    doc = DockerfileDoc(rel, text)
    stage = doc.stage_by_name("prod") or doc.stages[-1]
    u = stage.last("USER")
    return u.value.strip() if u else None


@pytest.mark.parametrize("name", USER_FIXTURES)
def test_fixture_apply_twice_changes_nothing(name, tmp_path):
    project = copy_fixture(name, tmp_path)
    first = _run(project)
    for f in first.changed_files:
        write_atomic(f.path, f.after)
    second = _run(project)
    assert not second.changed_files
    # every comment line of the input is still there
    for f in first.files:
        before = [ln for ln in f.before.splitlines() if ln.strip().startswith("#")]
        after = f.after.splitlines()
        for ln in before:
            assert ln in after


# ------------------------------------------------------------------ hadolint

HADOLINT = shutil.which("hadolint")


def _hadolint(path: Path) -> list[str]:
    proc = subprocess.run([HADOLINT, "--no-color", "--no-fail", "-f", "tty", str(path)], capture_output=True, text=True)
    return re.findall(r"\b(DL\d{4}|SC\d{4})\b", proc.stdout)


@pytest.mark.skipif(HADOLINT is None, reason="hadolint not installed")
@pytest.mark.parametrize("name", USER_FIXTURES)
def test_hadolint_no_dl3002_no_new_dl3066(name, tmp_path):
    project = copy_fixture(name, tmp_path)
    result = _run(project)
    for f in result.files:
        before = tmp_path / "before.Dockerfile"
        after = tmp_path / "after.Dockerfile"
        before.write_text(f.before)
        after.write_text(f.after)
        codes_before, codes_after = _hadolint(before), _hadolint(after)
        if f.changed:
            assert "DL3002" not in codes_after, (f.rel, codes_after)
        assert codes_after.count("DL3066") <= codes_before.count("DL3066"), (f.rel, codes_after)
        new = set(codes_after) - set(codes_before) - {"DL3059"}  # DL3059: info, consecutive RUNs
        assert not new, (f.rel, new)


# ------------------------------------------------------------------ inline examples


@pytest.mark.parametrize("example", NonRootUser.examples, ids=lambda e: e.name)
def test_inline_examples(example, tmp_path):
    project = _project(tmp_path, example.files)
    result = _run(project)
    for rel, before in example.files.items():
        assert _after(result, rel) == example.expect.get(rel, before)


def test_docstring_has_the_sections():
    doc = NonRootUser.docs()
    for section in ("What it does:", "Why:", "Example:", "Safety:", "When it refuses:"):
        assert section in doc


# ------------------------------------------------------------------ base image families


@pytest.mark.parametrize(
    "image, family, existing",
    [
        ("python:3.12-slim", "debian", None),
        ("python:3.12", "debian", None),
        ("python:3.12-alpine3.20", "alpine", None),
        ("docker.io/library/python:3.11-slim-bookworm", "debian", None),
        ("ubuntu:24.04", "debian", None),
        ("debian:bookworm-slim", "debian", None),
        ("golang:1.22", "debian", None),
        ("alpine:3.20", "alpine", None),
        ("busybox:1.36", "alpine", None),
        ("node:20", "debian", (1000, 1000, "node")),
        ("node:20-alpine", "alpine", (1000, 1000, "node")),
        ("redhat/ubi9:latest", "rhel", None),
        ("registry.access.redhat.com/ubi8/ubi", "rhel", None),
        ("fedora:40", "rhel", None),
        ("rockylinux:9", "rhel", None),
        ("eclipse-temurin:21-jre", "debian", None),
        ("eclipse-temurin:21-jre-alpine", "alpine", None),
        ("gcr.io/distroless/static-debian12", "distroless", (65532, 65532, "nonroot")),
        ("cgr.dev/chainguard/python:latest", "chainguard", (65532, 65532, "nonroot")),
        ("cgr.dev/chainguard/wolfi-base", "alpine", None),
        ("ghcr.io/example/app:1.0-bookworm", "debian", None),
        ("scratch", "scratch", None),
    ],
)
def test_classify_family(image, family, existing):
    info = classify(image)
    assert (info.family, info.existing, info.leave, info.unknown) == (family, existing, None, None)


def test_classify_defaults_and_shells():
    assert classify("gcr.io/distroless/base-debian12:nonroot").default_nonroot
    assert not classify("gcr.io/distroless/base-debian12").default_nonroot
    assert not classify("gcr.io/distroless/base-debian12").shell
    assert classify("cgr.dev/chainguard/python:latest").default_nonroot
    assert classify("cgr.dev/chainguard/python:latest-dev").shell
    assert not classify("cgr.dev/chainguard/python:latest").shell
    assert not classify("scratch").shell


@pytest.mark.parametrize(
    "image",
    ["nginx:1.27", "httpd:2.4", "postgres:16-alpine", "mysql:8.0", "mariadb:11", "redis:7", "rabbitmq:3",
     "bitnami/postgresql:16", "php:8.3-fpm-alpine", "php:8.2-apache", "wordpress:6", "haproxy:2.9",
     "mongo:7", "traefik:v3.0"],
)
def test_classify_leaves_servers(image):
    assert classify(image).leave


@pytest.mark.parametrize(
    "image, why",
    [
        ("registry.access.redhat.com/ubi9/ubi-minimal:9.4", "without useradd"),
        ("redhat/ubi8-minimal", "without useradd"),
        ("amazonlinux:2023", "Amazon Linux"),
        ("mcr.microsoft.com/windows/servercore:ltsc2022", "Windows"),
        ("python:3.12-windowsservercore", "Windows"),
        ("myorg/base-image:1.4", "cannot tell"),
    ],
)
def test_classify_unknown(image, why):
    info = classify(image)
    assert info.unknown and why in info.unknown and info.family is None


def test_php_cli_is_debian():
    assert classify("php:8.3-cli").family == "debian"


# ------------------------------------------------------------------ behaviour


def test_refuses_minimal_rpm_base(tmp_path):
    p = _project(tmp_path, {"Dockerfile": "FROM registry.access.redhat.com/ubi9/ubi-minimal\nCMD [\"sleep\", \"1\"]\n"})
    result = _run(p)
    assert not result.changed_files
    (o,) = _mine(result)
    assert o.status == "skipped" and "useradd" in o.reason


def test_refuses_unknown_base_with_reason(tmp_path):
    p = _project(tmp_path, {"Dockerfile": "FROM ourcorp/platform-base:7\nCMD [\"run\"]\n"})
    result = _run(p)
    (o,) = _mine(result)
    assert o.status == "skipped" and "ourcorp/platform-base:7" in o.reason


def test_follows_alias_chain_to_the_base(tmp_path):
    text = ("FROM python:3.12-alpine AS base\nRUN pip install flask\n\nFROM base AS runtime\nCOPY . /app\n"
            "CMD [\"python\", \"/app/main.py\"]\n")
    result = _run(_project(tmp_path, {"Dockerfile": text}))
    out = _after(result)
    assert "adduser -S -D -u 10001 -G app app" in out
    assert out.index("adduser") > out.index("FROM base AS runtime")
    assert out.count("USER ") == 1


def test_base_from_arg_default_and_compose_override(tmp_path):
    files = {
        "Dockerfile": "ARG BASE=python:3.12-slim\nFROM ${BASE}\nCOPY . /app\nCMD [\"python\", \"/app/x.py\"]\n",
        "compose.yaml": "services:\n  a:\n    build:\n      context: .\n      args:\n        BASE: python:3.12-alpine\n",
    }
    result = _run(_project(tmp_path, files))
    (o,) = _mine(result)
    assert o.status == "skipped" and "differs between build arguments" in o.reason
    files["compose.yaml"] = "services:\n  a:\n    build:\n      context: .\n      args:\n        BASE: python:3.11-slim\n"
    result = _run(_project(tmp_path / "b", files))
    assert "groupadd --system --gid 10001 app" in _after(result)


def test_base_from_arg_without_default_is_refused(tmp_path):
    p = _project(tmp_path, {"Dockerfile": "ARG BASE\nFROM ${BASE}\nCMD [\"x\"]\n"})
    (o,) = _mine(_run(p))
    assert o.status == "skipped" and "build argument" in o.reason


@pytest.mark.parametrize("user", ["root", "0", "0:0", "root:root", "0:root"])
def test_root_user_spellings_are_replaced(user, tmp_path):
    p = _project(tmp_path, {"Dockerfile": f"FROM debian:bookworm-slim\nUSER {user}\nRUN true\nCMD [\"true\"]\n"})
    out = _after(_run(p))
    lines = out.splitlines()
    assert lines[1] == f"USER {user}"  # still root for the RUN after it
    assert lines[-2] == "USER 10001:10001" and lines[-1] == 'CMD ["true"]'


def test_variable_user_is_left(tmp_path):
    p = _project(tmp_path, {"Dockerfile": "FROM debian:bookworm-slim\nARG APP_USER=root\nUSER ${APP_USER}\nCMD [\"true\"]\n"})
    result = _run(p)
    (o,) = _mine(result)
    assert o.status == "skipped" and "build variable" in o.reason
    assert not result.changed_files


def test_same_name_or_uid_already_created_is_refused(tmp_path):
    p = _project(tmp_path, {"Dockerfile": "FROM debian:bookworm-slim\nRUN useradd --uid 10001 svc\nCMD [\"true\"]\n"})
    (o,) = _mine(_run(p))
    assert o.status == "skipped" and "10001" in o.reason


def test_other_user_created_but_unused_gets_a_note(tmp_path):
    p = _project(tmp_path, {"Dockerfile": "FROM debian:bookworm-slim\nRUN useradd -m worker\nCMD [\"true\"]\n"})
    result = _run(p)
    assert "USER 10001:10001" in _after(result)
    assert any("creates a user (worker)" in n for n in _notes(result))


def test_child_stage_with_build_steps_starts_as_root(tmp_path):
    """Issue 16: the stage that runs is the base of another that runs build steps. The target gets
    the user; the derived stage starts with USER root, so its RUN still runs as root (was refused)."""
    files = {
        "Dockerfile": ("FROM python:3.12-slim AS app\nCOPY . /app\nCMD [\"python\", \"/app/x.py\"]\n\n"
                       "FROM app AS test\n# test dependencies\nRUN pip install pytest\nCMD [\"pytest\"]\n"),
        "compose.yaml": "services:\n  web:\n    build:\n      context: .\n      target: app\n",
    }
    result = _run(_project(tmp_path, files))
    assert [o.status for o in _mine(result)] == ["changed"]
    out = _after(result)
    assert out.split("FROM app AS test\n", 1)[1] == (
        "# hadolint ignore=DL3002,DL3066\nUSER root\n# test dependencies\nRUN pip install pytest\nCMD [\"pytest\"]\n")
    from harden.dockerfile_doc import DockerfileDoc

    doc = DockerfileDoc("Dockerfile", out)
    assert doc.stage_by_name("app").last("USER").value == "10001:10001"


def test_child_stage_that_sets_user_first_or_only_runs_is_left_as_it_is(tmp_path):
    """A derived stage whose first step is its own USER, or that runs no build step, gets nothing
    (as before: it was not refused either)."""
    files = {
        "Dockerfile": ("FROM python:3.12-slim AS app\nCOPY . /app\nCMD [\"python\", \"/app/x.py\"]\n\n"
                       "FROM app AS test\nUSER root\nRUN pip install pytest\n\n"
                       "FROM app AS debug\nENV DEBUG=1\nCMD [\"python\", \"-X\", \"dev\", \"/app/x.py\"]\n"),
        "compose.yaml": "services:\n  web:\n    build:\n      context: .\n      target: app\n",
    }
    out = _after(_run(_project(tmp_path, files)))
    assert out.count("USER root") == 1 and "hadolint ignore=DL3002" not in out


def test_grandchild_stage_with_build_steps_starts_as_root(tmp_path):
    """The new user passes through a derived stage that sets no USER: the stage built from that one
    runs its build steps as root too."""
    files = {
        "Dockerfile": ("FROM node:20-alpine AS development\nWORKDIR /app\nCOPY . .\nRUN npm install\n"
                       "CMD [\"npm\", \"run\", \"dev\"]\n\nFROM development AS base\nENV NODE_ENV=production\n\n"
                       "FROM base AS builder\nRUN apk add --no-cache python3\nRUN npm run build\n"),
        "compose.yaml": "services:\n  web:\n    build:\n      context: .\n      target: development\n",
    }
    out = _after(_run(_project(tmp_path, files)))
    assert "FROM base AS builder\n# hadolint ignore=DL3002,DL3066\nUSER root\nRUN apk add" in out
    assert "FROM development AS base\nENV NODE_ENV=production\n" in out
    assert "COPY . .\nRUN npm install\nUSER 1000:1000\nCMD" in out


def test_two_targets_one_built_from_the_other_create_the_user_once(tmp_path):
    """Both the target and the stage built from it run: the user is created once, in the first; the
    second starts as root for its build steps and ends as the same user."""
    files = {
        "Dockerfile": ("FROM python:3.12-slim AS app\nCOPY . /app\nRUN pip install -r /app/requirements.txt\n"
                       "CMD [\"python\", \"/app/x.py\"]\n\nFROM app AS test\nRUN pip install pytest\nCMD [\"pytest\"]\n"),
        "compose.yaml": ("services:\n  web:\n    build:\n      context: .\n      target: app\n"
                         "  test:\n    build:\n      context: .\n      target: test\n"),
    }
    proj = _project(tmp_path, files)
    out = _after(_run(proj))
    assert out.count("useradd") == 1
    assert out.split("FROM app AS test\n", 1)[1] == (
        "# hadolint ignore=DL3002,DL3066\nUSER root\nRUN pip install pytest\nUSER 10001:10001\nCMD [\"pytest\"]\n")
    write_atomic(proj / "Dockerfile", out)
    again = _run(proj)
    assert not again.changed_files and {o.status for o in _mine(again)} == {"unchanged"}


def test_child_stage_under_a_pragma_blocks_the_target(tmp_path):
    files = {
        "Dockerfile": ("FROM python:3.12-slim AS app\nCOPY . /app\nCMD [\"python\", \"/app/x.py\"]\n\n"
                       "# harden: ignore[non-root-user]\nFROM app AS test\nRUN pip install pytest\nCMD [\"pytest\"]\n"),
        "compose.yaml": "services:\n  web:\n    build:\n      context: .\n      target: app\n",
    }
    result = _run(_project(tmp_path, files))
    skipped = _mine(result, "skipped")
    assert len(skipped) == 1 and "stage test is built FROM this stage" in skipped[0].reason
    assert "pragma" in skipped[0].reason
    assert not result.changed_files


def test_two_targets_both_get_the_user(tmp_path):
    files = {
        "Dockerfile": ("FROM python:3.12-slim AS base\nRUN pip install flask\n\nFROM base AS web\nCMD [\"flask\", \"run\"]\n\n"
                       "FROM base AS worker\nCMD [\"python\", \"-m\", \"worker\"]\n\nFROM base AS test\nRUN pip install pytest\n"),
        "compose.yaml": ("services:\n  web:\n    build:\n      context: .\n      target: web\n"
                         "  worker:\n    build:\n      context: .\n      target: worker\n"),
    }
    out = _after(_run(_project(tmp_path, files)))
    from harden.dockerfile_doc import DockerfileDoc

    doc = DockerfileDoc("Dockerfile", out)
    assert doc.stage_by_name("web").last("USER").value == "10001:10001"
    assert doc.stage_by_name("worker").last("USER").value == "10001:10001"
    assert doc.stage_by_name("base").last("USER") is None
    assert doc.stage_by_name("test").last("USER") is None


def test_compose_user_on_one_of_two_services_still_changes(tmp_path):
    files = {
        "Dockerfile": "FROM python:3.12-slim\nCOPY . /app\nCMD [\"python\", \"/app/x.py\"]\n",
        "compose.yaml": "services:\n  a:\n    build: .\n    user: \"1000\"\n  b:\n    build: .\n",
    }
    assert "USER 10001:10001" in _after(_run(_project(tmp_path, files)))


def test_options_change_ids_and_names(tmp_path):
    p = _project(tmp_path, {"Dockerfile": "FROM alpine:3.20\nCOPY run.sh /\nCMD [\"/run.sh\"]\n"})
    out = _after(_run(p, uid=2000, gid=3000, user="svc", group="svcs"))
    assert "addgroup -S -g 3000 svcs" in out and "adduser -S -D -u 2000 -G svcs svc" in out
    assert "USER 2000:3000" in out


def test_low_port_is_noted(tmp_path):
    p = _project(tmp_path, {"Dockerfile": "FROM python:3.12-slim\nCOPY . /app\nEXPOSE 80 8443/tcp\nCMD [\"python\", \"/app/x.py\"]\n"})
    result = _run(p)
    notes = _notes(result)
    assert any(n.startswith("EXPOSE 80:") for n in notes)
    assert not any("8443" in n for n in notes)


def test_bind_mounts_socket_and_code_volume_are_noted_not_chowned(tmp_path):
    files = {
        "Dockerfile": "FROM python:3.12-slim\nWORKDIR /app\nCOPY . .\nCMD [\"python\", \"x.py\"]\n",
        "compose.yaml": ("services:\n  a:\n    build: .\n    volumes:\n      - ./logs:/var/log/a\n"
                         "      - /var/run/docker.sock:/var/run/docker.sock\n      - code:/app\n"
                         "volumes:\n  code:\n"),
    }
    result = _run(_project(tmp_path, files))
    out = _after(result)
    assert "chown" not in out and "mkdir" not in out
    notes = " | ".join(_notes(result))
    assert "bind-mounts ./logs at /var/log/a" in notes
    assert "socket /var/run/docker.sock" in notes
    assert "/app (volume of service a) is the app's working directory" in notes


def test_volume_in_parent_stage_is_noted(tmp_path):
    text = "FROM debian:bookworm-slim AS base\nVOLUME /data\n\nFROM base\nCOPY x /x\nCMD [\"/x\"]\n"
    result = _run(_project(tmp_path, {"Dockerfile": text}))
    assert "mkdir" not in _after(result)
    assert any("VOLUME /data is declared in stage base" in n for n in _notes(result))


def test_user_block_goes_above_volume_it_prepares(tmp_path):
    text = ("FROM debian:bookworm-slim\n# state lives here\nVOLUME /var/lib/thing\nRUN apt-get update\n"
            "CMD [\"thing\"]\n")
    out = _after(_run(_project(tmp_path, {"Dockerfile": text})))
    lines = out.splitlines()
    assert lines[1].startswith("RUN groupadd")  # above the comment that leads the VOLUME
    assert lines.index("# state lives here") > lines.index("    && chown 10001:10001 /var/lib/thing")
    assert lines[-2] == "USER 10001:10001"  # USER after the last RUN


def test_sqlite_relative_to_code_dir_is_noted(tmp_path):
    files = {
        "Dockerfile": "FROM python:3.12-slim\nWORKDIR /app\nCOPY . .\nENV DATABASE_URL=sqlite:///app.db\nCMD [\"python\", \"x.py\"]\n",
    }
    result = _run(_project(tmp_path, files))
    assert "chown" not in _after(result)
    assert any("/app (ENV DATABASE_URL)" in n for n in _notes(result))


def test_escape_directive_is_used_for_continuations(tmp_path):
    text = "# escape=`\nFROM debian:bookworm-slim\nVOLUME /data\nCMD [\"x\"]\n"
    out = _after(_run(_project(tmp_path, {"Dockerfile": text})))
    assert "RUN groupadd --system --gid 10001 app `\n" in out
    assert "\\" not in out


def test_crlf_and_no_final_newline(tmp_path):
    text = "FROM debian:bookworm-slim\r\nRUN echo hi\r\nCMD [\"x\"]"
    p = _project(tmp_path, {"Dockerfile": text})
    out = _after(_run(p))
    assert out.endswith('CMD ["x"]') and "\r\nUSER 10001:10001\r\n" in out
    assert "\n" not in out.replace("\r\n", "")


def test_stage_ending_in_run_gets_user_at_end_of_file(tmp_path):
    for text in ("FROM debian:bookworm-slim\nRUN echo hi\n", "FROM debian:bookworm-slim\nRUN echo hi"):
        p = _project(tmp_path / str(len(text)), {"Dockerfile": text})
        out = _after(_run(p))
        assert out.rstrip("\n").endswith("USER 10001:10001")
        assert out.endswith("\n") == text.endswith("\n")


def test_heredoc_at_end_of_stage(tmp_path):
    text = "FROM debian:bookworm-slim\nRUN <<EOT\nset -e\necho hi\nEOT\n"
    out = _after(_run(_project(tmp_path, {"Dockerfile": text})))
    assert out.startswith(text) and out.endswith("USER 10001:10001\n")


# ------------------------------------------------------------------ with split-stages


@pytest.mark.skipif("split-stages" not in names(), reason="split-stages not written yet")
@pytest.mark.parametrize("name", ["user-debian-python", "user-syntax-heredoc", "user-root-at-end"])
def test_combined_with_split_stages(name, tmp_path):
    from harden.dockerfile_doc import DockerfileDoc

    project = copy_fixture(name, tmp_path)
    result = harden_run(project, select=["split-stages", NAME])
    assert not result.errors
    assert not [o for o in result.outcomes if o.status == "failed"], result.outcomes
    out = _after(result)
    doc = DockerfileDoc("Dockerfile", out)
    final = doc.stages[-1]
    assert final.last("USER") is not None and final.last("USER").value == "10001:10001"
    for st in doc.stages[:-1]:
        assert st.last("USER") is None or st.last("USER").value in ("root", "0")
    # nothing that needs root after the USER of the final stage
    after_user = [i.instruction for i in final.instructions if i.startline > final.last("USER").startline]
    assert "RUN" not in after_user


def test_other_user_sharing_words_with_ours_is_no_conflict(tmp_path):
    text = "FROM debian:bookworm-slim\nRUN useradd -m worker && chown -R worker /app\nCMD [\"true\"]\n"
    result = _run(_project(tmp_path, {"Dockerfile": text}))
    assert "USER 10001:10001" in _after(result)
    assert any("creates a user (worker)" in n for n in _notes(result))


@pytest.mark.parametrize("cmd", ["addgroup -S app", "groupadd --gid=10001 web", "adduser -D -u 10001 svc",
                                 "/usr/sbin/useradd app"])
def test_conflicting_user_or_group_is_refused(cmd, tmp_path):
    text = f"FROM debian:bookworm-slim\nRUN apt-get update && {cmd}\nCMD [\"true\"]\n"
    result = _run(_project(tmp_path, {"Dockerfile": text}))
    (o,) = _mine(result)
    assert o.status == "skipped" and "already creates a user or group" in o.reason


def test_stage_pragma_leaves_only_that_stage(tmp_path):
    files = {
        "Dockerfile": ("FROM python:3.12-slim AS base\nRUN pip install flask\n\n"
                       "# harden: ignore[non-root-user] -- binds a raw socket\nFROM base AS probe\nCMD [\"python\", \"-m\", \"probe\"]\n\n"
                       "FROM base AS web\nCMD [\"flask\", \"run\"]\n"),
        "compose.yaml": ("services:\n  probe:\n    build:\n      context: .\n      target: probe\n"
                         "  web:\n    build:\n      context: .\n      target: web\n"),
    }
    result = _run(_project(tmp_path, files))
    from harden.dockerfile_doc import DockerfileDoc

    doc = DockerfileDoc("Dockerfile", _after(result))
    assert doc.stage_by_name("probe").last("USER") is None
    assert doc.stage_by_name("web").last("USER").value == "10001:10001"
    assert any(o.status == "suppressed" and o.part == "stage probe" for o in _mine(result))


def test_data_folder_made_by_mkdir_becomes_writable(tmp_path):
    text = ("FROM python:3.12-slim\nWORKDIR /app\nRUN pip install flask && mkdir -p uploads /usr/share/man/man1 "
            "&& mkdir -m 700 /srv/cache\nCOPY . .\nCMD [\"python\", \"app.py\"]\n")
    out = _after(_run(_project(tmp_path, {"Dockerfile": text})))
    assert "    && chown 10001:10001 /app/uploads /srv/cache\n" in out
    assert out.count("man1") == 1


@pytest.mark.parametrize("script, dockerfile_tail, why", [
    # gosu copied from its image (no RUN names it): the script gives it away
    ('#!/bin/sh\nexec gosu app "$@"\n', 'COPY --from=tianon/gosu /gosu /usr/local/bin/\nENTRYPOINT ["/entrypoint.sh"]\n',
     "runs `gosu`"),
    ('#!/bin/sh\nchown -R app /data\nexec su-exec app "$@"\n', 'ENTRYPOINT ["/entrypoint.sh"]\n', "runs `su-exec`"),
    ('#!/bin/bash\nuseradd -u "$LOCAL_UID" -o -m user\nexec "$@"\n', 'ENTRYPOINT ["/entrypoint.sh"]\n',
     "runs `useradd`"),
    ('#!/bin/sh\nsu -s /bin/sh app -c "python app.py"\n', 'CMD ["sh", "/entrypoint.sh"]\n', "runs `su -s /bin/sh app -c`"),
])
def test_entrypoint_that_switches_user_is_left(tmp_path, script, dockerfile_tail, why):
    text = "FROM python:3.12-slim\nWORKDIR /app\nCOPY . .\nCOPY docker/entrypoint.sh /entrypoint.sh\n" + dockerfile_tail
    root = _project(tmp_path, {"Dockerfile": text, "docker/entrypoint.sh": script, "app.py": "print(1)\n"})
    result = _run(root)
    skipped = _mine(result, "skipped")
    assert len(skipped) == 1 and why in skipped[0].reason and "must start as root" in skipped[0].reason
    assert not result.changed_files


def test_entrypoint_that_only_starts_the_app_gets_the_user(tmp_path):
    """The control: an entrypoint script that neither switches user nor creates one."""
    script = '#!/bin/sh\n# gosu is not used here\npython manage.py migrate\nexec "$@"\n'
    text = ("FROM python:3.12-slim\nWORKDIR /app\nCOPY . .\nCOPY docker/entrypoint.sh /entrypoint.sh\n"
            'ENTRYPOINT ["/entrypoint.sh"]\nCMD ["gunicorn", "app:app"]\n')
    root = _project(tmp_path, {"Dockerfile": text, "docker/entrypoint.sh": script})
    result = _run(root)
    assert "USER 10001:10001" in _after(result)


@pytest.mark.parametrize("where", ["cmd", "compose"])
def test_collectstatic_at_startup_is_left(tmp_path, where):
    cmd = 'sh -c "python manage.py collectstatic --noinput && gunicorn config.wsgi"'
    files = {"Dockerfile": "FROM python:3.12-slim\nWORKDIR /app\nCOPY . .\n" + (f"CMD {cmd}\n" if where == "cmd" else "")}
    if where == "compose":
        files["compose.yaml"] = f"services:\n  web:\n    build: .\n    command: {cmd}\n"
    result = _run(_project(tmp_path, files))
    skipped = _mine(result, "skipped")
    assert len(skipped) == 1 and "runs `manage.py collectstatic` at start-up" in skipped[0].reason
    assert not result.changed_files


def test_collectstatic_into_a_prepared_volume_gets_the_user(tmp_path):
    """The control: STATIC_ROOT on a named volume harden makes writable."""
    files = {"Dockerfile": "FROM python:3.12-slim\nWORKDIR /app\nCOPY . .\n",
             "compose.yaml": "services:\n  web:\n    build: .\n    command: sh -c \"python manage.py collectstatic "
                             "--noinput && gunicorn config.wsgi\"\n    volumes:\n      - static:/app/staticfiles\n"
                             "volumes:\n  static:\n"}
    result = _run(_project(tmp_path, files))
    after = _after(result)
    assert "USER 10001:10001" in after and "chown 10001:10001 /app/staticfiles" in after


@pytest.mark.parametrize("tail, port", [
    ('CMD ["uvicorn", "app.main:app", "--host", "0.0.0.0", "--port", "80"]\n', "80"),
    ("ENV PORT=80\nCMD gunicorn -b 0.0.0.0:${PORT} app:app\n", "80"),
    ('CMD ["gunicorn", "--bind=:443", "app:app"]\n', "443"),
    ('CMD ["uvicorn", "app.main:app", "--port", "8000"]\n', None),
    ("ENV PORT=8080\nCMD gunicorn -b 0.0.0.0:$PORT app:app\n", None),
])
def test_low_port_bound_by_the_command_is_noted(tmp_path, tail, port):
    """No EXPOSE: the server's own port option says it binds a privileged port."""
    text = "FROM python:3.12-slim\nWORKDIR /app\nCOPY . .\n" + tail
    result = _run(_project(tmp_path, {"Dockerfile": text}))
    low = [n for n in _notes(result) if "below 1024" in n]
    if port is None:
        assert low == []
    else:
        assert len(low) == 1 and f"binds port {port}" in low[0]


# ------------------------------------------------------------------ Rails / Puma write tmp/ and log/ at start-up

_RAILS_DF = (
    "FROM ruby:3.2\n"
    "WORKDIR /myapp\n"
    "COPY Gemfile Gemfile.lock ./\n"
    "RUN bundle install\n"
    "COPY . .\n"
    "EXPOSE 3000\n"
)


@pytest.mark.parametrize("cmd, files", [
    ('CMD ["rails", "server", "-b", "0.0.0.0"]\n', {}),
    ('CMD bundle exec rails s -b 0.0.0.0\n', {}),
    ('CMD ["bundle", "exec", "puma", "-C", "config/puma.rb"]\n', {}),
    ('CMD ["./bin/thrust", "./bin/start"]\n', {"Gemfile": "source 'https://rubygems.org'\ngem \"rails\", \"~> 7.1\"\n"}),
])
def test_rails_and_puma_get_tmp_and_log_writable(tmp_path, cmd, files):
    # rails server writes tmp/pids/server.pid (the repository ships tmp/pids/.keep, root-owned after
    # COPY): without a recursive chown the new user got Permission denied and the container exited
    root = _project(tmp_path, {"Dockerfile": _RAILS_DF + cmd, "Gemfile.lock": "", **files})
    after = _after(_run(root))
    assert "    && mkdir -p /myapp/tmp /myapp/log \\\n    && chown -R 10001:10001 /myapp/tmp /myapp/log\n" in after
    assert after.index("chown -R") < after.index("USER 10001:10001") < after.index(cmd)


def test_non_rails_ruby_gets_no_tmp_chown(tmp_path):
    root = _project(tmp_path, {"Dockerfile": _RAILS_DF.replace("EXPOSE 3000\n", "") + 'CMD ["ruby", "worker.rb"]\n',
                               "Gemfile": "gem 'sidekiq'\n"})
    after = _after(_run(root))
    assert "USER 10001:10001" in after and "chown" not in after


# ------------------------------------------------------------------ runtime images that ship their own user

@pytest.mark.parametrize("image, family, existing, nonroot, shell", [
    ("denoland/deno:1.40.0", "debian", (1993, 1993, "deno"), False, True),  # useradd --uid 1993
    ("denoland/deno:alpine-2.1.9", "alpine", (1000, 1000, "deno"), False, True),  # adduser --uid 1000
    ("oven/bun:1", "debian", (1000, 1000, "bun"), False, True),
    ("oven/bun:1-alpine", "alpine", (1000, 1000, "bun"), False, True),
    ("mcr.microsoft.com/dotnet/aspnet:8.0", "debian", (1654, 1654, "app"), False, True),
    ("mcr.microsoft.com/dotnet/runtime:9.0-alpine", "alpine", (1654, 1654, "app"), False, True),
    ("mcr.microsoft.com/dotnet/aspnet:8.0-jammy-chiseled", "debian", (1654, 1654, "app"), True, False),
    ("mcr.microsoft.com/dotnet/aspnet:6.0", "debian", None, False, True),  # no app user before 8.0
    ("mambaorg/micromamba:1.5", "debian", (57439, 57439, "mambauser"), True, True),
    ("maven:3.9-eclipse-temurin-17", "debian", None, False, True),
])
def test_classify_images_with_their_own_user(image, family, existing, nonroot, shell):
    info = classify(image)
    assert (info.family, info.existing, info.default_nonroot, info.shell, info.unknown) == \
        (family, existing, nonroot, shell, None)


@pytest.mark.parametrize("image", ["oven/bun:distroless", "mcr.microsoft.com/dotnet/aspnet:6.0-cbl-mariner2.0",
                                   "mcr.microsoft.com/dotnet/aspnet:latest"])
def test_classify_unknown_variants_are_left_with_a_reason(image):
    assert classify(image).unknown


def test_dotnet8_switches_to_the_image_user(tmp_path):
    root = _project(tmp_path, {"Dockerfile": (
        "FROM mcr.microsoft.com/dotnet/aspnet:8.0\nWORKDIR /app\nCOPY publish/ .\n"
        'ENTRYPOINT ["dotnet", "MyApp.dll"]\n')})
    after = _after(_run(root))
    assert after == ("FROM mcr.microsoft.com/dotnet/aspnet:8.0\nWORKDIR /app\nCOPY publish/ .\nUSER 1654:1654\n"
                     'ENTRYPOINT ["dotnet", "MyApp.dll"]\n')


def test_micromamba_already_runs_as_its_user(tmp_path):
    root = _project(tmp_path, {"Dockerfile": (
        "FROM mambaorg/micromamba:1.5\nCOPY env.yaml /tmp/env.yaml\n"
        "RUN micromamba install -y -n base -f /tmp/env.yaml\nCMD [\"python\", \"/app/main.py\"]\n")})
    result = _run(root)
    assert not result.files or all(f.after == f.before for f in result.files)
    root2 = _project(tmp_path / "b", {"Dockerfile": (
        "FROM mambaorg/micromamba:1.5\nUSER root\nRUN apt-get update && apt-get install -y curl\n"
        "CMD [\"python\", \"/app/main.py\"]\n")})
    assert _after(_run(root2)) == (  # the build keeps its root step; the container goes back to mambauser
        "FROM mambaorg/micromamba:1.5\nUSER root\nRUN apt-get update && apt-get install -y curl\n"
        "USER 57439:57439\nCMD [\"python\", \"/app/main.py\"]\n")


@pytest.mark.parametrize("base, cmd, tool", [
    ("eclipse-temurin:17-jdk-jammy", 'CMD ["./mvnw", "spring-boot:run"]\n', "mvnw spring-boot:run"),
    ("maven:3.9-eclipse-temurin-17", "CMD mvn -q exec:java\n", "mvn -q"),
    ("gradle:8-jdk17", 'ENTRYPOINT ["gradle", "bootRun"]\n', "gradle bootRun"),
    ("rust:1.75", 'CMD ["cargo", "run", "--release"]\n', "cargo run"),
    ("mcr.microsoft.com/dotnet/sdk:8.0", 'ENTRYPOINT ["dotnet", "watch", "run"]\n', "dotnet watch"),
])
def test_build_tool_as_start_command_is_left(tmp_path, base, cmd, tool):
    # spring-boot:run / cargo run compile into target/ in the root-owned app folder at start-up
    root = _project(tmp_path, {"Dockerfile": f"FROM {base}\nWORKDIR /app\nCOPY . .\n{cmd}"})
    result = _run(root)
    assert not result.files or all(f.after == f.before for f in result.files)
    (out,) = _mine(result, "skipped")
    assert f"runs `{tool}" in out.reason and "Permission denied" in out.reason


def test_built_artifact_as_start_command_gets_the_user(tmp_path):
    root = _project(tmp_path, {"Dockerfile": (
        "FROM eclipse-temurin:17-jdk-jammy\nWORKDIR /app\nCOPY . .\nRUN ./mvnw -B package -DskipTests\n"
        'CMD ["java", "-jar", "target/app.jar"]\n')})
    assert "USER 10001:10001\n" in _after(_run(root))


def test_nginx_unprivileged_already_runs_as_non_root(tmp_path):
    root = _project(tmp_path, {"Dockerfile": "FROM nginxinc/nginx-unprivileged:alpine\nCOPY dist /usr/share/nginx/html\n"})
    result = _run(root)
    assert not result.files or all(f.after == f.before for f in result.files)
    assert not _mine(result, "skipped")


@pytest.mark.parametrize("cmd, scripts", [
    ('CMD ["yarn", "start"]\n', {"start": "next start"}),
    ('CMD ["npm", "run", "serve"]\n', {"serve": "next start -p 3000"}),
    ('CMD ["npx", "next", "start"]\n', {}),
])
def test_next_start_gets_dot_next_writable(tmp_path, cmd, scripts):
    # next start writes .next/cache and ISR pages into .next, which the build left root-owned
    import json

    root = _project(tmp_path, {"package.json": json.dumps({"scripts": {"build": "next build", **scripts}}),
                               "Dockerfile": "FROM node:20-alpine\nWORKDIR /app\nCOPY . .\nRUN npm ci && npm run build\n"
                                             + cmd})
    after = _after(_run(root))
    assert "RUN mkdir -p /app/.next \\\n    && chown -R 1000:1000 /app/.next\nUSER 1000:1000\n" in after


def test_node_server_without_next_gets_no_dot_next(tmp_path):
    import json

    root = _project(tmp_path, {"package.json": json.dumps({"scripts": {"start": "node server.js"}}),
                               "Dockerfile": "FROM node:20-alpine\nWORKDIR /app\nCOPY . .\nRUN npm ci\n"
                                             'CMD ["npm", "start"]\n'})
    after = _after(_run(root))
    assert "USER 1000:1000" in after and ".next" not in after


@pytest.mark.parametrize("cmd, scripts, folder", [
    ('CMD ["npm", "start"]\n', {"start": "react-scripts start"}, "node_modules/.cache"),
    ('CMD ["yarn", "serve"]\n', {"serve": "vue-cli-service serve"}, "node_modules/.cache"),
    ('CMD ["npm", "run", "dev"]\n', {"dev": "vite --host 0.0.0.0"}, "node_modules/.vite"),
    ('CMD ["npm", "run", "dev"]\n', {"dev": "vite"}, "node_modules/.vite"),
    ('CMD ["npx", "vite", "dev"]\n', {}, "node_modules/.vite"),
])
def test_dev_server_gets_its_node_modules_cache_writable(tmp_path, cmd, scripts, folder):
    # `npm ci` as root left node_modules root-owned; the dev server creates its cache there at
    # start and fails with EACCES as the node user (a CRA or Vite dev image with a USER line)
    import json

    root = _project(tmp_path, {"package.json": json.dumps({"scripts": scripts}),
                               "Dockerfile": "FROM node:20\nWORKDIR /code\nCOPY package*.json ./\nRUN npm ci\n"
                                             "COPY . .\n" + cmd})
    after = _after(_run(root))
    assert f"RUN mkdir -p /code/{folder} \\\n    && chown -R 1000:1000 /code/{folder}\nUSER 1000:1000\n" in after


def test_compose_command_running_a_dev_server_counts(tmp_path):
    # the image's CMD runs node; the compose service that builds it starts the dev server instead
    import json

    root = _project(tmp_path, {
        "package.json": json.dumps({"scripts": {"start": "node server.js", "dev": "vite"}}),
        "Dockerfile": "FROM node:20\nWORKDIR /code\nCOPY . .\nRUN npm ci\nCMD [\"npm\", \"start\"]\n",
        "compose.yaml": "services:\n  web:\n    build: .\n    command: npm run dev\n    ports:\n      - \"5173:5173\"\n"})
    after = _after(_run(root))
    assert "chown -R 1000:1000 /code/node_modules/.vite" in after


@pytest.mark.parametrize("script", ["vite build", "vite preview", "react-scripts build", "node server.js"])
def test_no_dev_server_no_node_modules_cache(tmp_path, script):
    import json

    root = _project(tmp_path, {"package.json": json.dumps({"scripts": {"start": script}}),
                               "Dockerfile": "FROM node:20\nWORKDIR /code\nCOPY . .\nRUN npm ci\n"
                                             'CMD ["npm", "start"]\n'})
    after = _after(_run(root))
    assert "USER 1000:1000" in after and "node_modules/." not in after


@pytest.mark.parametrize("cmd, files", [
    ('CMD ["php", "artisan", "serve", "--host=0.0.0.0"]\n', {}),
    ('CMD ["php", "-S", "0.0.0.0:8000", "-t", "public"]\n',
     {"artisan": "#!/usr/bin/env php\n", "composer.json": '{"require": {"laravel/framework": "^10.0"}}\n'}),
])
def test_laravel_gets_storage_and_bootstrap_cache_writable(tmp_path, cmd, files):
    # Laravel writes storage/logs, storage/framework/* and bootstrap/cache (shipped with .gitignore files)
    root = _project(tmp_path, {"Dockerfile": "FROM php:8.2-cli\nWORKDIR /app\nCOPY . .\n" + cmd, **files})
    after = _after(_run(root))
    assert ("    && mkdir -p /app/storage /app/bootstrap/cache \\\n"
            "    && chown -R 10001:10001 /app/storage /app/bootstrap/cache\nUSER 10001:10001\n") in after


@pytest.mark.parametrize("user", ["$APP_UID", "${APP_UID}"])
def test_dotnet_app_uid_counts_as_non_root(tmp_path, user):
    text = (f"FROM mcr.microsoft.com/dotnet/aspnet:8.0 AS base\nUSER {user}\nWORKDIR /app\n"
            "FROM base AS final\nCOPY publish/ .\nENTRYPOINT [\"dotnet\", \"api.dll\"]\n")
    result = _run(_project(tmp_path, {"Dockerfile": text}))
    assert not result.files or all(f.after == f.before for f in result.files)
    assert not _mine(result, "skipped")


@pytest.mark.parametrize("env, noted", [("", True), ("ENV ASPNETCORE_URLS=http://+:8080\n", False)])
def test_dotnet6_default_port_80_is_noted(tmp_path, env, noted):
    text = f"FROM mcr.microsoft.com/dotnet/aspnet:6.0\nWORKDIR /app\n{env}COPY publish/ .\nENTRYPOINT [\"dotnet\", \"a.dll\"]\n"
    result = _run(_project(tmp_path, {"Dockerfile": text}))
    assert "USER 10001:10001" in _after(result)
    assert any("listens on port 80 (its ASPNETCORE_URLS)" in n for n in _notes(result)) is noted


def test_rails_with_sqlite_gets_db_and_storage_writable(tmp_path):
    root = _project(tmp_path, {"Dockerfile": _RAILS_DF + 'CMD ["rails", "server", "-b", "0.0.0.0"]\n',
                               "Gemfile": "gem 'rails', '~> 7.0'\ngem 'sqlite3'\n"})
    after = _after(_run(root))
    assert "    && chown -R 10001:10001 /myapp/tmp /myapp/log /myapp/db /myapp/storage\n" in after


@pytest.mark.parametrize("image, family", [
    ("registry.access.redhat.com/ubi9/python-311", "rhel"),
    ("registry.access.redhat.com/ubi8/nodejs-18:latest", "rhel"),
    ("registry.access.redhat.com/ubi9/openjdk-17-runtime:1.18", None),
])
def test_red_hat_language_images_already_run_as_non_root(tmp_path, image, family):
    info = classify(image)
    assert info.default_nonroot and info.family == family
    result = _run(_project(tmp_path, {"Dockerfile": f"FROM {image}\nCOPY . .\nCMD [\"./run\"]\n"}))
    assert not result.files or all(f.after == f.before for f in result.files)
    assert not _mine(result, "skipped")


# ------------------------------------------------------------------ issue 16: bases seen on real projects

def test_java_8_jre_is_debian_and_gets_the_user(tmp_path):
    """The deprecated official `java` image (Debian; piggymetrics' nine services)."""
    assert classify("java:8-jre").family == "debian" and classify("java:8-jre-alpine").family == "alpine"
    text = ("FROM java:8-jre\nMAINTAINER someone\n\nADD ./target/app.jar /app/\n"
            "CMD [\"java\", \"-Xmx200m\", \"-jar\", \"/app/app.jar\"]\n\nEXPOSE 6000")
    out = _after(_run(_project(tmp_path, {"Dockerfile": text})))
    assert out == ("FROM java:8-jre\nMAINTAINER someone\n\nADD ./target/app.jar /app/\n"
                   "RUN groupadd --system --gid 10001 app \\\n"
                   "    && useradd --system --no-log-init --uid 10001 --gid app --create-home --home-dir /home/app app\n"
                   "USER 10001:10001\nCMD [\"java\", \"-Xmx200m\", \"-jar\", \"/app/app.jar\"]\n\nEXPOSE 6000")


@pytest.mark.parametrize("image, user", [
    ("cimg/python:3.10-browsers", (3434, 3434, "circleci")),
    ("docker.elastic.co/kibana/kibana:9.5.1", (1000, 1000, "kibana")),
    ("docker.elastic.co/logstash/logstash:8.15.0", (1000, 1000, "logstash")),
    ("docker.elastic.co/beats/filebeat:9.5.1", (1000, 1000, "filebeat")),
    ("docker.elastic.co/beats/heartbeat:9.5.1", (1000, 1000, "heartbeat")),
    ("docker.elastic.co/elastic-agent/elastic-agent:9.5.1", (1000, 1000, "elastic-agent")),
    ("elastic/metricbeat:8.12.0", (1000, 1000, "metricbeat")),
])
def test_images_that_already_run_as_their_own_user(tmp_path, image, user):
    info = classify(image)
    assert info.default_nonroot and info.existing == user and not info.leave and not info.unknown
    result = _run(_project(tmp_path, {"Dockerfile": f"FROM {image}\nCOPY conf.yml /etc/conf.yml\n"}))
    assert not result.changed_files and not _mine(result, "skipped")


def test_elastic_image_switched_to_root_goes_back_to_its_user(tmp_path):
    text = ("FROM docker.elastic.co/beats/filebeat:8.13.3\nCOPY filebeat.yml /usr/share/filebeat/filebeat.yml\n"
            "USER root\nRUN chown root:filebeat /usr/share/filebeat/filebeat.yml\n")
    out = _after(_run(_project(tmp_path, {"Dockerfile": text})))
    assert out == text + "USER 1000:1000\n"


@pytest.mark.parametrize("image, why", [
    ("umputun/baseimage:app-v1.17.0", "runs the command as user app with su-exec"),
    ("mcr.microsoft.com/devcontainers/javascript-node:22", "is a dev container image"),
    ("mcr.microsoft.com/devcontainers/python:1-3.12-bookworm", "is a dev container image"),
])
def test_images_that_choose_their_user_themselves_are_left_with_the_reason(tmp_path, image, why):
    assert why in (classify(image).leave or "")
    result = _run(_project(tmp_path, {"Dockerfile": f"FROM {image}\nCOPY . /srv\nCMD [\"/srv/app\"]\n"}))
    (o,) = _mine(result)
    assert o.status == "skipped" and why in o.reason and not result.changed_files


def test_onbuild_image_of_an_unknown_family_says_why(tmp_path):
    result = _run(_project(tmp_path, {"Dockerfile": "FROM example.org/team/webapp:onbuild\n"}))
    (o,) = _mine(result)
    assert o.status == "skipped" and "webapp:onbuild is an ONBUILD image" in o.reason
    assert "non-onbuild variant" in o.reason


@pytest.mark.parametrize("image, files, extra, want", [
    # rails:onbuild: Debian, its triggers copy the app into /usr/src/app (its WORKDIR) and it runs
    # `rails server`, which writes tmp/ and log/ there (was: refused as an unknown ONBUILD image)
    ("rails:onbuild", {"Gemfile": "source 'https://rubygems.org'\ngem 'rails', '4.2.1'\ngem 'pg'\n"}, "",
     "RUN groupadd --system --gid 10001 app \\\n"
     "    && useradd --system --no-log-init --uid 10001 --gid app --create-home --home-dir /home/app app \\\n"
     "    && mkdir -p /usr/src/app/tmp /usr/src/app/log \\\n"
     "    && chown -R 10001:10001 /usr/src/app/tmp /usr/src/app/log\nUSER 10001:10001\n"),
    # ruby:*-onbuild got a user before, but not the Rails folders (harden did not know the app's folder)
    ("ruby:2.7-onbuild", {"Gemfile": "gem 'rails'\ngem 'sqlite3'\n"}, "",
     "    && mkdir -p /usr/src/app/tmp /usr/src/app/log /usr/src/app/db /usr/src/app/storage \\\n"),
    ("django:onbuild", {"requirements.txt": "django\n"}, "", "RUN groupadd --system --gid 10001 app"),
    # a data folder named relative to the image's WORKDIR
    ("python:3-onbuild", {"requirements.txt": "flask\n"}, "ENV UPLOAD_FOLDER=./uploads\n",
     "    && mkdir -p /usr/src/app/uploads \\\n"),
    ("node:8-onbuild", {"package.json": "{}"}, "", "USER 1000:1000\n"),
    ("golang:1.10-onbuild", {"main.go": "package main\n"}, "", "RUN groupadd --system --gid 10001 app"),
])
def test_official_onbuild_images_have_their_app_folder(tmp_path, image, files, extra, want):
    out = _after(_run(_project(tmp_path, {**files, "Dockerfile": f"FROM {image}\n{extra}"})))
    assert want in out, out
    assert classify(image).workdir in ("/usr/src/app", "/go/src/app")


@pytest.mark.parametrize("base, want", [
    # only version arguments are unknown, and the tag says Alpine whatever they are
    ("docker.io/golang:${GOLANG_VERSION}-alpine${ALPINE_VERSION}", "RUN addgroup -S -g 10001 app"),
    ("node:${NODE_VERSION}-alpine", "USER 1000:1000"),
    ("python:${PYTHON_VERSION}-slim-bookworm", "RUN groupadd --system --gid 10001 app"),
    # the version may carry the variant (3.12-alpine): which family is not known
    ("python:${PYTHON_VERSION}", None),
    ("golang:${GO_TAG}-alpine", None),  # not a version argument
    ("${REGISTRY}/golang:1.22-alpine", None),
    ("postgres:${PG_VERSION}-alpine", None),  # a server image: left whatever the version
])
def test_base_image_from_version_arguments_without_default(tmp_path, base, want):
    names = sorted(set(re.findall(r"\$\{(\w+)\}", base)))
    text = "".join(f"ARG {n}\n" for n in names) + f"FROM {base}\nWORKDIR /src\nCOPY . .\nCMD [\"./app\"]\n"
    result = _run(_project(tmp_path, {"Dockerfile": text}))
    (o,) = _mine(result)
    if want is None:
        assert o.status == "skipped" and "comes from a build argument without a default" in o.reason, o
    else:
        assert want in _after(result), _after(result)


@pytest.mark.parametrize("base, tail", [
    ("untergeek/curator:8.0.21", 'USER root\nENTRYPOINT ["crond"]\nCMD ["-f", "-d8"]\n'),
    ("python:3.12-slim", 'RUN apt-get update && apt-get install -y --no-install-recommends cron\nCMD ["cron", "-f"]\n'),
    ("alpine:3.20", 'COPY crontab /etc/crontabs/root\nCMD crond -f -l 2\n'),
    ("alpine:3.20", 'ENTRYPOINT ["/sbin/tini", "--"]\nCMD ["/usr/sbin/crond", "-f"]\n'),
])
def test_cron_as_the_start_command_is_left(tmp_path, base, tail):
    """cron must start as root (it runs each crontab's jobs as that crontab's user): with a USER,
    the container would not start. Was rewritten on known bases, refused as unknown on curator."""
    result = _run(_project(tmp_path, {"Dockerfile": f"FROM {base}\n{tail}"}))
    (o,) = _mine(result)
    assert o.status == "skipped" and "starts `" in o.reason and "cron starts as root" in o.reason
    assert not result.changed_files


def test_cron_only_named_in_the_command_is_no_cron(tmp_path):
    out = _after(_run(_project(tmp_path, {"Dockerfile": 'FROM python:3.12-slim\nCMD ["python", "cron.py"]\n'})))
    assert "USER 10001:10001" in out


def test_compose_user_on_a_dockerfile_that_is_already_non_root_is_unchanged(tmp_path):
    """redis-commander: USER 10000 in the Dockerfile, `user: redis` in compose. Already non-root: not a
    refusal because of the compose `user:`."""
    files = {"Dockerfile": "FROM alpine:3.21\nRUN adduser -S -D -u 10000 redis\nUSER 10000\nCMD [\"/run.sh\"]\n",
             "compose.yaml": "services:\n  rc:\n    build: .\n    user: redis\n"}
    result = _run(_project(tmp_path, files))
    assert [o.status for o in _mine(result)] == ["unchanged"]


# ------------------------------------------------------------------ files the start command writes

_CELERY_DF = ("FROM python:3.12-slim\nWORKDIR /usr/src/app\nCOPY requirements.txt .\n"
              "RUN pip install -r requirements.txt\nCOPY . .\n")


def _celery_project(tmp_path, command: str, volumes: str = "", dockerfile: str = _CELERY_DF) -> Path:
    return _project(tmp_path, {
        "Dockerfile": dockerfile,
        "requirements.txt": "celery\n",
        "docker-compose.yml": f"services:\n  worker:\n    build: .\n    command: {command}\n{volumes}",
    })


def test_a_log_file_in_a_bind_mounted_folder_leaves_the_dockerfile(tmp_path):
    """The worker writes logs/celery.log into the source folder compose bind-mounts from the host
    (a real project: `harden verify` found the worker dying with Permission denied as UID 10001)."""
    root = _celery_project(tmp_path, "celery -A worker.celery worker --logfile=logs/celery.log",
                           "    volumes:\n      - .:/usr/src/app\n")
    result = _run(root)
    [o] = _mine(result)
    assert o.status == "skipped"
    assert o.reason.startswith("the `command:` of compose service worker writes logs/celery.log (`celery --logfile`) "
                               "into /usr/src/app, which compose bind-mounts from the host")
    assert not result.changed_files


def test_a_read_only_bind_mount_is_not_written(tmp_path):
    root = _celery_project(tmp_path, "celery -A w worker --logfile=/var/log/celery/w.log",
                           "    volumes:\n      - ./conf:/usr/src/app/conf:ro\n")
    after = _after(_run(root))
    assert "mkdir -p /var/log/celery" in after and "chown 10001:10001 /var/log/celery" in after


def test_a_log_folder_of_its_own_is_made_writable(tmp_path):
    root = _celery_project(tmp_path, "celery -A w worker --logfile /var/log/celery/w.log")
    after = _after(_run(root))
    assert after.endswith("--create-home --home-dir /home/app app \\\n    && mkdir -p /var/log/celery \\\n"
                          "    && chown 10001:10001 /var/log/celery\nUSER 10001:10001\n"), after


@pytest.mark.parametrize("command, written", [
    ("celery -A w worker --logfile=celery.log", "celery.log"),
    # Celery beat's default scheduler keeps its schedule in the working directory
    ("celery -A proj beat -l info", "celerybeat-schedule"),
    ("celery -A proj worker -B", "celerybeat-schedule"),
])
def test_a_file_in_the_root_owned_working_directory_leaves_the_dockerfile(tmp_path, command, written):
    result = _run(_celery_project(tmp_path, command))
    [o] = _mine(result)
    assert o.status == "skipped" and f"writes {written} " in o.reason and "into the working directory /usr/src/app" \
        in o.reason, o.reason
    assert not result.changed_files


@pytest.mark.parametrize("command", [
    "celery -A proj beat -l info --scheduler django_celery_beat.schedulers:DatabaseScheduler",
    "celery -A proj beat -s /tmp/celerybeat-schedule",
    "celery -A proj worker --logfile=- --pidfile=",
    "sh -c \"celery -A proj worker --logfile=/tmp/w.log\"",
])
def test_writes_outside_the_app_folder_change_nothing_of_the_user(tmp_path, command):
    after = _after(_run(_celery_project(tmp_path, command)))
    assert after.endswith("--home-dir /home/app app\nUSER 10001:10001\n"), after


def test_the_image_cmd_counts_when_compose_sets_no_command(tmp_path):
    df = _CELERY_DF + 'CMD ["gunicorn", "app:app", "--pid", "/run/app/gunicorn.pid"]\n'
    root = _project(tmp_path, {"Dockerfile": df, "requirements.txt": "gunicorn\n"})
    after = _after(_run(root))
    assert "mkdir -p /run/app" in after and "chown 10001:10001 /run/app" in after


def test_an_entrypoint_of_its_own_drops_the_image_cmd(tmp_path):
    """Compose's `entrypoint:` resets the image's CMD: the CMD's log file is not written."""
    df = _CELERY_DF + 'CMD ["celery", "-A", "w", "worker", "--logfile=w.log"]\n'
    root = _project(tmp_path, {"Dockerfile": df, "requirements.txt": "celery\n",
                               "docker-compose.yml": "services:\n  w:\n    build: .\n    entrypoint: [\"python\", \"run.py\"]\n"})
    assert _mine(_run(root))[0].status == "changed"


# --------------------------------------------------------------------------- start scripts


def test_a_start_script_that_installs_packages_leaves_the_stage(tmp_path):
    """The script the CMD runs (`sh start.sh`) runs `npm install` in the root-owned app folder:
    as the node user it would fail with EACCES (brocoders' startup.*.test.sh)."""
    proj = copy_fixture("user-node-install-at-start", tmp_path)
    result = harden_run(proj, select=[NAME])
    out, = _mine(result)
    assert out.status == "skipped", out
    assert out.reason.startswith("CMD at line 9 -> start.sh line 2 runs `npm install` at start-up")
    assert "/usr/src/app" in out.reason and "EACCES" in out.reason
    assert not result.changed_files


def test_a_start_script_without_installs_still_gets_the_user(tmp_path):
    root = _project(tmp_path, {
        "Dockerfile": "FROM node:20-slim\nWORKDIR /app\nCOPY . .\nRUN npm ci\nCMD [\"sh\", \"start.sh\"]\n",
        "start.sh": "set -e\nnpm run migrate\nexec npm start\n", "package.json": "{}\n"})
    assert "USER 1000:1000" in _after(_run(root))


def test_a_start_script_that_redirects_into_the_app_folder_leaves_the_stage(tmp_path):
    """`npm run start:prod > prod.log` in the root-owned working directory (brocoders' CI
    scripts); into a folder of its own, that folder is made writable instead."""
    df = "FROM node:20-slim\nWORKDIR /app\nCOPY . .\nRUN npm ci\nCMD [\"/app/run.sh\"]\n"
    root = _project(tmp_path / "a", {"Dockerfile": df, "package.json": "{}\n",
                                     "run.sh": "#!/bin/sh\nnpm run start:prod > prod.log 2>&1 &\nnode worker.js\n"})
    out, = _mine(_run(root))
    assert out.status == "skipped" and "writes prod.log" in out.reason and "/app/run.sh" not in out.reason, out
    root = _project(tmp_path / "b", {"Dockerfile": df, "package.json": "{}\n",
                                     "run.sh": "#!/bin/sh\nexec node server.js >> /var/log/app/server.log\n"})
    after = _after(_run(root))
    assert "mkdir -p /var/log/app" in after and "chown 1000:1000 /var/log/app" in after


def test_a_start_script_harden_cannot_follow_that_names_an_install_leaves_the_stage(tmp_path):
    root = _project(tmp_path, {
        "Dockerfile": "FROM python:3.12-slim\nWORKDIR /app\nCOPY . .\nCMD [\"/app/entry.sh\"]\n",
        "entry.sh": "#!/bin/sh\ncase \"$1\" in\n  dev) pip install -r dev.txt ;;\nesac\nexec python app.py\n"})
    out, = _mine(_run(root))
    assert out.status == "skipped" and "pip install" in out.reason and "entry.sh" in out.reason, out


# --------------------------------------------------------------------------- a test image's working directory


def test_a_test_image_whose_start_installs_gets_its_working_directory(tmp_path):
    """Only docker-compose.test.yml builds it and its start script runs `npm install` in
    /srv/chat: the COPY that makes /srv/chat gets --chown (so the folder it creates is the
    user's too: no chown of the folder), and USER follows. Applying twice changes nothing."""
    proj = copy_fixture("user-node-test-install", tmp_path)
    result = _run(proj)
    after = _after(result)
    assert "COPY --chown=1000:1000 . /srv/chat\n" in after
    assert "COPY scripts/test-start.sh /usr/local/bin/test-start.sh\n" in after  # not into the app's folder
    assert "chown 1000:1000 /srv/chat" not in after and after.endswith("USER 1000:1000\n\nCMD [\"sh\", \"/usr/local/bin/test-start.sh\"]\n")
    assert any(n.startswith("a test image: its start writes into /srv/chat (`npm install`)") for n in _notes(result))
    (proj / "Dockerfile").write_text(after)
    assert not _run(proj).changed_files


def test_a_ci_image_whose_start_logs_into_the_working_directory_gets_it(tmp_path):
    """WORKDIR makes /app before the COPYs: a COPY --chown leaves the owner of a folder that
    exists, so the folder alone is chowned too (not -R); the root `npm ci` before the COPY
    writes node_modules, which the start (a log file, `npm test`) does not write."""
    proj = copy_fixture("user-node-ci-log", tmp_path)
    after = _after(_run(proj))
    assert after == ("FROM node:20-slim\nWORKDIR /app\nCOPY --chown=1000:1000 package.json package-lock.json ./\n"
                     "RUN npm ci --no-audit --no-fund\nCOPY --chown=1000:1000 . .\nRUN chown 1000:1000 /app\n"
                     "USER 1000:1000\nCMD [\"sh\", \"ci/run-checks.sh\"]\n")
    (proj / "Dockerfile").write_text(after)
    assert not _run(proj).changed_files


def test_a_test_image_with_a_created_user_chowns_the_folder_in_the_same_run(tmp_path):
    root = _project(tmp_path, {
        "Dockerfile": "FROM python:3.12-slim\nWORKDIR /app\nCOPY . .\nRUN pip install -r requirements.txt\n"
                      "CMD [\"sh\", \"ci.sh\"]\n",
        "ci.sh": "python app.py > app.log 2>&1 &\npytest\n", "requirements.txt": "pytest\n", "app.py": "print(1)\n"})
    after = _after(_run(root))
    assert "COPY --chown=10001:10001 . .\n" in after
    assert "--home-dir /home/app app \\\n    && chown 10001:10001 /app\nUSER 10001:10001\n" in after


def test_a_production_image_with_the_same_start_is_still_left(tmp_path):
    """The same Dockerfile and start script, built by docker-compose.yml: not a test image, so
    the app must not be able to rewrite its own code; today's reason."""
    proj = copy_fixture("user-node-test-install", tmp_path)
    (proj / "docker-compose.test.yml").rename(proj / "docker-compose.yml")
    result = _run(proj)
    out, = _mine(result)
    assert out.status == "skipped" and not result.changed_files, out
    assert out.reason.startswith("CMD at line 13 -> test-start.sh line 4 runs `npm install` at start-up") or \
        "runs `npm install` at start-up" in out.reason, out
    assert "a test image" not in out.reason and "harden does not hand the code directory" in out.reason


def test_a_test_image_whose_root_install_writes_node_modules_is_left(tmp_path):
    """`RUN npm ci` in the working directory as root leaves node_modules root-owned: `npm
    install` at start-up would fail there, so the stage is left, with the RUN named."""
    root = _project(tmp_path, {
        "Dockerfile": "FROM node:20-slim\nWORKDIR /usr/src/app\nCOPY package.json ./\nRUN npm ci\nCOPY . .\n"
                      "CMD [\"sh\", \"start.sh\"]\n",
        "start.sh": "set -e\nnpm install\nnpm test\n", "package.json": "{}\n"})
    result = _run(root)
    out, = _mine(result)
    assert out.status == "skipped" and not result.changed_files, out
    assert "runs `npm install` at start-up" in out.reason
    assert "(a test image: harden hands its working directory to the app user, but RUN at line 4 runs `npm ci` in " \
           "/usr/src/app as root, and the start writes node_modules, package-lock.json ... there" in out.reason, out


def test_a_test_image_whose_node_modules_are_copied_in_by_root_is_left(tmp_path):
    """brocoders' e2e images: `RUN cp -a /tmp/app/node_modules /usr/src/app` after the COPY."""
    root = _project(tmp_path, {
        "Dockerfile": "FROM node:20-slim\nCOPY package*.json /tmp/app/\nRUN cd /tmp/app && npm install\n"
                      "COPY . /usr/src/app\nRUN cp -a /tmp/app/node_modules /usr/src/app\nWORKDIR /usr/src/app\n"
                      "CMD [\"sh\", \"start.sh\"]\n",
        "start.sh": "set -e\nnpm install\nnpm run test:e2e\n", "package.json": "{}\n"})
    out, = _mine(_run(root))
    assert out.status == "skipped", out
    assert "RUN at line 5 writes /usr/src/app/node_modules as root" in out.reason, out


def test_a_test_image_bind_mounted_over_its_working_directory_is_left(tmp_path):
    proj = copy_fixture("user-node-test-install", tmp_path)
    (proj / "docker-compose.test.yml").write_text(
        "services:\n  chat:\n    build: .\n    volumes:\n      - .:/srv/chat\n")
    out, = _mine(_run(proj))
    assert out.status == "skipped", out
    assert "compose service chat bind-mounts . at /srv/chat: the host's folder keeps its owner" in out.reason


def test_a_test_image_whose_start_writes_into_a_host_folder_mounted_inside_it_is_left(tmp_path):
    """compose mounts the host's src/ and test/ inside the working directory; the start script
    also passes a path in src/ to a command (a migration generator writes there). The host's
    folder keeps its owner, which a CI runner's user is, not the app user: left with the reason.
    Mounted folders the start names no path in do not stop the handing."""
    proj = copy_fixture("user-node-test-install", tmp_path)
    (proj / "src").mkdir()
    (proj / "docker-compose.test.yml").write_text(
        "services:\n  chat:\n    build: .\n    volumes:\n      - ./src:/srv/chat/src\n      - ./test:/srv/chat/test\n")
    assert _mine(_run(proj))[0].status == "changed"
    script = proj / "scripts" / "test-start.sh"
    script.write_text(script.read_text().replace("exec node", "npm run migrations -- src/migrations/New\nexec node"))
    out, = _mine(_run(proj))
    assert out.status == "skipped", out
    assert ("passes src/migrations/New to `npm`, inside /srv/chat/src, which compose service chat bind-mounts from the "
            "host (./src)") in out.reason, out.reason
    (proj / "docker-compose.test.yml").write_text(
        "services:\n  chat:\n    build: .\n    volumes:\n      - ./src:/srv/chat/src:ro\n")
    assert _mine(_run(proj))[0].status == "changed"  # read-only: the start cannot write there as root either


def test_a_test_image_whose_start_runs_pip_install_is_left(tmp_path):
    """pip installs into the system's site-packages, not the working directory: handing that
    directory would not help, so today's reason."""
    root = _project(tmp_path, {
        "Dockerfile": "FROM python:3.12-slim\nWORKDIR /app\nCOPY . .\n"
                      "CMD [\"sh\", \"-c\", \"pip install -r requirements.txt && pytest\"]\n",
        "requirements.txt": "pytest\n"})
    out, = _mine(_run(root))
    assert out.status == "skipped" and "runs `pip install` at start-up" in out.reason, out
    assert "a test image" not in out.reason


def test_the_folder_chown_after_a_run_says_why_hadolint_may_ignore_it(tmp_path):
    """`RUN chown 1000:1000 /app` right after the Dockerfile's own `RUN npm ci`: hadolint's
    DL3059 would ask to merge them, which would rewrite the user's line; harden marks its own."""
    root = _project(tmp_path, {
        "Dockerfile": "FROM node:20-slim\nWORKDIR /app\nCOPY . .\nRUN npm ci\nCMD [\"/app/run.sh\"]\n",
        "package.json": "{}\n", "run.sh": "#!/bin/sh\nnpm run start:prod > prod.log 2>&1 &\nnpm run e2e\n"})
    after = _after(_run(root))
    assert after == ("FROM node:20-slim\nWORKDIR /app\nCOPY --chown=1000:1000 . .\nRUN npm ci\n"
                     "# hadolint ignore=DL3059\nRUN chown 1000:1000 /app\nUSER 1000:1000\nCMD [\"/app/run.sh\"]\n")


def test_a_copy_into_a_folder_inside_the_working_directory_chowns_the_folder(tmp_path):
    """`COPY src /srv/app/src` makes /srv/app on the way, root-owned (only the COPY's own
    destination gets its owner): the folder is chowned too."""
    root = _project(tmp_path, {
        "Dockerfile": "FROM node:20-slim\nCOPY src /srv/app/src\nCOPY package.json /srv/app/\nWORKDIR /srv/app\n"
                      "CMD [\"sh\", \"-c\", \"npm install && npm test\"]\n",
        "package.json": "{}\n", "src/index.js": "\n"})
    after = _after(_run(root))
    assert "COPY --chown=1000:1000 src /srv/app/src\nCOPY --chown=1000:1000 package.json /srv/app/\n" in after
    assert "RUN chown 1000:1000 /srv/app\nUSER 1000:1000\n" in after


def test_a_test_image_started_in_another_folder_by_compose_is_left(tmp_path):
    proj = copy_fixture("user-node-test-install", tmp_path)
    (proj / "docker-compose.test.yml").write_text("services:\n  chat:\n    build: .\n    working_dir: /srv\n")
    out, = _mine(_run(proj))
    assert out.status == "skipped" and "compose service chat starts it in /srv (`working_dir:`)" in out.reason, out


@pytest.mark.parametrize("dockerfile, leave", [
    # an installer script puts the tool in root's home and PATH points there
    ("FROM node:22-bookworm\nWORKDIR /app\nRUN curl -fsSL https://example.com/install.sh | bash\n"
     "ENV PATH=\"/root/.tool/bin:$PATH\"\nCOPY . .\nRUN tool install\nCMD [\"tool\", \"run\", \"start\"]\n",
     "ENV at line 4 puts /root/.tool/bin on PATH"),
    # pip install --user as root: the scripts land in /root/.local/bin
    ("FROM python:3.12-slim\nWORKDIR /app\nCOPY . .\nRUN pip install --user -r requirements.txt\n"
     "ENV PATH=/root/.local/bin:$PATH\nCMD [\"gunicorn\", \"app:app\"]\n",
     "RUN at line 4 installs with `pip install --user` as root"),
    # pipx as root: its apps land in /root/.local/bin
    ("FROM python:3.12-slim\nRUN pip install pipx && pipx install httpie\nENV PATH=/root/.local/bin:$PATH\n"
     "CMD [\"http\", \"--version\"]\n",
     "ENV at line 3 puts /root/.local/bin on PATH"),
    # the start command names a program under /root
    ("FROM debian:bookworm-slim\nWORKDIR /app\nCOPY run.sh /root/run.sh\nCMD [\"/root/run.sh\"]\n",
     "CMD at line 4 runs /root/run.sh"),
])
def test_tools_under_root_home_leave_the_stage(tmp_path, dockerfile, leave):
    """/root is mode 700: a non-root user reaches nothing installed there."""
    (tmp_path / "Dockerfile").write_text(dockerfile)
    (tmp_path / "requirements.txt").write_text("gunicorn\n")
    result = _run(tmp_path)
    [o] = _mine(result)
    assert o.status == "skipped" and leave in o.reason, o.reason


@pytest.mark.parametrize("dockerfile", [
    # a PATH entry under /root that nothing in the image fills (a production stage keeps the builder's ENV)
    "FROM python:3.12-slim\nENV PATH=\"/root/.local/bin:$PATH\"\nWORKDIR /app\nCOPY . .\nCMD [\"python\", \"app.py\"]\n",
    # the Dockerfile opens root's home itself
    "FROM node:22-bookworm\nRUN curl -fsSL https://example.com/install.sh | bash && chmod 755 /root\n"
    "ENV PATH=\"/root/.tool/bin:$PATH\"\nWORKDIR /app\nCOPY . .\nCMD [\"tool\", \"start\"]\n",
    # a cache mount under /root is not a program
    "FROM python:3.12\nWORKDIR /app\nCOPY . .\nRUN --mount=type=cache,target=/root/.cache/pip pip install -r requirements.txt\n"
    "CMD [\"gunicorn\", \"app:app\"]\n",
    # a folder whose name only begins with root (/rootfs, /root-app) is not root's home
    "FROM python:3.12-slim\nWORKDIR /rootfs\nCOPY . .\nCMD [\"python\", \"/rootfs/app.py\"]\n",
    "FROM python:3.12-slim\nWORKDIR /root-app\nCOPY . .\nCMD [\"python\", \"/root-app/app.py\"]\n",
])
def test_root_home_paths_that_reach_nothing_are_fine(tmp_path, dockerfile):
    (tmp_path / "Dockerfile").write_text(dockerfile)
    (tmp_path / "requirements.txt").write_text("gunicorn\n")
    result = _run(tmp_path)
    assert [o.status for o in _mine(result)] == ["changed"], [o.reason for o in _mine(result)]


@pytest.mark.parametrize("volume", [
    "~/.microsoft/usersecrets:/root/.microsoft/usersecrets:ro",
    "{type: bind, source: ./certs, target: /root/.aspnet/https}",
])
def test_compose_mount_into_root_home_leaves_the_stage(tmp_path, volume):
    """Visual Studio's compose override mounts user secrets and the HTTPS development certificate
    into /root: as another user the app looks in its own $HOME and cannot enter /root."""
    (tmp_path / "Dockerfile").write_text(
        "FROM mcr.microsoft.com/dotnet/aspnet:6.0\nWORKDIR /app\nCOPY out/ .\nENTRYPOINT [\"dotnet\", \"Api.dll\"]\n")
    (tmp_path / "compose.yaml").write_text(
        f"services:\n  api:\n    build: .\n    volumes:\n      - {volume}\n")
    result = _run(tmp_path)
    [o] = _mine(result)
    assert o.status == "skipped" and "in root's home" in o.reason, o.reason


def test_compose_mount_elsewhere_still_gets_user(tmp_path):
    (tmp_path / "Dockerfile").write_text(
        "FROM mcr.microsoft.com/dotnet/aspnet:6.0\nWORKDIR /app\nCOPY out/ .\nENTRYPOINT [\"dotnet\", \"Api.dll\"]\n")
    (tmp_path / "compose.yaml").write_text(
        "services:\n  api:\n    build: .\n    volumes:\n      - ./certs:/https:ro\n      - /root-data:/data/rootish:ro\n")
    result = _run(tmp_path)
    assert [o.status for o in _mine(result)] == ["changed"]


@pytest.mark.parametrize("secret, leave", [
    ('{source: pw, target: pw, uid: "1000", gid: "1000", mode: 0400}', True),
    ('{source: pw, target: pw, mode: 0o400}', True),  # owned by root
    ('{source: pw, target: pw, uid: "10001", mode: 0400}', False),  # the user harden adds
    ('{source: pw, target: pw, uid: "1000", mode: 0444}', False),  # readable by anyone
    ('{source: pw, target: pw, uid: "1000", gid: "10001", mode: 0440}', False),  # by its group
    ('{source: pw, target: pw, uid: "1000", mode: 292}', False),  # decimal 292 is 0444
    ("pw", False),
])
def test_compose_secret_only_its_owner_reads_leaves_the_stage(tmp_path, secret, leave):
    """A secret mounted with uid/mode for one user: as another UID the app could not read it."""
    (tmp_path / "Dockerfile").write_text("FROM python:3.12-slim\nWORKDIR /app\nCOPY . .\nCMD [\"python\", \"app.py\"]\n")
    (tmp_path / "pw.txt").write_text("x\n")
    (tmp_path / "compose.yaml").write_text(
        f"services:\n  api:\n    build: .\n    secrets:\n      - {secret}\nsecrets:\n  pw:\n    file: ./pw.txt\n")
    result = _run(tmp_path)
    [o] = _mine(result)
    if leave:
        assert o.status == "skipped" and "mounts the secret pw owned by uid" in o.reason, o.reason
    else:
        assert o.status == "changed", o.reason


def test_a_note_is_said_once_when_several_compose_files_run_the_service(tmp_path):
    """The same service in the base file and in two overlays: one note about its bind mount, not three."""
    (tmp_path / "Dockerfile").write_text("FROM python:3.12-slim\nWORKDIR /app\nCOPY . .\nCMD [\"python\", \"app.py\"]\n")
    (tmp_path / "docker-compose.yml").write_text("services:\n  app:\n    build: .\n    volumes:\n      - .:/app\n")
    for name in ("dev", "prod"):
        (tmp_path / f"docker-compose.{name}.yml").write_text(f"services:\n  app:\n    container_name: app-{name}\n")
    result = _run(tmp_path)
    notes = [n.message for n in result.notes if "bind-mounts . at /app" in n.message]
    assert len(notes) == 1, notes


@pytest.mark.parametrize("dockerfile, leave", [
    ("FROM python:3.12-slim\nWORKDIR /app\nCOPY . .\nRUN pip install --user -r requirements.txt\n"
     "CMD [\"python\", \"-m\", \"gunicorn\", \"app:app\"]\n", True),
    # the install runs as another user already: its own home
    ("FROM python:3.12-slim\nRUN useradd -m web\nUSER web\nWORKDIR /home/web\nCOPY . .\n"
     "RUN pip install --user -r requirements.txt\nUSER root\nCMD [\"python\", \"app.py\"]\n", False),
    # PYTHONUSERBASE moves the user site out of /root
    ("FROM python:3.12-slim\nENV PYTHONUSERBASE=/opt/site\nWORKDIR /app\nCOPY . .\n"
     "RUN pip install --user -r requirements.txt\nCMD [\"python\", \"app.py\"]\n", False),
])
def test_pip_user_install_as_root_leaves_the_stage(tmp_path, dockerfile, leave):
    """`pip install --user` as root fills /root/.local: another user's Python looks in its own home."""
    (tmp_path / "Dockerfile").write_text(dockerfile)
    (tmp_path / "requirements.txt").write_text("gunicorn\n")
    result = _run(tmp_path)
    [o] = _mine(result)
    assert (o.status == "skipped" and "pip install --user" in (o.reason or "")) is leave, (o.status, o.reason)
