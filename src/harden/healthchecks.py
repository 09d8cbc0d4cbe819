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
    source: str  # "image" | "dockerfile" | "variable" | "dotenv" | "built" | "none"
    dockerfile_healthcheck: bool | None = None  # built: final stage has HEALTHCHECK (None: no NONE)
    built_by: str | None = None  # source "built": the compose file and Dockerfile that build the image
    # built: the Dockerfile's own (ENTRYPOINT, CMD) as words (None: the base image's), and the
    # build context its scripts are read from
    image_run: tuple | None = None
    context: Any = None


def identify(project: Any, svc: Any) -> Identity:
    """What database/broker kind a service runs, from its image or the Dockerfile it builds;
    an image harden does not know by name that another service of the repository builds
    (``image:`` + ``build:``) is read through that build's Dockerfile (source "built")."""
    unit = getattr(project, "dockerfiles", {}).get(svc.name)
    if unit is not None and getattr(unit, "doc", None) is not None and unit.doc.stages:
        b = project.build_of(svc)
        return _identify_unit(unit, b.target if b else None)
    ident = _identify_image(project, svc)
    if ident.kind is None and ident.ref is not None:
        found = _built_elsewhere(project, ident.ref)
        if found is not None:
            unit, target, where = found
            built = _identify_unit(unit, target)
            if built.kind is not None:
                return Identity(built.kind, built.ref, "built", built.dockerfile_healthcheck, where,
                                built.image_run, built.context)
    return ident


def _built_elsewhere(project: Any, ref: ImageRef) -> tuple[Any, str | None, str] | None:
    """(Dockerfile unit, target, where) of the one build in the repository's compose files that
    makes an image of this name: the same repository and tag, else the same repository, else
    the same last path component (``ghcr.io/acme/app_db:v2.4`` is the ``app_db:v2.4`` a dev file
    builds); None when no build, or more than one Dockerfile, matches."""
    world = getattr(project, "world", None)
    projects = list(getattr(world, "projects", None) or [project])
    found: dict[int, dict[tuple, tuple]] = {}
    for p in projects:
        units = getattr(p, "dockerfiles", {}) or {}
        for s in p.services():
            u = units.get(s.name)
            img = s.image
            if u is None or not img or getattr(u, "doc", None) is None or not u.doc.stages:
                continue
            resolved = _resolve_default(img)
            other = parse_image(resolved) if resolved else None
            if other is None:
                continue
            same_path = other.path == ref.path
            level = (0 if same_path and (other.tag or "latest") == (ref.tag or "latest") else 1 if same_path
                     else 2 if other.name == ref.name else None)
            if level is None:
                continue
            b = p.build_of(s)
            target = b.target if b else None
            owner = s.owner("build")[0]
            where = f"{_rel(p, owner)} ({s.name}, {u.rel})"
            found.setdefault(level, {}).setdefault((u.rel, target), (u, target, where))
    for level in sorted(found):
        if len(found[level]) == 1:
            return next(iter(found[level].values()))
        return None
    return None


def _rel(project: Any, doc: Any) -> str:
    for d, r in zip(project.docs, project.rels):
        if d is doc:
            return r
    return str(getattr(doc, "path", "?"))


def _identify_unit(unit: Any, target: str | None) -> Identity:
    stages = unit.doc.stages
    stage = unit.doc.stage_by_name(target) if target else None
    stage = stage or stages[-1]
    hc = _stage_healthcheck(unit.doc, stage)
    base = stage.base
    seen = set()
    chain = [stage]
    # FROM an earlier stage: follow the alias
    while base and unit.doc.stage_by_name(base) is not None and base not in seen:
        seen.add(base)
        parent = unit.doc.stage_by_name(base)
        chain.append(parent)
        if hc is None:
            hc = _stage_healthcheck(unit.doc, parent)
        base = parent.base
    resolved = _resolve_default(base) if base else None
    ref = parse_image(resolved) if resolved else None
    return Identity(image_kind(ref) if ref else None, ref, "dockerfile", hc, None, _image_run(chain),
                    getattr(unit, "context", None))


def _image_run(chain: list) -> tuple | None:
    """(ENTRYPOINT, CMD) words the stage ``chain`` (the stage that runs first, then the stages
    it is built FROM) sets; None for what only the base image sets. An ENTRYPOINT drops the
    CMD it inherits (from an earlier stage or the base image), as Docker does."""
    ep = cmd = None
    ep_at = cmd_at = None
    for i, st in enumerate(chain):
        for name in ("ENTRYPOINT", "CMD"):
            inst = st.last(name)
            if inst is None or (name == "ENTRYPOINT" and ep is not None) or (name == "CMD" and cmd is not None):
                continue
            words = inst.exec_form()
            if words is None:
                words = ["/bin/sh", "-c", inst.args_without_flags()]
            if name == "ENTRYPOINT":
                ep, ep_at = words, i
            else:
                cmd, cmd_at = words, i
    if ep is None and cmd is None:
        return None
    if ep is not None and (cmd_at is None or cmd_at > ep_at):
        cmd = []
    return ep, cmd


def _identify_image(project: Any, svc: Any) -> Identity:
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


_SHELLS = {"sh", "bash", "ash", "dash", "zsh", "ksh"}
_ASSIGN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
# what may stand before the server on the script's last line: `exec`, a user switch
_PREFIX_WITH_ARG = {"gosu", "su-exec"}


def shell_script(run: list[str]) -> str | None:
    """The script of ``sh -c SCRIPT`` (any POSIX shell, flags such as ``-euc``), else None."""
    if not run or run[0].rsplit("/", 1)[-1] not in _SHELLS:
        return None
    i = 1
    while i < len(run) and run[i].startswith("-") and not run[i].startswith("--"):
        if "c" in run[i][1:]:
            return run[i + 1] if i + 1 < len(run) else None
        i += 2 if run[i] == "-o" else 1
    return None


def script_commands(script: str) -> list[tuple[str, str]] | None:
    """The top-level commands of a shell script, each with the operator that ends it (``;``,
    ``&&``, ``||``, ``|``, ``&``, a newline, or "" at the end); quotes, ``$(...)``, backticks,
    comments and line continuations are followed. None for what is not read (here-documents,
    unbalanced quotes)."""
    out: list[tuple[str, str]] = []
    cur: list[str] = []
    i, n = 0, len(script)
    quote: str | None = None
    depth = 0  # inside $( ... )
    while i < n:
        c = script[i]
        if quote == "'":
            cur.append(c)
            if c == "'":
                quote = None
            i += 1
            continue
        if c == "\\" and i + 1 < n:
            if script[i + 1] == "\n":
                i += 2  # a line continuation
                continue
            cur.append(script[i:i + 2])
            i += 2
            continue
        if quote is not None:  # double quote or backtick
            if c == quote and depth == 0:
                quote = None
            elif c == "$" and script[i + 1:i + 2] == "(":
                depth += 1
            elif c == ")" and depth:
                depth -= 1
            cur.append(c)
            i += 1
            continue
        if c in "'\"`":
            quote = c
            cur.append(c)
            i += 1
            continue
        if c == "$" and script[i + 1:i + 2] == "(":
            depth += 1
            cur.append("$(")
            i += 2
            continue
        if depth:
            if c == "(":
                depth += 1
            elif c == ")":
                depth -= 1
            cur.append(c)
            i += 1
            continue
        if c == "#" and (not cur or cur[-1][-1:].isspace()):
            while i < n and script[i] != "\n":
                i += 1
            continue
        if c == "<" and script[i + 1:i + 2] == "<":
            return None  # a here-document
        op = None
        for cand in ("&&", "||", ";", "|", "&", "\n"):
            if script.startswith(cand, i):
                op = cand
                break
        if op is not None and not (op == "&" and (script[i + 1:i + 2] == ">" or (cur and cur[-1][-1:] in "<>"))):
            text = "".join(cur).strip()
            if text:
                out.append((text, op))
            elif op not in ("\n", ";") and out:
                return None
            cur = []
            i += len(op)
            continue
        cur.append(c)
        i += 1
    if quote is not None or depth:
        return None
    text = "".join(cur).strip()
    if text:
        out.append((text, ""))
    return out


_LAST_SEEN: dict[str, tuple[str, ...] | None] = {}


def last_command(script: str) -> list[str] | None:
    """The words of the command a shell script ends by running in the foreground (``exec``,
    ``gosu user`` and variable assignments before it dropped), or None: a script whose end
    harden does not follow (a background job, a here-document, a server after ``||``).
    A pure function of the text, remembered for the run: the same entrypoint script is asked
    about for every service and compose combination that runs its image."""
    if script not in _LAST_SEEN:
        words = _last_command(script)
        _LAST_SEEN[script] = tuple(words) if words is not None else None
    got = _LAST_SEEN[script]
    return list(got) if got is not None else None


def _last_command(script: str) -> list[str] | None:
    cmds = script_commands(script)
    if not cmds:
        return None
    text, op = cmds[-1]
    if op == "&":
        return None  # started in the background: something else keeps the container running
    if len(cmds) > 1 and cmds[-2][1] in ("||", "|"):
        return None  # runs only when the command before fails, or reads from a pipe
    try:
        words = shlex.split(text)
    except ValueError:
        return None
    while words:
        if words[0] == "exec" or _ASSIGN.match(words[0]):
            words = words[1:]
        elif words[0] in _PREFIX_WITH_ARG and len(words) > 2:
            words = words[2:]
        else:
            break
    return words or None


def server_command(merged: dict) -> tuple[list[str], bool, str | None]:
    """(words, through a shell, script) of what the service starts: its command, or, when its
    entrypoint or command is ``sh -c SCRIPT``, the command that script ends by running (words
    empty when that cannot be told)."""
    ep = _words(merged.get("entrypoint"))
    cmd = command_words(merged)
    script = shell_script(ep + cmd if ep else cmd)
    if script is None:
        return cmd, False, None
    return last_command(script) or [], True, script


def _starts_server(kind: str, words: list[str]) -> bool:
    if not words or words[0].startswith("-"):
        return True
    first = words[0]
    servers = SERVER_WORDS.get(kind, set())
    if first in servers or first.rsplit("/", 1)[-1] in {s.rsplit("/", 1)[-1] for s in servers}:
        return True
    entry = first in _ENTRYPOINTS or first.rsplit("/", 1)[-1] in {e.rsplit("/", 1)[-1] for e in _ENTRYPOINTS}
    return entry and len(words) > 1 and (words[1] in servers or words[1].startswith("-"))


def runs_server(kind: str, merged: dict, ident: "Identity | None" = None) -> tuple[bool, str]:
    """(True, "") when the service runs the image's server; else (False, why). A shell
    script (``sh -euc '...; exec memcached -S'``) is read to the command it ends by running.
    For an image built from a Dockerfile (``ident``), what that Dockerfile starts counts where
    compose does not override it: an ENTRYPOINT script of the build context is read to the
    command it ends by running (``exec "$@"`` runs its arguments); one harden cannot read is
    taken to start the server, as before."""
    ok, why = _compose_runs_server(kind, merged)
    run = getattr(ident, "image_run", None) if ident is not None else None
    if not ok or run is None or merged.get("entrypoint") is not None:
        return ok, why
    ep, cmd = run
    if merged.get("command") is not None:
        cmd = command_words(merged)
    elif not ep and not cmd:
        return ok, why
    words = (ep or []) + (cmd or [])
    last = _image_runs(kind, words, getattr(ident, "context", None), 0)
    if last is None:
        return True, ""
    what = "ENTRYPOINT" if ep else "CMD"
    if last in ("done", "fi", "esac", "}", ")"):
        return False, (f"its image's {what} runs {words[0]}, a script whose last line closes a loop or a condition "
                       f"(`{last}`) instead of starting the {kind} server")
    return False, f"its image's {what} runs {words[0]}, which ends by running `{last}`, not the {kind} server"


def _image_runs(kind: str, words: list[str], context: Any, depth: int) -> str | None:
    """None when ``words`` (what an image built here starts) start the server, or cannot be
    told (a script harden cannot read); else the program they end by running."""
    if not words or depth > 4:
        return None
    script = shell_script(words)
    if script is not None:
        last = last_command(script)
        if last is None:
            return None
        return _image_runs(kind, last, context, depth + 1) if last != words else None
    if _starts_server(kind, words):
        return None
    from .model import context_file_text

    first = words[0]
    base = first.rsplit("/", 1)[-1]
    # the project's own script of that name first (docker-elk's setup: /entrypoint.sh)
    text = context_file_text(context, first) if context is not None and ("/" in first or "." in base) else ""
    if not text and base in {e.rsplit("/", 1)[-1] for e in _ENTRYPOINTS}:
        # the official entrypoints run their arguments when they are not the server's
        return _image_runs(kind, words[1:], context, depth + 1) if len(words) > 1 else None
    if not text:
        return None if ("/" in first or first.endswith(".sh")) else first
    last = last_command(text)
    if last is None:
        return None
    args = words[1:]
    expanded = [x for w in last for x in (args if w in ("$@", "${@}") else [w])]
    if not expanded:
        return None
    return _image_runs(kind, expanded, context, depth + 1) if expanded != words else None


def _compose_runs_server(kind: str, merged: dict) -> tuple[bool, str]:
    ep = _words(merged.get("entrypoint"))
    words, shelled, script = server_command(merged)
    if shelled:
        if not words:
            return False, (f"its command is a shell script that does not end by starting the {kind} server "
                           "in the foreground (or in a way harden does not follow)")
        if _starts_server(kind, words):
            return True, ""
        return False, f"its command is a shell script that ends by running `{words[0]}`, not the {kind} server"
    if ep and ep[0] not in _ENTRYPOINTS:
        return False, f"its entrypoint is overridden ({' '.join(ep)[:60]}), so it may not run the {kind} server"
    if _starts_server(kind, words):
        return True, ""
    return False, f"its command runs `{words[0]}`, not the {kind} server"


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
def plan_for(kind: str, ref: ImageRef | None, merged: dict, exact: bool = True) -> Plan:
    """The check for a service of ``kind``; raises NoCheck(reason) when there is no safe one.
    ``exact`` False: ``ref`` is the base of a Dockerfile the image is taken to be built from
    (identify's source "built"), whose version may differ from the image that runs: where the
    client depends on the version (mongo/mongosh, MariaDB's healthcheck.sh, Elasticsearch's
    security default), the check works with either."""
    ns = ref.namespace if ref else None
    bitnami = ns is not None and ns.split("/")[-1] == "bitnami"
    words, shelled, script = server_command(merged)
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
        if not exact:
            port = _flag_value(words, "--port", "-P")
            extra = f" -P {port}" if port and port.isdigit() and port != "3306" else ""
            # 10.4+ has mariadb-admin, 11.x only that; older tags only mysqladmin
            return Plan(shell(f"mariadb-admin ping -h 127.0.0.1{extra} || mysqladmin ping -h 127.0.0.1{extra}"))
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
        return _redis_plan(kind, ref, words, env, bitnami, script if shelled else None)
    if kind == "mongo":
        if bitnami:
            raise NoCheck("bitnami/mongodb differs from the official image (paths, users); add a healthcheck by hand")
        major = ref.major() if ref else None
        client = "mongo" if major is not None and major < 5 else "mongosh"
        port = _flag_value(words, "--port")
        if not exact:
            p = f" --port {port}" if port and port.isdigit() and port != "27017" else ""
            ping = "--eval \"db.adminCommand('ping')\""
            # mongosh from 5.0 on (the only shell from 6.0), mongo before
            return Plan(shell(f"mongosh --quiet{p} {ping} || mongo --quiet{p} {ping}"))
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
        port = str(env.get("http.port") or "9200")
        if not port.isdigit():
            raise NoCheck(f"Elasticsearch's HTTP port is {port}; add a healthcheck by hand")
        if security is not None and _falsy(security) or (exact and security is None and major is not None and major < 8):
            return Plan(shell(f"curl -fsS 'http://localhost:{port}/_cluster/health?wait_for_status=yellow&timeout=5s' >/dev/null"),
                        start_period=SLOW_START["elasticsearch"])
        # security on (the 8.x default, or a mounted elasticsearch.yml that harden does not read):
        # a request without credentials is answered 401 once the HTTP layer serves, which is
        # what Elastic's own compose example waits for; plain HTTP, or HTTPS where 8.x set up
        # TLS itself. No password is needed, so none is copied.
        probe = "curl -s{k} -o /dev/null -w '%{{http_code}}' {url} | grep -qE '^(200|401)$$'"
        return Plan(shell(probe.format(k="", url=f"http://localhost:{port}") + " || "
                          + probe.format(k="k", url=f"https://localhost:{port}")),
                    start_period=SLOW_START["elasticsearch"],
                    notes=["Elasticsearch security is on (or may be): the healthcheck waits until it answers HTTP "
                           "(401 without a password) and does not read the cluster's health, which needs a login"])
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
        return _memcached_plan(ref, words, bitnami)
    if kind == "mssql":
        if ref is not None and ref.name == "azure-sql-edge":
            raise NoCheck("azure-sql-edge ships no sqlcmd; add a healthcheck by hand")
        raise NoCheck("SQL Server needs a login for every probe and its sqlcmd path differs per release; add a healthcheck by hand")
    raise NoCheck(f"harden has no known healthcheck for {kind} images; add one by hand")


# a password the container's own shell computes: `$$VAR`, `$${VAR}`, `$$(cat $$VAR)`, `$$(cat /run/secrets/x)`
_SHELL_VAR = re.compile(r"^\$\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))$")
_SHELL_CAT = re.compile(r"^\$\$\(\s*cat\s+(?:\"?\$\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))\"?"
                        r"|([A-Za-z0-9_./-]+))\s*\)$")


def _shell_password(password: str, env: dict, script: str) -> str | None:
    """The shell text that computes, inside the container, a password the server's start-up
    script gives it (``--requirepass "$$(cat $$REDIS_PASSWORD_FILE)"``), or None. Only a
    variable of the service's own environment that the script does not set, or a file read
    with ``cat``, qualifies: a healthcheck's shell then computes the same value."""
    m = _SHELL_VAR.match(password)
    c = _SHELL_CAT.match(password)
    name = (m.group(1) or m.group(2)) if m else (c.group(1) or c.group(2)) if c else None
    if name is not None:
        if name not in env or env[name] is None or re.search(rf"(?<![\w$]){name}=|\bread\b[^\n;]*\b{name}\b", script):
            return None
        return f"$${{{name}}}" if m else f'$$(cat "$${{{name}}}")'
    if c is not None:
        return f"$$(cat {c.group(3)})"
    return None


def _memcached_plan(ref: ImageRef | None, words: list[str], bitnami: bool) -> Plan:
    """memcached ships no client: the check opens a TCP connection to it, with BusyBox `nc -z`
    on the Alpine images and bash's /dev/tcp on the Debian ones (memcached answers no protocol
    command without a login once SASL is on, `-S`, but accepting the connection shows it serves)."""
    if bitnami or (ref is not None and ref.path not in ("memcached", "library/memcached")):
        raise NoCheck("the memcached image ships no client to probe it with, and harden knows which shell tools only "
                      "the official memcached images carry; add a healthcheck by hand")
    if _flag_value(words, "-s", "--unix-socket") is not None:
        raise NoCheck("memcached listens on a unix socket only (-s); add a healthcheck by hand")
    listen = _flag_value(words, "-l", "--listen")
    if listen is not None and not all(a.split(":")[0] in ("0.0.0.0", "127.0.0.1", "localhost", "::", "[::]")
                                      for a in listen.split(",")):
        raise NoCheck(f"memcached listens on {listen} only (-l); add a healthcheck by hand")
    if ref is not None and ref.digest and not ref.tag:
        raise NoCheck("memcached is pinned by digest only, so harden cannot tell the Alpine image (BusyBox nc) from "
                      "the Debian one (bash) to probe it with; add the tag or a healthcheck by hand")
    port = _flag_value(words, "-p", "--port") or "11211"
    if not port.isdigit() or port == "0":
        raise NoCheck(f"memcached's TCP port is {port}; add a healthcheck by hand")
    if ref is not None and ref.tag and "alpine" in ref.tag:
        return Plan(cmd("CMD", "nc", "-z", "127.0.0.1", port))
    return Plan(cmd("CMD", "bash", "-c", f"</dev/tcp/127.0.0.1/{port}"))


def _redis_plan(kind: str, ref: ImageRef | None, words: list[str], env: dict, bitnami: bool,
                script: str | None = None) -> Plan:
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
        computed = _shell_password(password, env, script) if script is not None else None
        if computed is not None:
            # the start-up script's shell computes the password in the container; the check's
            # shell computes it the same way, and hands it to the client through REDISCLI_AUTH
            return Plan(shell(f'REDISCLI_AUTH="{computed}" {cli} ping | grep -q PONG'))
        if script is not None and (m or password.startswith("$$(")):
            raise NoCheck(f"{kind} is started with --requirepass {password}, computed by its start-up script in a way "
                          "harden does not repeat (a variable the service's environment does not set, or the script "
                          "sets); add a healthcheck by hand")
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
