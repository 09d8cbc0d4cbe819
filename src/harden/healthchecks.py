"""Per-image healthchecks for databases and brokers, and what a service's healthcheck state is.

Used by the ``db-healthcheck`` and ``depends-healthy`` transforms. Everything here reads;
nothing edits a document.

A check written here must turn green on a working server of that image and must never carry a
secret: passwords are read from the container's environment at run time (``$$VAR`` in compose
text, so compose does not interpolate them) and handed to the client through an environment
variable it reads (``REDISCLI_AUTH``), never as an argument.
"""

from __future__ import annotations

import re
import shlex
from .record import field, record
from typing import Any

from ruamel.yaml.scalarstring import SingleQuotedScalarString

from .catalog import ImageRef, image_kind, parse_image, resolve_default
from .yaml_emit import Flow, Quoted

# Images whose own Dockerfile defines a HEALTHCHECK (path suffixes of the repository).
IMAGES_WITH_HEALTHCHECK = (
    "mysql/mysql-server",
    "mysql/community-server",
    "dragonflydb/dragonfly",
)

# The server program of each kind: a service of that image whose command starts with something
# else (``mysql -h db ...``, ``redis-cli``, ``sh -c``) runs a client, not the server.
SERVER_WORDS = {
    "mysql": {"mysqld", "mysqld_safe"},
    "mariadb": {"mysqld", "mariadbd", "mysqld_safe", "mariadbd-safe"},
    "postgres": {"postgres", "postmaster"},
    "redis": {"redis-server", "redis-stack-server"},
    "valkey": {"valkey-server", "redis-server"},
    "keydb": {"keydb-server"},
    "mongo": {"mongod"},
    "rabbitmq": {"rabbitmq-server"},
    "elasticsearch": {"elasticsearch", "eswrapper", "/usr/local/bin/docker-entrypoint.sh"},
    "mssql": {"/opt/mssql/bin/sqlservr", "sqlservr"},
    "memcached": {"memcached"},
}
_ENTRYPOINTS = {"docker-entrypoint.sh", "/usr/local/bin/docker-entrypoint.sh", "/entrypoint.sh",
                "/opt/bitnami/scripts/mysql/entrypoint.sh", "tini", "/usr/bin/tini", "/tini"}

# Kinds that start slowly: a floor for start_period.
SLOW_START = {"elasticsearch": "60s", "opensearch": "60s", "rabbitmq": "30s", "mssql": "30s"}


@record
class Plan:
    """A healthcheck to write: ``test`` plus advice; ``env`` is added to the service's
    environment (only ever variable references, never values)."""

    test: list
    start_period: str | None = None
    notes: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)


class NoCheck(Exception):
    """No safe check for this service; the message says why."""


# ------------------------------------------------------------------ reading a service
_resolve_default = resolve_default


@record
class Identity:
    kind: str | None
    ref: ImageRef | None
    source: str  # "image" | "dockerfile" | "variable" | "none"
    dockerfile_healthcheck: bool | None = None  # built: final stage has HEALTHCHECK (None: no NONE)


def identify(project: Any, svc: Any) -> Identity:
    """What database/broker kind a service runs, from its image or the Dockerfile it builds."""
    unit = getattr(project, "dockerfiles", {}).get(svc.name)
    if unit is not None and getattr(unit, "doc", None) is not None and unit.doc.stages:
        stages = unit.doc.stages
        target = (project.build_of(svc).target if project.build_of(svc) else None)
        stage = unit.doc.stage_by_name(target) if target else None
        stage = stage or stages[-1]
        hc = _stage_healthcheck(unit.doc, stage)
        base = stage.base
        seen = set()
        # FROM an earlier stage: follow the alias
        while base and unit.doc.stage_by_name(base) is not None and base not in seen:
            seen.add(base)
            parent = unit.doc.stage_by_name(base)
            if hc is None:
                hc = _stage_healthcheck(unit.doc, parent)
            base = parent.base
        resolved = _resolve_default(base) if base else None
        ref = parse_image(resolved) if resolved else None
        return Identity(image_kind(ref) if ref else None, ref, "dockerfile", hc)
    image = svc.image
    if image is None:
        return Identity(None, None, "none")
    if "$" in str(image):
        from .model import dotenv, interpolate_image

        image = interpolate_image(str(image), dotenv(project))
        if "$" not in image:
            ref = parse_image(image)
            return Identity(image_kind(ref) if ref else None, ref, "dotenv")
    resolved = _resolve_default(image)
    if resolved is None:
        return Identity(None, None, "variable")
    ref = parse_image(resolved)
    return Identity(image_kind(ref) if ref else None, ref, "image" if resolved == image else "variable")


def _stage_healthcheck(doc: Any, stage: Any) -> bool | None:
    """True: the stage defines a HEALTHCHECK; False: HEALTHCHECK NONE; None: none."""
    inst = stage.last("HEALTHCHECK")
    if inst is None:
        return None
    words = inst.args_without_flags().split()
    return not (words and words[0].upper() == "NONE")


def image_defines_healthcheck(ref: ImageRef | None) -> bool:
    if ref is None:
        return False
    return any(ref.path == p or ref.path.endswith("/" + p) for p in IMAGES_WITH_HEALTHCHECK)


def healthcheck_state(project: Any, svc: Any) -> str | None:
    """"compose" (a test in the merged view), "disabled" (disable: true / NONE), "image"
    (the image or built Dockerfile defines one), or None (no healthcheck at all)."""
    hc = svc.merged.get("healthcheck")
    if isinstance(hc, dict):
        if hc.get("disable") in (True, "true", "True"):
            return "disabled"
        test = hc.get("test")
        if test is not None:
            if (isinstance(test, list) and test and str(test[0]).upper() == "NONE") or test == "NONE":
                return "disabled"
            if isinstance(test, list) and not test:
                return "image_or_none"
            return "compose"
    ident = identify(project, svc)
    if ident.source == "dockerfile":
        if ident.dockerfile_healthcheck is True:
            return "image"
        if ident.dockerfile_healthcheck is False:
            return "disabled"
    if image_defines_healthcheck(ident.ref):
        return "image"
    if isinstance(hc, dict):
        return "partial"  # interval/retries only: nothing to run
    return None


def can_wait_healthy(project: Any, svc: Any) -> bool:
    """Only a service with a healthcheck that runs may be waited on with service_healthy."""
    return healthcheck_state(project, svc) in ("compose", "image")


def _words(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(x) for x in value]
    try:
        return shlex.split(str(value))
    except ValueError:
        return str(value).split()


def command_words(merged: dict) -> list[str]:
    return _words(merged.get("command"))


def runs_server(kind: str, merged: dict) -> tuple[bool, str]:
    """(True, "") when the service runs the image's server; else (False, why)."""
    ep = _words(merged.get("entrypoint"))
    if ep and ep[0] not in _ENTRYPOINTS:
        return False, f"its entrypoint is overridden ({' '.join(ep)[:60]}), so it may not run the {kind} server"
    words = command_words(merged)
    if not words or words[0].startswith("-"):
        return True, ""
    first = words[0]
    servers = SERVER_WORDS.get(kind, set())
    if first in servers or first.rsplit("/", 1)[-1] in {s.rsplit("/", 1)[-1] for s in servers}:
        return True, ""
    if first in _ENTRYPOINTS and len(words) > 1 and (words[1] in servers or words[1].startswith("-")):
        return True, ""
    return False, f"its command runs `{first}`, not the {kind} server"


def _flag_value(words: list[str], *names: str) -> str | None:
    for i, w in enumerate(words):
        for n in names:
            if w == n and i + 1 < len(words):
                return words[i + 1]
            if w.startswith(n + "="):
                return w[len(n) + 1:]
    return None


def _pg_setting(words: list[str], name: str) -> str | None:
    """A server setting given as `-c name=value` / `-cname=value` / `--name=value` (last wins,
    as postgres reads them)."""
    found = None
    for i, w in enumerate(words):
        item = None
        if w == "-c" and i + 1 < len(words):
            item = words[i + 1]
        elif w.startswith("-c") and len(w) > 2 and not w.startswith("--"):
            item = w[2:]
        elif w.startswith(f"--{name}="):
            item = w[2:]
        if item is not None:
            key, sep, value = item.partition("=")
            if sep and key.strip().replace("-", "_") == name:
                found = value.strip()
    return found


def environment(merged: dict) -> dict[str, Any]:
    env = merged.get("environment")
    out: dict[str, Any] = {}
    if isinstance(env, dict):
        out.update({str(k): v for k, v in env.items()})
    elif isinstance(env, list):
        for item in env:
            k, sep, v = str(item).partition("=")
            out[k] = v if sep else None
    return out


# The official MariaDB images got healthcheck.sh in 2023; the image of a patch release is rebuilt
# only while that release is the newest of its series. A tag pinned to an older patch (mariadb:10.6.4,
# common in real compose files) has no healthcheck.sh, and a check calling it never turns healthy.
# First patch releases known to ship it (current when the healthcheck user arrived, 2023-06-27);
# series that ended before then (10.7, 10.8) are treated as not having it at all.
_MARIADB_HC_SINCE = {(10, 4): 30, (10, 5): 21, (10, 6): 14, (10, 9): 7, (10, 10): 5, (10, 11): 4, (11, 0): 2}


def _mariadb_has_healthcheck_sh(v: tuple[int, ...]) -> bool:
    """Whether the official image of MariaDB version ``v`` (as far as the tag pins it) has healthcheck.sh."""
    if len(v) < 2:
        return v[0] >= 10  # mariadb:10, mariadb:11: the newest of the line
    if v < (10, 4):
        return False
    series = v[:2]
    if series in ((10, 7), (10, 8)):
        return False
    if len(v) < 3:
        return True  # a rolling minor tag (10.6, 10.11-jammy) follows the newest patch
    first = _MARIADB_HC_SINCE.get(series)
    return first is None or v[2] >= first


def _truthy(v: Any) -> bool:
    return str(v).strip().lower() in ("1", "true", "yes", "on")


def _falsy(v: Any) -> bool:
    return str(v).strip().lower() in ("0", "false", "no", "off")


_VAR = re.compile(r"^\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?:[:?+-][^}]*)?\}|([A-Za-z_][A-Za-z0-9_]*))$")
_CONTAINER_VAR = re.compile(r"^\$\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))$")


def q(s: str) -> str:
    """A test item: single-quoted when it holds a double quote, else double-quoted."""
    if '"' in s and "'" not in s:
        return SingleQuotedScalarString(s)
    return Quoted(s)


def cmd(*args: str) -> Flow:
    return Flow([q(a) for a in args])


def shell(line: str) -> Flow:
    return Flow([q("CMD-SHELL"), q(line)])


# ------------------------------------------------------------------ per kind
def plan_for(kind: str, ref: ImageRef | None, merged: dict) -> Plan:
    """The check for a service of ``kind``; raises NoCheck(reason) when there is no safe one."""
    ns = ref.namespace if ref else None
    bitnami = ns is not None and ns.split("/")[-1] == "bitnami"
    words = command_words(merged)
    env = environment(merged)
    if kind == "mysql":
        port = _flag_value(words, "--port", "-P")
        args = ["CMD", "mysqladmin", "ping", "-h", "127.0.0.1"]
        if port and port.isdigit() and port != "3306":
            args += ["-P", port]
        return Plan(cmd(*args), notes=[])
    if kind == "mariadb":
        if bitnami:
            raise NoCheck("bitnami/mariadb keeps its clients and users elsewhere than the official image; add a healthcheck by hand")
        v = ref.version() if ref else None
        if v is not None and not _mariadb_has_healthcheck_sh(v):
            port = _flag_value(words, "--port", "-P")
            # 11.x images ship no mysql* names; mariadb-admin is there from 10.4 on
            client = "mariadb-admin" if v[0] >= 11 else "mysqladmin"
            args = ["CMD", client, "ping", "-h", "127.0.0.1"]
            if port and port.isdigit() and port != "3306":
                args += ["-P", port]
            return Plan(cmd(*args))
        return Plan(cmd("CMD", "healthcheck.sh", "--connect", "--innodb_initialized"),
                    notes=["healthcheck.sh logs in as the `healthcheck` user that MariaDB images create on a "
                           "new data directory since 2023-06; for a volume initialised by an older image, "
                           "start once with MARIADB_AUTO_UPGRADE=1 so that user is created"])
    if kind == "postgres":
        if bitnami:
            user = "$${POSTGRESQL_USERNAME:-$${POSTGRES_USER:-postgres}}"
            db = "$${POSTGRESQL_DATABASE:-$${POSTGRES_DB:-postgres}}"
        else:
            user = "$${POSTGRES_USER:-postgres}"
            db = "$${POSTGRES_DB:-$${POSTGRES_USER:-postgres}}"
        port = _flag_value(words, "-p", "--port") or _pg_setting(words, "port")
        extra = f" -p {port}" if port and port.isdigit() and port != "5432" else ""
        # over TCP: the image's first-run temporary server listens on the socket only
        return Plan(shell(f'pg_isready -h 127.0.0.1{extra} -U "{user}" -d "{db}"'))
    if kind in ("redis", "valkey", "keydb"):
        return _redis_plan(kind, ref, words, env, bitnami)
    if kind == "mongo":
        if bitnami:
            raise NoCheck("bitnami/mongodb differs from the official image (paths, users); add a healthcheck by hand")
        major = ref.major() if ref else None
        client = "mongo" if major is not None and major < 5 else "mongosh"
        port = _flag_value(words, "--port")
        args = ["CMD", client, "--quiet"]
        if port and port.isdigit() and port != "27017":
            args += ["--port", port]
        args += ["--eval", "db.adminCommand('ping')"]
        return Plan(cmd(*args))
    if kind == "rabbitmq":
        if bitnami:
            raise NoCheck("bitnami/rabbitmq differs from the official image; add a healthcheck by hand")
        return Plan(cmd("CMD", "rabbitmq-diagnostics", "-q", "ping"), start_period=SLOW_START["rabbitmq"])
    if kind == "elasticsearch":
        if bitnami:
            raise NoCheck("bitnami/elasticsearch differs from the official image; add a healthcheck by hand")
        security = env.get("xpack.security.enabled")
        major = ref.major() if ref else None
        if security is not None and _falsy(security) or (security is None and major is not None and major < 8):
            return Plan(shell("curl -fsS 'http://localhost:9200/_cluster/health?wait_for_status=yellow&timeout=5s' >/dev/null"),
                        start_period=SLOW_START["elasticsearch"])
        raise NoCheck("Elasticsearch security is on (8.x default: HTTPS and a password); a check would need the "
                      "password, so add one by hand or set xpack.security.enabled=false for local use")
    if kind == "clickhouse":
        if bitnami:
            raise NoCheck("bitnami/clickhouse differs from the official image; add a healthcheck by hand")
        if ref is not None and ref.tag and "distroless" in ref.tag:
            raise NoCheck("the distroless ClickHouse image has no shell and no HTTP client to probe it with; "
                          "add a healthcheck by hand")
        # the HTTP interface's /ping needs no login (the default port 8123: a config file that
        # moves http_port is not read); the official images carry wget (GNU on Ubuntu, BusyBox on
        # Alpine), and both understand -q -O
        return Plan(cmd("CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8123/ping"))
    if kind == "memcached":
        raise NoCheck("the memcached image ships no client to probe it with; a check that cannot run would never turn healthy")
    if kind == "mssql":
        if ref is not None and ref.name == "azure-sql-edge":
            raise NoCheck("azure-sql-edge ships no sqlcmd; add a healthcheck by hand")
        raise NoCheck("SQL Server needs a login for every probe and its sqlcmd path differs per release; add a healthcheck by hand")
    raise NoCheck(f"harden has no known healthcheck for {kind} images; add one by hand")


def _redis_plan(kind: str, ref: ImageRef | None, words: list[str], env: dict, bitnami: bool) -> Plan:
    client = {"redis": "redis-cli", "valkey": "valkey-cli", "keydb": "keydb-cli"}[kind]
    port = _flag_value(words, "--port")
    if port == "0":
        raise NoCheck(f"{kind} listens on TLS or a socket only (--port 0); add a healthcheck by hand")
    if any(w.startswith("--tls") for w in words):
        raise NoCheck(f"{kind} runs with TLS; add a healthcheck by hand")
    cli = client + (f" -p {port}" if port and port.isdigit() and port != "6379" else "")
    notes: list[str] = []
    add_env: dict[str, str] = {}
    password = _flag_value(words, "--requirepass")
    auth_var: str | None = None
    if "REDISCLI_AUTH" in env:
        auth_var = "REDISCLI_AUTH"
    elif password is not None:
        m = _CONTAINER_VAR.match(password)
        mv = _VAR.match(password)
        if m:
            # no shell runs a compose command: `$$VAR` reaches redis as the literal text `$VAR`
            raise NoCheck(f"{kind} is started with --requirepass {password}; no shell expands it, so the password "
                          "is that literal text and a healthcheck would have to copy it. Use ${VAR} (compose "
                          "interpolation) instead and rerun")
        elif mv:  # ${VAR}: compose interpolates it from the host or .env
            name = mv.group(1) or mv.group(2)
            same = [k for k, v in env.items() if isinstance(v, str) and _VAR.match(v.strip())
                    and (_VAR.match(v.strip()).group(1) or _VAR.match(v.strip()).group(2)) == name]
            if same:
                auth_var = same[0]
            else:
                add_env["REDISCLI_AUTH"] = password
                auth_var = "REDISCLI_AUTH"
                notes.append(f"REDISCLI_AUTH: {password} added to the environment so the healthcheck can "
                             "authenticate without the password on its command line")
        else:
            raise NoCheck(f"{kind} is started with a literal --requirepass; a healthcheck would have to copy the "
                          "password. Move it into a variable (e.g. --requirepass ${REDIS_PASSWORD}) and rerun")
    elif bitnami:
        auth_var = "REDIS_PASSWORD"
    if auth_var == "REDISCLI_AUTH":
        return Plan(shell(f"{cli} ping | grep -q PONG"), notes=notes, env=add_env)
    if auth_var:
        line = (f'[ -z "$${{{auth_var}:-}}" ] || export REDISCLI_AUTH="$${{{auth_var}}}"; '
                f"{cli} ping | grep -q PONG")
        return Plan(shell(line), notes=notes)
    conf = any(w.endswith(".conf") for w in words)
    if conf:
        # a config file may set a password we cannot see: NOAUTH also proves the server answers
        return Plan(shell(f"{cli} ping 2>&1 | grep -qE 'PONG|NOAUTH'"),
                    notes=[f"{kind} reads a config file; if it sets requirepass, give the container "
                           "REDISCLI_AUTH from a variable so the healthcheck can log in"])
    return Plan(shell(f"{cli} ping | grep -q PONG"))


# ------------------------------------------------------------------ durations
_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def seconds(d: Any) -> float | None:
    s = str(d).strip()
    if not s:
        return None
    total = 0.0
    pos = 0
    for m in re.finditer(r"(\d+(?:\.\d+)?)(us|ms|s|m|h)", s):
        if m.start() != pos:
            return None
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    return total if pos == len(s) and pos > 0 else None


def longer(a: str, b: str | None) -> str:
    if b is None:
        return a
    sa, sb = seconds(a), seconds(b)
    if sa is None or sb is None:
        return a
    return b if sb > sa else a


# ------------------------------------------------------------------ version: key
def legacy_version(doc: Any) -> tuple[int, int] | None:
    """(major, minor) of a file's legacy ``version:`` key, or None."""
    data = doc.data
    if "version" not in data:
        return None
    m = re.fullmatch(r"\s*(\d+)(?:\.(\d+))?\s*", str(data.get("version")))
    if not m:
        return None
    return int(m.group(1)), int(m.group(2) or 0)
