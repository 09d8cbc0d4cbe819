"""`harden verify [PATH]`: prove on this machine that the hardened project still builds and runs.

What it does, in order (each step prints one progress line on stderr):

1. copies the project twice into a temporary folder (``before/`` and ``after/``) and runs harden
   on ``after/`` (or takes ``--hardened DIR`` as the after side); the user's tree is only read;
2. reads every compose project of both copies with the compose CLI itself (``docker compose
   config``: Compose v2, or docker-compose 1.29 when v2 is missing), so build settings, start
   commands, ``${VAR:-default}`` and ``env_file`` mean exactly what compose makes of them;
3. builds, before and after, every image whose Dockerfile (or build settings) differ, with the
   service's build settings (context, dockerfile, args, target) and the classic builder, and
   reads the final user, the size and whether a compiler is in the image;
4. starts each service built from a changed image, both ways, alone (``compose run -d
   --no-deps``: its command, entrypoint, environment, env_file, user, volumes; no published
   ports, no restart policy) for a bounded time, and compares: both running, or both exiting the
   same way, is *equivalent*; running before and dead after is a *regression*, and so is a new
   error in the logs (:data:`ERROR_PATTERNS`);
5. with ``--stack``, brings the whole default project up both ways under project names of its
   own (published ports and fixed container names removed) and compares every service: state,
   health, restarts, and that a dependent waiting on ``service_healthy`` started after its
   dependency turned healthy;
6. removes every container, network, volume and image it made (also on Ctrl-C / SIGTERM), and
   the temporary folder.

Exit codes: 0 nothing regressed (everything harden changed was built and started both ways),
1 a regression, 2 verify could not do its job (no engine, no compose, a base image that is not
there, an original that does not build or start) -- with one line saying why.

The compose model is what compose prints: the tool judges the files, not harden's own reading
of them. The comparison functions (:func:`compare_run`, :func:`compare_stack_service`) are pure
and tested without an engine.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterable

from .record import field, record

EXIT_OK, EXIT_REGRESSION, EXIT_ERROR = 0, 1, 2
JSON_VERSION = 1

#: new in the logs after hardening -> regression (category, pattern)
ERROR_PATTERNS: tuple[tuple[str, re.Pattern], ...] = (
    ("Permission denied", re.compile(r"permission denied", re.I)),
    ("EACCES", re.compile(r"\bEACCES\b")),
    ("not found", re.compile(r"\bnot found\b", re.I)),
    ("ModuleNotFoundError", re.compile(r"\bModuleNotFoundError\b|\bNo module named\b")),
    ("cannot find module", re.compile(r"cannot find module", re.I)),
    ("exec format error", re.compile(r"exec format error", re.I)),
)
#: a build that failed for one of these could not get its base image: verify cannot run (exit 2)
MISSING_IMAGE = re.compile(
    r"pull access denied|manifest unknown|manifest for \S+ not found|repository does not exist|"
    r"No such image|not found: manifest|failed to resolve reference|dial tcp|no such host|"
    r"Temporary failure in name resolution.*registry|TLS handshake timeout|i/o timeout.*registry", re.I)
COMPILERS = ("gcc", "cc", "g++", "c++", "clang")
#: paths probed for a compiler in an image without a shell
COMPILER_DIRS = ("/usr/bin", "/usr/local/bin", "/bin")
LOG_TAIL_TEXT = 5
LOG_TAIL_JSON = 30
BUILD_TIMEOUT = float(os.environ.get("HARDEN_VERIFY_BUILD_TIMEOUT", "1800"))
UP_TIMEOUT = 600.0
HEALTH_GRACE = 120.0  # --stack: how much longer than --wait to wait for a health check still "starting"
COPY_SKIP = {".git", ".hg", ".svn"}
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class VerifyFailed(Exception):
    """verify could not do its job: one line, exit 2."""


# --------------------------------------------------------------------------------- records


@record
class BuildSpec:
    """One image to build on one side, with the compose build settings."""

    key: str  # display name: the Dockerfile (and target) relative to the project
    context: Path
    dockerfile: Path
    target: str | None = None
    args: dict = field(default_factory=dict)
    services: list = field(default_factory=list)  # "group: service" that use it


@record
class Built:
    ok: bool
    seconds: float = 0.0
    tag: str | None = None
    image_id: str | None = None
    user: str | None = None  # the image's USER ("" = root)
    size: int | None = None
    compilers: list | None = None  # None: could not tell
    error: str | None = None
    missing_image: bool = False
    output_tail: list = field(default_factory=list)


@record
class RunObs:
    """What one container did."""

    state: str  # running | exited | restarting | created | dead | not-started | missing
    exit_code: int | None = None
    health: str | None = None  # starting | healthy | unhealthy | None (no healthcheck)
    restarts: int = 0
    started_at: str | None = None
    first_healthy: str | None = None  # end time of the earliest passing probe still in the log
    logs: list = field(default_factory=list)
    error: str | None = None  # why it did not start
    oom: bool = False

    @property
    def alive(self) -> bool:
        return self.state in ("running",)

    def describe(self) -> str:
        if self.state == "not-started":
            return "not started"
        if self.state == "missing":
            return "no container"
        out = self.state
        if self.state in ("exited", "dead") and self.exit_code is not None:
            out = f"exited {self.exit_code}"
            if self.oom:
                out += " (out of memory)"
        if self.health:
            out += f", {self.health}"
        if self.restarts:
            out += f", {self.restarts} restart{'s' if self.restarts != 1 else ''}"
        return out


@record
class Verdict:
    status: str  # equivalent | regression | differs | expected | not-verified
    reasons: list = field(default_factory=list)


# --------------------------------------------------------------------------------- pure logic


def error_lines(lines: Iterable[str]) -> dict[str, str]:
    """{category: first log line showing it} for every :data:`ERROR_PATTERNS` category."""
    found: dict[str, str] = {}
    for line in lines:
        for name, pat in ERROR_PATTERNS:
            if name not in found and pat.search(line):
                found[name] = line.strip()
    return found


def new_errors(before: Iterable[str], after: Iterable[str]) -> dict[str, str]:
    """Error categories the after logs show and the before logs do not."""
    b = error_lines(before)
    return {k: v for k, v in error_lines(after).items() if k not in b}


def _cut(text: str, n: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 3] + "..."


def compare_run(before: RunObs, after: RunObs) -> Verdict:
    """One service started alone both ways. Equivalent: both running, or both exited with the
    same code. Regression: running before and not after, a start that fails only after, exit
    126/127 (cannot execute / not found) only after, healthy before and unhealthy after, or a
    new error in the logs. Anything else that differs (exited 1 before and 2 after; running
    only after) is reported as *differs*, not as a regression."""
    if before.state in ("not-started", "missing"):
        return Verdict("not-verified", [f"the original did not start: {_cut(before.error or before.state)}"])
    reasons: list[str] = []
    if after.state in ("not-started", "missing"):
        reasons.append(f"does not start after hardening: {_cut(after.error or after.state)}")
    elif before.alive and not after.alive:
        reasons.append(f"running before, {after.describe()} after")
    elif not before.alive and not after.alive and after.exit_code in (126, 127) and before.exit_code != after.exit_code:
        what = "not found" if after.exit_code == 127 else "cannot execute"
        reasons.append(f"exited {before.exit_code} before, {after.exit_code} ({what}) after")
    if before.health == "healthy" and after.health == "unhealthy":
        reasons.append("healthy before, unhealthy after")
    if after.oom and not before.oom:
        reasons.append("killed for memory after hardening")
    for cat, line in new_errors(before.logs, after.logs).items():
        reasons.append(f"new in the logs: {cat}: {_cut(line)}")
    if reasons:
        return Verdict("regression", reasons)
    if before.alive and after.alive:
        return Verdict("equivalent")
    if not before.alive and not after.alive:
        if before.exit_code == after.exit_code:
            return Verdict("equivalent")
        return Verdict("differs", [f"exited {before.exit_code} before, {after.exit_code} after"])
    if not before.alive and after.alive:
        return Verdict("differs", [f"{before.describe()} before, runs after hardening"])
    return Verdict("differs", [f"{before.describe()} before, {after.describe()} after"])


def compare_stack_service(name: str, before: RunObs | None, after: RunObs | None, *,
                          waits_for: dict[str, RunObs] | None = None,
                          after_profiles: list | None = None) -> Verdict:
    """One service of ``docker compose up``, both ways. ``None``: the service is not in that
    side's default project (a profile). ``waits_for``: the after-side dependencies it waits on
    with ``condition: service_healthy``."""
    if before is None and after is None:
        return Verdict("expected", ["in neither default project"])
    if after is None:
        where = f" (profiles: {', '.join(map(str, after_profiles))})" if after_profiles else ""
        return Verdict("expected", [f"no longer started by a plain `up`{where}"])
    if before is None:
        return Verdict("expected", ["started only after hardening"])
    if before.state in ("not-started", "missing") and after.state in ("not-started", "missing"):
        return Verdict("not-verified", [f"started neither way: {_cut(before.error or after.error or 'no container')}"])
    reasons: list[str] = []
    if after.state in ("not-started", "missing") and before.state not in ("not-started", "missing"):
        reasons.append(f"not started after hardening: {_cut(after.error or 'no container')}")
    elif before.alive and not after.alive:
        reasons.append(f"running before, {after.describe()} after")
    elif before.state == "exited" and after.state == "exited" and before.exit_code == 0 and after.exit_code != 0:
        reasons.append(f"exited 0 before, {after.exit_code} after")
    if after.health in ("unhealthy", "starting") and before.health not in ("unhealthy", "starting"):
        reasons.append(f"does not turn healthy ({after.health})" + (
            f"; it was {before.health} before" if before.health else ""))
    if after.restarts > before.restarts:
        reasons.append(f"restarted {after.restarts} times after hardening, {before.restarts} before")
    for dep, obs in (waits_for or {}).items():
        if (after.started_at and obs.first_healthy and after.state != "not-started"
                and _ts(after.started_at) < _ts(obs.first_healthy)):
            reasons.append(f"started before {dep} was healthy (service_healthy)")
    for cat, line in new_errors(before.logs, after.logs).items():
        reasons.append(f"new in the logs: {cat}: {_cut(line)}")
    if reasons:
        return Verdict("regression", reasons)
    if before.alive == after.alive and (before.alive or before.exit_code == after.exit_code):
        return Verdict("equivalent")
    if not before.alive and after.alive:
        return Verdict("equivalent", [f"{before.describe()} before, runs after hardening"])
    return Verdict("differs", [f"{before.describe()} before, {after.describe()} after"])


def _ts(value: str) -> float:
    """Docker's RFC 3339 time (nanoseconds) -> seconds since the epoch."""
    import datetime as dt

    value = value.replace("Z", "+00:00")
    if "." in value:
        head, rest = value.split(".", 1)
        frac = "".join(c for c in rest if c.isdigit())
        value = f"{head}.{frac[:6].ljust(6, '0')}{rest[len(frac):]}"
    try:
        return dt.datetime.fromisoformat(value).timestamp()
    except ValueError:
        return 0.0


def _ns_key(stamp: str) -> tuple[float, int]:
    """Sort key of a docker log timestamp, to the nanosecond (2026-01-02T03:04:05.123456789Z)."""
    frac = re.search(r"\.(\d+)", stamp)
    return _ts(re.sub(r"\.\d+", "", stamp)), int((frac.group(1) if frac else "0").ljust(9, "0")[:9])


def created_images(build_output: str) -> list[str]:
    """Image ids the classic builder created in this build (``---> <id>`` after a step that
    ran), not the base images of FROM lines nor layers it took from the cache."""
    out: list[str] = []
    from_step = cached = False
    for line in build_output.splitlines():
        s = line.rstrip()
        if re.match(r"^Step \d+/\d+ : ", s):
            from_step = bool(re.match(r"^Step \d+/\d+ : FROM\s", s, re.I))
            cached = False
            continue
        if s.strip() == "---> Using cache":
            cached = True
            continue
        m = re.match(r"^ ---> ([0-9a-f]{12})$", s)
        if m:
            if not from_step and not cached and m.group(1) not in out:
                out.append(m.group(1))
            cached = False
    return out


def sanitize_model(model: dict, images: dict[str, str]) -> dict:
    """A resolved compose model made safe to run beside the user's own project and a second
    copy of itself: no published ports, no fixed container names, volumes and networks named by
    the project they run in (not by a fixed name that the user's own stack uses), and each
    service in ``images`` runs that image instead of building."""
    m = json.loads(json.dumps(model))
    m.pop("name", None)
    for svc_name, svc in (m.get("services") or {}).items():
        if not isinstance(svc, dict):
            continue
        for key in ("ports", "container_name", "pull_policy"):
            svc.pop(key, None)
        if svc_name in images:
            svc["image"] = images[svc_name]
            svc.pop("build", None)
        if svc.get("entrypoint", 0) is None:
            svc.pop("entrypoint")
        if svc.get("command", 0) is None:
            svc.pop("command")
    for top in ("volumes", "networks"):
        for value in (m.get(top) or {}).values():
            if isinstance(value, dict) and not value.get("external"):
                value.pop("name", None)
    return m


def _differ(a: Path, b: Path) -> bool:
    try:
        return a.read_bytes() != b.read_bytes()
    except OSError:
        return True


def format_size(n: int | None) -> str:
    if n is None:
        return "?"
    return f"{n / 1e6:.0f} MB"


def _user(u: str | None) -> str:
    if u is None:
        return "?"
    return u or "root"


# --------------------------------------------------------------------------------- the engine


class Engine:
    """The docker and compose CLIs, and a record of everything run against them, for the
    clean-up."""

    def __init__(self, say: Callable[[str], None]):
        self.say = say
        self.env = {**os.environ, "DOCKER_BUILDKIT": "0", "COMPOSE_DOCKER_CLI_BUILD": "0",
                    "COMPOSE_INTERACTIVE_NO_CLI": "1"}
        self.docker = shutil.which("docker")
        self.compose: list[str] = []
        self.compose_name = ""
        self.v2 = True
        # what this run made
        self.tags: list[str] = []
        self.created: list[str] = []  # untagged layers our builds made
        self.projects: list[str] = []  # compose project names
        self.containers: list[str] = []  # container names of `docker run`
        self.label = ""
        self.logdir = Path(".")
        self.removed = {"containers": 0, "networks": 0, "volumes": 0, "images": 0}

    def run(self, cmd: list[str], timeout: float = 120, cwd: Path | None = None,
            merge: bool = False) -> subprocess.CompletedProcess:
        try:
            return subprocess.run(cmd, capture_output=not merge, stdout=subprocess.PIPE if merge else None,
                                  stderr=subprocess.STDOUT if merge else None, text=True, errors="replace",
                                  timeout=timeout, env=self.env, cwd=cwd)
        except subprocess.TimeoutExpired as e:
            out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
            return subprocess.CompletedProcess(cmd, 124, out, f"timed out after {timeout:.0f} s")
        except OSError as e:
            return subprocess.CompletedProcess(cmd, 127, "", str(e))

    def check(self) -> None:
        if not self.docker:
            raise VerifyFailed("no docker CLI on PATH: verify needs a Docker engine")
        info = self.run([self.docker, "info", "--format", "{{.ServerVersion}}"], timeout=30)
        if info.returncode != 0:
            why = (info.stderr or info.stdout).strip().splitlines()
            raise VerifyFailed(f"no Docker engine reachable: {why[-1] if why else 'docker info failed'}")
        want = os.environ.get("HARDEN_VERIFY_COMPOSE", "")  # "docker-compose": 1.29 even when v2 is there
        v2 = self.run([self.docker, "compose", "version", "--short"], timeout=30)
        if want != "docker-compose" and v2.returncode == 0 and re.match(r"v?[2-9]", v2.stdout.strip()):
            self.compose, self.compose_name, self.v2 = [self.docker, "compose"], f"docker compose {v2.stdout.strip()}", True
            return
        legacy = shutil.which("docker-compose")
        if legacy:
            v = self.run([legacy, "version", "--short"], timeout=30)
            if v.returncode == 0 and v.stdout.strip():
                major = re.match(r"v?(\d+)", v.stdout.strip())
                self.compose, self.v2 = [legacy], bool(major and int(major.group(1)) >= 2)
                self.compose_name = f"docker-compose {v.stdout.strip()}"
                return
        raise VerifyFailed("neither Compose v2 (`docker compose`) nor docker-compose is installed")

    # ---- images

    def inspect(self, kind: str, ids: list[str]) -> list[dict]:
        if not ids:
            return []
        proc = self.run([self.docker, kind, "inspect", *ids], timeout=60)
        try:
            return json.loads(proc.stdout or "[]")
        except ValueError:
            return []

    def build(self, spec: BuildSpec, tag: str) -> Built:
        cmd = [self.docker, "build", "--force-rm", "-f", str(spec.dockerfile), "-t", tag,
               "--label", f"harden.verify={self.label}"]
        if spec.target:
            cmd += ["--target", spec.target]
        for k, v in (spec.args or {}).items():
            cmd += ["--build-arg", f"{k}={v}" if v is not None else str(k)]
        cmd.append(str(spec.context))
        self.tags.append(tag)
        t0, wall = time.monotonic(), time.time()
        log = self.logdir / f"{tag.replace(':', '-').replace('/', '-')}.log"
        with open(log, "w") as fh:  # a file, not a pipe: what the build made is known even when interrupted
            p = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=self.env)
            try:
                rc = p.wait(timeout=BUILD_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._abort_build(p, log, wall)
                rc = 124
            except BaseException:
                self._abort_build(p, log, wall)
                raise
        took = time.monotonic() - t0
        out = log.read_text(errors="replace")
        for i in created_images(out):
            if i not in self.created:
                self.created.append(i)
        lines = [ln for ln in out.splitlines() if ln.strip()]
        if rc != 0:
            err = next((ln for ln in reversed(lines) if not ln.startswith(("Removing intermediate", " --->"))), "")
            if rc == 124:
                err = f"build timed out after {BUILD_TIMEOUT:.0f} s"
            return Built(False, took, error=_cut(err, 300), missing_image=bool(MISSING_IMAGE.search(out)),
                         output_tail=lines[-25:])
        info = self.inspect("image", [tag])
        if not info:
            return Built(False, took, error=f"built, but {tag} is not there", output_tail=lines[-25:])
        img = info[0]
        return Built(True, took, tag=tag, image_id=img.get("Id"), user=(img.get("Config") or {}).get("User") or "",
                     size=img.get("Size"), compilers=self.compilers(tag), output_tail=lines[-5:])

    def _abort_build(self, p: subprocess.Popen, log: Path, since: float) -> None:
        """Stop a build this run started: the docker CLI goes, but the engine would finish the
        step it is running (and commit it) on its own. Kill that step's container, then adopt
        the untagged layers the build committed that its output did not name."""
        import signal

        try:
            old = signal.signal(signal.SIGINT, signal.SIG_IGN)
        except ValueError:
            old = None
        try:
            if p.poll() is None:
                p.kill()
                p.wait()
            out = log.read_text(errors="replace")
            running = re.findall(r"^ ---> Running in ([0-9a-f]{12})$", out, re.M)
            if running:
                self.run([self.docker, "rm", "-f", running[-1]], timeout=120)
            known = set(created_images(out))
            ids = re.findall(r"^ ---> ([0-9a-f]{12})$", out, re.M)
            parents = known | ({ids[-1]} if ids else set())
            for i in known:
                if i not in self.created:
                    self.created.append(i)
            for _ in range(5):
                time.sleep(1.0)
                dangling = self.run([self.docker, "images", "-q", "--no-trunc", "--filter", "dangling=true"],
                                    timeout=60).stdout.split()
                adopted = False
                for img in self.inspect("image", dangling):
                    iid = (img.get("Id") or "").split(":")[-1][:12]
                    parent = (img.get("Parent") or "").split(":")[-1][:12]
                    if parent in parents and iid not in parents and _ts(img.get("Created") or "") >= since - 2:
                        parents.add(iid)
                        self.created.append(iid)
                        adopted = True
                if not adopted and not running:
                    break
                running = []
        finally:
            if old is not None:
                signal.signal(signal.SIGINT, old)

    def compilers(self, image: str) -> list[str] | None:
        """The C compilers in the image: `command -v` through its shell, or, without one, the
        usual paths read from a created (never started) container."""
        script = "for c in " + " ".join(COMPILERS) + '; do command -v "$c" >/dev/null 2>&1 && echo "$c"; done; true'
        proc = self.run([self.docker, "run", "--rm", "--network", "none", "--user", "0", "--entrypoint", "sh",
                         "--label", f"harden.verify={self.label}", image, "-c", script], timeout=120)
        if proc.returncode == 0:
            return proc.stdout.split()
        create = self.run([self.docker, "create", "--label", f"harden.verify={self.label}",
                           "--entrypoint", "/nonexistent", image], timeout=60)
        if create.returncode != 0:
            return None
        cid = create.stdout.strip()
        try:
            found = []
            for c in COMPILERS:
                for d in COMPILER_DIRS:
                    if self.run([self.docker, "cp", f"{cid}:{d}/{c}", "-"], timeout=60).returncode == 0:
                        found.append(c)
                        break
            return found
        finally:
            self.run([self.docker, "rm", "-f", cid], timeout=60)

    # ---- compose

    def compose_cmd(self, project: str, files: list[Path], *args: str, profiles_all: bool = False) -> list[str]:
        cmd = [*self.compose, "-p", project]
        for f in files:
            cmd += ["-f", str(f)]
        if profiles_all and self.v2:
            cmd += ["--profile", "*"]
        return cmd + list(args)

    def config(self, files: list[Path], project: str, *, all_profiles: bool) -> tuple[dict | None, str]:
        """The resolved model of these files as compose reads them, or (None, why not)."""
        args = ["config", "--format", "json"] if self.v2 else ["config"]
        proc = self.run(self.compose_cmd(project, files, *args, profiles_all=all_profiles), timeout=120,
                        cwd=files[0].parent)
        if proc.returncode != 0:
            return None, (proc.stderr or proc.stdout).strip()
        try:
            if self.v2:
                return json.loads(proc.stdout), ""
            import yaml

            model = yaml.safe_load(proc.stdout)
        except Exception as e:  # noqa: BLE001 - any unreadable output is "compose could not read it"
            return None, f"unreadable compose config output: {e}"
        if not all_profiles and isinstance(model, dict):
            # 1.29 prints every service; `up` starts those of the active profiles only
            active = {p for p in os.environ.get("COMPOSE_PROFILES", "").split(",") if p}
            services = model.get("services") or {}
            for name in [n for n, svc in services.items()
                         if isinstance(svc, dict) and svc.get("profiles") and not active & set(svc["profiles"])]:
                del services[name]
        return model, ""

    def containers_of(self, project: str) -> list[dict]:
        proc = self.run([self.docker, "ps", "-aq", "--no-trunc", "--filter",
                         f"label=com.docker.compose.project={project}"], timeout=60)
        return self.inspect("container", proc.stdout.split())

    def logs(self, container: str, tail: int = 200) -> list[str]:
        """The last lines the container wrote, stdout and stderr in the order written (docker
        prints the two streams separately: sorted by their timestamps), colours removed."""
        proc = self.run([self.docker, "logs", "--timestamps", "--tail", str(tail), container], timeout=60)
        stamped = []
        for stream in (proc.stdout or "", proc.stderr or ""):
            for ln in ANSI.sub("", stream).replace("\r\n", "\n").splitlines():
                ts, sep, rest = ln.partition(" ")
                if sep and re.match(r"\d{4}-\d\d-\d\dT", ts):
                    stamped.append((ts, rest))
                elif stamped:  # a line the daemon did not stamp: keep it after the one before
                    stamped.append((stamped[-1][0], ln))
        stamped.sort(key=lambda x: _ns_key(x[0]))
        lines = [rest.rstrip() for _ts_, rest in stamped if rest.strip()]
        return lines[-tail:]

    # ---- clean-up

    def remove_project(self, project: str) -> tuple[int, int, int]:
        """Containers (with their anonymous volumes), networks and volumes of one compose
        project; what was removed."""
        label = f"label=com.docker.compose.project={project}"
        ids = self.run([self.docker, "ps", "-aq", "--filter", label], timeout=60).stdout.split()
        if ids:
            self.run([self.docker, "rm", "-fv", *ids], timeout=300)
        nets = self.run([self.docker, "network", "ls", "-q", "--filter", label], timeout=60).stdout.split()
        if nets:
            self.run([self.docker, "network", "rm", *nets], timeout=120)
        vols = self.run([self.docker, "volume", "ls", "-q", "--filter", label], timeout=60).stdout.split()
        if vols:
            self.run([self.docker, "volume", "rm", "-f", *vols], timeout=120)
        for k, n in (("containers", len(ids)), ("networks", len(nets)), ("volumes", len(vols))):
            self.removed[k] += n
        return len(ids), len(nets), len(vols)

    def cleanup(self) -> dict[str, int]:
        """Remove everything this run made; how much was removed over the whole run."""
        counts = self.removed
        if not self.docker:
            return counts
        ids = self.run([self.docker, "ps", "-aq", "--filter", f"label=harden.verify={self.label}"],
                       timeout=60).stdout.split() if self.label else []
        if ids:
            self.run([self.docker, "rm", "-fv", *ids], timeout=300)
            counts["containers"] += len(ids)
        for p in self.projects:
            self.remove_project(p)
        tags = [t for t in dict.fromkeys(self.tags) if self.run([self.docker, "image", "inspect", t],
                                                                timeout=60).returncode == 0]
        if tags:
            self.run([self.docker, "rmi", *tags], timeout=300)
            counts["images"] += sum(1 for t in tags if self.run([self.docker, "image", "inspect", t],
                                                               timeout=60).returncode != 0)
        for image_id in reversed(self.created):
            proc = self.run([self.docker, "image", "inspect", "-f", "{{len .RepoTags}}", image_id], timeout=60)
            if proc.returncode == 0 and proc.stdout.strip() == "0":
                if self.run([self.docker, "rmi", image_id], timeout=120).returncode == 0:
                    counts["images"] += 1
        return counts


# --------------------------------------------------------------------------------- verify


@record
class Group:
    """One compose project (the files `docker compose` loads together) on both sides."""

    label: str  # files relative to the project, joined with " + "
    rels: list  # the files, relative to the copy root
    before: dict | None = None  # resolved models (all profiles)
    after: dict | None = None
    before_default: dict | None = None  # the default profile only (what `up` starts)
    after_default: dict | None = None
    error: str | None = None


@record
class Check:
    """One service started alone both ways."""

    name: str  # "service" or "group: service"
    group: str
    service: str
    build: str  # BuildSpec key
    before: RunObs | None = None
    after: RunObs | None = None
    verdict: Verdict | None = None
    user: Any = None  # compose `user:` when the service sets one


class Verifier:
    def __init__(self, path: Path, *, opts=None, config=None, hardened: Path | None = None, stack: bool = False,
                 wait: float = 20.0, err=None):
        self.path = Path(path)
        self.opts = opts
        self.config_path = config
        self.hardened = hardened
        self.stack = stack
        self.wait = wait
        self.err = err or sys.stderr
        self.engine = Engine(self.say)
        self.tmp: Path | None = None
        self.notes: list[str] = []
        self.problems: list[str] = []  # why something could not be verified (exit 2)
        self.changed_files: list[str] = []
        self.harden_failed: list[str] = []
        self.groups: list[Group] = []
        self.builds: dict[str, dict] = {}  # key -> {"spec_before", "spec_after", "before": Built, "after": Built, "changed"}
        self.checks: list[Check] = []
        self.stack_result: dict | None = None
        self.cleaned: dict[str, int] | None = None
        self.started = time.monotonic()

    # ---- output

    def say(self, msg: str) -> None:
        self.err.write(f"verify: {msg}\n")
        self.err.flush()

    # ---- the run

    def run(self) -> dict:
        import secrets
        import signal
        import tempfile

        self.engine.check()
        self.engine.label = secrets.token_hex(4)
        self.prefix = f"harden-verify-{self.engine.label}"
        previous = signal.getsignal(signal.SIGTERM)

        def _term(signum, frame):
            raise KeyboardInterrupt

        try:
            signal.signal(signal.SIGTERM, _term)
        except ValueError:  # not the main thread
            previous = None
        try:
            self.tmp = Path(tempfile.mkdtemp(prefix=f"{self.prefix}-"))
            self.engine.logdir = self.tmp / "logs"
            self.engine.logdir.mkdir()
            self._copy()
            if self._harden():
                self._read_groups()
                self._build_all()
                self._run_services()
                if self.stack:
                    self._run_stack()
        finally:
            # the clean-up runs to its end: a second Ctrl-C (or a SIGTERM) must not cut it short
            try:
                old_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
            except ValueError:
                old_int = None
            try:
                self._cleanup()
            finally:
                if old_int is not None:
                    signal.signal(signal.SIGINT, old_int)
                if previous is not None:
                    signal.signal(signal.SIGTERM, previous)
        return self.report()

    def _cleanup(self) -> None:
        self.say("cleaning up: containers, networks, volumes and images of this run, and the temporary folder")
        counts = self.engine.cleanup()
        left = self._leftovers()
        if left:  # something an interrupted call was still making: once more
            time.sleep(2.0)
            counts = self.engine.cleanup()
            left = self._leftovers()
        self.cleaned = counts
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            if self.tmp.exists():
                left.append(f"folder {self.tmp} (files a container wrote as another user)")
        self.say(f"removed {counts['containers']} containers, {counts['networks']} networks, "
                 f"{counts['volumes']} volumes, {counts['images']} images"
                 + (f"; left behind: {', '.join(left)}" if left else ""))

    def _leftovers(self) -> list[str]:
        e = self.engine
        if not e.docker or not e.label:
            return []
        left = []
        for p in e.projects:
            label = f"label=com.docker.compose.project={p}"
            for kind, cmd in (("containers", ["ps", "-aq"]), ("networks", ["network", "ls", "-q"]),
                              ("volumes", ["volume", "ls", "-q"])):
                ids = e.run([e.docker, *cmd, "--filter", label], timeout=60).stdout.split()
                if ids:
                    left.append(f"{len(ids)} {kind} of {p}")
        imgs = e.run([e.docker, "images", "-q", "--filter", f"reference={self.prefix}-*"], timeout=60).stdout.split()
        if imgs:
            left.append(f"{len(imgs)} images {self.prefix}-*")
        return left

    # ---- 1. copies and harden

    def _copy(self) -> None:
        src = self.path.resolve()
        self.root = src if src.is_dir() else src.parent
        self.name = self.root.name or "project"
        self.before_root = self.tmp / "before" / self.name
        self.after_root = self.tmp / "after" / self.name
        ignore = shutil.ignore_patterns(*COPY_SKIP)
        self.say(f"copying {self.path} twice into {self.tmp} (before/, after/); your files are only read")
        shutil.copytree(self.root, self.before_root, symlinks=True, ignore=ignore)
        if self.hardened is not None:
            shutil.copytree(Path(self.hardened).resolve(), self.after_root, symlinks=True, ignore=ignore)
        else:
            shutil.copytree(self.root, self.after_root, symlinks=True, ignore=ignore)
        self.target_rel = "." if src.is_dir() else src.name

    def _harden(self) -> bool:
        """harden on the after copy (unless --hardened gave it); False when nothing changed."""
        if self.hardened is not None:
            self.changed_files = sorted(self._differing_files())
            n = len(self.changed_files)
            self.say(f"comparing with {self.hardened}: {n} file{'s' if n != 1 else ''} differ{'s' if n == 1 else ''}"
                     + (f" ({', '.join(self.changed_files[:6])}{', ...' if len(self.changed_files) > 6 else ''})"
                        if self.changed_files else ""))
            return bool(self.changed_files)
        from .engine import run as harden_run
        from .errors import HardenError
        from .io import write_all_atomic

        target = self.after_root / self.target_rel if self.target_rel != "." else self.after_root
        self.say(f"harden apply on the after copy ({self.target_rel if self.target_rel != '.' else self.name})")
        try:
            result = harden_run(target, self.opts)
        except HardenError as e:
            raise VerifyFailed(f"harden cannot read the project: {e.one_line()}") from None
        if result.errors:
            raise VerifyFailed(f"harden cannot read the project: {result.errors[-1].one_line()}")
        write_all_atomic([(f.path, f.after, f.rel) for f in result.changed_files])
        self.changed_files = sorted(Path(f.path).resolve().relative_to(self.after_root.resolve()).as_posix()
                                    for f in result.changed_files)
        self.harden_failed = sorted({f"{o.transform} ({o.file})" for o in result.outcomes if o.status == "failed"})
        if self.harden_failed:
            self.notes.append(f"harden failed on: {', '.join(self.harden_failed)} (their edits were not applied)")
        self.say(f"harden changed {len(self.changed_files)} file{'s' if len(self.changed_files) != 1 else ''}"
                 + (f": {', '.join(self.changed_files)}" if self.changed_files else ": nothing to verify"))
        return bool(self.changed_files)

    def _differing_files(self) -> list[str]:
        out = []
        for side, other in ((self.before_root, self.after_root), (self.after_root, self.before_root)):
            for dirpath, dirnames, filenames in os.walk(side):
                dirnames[:] = [d for d in dirnames if d not in COPY_SKIP and d != "node_modules"]
                for fn in filenames:
                    p = Path(dirpath) / fn
                    rel = p.relative_to(side).as_posix()
                    q = other / rel
                    if rel in out:
                        continue
                    try:
                        if not q.exists() or p.read_bytes() != q.read_bytes():
                            out.append(rel)
                    except OSError:
                        out.append(rel)
        return out

    # ---- 2. compose projects

    def _read_groups(self) -> None:
        from .project import discover

        target = self.after_root / self.target_rel if self.target_rel != "." else self.after_root
        d = discover(target)
        self.discovery_dockerfiles = [Path(p) for p in d.dockerfiles]
        for g in d.groups:
            alone = [Path(f) for f in g.files]
            with_partners = [Path(f) for f in g.partners] + alone
            candidates = [alone, with_partners] if g.partners else [alone]
            for files in candidates:
                rels = [f.resolve().relative_to(self.after_root.resolve()).as_posix() for f in files]
                group = self._read_group(rels)
                if group.error is None or files is candidates[-1]:
                    self.groups.append(group)
                    break
        readable = [g for g in self.groups if g.error is None]
        self.say(f"compose read {len(readable)} of {len(self.groups)} compose projects with {self.engine.compose_name}"
                 + "".join(f"; {g.label}: {g.error.replace('REGRESSION ', '')}" for g in self.groups if g.error))
        for g in self.groups:
            if g.error and not g.error.startswith("REGRESSION "):
                self.notes.append(f"{g.label}: {g.error}; the Dockerfiles it builds are built from their own folder "
                                  "and started with their own CMD")

    def _read_group(self, rels: list[str]) -> Group:
        group = Group(" + ".join(rels), rels)
        stubs: list[str] = []
        for _attempt in range(8):
            models = {}
            err = ""
            for side, root in (("before", self.before_root), ("after", self.after_root)):
                files = [root / r for r in rels]
                for all_profiles in (True, False):
                    m, err = self.engine.config(files, f"{self.prefix}-cfg", all_profiles=all_profiles)
                    if m is None:
                        break
                    models[(side, all_profiles)] = m
                if err:
                    break
            if not err:
                group.before, group.before_default = models[("before", True)], models[("before", False)]
                group.after, group.after_default = models[("after", True)], models[("after", False)]
                if stubs:
                    self.notes.append(f"{group.label}: env_file {', '.join(sorted(set(stubs)))} is not in the project "
                                      "(not committed): verify used an empty one on both sides")
                return group
            missing = re.search(r"env file (\S+) not found|Couldn't find env file: (\S+)", err)
            if missing:
                p = Path(missing.group(1) or missing.group(2))
                fixed = False
                for root in (self.before_root, self.after_root):
                    try:
                        rel = p.resolve().relative_to(root.resolve())
                    except ValueError:
                        continue
                    for r in (self.before_root, self.after_root):
                        (r / rel).parent.mkdir(parents=True, exist_ok=True)
                        if not (r / rel).exists():
                            (r / rel).write_text("")
                    stubs.append(rel.as_posix())
                    fixed = True
                if fixed:
                    continue
            side = "the hardened copy" if ("before", True) in models else "the original"
            group.error = f"compose cannot read {side}: {_cut(err.splitlines()[-1] if err else 'unknown error', 240)}"
            if side == "the hardened copy":
                group.error = "REGRESSION " + group.error
            return group
        group.error = "compose cannot read it: too many missing env files"
        return group

    # ---- 3. builds

    def _spec(self, root: Path, model: dict, service: str, group: Group) -> BuildSpec | str:
        svc = (model.get("services") or {}).get(service) or {}
        b = svc.get("build")
        if b is None:
            return "no build"
        if isinstance(b, str):
            b = {"context": b}
        ctx = str(b.get("context") or ".")
        if "://" in ctx or ctx.startswith("git@"):
            return f"remote build context {ctx}"
        if b.get("dockerfile_inline"):
            return "dockerfile_inline"
        context = Path(ctx)
        if not context.is_absolute():
            context = (root / group.rels[0]).parent / context
        df = Path(b.get("dockerfile") or "Dockerfile")
        dockerfile = df if df.is_absolute() else context / df
        try:
            rel_df = dockerfile.resolve().relative_to(root.resolve()).as_posix()
            context.resolve().relative_to(root.resolve())
        except ValueError:
            return f"build context {ctx} is outside {self.name}"
        args = b.get("args") or {}
        if isinstance(args, list):
            args = dict(a.split("=", 1) if "=" in a else (a, None) for a in args)
        key = rel_df + (f" (target {b['target']})" if b.get("target") else "")
        return BuildSpec(key, context, dockerfile, b.get("target"), dict(args))

    def _rel_spec(self, spec: BuildSpec, root: Path) -> tuple:
        return (spec.context.resolve().relative_to(root.resolve()).as_posix(),
                spec.dockerfile.resolve().relative_to(root.resolve()).as_posix(),
                spec.target, tuple(sorted((str(k), str(v)) for k, v in spec.args.items())))

    def _build_all(self) -> None:
        """Decide which images differ and build those, before then after (the after build reuses
        the before build's cached layers)."""
        self.service_builds: dict[tuple[str, str], str] = {}  # (group label, service) -> build key
        self.unchanged_builds: dict[tuple[str, str], BuildSpec] = {}
        self.standalone: list[str] = []
        covered: set[Path] = set()
        for g in self.groups:
            if g.error is not None or g.after is None:
                continue
            for service in (g.after.get("services") or {}):
                sa = self._spec(self.after_root, g.after, service, g)
                if sa == "no build":
                    continue
                if isinstance(sa, str):
                    self.notes.append(f"{g.label}: {service}: not built ({sa})")
                    continue
                covered.add(sa.dockerfile.resolve())
                sb = self._spec(self.before_root, g.before or {}, service, g)
                if isinstance(sb, str):
                    self.notes.append(f"{g.label}: {service}: builds only after hardening; not compared")
                    continue
                changed = (self.hardened is not None or _differ(sa.dockerfile, sb.dockerfile)
                           or self._rel_spec(sa, self.after_root) != self._rel_spec(sb, self.before_root))
                if not changed:
                    self.unchanged_builds[(g.label, service)] = sb
                    continue
                key = sa.key
                n = 2
                while key in self.builds and self._rel_spec(self.builds[key]["after_spec"], self.after_root) != \
                        self._rel_spec(sa, self.after_root):
                    key = f"{sa.key} #{n}"
                    n += 1
                entry = self.builds.setdefault(key, {"before_spec": sb, "after_spec": sa, "services": []})
                entry["services"].append(f"{g.label}: {service}" if len(self.groups) > 1 else service)
                self.service_builds[(g.label, service)] = key
        # Dockerfiles harden changed that no compose service builds: built from their own folder
        for df in self.discovery_dockerfiles:
            p = Path(df).resolve()
            if p in covered:
                continue
            rel = p.relative_to(self.after_root.resolve()).as_posix()
            if rel not in self.changed_files:
                continue
            before_df = self.before_root / rel
            if not before_df.exists():
                continue
            sb = BuildSpec(rel, before_df.parent, before_df)
            sa = BuildSpec(rel, p.parent, p)
            self.builds[rel] = {"before_spec": sb, "after_spec": sa, "services": [], "standalone": True}
            self.standalone.append(rel)
        if not self.builds:
            self.say("no image to build: harden changed no Dockerfile that is built here"
                     + ("" if self.stack else " (compose-only changes: --stack brings the project up both ways)"))
            return
        for n, (key, entry) in enumerate(self.builds.items()):
            for side in ("before", "after"):
                spec = entry[f"{side}_spec"]
                tag = f"{self.prefix}-{n}:{side}"
                self.say(f"building {key} {side} hardening"
                         + (f" (for {', '.join(entry['services'])})" if entry["services"] else " (no compose service)")
                         + " ...")
                built = self.engine.build(spec, tag)
                entry[side] = built
                if built.ok:
                    self.say(f"  built in {built.seconds:.1f} s: user {_user(built.user)}, {format_size(built.size)}, "
                             f"compiler: {', '.join(built.compilers) if built.compilers else ('none' if built.compilers == [] else '?')}")
                else:
                    self.say(f"  failed after {built.seconds:.1f} s: {built.error}")
                if side == "before" and not built.ok:
                    why = "its base image is not available here" if built.missing_image else "the original does not build"
                    self.problems.append(f"{key}: {why}: {built.error}")
                    entry["after"] = None
                    break
                if side == "after" and not built.ok and built.missing_image:
                    self.problems.append(f"{key}: the hardened build needs an image that is not available here: "
                                         f"{built.error}")

    # ---- 4. services alone

    def _run_services(self) -> None:
        checks: list[Check] = []
        runs: list[tuple[Check, str, str]] = []  # (check, side, container name)
        seen: dict[str, Check] = {}
        for g in self.groups:
            for (label, service), key in self.service_builds.items():
                if label != g.label:
                    continue
                entry = self.builds[key]
                b, a = entry.get("before"), entry.get("after")
                name = f"{label}: {service}" if len(self.groups) > 1 else service
                svc_after = (g.after.get("services") or {}).get(service) or {}
                # the same image started the same way in several compose projects: once is enough
                same = json.dumps([key, {k: v for k, v in svc_after.items()
                                         if k not in ("networks", "depends_on", "profiles", "ports", "labels",
                                                      "container_name", "build", "image", "restart")}],
                                  sort_keys=True, default=str)
                if same in seen:
                    continue
                check = Check(name, label, service, key, user=svc_after.get("user"))
                seen[same] = check
                checks.append(check)
                if not (b and b.ok):
                    check.verdict = Verdict("not-verified", ["the original image was not built"])
                    continue
                if not (a and a.ok):
                    if a is not None and not a.missing_image:
                        check.verdict = Verdict("regression", [f"the hardened image does not build: {a.error}"])
                    else:
                        check.verdict = Verdict("not-verified", ["the hardened image could not be built here"])
                    continue
                for side, built in (("before", b), ("after", a)):
                    model = g.before if side == "before" else g.after
                    project = f"{self.prefix}-{self.groups.index(g)}-{side}"
                    if project not in self.engine.projects:
                        self.engine.projects.append(project)
                    runs.append((check, side, self._start_service(g, model, side, project, service, built.tag,
                                                                  len(checks), check)))
        for rel in self.standalone:
            entry = self.builds[rel]
            b, a = entry.get("before"), entry.get("after")
            check = Check(rel, "", "", rel)
            checks.append(check)
            if not (b and b.ok):
                check.verdict = Verdict("not-verified", ["the original image was not built"])
                continue
            if not (a and a.ok):
                check.verdict = (Verdict("regression", [f"the hardened image does not build: {a.error}"])
                                 if a is not None and not a.missing_image else
                                 Verdict("not-verified", ["the hardened image could not be built here"]))
                continue
            for side, built in (("before", b), ("after", a)):
                cname = f"{self.prefix}-{len(checks)}-{side}"
                proc = self.engine.run([self.engine.docker, "run", "-d", "--name", cname,
                                        "--label", f"harden.verify={self.engine.label}", built.tag], timeout=120)
                obs = None if proc.returncode == 0 else RunObs(
                    "not-started", error=_cut((proc.stderr or proc.stdout).strip().splitlines()[-1]
                                              if (proc.stderr or proc.stdout).strip() else "docker run failed", 300))
                setattr(check, side, obs)
                runs.append((check, side, cname))
        self.checks = checks
        todo = [r for r in runs if getattr(r[0], r[1]) is None]
        if todo:
            n = len({id(c) for c, _s, _n in todo})
            self.say(f"started {n} service{'s' if n != 1 else ''} both ways (alone, with the start command compose "
                     f"gives {'them' if n != 1 else 'it'}; no published ports); watching for {self.wait:.0f} s ...")
            self._watch([n for _c, _s, n in todo], self.wait)
            for check, side, cname in todo:
                setattr(check, side, self._observe(cname))
        for check in checks:
            if check.verdict is None:
                check.verdict = compare_run(check.before, check.after)
                if check.verdict.status == "not-verified":  # (a build that failed is listed already)
                    self.problems.append(f"{check.name}: {'; '.join(check.verdict.reasons)}")
        if checks:
            counts: dict[str, int] = {}
            for c in checks:
                counts[c.verdict.status] = counts.get(c.verdict.status, 0) + 1
            self.say("services: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())))
        # free the engine before the stack comes up
        for p in list(self.engine.projects):
            self.engine.remove_project(p)
        ids = self.engine.run([self.engine.docker, "ps", "-aq", "--filter", f"label=harden.verify={self.engine.label}"],
                              timeout=60).stdout.split()
        if ids:
            self.engine.run([self.engine.docker, "rm", "-fv", *ids], timeout=300)
            self.engine.removed["containers"] += len(ids)

    def _model_file(self, model: dict, images: dict[str, str], name: str) -> Path:
        path = self.tmp / "models" / f"{name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(sanitize_model(model, images), indent=1))
        return path

    def _start_service(self, g: Group, model: dict, side: str, project: str, service: str, tag: str,
                       n: int, check: Check) -> str:
        cname = f"{self.prefix}-{n}-{side}"
        mfile = self._model_file(model, {service: tag}, f"{project}-{service}")
        proc = self.engine.run(self.engine.compose_cmd(project, [mfile], "run", "-d", "--no-deps", "--name", cname,
                                                       service), timeout=300, cwd=mfile.parent)
        if proc.returncode != 0:
            text = (proc.stderr or proc.stdout or "").strip().splitlines()
            setattr(check, side, RunObs("not-started", error=_cut(text[-1] if text else f"exit {proc.returncode}", 300)))
        return cname

    def _watch(self, names: list[str], seconds: float) -> None:
        """Wait ``seconds``, or less once every container has stopped."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
            info = self.engine.inspect("container", names)
            if info and len(info) == len(names) and all(not (i.get("State") or {}).get("Running") for i in info):
                break

    def _observe(self, container: str, tail: int = 200) -> RunObs:
        info = self.engine.inspect("container", [container])
        if not info:
            return RunObs("missing", error="the container is gone")
        return self._obs_of(info[0], tail)

    def _obs_of(self, c: dict, tail: int = 200) -> RunObs:
        st = c.get("State") or {}
        health = st.get("Health") or None
        first_ok = None
        if health:
            # docker keeps the last 5 probes: the first passing one is when it turned healthy only
            # when the log still holds the whole history or a failing probe before it
            log = health.get("Log") or []
            for k, entry in enumerate(log):
                if entry.get("ExitCode") == 0:
                    if len(log) < 5 or k > 0:
                        first_ok = entry.get("End")
                    break
        state = st.get("Status") or "unknown"
        return RunObs(state, exit_code=st.get("ExitCode") if state in ("exited", "dead") else None,
                      health=health.get("Status") if health else None, restarts=int(c.get("RestartCount") or 0),
                      started_at=st.get("StartedAt"), first_healthy=first_ok,
                      logs=self.engine.logs(c.get("Id") or c.get("Name", "").lstrip("/"), tail),
                      error=st.get("Error") or None, oom=bool(st.get("OOMKilled")))

    # ---- 5. the stack

    def _stack_group(self) -> Group | None:
        from .project import COMPOSE_BASES

        ok = [g for g in self.groups if g.error is None and g.after_default is not None]
        for g in ok:
            first = g.rels[0]
            if "/" not in first and Path(first).name in COMPOSE_BASES:
                return g
        return ok[0] if ok else None

    def _run_stack(self) -> None:
        g = self._stack_group()
        if g is None:
            self.problems.append("--stack: no compose project that compose can read")
            return
        images: dict[str, dict[str, str]] = {"before": {}, "after": {}}
        for side in ("before", "after"):
            model = g.before_default if side == "before" else g.after_default
            for service in (model.get("services") or {}):
                key = self.service_builds.get((g.label, service))
                if key is not None:
                    built = self.builds[key].get(side)
                    if not (built and built.ok):
                        self.problems.append(f"--stack: {service} has no {side} image")
                        return
                    images[side][service] = built.tag
        # services that build an unchanged Dockerfile: built once, the same image both ways
        same: dict[tuple, str] = {}
        for (label, service), spec in self.unchanged_builds.items():
            if label != g.label:
                continue
            if service not in (g.before_default.get("services") or {}) and \
                    service not in (g.after_default.get("services") or {}):
                continue
            rk = self._rel_spec(spec, self.before_root)
            if rk not in same:
                tag = f"{self.prefix}-same{len(same)}:same"
                self.say(f"building {spec.key} (unchanged by harden; for {service}) ...")
                built = self.engine.build(spec, tag)
                if not built.ok:
                    self.problems.append(f"--stack: {service}: {spec.key} does not build as written: {built.error}")
                    return
                same[rk] = tag
            images["before"][service] = images["after"][service] = same[rk]
        projects = {side: f"{self.prefix}-stack-{side}" for side in ("before", "after")}
        files = {}
        for side in ("before", "after"):
            self.engine.projects.append(projects[side])
            model = g.before_default if side == "before" else g.after_default
            files[side] = self._model_file(model, images[side], projects[side])
        self.say(f"--stack: `up` of {g.label} before and after hardening (project names {projects['before']}, "
                 f"{projects['after']}; no published ports) ...")
        up_args = ["up", "-d", "--no-build"] + (["--pull", "never"] if self.engine.v2 else [])
        procs = {side: subprocess.Popen(self.engine.compose_cmd(projects[side], [files[side]], *up_args),
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
                                        env=self.engine.env, cwd=files[side].parent)
                 for side in ("before", "after")}
        up: dict[str, dict] = {}
        t0 = time.monotonic()
        try:
            for side, p in procs.items():
                try:
                    out, _ = p.communicate(timeout=max(1.0, UP_TIMEOUT - (time.monotonic() - t0)))
                except subprocess.TimeoutExpired:
                    p.kill()
                    out, _ = p.communicate()
                    out = (out or "") + f"\n`up` timed out after {UP_TIMEOUT:.0f} s"
                lines = [ln for ln in (out or "").splitlines() if ln.strip()]
                up[side] = {"ok": p.returncode == 0, "exit_code": p.returncode, "output": lines[-8:]}
        finally:
            for p in procs.values():
                if p.poll() is None:
                    p.kill()
                    p.wait()
        self.say(f"  up: before {'ok' if up['before']['ok'] else 'failed'}, after {'ok' if up['after']['ok'] else 'failed'}"
                 f" ({time.monotonic() - t0:.0f} s); watching for {self.wait:.0f} s ...")
        self._watch_stack(list(projects.values()))
        obs: dict[str, dict[str, RunObs]] = {}
        for side, project in projects.items():
            obs[side] = {}
            for c in self.engine.containers_of(project):
                svc = ((c.get("Config") or {}).get("Labels") or {}).get("com.docker.compose.service")
                if svc and svc not in obs[side]:
                    obs[side][svc] = self._obs_of(c)
        services: list[dict] = []
        names = list(dict.fromkeys([*(g.before_default.get("services") or {}), *(g.after_default.get("services") or {})]))
        after_all = g.after.get("services") or {}
        for name in names:
            in_b = name in (g.before_default.get("services") or {})
            in_a = name in (g.after_default.get("services") or {})
            b = obs["before"].get(name) or (RunObs("missing", error=_up_error(up["before"])) if in_b else None)
            a = obs["after"].get(name) or (RunObs("missing", error=_up_error(up["after"])) if in_a else None)
            waits = {}
            deps = ((g.after_default.get("services") or {}).get(name) or {}).get("depends_on") or {}
            if isinstance(deps, dict):
                for dep, cond in deps.items():
                    if isinstance(cond, dict) and cond.get("condition") == "service_healthy" and dep in obs["after"]:
                        waits[dep] = obs["after"][dep]
            verdict = compare_stack_service(name, b, a, waits_for=waits,
                                            after_profiles=(after_all.get(name) or {}).get("profiles"))
            services.append({"service": name, "before": b, "after": a, "verdict": verdict,
                             "waits_for": sorted(waits)})
        if not up["before"]["ok"] and not any(s["before"] and s["before"].state not in ("missing", "not-started")
                                              for s in services):
            self.problems.append(f"--stack: the original does not come up: {_up_error(up['before'])}")
        for s in services:
            if s["verdict"].status == "not-verified":
                self.problems.append(f"--stack: {s['service']}: {'; '.join(s['verdict'].reasons)}")
        self.stack_result = {"project": g.label, "up": up, "services": services}
        counts: dict[str, int] = {}
        for s in services:
            counts[s["verdict"].status] = counts.get(s["verdict"].status, 0) + 1
        self.say("stack: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())))
        for p in projects.values():
            self.engine.remove_project(p)

    def _watch_stack(self, projects: list[str]) -> None:
        """--wait seconds; longer (up to HEALTH_GRACE more) while a health check is still starting."""
        t0 = time.monotonic()
        while True:
            time.sleep(1.0)
            elapsed = time.monotonic() - t0
            if elapsed < self.wait:
                continue
            starting = False
            for p in projects:
                for c in self.engine.containers_of(p):
                    h = ((c.get("State") or {}).get("Health") or {}).get("Status")
                    if h == "starting" and (c.get("State") or {}).get("Running"):
                        starting = True
            if not starting or elapsed > self.wait + HEALTH_GRACE:
                return

    # ---- the report

    def exit_code(self) -> int:
        if self.regressions():
            return EXIT_REGRESSION
        if self.problems:
            return EXIT_ERROR
        return EXIT_OK

    def regressions(self) -> list[str]:
        out = [f"{c.name}: {'; '.join(c.verdict.reasons)}" for c in self.checks
               if c.verdict and c.verdict.status == "regression"]
        for g in self.groups:
            if g.error and g.error.startswith("REGRESSION "):
                out.append(f"{g.label}: {g.error[len('REGRESSION '):]}")
        if self.stack_result:
            out += [f"stack {s['service']}: {'; '.join(s['verdict'].reasons)}" for s in self.stack_result["services"]
                    if s["verdict"].status == "regression"]
            if self.stack_result["up"]["before"]["ok"] and not self.stack_result["up"]["after"]["ok"]:
                out.append(f"stack: `up` fails after hardening: {_up_error(self.stack_result['up']['after'])}")
        return out

    def report(self) -> dict:
        def built(b: Built | None) -> dict | None:
            if b is None:
                return None
            return {"ok": b.ok, "seconds": round(b.seconds, 1), "user": b.user if b.ok else None,
                    "user_display": _user(b.user) if b.ok else None, "size": b.size, "compilers": b.compilers,
                    "error": b.error, "missing_image": b.missing_image,
                    "output_tail": b.output_tail if not b.ok else []}

        def obs(o: RunObs | None) -> dict | None:
            if o is None:
                return None
            return {"state": o.state, "exit_code": o.exit_code, "health": o.health, "restarts": o.restarts,
                    "started_at": o.started_at, "error": o.error, "oom": o.oom, "describe": o.describe(),
                    "logs": o.logs[-LOG_TAIL_JSON:]}

        code = self.exit_code()
        rep: dict[str, Any] = {
            "version": JSON_VERSION,
            "path": str(self.path),
            "compose": self.engine.compose_name,
            "hardened": str(self.hardened) if self.hardened else None,
            "changed_files": self.changed_files,
            "harden_failed": self.harden_failed,
            "wait_seconds": self.wait,
            "compose_projects": [{"files": g.rels, "error": g.error.replace("REGRESSION ", "") if g.error else None}
                                 for g in self.groups],
            "images": [{"dockerfile": key, "services": e["services"], "standalone": bool(e.get("standalone")),
                        "target": e["after_spec"].target, "args": e["after_spec"].args,
                        "before": built(e.get("before")), "after": built(e.get("after"))}
                       for key, e in self.builds.items()],
            "services": [{"name": c.name, "compose_project": c.group or None, "service": c.service or None,
                          "image": c.build, "compose_user": c.user, "before": obs(c.before), "after": obs(c.after),
                          "verdict": c.verdict.status if c.verdict else None,
                          "reasons": c.verdict.reasons if c.verdict else []} for c in self.checks],
            "stack": None,
            "regressions": self.regressions(),
            "not_verified": self.problems,
            "notes": self.notes,
            "cleanup": self.cleaned,
            "result": {EXIT_OK: "equivalent", EXIT_REGRESSION: "regression", EXIT_ERROR: "incomplete"}[code],
            "exit_code": code,
            "seconds": round(time.monotonic() - self.started, 1),
        }
        if self.stack_result:
            rep["stack"] = {"compose_project": self.stack_result["project"],
                            "up": self.stack_result["up"],
                            "services": [{"service": s["service"], "before": obs(s["before"]), "after": obs(s["after"]),
                                          "waits_for": s["waits_for"], "verdict": s["verdict"].status,
                                          "reasons": s["verdict"].reasons} for s in self.stack_result["services"]]}
        return rep


def _up_error(up: dict) -> str:
    lines = up.get("output") or []
    bad = [ln for ln in lines if re.search(r"error|fail|unhealthy|not found|denied", ln, re.I)]
    return _cut((bad or lines or ["no container"])[-1], 300)


# --------------------------------------------------------------------------------- rendering


def text_report(rep: dict) -> str:
    out: list[str] = []
    w = out.append
    w(f"harden verify {rep['path']}" + (f" (against {rep['hardened']})" if rep.get("hardened") else ""))
    w(f"  {rep['compose']}, classic builder; "
      + (f"changed: {', '.join(rep['changed_files'])}" if rep["changed_files"] else "harden changes nothing here"))
    for p in rep["compose_projects"]:
        if p["error"]:
            w(f"  compose project {' + '.join(p['files'])}: {p['error']}")
    if rep["images"]:
        w("")
        w("Images, built before and after hardening")
        for img in rep["images"]:
            users = f" -> {', '.join(img['services'])}" if img["services"] else " (no compose service builds it)"
            w(f"  {img['dockerfile']}{users}")
            b, a = img["before"], img["after"]
            rows = [("build", _build_cell(b), _build_cell(a))]
            if b and b["ok"] or a and a["ok"]:
                rows += [("user", _cell(b, "user_display"), _cell(a, "user_display")),
                         ("size", format_size(b["size"]) if b and b["ok"] else "-",
                          format_size(a["size"]) if a and a["ok"] else "-"),
                         ("compiler", _compilers(b), _compilers(a))]
            w(f"    {'':10}{'before':28}after")
            for label, x, y in rows:
                w(f"    {label:10}{x:28}{y}")
            for side, x in (("before", b), ("after", a)):
                if x and not x["ok"] and x["output_tail"]:
                    w(f"    {side} build output (last lines):")
                    out.extend(f"      | {ln}" for ln in x["output_tail"][-8:])
    if rep["services"]:
        w("")
        w(f"Services, each started alone for up to {rep['wait_seconds']:.0f} s with its compose start command "
          "(no published ports)")
        width = max(len(s["name"]) for s in rep["services"])
        for s in rep["services"]:
            b = s["before"]["describe"] if s["before"] else "-"
            a = s["after"]["describe"] if s["after"] else "-"
            w(f"  {s['name']:{width}}  {s['verdict'] or '?':12} before: {b:22} after: {a}")
            if s.get("compose_user") is not None:
                w(f"  {'':{width}}    (compose runs it as user {s['compose_user']})")
            for r in s["reasons"]:
                w(f"  {'':{width}}    - {r}")
            _log_tails(out, s, width)
    if rep["stack"]:
        st = rep["stack"]
        w("")
        w(f"Stack: `up` of {st['compose_project']} both ways (own project names, no published ports)")
        for side in ("before", "after"):
            u = st["up"][side]
            if not u["ok"]:
                w(f"  up {side}: failed (exit {u['exit_code']}): {_up_error(u)}")
        width = max([len(s["service"]) for s in st["services"]] or [1])
        for s in st["services"]:
            b = s["before"]["describe"] if s["before"] else "not in the default project"
            a = s["after"]["describe"] if s["after"] else "not in the default project"
            extra = f" (waits for {', '.join(s['waits_for'])} healthy)" if s["waits_for"] else ""
            w(f"  {s['service']:{width}}  {s['verdict']:12} before: {b:22} after: {a}{extra}")
            for r in s["reasons"]:
                w(f"  {'':{width}}    - {r}")
            if s["verdict"] in ("regression", "differs"):
                _log_tails(out, s, width)
    if rep["notes"]:
        w("")
        w("Notes")
        out.extend(f"  - {n}" for n in rep["notes"])
    w("")
    regs, nv = rep["regressions"], rep["not_verified"]
    if regs:
        w(f"Result: REGRESSION ({len(regs)}):")
        out.extend(f"  - {r}" for r in regs)
    elif nv:
        w(f"Result: could not verify everything ({len(nv)}):")
        out.extend(f"  - {r}" for r in nv)
    elif not rep["changed_files"]:
        w("Result: nothing to verify (harden changes nothing here).")
    else:
        n = len(rep["services"]) + (len(rep["stack"]["services"]) if rep["stack"] else 0)
        w(f"Result: no regression ({n} check{'s' if n != 1 else ''})." + ("" if rep["services"] or rep["stack"] else
                                                      " No image changed; --stack brings the project up both ways."))
    w(f"Exit {rep['exit_code']} ({rep['seconds']:.0f} s).")
    return "\n".join(out) + "\n"


def _trim(line: str, n: int) -> str:
    line = line.rstrip().expandtabs(4)
    return line if len(line) <= n else line[: n - 3] + "..."


def _build_cell(b: dict | None) -> str:
    if b is None:
        return "-"
    return f"ok ({b['seconds']:.1f} s)" if b["ok"] else "FAILED"


def _cell(b: dict | None, key: str) -> str:
    return str(b[key]) if b and b["ok"] and b.get(key) is not None else "-"


def _compilers(b: dict | None) -> str:
    if not b or not b["ok"]:
        return "-"
    if b["compilers"] is None:
        return "?"
    return ", ".join(b["compilers"]) or "none"


def _log_tails(out: list[str], s: dict, width: int) -> None:
    for side in ("before", "after"):
        o = s[side]
        if not o:
            continue
        lines = o["logs"][-LOG_TAIL_TEXT:]
        if o.get("error") and o["state"] in ("not-started", "missing"):
            lines = lines + [o["error"]]
        if not lines:
            out.append(f"  {'':{width}}    {side} log: (empty)")
            continue
        out.append(f"  {'':{width}}    {side} log:")
        out.extend(f"  {'':{width}}      | {_trim(ln, 200)}" for ln in lines)


def json_report(rep: dict) -> str:
    return json.dumps(rep, indent=2, default=str) + "\n"


# --------------------------------------------------------------------------------- the command


def command(path: Path, *, opts=None, config=None, hardened: Path | None = None, stack: bool = False,
            wait: float = 20.0, format: str = "text", out=None, err=None) -> int:
    """Run verify and print the report; the exit code. VerifyFailed (exit 2) carries the one
    line when verify cannot run at all."""
    out = out or sys.stdout
    v = Verifier(path, opts=opts, config=config, hardened=hardened, stack=stack, wait=wait, err=err)
    rep = v.run()
    out.write(json_report(rep) if format == "json" else text_report(rep))
    out.flush()
    code = rep["exit_code"]
    if code == EXIT_ERROR:
        raise VerifyFailed(f"could not verify everything: {rep['not_verified'][0]}"
                           + (f" (and {len(rep['not_verified']) - 1} more, listed above)"
                              if len(rep["not_verified"]) > 1 else ""))
    return code
