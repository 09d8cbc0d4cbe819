"""networks: keep the databases off the public side of a compose project."""

from __future__ import annotations

import re
from typing import Any

from harden.compose_doc import anchored_source, is_flow, merge_sources, overlay_def, own_keys
from harden.errors import EditError
from harden.roles import Role, alias_networks, classify_all, original_reach
from harden.transform import Example, Transform
from harden.yaml_emit import Flow

LOOPBACK = "127.0.0.1"


# --------------------------------------------------------------------------- ports


def _split_outside(s: str, sep: str = ":") -> list[str]:
    """Split on ``sep`` outside ``${...}`` and ``[...]``."""
    parts, cur, depth = [], [], 0
    i = 0
    while i < len(s):
        ch = s[i]
        if ch == "$" and i + 1 < len(s) and s[i + 1] == "{":
            depth += 1
            cur.append("${")
            i += 2
            continue
        if ch == "[":
            depth += 1
        elif ch in "}]" and depth:
            depth -= 1
        if ch == sep and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    parts.append("".join(cur))
    return parts


_IP = re.compile(r"^(?:\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:.]*\])$")
_PORTISH = re.compile(r"^(?:\d+(?:-\d+)?|\$\{[^}]+\})$")


def loopback_port(item: Any) -> tuple[str | None, str | None]:
    """A short-syntax port mapping bound to 127.0.0.1: (new text, None), or (None, why not).
    ``(None, None)`` when it is already bound to one address."""
    s = str(item).strip()
    proto = ""
    if "/" in s and not s.endswith("}"):
        s, _, p = s.rpartition("/")
        proto = "/" + p
    parts = _split_outside(s)
    if len(parts) >= 3 or (parts and _IP.match(parts[0]) and len(parts) > 1):
        ip = parts[0]
        if ip in ("0.0.0.0", "[::]", "::"):
            return None, f"{item} is bound to {ip} on purpose; left as written"
        return None, None
    if len(parts) == 1:
        if not _PORTISH.match(parts[0]) or parts[0].startswith("${") and ":-" not in parts[0]:
            return None, f"{item} is a variable that may hold a whole mapping; cannot tell how to bind it"
        return f"{LOOPBACK}::{parts[0]}{proto}", None
    host, cont = parts
    if not _PORTISH.match(host) or not _PORTISH.match(cont):
        return None, f"{item} is not a port mapping harden understands"
    return f"{LOOPBACK}:{host}:{cont}{proto}", None


def bind_ports_to_loopback(svc: Any, ctx: Any, what: str) -> bool:
    """Bind every published port of ``svc`` to 127.0.0.1, in every file that lists some.
    Returns True when something changed. Notes say what changed and what could not."""
    changed: list[str] = []
    problems: list[str] = []
    files: list[Any] = []
    if svc.inherited("ports"):
        ctx.skip_part(svc.name, "its ports come from an anchor or `extends`; harden does not edit through them, "
                      "so they stay published on every interface", line=svc.line, file=rel_of(svc.project, svc.doc))
        return False
    for doc, node in svc.defs:
        if not isinstance(node, dict) or "ports" not in own_keys(node):
            continue
        ports = node["ports"]
        if not isinstance(ports, list):
            continue
        files.append((doc, node))
        for i, item in enumerate(list(ports)):
            if isinstance(item, dict):
                if "host_ip" in item:
                    if str(item["host_ip"]) in ("0.0.0.0", "::"):
                        problems.append(f"host_ip {item['host_ip']} is set on purpose; left as written")
                    continue
                # `host_ip` is Compose v2 only: docker-compose 1.x rejects the file with it
                problems.append(f"{item.get('target')} (long syntax) is left as written: add `host_ip: 127.0.0.1` "
                                "if only Compose v2 runs this file (docker-compose 1.x rejects host_ip)")
                continue
            new, why = loopback_port(item)
            if new is None:
                if why:
                    problems.append(why)
                continue
            try:
                doc.set_scalar(ports, i, new)
            except EditError as e:
                problems.append(f"{item}: {e}")
                continue
            changed.append(f"{item} -> {new}")
    doc, node = files[-1] if files else svc.defs[0]
    where = {"line": doc.key_line(node, "ports"), "file": rel_of(svc.project, doc)}
    if changed:
        ctx.note(f"{svc.name}: {what}'s published port bound to {LOOPBACK} ({'; '.join(changed)}): tools on "
                 f"this machine still connect through 127.0.0.1, other machines no longer can", **where)
    for p in problems:
        ctx.note(f"{svc.name}: {what}'s port {p}: it is reachable from other machines", **where)
    return bool(changed)


def rel_of(project: Any, doc: Any) -> str | None:
    for d, rel in zip(project.docs, project.rels):
        if d is doc:
            return rel
    return None


# ------------------------------------------------------------------------- planning


def current_networks(svc: Any) -> tuple[list[str], bool]:
    """(networks, explicit): the networks a service is on today; no `networks` -> default."""
    nets = svc.merged.get("networks")
    if isinstance(nets, dict) and nets:
        return [str(k) for k in nets], True
    if isinstance(nets, list) and nets:
        return [str(x) for x in nets], True
    return ["default"], False


def networks_target(svc: Any, service_nodes: dict[int, str], editable: set | None = None) -> tuple[Any, Any, bool]:
    """(doc, mapping, has_key): where an edit of the service's `networks` goes. The mapping that
    writes the key (its own, or one under an anchor it merges in with `<<`); without the key
    anywhere, the last mapping in its `<<` chain that is another service's own (`worker: <<:
    *app`, where `app: &app` is a service: a key added to app reaches worker too), else its own.
    In an overlay project (``editable``: ids of the files it may change) whose base file does
    not write the key, the service's own mapping in the last file it may change: compose adds an
    overlay's `networks` to the base's (none there), so the base file stays as it is.
    ``service_nodes``: id of each service's own mapping -> its name."""
    for doc, node in reversed(svc.defs):
        if isinstance(node, dict) and "networks" in own_keys(node):
            return doc, node, True
    held = anchored_source(svc, "networks")
    if held is not None:
        return held[0], held[1], True
    over = overlay_def(svc, editable)
    if over is not None:
        return over[0], over[1], False
    doc, node = svc.defs[0]
    chain = [m for m in merge_sources(node) if id(m) in service_nodes] if isinstance(node, dict) else []
    return (doc, chain[-1], False) if chain else (doc, node, False)


def _editable(svc: Any, target: tuple[Any, Any, bool]) -> str | None:
    """Why the networks of this service cannot be edited at ``target``, or None."""
    if svc.inherited("networks") and anchored_source(svc, "networks") is None:
        return "its networks come from `extends`; harden does not edit through it"
    others = svc.extended_elsewhere() if hasattr(svc, "extended_elsewhere") else []
    if others:
        d, name = others[0]
        return (f"{name} in {getattr(d, 'path', d)} extends it and would inherit networks that file does not "
                "declare")
    doc, node, has_key = target
    if has_key:
        value = node["networks"]
        if isinstance(value, dict) and is_flow(value):
            return "its `networks:` is a flow mapping ({...})"
        if isinstance(value, list) and is_flow(value):
            first, last = doc.entry_span(node, "networks")
            if first != last:
                return "its `networks:` is a flow list over several lines"
    elif is_flow(node):
        return "the service is written in flow style ({...})"
    if svc.merged.get("networks") is not None and not isinstance(svc.merged.get("networks"), (list, dict)):
        return "its `networks:` value is not a list or a mapping"
    return None


class Networks(Transform):
    """What it does: declares a `frontend` and a `backend` network and attaches every service
    by its role: databases, caches and brokers on `backend` only; services that publish ports
    or are reverse proxies on `frontend`, plus `backend` when they talk to a store; internal
    workers on `backend`, plus the project's `default` network when they call the internet;
    database UIs (Adminer, ...) on both. Whom a service talks to comes from the app's source
    when harden can read it, else from `depends_on`, `links`, environment values that name a
    service (`DB_HOST: db`, `postgres://u:p@db:5432/x`), Traefik labels and the upstreams of
    a proxy's mounted config. A service whose traffic harden cannot see is assumed to talk to
    the stores it can reach as the files are written (it keeps working), never to one it shares
    no network with. Services that find each other through a registry (Eureka, Consul: each
    registers the address of one of its networks, and harden cannot tell which) get the same
    networks. In an overlay (`-f compose.yml -f compose.prod.yml`) whose base file writes no
    `networks` for its services, they are written into the overlay (compose adds them to the base
    file's services), which leaves the base file as it is. `backend` gets `internal: true` (no way in or out) when no
    service that is on `backend` alone needs the internet or publishes ports. A database's
    published host port is bound to 127.0.0.1.

    Why: with one shared network, a compromised public-facing service (a proxy, an admin UI)
    reaches the database directly. On separate networks an attacker has to get through the
    app that bridges them first (the DMZ pattern). A published database port is open on every
    interface of the host: anyone who can reach the machine can try passwords.

    Example:
        services:                          services:
          web:                               web:
            build: .                           build: .
            ports: ["8000:8000"]               ports: ["8000:8000"]
            environment:                       environment:
              DB_HOST: db                        DB_HOST: db
          db:                                networks:
            image: postgres:16                 - frontend
            ports: ["5432:5432"]               - backend
                                             db:
                                               image: postgres:16
                                               ports: ["127.0.0.1:5432:5432"]
                                               networks:
                                                 - backend
                                           networks:
                                             frontend:
                                             backend:

    Safety: a service that reaches another by a name harden cannot see (a host name in a
    config file it does not read) loses that connection; every service keeps a shared network
    with everything it names. A worker that needs the internet keeps a way out: it joins
    `default`, or `backend` stays non-internal (a note says which and why). Services without
    `networks` that harden does not attach stay on `default`; the service they talk to joins
    `default` too. Remote machines can no longer open the database port; local tools can.
    Ports written as a bare number (`- 5432`, a random host port) become `127.0.0.1::5432`.
    Long-syntax ports are left as written with a note: `host_ip` is Compose v2 only and
    docker-compose 1.x rejects the file with it.

    When it refuses: a service with `network_mode` (its networking belongs to the host or to
    another service) is left alone; so are projects whose networks already keep the stores
    away from the public services, stores on external networks (other projects share them),
    and networks that come from `extends`. Networks written once in an anchor (`<<: *app`, or
    a service other services merge) are planned for every service that shares them and
    written once there, each sharer getting what any of them needs; an anchor that a store
    and another service share is left, with the reason. A store that stays on a network with
    a public service whose traffic harden cannot see is reported with what to configure
    (`talks_to`). When a store would have to share a
    network with a public service it does not need, or a connection cannot be kept, nothing
    about networks changes and the reason is reported. Existing networks, aliases, links and
    per-network options are kept; nothing is removed. A project that uses `include:` gets
    no network plan (compose validates each included file on its own, so its services cannot
    join networks the including file declares); published store ports are still bound to
    127.0.0.1 in the file that defines them.
    """

    name = "networks"
    summary = "Put databases on an internal backend network, public services on frontend"
    kind = "compose"
    examples = [
        Example(
            "web-and-db",
            files={"compose.yaml": (
                "services:\n"
                "  web:\n"
                "    build: .\n"
                "    ports:\n"
                "      - \"8000:8000\"\n"
                "    environment:\n"
                "      DB_HOST: db\n"
                "\n"
                "  db:\n"
                "    image: postgres:16\n"
                "    ports:\n"
                "      - \"5432:5432\"   # psql from the host\n"
                "\n"
                "volumes:\n"
                "  data:\n"
            )},
            expect={"compose.yaml": (
                "services:\n"
                "  web:\n"
                "    build: .\n"
                "    ports:\n"
                "      - \"8000:8000\"\n"
                "    environment:\n"
                "      DB_HOST: db\n"
                "    networks:\n"
                "      - frontend\n"
                "      - backend\n"
                "\n"
                "  db:\n"
                "    image: postgres:16\n"
                "    ports:\n"
                "      - \"127.0.0.1:5432:5432\"   # psql from the host\n"
                "    networks:\n"
                "      - backend\n"
                "\n"
                "volumes:\n"
                "  data:\n"
                "\n"
                "networks:\n"
                "  frontend:\n"
                "  backend:\n"
            )},
        ),
        Example(
            "worker-that-calls-out",
            files={"compose.yaml": (
                "services:\n"
                "  api:\n"
                "    build: .\n"
                "    ports: [\"80:8000\"]\n"
                "    depends_on: [db]\n"
                "  bot:\n"
                "    build: .\n"
                "    environment:\n"
                "      DATABASE_URL: mysql://app:app@db:3306/app\n"
                "      TELEGRAM_TOKEN: ${TELEGRAM_TOKEN}\n"
                "  db:\n"
                "    image: mysql:8.0\n"
            )},
            expect={"compose.yaml": (
                "services:\n"
                "  api:\n"
                "    build: .\n"
                "    ports: [\"80:8000\"]\n"
                "    depends_on: [db]\n"
                "    networks:\n"
                "      - frontend\n"
                "      - backend\n"
                "  bot:\n"
                "    build: .\n"
                "    environment:\n"
                "      DATABASE_URL: mysql://app:app@db:3306/app\n"
                "      TELEGRAM_TOKEN: ${TELEGRAM_TOKEN}\n"
                "    networks:\n"
                "      - backend\n"
                "      - default\n"
                "  db:\n"
                "    image: mysql:8.0\n"
                "    networks:\n"
                "      - backend\n"
                "networks:\n"
                "  frontend:\n"
                "  backend:\n"
                "    internal: true\n"
            )},
        ),
        Example(
            "host-network-left-alone",
            files={"compose.yaml": (
                "services:\n"
                "  app:\n"
                "    build: .\n"
                "    network_mode: host\n"
                "  db:\n"
                "    image: redis:7\n"
            )},
            expect={},
        ),
    ]

    def apply(self, project: Any, ctx: Any) -> None:
        fe = str(ctx.opt("frontend_network") or "frontend")
        be = str(ctx.opt("backend_network") or "backend")
        services = {s.name: s for s in project.services()}
        if not services:
            return
        roles = classify_all(project, ctx)
        suppressed = {n for n, s in services.items() if ctx.service_suppressed(s)}

        # 1. a database's published port: bind it to the loopback interface
        for n, s in services.items():
            r = roles[n]
            if n in suppressed or not r.store:
                continue
            if r.network_mode:
                if r.network_mode == "host":
                    ctx.note(f"{n}: a {r.role} with network_mode: host listens on every interface of the host; "
                             "harden leaves it (bind it to 127.0.0.1 in its own configuration)", line=s.line,
                             file=rel_of(project, s.doc))
                continue
            if r.publishes:
                bind_ports_to_loopback(s, ctx, f"the {r.role}")

        # 2. the network plan
        incs = getattr(project, "includes", None) or []
        if incs:
            top = [e for e in incs if not project.included(e.doc)] or incs
            files = ", ".join(dict.fromkeys(e.raw for e in top))
            ctx.skip_part("networks", f"the project uses `include:` ({files}): compose validates each included "
                          "file as a model of its own, so its services cannot join networks declared in the "
                          "including file, and services moved off the default network would no longer reach "
                          "them; harden does not plan networks across included files", line=incs[0].line,
                          file=rel_of(project, incs[0].doc))
            return
        # an edit the document refuses (`networks: *nets`, a service that is an alias of another)
        # raises EditError: the engine then rolls this transform back for the project and says why
        start = {id(d): d.checkpoint() for d in project.docs}
        reason = self._plan_and_edit(project, ctx, services, roles, suppressed, fe, be, start)
        if reason:
            ctx.skip_part("networks", reason, line=None)

    # ----------------------------------------------------------------------- plan
    def _plan_and_edit(self, project, ctx, services, roles: dict[str, Role], suppressed, fe, be,
                       start: dict[int, int]) -> str | None:
        declared = project.top("networks")
        external = {k for k, v in declared.items() if isinstance(v, dict) and v.get("external")}

        # who is on which network today
        cur: dict[str, set[str]] = {}
        explicit: dict[str, bool] = {}
        outside: dict[str, str] = {}  # network_mode services that are not placed
        owner: dict[str, str] = {}  # network namespace owner
        for n, s in services.items():
            nm = roles[n].network_mode
            if nm:
                if nm.startswith("service:") and nm.split(":", 1)[1] in services:
                    owner[n] = nm.split(":", 1)[1]
                else:
                    outside[n] = nm
                continue
            nets, exp = current_networks(s)
            cur[n], explicit[n] = set(nets), exp
            owner[n] = n

        def root(n: str) -> str | None:
            seen = set()
            while n in owner and owner[n] != n and n not in seen:
                seen.add(n)
                n = owner[n]
            return n if n in cur else None

        # needs of `network_mode: service:x` users go to x
        talks: dict[str, set[str]] = {n: set() for n in cur}
        egress: dict[str, bool | None] = {n: roles[n].egress for n in cur}
        known: dict[str, bool] = {n: roles[n].talks_known for n in cur}
        for n in services:
            rn = root(n)
            if rn is None:
                continue
            for t in roles[n].talks_to:
                rt = root(t)
                if rt is not None and rt != rn:
                    talks[rn].add(rt)
            if rn != n:
                e = roles[n].egress
                egress[rn] = True if (e or egress[rn]) else (None if e is None or egress[rn] is None else False)
                known[rn] = known[rn] and roles[n].talks_known

        stores = {n for n in cur if roles[n].store}
        public = {n for n in cur if not roles[n].store and (roles[n].public or (explicit[n] and cur[n] & external))}
        if not stores or not public:
            return None
        # a store reached by a network alias (`aliases: [db]` under one network) answers to that
        # name only on that network: a plan that moves either side off it breaks the connection
        for n in sorted(cur):
            for t, hosts in sorted(roles[n].hosts.items()):
                if t not in stores or t not in services:
                    continue
                for h in sorted(hosts):
                    scoped = alias_networks(services[t], h)
                    if scoped:
                        return (f"{n} reaches {t} as {h}, an alias {t} has only on the network "
                                f"{', '.join(sorted(scoped))}; harden does not move either of them off it")

        # whom each service can reach as the files are: one whose traffic harden cannot see
        # talks at most to those (it cannot name a store it shares no network with)
        reach = original_reach(project)

        def may_reach(n: str, s: str) -> bool:
            r = reach.get(n)
            return r is None or s in r

        def talks_to_store(n: str, s: str | None = None) -> bool:
            targets = {s} if s else stores
            if talks[n] & targets:
                return True
            # traffic harden cannot see: assume it talks to the stores it can reach (it keeps working)
            return not known[n] and roles[n].role != "proxy" and any(may_reach(n, t) for t in targets)

        # already isolated? A store must not be on the network a public service is reached on:
        # the implicit `default` everything shares, a public service's only network, or any
        # network of a public service that does not need the store.
        def violations(nets: dict[str, set[str]], expl: dict[str, bool], strict: bool) -> list[tuple[str, str, str]]:
            out = []
            for s in sorted(stores):
                for net in sorted(nets[s]):
                    for p in sorted(public):
                        if net not in nets[p] or (strict and net == be):
                            continue
                        if strict or (net == "default" and not expl[s]) or len(nets[p]) == 1 \
                                or not talks_to_store(p, s):
                            out.append((s, net, p))
            return out

        # a service that shares no network with one it talks to (one an overlay file adds, next
        # to networks its base already planned) still needs a plan
        cut_off = any(not (cur[a] & cur[b]) for a in talks for b in talks[a] if a in cur and b in cur)
        if not violations(cur, explicit, strict=False) and not cut_off:
            self._report_assumed(project, ctx, services, roles, stores, public, cur, known, suppressed, start)
            if any(explicit.values()) and not set().union(*cur.values()) <= {fe, be, "default"}:
                return "the project's networks already keep the stores away from the public services"
            return None

        for s in sorted(stores):
            bad = (cur[s] & external) if explicit[s] else set()
            if bad:
                return (f"{s} is on the external network {sorted(bad)[0]}, which other projects share; "
                        "harden cannot see who else is on it")

        # where each service's networks are written: services that share one mapping (an anchor
        # merged in with `<<`, a service other services merge) are planned and edited as one
        service_nodes = {id(s.defs[0][1]): n for n, s in services.items()}
        editable = getattr(project, "editable", None)
        targets = {n: networks_target(services[n], service_nodes, editable) for n in services}
        groups: dict[int, list[str]] = {}
        for n in sorted(services):
            groups.setdefault(id(targets[n][1]), []).append(n)
        sharers = {n: g for g in groups.values() for n in g}

        # who can be edited
        why_not: dict[str, str] = {}
        for n in cur:
            if n in suppressed:
                why_not[n] = "# harden: ignore"
            else:
                w = _editable(services[n], targets[n])
                if w:
                    why_not[n] = w
        for g in groups.values():
            if len(g) < 2:
                continue
            kinds = {n in stores for n in g}
            stuck = [n for n in g if n in why_not or n not in cur]
            if stuck or len(kinds) > 1:
                why = (f"its networks are written once under an anchor it shares with {', '.join(x for x in g[:4])}"
                       + (f", and {stuck[0]} cannot be edited" if stuck else
                          ", stores and services that are not stores alike; they cannot all be on the same networks"))
                for n in g:
                    if n in cur:
                        why_not.setdefault(n, why)

        # services that find each other through a registry (Eureka, Consul): each registers the
        # address of one of its networks (the first interface, which harden cannot tell), so a
        # caller reaches it only on that network; they keep the same networks, all of them
        peer_groups: dict[str, list[str]] = {}
        for n in sorted(cur):
            if roles[n].discovery and n not in stores:
                peer_groups.setdefault(roles[n].discovery, []).append(n)
        peers = {n: g for g in peer_groups.values() if len(g) > 1 for n in g}
        for g in peer_groups.values():
            stuck = [n for n in g if n in why_not]
            if len(g) > 1 and stuck:
                for n in g:
                    why_not.setdefault(n, f"it finds {', '.join(x for x in g if x != n)[:80]} through "
                                          f"{roles[n].discovery}, so they stay on the same networks, and "
                                          f"{stuck[0]} cannot be edited ({why_not[stuck[0]]})")

        # 3. wanted networks by role
        be_internal = isinstance(declared.get(be), dict) and declared[be].get("internal") in (True, "true")
        nets: dict[str, set[str]] = {}
        notes: list[str] = []
        for n in cur:
            if n in why_not:
                nets[n] = set(cur[n])
                continue
            if n in stores:
                want = {be}
            elif explicit[n]:
                # already on networks of its own: they stay its public side and its way out
                want = {be} if (n not in public or talks_to_store(n)) else set()
            elif n in public:
                want = {fe}
                if talks_to_store(n):
                    want.add(be)
            else:
                want = {be}
                # backend already internal (an overlay's base declared it): a worker that may call
                # out keeps `default` as its way out, as it would had it been there when backend
                # was planned
                if egress[n] is True or (egress[n] is None and be_internal):
                    want.add("default")
            nets[n] = (set(cur[n]) if explicit[n] else set()) | want

        self._unify(nets, sharers, why_not)

        # 4. every connection keeps a shared network
        def can_add(n: str, net: str) -> bool:
            if n in why_not:
                return False
            if n in stores and net != be:
                return False
            return True

        # a service whose traffic harden cannot see is assumed to talk to every store it can reach
        for n in cur:
            if n not in stores and not known[n] and roles[n].role != "proxy":
                talks[n] |= {t for t in stores if may_reach(n, t)}
        edges = sorted((a, b) for a in talks for b in talks[a])
        problem = self._connect(edges, nets, stores, public, why_not, fe, be, can_add, len(cur))
        if problem:
            return problem
        self._unify(nets, sharers, why_not)
        self._unify(nets, peers, why_not)

        bad = violations(nets, {n: explicit[n] or n not in why_not for n in cur}, strict=True)
        dropped: dict[str, set[str]] = {}
        if bad:
            # a store on a network it shares with a public service (kong-net, app_network): when
            # harden knows every service on that network, the store leaves it for backend, and
            # whoever talks to it joins backend (issue 16, item 6)
            shared_why = {st: f"its networks are written once under an anchor it shares with "
                              f"{', '.join(x for x in sharers[st] if x != st)}" for st, _n, _p in bad if len(sharers[st]) > 1}
            dropped = self._leave_shared(bad, services, cur, explicit, {**shared_why, **why_not}, known, external,
                                         declared, be)
            if isinstance(dropped, str):
                s_, net_, p_ = bad[0]
                return (f"{s_} would still share the network {net_} with the public service {p_} ({dropped}); "
                        "networks are left as they are")
            for st, gone in dropped.items():
                nets[st] -= gone
                nets[st].add(be)
            problem = self._connect(edges, nets, stores, public, why_not, fe, be, can_add, len(cur))
            if problem:
                return problem
            self._unify(nets, sharers, why_not)
            self._unify(nets, peers, why_not)
            bad = violations(nets, {n: explicit[n] or n not in why_not for n in cur}, strict=True)
        if bad:
            s, net, p = bad[0]
            why = f" ({why_not[s]})" if s in why_not else ""
            return (f"{s} would still share the network {net} with the public service {p}{why}; harden adds "
                    "networks but never removes one, so networks are left as they are")
        # 5. can backend be internal?
        internal = False
        be_declared = be in declared
        blockers: list[str] = []
        if not be_declared:
            for n in sorted(nets):
                if be not in nets[n]:
                    continue
                ways_out = [x for x in nets[n] - {be}
                            if not (isinstance(declared.get(x), dict) and declared[x].get("internal"))]
                if ways_out:
                    continue
                if roles[n].publishes:
                    blockers.append(f"{n} publishes ports and is on {be} alone (compose drops the published "
                                    "ports of a service that is only on internal networks)")
                elif egress[n] is True:
                    blockers.append(f"{n} calls the internet")
                elif egress[n] is None:
                    blockers.append(f"{n} may call the internet (harden cannot tell; set egress = false or true "
                                    f"for {n} in the harden configuration)")
            internal = not blockers
        if blockers:
            notes.append(f"{be} is not made internal (it keeps a way out to the internet): " + "; ".join(blockers))

        # 6. edits
        changed_any = False
        order = [fe, be, "default"]

        def ordered(new: set[str]) -> list[str]:
            return [x for x in order if x in new] + sorted(new - set(order))

        edited: set[int] = set()
        for n, s in services.items():
            if n not in nets or n in why_not or n in dropped:
                continue
            have = cur[n] if explicit[n] else set()
            missing = nets[n] - have
            if not missing or id(targets[n][1]) in edited:
                continue
            edited.add(id(targets[n][1]))  # once for every service that shares it (the same edit)
            self._attach(targets[n], ordered(missing), explicit[n], shared=len(sharers[n]) > 1)
            changed_any = True
            if len(sharers[n]) > 1:
                ctx.note(f"{', '.join(sharers[n])}: networks {', '.join(ordered(missing))} added once, in the "
                         "anchor they share (each of them gets the same networks)",
                         line=targets[n][0].key_line(targets[n][1], "networks"),
                         file=rel_of(project, targets[n][0]))
        for st, gone in sorted(dropped.items()):
            self._move(targets[st], sorted(gone), ordered(nets[st] - cur[st]))
            changed_any = True
            talkers = sorted(n for n in cur if st in talks.get(n, ()) and n != st)
            ctx.note(f"{st}: left the network {', '.join(sorted(gone))}, which it shared with a public service; it is "
                     f"on {be} now" + (f", with {', '.join(talkers)}, which talk{'s' if len(talkers) == 1 else ''} "
                                       "to it" if talkers else ""),
                     line=targets[st][0].key_line(targets[st][0].services(), st) or services[st].line,
                     file=rel_of(project, targets[st][0]))
        if not changed_any:
            self._report_assumed(project, ctx, services, roles, stores, public, nets, known, suppressed, start)
            return None
        for n, nm in outside.items():
            ctx.skip_part(n, f"network_mode: {nm}: its networking is not compose's to plan; left as it is",
                          line=services[n].line)
        used = set().union(*nets.values())
        self._declare(project, [x for x in (fe, be) if x in used and x not in declared], be, internal)
        for msg in notes:
            ctx.note(msg)
        self._report_assumed(project, ctx, services, roles, stores, public, nets, known, suppressed, start)
        return None

    @staticmethod
    def _report_assumed(project, ctx, services, roles, stores, public, nets, known, suppressed, start) -> None:
        """A store that shares a network with a public service only because harden cannot see
        whom that service talks to (and so keeps it next to the stores) is not isolated: say so,
        and how to tell harden (`talks_to` in the configuration). Not when the plan edits a file
        this project may not change (an overlay's base): the engine then undoes it all and says
        why, and this plan is not what the user gets."""
        editable = getattr(project, "editable", None)
        if editable is not None and any(d.checkpoint() != start.get(id(d)) and id(d) not in editable
                                        for d in project.docs):
            return
        for st in sorted(stores):
            if st in suppressed or st not in nets:
                continue
            near = []
            via_peers = []
            for p in sorted(public):
                if p in stores or p not in nets or roles[p].role in ("devtool", "proxy"):
                    continue
                if st in roles[p].talks_to:
                    continue
                shared = nets[st] & nets[p]
                if not shared:
                    continue
                if not known.get(p, True):
                    near.append((p, sorted(shared)[0]))
                elif roles[p].discovery:
                    users = sorted(n for n in nets if n != p and roles[n].discovery == roles[p].discovery
                                   and st in roles[n].talks_to)
                    if users:
                        via_peers.append((p, sorted(shared)[0], users[0]))
            if not near and via_peers:
                p0, net0, user = via_peers[0]
                who = ", ".join(p for p, _n, _u in via_peers[:4]) + \
                    (f" (+{len(via_peers) - 4} more)" if len(via_peers) > 4 else "")
                ctx.skip_part(st, f"{st} still shares the network {net0} with {who}, which publish"
                                  f"{'es' if len(via_peers) == 1 else ''} ports and do{'es' if len(via_peers) == 1 else ''} "
                                  f"not use it: {p0} and {user} find each other through {roles[p0].discovery}, which "
                                  f"hands out one address of each service, on a network harden cannot tell; so they "
                                  f"stay on the same networks, and {user} uses {st}. To isolate {st}, pin the address "
                                  f"each service registers (eureka.instance.hostname or spring.cloud.inetutils."
                                  f"preferred-networks) and give the {st} network to {user} alone by hand",
                              line=services[st].line, file=rel_of(project, services[st].doc))
                continue
            if not near:
                continue
            who = ", ".join(p for p, _ in near[:4]) + (f" (+{len(near) - 4} more)" if len(near) > 4 else "")
            p0, net0 = near[0]
            one = len(near) == 1
            why = roles[p0].unknown_why
            if why:
                ctx.skip_part(st, f"{st} still shares the network {net0} with {who}, which publish{'es' if one else ''} "
                                  f"ports: harden cannot tell whom {p0} talks to ({why}), so it stays next to the "
                                  f"stores; if {p0} does not use {st}, list the services it does use as talks_to "
                                  f"under [services.{p0}] in .harden.toml and run harden again",
                              line=services[st].line, file=rel_of(project, services[st].doc))
                continue
            ctx.skip_part(st, f"{st} still shares the network {net0} with {who}, which publish{'es' if one else ''} "
                              f"ports: harden cannot tell whom {'it talks' if one else 'they talk'} to (nothing in "
                              f"{'its' if one else 'their'} compose configuration or app source that harden reads "
                              f"says), so {'it stays' if one else 'they stay'} next to the stores; if {p0} does not "
                              f"use {st}, list the services it does use as talks_to under [services.{p0}] in "
                              f".harden.toml (talks_to = [] for none) and run harden again",
                          line=services[st].line, file=rel_of(project, services[st].doc))

    @staticmethod
    def _connect(edges, nets, stores, public, why_not, fe, be, can_add, n_services) -> str | None:
        """Give every pair that talks a shared network (adding, never removing); the reason
        when a pair cannot have one."""
        for _ in range(n_services * 4 + 4):
            changed = False
            for a, b in edges:
                if nets[a] & nets[b]:
                    continue
                options: list[tuple[str, str]] = []
                first_be = lambda xs: sorted(xs, key=lambda x: (x != be, x))  # noqa: E731
                if b in stores:
                    options += [(a, x) for x in first_be(nets[b])]
                elif a in stores:
                    options += [(b, x) for x in first_be(nets[a])]
                else:
                    if a in public and fe in nets[a]:
                        options += [(b, fe)]
                    if be in nets[a]:
                        options += [(b, be)]
                    if be in nets[b]:
                        options += [(a, be)]
                    options += [(b, x) for x in sorted(nets[a])] + [(a, x) for x in sorted(nets[b])]
                for who, net in options:
                    if can_add(who, net):
                        nets[who].add(net)
                        changed = True
                        break
                else:
                    stuck = a if a in why_not else b
                    return (f"{a} talks to {b}, and they could not be given a shared network "
                            f"({stuck}: {why_not.get(stuck, 'a store stays on ' + be + ' only')}); networks left as they are")
            if not changed:
                return None
        return None

    @staticmethod
    def _leave_shared(bad, services, cur, explicit, why_not, known, external, declared, be) -> dict[str, set[str]] | str:
        """The networks each store leaves so that it shares none with a public service: only a
        network it names itself, with no per-network settings, that is not external, and on
        which harden knows whom every other service talks to. The reason when one cannot go."""
        out: dict[str, set[str]] = {}
        for st, net, _pub in bad:
            if st in why_not:
                return why_not[st]
            if not explicit[st] or net == be:
                return f"{st} is on {net} without naming it"
            if net in external:
                return f"{net} is external: other projects share it"
            conf = services[st].merged.get("networks")
            if isinstance(conf, dict) and conf.get(net):
                spec = conf.get(net)
                aliases = spec.get("aliases") if isinstance(spec, dict) else None
                if isinstance(aliases, list) and aliases:
                    return (f"{st} has the alias {', '.join(map(str, aliases))} on {net}, a name services reach it "
                            f"by on that network only (some may be in files run with this one); if none does, drop "
                            f"the alias and run harden again")
                return f"{st} has settings (aliases, addresses) on {net}"
            # a service on that network whose traffic harden cannot see is taken to talk to
            # the store, as everywhere in this plan: it joins backend too, and keeps reaching the
            # store by its name (the settings check above covers names that live on one network);
            # one that cannot be edited keeps the store where it is
            stuck = sorted(n for n in cur if n != st and net in cur[n] and not known.get(n, False) and n in why_not)
            if stuck:
                return (f"harden cannot tell whom {', '.join(stuck[:3])} talks to and cannot move "
                        f"{'them' if len(stuck) > 1 else 'it'} ({why_not[stuck[0]]})")
            if isinstance(declared.get(net), dict) and declared[net].get("internal"):
                return f"{net} is internal already"
            out.setdefault(st, set()).add(net)
        return out

    # ---------------------------------------------------------------------- edits
    @staticmethod
    def _unify(nets: dict[str, set[str]], sharers: dict[str, list[str]], why_not: dict[str, str]) -> None:
        """Services that share where their networks are written get the union of what each
        needs (one edit serves them all): never a store's, whose group holds stores only."""
        for n, g in sharers.items():
            if len(g) < 2 or n in why_not or n not in nets:
                continue
            union = set().union(*(nets[x] for x in g if x in nets))
            for x in g:
                if x in nets:
                    nets[x] |= union

    @staticmethod
    def _attach(target: tuple[Any, Any, bool], add: list[str], explicit: bool, shared: bool = False) -> None:
        """Add networks at ``target`` (see networks_target); ``shared``: the mapping is merged
        into several services, each of which gets this same edit."""
        doc, node, has_key = target
        if explicit and has_key:
            value = node["networks"]
            if isinstance(value, list):
                for net in add:
                    doc.append_item(node, "networks", net)
            else:
                for net in add:
                    doc.add_key(value, net, None)
            return
        if "networks" in own_keys(node):  # `networks:` with no value
            doc.replace_value(node, "networks", list(add))
        else:
            doc.add_key(node, "networks", list(add), through_anchor=shared)

    @staticmethod
    def _move(target: tuple[Any, Any, bool], gone: list[str], add: list[str]) -> None:
        """Take a service off the networks ``gone`` (a list entry, or a key without settings)
        and onto ``add``, at ``target`` (networks_target: the mapping that writes its networks)."""
        doc, node, _ = target
        value = node["networks"]
        if isinstance(value, dict):
            for net in add:
                doc.add_key(value, net, None)
            for net in gone:
                doc.delete_key(value, net)
        elif is_flow(value):
            doc.replace_value(node, "networks", Flow([x for x in value if str(x) not in gone] + add))
        elif all(str(x) in gone for x in value):
            # every entry goes: the list is written anew (comment lines in it are kept)
            doc.replace_value(node, "networks", list(add))
        else:
            for i in reversed([i for i, x in enumerate(value) if str(x) in gone]):
                doc.remove_item(node, "networks", i)
            for net in add:
                doc.append_item(node, "networks", net)

    @staticmethod
    def _declare(project: Any, names: list[str], be: str, internal: bool) -> None:
        if not names:
            return
        doc = project.base
        editable = getattr(project, "editable", None)
        if editable is not None and id(doc) not in editable:
            # an overlay project: the networks are declared in the file it may change (compose
            # merges top-level `networks` of all files), the base file stays as it is
            doc = next(d for d in reversed(project.docs) if id(d) in editable)
        data = doc.data
        value = {n: ({"internal": True} if n == be and internal else None) for n in names}
        if "networks" in own_keys(data):
            top = data["networks"]
            if isinstance(top, dict) and own_keys(top):
                for n, v in value.items():
                    doc.add_key(top, n, v)
            else:
                doc.replace_value(data, "networks", value)
            return
        doc.add_key(data, "networks", value, blank_line=_blank_between_top_keys(doc))


def _blank_between_top_keys(doc: Any) -> bool:
    """Does the file set its entries off with blank lines (top-level keys, else services)?"""
    def blank_before(m: Any, keys: list) -> bool:
        for k in keys[1:]:
            try:
                line = m.lc.key(k)[0] - 1
            except (KeyError, TypeError, AttributeError):
                continue
            while line >= 0 and doc.lines[line].strip().startswith("#"):
                line -= 1
            if line >= 0 and not doc.lines[line].strip():
                return True
        return False

    keys = [k for k in own_keys(doc.data) if k in doc.data and doc.key_line(doc.data, k)]
    if len(keys) > 1:
        return blank_before(doc.data, keys)
    services = doc.data.get("services")
    return isinstance(services, dict) and blank_before(services, own_keys(services))
