"""Shared test helpers (import them from here, not from conftest: tests/e2e has a conftest of its own): snapshot extensions that keep one real file per output in the
top-level snapshots/ folder, helpers to run harden on a copy of a fixture, and the one way tests
ask the compose CLIs whether a combination of compose files is valid (`compose_config`,
`compose_model`)."""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SNAPSHOTS = REPO / "snapshots"


class _TopLevel(SingleFileSnapshotExtension):
    _write_mode = WriteMode.TEXT

    @classmethod
    def dirname(cls, *, test_location) -> str:  # snapshots/<test module>/
        return str(SNAPSHOTS / test_location.basename)


class DockerfileSnapshot(_TopLevel):
    file_extension = "Dockerfile"


class ComposeSnapshot(_TopLevel):
    file_extension = "compose.yaml"


class DiffSnapshot(_TopLevel):
    file_extension = "diff"


class TextSnapshot(_TopLevel):
    file_extension = "txt"


class JsonSnapshot(_TopLevel):
    file_extension = "json"


class BytesSnapshot(SingleFileSnapshotExtension):
    """For outputs that must be compared byte for byte (CRLF)."""

    _write_mode = WriteMode.BINARY
    file_extension = "bin"

    @classmethod
    def dirname(cls, *, test_location) -> str:
        return str(SNAPSHOTS / test_location.basename)


def fixture_names() -> list[str]:
    return sorted(p.name for p in FIXTURES.iterdir() if p.is_dir() and p.name != "apps" and not p.name.startswith("_"))


def copy_fixture(name: str, dest: Path) -> Path:
    target = dest / name
    shutil.copytree(FIXTURES / name, target, symlinks=True)
    return target


def write_files(root: Path, files: dict[str, str]) -> Path:
    """Write ``{relative path: text}`` under ``root`` (folders made as needed); returns root."""
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return root


def run_harden(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harden", *args], capture_output=True, text=True, cwd=cwd)


def harden_run(path: Path, select: list[str] | None = None):
    """Run the engine in-process and return the RunResult."""
    from harden.config import Options
    from harden.engine import run

    opts = Options()
    if select is not None:
        opts.select = select
    return run(path, opts)


def changed_text(result, rel: str) -> str:
    for f in result.files:
        if f.rel == rel:
            return f.after
    raise KeyError(rel)


# ------------------------------------------------------------------ compose CLIs
#
# Compose v2 (`docker compose`, the Go implementation users run) checks that every network,
# volume, secret and config a service names is declared; docker-compose 1.29 (Python) does not.
# Every test that validates compose output asks both through compose_config(): v2 is required
# (skipped on a developer's machine without it, a failure under CI), 1.29 is asked too where
# it is installed.

V2 = "v2"  # `docker compose` (or a standalone docker-compose that reports 2.x or later)
V1 = "1.29"  # docker-compose 1.x (Python)

V2_MISSING = ("Compose v2 (`docker compose`) is not installed; "
              "`sudo bash ../shared/e2e/compose-v2.sh` installs it (.ci/run does)")


def in_ci() -> bool:
    """True under CI (env CI set to anything but empty/0/false/no): a missing tool fails there."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _major(cmd: list[str]) -> int | None:
    try:
        proc = subprocess.run([*cmd, "version", "--short"], capture_output=True, text=True, timeout=60,
                              env=compose_env())
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.match(r"\s*v?(\d+)\.", proc.stdout)
    return int(m.group(1)) if proc.returncode == 0 and m else None


@functools.lru_cache(maxsize=None)
def compose_clis() -> dict[str, tuple[str, ...]]:
    """The installed compose CLIs, v2 first: {V2: (docker, "compose"), V1: (docker-compose,)}.
    A `docker-compose` on PATH that is v2 (the standalone binary) stands in for the plugin."""
    found: dict[str, tuple[str, ...]] = {}
    docker = shutil.which("docker")
    if docker and (_major([docker, "compose"]) or 0) >= 2:
        found[V2] = (docker, "compose")
    legacy = shutil.which("docker-compose")
    if legacy:
        major = _major([legacy])
        if major == 1:
            found[V1] = (legacy,)
        elif major and major >= 2 and V2 not in found:
            found[V2] = (legacy,)
    return dict(sorted(found.items(), key=lambda kv: kv[0] != V2))


def require_compose_v2() -> tuple[str, ...]:
    """The v2 command; skips the calling test without it, fails it under CI."""
    cli = compose_clis().get(V2)
    if cli is None:
        if in_ci():
            pytest.fail(f"CI must have it: {V2_MISSING}", pytrace=False)
        pytest.skip(V2_MISSING)
    return cli


def compose_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """A clean environment for the compose CLIs: none of the developer's COMPOSE_* settings or
    variables leak into interpolation; only what `extra` adds."""
    env = {"PATH": os.environ.get("PATH") or "/usr/bin:/bin", "HOME": os.environ.get("HOME") or "/tmp"}
    if os.environ.get("DOCKER_CONFIG"):
        env["DOCKER_CONFIG"] = os.environ["DOCKER_CONFIG"]
    env.update(extra or {})
    return env


def _file_args(files) -> list[str]:
    args: list[str] = []
    for f in files:
        args += ["-f", str(f)]
    return args


def compose_config(folder: Path, files, env: dict[str, str] | None = None) -> dict[str, tuple[bool, str]]:
    """`config -q` of this combination of files (`-f` each, in order, run in `folder`) with every
    installed compose CLI: {V2: (ok, output), V1: (ok, output)} (V1 only where installed).

    v2 checks only the services of the active profiles, so it runs twice, at once: as `up` does
    (default profile: catches a default service depending on a dev-only one) and with
    `--profile '*'` (catches an undeclared network/volume/secret/config of a dev-only service).
    Its result is ok when both pass; the output names the pass that failed.
    Requires v2 (require_compose_v2)."""
    require_compose_v2()
    env = compose_env(env)
    runs: list[tuple[str, str, subprocess.Popen]] = []
    for tool, cli in compose_clis().items():
        passes = [[], ["--profile", "*"]] if tool == V2 else [[]]
        for extra in passes:
            cmd = [*cli, *_file_args(files), *extra, "config", "-q"]
            proc = subprocess.Popen(cmd, cwd=folder, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True)
            runs.append((tool, " ".join(["docker compose" if tool == V2 else "docker-compose", *extra]), proc))
    fails: dict[str, list[str]] = {}
    quiet: dict[str, str] = {}
    for tool, label, proc in runs:
        try:
            out, _ = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            out = "timed out after 120 s\n" + proc.communicate()[0]
        if proc.returncode != 0:
            fails.setdefault(tool, []).append(f"`{label} config -q` exit {proc.returncode}:\n{out.strip()}")
        else:
            quiet.setdefault(tool, out.strip())  # warnings, e.g. an unset variable
    return {tool: (tool not in fails, "\n".join(fails.get(tool, [])) or quiet.get(tool, ""))
            for tool in compose_clis()}


def compose_regressions(before: dict[str, tuple[bool, str]], after: dict[str, tuple[bool, str]]) -> dict[str, str]:
    """{tool: output} for each CLI that accepted the input (`before`) and rejects the output."""
    return {tool: out for tool, (ok, out) in after.items() if not ok and before.get(tool, (False, ""))[0]}


def assert_compose_still_valid(before, after, what: str = "") -> None:
    """Each compose CLI that accepted the input accepts the output (the rule is per tool: an input
    v2 rejects may still have to pass 1.29 after harden, and the reverse)."""
    bad = compose_regressions(before, after)
    assert not bad, "\n".join(f"{what}: {tool} config rejects the output of harden, which it accepted before:\n{out}"
                              for tool, out in bad.items())


def assert_compose_valid(result: dict[str, tuple[bool, str]], what: str = "") -> None:
    """Every installed compose CLI accepts it."""
    bad = {tool: out for tool, (ok, out) in result.items() if not ok}
    assert not bad, "\n".join(f"{what}: {tool} config fails:\n{out}" for tool, out in bad.items())


def project_compose_config(root: Path) -> dict[tuple[Path, ...], dict[str, tuple[bool, str]]]:
    """compose_config of every compose project harden finds under root (a base file with its
    override files), keyed by the files."""
    from harden.project import discover

    require_compose_v2()  # also where no compose file is found: the check did not run
    return {tuple(g.files): compose_config(g.folder, g.files) for g in discover(root).groups}


def assert_project_still_valid(before: dict, after: dict) -> None:
    """project_compose_config before and after harden: per compose project and per CLI, what
    passed before passes after."""
    assert list(after) == list(before), "harden changed which compose projects are found"
    for files, results in before.items():
        assert_compose_still_valid(results, after[files], str([f.name for f in files]))


def compose_model(folder: Path, files, profiles=(), env: dict[str, str] | None = None) -> dict:
    """The resolved model of this combination of files: `docker compose config --format json`
    (Compose v2; ports in the long form, depends_on as a mapping with conditions, only the
    services of the active profiles: pass profiles=("*",) for all). Fails the test when v2
    rejects the files. Requires v2 (require_compose_v2)."""
    cli = require_compose_v2()
    cmd = [*cli, *_file_args(files)]
    for p in profiles:
        cmd += ["--profile", p]
    proc = subprocess.run(cmd + ["config", "--format", "json"], cwd=folder, env=compose_env(env),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"docker compose config --format json fails:\n{proc.stderr}"
    return json.loads(proc.stdout)
