"""db-healthcheck: give database and broker services a healthcheck that fits their image."""

from __future__ import annotations

import re
from typing import Any

from harden.catalog import role_of_kind
from harden.compose_doc import own_keys
from harden.errors import EditError
from harden.healthchecks import (
    NoCheck,
    environment,
    healthcheck_state,
    identify,
    legacy_version,
    longer,
    plan_for,
    runs_server,
)
from harden.transform import Example, Transform

ROLES = {"database", "cache", "queue", "search"}

# the protocol a client names in a URL or a variable, and what a check for it would run
_SCHEMES = {"redis": "Redis", "rediss": "Redis", "postgres": "PostgreSQL", "postgresql": "PostgreSQL",
            "mysql": "MySQL", "mariadb": "MySQL", "mongodb": "MongoDB", "mongodb+srv": "MongoDB",
            "amqp": "AMQP (RabbitMQ)", "amqps": "AMQP (RabbitMQ)"}
_KEY_FAMILIES = [(re.compile(r"REDIS", re.I), "Redis"), (re.compile(r"POSTGRES|\bPG_?|_PG_", re.I), "PostgreSQL"),
                 (re.compile(r"MYSQL|MARIADB", re.I), "MySQL"), (re.compile(r"MONGO", re.I), "MongoDB"),
                 (re.compile(r"RABBIT|AMQP", re.I), "AMQP (RabbitMQ)")]
FAMILY_CHECK_HINT = {"Redis": "redis-cli ping", "PostgreSQL": "pg_isready", "MySQL": "mysqladmin ping",
                     "MongoDB": "mongosh --eval 'db.adminCommand(\"ping\")'",
                     "AMQP (RabbitMQ)": "rabbitmq-diagnostics -q ping"}


_FAMILY_KINDS = {"Redis": ("redis",), "PostgreSQL": ("postgres",), "MySQL": ("mariadb", "mysql"),
                 "MongoDB": ("mongo",), "AMQP (RabbitMQ)": ("rabbitmq",)}


def _family_in_name(family: str, name: str) -> str | None:
    """The kind of an image built on a known store, by its name (zulip-postgresql, acme-redis):
    only for the protocol the app speaks to it."""
    for kind in _FAMILY_KINDS[family]:
        if kind in name.lower():
            return kind
    return None


def spoken_to_as_store(project: Any, target: Any) -> tuple[str, str] | None:
    """(protocol, who) when another service's environment or env files reach ``target`` as a
    database, cache or broker: a URL with its scheme (``redis://kv:6379``) or a host variable
    named for one (``REDIS_HOST: kv``). An image harden does not recognise may still be a store."""
    from harden.model import env_files
    from harden.roles import service_for_host
    from harden.transforms.depends_healthy import hosts_in_value

    for other in project.services():
        if other.name == target.name:
            continue
        sources = [environment(other.merged)] + [vals for _p, vals in env_files(other)]
        for env in sources:
            for key, value in env.items():
                if value is None:
                    continue
                sval = str(value)
                for m in re.finditer(r"\b([a-z][a-z0-9+]*)://", sval):
                    family = _SCHEMES.get(m.group(1).lower())
                    if family and any(service_for_host(project, other, h) == target.name
                                      for h in hosts_in_value(sval[m.start():])):
                        return family, f"{other.name} ({key})"
                fam = next((f for rx, f in _KEY_FAMILIES if rx.search(str(key))), None)
                if fam and re.search(r"HOST|ADDR|SERVER", str(key), re.I) and "://" not in sval \
                        and any(service_for_host(project, other, h) == target.name for h in hosts_in_value(sval)):
                    return fam, f"{other.name} ({key})"
    return None


def no_check_reason(project: Any, svc: Any) -> str:
    """Why a database, cache, queue or search service has no healthcheck that runs, in words a
    user can act on (what db-healthcheck decided for it, read again without editing)."""
    state = healthcheck_state(project, svc)
    if state == "disabled":
        return "its healthcheck is disabled"
    if state in ("partial", "image_or_none"):
        return "its healthcheck sets no `test`"
    ident = identify(project, svc)
    if ident.kind is None:
        return f"its image {ident.ref.raw if ident.ref else '(unknown)'} is not one harden recognises"
    ok, why = runs_server(ident.kind, svc.merged, ident)
    if not ok:
        return why
    try:
        plan_for(ident.kind, ident.ref, svc.merged, exact=ident.source != "built")
    except NoCheck as e:
        return str(e)
    return "harden did not add one here (see db-healthcheck's outcome for it)"


def rel_of(project: Any, doc: Any) -> str:
    for d, r in zip(project.docs, project.rels):
        if d is doc:
            return r
    return doc.path


def ensure_version(project: Any, ctx: Any, need: str) -> None:
    """Make every file's legacy ``version:`` accept what was written.

    need "start_period": healthcheck.start_period needs 2.3+ / 3.4+ (bump within the major).
    need "condition": depends_on conditions exist in 2.1+ only and in no 3.x schema: 2.0 is
    bumped to 2.1, and a 3.x key (obsolete in the Compose Specification) is removed."""
    for doc in project.docs:
        if getattr(project, "included", None) and project.included(doc):
            continue  # only Compose 2.20+ reads an included file, and it ignores `version:`
        v = legacy_version(doc)
        if v is None:
            continue
        line = doc.key_line(doc.data, "version")
        rel = rel_of(project, doc)
        old = str(doc.data.get("version"))
        if need == "condition" and v[0] == 3:
            doc.delete_key(doc.data, "version")
            ctx.note(f'removed `version: "{old}"`: depends_on conditions are not valid in the 3.x file '
                     "format, and the key is obsolete in the Compose Specification", line=line, file=rel)
            continue
        new = None
        if need == "condition" and v[0] == 2 and v < (2, 1):
            new = "2.1"
        if need == "start_period" and v[0] == 2 and v < (2, 3):
            new = "2.3"
        if need == "start_period" and v[0] == 3 and v < (3, 4):
            new = "3.4"
        if new is not None:
            doc.set_scalar(doc.data, "version", new)
            ctx.note(f'`version: "{old}"` raised to "{new}": the file format before it does not know '
                     f"{'healthcheck start_period' if need == 'start_period' else 'depends_on conditions'}",
                     line=line, file=rel)


_ANCHOR_AFTER_KEY = re.compile(r"^\s*[^#]*?:\s*&[^\s,\[\]{}]+\s*(?:#.*)?$")


def _is_shared_anchor(doc: Any, name: str, node: Any) -> bool:
    """The service mapping itself carries an anchor (``db: &db``) that others may merge."""
    anchor = getattr(node, "anchor", None)
    if anchor is not None and getattr(anchor, "value", None):
        return True
    services = doc.services()
    if name not in own_keys(services):
        return False
    try:
        line = services.lc.key(name)[0]
    except Exception:
        return False
    return bool(_ANCHOR_AFTER_KEY.match(doc.lines[line]))


class DbHealthcheck(Transform):
    """What it does: adds a `healthcheck:` to every database, cache, queue and search service
    that has none: MySQL `mysqladmin ping -h 127.0.0.1`; MariaDB `healthcheck.sh --connect
    --innodb_initialized` (tags before 10.4, and patch tags older than the images' healthcheck.sh:
    `mysqladmin ping`); Postgres `pg_isready` over TCP
    with the container's own `$POSTGRES_USER`/`$POSTGRES_DB`; Redis/Valkey/KeyDB `<cli> ping`;
    Mongo `mongosh` (`mongo` before 5.0) `db.adminCommand('ping')`; RabbitMQ
    `rabbitmq-diagnostics -q ping`; Elasticsearch `_cluster/health` with security off, else an
    HTTP(S) request that security answers 401 (the server serves; no password needed); ClickHouse
    `wget` on the HTTP interface's `/ping` (port 8123); memcached, which ships no client, a TCP
    connect (`nc -z` on the Alpine images, bash's `/dev/tcp` on the Debian ones). Services are
    recognised by image (any registry or namespace) or by the final base of the Dockerfile they
    build. A command that is a shell script (`sh -euc '...; exec memcached -S'`) is read to the
    command it ends by running: that is the server the check probes, with its flags (port,
    `--requirepass`). Interval, timeout, retries and start_period come from the options
    `healthcheck_interval`, `healthcheck_timeout`, `healthcheck_retries`,
    `healthcheck_start_period`.

    Why: without a healthcheck, compose only knows that the database container started, not
    that it accepts connections, so the services that need it start too early and crash. With
    one, `depends-healthy` can make them wait (`condition: service_healthy`).

    Example:

        db:
          image: mysql:8.0
        ->
        db:
          image: mysql:8.0
          healthcheck:
            test: ["CMD", "mysqladmin", "ping", "-h", "127.0.0.1"]
            interval: 10s
            timeout: 5s
            retries: 5
            start_period: 30s

    Safety: no check carries a secret. `mysqladmin ping` needs no password (it succeeds on
    "Access denied" too, which still proves the server answers); MySQL and Postgres are probed
    over TCP to 127.0.0.1 because the images' first-run temporary servers listen on a socket
    only, so the check cannot turn green during initialisation. A Redis password given as
    `--requirepass $${VAR}` or `${VAR}` reaches redis-cli through `REDISCLI_AUTH` (added to the
    environment as a `${VAR}` reference when needed), never as an argument; one a start-up
    script reads from the container (`--requirepass "$$(cat $$REDIS_PASSWORD_FILE)"`, a secret
    file) is read the same way by the check's own shell. MariaDB's
    healthcheck.sh logs in as the `healthcheck` user the image creates on a new data directory
    (since 2023-06): an older volume needs one start with `MARIADB_AUTO_UPGRADE=1` (noted).
    A legacy `version:` that predates `start_period` is raised within its major (2.3 / 3.4).

    When it refuses: a service with any healthcheck (its own, from an anchor, `extends` or an
    override file, `disable: true`, or one its image or Dockerfile defines) is left alone. It
    skips, with the reason: a store image that runs another command (a client such as
    `mysql -h db` or `redis-cli`, or a shell script that does not end by starting the server),
    images with no safe check (SQL Server needs a login, memcached images other than the
    official ones, bitnami images that differ from the official ones), Redis with a literal `--requirepass` (the check
    would have to copy it), a healthcheck mapping without `test`, a service whose mapping is
    itself an anchor other services merge, and flow-style (`{...}`) services.
    """

    name = "db-healthcheck"
    summary = "Add a healthcheck that fits the image to database and broker services"
    kind = "compose"
    examples = [
        Example(
            "mysql",
            files={"compose.yaml": (
                "services:\n"
                "  db:\n"
                "    image: mysql:8.0  # the database\n"
                "    environment:\n"
                "      MYSQL_ROOT_PASSWORD: example\n"
                "  # the app\n"
                "  web:\n"
                "    image: example/web\n"
            )},
            expect={"compose.yaml": (
                "services:\n"
                "  db:\n"
                "    image: mysql:8.0  # the database\n"
                "    environment:\n"
                "      MYSQL_ROOT_PASSWORD: example\n"
                "    healthcheck:\n"
                '      test: ["CMD", "mysqladmin", "ping", "-h", "127.0.0.1"]\n'
                "      interval: 10s\n"
                "      timeout: 5s\n"
                "      retries: 5\n"
                "      start_period: 30s\n"
                "  # the app\n"
                "  web:\n"
                "    image: example/web\n"
            )},
        ),
        Example(
            "postgres-from-another-registry",
            files={"compose.yaml": (
                "services:\n"
                "  pg:\n"
                "    image: ghcr.io/example/postgres:16-alpine\n"
            )},
            expect={"compose.yaml": (
                "services:\n"
                "  pg:\n"
                "    image: ghcr.io/example/postgres:16-alpine\n"
                "    healthcheck:\n"
                "      test: [\"CMD-SHELL\", 'pg_isready -h 127.0.0.1 -U \"$${POSTGRES_USER:-postgres}\" -d "
                "\"$${POSTGRES_DB:-$${POSTGRES_USER:-postgres}}\"']\n"
                "      interval: 10s\n"
                "      timeout: 5s\n"
                "      retries: 5\n"
                "      start_period: 30s\n"
            )},
        ),
        Example(
            "existing-healthcheck-unchanged",
            files={"compose.yaml": (
                "services:\n"
                "  cache:\n"
                "    image: redis:7\n"
                "    healthcheck:\n"
                "      disable: true\n"
            )},
        ),
        Example(
            "memcached-through-a-shell",
            files={"compose.yaml": (
                "services:\n"
                "  mc:\n"
                "    image: memcached:1.6-alpine\n"
                "    command: [\"sh\", \"-c\", \"echo starting; exec memcached -m 64\"]\n"
            )},
            expect={"compose.yaml": (
                "services:\n"
                "  mc:\n"
                "    image: memcached:1.6-alpine\n"
                "    command: [\"sh\", \"-c\", \"echo starting; exec memcached -m 64\"]\n"
                "    healthcheck:\n"
                '      test: ["CMD", "nc", "-z", "127.0.0.1", "11211"]\n'
                "      interval: 10s\n"
                "      timeout: 5s\n"
                "      retries: 5\n"
                "      start_period: 30s\n"
            )},
        ),
        Example(
            "sql-server-skipped",
            files={"compose.yaml": (
                "services:\n"
                "  mssql:\n"
                "    image: mcr.microsoft.com/mssql/server:2022-latest\n"
            )},
        ),
    ]

    def apply(self, project: Any, ctx: Any) -> None:
        need_version = False
        for svc in project.services():
            kind = None
            ident = identify(project, svc)
            kind = ident.kind
            derived = None
            if kind is None and ident.ref is not None and not ctx.service_suppressed(svc):
                said = spoken_to_as_store(project, svc)
                if said:
                    family, who = said
                    kind = _family_in_name(family, ident.ref.name)
                    if kind is None:
                        ctx.skip_part(svc.name, f"{who} talks {family} to it, but its image {ident.ref.raw} is not one "
                                      "harden recognises, so no healthcheck is added; add one that fits the image "
                                      f"({FAMILY_CHECK_HINT[family]})", line=svc.line, file=rel_of(project, svc.doc))
                        continue
                    derived = (f"{svc.name}: {ident.ref.raw} is taken for a {family} image (its name, and {who} talks "
                               f"{family} to it): the healthcheck runs {FAMILY_CHECK_HINT[family].split()[0]}, which "
                               "the image must have")
            if kind is None or role_of_kind(kind) not in ROLES:
                continue
            if ctx.service_suppressed(svc):
                continue
            state = healthcheck_state(project, svc)
            if state in ("compose", "disabled", "image"):
                continue
            line = svc.line
            rel = rel_of(project, svc.doc)
            if state in ("partial", "image_or_none"):
                ctx.skip_part(svc.name, "its healthcheck sets no `test` (only settings such as its timing or "
                              "`disable: false`, which keep the image's own check), and harden does not know whether "
                              f"{ident.ref.raw if ident.ref else 'its image'} defines one; harden does not complete a "
                              "healthcheck the user started", line=line, file=rel)
                continue
            merged = svc.merged
            ok, why = runs_server(kind, merged, ident)
            if not ok:
                ctx.skip_part(svc.name, f"no healthcheck added: {why}", line=line, file=rel)
                continue
            try:
                plan = plan_for(kind, ident.ref, merged, exact=ident.source != "built")
            except NoCheck as e:
                ctx.skip_part(svc.name, str(e), line=line, file=rel)
                continue
            key = "image" if "image" in merged else "build"
            doc, node = svc.owner(key)
            if not isinstance(node, dict):
                continue
            if _is_shared_anchor(doc, svc.name, node):
                ctx.skip_part(svc.name, "the service's mapping is an anchor (&name); a key added here would "
                              "reach every service that merges it", line=line, file=rel)
                continue
            env_doc = env_node = None
            if plan.env:
                if svc.inherited("environment"):
                    ctx.skip_part(svc.name, "the healthcheck needs REDISCLI_AUTH in the environment, which "
                                  "comes from an anchor or `extends` here; add the healthcheck by hand",
                                  line=line, file=rel)
                    continue
                env_doc, env_node = svc.owner("environment")
            interval = str(ctx.opt("healthcheck_interval"))
            timeout = str(ctx.opt("healthcheck_timeout"))
            retries = ctx.opt("healthcheck_retries")
            start = longer(str(ctx.opt("healthcheck_start_period")), plan.start_period)
            hc = {"test": plan.test, "interval": interval, "timeout": timeout,
                  "retries": int(retries) if str(retries).isdigit() else retries, "start_period": start}
            token = [d.checkpoint() for d in project.docs]
            try:
                if plan.env:
                    self._add_env(env_doc, env_node, plan.env)
                doc.add_key(node, "healthcheck", hc)
            except EditError as e:
                for d, t in zip(project.docs, token):
                    d.rollback(t)
                ctx.skip_part(svc.name, f"cannot add the healthcheck: {e}", line=line, file=rel)
                continue
            svc.invalidate()
            need_version = True
            if derived:
                ctx.note(derived, line=line, file=rel_of(project, doc))
            for n in plan.notes:
                ctx.note(f"{svc.name}: {n}", line=line, file=rel_of(project, doc))
            if ident.source == "built":
                ctx.note(f"{svc.name}: its image {svc.image} is taken for the one {ident.built_by} builds, "
                         f"FROM {ident.ref.raw if ident.ref else '?'}: the healthcheck fits that base",
                         line=line, file=rel_of(project, doc))
            elif ident.source == "dotenv":
                ctx.note(f"{svc.name}: the image comes from a variable; the healthcheck fits what the project's "
                         f".env sets ({ident.ref.raw if ident.ref else '?'})", line=line, file=rel_of(project, doc))
            elif ident.source == "variable":
                ctx.note(f"{svc.name}: the image comes from a variable; the healthcheck fits its default "
                         f"({ident.ref.raw if ident.ref else '?'})", line=line, file=rel_of(project, doc))
        if need_version:
            ensure_version(project, ctx, "start_period")

    @staticmethod
    def _add_env(doc: Any, node: Any, env: dict) -> None:
        cur = node.get("environment") if "environment" in own_keys(node) else None
        if cur is None:
            doc.add_key(node, "environment", dict(env))
            return
        for k, v in env.items():
            if isinstance(cur, dict):
                doc.add_key(cur, k, v)
            elif isinstance(cur, list):
                doc.append_item(node, "environment", f"{k}={v}")
            else:
                raise EditError("environment is neither a mapping nor a list")
