"""The JVM (Java, Kotlin, Scala): what harden knows about running maven, gradle and sbt as the
start command, and whom a Spring service talks to. A Dockerfile that builds with them is not
split (shell.FOREIGN).

Hooks (harden.stacks): START_BUILD (non-root-user). Spring: ``spring_talks``, ``served_by``,
``read_spring`` (harden.roles, for the networks transform and `harden inspect`).
"""

from __future__ import annotations

import re

# `mvnw spring-boot:run`, `gradle bootRun`, `sbt run` as the start command compile into target/
# or build/ in the app folder and keep their dependency cache under root's home
START_BUILD = re.compile(r"(?m)^[^#\n]*?(?:^|[\s\"'/\[,;&|])((?:mvnw?|gradlew?)[\"',\s]+[\w:.-]*|"
                         r"sbt\b[\"',\s]*(?:run|~)?)")


# ------------------------------------------------------------------ Spring: whom a service talks to
#
# A Spring Boot service names the hosts it connects to in its configuration, not in its code:
# application*.yml|yaml|properties and bootstrap*.* on its classpath (src/main/resources, and its
# config/ folder) or beside the jar (./, ./config/), placeholders resolved from the environment,
# and, with Spring Cloud Config, the files a config server serves for its spring.application.name.
# `read_spring` reads one build context; `served_by` reads what a native config server serves.
# Hosts are returned as written; the caller (harden.roles) maps them to compose services.
# Everything here is read-only and bounded; what harden cannot read is a gap, and a service
# with a gap is not "known" (whom it talks to may be more than what was found).

import os  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Iterable  # noqa: E402

from ..record import field, record  # noqa: E402

_SPRING_EXT = (".yml", ".yaml", ".properties")
_OWN_CONFIG = re.compile(r"^(?:application|bootstrap)(?:-[^/\\]+)?\.(?:ya?ml|properties)$", re.I)
_SOURCE_EXT = (".java", ".kt", ".kts", ".groovy", ".scala")
# other text files of the context that may name a host (a start script's JAVA_OPTS, a Dockerfile's
# ENV, an env file); the configuration files are read as configuration
_TEXT_EXT = (".sh", ".bash", ".env", ".conf", ".cfg", ".ini", ".json", ".xml", ".yml", ".yaml", ".properties",
             ".toml", ".txt", ".gradle", ".sbt", ".cmd", ".bat", ".ps1")
MAX_TEXT_FILE = 1_000_000
_SKIP_DIRS = {".git", "target", "build", "out", "node_modules", ".gradle", ".mvn", ".idea", "bin", ".settings"}
MAX_SOURCE_FILES = 4000
MAX_SOURCE_BYTES = 40_000_000
MAX_CONFIG_BYTES = 2_000_000
# last segment of a property whose bare value is a host name (spring.redis.host: cache)
_HOSTISH_SEGMENT = re.compile(r"(host|hosts|address|addresses|servers|server|nodes|uri|uris|url|urls|"
                              r"endpoint|endpoints|defaultzone|contactpoints|connectstring|serveraddr|"
                              r"brokerurl|serviceid|zone)$")
_SPRING_DEFAULT = re.compile(r"\$\{([^{}:]+)(?::([^{}]*))?\}")
_STRING = re.compile(r'"((?:[^"\\\n]|\\.){1,300})"')
_ORACLE_AT = re.compile(r"@(?://)?([A-Za-z0-9][A-Za-z0-9_.-]*):\d+")


@record
class SpringConfig:
    """What one Spring service's own configuration says."""

    files: list[str] = field(default_factory=list)  # read, relative to the context
    props: list[tuple[str, str, str]] = field(default_factory=list)  # (key, raw value, file)
    gaps: list[str] = field(default_factory=list)  # what could not be read, or says more is read elsewhere

    def get(self, key: str) -> str | None:
        """The first value of a property, matched the way Spring binds (relaxed: case, `-`, `_`)."""
        want = norm_key(key)
        for k, v, _f in self.props:
            if norm_key(k) == want:
                return v
        return None

    def items(self, prefix: str) -> list[tuple[str, str, str]]:
        p = norm_key(prefix)
        return [(k, v, f) for k, v, f in self.props if norm_key(k).startswith(p)]


@record
class SpringTalks:
    """Hosts a Spring service names, where each is named, and whether that is everything."""

    hosts: dict[str, str] = field(default_factory=dict)  # host -> where it is named (first)
    literals: dict[str, str] = field(default_factory=dict)  # bare string literals of the code -> file
    # hosts written as URLs or host:port in the context's other text files (scripts, Dockerfile,
    # env files, build files): the caller keeps those that are services of the project
    file_hosts: dict[str, str] = field(default_factory=dict)
    gaps: list[str] = field(default_factory=list)
    config_hosts: list[str] = field(default_factory=list)  # spring.cloud.config.uri hosts
    app_name: str | None = None
    discovery: str | None = None  # why it finds peers through a registry (Eureka, Consul, ...)
    registry_hosts: list[str] = field(default_factory=list)  # the registry's hosts, as written

    @property
    def complete(self) -> bool:
        return not self.gaps


def norm_key(key: str) -> str:
    return re.sub(r"[-_]", "", str(key)).lower()


def is_jvm_context(context: Path) -> bool:
    """A JVM project: a maven/gradle/sbt build file, or sources under src/main/(java|kotlin|...)."""
    from . import is_jvm_context as registry_says

    return registry_says(context)


def _walk(root: Path) -> Iterable[Path]:
    """Files under ``root``, build outputs, VCS folders and test sources (src/test*) aside."""
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        keep = []
        for d in sorted(dirnames):
            if d in _SKIP_DIRS or (here.name == "src" and d.lower().startswith(("test", "it", "integration"))):
                continue
            keep.append(d)
        dirnames[:] = keep
        for f in sorted(filenames):
            yield here / f


def flatten_yaml(text: str) -> list[tuple[str, str]]:
    """A YAML document (or several, `---`) as (dotted key, value) pairs; lists as key[i]."""
    import yaml

    out: list[tuple[str, str]] = []

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(f"{prefix}[{i}]", v)
        elif node is not None:
            out.append((prefix, node if isinstance(node, str) else str(node).lower() if isinstance(node, bool)
                        else str(node)))

    for doc in yaml.safe_load_all(text):
        walk("", doc)
    return out


def parse_properties(text: str) -> list[tuple[str, str]]:
    """A .properties file as (key, value) pairs (comments, `=`/`:`/space separators, `\\` line
    continuations)."""
    out: list[tuple[str, str]] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].lstrip()
        i += 1
        if not line or line[0] in "#!":
            continue
        while line.endswith("\\") and not line.endswith("\\\\") and i < len(lines):
            line = line[:-1] + lines[i].lstrip()
            i += 1
        m = re.match(r"((?:[^\s:=\\]|\\.)+)\s*[:=\s]\s*(.*)$", line)
        if m:
            out.append((m.group(1).replace("\\", ""), m.group(2).strip()))
        else:
            out.append((line.strip(), ""))
    return out


def read_config_files(files: list[Path], root: Path, into: SpringConfig) -> None:
    for p in files:
        rel = _rel(p, root)
        try:
            if p.stat().st_size > MAX_CONFIG_BYTES:
                into.gaps.append(f"{rel} is too large to read")
                continue
            text = p.read_text(encoding="utf-8", errors="replace")
            pairs = parse_properties(text) if p.suffix.lower() == ".properties" else flatten_yaml(text)
        except Exception as e:  # a YAML file that does not parse: Spring would not start either
            into.gaps.append(f"{rel} could not be read ({type(e).__name__})")
            continue
        into.files.append(rel)
        into.props += [(k, v, rel) for k, v in pairs]


def _rel(p: Path, root: Path) -> str:
    try:
        return p.relative_to(root).as_posix()
    except ValueError:
        return p.as_posix()


def resources_dirs(context: Path) -> list[Path]:
    """Every src/main/resources of the context (a multi-module build has one per module)."""
    out = []
    for dirpath, dirnames, _files in os.walk(context):
        here = Path(dirpath)
        dirnames[:] = [d for d in sorted(dirnames) if d not in _SKIP_DIRS
                       and not (here.name == "src" and d != "main")]
        if here.name == "resources" and here.parent.name == "main" and here.parent.parent.name == "src":
            out.append(here)
            dirnames[:] = []
    return out


def _files_in(folders: list[Path], name: re.Pattern) -> list[Path]:
    """The files directly in ``folders`` whose name matches, each folder's sorted."""
    files: list[Path] = []
    for folder in folders:
        try:
            files += sorted(p for p in folder.iterdir() if p.is_file() and name.match(p.name))
        except OSError:
            continue
    return files


def read_spring(context: Path) -> SpringConfig:
    """A service's own Spring configuration: application*/bootstrap* files where Spring Boot
    looks for them (classpath root and config/ of every module, the context's ./ and ./config/,
    where a Dockerfile copies them beside the jar)."""
    cfg = SpringConfig()
    folders = []
    for res in resources_dirs(context):
        folders += [res, res / "config"]
    folders += [context, context / "config"]
    read_config_files(_files_in(folders, _OWN_CONFIG), context, cfg)
    for key in ("spring.config.location", "spring.config.additional-location"):
        v = cfg.get(key)
        if v:
            cfg.gaps.append(f"{key} ({v}) points Spring at configuration harden does not read")
    for k, v, f in cfg.items("spring.config.import"):
        for part in str(v).split(","):
            part = part.strip()
            if part and not part.startswith(("optional:configserver:", "configserver:")):
                cfg.gaps.append(f"spring.config.import in {f} imports {part}, which harden does not read")
    return cfg


def resolve(value: str, env: dict[str, str], cfg: SpringConfig | None = None, depth: int = 0) -> str | None:
    """``${NAME:default}`` placeholders resolved the way Spring does for a container: the
    environment (NAME, or its relaxed form SPRING_DATA_MONGODB_HOST), then the configuration,
    then the default. None when one stays unknown."""
    s = str(value)
    for _ in range(20):
        m = _SPRING_DEFAULT.search(s)
        if m is None:
            return s
        name, default = m.group(1).strip(), m.group(2)
        got = env.get(name)
        if got is None:
            got = env.get(re.sub(r"[.-]", "_", name).replace("[", "_").replace("]", "").upper())
        if got is None and cfg is not None and depth < 5:
            raw = cfg.get(name)
            got = resolve(raw, env, cfg, depth + 1) if raw is not None else None
        if got is None:
            got = default
        if got is None:
            return None
        s = s[:m.start()] + str(got) + s[m.end():]
    return None


def _segment(key: str) -> str:
    return norm_key(re.sub(r"\[\d+\]$", "", key).rsplit(".", 1)[-1])


def hosts_of(value: str, key: str) -> set[str]:
    """Host names one property value names (URLs, host:port, jdbc:oracle @host:port, and the
    bare value of a host-ish key)."""
    from ..roles import hosts_in

    bare = bool(_HOSTISH_SEGMENT.search(_segment(key))) and not re.fullmatch(r"(?i)true|false|[\d.]+", value.strip())
    hosts = hosts_in(value, bare=bare)
    hosts |= {m.group(1).lower() for m in _ORACLE_AT.finditer(value)}
    return hosts


def discovery_of(cfg: SpringConfig, env: dict[str, str]) -> str | None:
    """Why the service finds the services it calls through a registry, or None. A registry
    hands out each service's address on one of its networks (with prefer-ip-address, the
    first interface's IP), which harden cannot tell from here."""
    def val(key: str) -> str | None:
        raw = cfg.get(key)
        return resolve(raw, env, cfg) if raw is not None else None

    def off(key: str) -> bool:
        return str(val(key) or "").strip().lower() == "false"

    zones = [k for k, _v, _f in cfg.items("eureka.client.serviceurl")] + \
        [k for k, _v, _f in cfg.items("eureka.client.service-url")]
    if zones and not off("eureka.client.enabled") and not (off("eureka.client.register-with-eureka")
                                                             and off("eureka.client.fetch-registry")):
        return "it is a Eureka client (eureka.client.serviceUrl)"
    for key, what in (("spring.cloud.consul.host", "Consul"), ("spring.cloud.zookeeper.connect-string", "ZooKeeper"),
                      ("spring.cloud.nacos.discovery.server-addr", "Nacos")):
        if cfg.get(key) is not None and not off(key.rsplit(".", 1)[0] + ".enabled"):
            return f"it finds services through {what} ({key})"
    return None


def scan_code(context: Path) -> SpringTalks:
    """What the context's code and other text files name (``literals``, ``hosts``,
    ``file_hosts``, ``gaps``): one walk of the context, the same for every service built there."""
    out = SpringTalks()
    _code_literals(context, out)
    return out


def spring_talks(context: Path, env: dict[str, str], served: "SpringConfig | None" = None,
                 cfg: SpringConfig | None = None, code: SpringTalks | None = None) -> SpringTalks:
    """Hosts one Spring service names: its own configuration, the configuration a config
    server serves it (``served``, already read by the caller; None when it uses none), and the
    string literals of its code (``code``: scan_code's, when the caller has it already)."""
    cfg = cfg if cfg is not None else read_spring(context)
    code = code if code is not None else scan_code(context)
    out = SpringTalks(gaps=list(cfg.gaps) + list(code.gaps), literals=dict(code.literals),
                      file_hosts=dict(code.file_hosts))
    whole = SpringConfig(files=list(cfg.files), props=list(cfg.props))
    if served is not None:
        whole.props += served.props
        whole.files += served.files
        out.gaps += served.gaps
    name = cfg.get("spring.application.name")
    out.app_name = resolve(name, env, cfg) if name is not None else None
    for k, v, f in whole.props:
        got = resolve(v, env, whole)
        if got is None:
            if _HOSTISH_SEGMENT.search(_segment(k)):
                out.gaps.append(f"{k} in {f} is {v}, a value harden cannot see")
            continue
        for h in hosts_of(got, k):
            out.hosts.setdefault(h, f"{k} in {f}")
            if norm_key(k).startswith(norm_key("spring.cloud.config.uri")):
                out.config_hosts.append(h)
        if norm_key(k) == norm_key("spring.config.import"):
            for part in got.split(","):
                if "configserver:" in part:
                    for h in hosts_of(part.split("configserver:", 1)[1], "uri"):
                        out.config_hosts.append(h)
    for h, where in code.hosts.items():
        out.hosts.setdefault(h, where)
    out.discovery = discovery_of(whole, env)
    if out.discovery:
        for k, v, _f in whole.props:
            nk = norm_key(k)
            if nk.startswith(("eureka.client.serviceurl", "spring.cloud.consul.host",
                              "spring.cloud.zookeeper.connectstring", "spring.cloud.nacos.discovery.serveraddr")):
                got = resolve(v, env, whole)
                out.registry_hosts += sorted(hosts_of(got, "host")) if got is not None else []
    return out


def _code_literals(context: Path, out: SpringTalks) -> None:
    """String literals of the code (src/main, not tests): URLs and host:port they name, and
    literals that are a bare word (the caller keeps those that are a service's name: a Feign
    client's name, a RestTemplate host)."""
    n = size = 0
    for p in _walk(context):
        if p.suffix not in _SOURCE_EXT:
            if p.suffix.lower() in _TEXT_EXT or p.name.lower().startswith(("dockerfile", "containerfile")) \
                    or p.name.lower().endswith((".dockerfile", "env")):
                _text_hosts(p, context, out)
            continue
        n += 1
        try:
            size += p.stat().st_size
            if n > MAX_SOURCE_FILES or size > MAX_SOURCE_BYTES:
                out.gaps.append(f"the code under {context.name or '.'} is larger than harden reads "
                                f"({MAX_SOURCE_FILES} files, {MAX_SOURCE_BYTES // 1_000_000} MB)")
                return
            text = p.read_text(encoding="utf-8", errors="replace")
        except OSError:
            out.gaps.append(f"{_rel(p, context)} could not be read")
            continue
        rel = _rel(p, context)
        for m in _STRING.finditer(text):
            lit = _SPRING_DEFAULT.sub(lambda x: x.group(2) or "", m.group(1))
            if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", lit):
                out.literals.setdefault(lit.lower(), rel)
            for h in hosts_of(lit, "value"):
                out.hosts.setdefault(h, f"a string in {rel}")


def _text_hosts(p: Path, context: Path, out: SpringTalks) -> None:
    from ..roles import hosts_in

    try:
        if p.stat().st_size > MAX_TEXT_FILE:
            return  # a data file, not a script or a configuration
        text = p.read_text(encoding="utf-8", errors="replace")
    except OSError:
        out.gaps.append(f"{_rel(p, context)} could not be read")
        return
    if "\x00" in text:
        return
    rel = _rel(p, context)
    for h in hosts_in(text, bare=False) | {m.group(1).lower() for m in _ORACLE_AT.finditer(text)}:
        out.file_hosts.setdefault(h, rel)


# ------------------------------------------------------------ Spring Cloud Config (native backend)

def served_by(server_context: Path, app_name: str | None, env: dict[str, str]) -> SpringConfig:
    """What a Spring Cloud Config server built from ``server_context`` serves an application,
    with the native backend: <location>/<app>[-profile].* and application[-profile].* of each
    search location on its classpath. Anything else (a git backend, file: locations, names
    with placeholders) is a gap: harden cannot see what it serves."""
    own = read_spring(server_context)
    out = SpringConfig(gaps=[f"config server: {g}" for g in own.gaps])
    profiles = str(resolve(own.get("spring.profiles.active") or "", env, own) or "")
    locations = own.get("spring.cloud.config.server.native.search-locations") or \
        own.get("spring.cloud.config.server.native.searchLocations")
    git = own.get("spring.cloud.config.server.git.uri")
    native = "native" in [p.strip() for p in profiles.split(",")] or locations is not None
    if env.get("SPRING_PROFILES_ACTIVE"):
        native = native or "native" in env["SPRING_PROFILES_ACTIVE"].split(",")
    if not native or git is not None:
        out.gaps.append(f"the config server in {server_context.name or '.'} does not serve from its classpath "
                        "(native profile); harden cannot read what it serves")
        return out
    if not app_name:
        out.gaps.append("spring.application.name is not known, so which files the config server serves is not")
        return out
    locs = resolve(locations, env, own) if locations is not None else "classpath:/,classpath:/config"
    if locs is None:
        out.gaps.append(f"the config server's search-locations ({locations}) hold a value harden cannot see")
        return out
    dirs: list[Path] = []
    res = resources_dirs(server_context)
    for loc in (x.strip() for x in locs.split(",")):
        if not loc:
            continue
        if "{" in loc or not loc.startswith("classpath:"):
            out.gaps.append(f"the config server serves from {loc}, which harden does not read")
            continue
        sub = loc[len("classpath:"):].strip("/")
        dirs += [r / sub for r in res]
    names = re.compile(rf"^(?:application|{re.escape(app_name)})(?:-[^/\\]+)?\.(?:ya?ml|properties)$", re.I)
    read_config_files(_files_in(dirs, names), server_context, out)
    out.files = [f"{server_context.name}/{f}" for f in out.files]
    out.props = [(k, v, f"{server_context.name}/{f}") for k, v, f in out.props]
    return out
