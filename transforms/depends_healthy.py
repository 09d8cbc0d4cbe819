"""depends-healthy: services wait until the databases they use report healthy."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from harden.catalog import role_of_kind
from harden.compose_doc import anchored_source, is_flow, overlay_def, own_keys
from harden.errors import EditError, Skip
from harden.model import env_files
from harden.roles import service_for_host
from harden.healthchecks import can_wait_healthy, environment, identify, runs_server
from harden.transform import Example, Transform
from harden.transforms.db_healthcheck import ROLES, ensure_version, no_check_reason, rel_of


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


def healthcheck_added_now(svc: Any) -> bool:
    """The service's healthcheck is one harden wrote in this run (db-healthcheck): the key is
    the service's own and has no position in the text as read."""
    own = [n for _d, n in svc.defs if isinstance(n, dict) and "healthcheck" in own_keys(n)]
    return bool(own) and all("healthcheck" not in (getattr(getattr(n, "lc", None), "data", None) or {}) for n in own)


def link_targets(merged: dict) -> list[str]:
    """The services a service's legacy `links` name (``db`` or ``db:alias``)."""
    links = merged.get("links")
    if not isinstance(links, list):
        return []
    return [str(x).split(":", 1)[0] for x in links if isinstance(x, str) and x.strip()]


def extends_source(svc: Any, key: str) -> tuple[Any, str] | None:
    """(doc, service) whose own ``key`` a service gets through `extends` (followed through
    extends chains, in the same file or another one the run has read), or None."""
    from harden.model import doc_dir

    world = getattr(svc.project, "world", None)

    def follow(doc: Any, node: Any, depth: int) -> tuple[Any, str] | None:
        ext = node.get("extends") if isinstance(node, dict) else None
        if ext is None or depth > 10:
            return None
        if isinstance(ext, str):
            ext = {"service": ext}
        if not isinstance(ext, dict) or "service" not in ext:
            return None
        other = doc
        if "file" in ext:
            try:
                other = world.doc((doc_dir(doc) / str(ext["file"])).resolve()) if world is not None else None
            except OSError:
                other = None
        if other is None:
            return None
        name = str(ext["service"])
        target = other.services().get(name)
        if isinstance(target, dict) and key in own_keys(target):
            return other, name
        return follow(other, target, depth + 1)

    for doc, node in reversed(svc.defs):
        hit = follow(doc, node, 0)
        if hit is not None:
            return hit
    return None


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
    meant). Existing conditions are kept, except an explicit `condition: service_started` on a
    store whose healthcheck db-healthcheck wrote in this same run: the file could ask for
    nothing more before, so it now waits for healthy (with a note). A flow mapping
    (`depends_on: {db: {restart: true}}`) is written again in block style. A service whose
    environment or env file names a database, cache, queue or search service as a host
    (`DB_HOST: db`, `DATABASE_URL: postgres://u:p@db:5432/app`, `- REDIS_HOST=cache`), whose
    legacy `links` name it, or whose source uses its client library (app-source facts), but has
    no edge to it gets one, with a note.

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
    (`{...}`) with comments, quotes or anchors, and unusual list layouts are left alone with the
    reason. No new `depends_on` goes into a service that others `extends` (in its file or from
    another file): docker-compose 1.x refuses to extend a service with depends_on; the
    extending services get the edge in their own files instead, as their own projects read them.
    An edge to a store with no healthcheck that runs stays `service_started`, and the
    service that has it says why (the store's own reason: no client in the image, a password
    harden cannot reach, a healthcheck disabled, ...). A project written
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
            ident = identify(project, s)
            kind = ident.kind
            if kind is not None and role_of_kind(kind) in ROLES and runs_server(kind, s.merged, ident)[0]:
                stores[s.name] = kind
        graph = {s.name: set(dependencies(s.merged)) | set(link_targets(s.merged)) for s in services}
        self._needs_long = False
        # stores whose healthcheck db-healthcheck wrote in this run: an explicit
        # `condition: service_started` on them was the only condition the file could ask for
        self._upgrade = {s.name for s in services if s.name in stores and capable[s.name] and healthcheck_added_now(s)}

        def cond(dep: str) -> str:
            return HEALTHY if capable.get(dep) else STARTED

        # services other services `extends` (in this file, or from another file with `extends:
        # {file: ...}`): compose (1.x, and the 2.x file format) refuses a depends_on there
        # ("services with 'depends_on' cannot be extended"), so harden adds no new edge to them
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
            if new_edges and (svc.name in extended or svc.extended_elsewhere()) and "depends_on" not in merged:
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
        self._say_why_not(project, ctx, services, by_name, stores, capable)

    def _say_why_not(self, project: Any, ctx: Any, services: list, by_name: dict, stores: dict,
                     capable: dict) -> None:
        """An edge to a store that cannot wait for healthy (the store has no healthcheck that
        runs) is said on the service that has it, with the store's reason."""
        why: dict[str, str] = {}
        for svc in services:
            if ctx.service_suppressed(svc):
                continue
            deps = svc.merged.get("depends_on")
            for dep in dependencies(svc.merged):
                if dep not in stores or capable.get(dep) or dep not in by_name:
                    continue
                spec = deps.get(dep) if isinstance(deps, dict) else None
                cond = str(spec.get("condition", STARTED)).strip() if isinstance(spec, dict) else STARTED
                if cond != STARTED:
                    continue
                if dep not in why:
                    why[dep] = no_check_reason(project, by_name[dep])
                ctx.skip_part(svc.name, f"depends_on {dep} stays service_started: {dep} has no healthcheck to wait "
                              f"for ({why[dep]})", line=svc.line, file=rel_of(project, svc.doc))

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
        pending = [d for d in dependencies({"depends_on": deps})
                   if capable.get(d) and (not _has_condition(deps, d) or self._upgradable(deps, d))]
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
            src = extends_source(svc0, "depends_on")
            world = getattr(project, "world", None)
            if src is not None and world is not None and any(
                    p is not project and (p.editable is None or id(src[0]) in p.editable)
                    and all(p.service(d) is not None and can_wait_healthy(p, p.service(d)) for d in pending)
                    and not self._blocked_elsewhere(p, src[0], src[1], pending)
                    for p in world.projects_with(src[0])):
                # the file that writes it is edited as a project of its own, where the same
                # dependencies have a healthcheck, and so do they in every file that extends it:
                # the edit is made there, once, for all of them
                return
            where = f" ({rel_of(project, src[0]) if src[0] in project.docs else src[0].path}, service {src[1]})" \
                if src is not None else ""
            ctx.skip_part(svc0.name, f"depends_on comes from `extends`{where}; changing it there would change every "
                          "service that extends the same one", line=svc0.line, file=rel_of(project, svc0.doc))
            return
        blocked: dict[str, str] = {}
        if holder is not None and holder[2] == "own" and len(group) == 1 and owners0:
            # files that extend this service inherit its depends_on: a dependency that has no
            # healthcheck there cannot wait for healthy here either
            blocked = self._blocked_elsewhere(project, owners0[-1][0], svc0.name,
                                              [d for d in dependencies({"depends_on": deps})] + [d for d, _ in common])
            for d, where in blocked.items():
                if d in pending or d in names:
                    ctx.skip_part(svc0.name, f"depends_on {d} stays service_started: {where} extends {svc0.name} and "
                                  f"inherits this depends_on, but {d} has no healthcheck there", line=svc0.line,
                                  file=rel_of(project, owners0[-1][0]))
            pending = [d for d in pending if d not in blocked]
            if blocked:
                outer = cond

                def cond(d: str, _outer: Any = outer) -> str:
                    return STARTED if d in blocked else _outer(d)
            if not pending and not common:
                return
        token = [d.checkpoint() for d in project.docs]
        needs_long_before = self._needs_long
        self.upgraded: list = []
        extra = [d for d, _ in common]
        new_in = svc0.doc
        try:
            if holder is None:
                # no depends_on in any file: in an overlay project, written in the overlay (the
                # base file is edited as a project of its own)
                doc, node = overlay_def(svc0, getattr(project, "editable", None)) or svc0.defs[0]
                new_in = doc
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
            where = holder[0] if holder is not None else new_in
            line = svc.line if where is svc.doc else (where.key_line(where.services(), svc.name) or svc.line)
            for dep, doc in self.upgraded:
                ctx.note(f"{svc.name}: depends_on {dep} now waits for service_healthy instead of service_started: "
                         f"{dep} had no healthcheck until harden added one, so service_started was the only "
                         "condition the file could ask for", line=svc.line, file=rel_of(project, doc))
            for dep, why in common:
                ctx.note(f"{svc.name}: added depends_on {dep} ({cond(dep)}): {why}"
                         + (" (in the anchor it shares)" if len(group) > 1 else ""), line=line,
                         file=rel_of(project, where))

    @staticmethod
    def _blocked_elsewhere(project: Any, doc: Any, name: str, deps: list) -> dict[str, str]:
        """dep -> "file (service)" of a service in another file that extends ``name`` of
        ``doc``, inherits its depends_on, and is used in a project where ``dep`` has no
        healthcheck that runs (or does not exist)."""
        world = getattr(project, "world", None)
        out: dict[str, str] = {}
        if world is None:
            return out
        for ext_doc, sname in world.extenders(doc, name):
            for p in world.projects_with(ext_doc):
                s = p.service(sname)
                if s is None or any(isinstance(n, dict) and "depends_on" in own_keys(n) for _d, n in s.defs):
                    continue  # its own depends_on wins over the inherited one
                for d in deps:
                    t = p.service(d)
                    if d not in out and (t is None or not can_wait_healthy(p, t)):
                        out[d] = f"{rel_of(p, ext_doc)} ({sname})"
        return out

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

    def _upgradable(self, deps: Any, name: str) -> bool:
        v = deps.get(name) if isinstance(deps, dict) else None
        return (name in getattr(self, "_upgrade", ()) and isinstance(v, dict)
                and str(v.get("condition", "")).strip() == STARTED)

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
            self._convert_flow(doc, node, deps, extra, cond)
            return
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
            elif self._upgradable(deps, str(k)) and "condition" in own_keys(v):
                doc.set_scalar(v, "condition", HEALTHY)
                self.upgraded.append((str(k), doc))
                wrote = True
        for e in extra:
            doc.add_key(deps, e, {"condition": cond(e)})
            wrote = True
        if wrote:
            self._needs_long = True

    def _convert_flow(self, doc: Any, node: Any, deps: Any, extra: list[str], cond: Any) -> None:
        """A flow mapping (``depends_on: {db: {condition: service_started}}``, ``{}``): nothing to
        do when no entry changes; else the mapping is written again in block style, in the same
        order, when it holds only names and conditions and no comment."""
        new: dict = {}
        changed = bool(extra)
        for k in own_keys(deps):
            v = deps[k]
            if v is not None and not isinstance(v, dict):
                raise EditError("depends_on is written in flow style ({...}) with values harden does not rewrite")
            cur = {str(a): b for a, b in (v or {}).items()}
            if cond(str(k)) == HEALTHY and ("condition" not in cur or self._upgradable(deps, str(k))):
                if "condition" in cur:
                    self.upgraded.append((str(k), doc))
                cur["condition"] = HEALTHY
                changed = True
            new[str(k)] = cur
        if not changed:
            return
        for e in extra:
            new[e] = {"condition": cond(e)}
        first, last = doc.entry_span(node, "depends_on")
        text = "\n".join(doc.lines[first:last + 1])
        if "#" in text or "'" in text or '"' in text or "&" in text or "*" in text:
            raise EditError("depends_on is written in flow style ({...}) with comments, quotes or anchors; "
                            "harden leaves it as it is")
        doc.replace_value(node, "depends_on", new)
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
        for t in link_targets(svc.merged):
            if t in stores and t not in found:
                found[t] = f"its links name {t} (links start it first, but do not wait for it)"
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
