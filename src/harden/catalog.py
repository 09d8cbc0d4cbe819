"""What harden knows about public images: what a service is from its image reference.

``parse_image("docker.io/bitnami/mysql:8.0@sha256:..")`` -> ImageRef(registry, namespace, name,
tag, digest). ``image_kind(ref)`` -> "mysql", "mariadb", "postgres", ... and ``role_of_kind`` ->
"database" | "cache" | "queue" | "search" | "devtool" | "proxy" | None.

Transforms extend the tables here rather than keep their own copies.
"""

from __future__ import annotations

import re
from .record import record


@record(frozen=True)
class ImageRef:
    raw: str
    registry: str | None
    namespace: str | None  # "library" for official images, "bitnami", "dpage", ...
    name: str  # last path component, lower case: "mysql", "pgadmin4", "server"
    path: str  # full repository path without registry: "library/mysql", "mssql/server"
    tag: str | None
    digest: str | None

    @property
    def variable(self) -> bool:
        return "$" in self.raw

    def major(self) -> int | None:
        """The leading number of the tag (``8.0`` -> 8, ``10.11-jammy`` -> 10), when any."""
        if not self.tag:
            return None
        m = re.match(r"^v?(\d+)", self.tag)
        return int(m.group(1)) if m else None

    def version(self) -> tuple[int, ...] | None:
        if not self.tag:
            return None
        m = re.match(r"^v?(\d+(?:\.\d+)*)", self.tag)
        return tuple(int(x) for x in m.group(1).split(".")) if m else None


def parse_image(image: str | None) -> ImageRef | None:
    if not image:
        return None
    raw = str(image).strip()
    s = raw
    digest = None
    if "@" in s:
        s, digest = s.split("@", 1)
    parts = s.split("/")
    registry = None
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        registry = parts[0]
        parts = parts[1:]
    last = parts[-1]
    tag = None
    if ":" in last:
        last, tag = last.rsplit(":", 1)
    parts[-1] = last
    path = "/".join(parts).lower()
    namespace = "/".join(parts[:-1]).lower() or None
    if namespace is None and registry in (None, "docker.io", "index.docker.io", "registry-1.docker.io"):
        namespace = "library"
        path = "library/" + path
    return ImageRef(raw, registry, namespace, last.lower(), path, tag, digest)


# kind -> (role, names or paths that identify it). A name matches the last path component;
# an entry with "/" must match the end of the repository path.
KINDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "mysql": ("database", ("mysql", "mysql-server", "percona", "percona-server")),
    "mariadb": ("database", ("mariadb",)),
    "postgres": ("database", ("postgres", "postgresql", "postgis", "timescaledb", "timescaledb-ha",
                              "pgvector", "postgresql-repmgr", "supabase/postgres")),
    "mongo": ("database", ("mongo", "mongodb", "mongodb-community-server")),
    "mssql": ("database", ("mssql/server", "azure-sql-edge")),
    "cockroach": ("database", ("cockroach",)),
    "clickhouse": ("database", ("clickhouse-server",)),
    "cassandra": ("database", ("cassandra",)),
    "couchdb": ("database", ("couchdb",)),
    "neo4j": ("database", ("neo4j",)),
    "influxdb": ("database", ("influxdb",)),
    # Redis with modules (Redis Labs' redismod, rejson, ...) is Redis with redis-cli
    "redis": ("cache", ("redis", "redis-stack-server", "redis-stack", "redismod", "rejson", "redisearch",
                        "redistimeseries", "redisgraph", "redisbloom", "redisai", "redisgears")),
    "valkey": ("cache", ("valkey",)),
    "keydb": ("cache", ("keydb",)),
    "dragonfly": ("cache", ("dragonfly",)),
    "memcached": ("cache", ("memcached",)),
    "rabbitmq": ("queue", ("rabbitmq",)),
    "kafka": ("queue", ("kafka", "cp-kafka")),
    "zookeeper": ("queue", ("zookeeper", "cp-zookeeper")),
    "nats": ("queue", ("nats",)),
    "activemq": ("queue", ("activemq", "activemq-artemis")),
    "elasticsearch": ("search", ("elasticsearch",)),
    "opensearch": ("search", ("opensearch",)),
    "meilisearch": ("search", ("meilisearch",)),
    "typesense": ("search", ("typesense",)),
    "minio": ("store", ("minio",)),
    # dev tools
    "adminer": ("devtool", ("adminer",)),
    "phpmyadmin": ("devtool", ("phpmyadmin",)),
    "pgadmin": ("devtool", ("pgadmin4", "pgadmin")),
    "mailhog": ("devtool", ("mailhog",)),
    "mailpit": ("devtool", ("mailpit",)),
    "maildev": ("devtool", ("maildev",)),
    "mailcatcher": ("devtool", ("mailcatcher",)),
    "smtp4dev": ("devtool", ("smtp4dev",)),
    "redis-commander": ("devtool", ("redis-commander",)),
    "redisinsight": ("devtool", ("redisinsight",)),
    "mongo-express": ("devtool", ("mongo-express",)),
    "kafka-ui": ("devtool", ("kafka-ui",)),
    "dbgate": ("devtool", ("dbgate",)),
    "cloudbeaver": ("devtool", ("cloudbeaver",)),
    "swagger-ui": ("devtool", ("swagger-ui",)),
    "prisma-studio": ("devtool", ("prisma-studio",)),
    # proxies
    "nginx": ("proxy", ("nginx", "nginx-unprivileged", "openresty", "nginx-proxy")),
    "traefik": ("proxy", ("traefik",)),
    "caddy": ("proxy", ("caddy",)),
    "haproxy": ("proxy", ("haproxy",)),
    "httpd": ("proxy", ("httpd", "apache")),
    "envoy": ("proxy", ("envoy",)),
}

_BY_NAME: dict[str, str] = {}
_BY_PATH: dict[str, str] = {}
for _kind, (_role, _names) in KINDS.items():
    for _n in _names:
        if "/" in _n:
            _BY_PATH[_n] = _kind
        else:
            _BY_NAME[_n] = _kind


_WITH_DEFAULT = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*:?-([^}$]*)\}")


def resolve_default(image: str) -> str | None:
    """``${DB_IMAGE:-postgres:16}`` -> ``postgres:16``; another variable -> None."""
    m = re.fullmatch(r"\$\{[A-Za-z_][A-Za-z0-9_]*:?-([^}$]+)\}", image.strip())
    if m:
        return m.group(1)
    if "$" in image and _WITH_DEFAULT.search(image):
        # every part from a variable with a default (`${NAME:-ghcr.io/acme/db}:${TAG:-v2}`):
        # what compose runs with them unset
        image = _WITH_DEFAULT.sub(lambda x: x.group(1), image.strip())
        if "$" not in image:
            return image if image and not image.startswith((":", "/")) and not image.endswith((":", "/")) else None
    if "$" in image:
        # a variable tag (postgres:${PG_VERSION:-16}): keep the repository, use the default tag
        m2 = re.fullmatch(r"([^$]+):\$\{[A-Za-z_][A-Za-z0-9_]*:?-([^}$]+)\}", image.strip())
        if m2:
            return f"{m2.group(1)}:{m2.group(2)}"
        m3 = re.fullmatch(r"([^$:]+):\$\{?[A-Za-z_][A-Za-z0-9_]*\}?", image.strip())
        if m3:
            return m3.group(1)  # tag unknown
        return None
    return image


def _ref(image: str | ImageRef | None) -> ImageRef | None:
    """An image reference parsed; one with a variable is read through its default."""
    if isinstance(image, str) and "$" in image:
        image = resolve_default(image)
    return parse_image(image) if isinstance(image, str) or image is None else image


def image_kind(image: str | ImageRef | None) -> str | None:
    """The kind of an image; a reference with a variable (``postgres:${PG_VERSION:-16}``,
    ``${DB_IMAGE:-mariadb:11}``) is read through its default, as compose would run it unset."""
    ref = _ref(image)
    if ref is None:
        return None
    for p, kind in _BY_PATH.items():
        if ref.path == p or ref.path.endswith("/" + p):
            return kind
    return _BY_NAME.get(ref.name)


# images that connect only to the hosts their configuration names (environment, command, mounted
# config files): tracing backends and collectors. Whom such a service talks to is then known from
# the compose file: nothing, unless it names a store for its spans.
CONFIGURED_ONLY: dict[str, tuple[str, ...]] = {
    "jaeger": ("jaegertracing/all-in-one", "jaegertracing/jaeger", "jaegertracing/jaeger-collector",
               "jaegertracing/jaeger-query"),
    "zipkin": ("openzipkin/zipkin", "openzipkin/zipkin-slim"),
    "otel-collector": ("otel/opentelemetry-collector", "otel/opentelemetry-collector-contrib"),
}


def configured_only(image: str | ImageRef | None) -> str | None:
    """The name of a CONFIGURED_ONLY image (``jaegertracing/all-in-one:1.57`` -> "jaeger"), or None."""
    ref = _ref(image)
    if ref is None:
        return None
    for kind, paths in CONFIGURED_ONLY.items():
        if ref.path in paths:
            return kind
    return None


# programs that are a catalog kind by the name they run as: a Dockerfile that installs a tool on a
# language image (`RUN npm i -g maildev` + `CMD maildev`), or a command that starts it
PROGRAM_KINDS: dict[str, str] = {
    "maildev": "maildev", "mailhog": "mailhog", "mailpit": "mailpit", "smtp4dev": "smtp4dev",
    "mailcatcher": "mailcatcher", "redis-commander": "redis-commander", "mongo-express": "mongo-express",
    "nginx": "nginx", "openresty": "nginx", "caddy": "caddy", "haproxy": "haproxy", "traefik": "traefik",
    "envoy": "envoy",
}
# a tool started through a CLI's subcommand: (program, subcommand) -> kind
SUBCOMMAND_KINDS: dict[tuple[str, str], str] = {("prisma", "studio"): "prisma-studio"}
# what starts a program without being it
_LAUNCHERS = {"exec", "npx", "bunx", "pnpx", "tini", "dumb-init", "nohup", "--"}
_LAUNCHER_SUBCOMMANDS = {("npm", "exec"), ("pnpm", "exec"), ("pnpm", "dlx"), ("yarn", "dlx"), ("yarn", "exec"),
                         ("bun", "x")}
_SHELLS = {"sh", "bash", "ash", "dash", "zsh", "/bin/sh", "/bin/bash", "/bin/ash", "/usr/bin/env"}


_PROGRAM_KINDS_SEEN: dict[tuple[str, ...], str | None] = {}


def program_kind(words: list[str]) -> str | None:
    """The catalog kind a start command runs (``["npx", "prisma", "studio"]`` -> "prisma-studio",
    ``["maildev"]``, ``["nginx-entrypoint.sh"]`` -> "nginx"), or None. Launchers (`npx`, `npm
    exec`, `exec`, `tini --`), option words after them and one `sh -c "..."` are looked through;
    the program's name is its file name, a `-entrypoint`/`-start` suffix and `.sh` dropped.
    A pure function of the words, remembered for the run (roles asks it for every service of
    every compose combination, and `sh -c` goes through shlex)."""
    key = tuple(str(w) for w in words)
    if key not in _PROGRAM_KINDS_SEEN:
        _PROGRAM_KINDS_SEEN[key] = _program_kind(list(key))
    return _PROGRAM_KINDS_SEEN[key]


def _program_kind(ws: list[str]) -> str | None:
    import shlex

    for _ in range(3):
        if len(ws) >= 3 and ws[0].rsplit("/", 1)[-1] in {x.rsplit("/", 1)[-1] for x in _SHELLS} and ws[1] == "-c":
            try:
                ws = shlex.split(ws[2])
            except ValueError:
                ws = ws[2].split()
            for sep in ("&&", ";", "||", "|"):
                if sep in ws:
                    ws = ws[:ws.index(sep)]
            continue
        break
    i = 0
    while i < len(ws):
        w = ws[i].rsplit("/", 1)[-1]
        if w in _LAUNCHERS or (w.startswith("-") and i > 0):
            i += 1
        elif i + 1 < len(ws) and (w, ws[i + 1]) in _LAUNCHER_SUBCOMMANDS:
            i += 2
        elif w in ("yarn", "pnpm", "bun") and i + 1 < len(ws) and ws[i + 1] in {p for p, _ in SUBCOMMAND_KINDS}:
            i += 1  # `yarn prisma studio` runs the package's own binary
        else:
            break
    if i >= len(ws):
        return None
    prog = ws[i].rsplit("/", 1)[-1]
    if i + 1 < len(ws) and (prog, ws[i + 1]) in SUBCOMMAND_KINDS:
        return SUBCOMMAND_KINDS[(prog, ws[i + 1])]
    base = re.sub(r"\.sh$", "", prog)
    base = re.sub(r"[-_](?:entrypoint|start|run|debug|wrapper)$", "", base)
    return PROGRAM_KINDS.get(base.lower())  # MailHog's binary is `MailHog`


def role_of_kind(kind: str | None) -> str | None:
    if kind is None:
        return None
    return KINDS.get(kind, (None, ()))[0]


def image_role(image: str | None) -> str | None:
    return role_of_kind(image_kind(image))


STORE_ROLES = {"database", "cache", "queue", "search", "store"}


def is_devtool(image: str | None) -> bool:
    return image_role(image) == "devtool"
