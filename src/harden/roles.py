"""What a compose service *is* and whom it talks to: the shared service classification.

``classify(project, svc, ctx=None) -> Role``. Used by the `networks` and `dev-profiles`
transforms and by ``harden inspect``. Everything here reads; nothing edits.

Sources, strongest first:

1. per-service overrides from the config: ``ctx.service_option(name, "role")`` and
   ``ctx.service_option(name, "egress")``;
2. app-source facts (``ctx.facts(project, name)``: ``serves_http``, ``clients``, ``env_hosts``,
   ``egress``, ``evidence``) when the service builds Python code harden can read;
3. the image (``catalog.image_role``): databases, caches, brokers, search engines, object
   stores, dev tools, reverse proxies;
4. the compose file itself: ``ports``, ``depends_on``, ``links``, ``network_mode:
   service:x``, ``volumes_from``, environment values and commands that name another service
   (``DB_HOST: db``, ``postgres://u:p@db:5432/x``, ``redis://cache:6379``,
   ``${DB_HOST:-db}``), Traefik labels, and the hosts named in files mounted into a proxy
   (``proxy_pass http://web:8000``);
5. a Spring service's own configuration (stacks/jvm.py): application*/bootstrap* files, what a
   native Spring Cloud Config server of the project serves it, string literals of its code;
   for a service that only runs ``image:``, the build of it an overlay file (or another service
   building that image) gives. Complete (``talks_known``) only when every source was read; a
   client of a registry (Eureka, Consul) gets ``discovery``: its clients share their networks.

Every conclusion carries a line of evidence, so `harden inspect` and the notes can say why.
"""

from __future__ import annotations

from collections.abc import Mapping

import re
from .record import field, record
from pathlib import Path
from typing import Any

from .catalog import configured_only, image_kind, program_kind, role_of_kind
from .model import as_map, doc_dir, env_files

ROLES = ("web", "worker", "database", "cache", "queue", "proxy", "devtool", "other")
STORE_ROLES = {"database", "cache", "queue"}

# catalog roles -> our roles (search engines and object stores hold data: they are databases here)
_CATALOG_TO_ROLE = {
    "database": "database",
    "search": "database",
    "store": "database",
    "cache": "cache",
    "queue": "queue",
    "devtool": "devtool",
    "proxy": "proxy",
}

# dev tools that are clients of the stores (database UIs) vs. tools others talk to (mail catchers)
DB_UI_KINDS = {"adminer", "phpmyadmin", "pgadmin", "redis-commander", "redisinsight", "mongo-express",
               "kafka-ui", "dbgate", "cloudbeaver", "prisma-studio"}

# environment variable names that say "this service calls an outside API"
_EGRESS_KEY = re.compile(
    r"(?:^|_)(?:BOT_?TOKEN|TELEGRAM|DISCORD|SLACK|OPENAI|ANTHROPIC|STRIPE|TWILIO|SENDGRID|MAILGUN|GITHUB_TOKEN"
    r"|WEBHOOK_URL|API_KEY|APIKEY|ACCESS_TOKEN|SECRET_KEY_ID|AWS_ACCESS_KEY_ID|S3_ENDPOINT|SMTP_HOST)(?:_|$)",
    re.I,
)
_URL = re.compile(r"\b([a-z][a-z0-9+.-]*)://([^\s\"'<>]+)", re.I)
_HOSTPORT = re.compile(r"(?<![\w.@/-])([a-z0-9](?:[a-z0-9_.-]*[a-z0-9])?):(\d{1,5})\b", re.I)
_VAR_DEFAULT = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*:?[-=]([^}]*)\}")
_VAR = re.compile(r"\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*")
_PROXY_HOST = re.compile(
    r"(?:proxy_pass|fastcgi_pass|uwsgi_pass|grpc_pass|server|reverse_proxy|to|upstream|backend|url|"
    r"forward_auth|proxy)\s+(?:https?://|h2c://|grpc://)?([A-Za-z0-9_.-]+)(?::(\d+))?",
    re.I,
)
_MAX_MOUNTED_FILE = 200_000
_MAX_MOUNTED_FILES = 20


@record
class Role:
    name: str
    role: str  # one of ROLES
    kind: str | None = None  # catalog kind: "mysql", "adminer", "nginx", ...
    talks_to: set[str] = field(default_factory=set)
    talks_known: bool = False  # True when talks_to is complete (facts, or the role says so)
    egress: bool | None = None  # calls the internet; None = unknown
    publishes: bool = False
    ingress: bool = False  # routed to by a proxy of another project (Traefik labels, VIRTUAL_HOST)
    network_mode: str | None = None
    evidence: list[str] = field(default_factory=list)
    hosts: dict[str, set[str]] = field(default_factory=dict)  # target -> the host names it is reached by
    # services that find each other through a registry (Eureka, Consul, ...): the registry and
    # its kind ("Eureka at registry"); they must share every network (see networks)
    discovery: str | None = None
    unknown_why: str | None = None  # why talks_to may be incomplete, when harden knows

    @property
    def store(self) -> bool:
        return self.role in STORE_ROLES

    @property
    def public(self) -> bool:
        """Reachable from outside: publishes ports, is a reverse proxy, or a proxy routes to it."""
        return self.publishes or self.ingress or self.role == "proxy"


# ----------------------------------------------------------------------------- helpers


_DOCKER_HOST_NAMES = {"host.docker.internal", "gateway.docker.internal", "host.containers.internal"}


def _strings(value: Any) -> list[str]:
    out: list[str] = []
    if isinstance(value, dict):
        for v in value.values():
            out += _strings(v)
    elif isinstance(value, list):
        for v in value:
            out += _strings(v)
    elif value is not None and not isinstance(value, bool):
        out.append(str(value))
    return out


def _expand_defaults(s: str) -> str:
    """``${DB_HOST:-db}`` -> ``db``; other variables become a placeholder no service is named."""
    s = _VAR_DEFAULT.sub(lambda m: m.group(1), s)
    return _VAR.sub("\x00", s)


_HOSTISH_KEY = re.compile(r"(HOST|ADDR|SERVER|ENDPOINT|URL|URI|DSN|BROKER|NODES|UPSTREAM|BACKEND|PROXY|SERVICE)", re.I)


_HOSTISH_SEEN: dict[str, bool] = {}


def hostish_key(key: str) -> bool:
    """An environment variable whose bare-word value names a host (``DB_HOST: db``), unlike
    ``POSTGRES_USER: notes``, whose value only happens to match a service name."""
    key = str(key)
    got = _HOSTISH_SEEN.get(key)
    if got is None:
        got = _HOSTISH_SEEN[key] = bool(_HOSTISH_KEY.search(key))
    return got


# (value, bare) -> hosts_in's answer: the same strings come back for every service of every
# compose combination the safety net measures (wger's env files: ~4,700 calls, ~300 strings)
_HOSTS_SEEN: dict[tuple[str, bool], frozenset[str]] = {}
_WORD_SPLIT = re.compile(r"[\s,;]+")
_BARE_HOST = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def hosts_in(value: str, bare: bool = True) -> frozenset[str]:
    """Host names a configuration string names: URLs, ``host:port`` and (with ``bare``) bare
    words. A pure function of its arguments, remembered for the run."""
    key = (value, bare)
    got = _HOSTS_SEEN.get(key)
    if got is None:
        got = _HOSTS_SEEN[key] = frozenset(_hosts_in(value, bare))
    return got


def _hosts_in(value: str, bare: bool) -> set[str]:
    s = _expand_defaults(value)
    hosts: set[str] = set()
    for m in _URL.finditer(s):
        rest = m.group(2)
        netloc = rest.split("/", 1)[0].split("?", 1)[0]
        for part in netloc.split(","):  # mongodb://a:1,b:2/
            part = part.rsplit("@", 1)[-1]
            if part.startswith("["):
                continue
            host = part.split(":", 1)[0]
            if host:
                hosts.add(host.lower())
    for m in _HOSTPORT.finditer(s):
        hosts.add(m.group(1).lower())
    if bare:
        for word in _WORD_SPLIT.split(s.strip()):
            if _BARE_HOST.fullmatch(word):
                hosts.add(word.lower())
    return hosts


def _names_of(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [str(k) for k in value]
    if isinstance(value, list):
        return [str(x) for x in value if isinstance(x, (str, int))]
    return []


class _Others(Mapping):
    """The alias table without one service's own names (a view: no copy per service)."""

    def __init__(self, aliases: dict[str, str], name: str):
        self._a = aliases
        self._name = name

    def __getitem__(self, key: str) -> str:
        v = self._a[key]
        if v == self._name:
            raise KeyError(key)
        return v

    def __contains__(self, key: object) -> bool:
        return self._a.get(key) not in (None, self._name)  # type: ignore[arg-type]

    def __iter__(self):
        return (k for k, v in self._a.items() if v != self._name)

    def __len__(self) -> int:
        return sum(1 for _ in self)


def service_for_host(project: Any, svc: Any, host: str) -> str | None:
    """The service of ``project`` that host name ``host`` reaches from ``svc``: a service name, a
    network alias, a `hostname`, a `container_name`, or an alias in ``svc``'s own `links`
    (``db:database``). None when no service of the project answers to it."""
    h = host.lower()
    for link in _names_of(svc.merged.get("links")) if svc is not None else []:
        target, _, alias = link.partition(":")
        if (alias or target).lower() == h:
            return target if project.service(target) is not None else None
    return _service_aliases(project).get(h)


def alias_networks(svc: Any, host: str) -> set[str] | None:
    """The networks on which ``host`` names ``svc`` when it is a network alias of it (Docker's
    DNS answers an alias only on the network that declares it); None when the name reaches it
    on every network (its service or container name)."""
    h = host.lower()
    m = svc.merged
    if h == svc.name.lower() or str(m.get("container_name") or "").lower() == h:
        return None
    nets = m.get("networks")
    found = set()
    if isinstance(nets, dict):
        for net, conf in nets.items():
            if isinstance(conf, dict) and isinstance(conf.get("aliases"), list):
                if h in {str(a).lower() for a in conf["aliases"]}:
                    found.add(str(net))
    return found or None


def _network_ids(project: Any) -> dict[str, tuple[str, str]] | None:
    """Top-level network key -> what Docker knows it as: ("named", name) for a network with a
    literal `name:` or an external one (several keys, and other projects, can name the same
    network), ("project", key) for one compose prefixes with the project name. None when a
    name holds a variable (two keys may then be one network)."""
    out: dict[str, tuple[str, str]] = {}
    for key, conf in project.top("networks").items():
        key = str(key)
        name, external = None, False
        if isinstance(conf, dict):
            if conf.get("name") is not None:
                name = str(conf["name"])
            ext = conf.get("external")
            if isinstance(ext, dict):
                external = True
                if name is None and ext.get("name") is not None:
                    name = str(ext["name"])
            elif ext is True or str(ext).lower() == "true":
                external = True
        if name is not None and "$" in name:
            return None
        out[key] = ("named", name) if name is not None else ("named", key) if external else ("project", key)
    return out


def _reach_in(project: Any) -> dict[str, set[str] | None]:
    """Whom each service of one project can reach, as the project is now: the services it
    shares a network with (its `networks`, `default` without any; `network_mode: service:x`
    shares x's), or names in `links`. None for a service whose reach harden cannot bound: its
    networking is not compose's (`network_mode: host`, `container:...`, a variable), or the
    files say more than harden's merged view holds (`!reset`/`!override` tags, network names
    that hold variables)."""
    services = {s.name: s for s in project.services()}
    unclear = {n: None for n in services}
    if any("!reset" in str(getattr(d, "original", "")) or "!override" in str(getattr(d, "original", ""))
           for d in project.docs):
        return unclear
    ids = _network_ids(project)
    if ids is None:
        return unclear

    def networks_of(n: str) -> set[tuple[str, str]] | None:
        seen: set[str] = set()
        while n in services and n not in seen:
            seen.add(n)
            m = services[n].merged
            nm = m.get("network_mode")
            if nm is None:
                nets = m.get("networks")
                names = [str(k) for k in nets] if isinstance(nets, (dict, list)) and nets else ["default"]
                return {ids.get(x, ("project", x)) for x in names}
            nm = str(nm)
            if not nm.startswith("service:"):
                return None
            n = nm.split(":", 1)[1]
        return None

    on = {n: networks_of(n) for n in services}
    out: dict[str, set[str] | None] = {}
    for n in services:
        if on[n] is None:
            out[n] = None
            continue
        out[n] = {m for m in services if m != n and (on[m] is None or on[m] & on[n])}
    for n, s in services.items():
        for link in _names_of(s.merged.get("links")):
            t = link.split(":", 1)[0]
            for a, b in ((n, t), (t, n)):
                if out.get(a) is not None and b in services and b != a:
                    out[a].add(b)
    return out


def original_reach(project: Any) -> dict[str, set[str] | None]:
    """Whom each service of ``project`` can reach in the files as read, before any transform
    moved a network: a service can only talk (by name) to services it shares a network with,
    so this bounds whom a service whose traffic harden cannot see may talk to. A file also run
    with other files (an overlay's partner, a file another project reads) counts every such
    combination: a service reaches what it reaches in any of them. None for a service harden
    cannot bound (see _reach_in): it may talk to anyone."""
    world = getattr(project, "world", None)
    projects = list(getattr(world, "projects", None) or ()) if world is not None else []
    if world is None or not any(p is project for p in projects):
        return _reach_in(project)
    if world.reach_as_read is None:
        # measured for every project at once, on the first question: transforms run project by
        # project, and a later project's files may already have been edited by then
        world.reach_as_read = {id(p): _reach_in(p) for p in projects}
    mine = {id(d) for d in project.docs}
    tables = [world.reach_as_read[id(p)] for p in projects
              if id(p) in world.reach_as_read and any(id(d) in mine for d in p.docs)]
    out: dict[str, set[str] | None] = {}
    for name in project.service_names():
        got: set[str] | None = set()
        for t in tables:
            if name not in t:
                continue
            if t[name] is None:
                got = None
                break
            got |= t[name]
        out[name] = got
    return out


def _service_aliases(project: Any) -> dict[str, str]:
    """host name -> service: service names, container names, hostnames and network aliases."""
    memo = getattr(project, "memo", None)
    if memo is not None:
        return memo("service_aliases", lambda: _compute_service_aliases(project))
    return _compute_service_aliases(project)


def _compute_service_aliases(project: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for s in project.services():
        m = s.merged
        out.setdefault(s.name.lower(), s.name)
        for key in ("container_name", "hostname"):
            if isinstance(m.get(key), str):
                out.setdefault(str(m[key]).lower(), s.name)
        nets = m.get("networks")
        if isinstance(nets, dict):
            for conf in nets.values():
                if isinstance(conf, dict) and isinstance(conf.get("aliases"), list):
                    for a in conf["aliases"]:
                        out.setdefault(str(a).lower(), s.name)
    return out


def _mounted_files(project: Any, svc: Any) -> list[Path]:
    vols = svc.merged.get("volumes")
    if not isinstance(vols, list):
        return []
    try:
        folder = doc_dir(svc.doc)
    except Exception:
        return []
    out: list[Path] = []
    for v in vols:
        src = None
        if isinstance(v, str) and ":" in v:
            src = v.split(":", 1)[0]
        elif isinstance(v, dict) and v.get("type") == "bind":
            src = v.get("source")
        if not src or not str(src).startswith((".", "/", "~")) or "$" in str(src):
            continue
        p = (folder / str(src)) if not str(src).startswith("/") else Path(str(src))
        try:
            if p.is_file():
                out.append(p)
            elif p.is_dir():
                out += sorted(x for x in p.rglob("*") if x.is_file())[:_MAX_MOUNTED_FILES]
        except OSError:
            continue
    return out[:_MAX_MOUNTED_FILES]


def _mounted_texts(project: Any, svc: Any):
    """(path, text) of the config files mounted into a service (small enough to read)."""
    for p in _mounted_files(project, svc):
        try:
            if p.stat().st_size > _MAX_MOUNTED_FILE:
                continue
            yield p, p.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue


def _proxy_upstreams(project: Any, svc: Any, aliases: dict[str, str]) -> dict[str, str]:
    """Services named as upstreams in the config files mounted into a proxy."""
    found: dict[str, str] = {}
    for p, text in _mounted_texts(project, svc):
        for host in _upstream_hosts(text):
            target = aliases.get(host)
            if target and target != svc.name:
                found.setdefault(target, p.name)
    return found


_UPSTREAMS_SEEN: dict[str, tuple[str, ...]] = {}


def _upstream_hosts(text: str) -> tuple[str, ...]:
    """The host names a proxy's config text names, in order: upstream/proxy_pass hosts, then
    URL hosts (remembered per text for the run: every compose combination asks again)."""
    got = _UPSTREAMS_SEEN.get(text)
    if got is None:
        hosts = [m.group(1).lower() for m in _PROXY_HOST.finditer(text)]
        hosts += [m.group(2).split("/", 1)[0].rsplit("@", 1)[-1].split(":", 1)[0].lower()
                  for m in _URL.finditer(text)]
        got = _UPSTREAMS_SEEN[text] = tuple(hosts)
    return got


def _mounted_hosts(project: Any, svc: Any, aliases: Any) -> dict[str, str]:
    """Services named as hosts (a URL, ``host:port``) in the config files mounted into a service."""
    found: dict[str, str] = {}
    for p, text in _mounted_texts(project, svc):
        for host in hosts_in(text, bare=False):
            target = aliases.get(host)
            if target and target != svc.name:
                found.setdefault(target, p.name)
    return found


def _opt(ctx: Any, name: str, key: str) -> Any:
    if ctx is None:
        return None
    try:
        return ctx.service_option(name, key)
    except Exception:
        return None


def _facts(ctx: Any, project: Any, name: str) -> Any:
    if ctx is None or not hasattr(ctx, "facts"):
        return None
    try:
        return ctx.facts(project, name)
    except Exception:
        return None


def _grounded(facts: Any) -> bool:
    """Facts that rest on the app's own source files, read completely: only then does an
    absence (no outside calls, no database client) mean something."""
    if facts is None or getattr(facts, "truncated", False):
        return False
    for e in getattr(facts, "evidence", None) or ():
        f = str(getattr(e, "file", "") or "")
        if f and not f.startswith("<"):
            return True
    return False


def _bool_opt(v: Any) -> bool | None:
    if isinstance(v, bool):
        return v
    if isinstance(v, str):
        if v.lower() in ("true", "yes", "1", "on"):
            return True
        if v.lower() in ("false", "no", "0", "off"):
            return False
    return None


def _words(value: Any) -> list[str] | None:
    """A compose `command`/`entrypoint` as words; None when it is not set."""
    from .healthchecks import _words as split

    return None if value is None else split(value)


def _dockerfile_start(project: Any, svc: Any) -> tuple[list[str] | None, list[str] | None]:
    """(ENTRYPOINT, CMD) words of the Dockerfile stage a built service runs (its build target,
    else the last stage), each followed through the stages it is built FROM; None when unset."""
    unit = getattr(project, "dockerfiles", {}).get(svc.name)
    doc = getattr(unit, "doc", None)
    if doc is None or not doc.stages:
        return None, None
    b = project.build_of(svc) if hasattr(project, "build_of") else None
    stage = doc.stage_by_name(b.target) if b is not None and b.target else None
    stage = stage or doc.stages[-1]
    entry = cmd = None
    seen: set[int] = set()
    while stage is not None and stage.index not in seen:
        seen.add(stage.index)
        ep, c = stage.last("ENTRYPOINT"), stage.last("CMD")
        if entry is None and ep is not None:
            entry = ep.words()
            if cmd is None and (c is None or c.startline < ep.startline):
                cmd = []  # a new ENTRYPOINT drops the CMD it was built on
        if cmd is None and c is not None:
            cmd = c.words()
        if entry is not None and cmd is not None:
            break
        stage = doc.stage_by_name(stage.base) if stage.base else None
    return entry, cmd


def started_kind(project: Any, svc: Any) -> tuple[str | None, str]:
    """The catalog kind of the program a service starts (its compose `entrypoint`/`command`,
    else its Dockerfile's ENTRYPOINT/CMD): ``maildev`` installed on a node image, ``npx prisma
    studio``, ``nginx-entrypoint.sh``; with where it was read. (None, "") when none is known."""
    m = svc.merged
    entry, cmd = _words(m.get("entrypoint")), _words(m.get("command"))
    if entry is not None:
        tries = [(entry + (cmd or []), "its entrypoint")]
    elif cmd is not None:
        tries = [(cmd, "its command")]  # an image's ENTRYPOINT is mostly a wrapper that runs it
    else:
        d_entry, d_cmd = _dockerfile_start(project, svc)
        tries = [((d_entry or []) + (d_cmd or []), "its Dockerfile's ENTRYPOINT/CMD"), (d_cmd or [], "its Dockerfile's CMD")]
    for words, where in tries:
        k = program_kind(words) if words else None
        if k is not None:
            return k, f"{where} runs `{' '.join(words)[:60]}`"
    return None, ""


# --------------------------------------------------------------------- a service's own source


def source_context(project: Any, svc: Any) -> tuple[Path, str] | None:
    """(build context, how it was found) of the code a service runs: its own ``build``; else,
    for a service that only runs ``image: X``, the build of the same service in an overlay of
    its files that runs the same image (``docker-compose.dev.yml`` adding ``build: api``), or
    the one build in the repository's compose files of an image of that name. None when there
    is none, or more than one candidate."""
    b = project.build_of(svc) if hasattr(project, "build_of") else None
    if b is not None:
        return (None if b.remote or b.inline else (b.context, "its build context"))
    image = svc.merged.get("image")
    if not image:
        return None
    world = getattr(project, "world", None)
    found: dict[Path, str] = {}
    for p in (world.projects_with(project.base) if world is not None else []):
        if p is project or not all(any(d is x for x in p.docs) for d in project.docs):
            continue
        other = p.service(svc.name)
        if other is None or other.merged.get("image") != image:
            continue
        ob = p.build_of(other)
        if ob is None or ob.remote or ob.inline:
            continue
        where = next((r for d, r in zip(p.docs, p.rels) if d is other.owner("build")[0]), "another file")
        found.setdefault(ob.context.resolve(), f"{where} builds {svc.name} from {_display(project, ob.context)}")
    if not found:
        from .catalog import parse_image
        from .healthchecks import _built_elsewhere

        ref = parse_image(str(image)) if "$" not in str(image) else None
        hit = _built_elsewhere(project, ref) if ref is not None else None
        if hit is not None and getattr(hit[0], "context", None) is not None:
            found[Path(hit[0].context).resolve()] = f"{hit[2]} builds the image {image}"
    if len(found) != 1:
        return None
    ctx, how = next(iter(found.items()))
    return ctx, how


def _display(project: Any, path: Path) -> str:
    try:
        return Path(path).resolve().relative_to(Path(project.folder).resolve()).as_posix() or "."
    except (ValueError, OSError):
        return str(path)


_SPRING_ENV_GAPS = re.compile(r"^SPRING_(?:APPLICATION_JSON|CONFIG_(?:LOCATION|ADDITIONAL_LOCATION|IMPORT))$")


def spring_talks(project: Any, svc: Any, env: dict[str, str]) -> tuple[Any, str] | None:
    """What the Spring configuration of a JVM service says (harden.stacks.jvm.SpringTalks) and
    where its source was found; None when the service runs no JVM code harden can read.
    With Spring Cloud Config, the config server named by spring.cloud.config.uri is another
    service of the project, and what it serves this application is read from its source."""
    memo = getattr(project, "memo", None)
    compute = lambda: _compute_spring(project, svc, env)  # noqa: E731
    return memo(f"spring:{svc.name}", compute) if memo is not None else compute()


def _compute_spring(project: Any, svc: Any, env: dict[str, str]) -> tuple[Any, str] | None:
    src = source_context(project, svc)
    if src is None:
        return None
    from .stacks import is_jvm_context

    context, how = src
    if not is_jvm_context(context):
        return None
    from .stacks import jvm

    # one reading per build context and run (the project's memo is dropped after every edit)
    world = getattr(project, "world", None)
    cache = world.__dict__.setdefault("_spring_reads", {}) if world is not None else {}
    key = Path(context).resolve()
    if key not in cache:
        cache[key] = (jvm.read_spring(context), jvm.scan_code(context))
    own, code = cache[key]
    cfg = jvm.SpringConfig(files=list(own.files), props=list(own.props), gaps=list(own.gaps))
    # configuration files mounted into the container: read with the service's own
    mounted = [p for p in _mounted_files(project, svc) if jvm._OWN_CONFIG.match(p.name)]
    if mounted:
        jvm.read_config_files(mounted, doc_dir(svc.doc), cfg)
    for key in env:
        if _SPRING_ENV_GAPS.match(str(key)):
            cfg.gaps.append(f"environment {key} gives Spring configuration harden does not read")
    first = jvm.spring_talks(context, env, None, cfg, code)
    served = None
    if first.config_hosts:
        aliases = _service_aliases(project)
        served = jvm.SpringConfig()
        for host in dict.fromkeys(first.config_hosts):
            target = aliases.get(host)
            server = project.service(target) if target else None
            ssrc = source_context(project, server) if server is not None else None
            if ssrc is None:
                served.gaps.append(f"its config server {host} is not a service whose source harden can read")
                continue
            senv = {str(k): str(v) for k, v in (as_map(server.merged.get("environment"))
                                                if isinstance(server.merged.get("environment"), (dict, list))
                                                else {}).items() if v is not None}
            got = jvm.served_by(ssrc[0], first.app_name, senv)
            served.files += got.files
            served.props += got.props
            served.gaps += got.gaps
    talks = jvm.spring_talks(context, env, served, cfg, code) if served is not None else first
    return talks, how


# ---------------------------------------------------------------------------- classify


def classify(project: Any, svc: Any, ctx: Any = None) -> Role:
    """The role of one service, whom it talks to, whether it calls out, with evidence."""
    m = svc.merged
    name = svc.name
    r = Role(name=name, role="other")
    ev = r.evidence
    aliases = _service_aliases(project)
    others = _Others(aliases, name)

    image = m.get("image")
    if image and "$" in str(image):
        from .model import dotenv, interpolate_image

        image = interpolate_image(str(image), dotenv(project))
    r.kind = image_kind(str(image)) if image else None
    built_from = None
    if getattr(project, "dockerfiles", {}).get(name) is not None:
        # a built service is what its Dockerfile's final base is (`FROM rabbitmq:3-management`),
        # as db-healthcheck reads it; `image:` then only names the result
        from .healthchecks import identify

        ident = identify(project, svc)
        if ident.kind is not None:
            r.kind = ident.kind
            built_from = ident.ref.raw if ident.ref is not None else None
    cat = role_of_kind(r.kind)
    started = ""
    if cat is None:
        # an image harden does not know that starts a tool it does (`RUN npm i -g maildev` +
        # `CMD maildev` on a node image, `command: npx prisma studio`, `nginx-entrypoint.sh`)
        k, started = started_kind(project, svc)
        if k is not None and role_of_kind(k) in ("devtool", "proxy"):
            r.kind, cat = k, role_of_kind(k)
    ports = m.get("ports")
    r.publishes = isinstance(ports, list) and len(ports) > 0
    if r.publishes:
        ev.append(f"publishes ports ({len(ports)})")
    nm = m.get("network_mode")
    r.network_mode = str(nm) if nm is not None else None

    # a dev tool is a third-party program: the source of its build context (the app's own, when
    # it builds from the project folder to install the tool) is not what runs there
    facts = _facts(ctx, project, name) if cat != "devtool" else None

    # ---- role
    override = _opt(ctx, name, "role")
    if isinstance(override, str) and override in ROLES:
        r.role = override
        ev.append(f"role {override} set in the configuration")
    elif cat in _CATALOG_TO_ROLE:
        r.role = _CATALOG_TO_ROLE[cat]
        ev.append(f"{started}: {r.kind} ({cat})" if started
                  else f"built from {built_from}, which is {r.kind} ({cat})" if built_from
                  else f"image {image} is {r.kind} ({cat})")
    elif facts is not None and getattr(facts, "serves_http", False):
        r.role = "web"
        ev.append("the app source serves HTTP")
    elif r.publishes:
        r.role = "web"
    elif m.get("build") is not None or m.get("command") is not None or image:
        r.role = "worker"
        ev.append("no published ports: an internal worker")

    # ---- whom it talks to
    def add(target: str, why: str, host: str | None = None) -> None:
        if target != name and project.service(target) is not None:
            if target not in r.talks_to:
                ev.append(f"talks to {target}: {why}")
            r.talks_to.add(target)
            if host is not None:
                r.hosts.setdefault(target, set()).add(host)

    for dep in _names_of(m.get("depends_on")):
        add(dep, "depends_on")
    for link in _names_of(m.get("links")):
        add(link.split(":", 1)[0], "links")
    for vf in _names_of(m.get("volumes_from")):
        if not vf.startswith("container:"):
            add(vf.split(":", 1)[0], "volumes_from")
    if r.network_mode and r.network_mode.startswith("service:"):
        add(r.network_mode.split(":", 1)[1], "network_mode")
    env = as_map(m.get("environment")) if not isinstance(m.get("environment"), str) else {}
    # env files the service reads: compose's `environment` wins over them for the same key
    sources: list[tuple[str, dict]] = []
    try:
        sources = [(f"env file {p}", vals) for p, vals in env_files(svc)]
    except Exception:
        sources = []
    sources.append(("environment", env))
    seen_keys: dict[str, tuple[str, Any]] = {}
    for where, vals in sources:
        for key, value in vals.items():
            seen_keys[str(key)] = (where, value)
    external_hosts: list[str] = []
    for key, (where, value) in seen_keys.items():
        from_file = where != "environment"
        label = f"{key} in {where[len('env file '):]}" if from_file else key
        for host in hosts_in(str(value), bare=hostish_key(key)) if value is not None else ():
            if host in others:
                add(others[host], f"{where} {key}" if from_file else f"environment {key}", host)
            elif host in _DOCKER_HOST_NAMES:
                # the Docker host itself: routed through the network's gateway, which an
                # internal network does not have
                external_hosts.append(f"{label} names the Docker host ({host})")
            elif re.fullmatch(r"\d{1,3}(?:\.\d{1,3}){3}", host):
                if not host.startswith(("127.", "0.")):
                    external_hosts.append(f"{label} names the address {host}, outside the compose networks")
            elif "." in host and host not in ("localhost",):
                if not host.endswith((".local", ".internal", ".svc", ".lan")) and re.search(r"\.[a-z]{2,}$", host):
                    external_hosts.append(f"{label} names {host}")
    for entry in _strings(m.get("extra_hosts")) if not isinstance(m.get("extra_hosts"), dict) else \
            [f"{k}:{v}" for k, v in m.get("extra_hosts").items()]:
        hname, _, addr = entry.replace("=", ":", 1).partition(":")
        if hname and addr:
            external_hosts.append(f"extra_hosts maps {hname.strip()} to {addr.strip()}, outside the compose networks")
    for key in ("command", "entrypoint", "healthcheck"):
        for s in _strings(m.get(key)):
            for host in hosts_in(s):
                if host in others and others[host] != name and len(host) > 1:
                    # a bare word in a command is weaker evidence: require host:port or a URL
                    if re.search(rf"(?:{re.escape(host)}:\d|//{re.escape(host)}\b|-h\s*{re.escape(host)}\b|--host[= ]{re.escape(host)}\b)", s, re.I):
                        add(others[host], key, host)
    if facts is not None:
        # env variables the code reads for hosts: their values in this service's environment
        for var in getattr(facts, "env_hosts", None) or ():
            value = seen_keys.get(var, (None, None))[1]
            for host in hosts_in(str(value)) if value is not None else ():
                if host in others:
                    add(others[host], f"the app source reads {var}", host)
        try:
            from .facts import referenced_services

            for target in referenced_services(facts):
                if str(target).lower() in others:
                    add(others[str(target).lower()], "the app source refers to it")
        except Exception:  # facts from an older cache entry
            pass
        clients = getattr(facts, "clients", None) or ()
        for client in clients:
            c = str(client).lower()
            for other in project.services():
                if other.name == name:
                    continue
                ok = image_kind(other.image) if other.image else None
                if ok and (ok == c or ok.startswith(c) or c.startswith(ok)):
                    add(other.name, f"the app source uses a {c} client")
    spring = None
    if cat is None:
        env_values = {k: str(v) for k, (_w, v) in seen_keys.items() if v is not None}
        try:
            spring = spring_talks(project, svc, env_values)
        except Exception:  # never let a reading of the app's files fail the transform
            spring = None
    if spring is not None:
        talks, how = spring
        if how != "its build context":
            ev.append(f"its source: {how}")
        for host, where in sorted(talks.hosts.items()):
            if host in others:
                add(others[host], f"{host} in {where}", host)
            elif host not in aliases and "." in host and re.search(r"\.[a-z]{2,}$", host) and \
                    not host.endswith((".local", ".internal", ".svc", ".lan", ".example", ".test")):
                external_hosts.append(f"{where} names {host}")
        for lit, fname in sorted(talks.literals.items()):
            if lit in others and len(lit) > 1:
                add(others[lit], f'the string "{lit}" in {fname}', lit)
        for host, fname in sorted(talks.file_hosts.items()):
            if host in others:
                add(others[host], f"{host} in {fname}", host)
        if talks.discovery:
            regs = sorted({aliases.get(h, h) for h in talks.registry_hosts})
            kind = "Eureka" if "Eureka" in talks.discovery else \
                talks.discovery.split("through ", 1)[-1].split(" (")[0]
            r.discovery = f"{kind} at {', '.join(regs) or 'an unnamed registry'}"
    if r.discovery is None and not r.store:
        for key, (_w, value) in seen_keys.items():
            if re.sub(r"[-_.]", "", str(key)).lower().startswith("eurekaclientserviceurl") and value:
                regs = sorted({aliases.get(h, h) for h in hosts_in(str(value), bare=False)})
                r.discovery = f"Eureka at {', '.join(regs) or 'an unnamed registry'}"
                ev.append(f"environment {key}: a Eureka client; the clients of {regs[0] if regs else 'it'} "
                          "stay on the same networks")
                break
    if r.role == "proxy" or r.kind == "traefik":
        if r.kind == "traefik":
            for other in project.services():
                labels = other.merged.get("labels")
                keys = _names_of(labels) if isinstance(labels, dict) else [str(x).split("=", 1)[0] for x in labels or []]
                if other.name != name and any(k.startswith("traefik.") for k in keys):
                    add(other.name, "Traefik labels")
        for target, fname in _proxy_upstreams(project, svc, others).items():
            add(target, f"upstream in {fname}")

    tracing = configured_only(str(image)) if image and m.get("build") is None else None
    if tracing is not None:
        for target, fname in _mounted_hosts(project, svc, others).items():
            add(target, f"named in {fname}")
    configured = _opt(ctx, name, "talks_to")
    if isinstance(configured, list):
        for target in configured:
            if project.service(str(target)) is None:
                ev.append(f"talks_to in the configuration names {target}, which is not a service here")
            add(str(target), "talks_to set in the configuration")

    labels = m.get("labels")
    label_keys = [str(k) for k in labels] if isinstance(labels, dict) else \
        [str(x).split("=", 1)[0] for x in labels or [] if isinstance(labels, list)]
    if any(k.startswith(("traefik.http.routers", "traefik.tcp.routers", "caddy")) or k == "traefik.enable"
           for k in label_keys):
        r.ingress = True
        ev.append("a reverse proxy routes to it (labels)")
    elif "VIRTUAL_HOST" in env:
        r.ingress = True
        ev.append("a reverse proxy routes to it (VIRTUAL_HOST)")

    # is talks_to complete?
    if isinstance(configured, list):
        r.talks_known = True
        ev.append(f"talks to {', '.join(sorted(map(str, configured))) or 'no other service'} (set in the configuration)")
    elif r.store or r.role == "proxy":
        r.talks_known = True
    elif tracing is not None:
        # a tracing backend opens connections only where its configuration says (its span storage)
        r.talks_known = True
        ev.append(f"image {image} is {tracing}, which connects only where its configuration says")
    elif r.role == "devtool":
        r.talks_known = r.kind not in DB_UI_KINDS or bool(r.talks_to)
    elif spring is not None:
        talks = spring[0]
        if not talks.complete:
            r.unknown_why = talks.gaps[0]
            ev.append(f"whom it talks to is not known: {talks.gaps[0]}")
        else:
            r.talks_known = True
            ev.append("its Spring configuration and code name every host it connects to")
        if talks.discovery:
            ev.append(f"{talks.discovery}: it reaches the services it calls at the address each registers, "
                      f"on one of its networks; the clients of {r.discovery.split(' at ', 1)[1]} stay on the "
                      "same networks")
    elif _grounded(facts) and getattr(facts, "clients", None) is not None:
        r.talks_known = True

    # ---- egress (the safe side wins: any sign of outside calls beats a "none found")
    eg = _bool_opt(_opt(ctx, name, "egress"))
    hints = [f"environment {k}" if w == "environment" else f"{k} in {w[len('env file '):]}"
             for k, (w, _v) in seen_keys.items() if _EGRESS_KEY.search(str(k))] + external_hosts
    if eg is not None:
        r.egress = eg
        ev.append(f"egress {'on' if eg else 'off'} set in the configuration")
    elif facts is not None and getattr(facts, "egress", None) is True:
        r.egress = True
        ev.append("the app source calls the internet")
    elif r.store or r.role == "devtool":
        r.egress = False
    elif hints:
        r.egress = True
        ev.append("calls the internet: " + ", ".join(hints[:3]))
    elif _grounded(facts) and getattr(facts, "egress", None) is False:
        r.egress = False
        ev.append("the app source makes no outside calls")
    return r


def classify_all(project: Any, ctx: Any = None) -> dict[str, Role]:
    return {s.name: classify(project, s, ctx) for s in project.services()}
