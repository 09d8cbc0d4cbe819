"""depends-healthy: services wait until the databases they use report healthy."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from harden.catalog import role_of_kind
from harden.compose_doc import anchored_source, is_flow, own_keys
from harden.errors import EditError, Skip
from harden.model import env_files
from harden.roles import service_for_host
from harden.healthchecks import can_wait_healthy, environment, identify, runs_server
from harden.transform import Example, Transform
from harden.transforms.db_healthcheck import ROLES, ensure_version, rel_of


def swarm_sign(project: Any) -> str | None:
    """What shows a compose project is deployed with `docker stack deploy` (swarm), if anything:
    an overlay network, or a service placed or replicated the swarm way."""
    for doc in getattr(project, "docs", []):
        data = getattr(doc, "data", None)
        nets = data.get("networks") if isinstance(data, dict) else None
        if isinstance(nets, dict):
            for n, spec in nets.items():
                if isinstance(spec, dict) and str(spec.get("driver", "")).strip() == "overlay":
                    return f"the network {n} uses the overlay driver"
    for s in project.services():
        dep = s.merged.get("deploy")
        if isinstance(dep, dict):
            if dep.get("placement") is not None:
                return f"{s.name} has deploy.placement"
            if str(dep.get("mode", "")).strip() == "global":
                return f"{s.name} has deploy.mode: global"
            if dep.get("endpoint_mode") is not None:
                return f"{s.name} has deploy.endpoint_mode"
        ports = s.merged.get("ports")
        if isinstance(ports, list) and any(isinstance(p, dict) and str(p.get("mode", "")) == "ingress" for p in ports):
            return f"{s.name} publishes a port in ingress mode"
    return None


HEALTHY = "service_healthy"
STARTED = "service_started"

# environment keys that name a host (DB_HOST, DATABASE_URL, REDIS_ADDR, CELERY_BROKER_URL, ...)
_HOSTISH_KEY = re.compile(r"HOST|URL|URI|ADDR|SERVER|DSN|BROKER|ENDPOINT|CONN|NODES", re.I)
_DEFAULT = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*:?-([^}]*)\}")

# client libraries (app-source facts) -> the kinds of service they talk to
CLIENT_KINDS = {
    "psycopg": {"postgres"}, "psycopg2": {"postgres"}, "asyncpg": {"postgres"}, "pg8000": {"postgres"},
    "pymysql": {"mysql", "mariadb"}, "mysqlclient": {"mysql", "mariadb"}, "MySQLdb": {"mysql", "mariadb"},
    "mysql": {"mysql", "mariadb"}, "aiomysql": {"mysql", "mariadb"}, "mysql.connector": {"mysql", "mariadb"},
    "mariadb": {"mariadb", "mysql"},
    "redis": {"redis", "valkey", "keydb", "dragonfly"}, "aioredis": {"redis", "valkey", "keydb", "dragonfly"},
    "pymongo": {"mongo"}, "motor": {"mongo"},
    "pika": {"rabbitmq"}, "aio_pika": {"rabbitmq"}, "kombu": {"rabbitmq", "redis"},
    "elasticsearch": {"elasticsearch"},
}


def hosts_in_value(value: Any) -> set[str]:
    """Host names in an environment value: ``db``, ``db:5432``, ``postgres://u:p@db:5432/x``,
    ``mongodb://a:27017,b:27017/x``, ``${DB_HOST:-db}``."""
    if value is None or isinstance(value, (bool, int, float)):
        return set()
    s = _DEFAULT.sub(lambda m: m.group(1), str(value)).strip()
    out: set[str] = set()
    for part in re.split(r"[\s;]+", s):
        if not part:
            continue
        if "://" in part:
            try:
                netloc = urlsplit(part).netloc
            except ValueError:
                continue
            netloc = netloc.rsplit("@", 1)[-1]
            for h in netloc.split(","):
                h = h.strip()
                if h.startswith("["):
                    continue
                out.add(h.split(":", 1)[0].lower())
        else:
            for h in part.split(","):
                h = h.rsplit("@", 1)[-1].split("/", 1)[0].split(":", 1)[0]
                if h:
                    out.add(h.lower())
    return out


def dependencies(merged: dict) -> list[str]:
    d = merged.get("depends_on")
    if isinstance(d, dict):
        return [str(k) for k in d]
    if isinstance(d, list):
        return [str(x) for x in d if isinstance(x, str)]
    return []


def _has_condition(deps: Any, name: str) -> bool:
    if isinstance(deps, dict):
        v = deps.get(name)
        return isinstance(v, dict) and "condition" in v
    return False


def reaches(graph: dict[str, set[str]], start: str, goal: str) -> bool:
    seen, todo = set(), [start]
    while todo:
        n = todo.pop()
        if n == goal:
            return True
        if n in seen:
            continue
        seen.add(n)
        todo.extend(graph.get(n, ()))
    return False


class DependsHealthy(Transform):
    """What it does: every `depends_on` edge to a service that has a healthcheck (its own, one
    db-healthcheck just added, or its image's) becomes `condition: service_healthy`. A short
    list (`depends_on: [db, cache]`) turns into the long form in place, in the same order and
    with its comments; its other edges get `condition: service_started` (what the short form
    meant). Existing conditions are kept. A service whose environment or env file names a
    database, cache, queue or search service as a host (`DB_HOST: db`,
    `DATABASE_URL: postgres://u:p@db:5432/app`, `- REDIS_HOST=cache`), or whose source uses its
    client library (app-source facts), but has no edge to it gets one, with a note.

    Why: `depends_on` alone only orders container start-up. A service that connects to its
    database once at start-up then races the database's initialisation and crashes. With
    `service_healthy`, compose starts it only after the database's healthcheck passes.

    Example:

        web:
          depends_on:
            - db      # primary store
            - mailer
        ->
        web:
          depends_on:
            db:      # primary store
              condition: service_healthy
            mailer:
              condition: service_started

    Safety: `up` now waits for the dependency's healthcheck; a dependency that turns unhealthy
    stops its dependents from starting (that is the point). `service_healthy` is only written
    for a dependency with a healthcheck that runs: never for one without, or with
    `disable: true` (compose would reject or hang). Edits go into the file that writes
    `depends_on` (base or override). Long-form conditions do not exist in the legacy 3.x file
    format or in 2.0: a `version: "3.x"` key is removed (obsolete in the Compose
    Specification) and "2"/"2.0" is raised to "2.1", with a note. New edges are never added
    when they would close a cycle, or to a service hidden behind a profile the dependent
    does not share, or from a file pulled in with `include:` to a service that file cannot
    see (compose validates an included file on its own).

    When it refuses: a `depends_on` that comes only from an anchor (`<<: *defaults`) or
    `extends` (editing it would change every service sharing it), flow-style mappings
    (`{...}`), and unusual list layouts are left alone with the reason. A project written
    for swarm (an overlay network, deploy.placement, deploy.mode: global, ingress ports) is
    left whole: `docker stack deploy` rejects depends_on conditions.
    """

    name = "depends-healthy"
    summary = "Make dependents wait for healthy databases (condition: service_healthy)"
    kind = "compose"
    examples = [
        Example(
            "short-list",
            files={"compose.yaml": (
                "services:\n"
                "  db:\n"
                "    image: postgres:16\n"
                "    healthcheck:\n"
                '      test: ["CMD-SHELL", "pg_isready -h 127.0.0.1"]\n'
                "  mailer:\n"
                "    image: example/mailer\n"
                "  web:\n"
                "    image: example/web\n"
                "    depends_on:\n"
                "      - db  # primary store\n"
                "      # outgoing mail\n"
                "      - mailer\n"
            )},
            expect={"compose.yaml": (
                "services:\n"
                "  db:\n"
                "    image: postgres:16\n"
                "    healthcheck:\n"
                '      test: ["CMD-SHELL", "pg_isready -h 127.0.0.1"]\n'
                "  mailer:\n"
                "    image: example/mailer\n"
                "  web:\n"
                "    image: example/web\n"
                "    depends_on:\n"
                "      db:  # primary store\n"
                "        condition: service_healthy\n"
                "      # outgoing mail\n"
                "      mailer:\n"
                "        condition: service_started\n"
            )},
        ),
        Example(
            "edge-from-environment",
            files={"compose.yaml": (
                "services:\n"
                "  db:\n"
                "    image: mysql:8.0\n"
                "    healthcheck:\n"
                '      test: ["CMD", "mysqladmin", "ping", "-h", "127.0.0.1"]\n'
                "  worker:\n"
                "    image: example/worker\n"
                "    environment:\n"
                "      - DB_HOST=db\n"
            )},
            expect={"compose.yaml": (
                "services:\n"
                "  db:\n"
                "    image: mysql:8.0\n"
                "    healthcheck:\n"
                '      test: ["CMD", "mysqladmin", "ping", "-h", "127.0.0.1"]\n'
                "  worker:\n"
                "    image: example/worker\n"
                "    environment:\n"
                "      - DB_HOST=db\n"
                "    depends_on:\n"
                "      db:\n"
                "        condition: service_healthy\n"
            )},
        ),
        Example(
            "no-healthcheck-unchanged",
            files={"compose.yaml": (
                "services:\n"
                "  cache:\n"
                "    image: memcached:1.6\n"
                "  web:\n"
                "    image: example/web\n"
                "    depends_on: [cache]\n"
            )},
        ),
    ]

    def apply(self, project: Any, ctx: Any) -> None:
        swarm = swarm_sign(project)
        if swarm:
            raise Skip(f"the project is written for swarm ({swarm}): `docker stack deploy` ignores depends_on "
                       "and rejects its long form with conditions (depends_on must be a list)")
        services = project.services()
        by_name = {s.name: s for s in services}
        capable = {s.name: can_wait_healthy(project, s) for s in services}
        stores = {}
        for s in services:
            kind = identify(project, s).kind
            if kind is not None and role_of_kind(kind) in ROLES and runs_server(kind, s.merged)[0]:
                stores[s.name] = kind
        graph = {s.name: set(dependencies(s.merged)) for s in services}
        self._needs_long = False

        def cond(dep: str) -> str:
            return HEALTHY if capable.get(dep) else STARTED

        # services other services `extends`: compose (1.x, and the 2.x file format) refuses a
        # depends_on there, so harden adds no new edge to them
        extended = set()
        for s in services:
            for _d, node in s.defs:
                ext = node.get("extends") if isinstance(node, dict) else None
                target = ext if isinstance(ext, str) else ext.get("service") if isinstance(ext, dict) else None
                if target is not None and not (isinstance(ext, dict) and "file" in ext):
                    extended.add(str(target))

        # 1. per service: the edges to add, and the mapping that holds its depends_on (its own,
        # or one written once under an anchor and merged in with `<<`)
        plans: list[tuple[Any, list, list, Any]] = []  # (svc, new edges, owners, (doc, mapping) or None)
        for svc in services:
            if ctx.service_suppressed(svc):
                continue
            merged = svc.merged
            line = svc.line
            rel = rel_of(project, svc.doc)
            current = set(dependencies(merged))
            new_edges = self._new_edges(project, ctx, svc, by_name, stores, graph, current)
            if new_edges and svc.name in extended and "depends_on" not in merged:
                ctx.note(f"{svc.name}: not adding depends_on on {', '.join(d for d, _ in new_edges)}: other services "
                         "extend it, and compose does not allow depends_on in an extended service", line=line, file=rel)
                new_edges = []
            if new_edges and hasattr(project, "visible"):
                edit_doc = next((d for d, n in reversed(svc.defs) if isinstance(n, dict) and "depends_on" in own_keys(n)),
                                svc.defs[0][0])
                vis = project.visible(edit_doc)
                if vis is not None:
                    hidden = [d for d, _ in new_edges if d not in vis]
                    if hidden:
                        ctx.note(f"{svc.name}: not adding depends_on on {', '.join(hidden)}: "
                                 f"{rel_of(project, edit_doc)} is an included file (`include:`) and compose "
                                 "validates it on its own, where that service is not defined",
                                 line=line, file=rel_of(project, edit_doc))
                        new_edges = [(d, w) for d, w in new_edges if d in vis]
            if new_edges:
                new_edges = self._defined_where_extended(project, ctx, svc, new_edges)
            for dep, _why in new_edges:
                graph.setdefault(svc.name, set()).add(dep)
            owners = [(d, n) for d, n in svc.defs if isinstance(n, dict) and "depends_on" in own_keys(n)]
            holder = None
            if owners:
                holder = (owners[-1][0], owners[-1][1], "own")
            elif "depends_on" in merged:
                holder = anchored_source(svc, "depends_on") or (None, None, "extends")
            plans.append((svc, new_edges, owners, holder))

        # 2. one edit per mapping: a depends_on under an anchor is edited once, for every service
        # that shares it, when they all get the same edit
        groups: dict[int, list] = {}
        for plan in plans:
            holder = plan[3]
            shared = holder is not None and holder[1] is not None
            groups.setdefault(id(holder[1]) if shared else id(plan[0]), []).append(plan)
        for group in groups.values():
            self._edit_group(project, ctx, group, capable, cond)
        if self._needs_long:
            ensure_version(project, ctx, "condition")

    def _edit_group(self, project: Any, ctx: Any, group: list, capable: dict, cond: Any) -> None:
        """Edit the depends_on that the services of ``group`` share (one service, or several
        reading it from one anchor): its short form to the long one, plus the new edges every
        one of them wants."""
        svc0, _e, owners0, holder = group[0]
        if holder is None and not group[0][1]:
            return
        if holder is not None and holder[2] == "extends":
            deps = svc0.merged.get("depends_on")
        else:
            deps = holder[1].get("depends_on") if holder is not None else None
        pending = [d for d in dependencies({"depends_on": deps}) if capable.get(d) and not _has_condition(deps, d)]
        # edges every sharer wants, in the first one's order; the others are said, not made
        common = [(d, w) for d, w in group[0][1] if all(d in {x for x, _ in p[1]} for p in group[1:])]
        names = {d for d, _ in common}
        for svc, edges, _o, _h in group:
            rest = [d for d, _ in edges if d not in names]
            if rest:
                others = ", ".join(p[0].name for p in group if p[0] is not svc)
                ctx.note(f"{svc.name}: not adding depends_on {', '.join(rest)}: its depends_on is written once under "
                         f"an anchor and shared with {others}, which do not need it", line=svc.line,
                         file=rel_of(project, svc.doc))
        if not pending and not common:
            return
        if holder is not None and holder[2] == "extends":
            ctx.skip_part(svc0.name, "depends_on comes from `extends`; changing it there would change every service "
                          "that extends the same one", line=svc0.line, file=rel_of(project, svc0.doc))
            return
        token = [d.checkpoint() for d in project.docs]
        needs_long_before = self._needs_long
        extra = [d for d, _ in common]
        try:
            if holder is None:
                doc, node = svc0.defs[0]
                if any(capable.get(d) for d in extra):
                    doc.add_key(node, "depends_on", {d: {"condition": cond(d)} for d in extra})
                    self._needs_long = True
                else:
                    doc.add_key(node, "depends_on", list(extra))
            elif len(group) == 1 and owners0:
                for i, (doc, node) in enumerate(owners0):
                    self._convert(doc, node, extra if i == len(owners0) - 1 else [], cond)
            else:
                self._convert(holder[0], holder[1], extra, cond)
        except EditError as e:
            for d, t in zip(project.docs, token):
                d.rollback(t)
            self._needs_long = needs_long_before
            for svc, _e, _o, _h in group:
                ctx.skip_part(svc.name, f"depends_on left as it is: {e}", line=svc.line, file=rel_of(project, svc.doc))
            return
        for svc, _e, owners, _h in group:
            svc.invalidate()
            where = holder[0] if holder is not None else svc.defs[0][0]
            for dep, why in common:
                ctx.note(f"{svc.name}: added depends_on {dep} ({cond(dep)}): {why}"
                         + (" (in the anchor it shares)" if len(group) > 1 else ""), line=svc.line,
                         file=rel_of(project, where))

    def _defined_where_extended(self, project: Any, ctx: Any, svc: Any, edges: list) -> list:
        """Drop the new edges a service extended from another file would pass on to a project
        where the dependency does not exist (`extends` brings in the one service it names, with
        its depends_on, not the other file's services)."""
        world = getattr(project, "world", None)
        if world is None:
            return edges
        doc = next((d for d, n in reversed(svc.defs) if isinstance(n, dict) and "depends_on" in own_keys(n)),
                   svc.defs[0][0])
        keep = []
        extenders = [x for d, _n in svc.defs for x in world.extenders(d, svc.name)]
        for dep, why in edges:
            missing = []
            for other_doc, other in extenders:
                for q in world.projects_with(other_doc):
                    if q.service(dep) is None and f"{other} ({rel_of(q, other_doc)})" not in missing:
                        missing.append(f"{other} ({rel_of(q, other_doc)})")
            if missing:
                ctx.note(f"{svc.name}: not adding depends_on {dep}: {', '.join(missing)} extends {svc.name} and "
                         f"would inherit the edge, but {dep} is not a service there", line=svc.line,
                         file=rel_of(project, doc))
                continue
            keep.append((dep, why))
        return keep

    # ---------------------------------------------------------------- editing
    def _convert(self, doc: Any, node: Any, extra: list[str], cond: Any) -> None:
        deps = node["depends_on"]
        if isinstance(deps, list):
            names = [str(x) for x in deps]
            if any(not isinstance(x, str) for x in deps) or len(set(names)) != len(names):
                raise EditError("the depends_on list holds something other than unique service names")
            if any(cond(n) == HEALTHY for n in names + extra):
                new_map = {n: {"condition": cond(n)} for n in names + extra}
                doc.seq_to_map(node, "depends_on", new_map)
                self._needs_long = True
            else:
                for e in extra:
                    doc.append_item(node, "depends_on", e)
            return
        if not isinstance(deps, dict):
            raise EditError("depends_on is neither a list nor a mapping")
        if is_flow(deps):
            raise EditError("depends_on is written in flow style ({...}); harden leaves it as it is")
        wrote = False
        for k in own_keys(deps):
            v = deps[k]
            if cond(str(k)) != HEALTHY:
                continue
            if v is None:
                doc.replace_value(deps, k, {"condition": HEALTHY})
                wrote = True
            elif isinstance(v, dict) and "condition" not in v:
                if is_flow(v) or not own_keys(v):
                    doc.replace_value(deps, k, {**{str(a): b for a, b in v.items()}, "condition": HEALTHY})
                else:
                    doc.add_key(v, "condition", HEALTHY)
                wrote = True
        for e in extra:
            doc.add_key(deps, e, {"condition": cond(e)})
            wrote = True
        if wrote:
            self._needs_long = True

    # ------------------------------------------------------------- new edges
    def _new_edges(self, project: Any, ctx: Any, svc: Any, by_name: dict, stores: dict,
                   graph: dict, current: set[str]) -> list[tuple[str, str]]:
        if svc.name in stores:
            return []  # a database's own settings (replication peers, ...) are not dependencies
        found: dict[str, str] = {}
        sources: list[tuple[str, dict]] = [("environment", environment(svc.merged))]
        sources += [(f"env file {p}", vals) for p, vals in env_files(svc)]
        for where, env in sources:
            for key, value in env.items():
                if value is None:
                    continue
                sval = str(value)
                if not (_HOSTISH_KEY.search(str(key)) or "://" in sval):
                    continue
                for h in hosts_in_value(sval):
                    t = service_for_host(project, svc, h)
                    if t in stores and t not in found:
                        found[t] = f"its {where} sets {key} to " + ("that host" if h == t else f"{h}, a name of {t}")
        facts = None
        try:
            facts = ctx.facts(project, svc.name)
        except Exception:
            facts = None
        if facts is not None:
            env_hosts = getattr(facts, "env_hosts", None)
            items: list[Any] = []
            if isinstance(env_hosts, dict):
                items = list(env_hosts.values()) + list(env_hosts.keys())
            elif env_hosts:
                try:
                    items = list(env_hosts)
                except TypeError:
                    items = []
            # env_hosts are the names of the variables the code reads for hosts: their values
            # in this service's environment (or env files) name the hosts
            env_all: dict = {}
            for _where, env in sources:
                env_all.update(env)
            for it in items:
                if not isinstance(it, str) or env_all.get(it) is None:
                    continue
                for h in hosts_in_value(str(env_all[it])):
                    t = service_for_host(project, svc, h)
                    if t in stores and t not in found:
                        found[t] = f"the app's source reads {it}, which names " + ("that host" if h == t else f"{h}, a name of {t}")
            clients = getattr(facts, "clients", None) or ()
            try:
                clients = list(clients)
            except TypeError:
                clients = []
            for c in clients:
                kinds = CLIENT_KINDS.get(str(c)) or CLIENT_KINDS.get(str(c).split(".")[0])
                if not kinds:
                    continue
                match = [n for n, k in stores.items() if k in kinds]
                if len(match) == 1 and match[0] not in found:
                    found[match[0]] = f"the app's source uses the {c} client"
        out = []
        my_profiles = set(map(str, svc.merged.get("profiles") or []))
        for dep, why in found.items():
            if dep == svc.name or dep in current:
                continue
            if reaches(graph, dep, svc.name):
                ctx.note(f"{svc.name}: not adding depends_on {dep}: it would close a cycle", line=svc.line,
                         file=rel_of(project, svc.doc))
                continue
            dep_profiles = set(map(str, by_name[dep].merged.get("profiles") or []))
            if dep_profiles and not dep_profiles <= my_profiles:
                continue
            out.append((dep, why))
        return out
