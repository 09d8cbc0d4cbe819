"""Helpers for the end-to-end tests: a compose project under test, and the checks.

A ``Stack`` is a copy of one example in a temporary folder, driven with Compose v2 (``docker
compose``, what users run; ``tool=V1`` drives it with docker-compose 1.29 instead: the seed
example does, because users still have 1.29) under a project name of its own
(``harden-e2e-<example>-<orig|hard>-<random>``) and free host ports. Its ``down()`` removes
containers, networks, volumes and the images it built, and is called from fixture finalizers,
so it runs when a test fails too.

Builds use the classic builder (no buildx plugin on these machines, and the cleanup reads the
intermediate image ids it prints): Compose v2 honours ``DOCKER_BUILDKIT=0`` (it builds through
the Engine API and adds a ``LABEL com.docker.compose.image.builder=classic`` step); without it v2
builds with BuildKit even when no buildx is installed (the engine's own BuildKit).
``COMPOSE_DOCKER_CLI_BUILD=0`` is read by 1.29 only (build through the API, not the docker CLI).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harden_testlib import V1, V2, compose_clis, in_ci

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"

# Base images the examples (and the probes below) need; built by .ci/e2e.sh
BASE_IMAGES = (
    "python:3.12-slim",
    "python:3.12",
    "mysql:8.0",
    "adminer",
    "postgres:16",
    "redis:7",
    "node:20-slim",
    "node:20",
)
PROBE_IMAGE = "python:3.12-slim"  # throwaway containers for TCP probes

ACTIVE_STACKS: list["Stack"] = []

COMPOSE_ENV = {
    "DOCKER_BUILDKIT": "0",  # classic builder: v2 and 1.29
    "COMPOSE_DOCKER_CLI_BUILD": "0",  # 1.29: build through the Engine API (v2 ignores it)
    "COMPOSE_INTERACTIVE_NO_CLI": "1",
    "COMPOSE_HTTP_TIMEOUT": "300",
}
COMPILERS = ("gcc", "cc", "g++", "c++")


def log(msg: str) -> None:
    print(f"[e2e {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --------------------------------------------------------------------------- engine


def skip_or_fail(reason: str) -> None:
    if in_ci():
        pytest.fail(f"CI is set and the end-to-end tests cannot run: {reason}", pytrace=False)
    pytest.skip(reason)


CLI_NAMES = {V2: "docker compose", V1: "docker-compose"}


def compose_problem(tool: str = V2) -> str | None:
    """Why the compose CLI `tool` (V2 or V1) cannot drive a stack here, or None."""
    if tool not in compose_clis():
        what = "Compose v2" if tool == V2 else "docker-compose 1.29"
        return f"{what} (`{CLI_NAMES[tool]}`) is not installed (run sudo .ci/e2e.sh)"
    return None


def _run(cmd: list[str], timeout: float = 30, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)


def engine_problem() -> str | None:
    if shutil.which("docker") is None:
        return "no docker CLI on PATH (run sudo .ci/e2e.sh)"
    try:
        info = _run(["docker", "info", "--format", "{{.ServerVersion}}"], timeout=30)
    except subprocess.TimeoutExpired:
        return "`docker info` timed out"
    if info.returncode != 0:
        return f"no Docker engine reachable: {info.stderr.strip()[:300]} (run sudo .ci/e2e.sh)"
    missing = [img for img in BASE_IMAGES if _run(["docker", "image", "inspect", img]).returncode]
    if missing:
        return f"base image(s) {', '.join(missing)} not built (run sudo .ci/e2e.sh)"
    return None


def require_v2() -> None:
    """Skip (fail under CI) a test that needs Compose v2 to drive a stack when it cannot."""
    problem = compose_problem(V2)
    if problem:
        skip_or_fail(problem)


def compose_v2(folder: Path, project: str, env: dict, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """`docker compose -p PROJECT ARGS...` (Compose v2) in ``folder``, output captured."""
    return subprocess.run([*compose_clis()[V2], "-p", project, *args], cwd=folder, env=env, capture_output=True,
                          text=True, timeout=timeout)


def harden_apply(folder: Path, select: str) -> None:
    """`harden apply FOLDER --select SELECT` as a user runs it; fails the test unless it exits 0."""
    import sys

    done = subprocess.run([sys.executable, "-m", "harden", "apply", str(folder), "--select", select],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def free_port() -> int:
    """A TCP port free on every interface right now (ports are only published by `up`)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("0.0.0.0", 0))
        return s.getsockname()[1]


def parse_time(value: str) -> dt.datetime:
    """Docker's RFC 3339 timestamps with nanoseconds -> aware datetime."""
    value = value.replace("Z", "+00:00")
    if "." in value:
        head, rest = value.split(".", 1)
        frac = "".join(c for c in rest if c.isdigit())
        tz = rest[len(frac):]
        value = f"{head}.{frac[:6].ljust(6, '0')}{tz}"
    return dt.datetime.fromisoformat(value)


# --------------------------------------------------------------------------- examples


@dataclass(frozen=True)
class Example:
    name: str
    # host port env vars of the example's compose file
    port_vars: tuple[str, ...]
    # services built from the repo's Dockerfile(s)
    app_services: tuple[str, ...]
    # service published to the outside, its port var, and a URL path answering from the DB
    web_service: str
    web_port_var: str
    web_path: str
    web_expect: str
    # database/store service -> container port
    stores: dict[str, int]
    # (dependent, store) pairs whose start must wait for the store to be healthy
    waits: tuple[tuple[str, str], ...]
    # services that connect once at start-up and die if their store is not ready
    startup_connectors: tuple[str, ...] = ()
    # dev tools: service -> its host port var (for a reachability check with --profile dev)
    dev_tools: dict[str, str] = field(default_factory=dict)
    # store -> a log line its image prints just before the server that takes connections
    # starts (after first-run initialisation); for the "started too early" check
    ready_markers: dict[str, str] = field(default_factory=dict)
    # the project's folder when it is not examples/<name> (e.g. a tests/fixtures project)
    source: Path | None = None


# --------------------------------------------------------------------------- stack


class CommandFailed(AssertionError):
    pass


class Stack:
    def __init__(self, example: Example, tmp: Path, label: str, tool: str = V2):
        self.example = example
        self.label = label
        self.tool = tool  # V2 (`docker compose`) or V1 (docker-compose 1.29)
        self.cli = compose_clis()[tool]
        self.dir = tmp / example.name
        shutil.copytree(example.source or EXAMPLES / example.name, self.dir, symlinks=True)
        self.project = f"harden-e2e-{example.name}-{label}-{secrets.token_hex(3)}"
        self.ports = {var: free_port() for var in example.port_vars}
        self.env = {**os.environ, **COMPOSE_ENV, **{k: str(v) for k, v in self.ports.items()}}
        self.transcript: list[tuple[str, str]] = []
        self.build_output = ""
        self.harden_output = ""
        self.build_outputs: list[str] = []
        self.up_started: float | None = None
        self._down_done = False

    # ---- commands

    def run(self, cmd: list[str], timeout: float = 120, check: bool = True,
            record: bool = True) -> subprocess.CompletedProcess:
        started = time.monotonic()
        try:
            proc = subprocess.run(cmd, cwd=self.dir, env=self.env, capture_output=True,
                                  text=True, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            out = (exc.stdout or b"")
            out = out.decode(errors="replace") if isinstance(out, bytes) else out
            self.transcript.append((" ".join(cmd), f"TIMEOUT after {timeout}s\n{out}"))
            raise CommandFailed(f"timed out after {timeout}s: {' '.join(cmd)}\n{out[-4000:]}")
        took = time.monotonic() - started
        if record:
            self.transcript.append(
                (" ".join(cmd), f"exit {proc.returncode} in {took:.1f}s\n{proc.stdout}{proc.stderr}")
            )
        if check and proc.returncode != 0:
            raise CommandFailed(
                f"`{' '.join(cmd)}` exited {proc.returncode}\n"
                f"--- stdout ---\n{proc.stdout[-6000:]}\n--- stderr ---\n{proc.stderr[-6000:]}"
            )
        return proc

    def compose(self, *args: str, timeout: float = 300, check: bool = True,
                profiles: tuple[str, ...] = (), record: bool = True) -> subprocess.CompletedProcess:
        cmd = [*self.cli, "-p", self.project]
        for p in profiles:
            cmd += ["--profile", p]
        return self.run(cmd + list(args), timeout=timeout, check=check, record=record)

    def harden_apply(self) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [sys.executable, "-m", "harden", "apply", str(self.dir)],
            cwd=self.dir.parent, capture_output=True, text=True, timeout=300,
        )
        self.transcript.append(("harden apply", f"exit {proc.returncode}\n{proc.stdout}{proc.stderr}"))
        self.harden_output = proc.stdout + proc.stderr
        return proc

    @property
    def cli_name(self) -> str:
        return CLI_NAMES[self.tool]

    def image_name(self, service: str) -> str:
        """The image `build` tags for a service without `image:` (v2 joins with '-', 1.29 '_')."""
        return f"{self.project}{'-' if self.tool == V2 else '_'}{service}"

    def built_images(self) -> list[str]:
        """The images `build` tagged for this project's services that are still there."""
        proc = _run(["docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}",
                     "--filter", f"reference={self.image_name('*')}"])
        return proc.stdout.split()

    def build(self) -> None:
        proc = self.compose("build", "--force-rm", timeout=1200, check=False)
        self.build_output = proc.stdout + proc.stderr
        self.build_outputs.append(self.build_output)
        if proc.returncode != 0:
            raise CommandFailed(
                f"`{self.cli_name} build` of {self.dir} failed (exit {proc.returncode}):\n"
                f"{self.build_output[-12000:]}"
            )
        if not re.search(r"^Step 1/\d+ : ", self.build_output, re.M):
            # BuildKit prints no intermediate image ids: the cleanup below would miss them
            raise CommandFailed(
                f"`{self.cli_name} build` of {self.dir} did not use the classic builder "
                f"(DOCKER_BUILDKIT=0 ignored?):\n{self.build_output[-4000:]}"
            )

    def up(self, *services: str, profiles: tuple[str, ...] = ()) -> None:
        if self.up_started is None:
            self.up_started = time.monotonic()
        self.compose("up", "-d", "--no-build", *services, profiles=profiles, timeout=400)

    def profiles_in_config(self) -> list[str]:
        try:
            text = (self.dir / "docker-compose.yml").read_text()
        except OSError:
            return []
        from ruamel.yaml import YAML

        try:
            doc = YAML(typ="safe").load(text) or {}
        except Exception:
            return []
        found: set[str] = set()
        for svc in (doc.get("services") or {}).values():
            if isinstance(svc, dict):
                found.update(str(p) for p in svc.get("profiles") or [])
        return sorted(found)

    def down(self) -> None:
        if self._down_done:
            return
        self._down_done = True
        profiles = tuple(self.profiles_in_config())
        # anonymous volumes (an image's VOLUME) carry no project label: note them first
        label = f"label=com.docker.compose.project={self.project}"
        volumes: set[str] = set()
        ids = _run(["docker", "ps", "-aq", "--filter", label]).stdout.split()
        if ids:
            proc = _run(["docker", "inspect", *ids])
            if proc.returncode == 0:
                for c in json.loads(proc.stdout):
                    volumes.update(m["Name"] for m in c.get("Mounts") or [] if m.get("Type") == "volume")
        try:
            self.compose("down", "-v", "--rmi", "local", "--remove-orphans", "-t", "5",
                         profiles=profiles, timeout=300, check=False)
        finally:
            # belt and braces: anything still labelled with this project
            ids = _run(["docker", "ps", "-aq", "--filter", label]).stdout.split()
            if ids:
                _run(["docker", "rm", "-fv", *ids], timeout=120)
            for kind in ("network", "volume"):
                names = _run(["docker", kind, "ls", "-q", "--filter", label]).stdout.split()
                if names:
                    _run(["docker", kind, "rm", *names], timeout=60)
            leftover = [v for v in volumes
                        if _run(["docker", "volume", "inspect", v]).returncode == 0]
            if leftover:
                _run(["docker", "volume", "rm", *leftover], timeout=60)
            # Compose v2's `--rmi local` removes only images labelled with the project, and its
            # classic builder does not label them: remove the images `build` tagged for us
            # (the project name is ours alone)
            built = self.built_images()
            if built:
                _run(["docker", "rmi", *built], timeout=120)
            if os.environ.get("HARDEN_E2E_KEEP_BUILD_CACHE") != "1":
                self._remove_build_leftovers()
            if self in ACTIVE_STACKS:
                ACTIVE_STACKS.remove(self)
        left = self.built_images()
        if left:
            raise CommandFailed(f"{self.project}: `down` left the images it built: {left}")

    def _remove_build_leftovers(self) -> None:
        """Remove the untagged images our builds left (a builder stage is not the tagged
        image's parent, so `--rmi local` leaves it). Tagged images are never touched, and
        `docker rmi` without --force refuses an image another image or container uses."""
        ids: list[str] = []
        for text in self.build_outputs:
            for m in re.finditer(r"^ ---> ([0-9a-f]{12})\s*$", text, re.M):
                if m.group(1) not in ids:
                    ids.append(m.group(1))
        for image_id in reversed(ids):
            proc = _run(["docker", "image", "inspect", "-f", "{{len .RepoTags}}", image_id])
            if proc.returncode == 0 and proc.stdout.strip() == "0":
                _run(["docker", "rmi", image_id], timeout=60)

    # ---- inspection

    def container_ids(self, service: str) -> list[str]:
        proc = _run(["docker", "ps", "-aq",
                     "--filter", f"label=com.docker.compose.project={self.project}",
                     "--filter", f"label=com.docker.compose.service={service}"])
        return proc.stdout.split()

    def container(self, service: str) -> dict | None:
        ids = self.container_ids(service)
        if not ids:
            return None
        proc = _run(["docker", "inspect", ids[0]])
        return json.loads(proc.stdout)[0] if proc.returncode == 0 else None

    def require_container(self, service: str) -> dict:
        info = self.container(service)
        assert info is not None, f"service {service!r} has no container in project {self.project}"
        return info

    def image_of(self, service: str) -> dict:
        info = self.require_container(service)
        proc = _run(["docker", "image", "inspect", info["Image"]])
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)[0]

    def networks(self) -> list[str]:
        proc = _run(["docker", "network", "ls", "--format", "{{.Name}}",
                     "--filter", f"label=com.docker.compose.project={self.project}"])
        return sorted(proc.stdout.split())

    def logs(self, *services: str, tail: int = 200) -> str:
        proc = self.compose("logs", "--no-color", f"--tail={tail}", *services,
                            profiles=tuple(self.profiles_in_config()), check=False,
                            timeout=60, record=False)
        return proc.stdout + proc.stderr

    def wait_healthy(self, service: str, timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        info = self.require_container(service)
        while time.monotonic() < deadline:
            info = self.require_container(service)
            health = info["State"].get("Health")
            if health is None:
                raise AssertionError(f"{service}: the container has no healthcheck")
            if health["Status"] == "healthy":
                return info
            if not info["State"]["Running"]:
                break
            time.sleep(1)
        raise AssertionError(
            f"{service} not healthy within {timeout}s: state={info['State'].get('Status')} "
            f"health={json.dumps(info['State'].get('Health'), indent=1)[-3000:]}"
        )

    def wait_exited(self, service: str, timeout: float = 60) -> dict | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            info = self.container(service)
            if info and (info["State"]["Status"] == "exited" or info["RestartCount"] > 0):
                return info
            time.sleep(0.5)
        return self.container(service)

    def http_get(self, port_var: str, path: str, timeout: float = 90) -> tuple[int, str]:
        """GET http://127.0.0.1:<port><path>, retrying until it answers (any status)."""
        url = f"http://127.0.0.1:{self.ports[port_var]}{path}"
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(url, timeout=5) as resp:
                    return resp.status, resp.read().decode(errors="replace")
            except urllib.error.HTTPError as exc:
                last = f"HTTP {exc.code}: {exc.read().decode(errors='replace')[:500]}"
                if exc.code < 500:
                    return exc.code, last
            except (OSError, urllib.error.URLError) as exc:
                last = repr(exc)
            time.sleep(1)
        raise AssertionError(f"{url} did not answer with success within {timeout}s; last: {last}")

    def first_log_time(self, service: str, marker: str, timeout: float = 90) -> dt.datetime:
        """Timestamp of the first log line of the service containing `marker` (waits for it)."""
        deadline = time.monotonic() + timeout
        cid = self.container_ids(service)[0]
        while True:
            proc = _run(["docker", "logs", "--timestamps", cid], timeout=60)
            for line in (proc.stdout + proc.stderr).splitlines():
                if marker in line:
                    return parse_time(line.split(" ", 1)[0])
            if time.monotonic() > deadline:
                raise AssertionError(f"{service}: no log line with {marker!r} within {timeout}s")
            time.sleep(1)

    def exec_uid(self, service: str) -> int:
        proc = self.compose("exec", "-T", service, "id", "-u", timeout=60)
        return int(proc.stdout.strip())

    def image_uid(self, service: str) -> int:
        """uid a container of the service's image runs as (image's USER and compose `user:`)."""
        image = self.require_container(service)["Image"]
        user = self.require_container(service)["Config"].get("User") or ""
        cmd = ["docker", "run", "--rm", "--entrypoint", "id"]
        if user:
            cmd += ["--user", user]
        proc = _run(cmd + [image, "-u"], timeout=60)
        assert proc.returncode == 0, proc.stderr
        return int(proc.stdout.strip())

    def compilers_in_image(self, service: str) -> list[str]:
        image = self.require_container(service)["Image"]
        script = "for c in " + " ".join(COMPILERS) + "; do p=$(command -v $c) && echo $c=$p; done; true"
        proc = _run(["docker", "run", "--rm", "--user", "0", "--entrypoint", "sh", image, "-c", script],
                    timeout=60)
        assert proc.returncode == 0, f"cannot run sh in the {service} image: {proc.stderr}"
        return proc.stdout.split()

    def tcp_probe(self, network: str, targets: list[tuple[str, int]]) -> dict[str, str]:
        """From a throwaway container on `network`, try TCP to each (host, port)."""
        code = (
            "import json,socket,sys\n"
            "out={}\n"
            "for h,p in json.loads(sys.argv[1]):\n"
            "    try:\n"
            "        socket.create_connection((h,p),timeout=3).close(); out[f'{h}:{p}']='open'\n"
            "    except Exception as e:\n"
            "        out[f'{h}:{p}']=type(e).__name__+': '+str(e)\n"
            "print(json.dumps(out))\n"
        )
        proc = _run(["docker", "run", "--rm", "--network", network, "--label",
                     f"harden-e2e-probe={self.project}", PROBE_IMAGE, "python3", "-c", code,
                     json.dumps(targets)], timeout=90)
        assert proc.returncode == 0, f"probe container failed: {proc.stderr}"
        return json.loads(proc.stdout.strip().splitlines()[-1])

    def ip_on(self, service: str, network: str) -> str | None:
        nets = self.require_container(service)["NetworkSettings"]["Networks"]
        return (nets.get(network) or {}).get("IPAddress") or None

    def published_bindings(self, service: str) -> list[tuple[str, str, str]]:
        """(container port, host ip, host port) of every published port of the service."""
        info = self.require_container(service)
        out = []
        ports = (info.get("NetworkSettings") or {}).get("Ports") or {}
        for cport, binds in ports.items():
            for b in binds or []:
                out.append((cport, b.get("HostIp", ""), b.get("HostPort", "")))
        if not out:  # a stopped container: fall back to the requested bindings
            for cport, binds in (info["HostConfig"].get("PortBindings") or {}).items():
                for b in binds or []:
                    out.append((cport, b.get("HostIp", ""), b.get("HostPort", "")))
        return out

    def config_doc(self) -> dict:
        proc = self.compose("config", timeout=60, profiles=tuple(self.profiles_in_config()),
                            record=False)
        from ruamel.yaml import YAML

        return YAML(typ="safe").load(proc.stdout)

    # ---- failure output

    def diagnostics(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        if self.transcript:
            out.append(("commands", "\n\n".join(f"$ {c}\n{o[-4000:]}" for c, o in self.transcript[-12:])))
        if self.build_output:
            out.append(("build output (tail)", self.build_output[-8000:]))
        try:
            ps = self.compose("ps", profiles=tuple(self.profiles_in_config()), check=False,
                              timeout=60, record=False)
            out.append((f"{self.cli_name} ps", ps.stdout + ps.stderr))
            out.append((f"{self.cli_name} logs", self.logs(tail=150)))
        except Exception as exc:  # diagnostics must never hide the real failure
            out.append(("diagnostics error", repr(exc)))
        for name in ("Dockerfile", "docker-compose.yml"):
            path = self.dir / name
            if path.exists():
                out.append((f"{self.label} {name}", path.read_text(errors="replace")))
        return out


def open_stack(example: Example, tmp: Path, label: str, tool: str = V2) -> Stack:
    """A Stack driven by `tool` (V2 or V1); skips (fails under CI) when that CLI is missing."""
    problem = compose_problem(tool)
    if problem:
        skip_or_fail(problem)
    stack = Stack(example, tmp, label, tool)
    ACTIVE_STACKS.append(stack)
    log(f"{stack.project}: {stack.cli_name}, copy in {stack.dir}, ports {stack.ports}")
    return stack


def size_mb(image: dict) -> float:
    return image["Size"] / 1e6


def exposed(bindings: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """The bindings reachable from outside the host (all interfaces)."""
    return [b for b in bindings if b[1] in ("", "0.0.0.0", "::")]


# original image sizes per (example, service), filled by the ORIGINAL fixtures
ORIGINAL_SIZES: dict[tuple[str, str], float] = {}


# --------------------------------------------------------------------------- image builds


def image_files(image: str) -> list[str]:
    """Every path in the image's file system (from `docker export`; needs no shell)."""
    proc = subprocess.run(["docker", "create", image], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    cid = proc.stdout.strip()
    try:
        exp = subprocess.run(["docker", "export", cid], capture_output=True, timeout=300)
        assert exp.returncode == 0, exp.stderr.decode(errors="replace")
        with tarfile.open(fileobj=io.BytesIO(exp.stdout)) as tar:
            return [m.name.lstrip("./") for m in tar.getmembers()]
    finally:
        subprocess.run(["docker", "rm", "-f", cid], capture_output=True, timeout=60)


HOST_CA = "/etc/ssl/certs/ca-certificates.crt"


def trust_host_ca(stack: Stack) -> None:
    """Builds reach PyPI through this machine's TLS-intercepting proxy. The stand-in images trust
    its CA in the system bundle (pip is configured for it), but poetry (requests + certifi) and
    uv (its own roots) read only their own bundles unless told: point them at the system one,
    as projects behind such a proxy do. Done on both copies before anything else, so harden
    rewrites the Dockerfile as it stands."""
    path = stack.dir / "Dockerfile"
    lines = path.read_text().splitlines(keepends=True)
    k = next(i for i, line in enumerate(lines) if line.upper().startswith("FROM "))
    lines.insert(k + 1, f"ENV SSL_CERT_FILE={HOST_CA} REQUESTS_CA_BUNDLE={HOST_CA}\n")
    path.write_text("".join(lines))
