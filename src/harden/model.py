"""What transforms work on: a compose project (base file + overrides, with a merged read-only
view of every service) and a Dockerfile unit (the document plus what compose says of it)."""

from __future__ import annotations

import posixpath
import re
import stat

from .record import field, record
from pathlib import Path, PurePosixPath
from typing import Any

from .compose_doc import ComposeDoc, own_keys
from .dockerfile_doc import DockerfileDoc

MERGE_LISTS = {"ports", "expose", "volumes", "dns", "dns_search", "tmpfs", "cap_add", "cap_drop",
               "devices", "env_file", "external_links", "security_opt", "secrets", "configs", "extra_hosts"}
MERGE_MAPS = {"environment", "labels", "depends_on", "networks", "healthcheck", "build", "deploy",
              "logging", "ulimits", "sysctls"}


def plain(x: Any) -> Any:
    """A ruamel node as plain Python (merge keys resolved, scalar subclasses kept as str)."""
    if isinstance(x, dict):
        return {str(k) if not isinstance(k, (int, float)) else k: plain(v) for k, v in x.items()}
    if isinstance(x, list):
        return [plain(v) for v in x]
    return x


def as_map(value: Any, *, list_sep: str = "=") -> dict:
    """environment/labels/depends_on/networks in list form -> mapping."""
    if isinstance(value, dict):
        return dict(value)
    out: dict = {}
    if isinstance(value, list):
        for item in value:
            if isinstance(item, str) and list_sep in item:
                k, _, v = item.partition(list_sep)
                out[k] = v
            else:
                out[str(item)] = None
    return out


def doc_dir(doc: Any) -> Path:
    """The folder relative paths in ``doc`` resolve against: the file's own folder, or the
    `project_directory` an `include:` entry gave it."""
    base = getattr(doc, "base_dir", None)
    if base is not None:
        return Path(base)
    return Path(getattr(doc, "abspath", doc.path)).parent


_ENV_FILES: dict[tuple, dict[str, str]] = {}


def _read_env_file(path: Path) -> dict[str, str]:
    """The variables an env file sets ({} when it cannot be read). Read once per version of the
    file: the transforms and the safety net ask for the same files again and again."""
    try:
        st = path.stat()
    except (OSError, ValueError):
        return {}
    if not stat.S_ISREG(st.st_mode) or st.st_size > 1_000_000:
        return {}
    key = (str(path), st.st_mtime_ns, st.st_size)
    got = _ENV_FILES.get(key)
    if got is None:
        got = _ENV_FILES[key] = _parse_env_file(path)
    return dict(got)


def _parse_env_file(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return out
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        k, _, v = line.partition("=")
        k = k.strip()
        if k.startswith("export "):
            k = k[7:].strip()
        v = v.strip()
        if len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"":
            v = v[1:-1]
        out[k] = v
    return out


_IMAGE_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}$]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


_DOTENV: dict[tuple, dict[str, str]] = {}


def dotenv(project: Any) -> dict[str, str]:
    """The variables of the project's `.env` (beside its first compose file), which compose
    interpolates into the files."""
    memo = getattr(project, "memo", None)
    if memo is not None:
        return memo("dotenv", lambda: _dotenv(project))
    return _dotenv(project)


def _dotenv(project: Any) -> dict[str, str]:
    try:
        path = doc_dir(project.base) / ".env"
        st = path.stat()
    except (AttributeError, IndexError, OSError):
        return {}
    key = (str(path), st.st_mtime_ns, st.st_size)
    if key not in _DOTENV:
        _DOTENV[key] = _read_env_file(path)
    return _DOTENV[key]


def interpolate_image(image: str, env: dict[str, str]) -> str:
    """``${PG_TAG}``/``$PG_TAG``/``${PG_TAG:-16}`` in an image reference replaced by the value the
    project's .env sets; a variable .env does not set stays as written (its default is read later)."""
    if "$" not in image or not env:
        return image

    def sub(m: re.Match) -> str:
        name = m.group(1) or m.group(4)
        op = m.group(2)
        if name not in env:
            return m.group(0)
        v = env[name]
        if op == ":-" and v == "":
            return m.group(0)
        return v

    return _IMAGE_VAR.sub(sub, image)


def env_files(svc: Any) -> list[tuple[str, dict[str, str]]]:
    """(display name, variables) of the service's env_file entries, read relative to the file
    that sets them."""
    ef = svc.merged.get("env_file")
    if ef is None:
        return []
    doc, _node = svc.owner("env_file")
    base = doc_dir(doc)
    items = ef if isinstance(ef, list) else [ef]
    out = []
    for it in items:
        p = it.get("path") if isinstance(it, dict) else it
        if not isinstance(p, str) or "$" in p:
            continue
        out.append((p, _read_env_file(base / p)))
    return out


def merge_service(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        if k in MERGE_LISTS and isinstance(out.get(k), list) and isinstance(v, list):
            out[k] = out[k] + [x for x in v if x not in out[k]]
        elif k in MERGE_MAPS and k in out:
            a = as_map(out[k]) if not isinstance(out[k], str) else {"context": out[k]}
            b = as_map(v) if not isinstance(v, str) else {"context": v}
            merged = dict(a)
            merged.update(b)
            out[k] = merged
        else:
            out[k] = v
    return out


@record
class Service:
    name: str
    project: "ComposeProject"
    defs: list[tuple[ComposeDoc, Any]]  # (doc, node) in file order, base first

    @property
    def doc(self) -> ComposeDoc:
        return self.defs[0][0]

    @property
    def node(self) -> Any:
        return self.defs[0][1]

    def owner(self, key: str) -> tuple[ComposeDoc, Any]:
        """The (doc, node) whose own ``key`` wins: the last file that writes it, else the base."""
        for doc, node in reversed(self.defs):
            if isinstance(node, dict) and key in own_keys(node):
                return doc, node
        return self.defs[0]

    def inherited(self, key: str) -> bool:
        """True when ``key`` comes only from `<<: *anchor` or `extends` (not editable here)."""
        for _doc, node in self.defs:
            if isinstance(node, dict) and key in own_keys(node):
                return False
        return key in self.merged

    @property
    def merged(self) -> dict:
        cache = self.project._merged
        if self.name not in cache:
            cache[self.name] = self.project._merge(self.name)
        return cache[self.name]

    def invalidate(self) -> None:
        self.project._merged.pop(self.name, None)

    def extended_elsewhere(self) -> list[tuple[Any, str]]:
        """(doc, service) of services in other files that `extends` this one: they inherit what
        is written here, in projects of their own."""
        world = self.project.world
        if world is None:
            return []
        out: list[tuple[Any, str]] = []
        for doc, _node in self.defs:
            out += [x for x in world.extenders(doc, self.name) if x not in out]
        return out

    @property
    def image(self) -> str | None:
        img = self.merged.get("image")
        return str(img) if img is not None else None

    @property
    def line(self) -> int | None:
        return self.doc.key_line(self.doc.services(), self.name)


class World:
    """What every compose project of one run shares: the files read so far, by resolved path
    (a file another file `extends` is read as this run has edited it, not from disk)."""

    def __init__(self, docs: dict | None = None):
        self.docs: dict[Path, Any] = docs if docs is not None else {}
        self.projects: list = []
        self._extenders: dict | None = None
        # id(project) -> whom each of its services can reach as read (roles.original_reach),
        # measured for every project at once, before any transform moved a network
        self.reach_as_read: dict[int, dict] | None = None

    def doc(self, path: Path) -> Any:
        return self.docs.get(path)

    def extenders(self, doc: Any, name: str) -> list[tuple[Any, str]]:
        """(doc, service) of the services in *other* files that `extends: {file: <doc>, service:
        <name>}`: they inherit what is written there, in projects of their own."""
        if self._extenders is None:
            index: dict[tuple[int, str], list] = {}
            for d in list(self.docs.values()):
                if getattr(d, "kind", None) != "compose":
                    continue
                for sname, node in d.walk():
                    ext = node.get("extends")
                    if not isinstance(ext, dict) or not isinstance(ext.get("file"), str) or "service" not in ext:
                        continue
                    try:
                        other = self.doc((doc_dir(d) / ext["file"]).resolve())
                    except OSError:
                        other = None
                    if other is not None and other is not d:
                        index.setdefault((id(other), str(ext["service"])), []).append((d, sname))
            self._extenders = index
        return self._extenders.get((id(doc), name), [])

    def projects_with(self, doc: Any) -> list:
        return [p for p in self.projects if any(d is doc for d in p.docs)]


@record
class ComposeProject:
    folder: Path
    docs: list[ComposeDoc]
    rels: list[str]  # display paths, parallel to docs
    _merged: dict = field(default_factory=dict)
    _extends_docs: dict = field(default_factory=dict)
    dockerfiles: dict = field(default_factory=dict)  # service name -> DockerfileUnit
    # `include:` entries of the project's files (harden.project.IncludeEntry), followed or not
    includes: list = field(default_factory=list)
    # id(doc) of an included file -> ids of the files whose services it can name (itself, the
    # files merged with it, what they include); files of the project itself see everything
    scopes: dict = field(default_factory=dict)
    # ids of the docs this project may change; None: all of them. An overlay project
    # (`-f docker-compose.yml -f docker-compose.prod.yml` with partial services) reads its
    # partner's files, which their own project edits, and changes only its own
    editable: set | None = None
    world: World | None = None

    @property
    def base(self) -> ComposeDoc:
        return self.docs[0]

    def _index(self) -> dict[str, Service]:
        """Services by name, built once and rebuilt only when a services mapping changed
        (transforms edit services, they do not add or remove them)."""
        stamp = tuple((id(d.services()), len(d.services())) for d in self.docs)
        cached = self.__dict__.get("_index_cache")
        if cached is not None and cached[0] == stamp:
            return cached[1]
        seen: dict[str, Service] = {}
        for doc in self.docs:
            for name, node in doc.walk():
                if name in seen:
                    seen[name].defs.append((doc, node))
                else:
                    seen[name] = Service(name, self, [(doc, node)])
        self.__dict__["_index_cache"] = (stamp, seen)
        return seen

    def services(self) -> list[Service]:
        return list(self._index().values())

    def service(self, name: str) -> Service | None:
        return self._index().get(name)

    def service_names(self) -> list[str]:
        return list(self._index())

    def invalidate(self) -> None:
        self._merged.clear()
        self.__dict__.pop("_index_cache", None)
        for k in [k for k in self.__dict__ if k.startswith("_cache_")]:
            del self.__dict__[k]

    def memo(self, name: str, compute):
        """A value derived from the whole project, kept until the next invalidate()."""
        key = "_cache_" + name
        if key not in self.__dict__:
            self.__dict__[key] = compute()
        return self.__dict__[key]

    def included(self, doc: Any) -> bool:
        """True when ``doc`` is a file the project pulls in with `include:`."""
        return id(doc) in self.scopes

    def visible(self, doc: Any) -> set[str] | None:
        """Services a key written in ``doc`` may name (compose validates an included file as a
        model of its own); None: every service of the project."""
        ids = self.scopes.get(id(doc))
        if ids is None:
            return None
        return {s.name for s in self.services() if any(id(d) in ids for d, _n in s.defs)}

    def _merge(self, name: str, depth: int = 0) -> dict:
        result: dict = {}
        for doc in self.docs:
            node = doc.services().get(name)
            if isinstance(node, dict):
                view = plain(node)
                ext = view.pop("extends", None)
                if ext is not None and depth < 10:
                    result = merge_service(result, self._resolve_extends(doc, ext, depth))
                result = merge_service(result, view)
        return result

    def _resolve_extends(self, doc: ComposeDoc, ext: Any, depth: int) -> dict:
        if isinstance(ext, str):
            ext = {"service": ext}
        if not isinstance(ext, dict) or "service" not in ext:
            return {}
        target = str(ext["service"])
        if "file" in ext:
            path = (doc_dir(doc) / str(ext["file"])).resolve()
            other = self._extends_docs.get(path) or (self.world.doc(path) if self.world is not None else None)
            if other is None:
                try:
                    from .io import read_text

                    other = ComposeDoc(str(path), read_text(path))
                except Exception:
                    return {}
                self._extends_docs[path] = other
            node = other.services().get(target)
            if not isinstance(node, dict):
                return {}
            view = plain(node)
            inner = view.pop("extends", None)  # that service may extend another in its own file
            if inner is not None and depth < 10:
                return merge_service(self._resolve_extends(other, inner, depth + 1), view)
            return view
        node = doc.services().get(target)
        if isinstance(node, dict):
            view = plain(node)
            inner = view.pop("extends", None)
            if inner is not None and depth < 10:
                return merge_service(self._resolve_extends(doc, inner, depth + 1), view)
            return view
        return {}

    def top(self, key: str) -> dict:
        """A merged top-level mapping (networks, volumes, ...)."""
        out: dict = {}
        for doc in self.docs:
            v = doc.data.get(key)
            if isinstance(v, dict):
                out.update(plain(v))
        return out

    def build_of(self, svc: Service) -> "BuildInfo | None":
        b = svc.merged.get("build")
        if b is None:
            return None
        folder = doc_dir(svc.owner("build")[0])
        if isinstance(b, str):
            return BuildInfo(context=(folder / b), dockerfile=None, target=None, raw=b)
        if isinstance(b, dict):
            ctx = str(b.get("context", "."))
            return BuildInfo(context=(folder / ctx), dockerfile=b.get("dockerfile"), target=b.get("target"),
                             raw=b, inline="dockerfile_inline" in b)
        return None


@record
class BuildInfo:
    context: Path
    dockerfile: str | None
    target: str | None
    raw: Any
    inline: bool = False

    @property
    def remote(self) -> bool:
        s = str(self.raw if isinstance(self.raw, str) else self.raw.get("context", ""))
        return "://" in s or s.startswith("git@") or s.endswith(".git")

    def dockerfile_path(self) -> Path:
        return self.context / (self.dockerfile or "Dockerfile")


@record
class ServiceUse:
    """A compose service that builds a Dockerfile."""

    project: ComposeProject
    service: str
    target: str | None
    user: Any = None  # compose `user:` when set
    volumes: list = field(default_factory=list)  # container paths of mounted volumes
    command: Any = None


@record
class DockerfileUnit:
    doc: DockerfileDoc
    rel: str
    context: Path
    uses: list[ServiceUse] = field(default_factory=list)

    def targets(self) -> list[str | None]:
        """Stages that run: compose targets, or None for the last stage."""
        if not self.uses:
            return [None]
        return sorted({u.target for u in self.uses}, key=lambda t: (t is not None, t or ""))

    def run_stage_indexes(self) -> list[int]:
        stages = self.doc.stages
        out = []
        for t in self.targets():
            if t is None:
                out.append(len(stages) - 1)
            else:
                st = self.doc.stage_by_name(t)
                if st is not None:
                    out.append(st.index)
        return sorted(set(out))


def parse_volumes(volumes: Any) -> list[tuple[str, str | None, str, bool]]:
    """(kind, source, target, read_only) of a service's volumes; kind bind | volume | tmpfs."""
    out = []
    if not isinstance(volumes, list):
        return out
    for v in volumes:
        if isinstance(v, str):
            parts = v.split(":")
            # a Windows drive letter (C:\x:/y) is part of the source
            if len(parts) >= 3 and len(parts[0]) == 1 and parts[1].startswith(("\\", "/")):
                parts = [parts[0] + ":" + parts[1]] + parts[2:]
            if len(parts) == 1:
                out.append(("volume", None, parts[0], False))
                continue
            src, dst = parts[0], parts[1]
            opts = parts[2] if len(parts) > 2 else ""
            ro = "ro" in opts.split(",")
            bind = src.startswith(("/", ".", "~", "$")) or (len(src) > 1 and src[1] == ":")
            out.append(("bind" if bind else "volume", src, dst, ro))
        elif isinstance(v, dict) and v.get("target"):
            kind = str(v.get("type") or ("volume"))
            if kind not in ("bind", "volume", "tmpfs"):
                kind = "volume" if kind != "npipe" else "bind"
            out.append((kind, v.get("source"), str(v["target"]), bool(v.get("read_only"))))
    return out


def container_paths_of_volumes(volumes: Any) -> list[str]:
    """The container-side paths a service mounts."""
    return [str(PurePosixPath(dst)) for _kind, _src, dst, _ro in parse_volumes(volumes) if dst]


def context_file_text(context: Path, path: str) -> str:
    """The text of the build-context file an image path most likely came from (an entrypoint
    script, say): the same relative path, or a file of that name at the top of the context or one
    or two folders down; "" when there is none or the path holds a variable."""
    if "$" in path:
        return ""
    name = PurePosixPath(path).name
    cands = [context / path.lstrip("/"), context / name]
    try:
        cands += sorted(context.glob(f"*/{name}")) + sorted(context.glob(f"*/*/{name}"))
    except (OSError, ValueError):
        pass
    for c in cands:
        try:
            if c.is_file():
                return c.read_text(errors="replace")[:200000]
        except OSError:
            continue
    return ""


# ------------------------------------------------------------ app source through a bind mount


def _stage_chain(doc: Any, stage: Any) -> list:
    """The stage and the stages of this Dockerfile it is built FROM, base first."""
    chain, seen = [], set()
    while stage is not None and stage.index not in seen:
        seen.add(stage.index)
        chain.insert(0, stage)
        stage = doc.stage_by_name(stage.base) if stage.base else None
    return chain


def _under(path: str, folder: str) -> bool:
    return path == folder or folder == "/" or path.startswith(folder.rstrip("/") + "/")


def image_workdir(unit: Any, target: str | None) -> tuple[str | None, list[str | None]]:
    """(the working directory of the stage a service runs, where its COPY/ADD write): the
    stage's last WORKDIR (through the stages it is built FROM), None when unknown (no WORKDIR
    in the chain: the base image's own; a variable); each COPY/ADD destination of that chain
    as an absolute folder, None for one harden cannot place (a variable, a relative one under
    an unknown WORKDIR)."""
    doc = getattr(unit, "doc", None)
    if doc is None or not doc.stages:
        return None, [None]
    stage = doc.stage_by_name(target) if target else None
    workdir: str | None = None
    known = True  # False once a WORKDIR harden cannot read is in force
    dests: list[str | None] = []
    for st in _stage_chain(doc, stage or doc.stages[-1]):
        for ins in st.instructions:
            if ins.instruction == "WORKDIR":
                w = ins.args_without_flags().strip().strip("'\"")
                if not w or "$" in w or not known:
                    workdir, known = None, False
                    continue
                workdir = posixpath.normpath(posixpath.join(workdir or "/", w))
            elif ins.instruction in ("COPY", "ADD"):
                words = ins.words()
                dest = words[-1] if len(words) >= 2 else None
                if dest is None or "$" in dest:
                    dests.append(None)
                elif dest.startswith("/"):
                    dests.append(posixpath.normpath(dest))
                else:
                    dests.append(posixpath.normpath(posixpath.join(workdir or "/", dest)) if known else None)
    return workdir, dests


def bind_source(svc: Any, folder: str, root: Path) -> Path | None:
    """The host folder a bind mount of ``svc`` puts at container folder ``folder``: the mount
    whose target is that folder or the nearest one above it (the deepest wins, as in Docker).
    Only a relative host path (``.``, ``./src``) that stays inside ``root`` (the project),
    long syntax too; a named volume, an absolute or home path, or one holding a variable is not
    source harden reads (None). None also when another bind mount further down puts part of it
    there from elsewhere (a volume there, `- /app/node_modules`, only hides dependencies)."""
    best: tuple[int, str | None, str] | None = None
    for kind, src, dst, _ro in parse_volumes(svc.merged.get("volumes")):
        dst = posixpath.normpath(str(dst)) if dst else ""
        if not dst.startswith("/") or "$" in dst:
            continue
        if _under(dst, folder) and dst != folder:
            if kind == "bind":
                return None  # `./src:/app/src`: part of what runs there comes from another host folder
            continue  # `- /app/node_modules`: a volume over the dependencies, not the app's source
        if not _under(folder, dst):
            continue
        if best is None or len(dst) > best[0]:
            best = (len(dst), str(src) if kind == "bind" and src is not None else None, dst)
    if best is None or best[1] is None:
        return None
    src, dst = best[1], best[2]
    if "$" in src or src.startswith(("/", "~")) or (len(src) > 1 and src[1] == ":"):
        return None
    try:
        host = (doc_dir(svc.doc) / src / posixpath.relpath(folder, dst)).resolve()
        host.relative_to(Path(root).resolve())
    except (OSError, ValueError, RuntimeError):
        return None
    return host if host.is_dir() else None


def mounted_source(project: Any, svc: Any, root: Path) -> Path | None:
    """The host folder whose files run at the service's working directory when a bind mount
    puts them there and the image has none of its own there (a dev compose file's `.:/app` over
    an image that copies only its start scripts; an image-only service with `working_dir` and
    its source mounted): harden reads the app source there. The working directory is compose's
    `working_dir`, else the WORKDIR of the stage the service builds; for a service that builds
    none, `working_dir` alone. None when there is no such folder."""
    m = svc.merged
    unit = getattr(project, "dockerfiles", {}).get(svc.name)
    wd = m.get("working_dir")
    workdir = posixpath.normpath(str(wd)) if isinstance(wd, str) and wd.startswith("/") and "$" not in wd else None
    if wd is not None and workdir is None:
        return None  # a working directory harden cannot read
    if unit is not None:
        b = project.build_of(svc) if hasattr(project, "build_of") else None
        image_wd, dests = image_workdir(unit, b.target if b is not None else None)
        workdir = workdir or image_wd
        # the image has files of its own at, under or above that folder: its source is read
        # from the build context, as for any built service
        if workdir is None or any(d is None or _under(d, workdir) or _under(workdir, d) for d in dests):
            return None
    elif workdir is None:
        return None
    return bind_source(svc, workdir, root)
