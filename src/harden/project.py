"""Finding the project: compose files (grouped with their overrides), the Dockerfiles their
services build, and Dockerfiles that stand alone.

Nothing here parses YAML: discovery only lists files. Symlinks that lead out of the root are
never followed, and neither are vendor folders, virtualenvs or VCS folders.
"""

from __future__ import annotations

import os
import re
from .record import field, record
from pathlib import Path

# in the order `docker compose` looks for them (Compose 2.26 takes docker-compose.yml before .yaml)
COMPOSE_BASES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
_COMPOSE_RE = re.compile(r"^(?:docker-)?compose(?:\.[A-Za-z0-9_.-]+)?\.ya?ml$")
# Dockerfile, dockerfile (docker build's fallback), Containerfile, Dockerfile.prod, Dockerfile-prod,
# Dockerfile_dev, api.Dockerfile, api.dockerfile
_DOCKERFILE_RE = re.compile(r"^(?:[Dd]ockerfile|Containerfile)(?:[._-][A-Za-z0-9_.-]+)?$|^[A-Za-z0-9_.-]+\.(?:Dockerfile|dockerfile)$")
# templates a generator renders into a Dockerfile (FROM {{ base }}, %%VARIANT%%), samples and backups
_NOT_DOCKERFILE_RE = re.compile(r"(?i)[._-](?:template|tmpl|tpl|j2|jinja2?|in|erb|mustache|hbs|example|sample|"
                                r"old|orig|bak|backup)$")
# an extension that says the file is something else: an editor's syntax file (Dockerfile.vim), a
# snippet library (dockerfile.js), docs, data, scripts
_OTHER_EXTENSIONS = {
    "js", "mjs", "cjs", "jsx", "ts", "tsx", "go", "py", "pyc", "rb", "php", "java", "kt", "rs", "c", "h", "cc",
    "cpp", "cs", "swift", "scala", "lua", "pl", "el", "vim", "md", "markdown", "rst", "adoc", "txt", "html",
    "htm", "css", "scss", "json", "jsonc", "xml", "yml", "yaml", "toml", "ini", "cfg", "conf", "sh", "bash",
    "zsh", "fish", "ps1", "bat", "cmd", "lock", "log", "diff", "patch", "png", "jpg", "gif", "svg", "ico",
    "pdf", "zip", "gz", "tgz", "snap", "map", "min", "dockerignore", "rej", "swp", "orig", "bak",
}
SKIP_DIRS = {
    ".git", ".hg", ".svn", "node_modules", "vendor", "third_party", "__pycache__", ".tox", ".nox",
    ".venv", "venv", ".mypy_cache", ".pytest_cache", ".ruff_cache", "site-packages", ".idea",
    ".vscode", "bower_components", ".terraform", ".direnv",
    # vendored and generated front-end assets: editors' snippet libraries, bundles
    "static", "assets", "dist", "public", "jspm_packages", ".next", ".nuxt", ".svelte-kit", "coverage",
    "htmlcov",
}
MAX_FILE_BYTES = 10 * 1024 * 1024
# a YAML file not named like a compose file is read as one when its text looks like one (see
# looks_like_compose_text): cookiecutter-django's local.yml/production.yml, jitsi's jibri.yml,
# docker-elk's extensions/*/curator-compose.yml
_YAML_RE = re.compile(r"(?i)^[^.].*\.ya?ml$")
MAX_CONTENT_PROBE_BYTES = 512 * 1024
COMPOSE_TOP_KEYS = {"services", "include", "networks", "volumes", "secrets", "configs", "version", "name", "models"}
# the keys of a service in the Compose Specification (and the legacy v2/v3 file formats)
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
_TOP_KEY_RE = re.compile(r"""^(?:(['"])(.+?)\1|([^\s#:'"\-][^:#]*?))[ \t]*:(?:[ \t]|$)""")
_SERVICE_SOURCE_RE = re.compile(r"(?m)^[ \t]+(?:image|build)[ \t]*:")


def is_compose_name(name: str) -> bool:
    return bool(_COMPOSE_RE.match(name))


def looks_like_compose_text(text: str) -> bool:
    """A YAML text whose top level is a compose model: a block ``services:`` key, no top-level
    key compose does not know (``x-`` extensions aside; a Symfony ``services.yaml`` has
    ``parameters``/``imports``, a CI file its jobs), and a service with ``image`` or ``build``.
    Only the text is read; the engine checks the parsed data again."""
    keys = []
    text = text.lstrip("\ufeff")
    for line in text.splitlines():
        if not line or line[0] in " \t#" or line.startswith(("---", "...", "%")):
            continue
        m = _TOP_KEY_RE.match(line)
        if m is None:
            return False  # a top-level list or scalar: not a compose file
        keys.append(m.group(2) or m.group(3))
    if "services" not in keys or any(k not in COMPOSE_TOP_KEYS and not k.startswith("x-") for k in keys):
        return False
    return bool(_SERVICE_SOURCE_RE.search(text))


def compose_by_content(path: Path) -> bool:
    """A ``*.yml``/``*.yaml`` file not named like a compose file whose text is one."""
    try:
        if path.stat().st_size > MAX_CONTENT_PROBE_BYTES:
            return False
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return False
    if b"services" not in data:
        return False  # most YAML files: no need to read further
    return looks_like_compose_text(data.decode("utf-8", "replace"))


_TEST_WORDS = {"test", "tests", "testing", "e2e", "ci", "integration"}


def ci_stack_word(rel: str) -> str | None:
    """The word that makes a compose file a test or CI stack by its path (`docker-compose.test.yml`,
    `compose-e2e-test.yml`, `docker-compose.relational.ci.yaml`, `tests/compose.yaml`,
    `ci/base.yaml`), or None. Such a stack exists to run tests against every service in it."""
    for part in rel.replace("\\", "/").split("/"):
        for word in re.split(r"[._-]+", part.lower()):
            if word in _TEST_WORDS:
                return word
    return None


def is_dockerfile_name(name: str) -> bool:
    """`Dockerfile`, `dockerfile`, `Containerfile`, `Dockerfile.<name>` (-, _ too),
    `<name>.Dockerfile` and `<name>.dockerfile`; not templates, backups, or a name whose extension
    says it is something else (`dockerfile.js`, `Dockerfile.vim`)."""
    if "." in name and name.rsplit(".", 1)[1].lower() in _OTHER_EXTENSIONS:
        return False
    return bool(_DOCKERFILE_RE.match(name)) and not _NOT_DOCKERFILE_RE.search(name)


@record
class ComposeGroup:
    """Compose files that make one project.

    A base file (``compose.yaml``, ``docker-compose.yml``, ...) comes with the override files
    ``docker compose up`` loads with it (``compose.override.yaml``/``docker-compose.override.yml``).
    Any other compose file (``docker-compose.prod.yml``, ``compose.ci.yaml``) is a group of its own:
    ``partners`` are the files ``-f partner -f this`` would load before it, if it is an overlay
    (its base in the same folder, ``X.yml`` for ``X.override.yml``, else the nearest base in a
    folder above). Whether it stands alone or is that overlay is decided once it is parsed."""

    folder: Path
    files: list[Path] = field(default_factory=list)  # base first
    partners: list[Path] = field(default_factory=list)


@record
class Discovery:
    root: Path  # the folder paths are shown relative to
    target: Path  # what the user named (folder or file)
    groups: list[ComposeGroup] = field(default_factory=list)
    dockerfiles: list[Path] = field(default_factory=list)  # every Dockerfile found by name
    single_file: bool = False
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # (path, reason)
    # compose files found by their content, not their name (read as compose only when the
    # parsed file is one; left out silently otherwise)
    by_content: set[Path] = field(default_factory=set)

    def rel(self, p: Path) -> str:
        try:
            return p.relative_to(self.root).as_posix()
        except ValueError:
            return p.as_posix()


def inside(root: Path, p: Path) -> bool:
    try:
        p.resolve().relative_to(root.resolve())
        return True
    except (ValueError, OSError, RuntimeError):
        return False


def _is_venv(path: Path) -> bool:
    return (path / "pyvenv.cfg").exists()


def discover(target: Path) -> Discovery:
    target = Path(os.path.abspath(target))
    if target.is_file() or (target.is_symlink() and not target.is_dir()):
        d = Discovery(root=target.parent, target=target, single_file=True)
        if is_dockerfile_name(target.name) or not is_compose_name(target.name) and _looks_like_dockerfile(target):
            d.dockerfiles.append(target)
        else:
            d.groups.append(ComposeGroup(target.parent, [target]))
        return d
    d = Discovery(root=target, target=target)
    root_real = target.resolve()
    base_above: dict[Path, Path | None] = {}  # folder -> the nearest base file at or above it
    for dirpath, dirnames, filenames in os.walk(target, followlinks=False):
        here = Path(dirpath)
        above = base_above.get(here.parent) if here != target else None
        keep = []
        for dn in sorted(dirnames):
            full = here / dn
            if dn in SKIP_DIRS or dn.endswith(".egg-info") or _is_venv(full):
                continue
            if full.is_symlink():
                continue  # never walk through links
            keep.append(dn)
        dirnames[:] = keep
        composes = []
        for fn in sorted(filenames):
            full = here / fn
            content = False
            if not (is_compose_name(fn) or is_dockerfile_name(fn)):
                if not (_YAML_RE.match(fn) and not full.is_symlink() and compose_by_content(full)):
                    continue
                content = True
                d.by_content.add(full)
            if full.is_symlink():
                try:
                    real = full.resolve(strict=True)
                except (OSError, RuntimeError):
                    d.skipped.append((full, "broken or looping symlink"))
                    continue
                if not inside(root_real, real):
                    d.skipped.append((full, "symlink that leads outside the project"))
                    continue
            if content or is_compose_name(fn):
                composes.append(full)
            else:
                d.dockerfiles.append(full)
        d.groups.extend(group_compose_files(here, composes, above))
        base_above[here] = default_base([c for c in composes if c.name in COMPOSE_BASES]) or above
    return d


def _looks_like_dockerfile(p: Path) -> bool:
    try:
        with open(p, "rb") as f:
            head = f.read(4096).decode("utf-8", "replace")
    except OSError:
        return False
    return bool(re.search(r"^\s*FROM\s+\S", head, re.M | re.I))


_OVERRIDE_RE = re.compile(r"^(?:docker-)?compose\.override\.ya?ml$")


def is_override_name(name: str) -> bool:
    """``compose.override.y(a)ml`` / ``docker-compose.override.y(a)ml``: the only files compose
    loads on its own beside a base file."""
    return bool(_OVERRIDE_RE.match(name))


def _family(name: str) -> str:
    return "docker-compose" if name.startswith("docker-") else "compose"


def default_base(bases: list[Path]) -> Path | None:
    """The base file `docker compose up` picks in a folder (compose.yaml first)."""
    by_name = {b.name: b for b in bases}
    for n in COMPOSE_BASES:
        if n in by_name:
            return by_name[n]
    return None


def group_compose_files(folder: Path, files: list[Path], above: Path | None = None) -> list[ComposeGroup]:
    """Each base file makes a group with its override files (``docker-compose.override.yml``
    joins ``docker-compose.yml``; ``compose.override.yaml`` joins ``compose.yaml``). Every other
    compose file is a group of its own, with the files it would be an overlay for: ``X.yml`` for
    ``X.override.yml``, else the folder's base of the same family, else ``above`` (the nearest
    base in a parent folder)."""
    if not files:
        return []
    names = {f.name: f for f in files}
    bases = [names[b] for b in COMPOSE_BASES if b in names]
    groups: list[ComposeGroup] = []
    by_family: dict[str, ComposeGroup] = {}
    for b in bases:
        # a base in a sub-folder may still be a fragment of the project above (ci/basic/compose.yaml
        # holding only `zulip: environment: ...`): its partner is kept for that reading
        g = ComposeGroup(folder, [b], [above] if above is not None else [])
        groups.append(g)
        by_family.setdefault(_family(b.name), g)
    for f in files:
        if f in bases or not is_override_name(f.name):
            continue
        g = by_family.get(_family(f.name)) or (groups[0] if groups else None)
        if g is None:
            groups.append(ComposeGroup(folder, [f], [above] if above is not None else []))
        else:
            g.files.append(f)
    for f in files:
        if f in bases or is_override_name(f.name):
            continue
        stem, _, ext = f.name.rpartition(".")
        partner = None
        if stem.endswith(".override"):
            main = stem[: -len(".override")]
            partner = names.get(f"{main}.{ext}") or names.get(f"{main}.yml") or names.get(f"{main}.yaml")
        if partner is None:
            g = by_family.get(_family(f.name)) or (groups[0] if bases else None)
            partner = g.files[0] if g is not None else above
        groups.append(ComposeGroup(folder, [f], [partner] if partner is not None else []))
    return groups


# ------------------------------------------------------------------ include:

@record
class IncludeEntry:
    """One item of a compose file's top-level `include:` (Compose 2.20+)."""

    doc: object  # the ComposeDoc that includes
    line: int | None  # 1-based line of the item
    raw: str  # the paths as written, for messages
    paths: list[Path] = field(default_factory=list)  # resolved, first one is the main file
    project_dir: Path | None = None
    problem: str | None = None  # why it is not followed (None: followed)
    docs: list = field(default_factory=list)  # the ComposeDocs loaded for it


def _is_remote(s: str) -> bool:
    return "://" in s or s.startswith("git@") or bool(re.match(r"^[\w.-]+@[\w.-]+:", s))


def include_entries(doc: object, base: Path) -> list[IncludeEntry]:
    """The `include:` items of ``doc`` (data already parsed), paths resolved against ``base``
    (the including file's project directory). Items harden cannot follow carry a problem."""
    data = getattr(doc, "data", None)
    if not isinstance(data, dict) or "include" not in data:
        return []
    inc = data["include"]
    items = inc if isinstance(inc, list) else [inc]
    out: list[IncludeEntry] = []
    lc = getattr(inc, "lc", None)
    for i, item in enumerate(items):
        line = None
        try:
            line = (lc.item(i)[0] + 1) if lc is not None and isinstance(inc, list) else (data.lc.key("include")[0] + 1)
        except Exception:
            line = None
        if isinstance(item, str):
            raw_paths, pdir = [item], None
        elif isinstance(item, dict) and "path" in item:
            p = item["path"]
            raw_paths = [p] if isinstance(p, str) else list(p) if isinstance(p, list) else []
            pdir = item.get("project_directory")
        else:
            out.append(IncludeEntry(doc, line, str(item), problem="an include item without `path`"))
            continue
        raw = ", ".join(str(x) for x in raw_paths)
        e = IncludeEntry(doc, line, raw)
        out.append(e)
        if not raw_paths or not all(isinstance(x, str) and x.strip() for x in raw_paths):
            e.problem = "an include path that is not a file name"
            continue
        if any(_is_remote(x) for x in raw_paths + ([pdir] if isinstance(pdir, str) else [])):
            e.problem = "a remote include (git/https/oci); harden reads local files only"
            continue
        if any("$" in x for x in raw_paths) or (isinstance(pdir, str) and "$" in pdir):
            e.problem = "the include path uses a variable that harden does not resolve"
            continue
        e.paths = [Path(os.path.normpath(base / os.path.expanduser(x))) for x in raw_paths]
        if pdir is not None:
            if not isinstance(pdir, str):
                e.problem = "project_directory is not a path"
                continue
            e.project_dir = Path(os.path.normpath(base / os.path.expanduser(pdir)))
    return out
