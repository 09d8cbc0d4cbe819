"""dev-profiles: dev tools (Adminer, phpMyAdmin, MailHog, ...) start only when asked for."""

from __future__ import annotations

from typing import Any

from harden.compose_doc import is_flow, own_keys
from harden.errors import EditError
from harden.model import as_map
from harden.project import ci_stack_word
from harden.roles import DB_UI_KINDS, classify
from harden.transform import Example, Transform
from harden.transforms.networks import bind_ports_to_loopback, rel_of
from harden.yaml_emit import Flow


def _dependencies(merged: dict) -> dict[str, str]:
    """Services a service needs started -> the key that says so (depends_on, links, ...)."""
    out: dict[str, str] = {}
    dep = merged.get("depends_on")
    if isinstance(dep, (list, dict)):
        for k in as_map(dep):
            out.setdefault(str(k), "depends_on")
    for link in merged.get("links") or []:
        out.setdefault(str(link).split(":", 1)[0], "links")
    for vf in merged.get("volumes_from") or []:
        if not str(vf).startswith("container:"):
            out.setdefault(str(vf).split(":", 1)[0], "volumes_from")
    nm = merged.get("network_mode")
    if isinstance(nm, str) and nm.startswith("service:"):
        out.setdefault(nm.split(":", 1)[1], "network_mode")
    return out


def _how_to_free(user: str, tool: str, key: str) -> str:
    """What the user can do so that ``tool`` can move: the edge ``key`` from ``user`` goes."""
    if key == "depends_on":
        # `required: false` (Compose 2.20+) would let compose start the user without the tool, but
        # docker-compose 1.x and older Compose v2 reject the key: harden does not write it
        return (f"; to move it, take {tool} out of {user}'s depends_on (Compose 2.20+ only: mark it "
                f"`required: false`; docker-compose 1.x rejects that key), then run harden again")
    return f"; to move it, take {tool} out of {user}'s {key} first, then run harden again"


def _drop_plan(project: Any, svc: Any, tool: str) -> list | str:
    """Where ``svc``'s `depends_on: tool` is written, when taking it out is safe: a list of
    (doc, service node) to edit, else why not.

    `depends_on` only orders the start (and waits for a condition): a database UI or a mail
    catcher is not something a service needs in order to start, it is reached (if at all) when
    used. So the edge may go with the tool into its profile, unless it says more than order:
    `service_completed_successfully` (the tool is a job the service needs done), an edge that
    comes from an anchor or `extends` (changing it there changes other services), or one in a
    file this project does not edit."""
    dep = as_map(svc.merged.get("depends_on"))
    cond = dep.get(tool) if isinstance(dep, dict) else None
    if isinstance(cond, dict) and str(cond.get("condition") or "") == "service_completed_successfully":
        return "it waits for the tool to complete (service_completed_successfully)"
    plan = []
    for doc, node in svc.defs:
        if not isinstance(node, dict) or "depends_on" not in own_keys(node):
            continue
        value = node.get("depends_on")
        if tool not in [str(k) for k in as_map(value)]:
            continue
        if project.editable is not None and id(doc) not in project.editable:
            return f"it is written in {rel_of(project, doc)}, which this run does not edit"
        if is_flow(value) and isinstance(value, dict) and len(value) > 1:
            return "its depends_on is a flow mapping ({...}) of several services"
        plan.append((doc, node))
    if not plan:
        return "its depends_on comes from an anchor or `extends`, which other services may share"
    return plan


def _remove_dependency(doc: Any, node: Any, tool: str) -> None:
    """Remove ``tool`` from the service ``node``'s depends_on (list or mapping); the key goes
    when it was the only dependency."""
    value = node["depends_on"]
    names = [str(k) for k in as_map(value)]
    if names == [tool]:
        doc.delete_key(node, "depends_on")
    elif isinstance(value, dict):
        key = next(k for k in value if str(k) == tool)
        doc.delete_key(value, key)
    elif is_flow(value):
        line = doc.key_line(node, "depends_on")
        if line is not None and "#" in doc.lines[line - 1]:
            raise EditError("its flow list shares its line with a comment")
        doc.replace_value(node, "depends_on", Flow([x for x in value if str(x) != tool]))
    else:
        doc.remove_item(node, "depends_on", next(i for i, x in enumerate(value) if str(x) == tool))


def _profiles(merged: dict) -> list[str]:
    p = merged.get("profiles")
    return [str(x) for x in p] if isinstance(p, list) else []


class DevProfiles(Transform):
    """What it does: gives dev tools (Adminer, phpMyAdmin, pgAdmin, MailHog, Mailpit, MailDev,
    MailCatcher, Redis Commander, RedisInsight, mongo-express, kafka-ui, Prisma Studio, ... by
    image, with or without registry and namespace; by the program a service starts, as its
    compose command (`npx prisma studio`) or its Dockerfile's CMD (`RUN npm i -g maildev` +
    `CMD maildev` on a node image); or any service configured with role = "devtool")
    `profiles: [dev]`, so a plain `docker compose up` no longer starts them, and binds their
    published ports to 127.0.0.1. `docker compose --profile dev up` starts them.

    Why: a database UI or a mail catcher is a development convenience and an open door in
    production: Adminer on a public port invites password guessing against the database.
    Profiles keep them one flag away for developers and out of every other `up`.

    Example:
        services:                          services:
          adminer:                           adminer:
            image: adminer                     image: adminer
            ports:                             ports:
              - "8080:8080"                      - "127.0.0.1:8080:8080"
                                               profiles:
                                                 - dev

    Safety: `docker compose up` (and CI or deploy scripts that run it) no longer starts the
    tool; developers add `--profile dev` (docker-compose 1.28+ / Compose v2 understand
    profiles). The tool's UI answers on 127.0.0.1 only: open it from the same machine or
    through an SSH tunnel.

    A service that still starts and lists the tool in `depends_on` loses that entry (the key,
    when it was the only one), with a note: Compose rejects a project whose started service
    depends on a service of an inactive profile, and `depends_on` only orders the start — an
    app reaches its mail catcher when it sends mail, nobody needs a database UI to start.
    (`required: false` would keep the entry for Compose 2.20+, but docker-compose 1.x and older
    Compose v2 reject the key, so harden does not write it.)

    When it refuses: a tool that a service of the default profile (or of another profile)
    needs in a way that is more than start order — `links`, `volumes_from`, `network_mode:
    service:`, `condition: service_completed_successfully` — or whose `depends_on` entry is
    written in an anchor or `extends` that other services share, in a file this run does not
    edit, or in a flow list of several names, stays as it is, with the reason and how to free
    it. A test or CI stack (a file or folder named
    `test`, `tests`, `e2e`, `ci`, `integration`: `docker-compose.test.yml`,
    `compose-e2e-test.yml`) keeps its tools: its tests read the mail catcher or drive the UI.
    Services that already have `profiles` are left as they are, and so is a service whose
    `profiles` would have to be written through an anchor. A tool that a service still
    started talks to (a mail catcher as the app's SMTP server) moves, with a note naming that
    service.
    """

    name = "dev-profiles"
    summary = "Move dev tools (Adminer, phpMyAdmin, MailHog, ...) into profiles: [dev]"
    kind = "compose"
    examples = [
        Example(
            "adminer",
            files={"compose.yaml": (
                "services:\n"
                "  db:\n"
                "    image: mysql:8.0\n"
                "  # DB admin UI\n"
                "  adminer:\n"
                "    image: adminer:4\n"
                "    ports:\n"
                "      - \"8080:8080\"\n"
                "    depends_on:\n"
                "      - db\n"
            )},
            expect={"compose.yaml": (
                "services:\n"
                "  db:\n"
                "    image: mysql:8.0\n"
                "  # DB admin UI\n"
                "  adminer:\n"
                "    image: adminer:4\n"
                "    profiles:\n"
                "      - dev\n"
                "    ports:\n"
                "      - \"127.0.0.1:8080:8080\"\n"
                "    depends_on:\n"
                "      - db\n"
            )},
        ),
        Example(
            "the-app-waited-for-it",
            files={"compose.yaml": (
                "services:\n"
                "  app:\n"
                "    build: .\n"
                "    depends_on:\n"
                "      - cache\n"
                "      - mail  # catches what the app sends\n"
                "  cache:\n"
                "    image: memcached:1.6\n"
                "  mail:\n"
                "    image: axllent/mailpit\n"
            )},
            expect={"compose.yaml": (
                "services:\n"
                "  app:\n"
                "    build: .\n"
                "    depends_on:\n"
                "      - cache\n"
                "  cache:\n"
                "    image: memcached:1.6\n"
                "  mail:\n"
                "    image: axllent/mailpit\n"
                "    profiles:\n"
                "      - dev\n"
            )},
        ),
        Example(
            "linked-by-the-app",
            files={"compose.yaml": (
                "services:\n"
                "  app:\n"
                "    build: .\n"
                "    links: [mail]\n"
                "  mail:\n"
                "    image: axllent/mailpit\n"
            )},
            expect={},
        ),
        Example(
            "already-in-a-profile",
            files={"compose.yaml": (
                "services:\n"
                "  pgadmin:\n"
                "    image: dpage/pgadmin4\n"
                "    profiles: [tools]\n"
            )},
            expect={},
        ),
    ]

    def apply(self, project: Any, ctx: Any) -> None:
        profile = str(ctx.opt("dev_profile") or "dev")
        services = {s.name: s for s in project.services()}
        tools = {}
        roles = {}
        for n, s in services.items():
            r = roles[n] = classify(project, s, ctx)
            if r.role == "devtool" and not _profiles(s.merged):
                tools[n] = s
        if not tools:
            return
        stack = next(((rel, w) for rel in project.rels if (w := ci_stack_word(rel))), None)
        if stack is not None:
            # a test or CI stack runs its tests against every service in it: a mail catcher the
            # tests read, a database UI a browser test drives
            rel, word = stack
            for n, s in tools.items():
                if not ctx.service_suppressed(s):
                    ctx.skip_part(n, f"left in the default profile: {rel} is a test or CI stack (its name says "
                                  f"`{word}`), whose tests need its services running; if it is not one, give "
                                  f"{n} `profiles: [{profile}]` by hand", line=s.line, file=rel_of(project, s.doc))
            return
        # a tool stays in the default profile when a service that will still start needs it;
        # a `depends_on` that only orders the start goes with the tool (see _drop_plan)
        deps = {n: _dependencies(s.merged) for n, s in services.items()}
        moving = set(tools)
        blocked: dict[str, str] = {}
        drops: dict[tuple[str, str], list] = {}  # (dependent, tool) -> the depends_on nodes to edit
        while True:
            out = {}
            for n, s in services.items():
                if n in moving or profile in _profiles(s.merged):
                    continue
                prof = _profiles(s.merged)
                for d in sorted(set(deps[n]) & moving):
                    if (n, d) in drops:
                        continue
                    plan = _drop_plan(project, s, d) if deps[n][d] == "depends_on" else None
                    if isinstance(plan, list) and (n in roles[d].talks_to or n in deps[d]):
                        # the tool itself uses the service (a database that waits for its admin
                        # UI): without the entry, depends-healthy would make the tool wait for it
                        # on the next run instead; the order is the user's to turn around
                        plan = f"{d} uses {n} itself, so the order between them is for you to choose"
                    if isinstance(plan, list) and not ctx.service_suppressed(s):
                        drops[(n, d)] = plan
                        continue
                    where = f"profile {', '.join(prof)}" if prof else "the default profile"
                    out.setdefault(d, f"{n} ({where}) needs it ({deps[n][d]}); in profile {profile} "
                                      f"compose would refuse to start {n}"
                                   + (f" and harden cannot take it out of {n}'s depends_on: {plan}" if plan else "")
                                   + _how_to_free(n, d, deps[n][d]))
            if not out:
                break
            for d, why in out.items():
                moving.discard(d)
                blocked[d] = why
        drops = {k: v for k, v in drops.items() if k[1] in moving}
        moved: list[str] = []
        for n in tools:
            s = services[n]
            if ctx.service_suppressed(s):
                continue
            if n in blocked:
                ctx.skip_part(n, f"left in the default profile: {blocked[n]}", line=s.line,
                              file=rel_of(project, s.doc))
            else:
                users = [(u, drops[(u, t)]) for (u, t) in sorted(drops) if t == n]
                docs = [s.defs[0][0]] + [d for _u, plan in users for d, _node in plan]
                marks = {id(d): (d, d.checkpoint()) for d in docs}
                why = self._add_profile(s, profile) or self._drop_edges(n, users)
                if why:  # neither the profile nor a dropped edge alone: compose would reject either
                    for d, token in marks.values():
                        d.rollback(token)
                else:
                    for u, _plan in users:
                        ctx.note(f"{u}: took {n} out of its depends_on (it only ordered the start: {u} reaches "
                                 f"{n} when it uses it, not to start); {n} now starts only with the {profile} "
                                 f"profile, and compose would refuse to start {u} while it still depended on it",
                                 line=services[u].line, file=rel_of(project, services[u].doc))
                if why:
                    ctx.skip_part(n, why, line=s.line, file=rel_of(project, s.doc))
                else:
                    moved.append(n)
            if s.merged.get("ports") and not s.merged.get("network_mode"):
                bind_ports_to_loopback(s, ctx, "the dev tool")
        by_file: dict = {}
        for n in moved:  # one note per file that defines moved tools (included files too)
            by_file.setdefault(rel_of(project, services[n].doc), []).append(n)
        for rel, names in by_file.items():
            # services that stay and send to a moved tool (a mail catcher as the app's SMTP server)
            users = sorted({f"{u} ({t})" for t in names if roles[t].kind not in DB_UI_KINDS
                            for u, r in roles.items()
                            if t in r.talks_to and u not in moved and not _profiles(services[u].merged)})
            ctx.note(f"{', '.join(names)} now start{'s' if len(names) == 1 else ''} only with the {profile} "
                     f"profile: `docker compose --profile {profile} up` (docker-compose 1.28+: "
                     f"`docker-compose --profile {profile} up`)"
                     + (f"; without it, {', '.join(users)} cannot reach {'it' if len(names) == 1 else 'them'}: "
                        "configure a real server for them outside development" if users else ""), file=rel)

    @staticmethod
    def _drop_edges(tool: str, users: list[tuple[str, list]]) -> str | None:
        """Take ``tool`` out of the depends_on of each user; why not, when an edit fails."""
        try:
            for _u, plan in users:
                for doc, node in plan:
                    _remove_dependency(doc, node, tool)
        except EditError as e:
            return f"harden could not take it out of {', '.join(u for u, _ in users)}'s depends_on: {e}"
        return None

    @staticmethod
    def _add_profile(svc: Any, profile: str) -> str | None:
        if svc.inherited("profiles"):
            return "its profiles come from an anchor or `extends`"
        doc, node = svc.defs[0]
        if is_flow(node):
            return "the service is written in flow style ({...}); harden leaves it as it is"
        try:
            if "profiles" in own_keys(node):  # `profiles:` with no value
                doc.replace_value(node, "profiles", [profile])
            else:
                keys = own_keys(node)
                after = "image" if "image" in keys else ("build" if "build" in keys else None)
                doc.add_key(node, "profiles", [profile], after=after)
        except EditError as e:
            return str(e)
        return None
