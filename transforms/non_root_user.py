"""non-root-user: the stage that runs gets a non-root USER with numeric IDs.

The transform decides where the user, the USER line and the writable folders go, and when a
stage is left. What a base image offers (its family, a user it ships, whether it must stay
root) and what a stack's framework writes or runs at start-up come from harden.stacks:
system.classify_base, and the stack modules' ships_user, keeps_root, onbuild,
writes_at_start, START_BUILD, start_writes, low_ports.
"""

from __future__ import annotations

import json
import posixpath
import re
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harden.errors import Skip
from harden.model import context_file_text, parse_volumes
from harden.record import field, record
from harden.transform import Example, Transform

if TYPE_CHECKING:
    from harden.stacks.system import BaseInfo


class NonRootUser(Transform):
    """What it does: makes the stage that runs (the last stage, or the stage a compose service
    names with ``build.target``) run as a non-root user with a numeric UID:GID. On Debian,
    Ubuntu, RHEL/UBI, Fedora, Rocky/Alma/CentOS it creates a system group and user (10001 and
    ``app`` by default: options ``uid``, ``gid``, ``user``, ``group``) with ``groupadd`` and
    ``useradd --system --no-log-init``; on Alpine and BusyBox with ``addgroup -S`` and
    ``adduser -S -D``. The user gets a home directory (``/home/app``): pip, npm and many
    libraries write caches and config under ``$HOME`` and fail when it is missing or not
    writable. Images that ship a non-root user are switched to it instead: the official node
    image (``node``, 1000:1000), distroless and Chainguard (``nonroot``, 65532:65532),
    ``denoland/deno`` (``deno``, 1993 on Debian/Ubuntu, 1000 on Alpine), ``oven/bun`` (``bun``,
    1000), .NET 8+ ``mcr.microsoft.com/dotnet/*`` (``app``, 1654; ``USER $APP_UID`` counts as
    non-root); ``mambaorg/micromamba``, ``nginx-unprivileged``,
    CircleCI's ``cimg/*`` (``circleci``, 3434) and Elastic's Kibana, Logstash, Filebeat,
    Metricbeat, Heartbeat and Elastic Agent images (their own user, 1000) already run as non-root.
    ``FROM scratch`` gets a numeric ``USER`` only (nothing can be created there). Then
    ``USER <uid>:<gid>`` goes after the last RUN/COPY/ADD of the stage (or replaces a trailing
    ``USER root``), so every build step still runs as root and only the container process
    does not. Builder stages stay root. A stage built ``FROM`` the one that runs (a ``test`` or
    ``builder`` stage on top of a ``development`` target) and running build steps before its
    own USER starts with ``USER root``, so it builds exactly as before.

    Directories the app writes are made writable by the user, in the same RUN that creates it
    (``mkdir -p DIR && chown UID:GID DIR``, never ``chown -R`` of the app): the stage's VOLUME
    paths, the container paths of named and anonymous volumes that compose mounts into the
    services running the stage, and data folders named by ENV / compose ``environment``
    (``DATA_DIR``, ``UPLOAD_FOLDER``, ``MEDIA_ROOT``, ``sqlite:////data/app.db``, ...) or
    created by the Dockerfile with a data-like name (``RUN mkdir -p /app/uploads``), and what the
    framework writes beside its code, recursively (``chown -R``, the repository ships subfolders):
    Rails/Puma ``tmp`` and ``log`` (with ``db`` and ``storage`` when the Gemfile has sqlite3),
    Laravel ``storage`` and ``bootstrap/cache``, ``next start``'s ``.next``, and the folders of
    the log, pid and state files the start command names (``--logfile``, ``--pid``,
    ``--access-logfile``, Celery beat's schedule file). A
    COPY/ADD into such a directory gets ``--chown=UID:GID``. Because Docker discards changes to
    a VOLUME path made after the VOLUME instruction, that RUN is placed above the first
    VOLUME it prepares. The official ONBUILD images (``ruby``, ``rails``, ``python``,
    ``django``, ``node``, ``iojs``, ``golang`` ``*onbuild``) copy the app into their own WORKDIR
    (``/usr/src/app``; golang ``/go/src/app``) before the Dockerfile's steps: that is the app's
    folder (``FROM rails:onbuild`` alone gets the user and a writable ``tmp`` and ``log``).
    A base image named with build arguments that have no default
    (``golang:${GOLANG_VERSION}-alpine${ALPINE_VERSION}``, the build passes them) is read as
    the image every version could name, when only version arguments of the tag are unknown and
    every value they can take gives the same way to add a user.

    A test or CI image (split-stages' rule: its start runs the tests or linters, or only test or
    CI compose files build it) whose start writes into its working directory (``npm install``
    there, directly or in a start script; ``npm run start:prod > prod.log``) gets that directory
    handed to the app user, as Node's and Docker's guidance does it: ``--chown=UID:GID`` on the
    stage's COPY/ADD instructions that put files into it (or into a folder holding it), so the
    copied tree and the folders the COPY creates are the user's, and ``chown UID:GID DIR`` of
    the directory alone (never ``-R``) when a WORKDIR, a RUN or the base image made it before
    the COPY (a COPY --chown leaves the owner of a folder that exists: checked with the classic
    builder). A production image's start keeps being refused (below): there the app must not be
    able to rewrite its own code.

    Why: by default a container runs as root. A bug that lets an attacker run code then gives
    them root inside the container: every file, every mounted secret and volume, and a much
    shorter path out of the container. Numeric IDs let Kubernetes ``runAsNonRoot`` and
    scanners (hadolint DL3002/DL3066) verify it without reading /etc/passwd.

    Example:

        FROM python:3.12-slim
        COPY . /app
        RUN pip install -r /app/requirements.txt
        CMD ["python", "/app/main.py"]

    becomes

        FROM python:3.12-slim
        COPY . /app
        RUN pip install -r /app/requirements.txt
        RUN groupadd --system --gid 10001 app \\
            && useradd --system --no-log-init --uid 10001 --gid app --create-home --home-dir /home/app app
        USER 10001:10001
        CMD ["python", "/app/main.py"]

    Safety: the app can no longer write where root could. Directories harden knows about are
    prepared (above); anything else the app writes into its code directory (a SQLite file
    next to the code, ``collectstatic`` at start-up) fails with "Permission denied" and is
    reported as a note when harden can see it. Bind mounts keep the host's ownership: the host
    directory must be writable by the UID (noted). A named volume created before this change
    keeps its root-owned contents: chown it once or recreate it (noted). Binding a port below
    1024 as non-root works on Docker 20.10+ (it sets ``ip_unprivileged_port_start=0``) but not
    on Kubernetes or with host networking: an EXPOSE below 1024, or a
    CMD that binds one (``--port 80``, ``-b 0.0.0.0:$PORT`` with ``ENV PORT=80``), is noted. Entrypoint scripts
    that call ``apt-get``, ``chown`` or ``su`` at start-up break.

    When it refuses: the stage already runs as a non-root user (unchanged); every compose
    service running the stage sets ``user:`` (compose wins); the base image starts as root on
    purpose and drops privileges itself or needs root for its ports (nginx, httpd, php-fpm and
    php-apache, postgres, mysql, mariadb, redis, rabbitmq and the other servers in catalog.py);
    the image installs ``gosu``/``su-exec``, or its entrypoint script switches user (``gosu``,
    ``su-exec``, ``su ... -c``, ``setpriv``, ``runuser``) or creates users at start-up: such an
    image must start as root; the start (or a start script it copied) installs packages
    (``npm install``, ``pip install``, ``bundle install`` ...) or writes a file into the
    root-owned working directory, unless the image is a test or CI image whose working
    directory can be handed to the app user (above): not when the install writes elsewhere
    (pip: the system's site-packages), the directory is a system folder, a compose bind mount
    covers it (or one inside it holds a path a start command is given: the host's folder keeps
    its owner, which a CI runner's user is, not the app user), a stage it is built FROM copies into it, an ADD unpacks an archive there (or a
    COPY gives it another owner), or a RUN writes, as root, what the start must write there
    (``RUN npm ci`` or ``cp -a .../node_modules`` there when the start runs ``npm install``; the
    log file itself): the reason then says which; the entrypoint, CMD or compose ``command:`` runs ``manage.py
    collectstatic`` at start-up and no static directory is made writable (it would fail with
    Permission denied); the start command writes a file (``--logfile=logs/celery.log``, Celery
    beat's ``celerybeat-schedule``) into the root-owned working directory, or into a folder a
    compose bind mount brings from the host (the host's files keep their owner: the new UID
    cannot write where root could); the start command is a build tool (``mvnw spring-boot:run``, ``gradle
    bootRun``, ``cargo run``, ``dotnet run``) that compiles into the app folder, or the cron
    daemon (``cron``/``crond``, which must start as root); the base image chooses its user
    itself (``umputun/baseimage:app*``, whose /init.sh drops to ``app``; dev container images);
    the base image's family is unknown (an ONBUILD image of an unknown family is named as
    such), or it has no ``useradd`` (UBI minimal/micro, Amazon Linux, *-minimal) so a user
    cannot be created the usual way; the base image comes from a build argument without a
    default that is not only its version, or whose version can change the family
    (``python:${PYTHON_VERSION}``: 3.12-alpine); ``USER`` comes from a build
    variable; the Dockerfile already creates a user or group with the same name or UID; a
    ``# harden: ignore`` pragma above the stage's FROM (or above the FROM of a stage built from
    it that would need ``USER root``).
    """

    name = "non-root-user"
    summary = "Run the final stage as a non-root user with a numeric UID:GID"
    kind = "dockerfile"
    examples = [
        Example(
            "debian-python",
            files={"Dockerfile": (
                "FROM python:3.12-slim\n"
                "WORKDIR /app\n"
                "COPY . .\n"
                "RUN pip install --no-cache-dir -r requirements.txt\n"
                "EXPOSE 8000\n"
                'CMD ["python", "app.py"]\n'
            )},
            expect={"Dockerfile": (
                "FROM python:3.12-slim\n"
                "WORKDIR /app\n"
                "COPY . .\n"
                "RUN pip install --no-cache-dir -r requirements.txt\n"
                "RUN groupadd --system --gid 10001 app \\\n"
                "    && useradd --system --no-log-init --uid 10001 --gid app --create-home --home-dir /home/app app\n"
                "USER 10001:10001\n"
                "EXPOSE 8000\n"
                'CMD ["python", "app.py"]\n'
            )},
        ),
        Example(
            "alpine-volume",
            files={"Dockerfile": (
                "FROM python:3.12-alpine\n"
                "COPY app.py /srv/\n"
                "VOLUME /srv/data\n"
                'CMD ["python", "/srv/app.py"]\n'
            )},
            expect={"Dockerfile": (
                "FROM python:3.12-alpine\n"
                "COPY app.py /srv/\n"
                "RUN addgroup -S -g 10001 app \\\n"
                "    && adduser -S -D -u 10001 -G app app \\\n"
                "    && mkdir -p /srv/data \\\n"
                "    && chown 10001:10001 /srv/data\n"
                "USER 10001:10001\n"
                "VOLUME /srv/data\n"
                'CMD ["python", "/srv/app.py"]\n'
            )},
        ),
        Example(
            "node-image-user",
            files={"Dockerfile": (
                "FROM node:20-slim\n"
                "WORKDIR /app\n"
                "COPY . .\n"
                "RUN npm ci --omit=dev\n"
                'CMD ["node", "server.js"]\n'
            )},
            expect={"Dockerfile": (
                "FROM node:20-slim\n"
                "WORKDIR /app\n"
                "COPY . .\n"
                "RUN npm ci --omit=dev\n"
                "USER 1000:1000\n"
                'CMD ["node", "server.js"]\n'
            )},
        ),
        Example(
            "trailing-user-root",
            files={"Dockerfile": (
                "FROM gcr.io/distroless/python3-debian12\n"
                "COPY --from=build /app /app\n"
                "USER root\n"
                'ENTRYPOINT ["python3", "/app/main.py"]\n'
            )},
            expect={"Dockerfile": (
                "FROM gcr.io/distroless/python3-debian12\n"
                "COPY --from=build /app /app\n"
                "USER 65532:65532\n"
                'ENTRYPOINT ["python3", "/app/main.py"]\n'
            )},
        ),
        Example(
            "already-non-root",
            files={"Dockerfile": (
                "FROM python:3.12-slim\n"
                "RUN useradd --uid 1000 web\n"
                "USER web\n"
                'CMD ["python", "-m", "http.server"]\n'
            )},
        ),
        Example(
            "nginx-left",
            files={"Dockerfile": "FROM nginx:1.27-alpine\nCOPY site/ /usr/share/nginx/html/\n"},
        ),
    ]

    def apply(self, unit: Any, ctx: Any) -> None:
        doc = unit.doc
        indexes = unit.run_stage_indexes()
        left: list[tuple[str, str, int | None]] = []
        notes: list[tuple[str, int | None]] = []
        changed = False
        for idx in indexes:
            stage = doc.stages[idx]
            if ctx.stage_suppressed(doc, stage):
                continue
            plan = _Planner(unit, ctx, idx)
            try:
                plan.run()
            except _Leave as e:
                left.append((f"stage {stage.name}", e.reason, e.line if e.line else stage.startline + 1))
                continue
            changed = changed or plan.changed
            notes.extend(plan.notes)
        if left and not changed and len(left) == len(indexes):
            if len(left) == 1:
                raise Skip(left[0][1])
            raise Skip("; ".join(f"{part}: {reason}" for part, reason, _ in left))
        for part, reason, line in left:
            ctx.skip_part(part, reason, line=line)
        for message, line in dict.fromkeys(notes):  # a service in several compose combinations: once
            ctx.note(message, line=line)


# --------------------------------------------------------------------------- refusing one stage


class _Leave(Exception):
    def __init__(self, reason: str, line: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.line = line


# --------------------------------------------------------------------------- small parsers

_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))")


def substitute(text: str, env: dict[str, str]) -> str | None:
    """``${X}``, ``$X``, ``${X:-d}``, ``${X:+d}`` from ``env``; None when one is unknown."""
    bad = False

    def rep(m: re.Match) -> str:
        nonlocal bad
        name = m.group(1) or m.group(4)
        op, word = m.group(2), m.group(3)
        val = env.get(name)
        if op in (":-", "-"):
            return val if val not in (None, "") or (op == "-" and val is not None) else (word or "")
        if op in (":+", "+"):
            return (word or "") if val not in (None, "") or (op == "+" and val is not None) else ""
        if val is None:
            bad = True
            return ""
        return val

    out = _VAR.sub(rep, text)
    return None if bad else out


# what a version argument can be: a version, and where the tag goes on with a variant of its
# own (`${NODE_VERSION}-alpine`) only that; else also with the image variant it may carry
_PLAIN_VERSIONS = ("1", "1.22.3")
_VERSION_PROBES = _PLAIN_VERSIONS + ("1-alpine", "1-alpine3.20", "1-slim", "1-bookworm", "1-slim-bookworm")


def _whatever_the_version(base: str, env: dict[str, str]) -> Any:
    """``golang:${GOLANG_VERSION}-alpine${ALPINE_VERSION}`` with no value for the arguments (the
    build passes them): when only version arguments (named ``*VERSION*``) of the tag are unknown
    and every value they can take gives the same way to add a user, that one (shown with the
    arguments as written); else None. A version followed by the tag's own variant
    (``${NODE_VERSION}-alpine``) is a plain version; one that ends the tag may carry a variant
    (``python:${PYTHON_VERSION}`` with 3.12-alpine), so those are tried too."""
    from harden.stacks.system import classify_base

    colon, depth = -1, 0
    last = base.rsplit("/", 1)[-1]
    for k, ch in enumerate(last):  # the tag's colon, outside ${...}
        depth += ch == "{"
        depth -= ch == "}"
        if ch == ":" and depth == 0:
            colon = k
            break
    if colon < 0:
        return None
    repo, tag = base[:len(base) - len(last) + colon], last[colon + 1:]
    unknown = {m.group(1) or m.group(4) for m in _VAR.finditer(base)} - set(env)
    if substitute(repo, env) is None or not unknown or any("VERSION" not in n.upper() for n in unknown) \
            or not all(n in {m.group(1) or m.group(4) for m in _VAR.finditer(tag)} for n in unknown):
        return None
    probes = {n: _PLAIN_VERSIONS if all(m.end() < len(tag) and tag[m.end()] == "-"
                                        for m in _VAR.finditer(tag) if (m.group(1) or m.group(4)) == n)
              else _VERSION_PROBES for n in unknown}
    infos = [classify_base(substitute(base, {**env, **{n: p[k % len(p)] for n, p in probes.items()}}) or "")
             for k in range(len(_VERSION_PROBES))]
    ways = {(i.family, i.existing, i.workdir, i.stack) for i in infos}
    if len(ways) > 1 or any(i.leave or i.unknown for i in infos):
        return None
    info = infos[0]
    info.image = base
    return info


def arg_defaults(insts: list) -> dict[str, str]:
    out: dict[str, str] = {}
    for inst in insts:
        if inst.instruction != "ARG":
            continue
        for tok in _split(inst.value):
            name, eq, val = tok.partition("=")
            if eq:
                out[name] = val
    return out


def _split(value: str) -> list[str]:
    try:
        return shlex.split(value, comments=False)
    except ValueError:
        return value.split()


def env_pairs(inst: Any) -> list[tuple[str, str]]:
    toks = _split(inst.value)
    if not toks:
        return []
    if "=" not in toks[0]:  # legacy ``ENV NAME value``
        return [(toks[0], " ".join(toks[1:]))]
    return [tuple(t.split("=", 1)) for t in toks if "=" in t]  # type: ignore[misc]


def volume_paths(inst: Any) -> list[str]:
    v = inst.value.strip()
    if v.startswith("["):
        try:
            arr = json.loads(v)
            if isinstance(arr, list):
                return [str(x) for x in arr]
        except ValueError:
            pass
    return _split(v)


def user_is_root(value: str) -> bool | None:
    """True for root/0 (with any group), False for another user, None when it is a variable."""
    v = value.strip()
    if "$" in v:
        return None
    user = v.split(":", 1)[0].strip()
    return user in ("root", "0", "")


_SYSTEM_DIRS = {"/", "/tmp", "/var/tmp", "/dev", "/dev/shm", "/proc", "/sys", "/run", "/var/run", "/etc",
                "/usr", "/usr/local", "/bin", "/sbin", "/lib", "/lib64", "/var", "/home", "/root", "/opt",
                "/srv", "/mnt", "/boot", "/var/lib", "/var/log", "/usr/local/bin", "/usr/bin"}
_DATA_NAME = re.compile(r"^(?:[A-Z0-9]+_)*(?:DATA|UPLOADS?|MEDIA|STORAGE|STATE|LOGS?|SQLITE|DB|DATABASE)"
                        r"_(?:DIR|DIRECTORY|FOLDER|ROOT|PATH|FILE)$")
_SQLITE_URL = re.compile(r"sqlite(?:\+\w+)?:///([^?\s\"']+)")
_FILE_EXT = re.compile(r"\.(db|sqlite|sqlite3|db3|log|json|lock)$", re.I)


def _file_mode(value: Any) -> int | None:
    """A compose secret/config ``mode`` as permission bits, read as compose reads it: 0o400 and
    0400 are octal, 256 is decimal. The YAML 1.2 reader here gives 0400 as a ScalarInt of 400
    (0o400 as an OctalInt of 256), so a leading-zero number is read again as octal."""
    if isinstance(value, bool):
        return None
    if type(value).__name__ == "OctalInt" or (isinstance(value, int) and type(value) is int):
        return int(value)
    text = str(value).strip().lower()
    try:
        if text.startswith("0o"):
            return int(text[2:], 8)
        if text.isdigit() and set(text) <= set("01234567") and (isinstance(value, int) or text.startswith("0")):
            return int(text, 8)  # ScalarInt 400 (written 0400), or the string "0400"
        return int(text) if text.isdigit() else None
    except ValueError:
        return None


def _norm(path: str, workdir: str) -> str:
    if not path.startswith("/"):
        path = posixpath.join(workdir or "/", path)
    return posixpath.normpath(path).replace("//", "/")


def _under(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")


# --------------------------------------------------------------------------- the planner


@record
class _Dir:
    path: str
    why: str
    volume_line: int | None = None  # 0-based startline of the stage's VOLUME that declares it
    recursive: bool = False  # chown -R: the build context ships subfolders the app writes into
    exists: bool = False  # it is there already (a test image's working directory): chown only


@record
class _Hand:
    """A start-up write into the working directory of a test or CI image, which harden makes
    work by handing that directory to the app user (hand_workdir)."""
    reason: str  # today's refusal, given when the directory cannot be handed
    line: int | None
    needs: tuple[str, ...]  # what the start writes there (absolute): a file, or what an install writes
    install: bool  # a package install (node_modules, lockfiles); else a file the start writes


@record
class _Planner:
    unit: Any
    ctx: Any
    idx: int
    notes: list = field(default_factory=list)
    changed: bool = False
    base_image: str = ""
    base_workdir: str = "/"  # the work directory the base image sets (an ONBUILD image's app folder)
    hand: list = field(default_factory=list)  # _Hand: start-up writes into the working directory of a test image

    # ---------------------------------------------------------------- helpers
    @property
    def doc(self) -> Any:
        return self.unit.doc

    def chain(self) -> list:
        """The stages this one is built FROM, root-most first, ending with this one."""
        stages = self.doc.stages
        out = [stages[self.idx]]
        seen = {self.idx}
        while True:
            cur = out[0]
            parent = self._stage_named(cur.base, before=cur.index)
            if parent is None or parent.index in seen:
                return out
            seen.add(parent.index)
            out.insert(0, parent)

    def _stage_named(self, name: str, before: int) -> Any:
        low = name.lower()
        for st in self.doc.stages[:before]:
            if (st.alias and st.alias.lower() == low) or str(st.index) == name:
                return st
        return None

    def uses(self) -> list:
        last = len(self.doc.stages) - 1
        stage = self.doc.stages[self.idx]
        out = []
        for u in self.unit.uses:
            if u.target is None and self.idx == last:
                out.append(u)
            elif u.target is not None and self._stage_named(u.target, len(self.doc.stages)) is stage:
                out.append(u)
        return out

    def resolve_base(self, root_stage: Any, uses: list) -> BaseInfo:
        from harden.stacks.system import classify_base

        base = root_stage.base
        if "$" not in base:
            return classify_base(base)
        defaults = arg_defaults(self.doc.preamble)
        candidates = [defaults]
        for u in uses or self.unit.uses:
            svc = u.project.service(u.service)
            build = svc.merged.get("build") if svc else None
            args = build.get("args") if isinstance(build, dict) else None
            if isinstance(args, list):
                args = {str(a).partition("=")[0]: str(a).partition("=")[2] for a in args if "=" in str(a)}
            if isinstance(args, dict) and args:
                env = dict(defaults)
                env.update({str(k): str(v) for k, v in args.items() if v is not None})
                candidates.append(env)
        infos = []
        for env in candidates:
            image = substitute(base, env)
            info = classify_base(image) if image else _whatever_the_version(base, env)
            if info is None:
                raise _Leave(f"the base image {base} comes from a build argument without a default; "
                             "cannot tell which image it is", root_stage.startline + 1)
            infos.append(info)
        fams = {(i.family, i.existing, i.leave is None, i.unknown is None) for i in infos}
        if len(fams) > 1:
            raise _Leave(f"the base image {base} differs between build arguments "
                         f"({', '.join(i.image for i in infos)}); cannot pick one way to add a user",
                         root_stage.startline + 1)
        return infos[0]

    def workdir_at(self, chain: list, stop_line: int | None = None) -> str:
        wd = self.base_workdir
        env: dict[str, str] = {}
        for st in chain:
            for inst in st.instructions:
                if stop_line is not None and inst.startline >= stop_line:
                    return wd
                if inst.instruction == "ENV":
                    env.update(dict(env_pairs(inst)))
                elif inst.instruction == "WORKDIR":
                    val = substitute(inst.value.strip(), env)
                    if val is None:
                        continue
                    wd = _norm(val.strip("\"'"), wd)
        return wd

    # ---------------------------------------------------------------- the plan
    def run(self) -> None:
        from harden import stacks
        from harden.stacks.system import create_user_cmds

        doc = self.doc
        stage = doc.stages[self.idx]
        uses = self.uses()
        own = _last_in_chain(self.chain(), "USER")
        if own is not None and user_is_root(own.value) is False:
            return  # already non-root, whatever compose sets
        if uses and all(u.user not in (None, "") for u in uses):
            sets = ", ".join(f"{u.service}: user: {u.user}" for u in uses)
            raise _Leave(f"every compose service that runs this stage sets `user:` ({sets}); that wins over "
                         "the Dockerfile's USER, so the Dockerfile is left as it is")
        chain = self.chain()
        base = self.resolve_base(chain[0], uses)
        self.base_image = base.image
        self.base_workdir = base.workdir or "/"

        last_user = _last_in_chain(chain, "USER")
        if last_user is not None:
            root = user_is_root(last_user.value)
            nonroot_value = stacks.hook(base.stack, "nonroot_user_value")
            if root is None and nonroot_value is not None and nonroot_value(base, last_user.value):
                root = False  # .NET 8+: APP_UID is the image's own ENV (1654), not a build variable
            if root is None:
                raise _Leave(f"USER {last_user.value.strip()} comes from a build variable; cannot tell whether "
                             "it is root", last_user.startline + 1)
            if not root:
                return  # already non-root
        elif base.default_nonroot:
            return  # the image's own user is not root
        if base.leave:
            raise _Leave(base.leave, chain[0].startline + 1)
        self.check_starts_cron(chain)
        if base.unknown:
            raise _Leave(base.unknown, chain[0].startline + 1)

        self.check_drops_privileges(chain)
        self.check_root_home(chain, uses)
        derived = self.derived_needing_root(stage)

        if base.existing is not None:
            uid, gid, uname = base.existing
        else:
            uid, gid, uname = int(self.ctx.opt("uid")), int(self.ctx.opt("gid")), str(self.ctx.opt("user"))
        group = str(self.ctx.opt("group"))
        creates = base.creates and not self.made_in_base_stage(chain, base, uid, gid, uname, group)
        if creates:
            self.check_conflicts(chain, uid, gid, uname, group)

        self.check_secret_owners(uses, uid, gid)
        dirs = self.writable_dirs(chain, uses, uid, gid)
        self.check_startup_writes(chain, uses, dirs)
        copy_edits = self.copy_chowns(chain, [d.path for d in dirs], uid, gid)
        if self.hand:
            handed, edits = self.hand_workdir(chain, uses, base, uid, gid)
            copy_edits = sorted(dict(copy_edits + edits).items())
            if handed is not None:
                dirs.append(handed)
        run_dirs = [d for d in dirs]
        if run_dirs and not base.shell:
            for d in run_dirs:
                self.notes.append((f"{d.path} ({d.why}) must be writable by {uid}:{gid}, but the base image "
                                   f"{base.image} has no shell to create it: create it in a builder stage and "
                                   f"`COPY --from=<builder> --chown={uid}:{gid}` it here", stage.startline + 1))
            run_dirs = []

        cmds = create_user_cmds(base.family, uid, gid, uname, group) if creates else []
        if run_dirs:
            quoted = " ".join(shlex.quote(d.path) for d in run_dirs if not d.exists)
            cmds += [f"mkdir -p {quoted}"] if quoted else []
            flat = " ".join(shlex.quote(d.path) for d in run_dirs if not d.recursive)
            deep = " ".join(shlex.quote(d.path) for d in run_dirs if d.recursive)
            if flat:
                cmds += [f"chown {uid}:{gid} {flat}"]
            if deep:
                cmds += [f"chown -R {uid}:{gid} {deep}"]
        esc = doc.directives().get("escape", "\\")[:1] or "\\"
        run_lines = []
        if cmds:
            run_lines = [f"RUN {cmds[0]}" + (f" {esc}" if len(cmds) > 1 else "")]
            for i, c in enumerate(cmds[1:], 1):
                run_lines.append(f"    && {c}" + (f" {esc}" if i < len(cmds) - 1 else ""))
        user_line = f"USER {uid}:{gid}"

        # derived stages first: they come after this one, so its line numbers stay valid
        self.start_as_root(derived)
        # where USER goes: after the last build step, or in place of a trailing root USER
        stage = doc.stages[self.idx]
        build = [i for i in stage.instructions if i.instruction in ("RUN", "COPY", "ADD")]
        user_at = build[-1].endline + 1 if build else stage.from_.endline + 1
        replace_user = None
        own_user = stage.last("USER")
        if own_user is not None and own_user.startline >= user_at:
            if doc.lines[own_user.startline - 1].strip().startswith("#"):
                user_at = own_user.endline + 1  # a comment explains it: keep both, add after
            else:
                replace_user = own_user
        # where the RUN goes: with USER, or above the first VOLUME whose directory it prepares
        run_at = replace_user.startline if replace_user else user_at
        vol_lines = [d.volume_line for d in run_dirs if d.volume_line is not None]
        if run_lines and vol_lines and min(vol_lines) < run_at:
            run_at = self.above_comments(min(vol_lines))
        if len(cmds) == 1:  # `RUN chown 1000:1000 /app` alone, right after a RUN of the Dockerfile's
            before = [i for i in stage.instructions if i.endline < run_at]
            if before and before[-1].instruction == "RUN":
                run_lines = [_ONE_MORE_RUN] + run_lines

        for line0, new in copy_edits:  # same number of lines: positions stay valid
            doc.replace_lines(line0, line0, [new])
        if replace_user is not None:
            block = [user_line] if run_at != replace_user.startline else run_lines + [user_line]
            doc.replace_lines(replace_user.startline, replace_user.endline, block)
            if run_at != replace_user.startline and run_lines:
                doc.insert_lines(run_at, run_lines)
        else:
            if run_at == user_at:
                self.insert(user_at, run_lines + [user_line])
            else:
                self.insert(user_at, [user_line])
                self.insert(run_at, run_lines)
        self.changed = True

        for p in self.low_ports(chain):
            self.notes.append((f"{p if ' ' in p else 'EXPOSE ' + p}: a non-root process cannot bind ports below 1024 on Kubernetes or "
                               "with host networking (Docker 20.10+ allows it on its own networks); move the app "
                               "to a port >= 1024 and map it", stage.startline + 1))

    def insert(self, at: int, lines: list[str]) -> None:
        if not lines:
            return
        doc = self.doc
        n = len(doc.lines)
        if at >= n:  # after the last line of the file
            text = doc.text
            if text.endswith("\n"):
                doc.set_text(text + "\n".join(lines) + "\n")
            else:
                doc.set_text(text + "\n" + "\n".join(lines))
            return
        doc.insert_lines(at, lines)

    def above_comments(self, line0: int) -> int:
        lines = self.doc.lines
        j = line0
        while j > 0 and lines[j - 1].strip().startswith("#"):
            j -= 1
        return j

    # ---------------------------------------------------------------- checks
    def check_drops_privileges(self, chain: list) -> None:
        """An image that installs gosu/su-exec, or whose entrypoint script switches user (or
        creates one) at start-up, must start as root: a USER would break it."""
        from harden.stacks.system import PRIV_SWITCH, PRIV_TOOL

        for st in chain:
            for inst in st.instructions:
                if inst.instruction == "RUN":
                    m = PRIV_TOOL.search(inst.value)
                    if m:
                        raise _Leave(f"the image installs {m.group(1)} (RUN at line {inst.startline + 1}) to switch "
                                     "to another user at start-up: it must start as root, so a USER here would "
                                     "break it", inst.startline + 1)
        for script, line in self.entry_scripts(chain):
            text = context_file_text(Path(self.unit.context), script)
            m = PRIV_SWITCH.search(text) if text else None
            if m:
                raise _Leave(f"the entrypoint {script} runs `{m.group(1).strip()}` at start-up (it switches user or "
                             "creates one): it must start as root, so a USER here would break it", line)

    def check_root_home(self, chain: list, uses: list) -> None:
        """Tools installed under root's home (``curl https://bun.sh/install | bash`` puts bun in
        /root/.bun, pipx and ``pip install --user`` in /root/.local) and reached through an ENV
        PATH (or a start command naming them) are out of reach of any other user: /root is mode 700
        on Debian, Ubuntu and Alpine, so as a non-root user the start fails with "not found" or
        Permission denied. Unless a RUN opens /root (chmod), harden leaves the stage alone."""
        opened = any(inst.instruction == "RUN" and re.search(r"\bchmod\b[^;&|]*\s/root(?:/|\s|$)", inst.value)
                     for st in chain for inst in st.instructions)
        if opened:
            return
        # what puts files under root's home: a piped installer script, `pip install --user`, pipx,
        # `composer global`, or a step that names /root or $HOME; a production stage harden split
        # off keeps the builder's ENV but none of those steps, and nothing is there to reach
        writes_home = re.compile(r"(?:\bcurl\b|\bwget\b)[^;&]*\|\s*(?:sudo\s+)?(?:\S*/)?(?:ba|z|da)?sh\b"
                                 r"|(?:\bcurl\b|\bwget\b)[^;&]*\|\s*(?:\S*/)?python[\d.]*\b|\s--user\b|\bpipx\b"
                                 r"|\bcomposer\s+global\b|/root\b|\$\{?HOME\b|~/")
        populated = any(
            (inst.instruction == "RUN" and writes_home.search(inst.value))
            or (inst.instruction in ("COPY", "ADD") and (inst.words() or [""])[-1].startswith("/root"))
            for st in chain for inst in st.instructions)

        def in_root(path: str) -> bool:
            path = path.strip("\"'")
            return path == "/root" or path.startswith("/root/")

        # `pip install --user` as root writes root's user site (/root/.local), which Python looks for
        # in the new user's home instead, unless PYTHONUSERBASE points elsewhere
        userbase, as_root = None, True
        for st in chain:
            for inst in st.instructions:
                if inst.instruction == "ENV":
                    userbase = dict(env_pairs(inst)).get("PYTHONUSERBASE", userbase)
                elif inst.instruction == "USER":
                    as_root = user_is_root(inst.value) is not False
                elif (inst.instruction == "RUN" and as_root and (userbase is None or in_root(userbase))
                      and re.search(r"\bpip[\d.]*\s+install\b[^;&|]*\s--user\b", inst.value)):
                    raise _Leave(f"RUN at line {inst.startline + 1} installs with `pip install --user` as root, into "
                                 "root's home (/root/.local), which no other user can enter (mode 700) and which Python "
                                 "looks for in its own home: as a non-root user the packages are not found; install "
                                 "without --user (or set PYTHONUSERBASE outside /root) and run harden again",
                                 inst.startline + 1)

        for st in chain:
            for inst in st.find("ENV"):
                for key, value in env_pairs(inst):
                    if not key.endswith("PATH"):
                        continue
                    where = next((p for p in str(value).split(":") if in_root(p)), None)
                    if where is not None and populated:
                        raise _Leave(f"ENV at line {inst.startline + 1} puts {where.strip(chr(34) + chr(39))} on {key}: "
                                     "root's home, which no other user can enter (mode 700), so as a non-root user "
                                     "what is installed there is not found; install it outside /root (for example "
                                     "under /usr/local or /opt) and run harden again", inst.startline + 1)
        texts = self.start_texts(chain, uses, scripts=False)
        for u in uses:
            svc = u.project.service(u.service)
            # what compose mounts into root's home (Visual Studio's override mounts the user secrets
            # and the HTTPS development certificate at /root/.microsoft/usersecrets, /root/.aspnet/https):
            # the app finds it through $HOME, which is the new user's home, and cannot enter /root
            merged = svc.merged if svc is not None else {}
            for kind, src, dst, _ro in parse_volumes(merged.get("volumes")):
                if kind != "tmpfs" and in_root(posixpath.normpath(dst)):
                    raise _Leave(f"compose service {u.service} mounts {src or 'a volume'} at {dst}, in root's home: "
                                 "the app finds it there as root (through $HOME), and as a non-root user it "
                                 "looks in its own home and cannot enter /root (mode 700); mount it under the "
                                 "app user's home instead and run harden again")
        for label, text, line in texts:
            m = re.search(r"(?<![\w.$/-])(/root(?:/[^\s\"',\]]*)?)(?![\w.-])", text or "")
            if m is not None:
                raise _Leave(f"{label} runs {m.group(1)}, under root's home, which no other user can enter "
                             "(mode 700): as a non-root user the start would fail; install it outside /root "
                             "(for example under /usr/local or /opt) and run harden again", line)

    def start_texts(self, chain: list, uses: list, *, scripts: bool) -> list[tuple[str, str, int | None]]:
        """(label, text, line) of what starts the container: the last ENTRYPOINT and CMD, the
        entrypoint scripts they run (``scripts``), and each compose service's command/entrypoint."""
        texts: list[tuple[str, str, int | None]] = []
        for kind in ("ENTRYPOINT", "CMD"):
            inst = _last_in_chain(chain, kind)
            if inst is not None:
                texts.append((f"{kind} at line {inst.startline + 1}", inst.value, inst.startline + 1))
        if scripts:
            for script, line in self.entry_scripts(chain):
                texts.append((f"the entrypoint {script}", context_file_text(Path(self.unit.context), script), line))
        for u in uses:
            svc = u.project.service(u.service)
            for key in ("command", "entrypoint"):
                val = svc.merged.get(key) if svc is not None else None
                if val:
                    texts.append((f"the `{key}:` of compose service {u.service}",
                                  " ".join(map(str, val)) if isinstance(val, list) else str(val), None))
        return texts

    def check_secret_owners(self, uses: list, uid: int, gid: int) -> None:
        """A secret or config a compose service mounts with its own owner and a mode that keeps
        others out (``uid: "1000"``, ``mode: 0400``) is readable only by that owner: as another
        user the app cannot read it (Swarm applies uid/gid/mode; the author wrote them for the
        image's user)."""
        for u in uses:
            svc = u.project.service(u.service)
            merged = svc.merged if svc is not None else {}
            for key in ("secrets", "configs"):
                for entry in merged.get(key) or []:
                    if not isinstance(entry, dict) or entry.get("mode") is None:
                        continue
                    mode = _file_mode(entry.get("mode"))
                    if mode is None:
                        continue
                    owner, group = entry.get("uid"), entry.get("gid")
                    owner = 0 if owner in (None, "") else owner
                    group = 0 if group in (None, "") else group
                    if str(owner) == str(uid):
                        continue
                    if str(group) == str(gid) and mode & 0o040:
                        continue
                    if mode & 0o004:
                        continue
                    name = entry.get("source") or entry.get("target")
                    raise _Leave(f"compose service {u.service} mounts the {key[:-1]} {name} owned by uid {owner} "
                                 f"with mode {oct(mode)[2:].zfill(4)}: as UID {uid} the app could not read it; "
                                 f"give the {key[:-1]} the app user's uid ({uid}), or set uid = {owner} under [options] "
                                 "in .harden.toml and run harden again")

    def check_starts_cron(self, chain: list) -> None:
        """A container whose start command is the cron daemon must start as root: cron runs each
        crontab's jobs as that crontab's user, and as another user it does not start."""
        words: list[str] = []
        starts = []
        for kind in ("ENTRYPOINT", "CMD"):  # CMD: the entrypoint's arguments, or the command
            found = _last_in_chain(chain, kind)
            if found is not None:
                arr = found.exec_form()
                words += arr if arr is not None else _split(found.value)
                starts.append(found)
        while words and (posixpath.basename(words[0]) in _START_WRAPPERS or words[0] in ("--", "-c", "exec")
                         or (words[0].startswith("-") and len(words) > 1)):
            words = words[1:]
        if words and posixpath.basename(words[0].split()[0]) in ("cron", "crond"):
            inst = next((i for i in reversed(starts) if words[0] in i.value), starts[0])
            raise _Leave(f"{inst.instruction} at line {inst.startline + 1} starts `{words[0].split()[0]}`: cron "
                         "starts as root and runs each crontab's jobs as that crontab's user, and as another user it "
                         "does not start; a USER here would break it (a cron that runs without root, such as "
                         "supercronic, can run as a non-root user)", inst.startline + 1)

    def check_startup_writes(self, chain: list, uses: list, dirs: list) -> None:
        """A start command that writes into the root-owned app folder fails as the new user: a
        build tool run as the start command (``mvnw spring-boot:run``, ``gradle bootRun``, ``cargo
        run``, ``dotnet run``: the stacks' START_BUILD) compiles into it; ``manage.py
        collectstatic`` writes STATIC_ROOT there unless a static directory is one harden makes
        writable (the stacks' start_writes)."""
        from harden import stacks

        writable = [d.path for d in dirs]
        texts = self.start_texts(chain, uses, scripts=True)
        for label, text, line in texts:
            names = stacks.in_start(text or "")
            builds = [m for name in names if (pat := stacks.hook(name, "START_BUILD")) is not None
                      and (m := pat.search(text or "")) is not None]
            if builds:
                tool = _unquote_words(min(builds, key=lambda m: m.start(1)).group(1))
                raise _Leave(f"{label} runs `{tool}` at start-up: it compiles into the root-owned app "
                             "folder (target/, build/, bin/obj) and keeps its dependency cache under root's home, "
                             "so as a non-root user it fails with Permission denied; build at image build time "
                             "(RUN ...) and start the artifact (java -jar, the binary), then run harden again", line)
            for name in names:
                start_writes = stacks.hook(name, "start_writes")
                why = start_writes(label, text or "", writable) if start_writes is not None else None
                if why:
                    raise _Leave(why, line)
        self.check_installs_at_start(chain, uses)

    def check_installs_at_start(self, chain: list, uses: list) -> None:
        """A start command that installs packages (``npm install``, ``pip install``, ``bundle
        install`` ...), itself or in a start script the image copied from the build context
        (followed as harden.start_script reads it), writes into the root-owned app folder (or the
        system's site-packages): as the new user it fails with EACCES. The folder is not handed to
        the app user (it is the code), so the stage is left. A script harden cannot follow is
        left when its text names an install."""
        from harden.stacks.shell import start_segments
        from harden.start_script import install_run

        starts, followed = self.start_followed(chain, uses)
        line0 = starts[0][2] if starts else None
        workdir = self.workdir_at(chain)
        texts = [(text, where, line, workdir) for text, where, line in starts]
        texts += [(c.text, c.where, line0, c.cwd) for c in followed.commands]
        for text, where, line, cwd in texts:
            for words in start_segments(text):
                shown = install_run(words)
                if shown:
                    reason = (f"{where} runs `{shown}` at start-up: it installs packages into the app's folder "
                              f"{workdir} (or the system's), which stays root-owned (harden does not hand the code "
                              "directory to the app user), so as a non-root user it fails with EACCES; install at "
                              "build time (a RUN in the Dockerfile), then run harden again")
                    writes = self.install_writes(words)
                    if writes and cwd == workdir and self.test_image(chain, uses):
                        self.hand.append(_Hand(reason, line, tuple(posixpath.join(workdir, w) for w in writes), True))
                        continue
                    raise _Leave(reason, line)
        for where, text in followed.unread:
            m = _INSTALL_WORDS.search(re.sub(r"(?m)#.*$", "", text))
            if m:
                raise _Leave(f"{where}: harden cannot follow that script, and it names `{m.group(0)}`, which would "
                             "install packages at start-up into root-owned folders (EACCES as a non-root user); "
                             "install at build time, then run harden again", line0)

    # ---------------------------------------------------------------- a test image's working directory
    def test_image(self, chain: list, uses: list) -> str | None:
        """Why the stage is a test or CI image (split-stages' rule: its start runs the tests or
        linters, or only test or CI compose files build it), else None (computed once)."""
        if not hasattr(self, "_test_image"):
            from harden.transforms.split_stages import why_test_image

            self._test_image = why_test_image(self.unit, self.ctx, chain[-1],
                                              [i for st in chain for i in st.instructions], uses)
        return self._test_image

    @staticmethod
    def install_writes(words: list[str]) -> tuple[str, ...] | None:
        """What a package install at start-up writes in the folder it runs in, as its stack
        says (node: node_modules and the lockfiles); None when it writes elsewhere."""
        from harden import stacks
        from harden.stacks.shell import base, strip_prefix

        w = strip_prefix(words)
        name = stacks.of_command(base(w[0]), w[1:]) if w else None
        hook = stacks.hook(name, "install_writes")
        return hook(w) if hook is not None else None

    def hand_workdir(self, chain: list, uses: list, base: BaseInfo, uid: int, gid: int) -> tuple[_Dir | None, list]:
        """A test or CI image whose start writes into its working directory (``npm install``,
        ``> prod.log``): the directory is handed to the app user, as Node's and Docker's
        guidance does, with ``--chown`` on the COPY/ADD instructions of the stage that put files
        there (the copied tree and the folders the COPY creates then belong to the user), and
        ``chown`` of the directory alone when something made it before the COPY (a COPY does
        not change the owner of a folder that exists: WORKDIR's, a RUN's, the base image's).
        Returns (that directory to chown, or None; the COPY edits). Left, with today's reason
        and why not, when the directory is a system folder, is copied into by a stage it is
        built FROM, is bind-mounted from the host, is filled by ADD of an archive or a COPY
        with another owner, or when a RUN writes, as root, what the start must write
        (node_modules from a root install, the log file itself)."""
        from harden.stacks import shell as sh

        workdir = self.workdir_at(chain)
        stage = chain[-1]
        first = self.hand[0]

        def leave(why: str) -> _Leave:
            return _Leave(f"{first.reason} (a test image: harden hands its working directory to the app user, but "
                          f"{why})", first.line)

        if workdir in _SYSTEM_DIRS or "$" in workdir:
            raise leave(f"{workdir} is a system folder, not the app's own")
        for u in uses:
            svc = u.project.service(u.service)
            merged = svc.merged if svc is not None else {}
            wd = merged.get("working_dir")
            if wd and _norm(str(wd), workdir) != workdir:
                raise leave(f"compose service {u.service} starts it in {wd} (`working_dir:`)")
            mounts = []
            for kind, src, dst, ro in parse_volumes(merged.get("volumes")):
                if kind == "bind" and not ro and dst and _under(workdir, posixpath.normpath(dst)):
                    raise leave(f"compose service {u.service} bind-mounts {src} at {dst}: the host's folder keeps "
                                "its owner; mount only the folders the tests need (src/, test/)")
                if kind == "bind" and not ro and dst and _under(posixpath.normpath(dst), workdir):
                    mounts.append((src, posixpath.normpath(dst)))
            # a host folder mounted inside it keeps the host's owner (a CI runner's uid is not
            # the app user's): a start command given a path in there may write there
            if mounts:
                from harden.stacks.shell import start_segments

                starts, followed = self.start_followed(chain, uses)
                cmds = [(t, w, workdir) for t, w, _l in starts] + [(c.text, c.where, c.cwd) for c in followed.commands]
                for text, where, cwd in cmds:
                    for words in start_segments(text):
                        for w in words[1:]:
                            if w.startswith("-") or "$" in w or not re.match(r"^[\w./-]+$", w):
                                continue
                            path = _norm(w, cwd)
                            hit = next(((src, dst) for src, dst in mounts if _under(path, dst)), None)
                            if hit is not None and ("/" in w or path == hit[1]):
                                raise leave(f"{where} passes {w} to `{words[0]}`, inside {hit[1]}, which compose service "
                                            f"{u.service} bind-mounts from the host ({hit[0]}): the host's folder keeps "
                                            f"its owner (a CI runner's user is not {uid}), so the app user may not "
                                            "write there; mount it read-only (`:ro`) if the start only reads it")
        # what puts the code there: this stage's COPY/ADD into the directory or a folder holding it
        copies = []
        for st in chain:
            for inst in st.instructions:
                if inst.instruction not in ("COPY", "ADD"):
                    continue
                words = [w for w in inst.words() if not w.startswith("--")]
                if len(words) < 2:
                    continue
                dest = words[-1]
                if "$" in dest:
                    raise leave(f"the destination of {inst.instruction} at line {inst.startline + 1} is a variable")
                d = _norm(dest, self.workdir_at(chain, stop_line=inst.startline))
                if not (_under(d, workdir) or _under(workdir, d)):
                    continue
                if st is not stage:
                    raise leave(f"stage {st.name} copies into {workdir} ({inst.instruction} at line "
                                f"{inst.startline + 1}) and other stages may be built from it")
                owner = inst.flags().get("chown")
                if owner is not None and owner.split(":", 1)[0] not in (str(uid), base.existing[2] if base.existing
                                                                        else str(self.ctx.opt("user"))):
                    raise leave(f"{inst.instruction} at line {inst.startline + 1} gives what it copies to {owner}")
                if inst.instruction == "ADD" and any(re.search(r"\.(tar|tgz|tbz2?|txz)(\.\w+)?$", w) for w in words[:-1]):
                    raise leave(f"ADD at line {inst.startline + 1} unpacks an archive, which --chown does not change")
                copies.append(inst)
        if not copies:
            raise leave(f"no COPY or ADD of this stage puts the code into {workdir}")
        # what RUN steps write there as root, and whether the start must write it
        for inst, path, shown in self.root_writes(chain, workdir):
            for need in self.hand:
                if need.install:
                    hit = path is None or any(_under(path, n) for n in need.needs)
                else:
                    hit = path is not None and path in need.needs
                if hit:
                    what = f"writes {path}" if path is not None else f"runs `{shown}` in {workdir}"
                    needs = ", ".join(posixpath.basename(n) for n in need.needs[:2]) + (
                        " ..." if len(need.needs) > 2 else "")
                    raise leave(f"RUN at line {inst.startline + 1} {what} as root, and the start writes {needs} there: "
                                "it would stay root-owned; run that step as the app user (USER before it, "
                                "COPY --chown) or let the start do it, then run harden again")
        edits = []
        for inst in copies:
            if "chown" in inst.flags() or inst.heredoc:
                continue
            m = re.match(r"^(\s*)(COPY|ADD)(\s+)", inst.lines[0], re.I)
            if m is None:
                raise leave(f"{inst.instruction} at line {inst.startline + 1} cannot be read")
            edits.append((inst.startline, f"{m.group(0)}--chown={uid}:{gid} {inst.lines[0][m.end():]}"))
        needs = [n for h in self.hand for n in h.needs]
        shown = "`npm install`" if any(h.install for h in self.hand) else posixpath.basename(needs[0])
        self.notes.append((f"a test image: its start writes into {workdir} ({shown}), so the code copied there "
                           f"is handed to the app user ({uid}:{gid}, COPY --chown); the app can rewrite its own code, "
                           "which a test image may, a production image must not", first.line))
        if not self.made_before(chain, workdir, copies[0]):
            return None, edits
        if not base.shell:
            raise leave(f"{workdir} exists before the COPY and the base image {base.image} has no shell to chown it")
        return _Dir(workdir, "the test image's working directory", exists=True), edits

    def made_before(self, chain: list, workdir: str, copy: Any) -> bool:
        """Whether the working directory exists before the first COPY into it: a WORKDIR or a
        RUN above made it, or the base image may have it (any image but an official one, whose
        work directory harden knows). Then the COPY leaves its owner as it was."""
        from harden.catalog import parse_image

        ref = parse_image(self.base_image) if self.base_image else None
        official = ref is not None and ref.namespace == "library" and ref.registry in (None, "docker.io",
                                                                                      "index.docker.io")
        if not official or _under(self.base_workdir, workdir) and self.base_workdir != "/":
            return True
        d = _norm([w for w in copy.words() if not w.startswith("--")][-1],
                  self.workdir_at(chain, stop_line=copy.startline))
        if d != workdir:
            return True  # a COPY above it or into a folder inside it: the folders on the way are not its own
        for st in chain:
            for inst in st.instructions:
                if inst.startline >= copy.startline:
                    return False
                if inst.instruction == "WORKDIR" and _under(self.workdir_at(chain, stop_line=inst.startline + 1), workdir):
                    return True
                if inst.instruction == "RUN" and any(path is None or _under(workdir, path) or _under(path, workdir)
                                                     for _i, path, _s in self.root_writes(chain, workdir, [inst])):
                    return True
        return False

    def root_writes(self, chain: list, workdir: str, insts: list | None = None) -> list[tuple[Any, str | None, str]]:
        """(RUN, the path it writes, the command) for what RUN steps write into ``workdir`` (as
        root: the stage has no USER above them). The path is None when harden cannot name it: an
        install or build that runs there, a command it does not know run there or on a path
        there, a heredoc."""
        from harden.start_script import redirect_targets
        from harden.stacks import shell as sh

        out: list[tuple[Any, str | None, str]] = []
        runs = insts if insts is not None else [i for st in chain for i in st.instructions if i.instruction == "RUN"]
        for inst in runs:
            wd = self.workdir_at(chain, stop_line=inst.startline)
            if inst.heredoc:
                out.append((inst, None, "a heredoc"))
                continue
            try:
                cmds = [sh.classify(c) for c in sh.run_commands(inst)]
            except (ValueError, Skip):
                out.append((inst, None, inst.value.strip()[:40]))
                continue
            item = type("_Run", (), {"workdir": wd, "cmds": cmds})()
            for c, cwd in sh.walk_cwd(item):
                shown = " ".join(sh.strip_prefix(c.words)[:3])
                inside = cwd is None or _under(cwd, workdir)
                for t in redirect_targets(c.words):
                    p = sh.abspath(t, cwd)
                    if p is None or _under(p, workdir):
                        out.append((inst, p, shown))
                op = sh.file_op(c.words)
                if op is not None:
                    if op.name == "chmod":
                        continue
                    for t in op.writes:
                        p = sh.abspath(t, cwd)
                        if p is None or _under(p, workdir):
                            out.append((inst, p, shown))
                        if p is not None and op.name in ("cp", "mv", "ln"):  # into a folder: dest/<name>
                            for r in op.reads:
                                q = sh.abspath(posixpath.join(t, posixpath.basename(r.rstrip("/"))), cwd)
                                if q is not None and _under(q, workdir):
                                    out.append((inst, q, shown))
                    continue
                if c.kind in ("helper", "pkg"):
                    continue
                if c.kind == "tool":
                    continue  # a global install (npm i -g): the system's folders
                if inside:
                    out.append((inst, None, shown))
                    continue
                args = [sh.abspath(a, cwd) for a in c.words[1:] if not a.startswith("-")]
                if any(a is not None and _under(a, workdir) for a in args):
                    out.append((inst, None, shown))
        return out

    def start_followed(self, chain: list, uses: list) -> tuple[list[tuple[str, str, int | None]], Any]:
        """(start commands as (text, where, line), what the start scripts they run run in turn:
        harden.start_script.Followed), for the Dockerfile's ENTRYPOINT/CMD and each compose
        service's `entrypoint`/`command` (computed once)."""
        cached = getattr(self, "_followed", None)
        if cached is not None:
            return cached
        from harden.start_script import follow_unit

        starts: list[tuple[str, str, int | None]] = []
        for kind in ("ENTRYPOINT", "CMD"):
            inst = _last_in_chain(chain, kind)
            if inst is not None:
                starts.append((inst.value, f"{kind} at line {inst.startline + 1}", inst.startline + 1))
        for u in uses:
            svc = u.project.service(u.service)
            for key in ("entrypoint", "command"):
                val = svc.merged.get(key) if svc is not None else None
                if val:
                    starts.append((" ".join(shlex.quote(str(v)) for v in val) if isinstance(val, list) else str(val),
                                   f"the `{key}:` of compose service {u.service}", None))
        followed = follow_unit(self.unit, [i for st in chain for i in st.instructions],
                               [(text, where) for text, where, _ in starts])
        self._followed = (starts, followed)
        return self._followed

    def entry_scripts(self, chain: list) -> list[tuple[str, int]]:
        """Scripts the container starts with: the first word of ENTRYPOINT (or of CMD when there is
        no ENTRYPOINT), or the script a shell runs (``["sh", "/entrypoint.sh"]``)."""
        out = []
        for kind in ("ENTRYPOINT", "CMD"):
            inst = _last_in_chain(chain, kind)
            if inst is None:
                continue
            arr = inst.exec_form() if hasattr(inst, "exec_form") else None
            words = arr if arr is not None else _split(inst.value)
            if words and posixpath.basename(words[0]) in ("sh", "bash", "ash", "dash") and len(words) > 1 \
                    and not words[1].startswith("-"):
                words = words[1:]
            if words and re.search(r"\.(sh|bash)$|entrypoint|docker-entry|start", posixpath.basename(words[0]), re.I):
                out.append((words[0], inst.startline + 1))
            if kind == "ENTRYPOINT":
                break  # CMD is then only the entrypoint's arguments
        return out

    def derived_needing_root(self, stage: Any) -> list:
        """Stages built FROM this one (directly, or through derived stages that set no USER) that
        run a build step (RUN/COPY/ADD) before setting USER themselves: as root before, they would
        run it as the new user. Each gets ``USER root`` at its top (start_as_root), so it builds
        exactly as before. A derived stage under a ``# harden: ignore`` pragma cannot be given
        it: this stage is left, with the reason."""
        out = []
        todo = [stage]
        while todo:
            parent = todo.pop(0)
            for st in self.doc.stages[parent.index + 1:]:
                base = self._stage_named(st.base, before=st.index)
                if base is None or base.index != parent.index:
                    continue
                step = None
                for inst in st.instructions:
                    if inst.instruction == "USER":
                        break
                    if inst.instruction in ("RUN", "COPY", "ADD"):
                        step = inst
                        break
                if step is None:
                    if st.last("USER") is None:
                        todo.append(st)  # it hands the new user on to the stages built from it
                    continue
                if self.ctx.stage_suppressed(self.doc, st):
                    raise _Leave(f"stage {st.name} is built FROM this stage and runs build steps (line "
                                 f"{step.startline + 1}) that would then run as the new user, and a `# harden: "
                                 "ignore` pragma keeps harden from starting it with USER root; set USER in the "
                                 "stages yourself", stage.startline + 1)
                out.append(st)
        return out

    def start_as_root(self, stages: list) -> None:
        """``USER root`` right after the FROM of each stage (bottom-up, so positions hold)."""
        for st in sorted(stages, key=lambda s: s.startline, reverse=True):
            self.doc.insert_lines(st.from_.endline + 1, list(_ROOT_AGAIN))

    def made_in_base_stage(self, chain: list, base: BaseInfo, uid: int, gid: int, user: str, group: str) -> bool:
        """A stage this one is built FROM already creates the user the way harden does (harden
        gave it to that stage, which another compose target runs): switch to it, do not create
        it twice."""
        from harden.stacks.system import create_user_cmds

        want = create_user_cmds(base.family, uid, gid, user, group)
        for st in chain[:-1]:
            for inst in st.find("RUN"):
                flat = " ".join(inst.value.split())
                if want and all(c in flat for c in want):
                    return True
        return False

    def check_conflicts(self, chain: list, uid: int, gid: int, user: str, group: str) -> None:
        creates = re.compile(r"^(?:\S*/)?(useradd|adduser|groupadd|addgroup)$")
        for st in chain:
            for inst in st.find("RUN"):
                text = inst.raw if inst.heredoc else inst.value
                made_users: list[str] = []
                clash: list[str] = []
                for seg in re.split(r"&&|\|\||;|\||\n", text):
                    toks = _split(seg.replace("\\\n", " "))
                    while toks and toks[0] in ("sudo", "exec", "then", "do", "else", "{", "("):
                        toks = toks[1:]
                    if not toks or not creates.match(toks[0]):
                        continue
                    args = toks[1:]
                    values = set(args) | {a.split("=", 1)[1] for a in args if a.startswith("--") and "=" in a}
                    clash += [w for w in (user, group, str(uid), str(gid)) if w in values]
                    names = [a for a in args if not a.startswith("-")]
                    if creates.match(toks[0]).group(1) in ("useradd", "adduser") and names:
                        made_users.append(names[-1])
                if clash:
                    raise _Leave(f"line {inst.startline + 1} already creates a user or group matching "
                                 f"{'/'.join(dict.fromkeys(clash))}: switch to it with `USER <uid>:<gid>` yourself, "
                                 "or set the uid/gid/user/group options to other values", inst.startline + 1)
                if made_users:
                    self.notes.append((f"this stage creates a user ({', '.join(made_users)}) at line "
                                       f"{inst.startline + 1} but runs as root; harden added {user} ({uid}:{gid}) "
                                       "and switched to it: use yours instead if the app expects it",
                                       inst.startline + 1))

    def low_ports(self, chain: list) -> list[str]:
        from harden import stacks

        out = []
        for st in chain:
            for inst in st.find("EXPOSE"):
                for tok in _split(inst.value):
                    m = re.match(r"^(\d+)(?:-\d+)?(?:/\w+)?$", tok)
                    if m and 0 < int(m.group(1)) < 1024:
                        out.append(tok)
        # the port the server command itself binds (`uvicorn --port 80`, `gunicorn -b 0.0.0.0:$PORT`)
        env: dict[str, str] = {}
        for st in chain:
            for inst in st.find("ENV"):
                env.update(dict(env_pairs(inst)))
        for kind in ("CMD", "ENTRYPOINT"):
            inst = _last_in_chain(chain, kind)
            if inst is None:
                continue
            text = _VAR.sub(lambda v: env.get(v.group(1) or v.group(4) or "", v.group(0)), inst.value)
            for m in _BIND_PORT.finditer(text):
                port = m.group(1) or m.group(2)
                if 0 < int(port) < 1024 and port not in [o.split("/")[0] for o in out]:
                    out.append(f"{kind} at line {inst.startline + 1} binds port {port}")
        # the port the base image itself listens on by default (.NET 6/7: ASPNETCORE_URLS=http://+:80)
        low_ports = stacks.hook(self.base_stack(), "low_ports")
        if low_ports is not None:
            out += low_ports(self.base_image, env, out)
        return out

    def base_stack(self) -> str | None:
        """The stack the base image belongs to (harden.stacks.of_image), if any."""
        from harden.catalog import parse_image
        from harden.stacks import of_image

        ref = parse_image(self.base_image) if self.base_image else None
        return of_image(ref) if ref is not None else None

    # ---------------------------------------------------------------- directories
    def writable_dirs(self, chain: list, uses: list, uid: int, gid: int) -> list[_Dir]:
        stage = chain[-1]
        workdir = self.workdir_at(chain)
        found: list[_Dir] = []

        def add(path: str, why: str, line: int | None, volume_line: int | None = None,
                loud: bool = True) -> None:
            if "$" in path:
                if loud:
                    self.notes.append((f"{path} ({why}) must be writable by {uid}:{gid}; harden cannot resolve "
                                       "the variable in it: create and chown it yourself", line))
                return
            p = _norm(path, workdir)
            if p in _SYSTEM_DIRS or p.startswith(("/proc/", "/sys/", "/dev/")) or p.endswith(".sock"):
                return
            if _under(workdir, p):
                if loud:
                    self.notes.append((f"{p} ({why}) is the app's working directory {workdir} or holds it; harden "
                                       f"does not hand the code directory to the app user: write data to a "
                                       f"separate directory, or chown only what must be writable", line))
                return
            for d in found:
                if d.path == p:
                    if volume_line is not None and d.volume_line is None:
                        d.volume_line = volume_line
                    return
            found.append(_Dir(p, why, volume_line))

        # VOLUME instructions
        for st in chain:
            for inst in st.find("VOLUME"):
                for p in volume_paths(inst):
                    if st is stage:
                        add(p, "VOLUME", inst.startline + 1, volume_line=inst.startline)
                    else:
                        self.notes.append((f"VOLUME {p} is declared in stage {st.name}: Docker discards changes to "
                                           "it in later stages, so harden cannot make it writable by "
                                           f"{uid}:{gid}; prepare it before that VOLUME", inst.startline + 1))
        # data folders the Dockerfile itself creates (RUN mkdir -p /app/uploads)
        for st in chain:
            for inst in st.find("RUN"):
                for p in _mkdir_targets(inst.raw if inst.heredoc else inst.value):
                    if posixpath.basename(p.rstrip("/")).lower() in _DATA_WORDS:
                        wd = self.workdir_at(chain, stop_line=inst.startline)
                        add(_norm(p, wd) if "$" not in p else p, f"created by RUN mkdir at line {inst.startline + 1}",
                            inst.startline + 1, loud=False)
        # what the framework writes beside its code at start-up (Rails/Puma tmp/ and log/, Laravel
        # storage/, next start's .next): recursively, the repository ships subfolders (tmp/pids/.keep)
        framework = self.framework_writes(chain, uses)
        if framework:
            label, subs = framework
            for sub in subs:
                add(posixpath.join(workdir, sub), f"{label} writes it at start-up", stage.startline + 1, loud=False)
                for d in found:
                    if d.path == posixpath.join(workdir, sub):
                        d.recursive = True
        # ENV hints in the Dockerfile
        for st in chain:
            for inst in st.find("ENV"):
                for name, value in env_pairs(inst):
                    for p in self.data_paths(name, value):
                        add(p, f"ENV {name}", inst.startline + 1)
        # compose volumes and environment
        named_volumes = []
        for u in uses:
            svc = u.project.service(u.service)
            if svc is None:
                continue
            merged = svc.merged
            for kind, src, dst, ro in parse_volumes(merged.get("volumes")):
                if kind == "bind" and dst.endswith(".sock"):
                    self.notes.append((f"service {u.service} mounts the socket {dst}: as UID {uid} it needs the "
                                       "socket's group (compose `group_add:`) to use it", stage.startline + 1))
                elif kind == "bind":
                    if not ro:
                        self.notes.append((f"service {u.service} bind-mounts {src} at {dst}: the host directory "
                                           f"keeps its owner; make it writable by UID {uid} (or mount it read-only "
                                           "if the app only reads it)", stage.startline + 1))
                elif kind == "volume":
                    before = len(found)
                    add(dst, f"volume of service {u.service}", stage.startline + 1)
                    if len(found) > before:
                        named_volumes.append((u.service, src, dst))
            env = merged.get("environment")
            if isinstance(env, list):
                env = {str(x).partition("=")[0]: str(x).partition("=")[2] for x in env}
            if isinstance(env, dict):
                for name, value in env.items():
                    if value is None:
                        continue
                    for p in self.data_paths(str(name), str(value)):
                        add(p, f"environment {name} of service {u.service}", stage.startline + 1)
        self.start_command_writes(chain, uses, workdir, add)
        for svc, src, dst in named_volumes:
            label = f"volume {src}" if src else "the anonymous volume"
            self.notes.append((f"{label} of service {svc} at {dst}: a volume created before this change keeps its "
                               f"root-owned files; chown it once (docker compose run --rm --user root {svc} chown "
                               f"-R {uid}:{gid} {dst}) or recreate it", stage.startline + 1))
        return found

    def start_command_writes(self, chain: list, uses: list, workdir: str, add: Any) -> None:
        """The log, pid and state files the start command names (``--logfile=logs/celery.log``,
        Celery beat's schedule file): their folders are made writable by the new user. Left when
        one lands in a folder a compose bind mount brings from the host (the host's files keep
        their owner, so the new UID cannot write there, where root could) or in the root-owned
        working directory itself."""
        from harden.start_writes import resolve, written_files

        starts: list[tuple[str, Any, str, list[str], int | None]] = []  # who, command, workdir, binds, line
        image_start = []
        for kind in ("ENTRYPOINT", "CMD"):
            inst = _last_in_chain(chain, kind)
            if inst is not None:
                image_start.append((f"{kind} at line {inst.startline + 1}", inst.value, inst.startline + 1))
        for u in uses:
            svc = u.project.service(u.service)
            merged = svc.merged if svc is not None else {}
            wd = str(merged.get("working_dir") or workdir)
            binds = [posixpath.normpath(dst) for kind, _src, dst, ro in parse_volumes(merged.get("volumes"))
                     if kind == "bind" and not ro and dst and "$" not in dst]
            own = [(f"the `{k}:` of compose service {u.service}", merged.get(k), None)
                   for k in ("entrypoint", "command") if merged.get(k)]
            if merged.get("command") and not merged.get("entrypoint"):
                own += [s for s in image_start if s[0].startswith("ENTRYPOINT")]  # compose keeps it
            # an `entrypoint:` of its own drops the image's CMD too (as docker run --entrypoint does)
            for label, text, line in own or image_start:
                starts.append((label, text, wd, binds, line))
        if not uses:
            starts = [(label, text, workdir, [], line) for label, text, line in image_start]
        # what the start scripts write by redirecting their output (`npm run start:prod > prod.log`)
        _, followed = self.start_followed(chain, uses)
        all_binds = sorted({b for _l, _t, _w, bs, _n in starts for b in bs})
        line0 = image_start[0][2] if image_start else None
        redirects = [(c.where, c.cwd, tuple((p, f"`> {p}` of `{c.text[:40]}`") for p in c.writes))
                     for c in followed.commands if c.writes]
        for label, wd, pairs in redirects:
            starts.append((label, pairs, wd, all_binds, line0))
        for label, text, wd, binds, line in starts:
            for path, why in (text if isinstance(text, tuple) else written_files(text)):  # a tuple: redirects
                if "$" in path:
                    continue  # add() says it cannot resolve it for folders; a file here is left to the note below
                p = resolve(path, wd)
                folder = posixpath.dirname(p)
                host = next((b for b in binds if _under(p, b)), None)
                if host is not None:
                    raise _Leave(f"{label} writes {path} ({why}) into {host}, which compose bind-mounts from the "
                                 "host: the host's files keep their owner, so as a non-root user it cannot write "
                                 "there where root could, and the container would fail; write it outside the bind "
                                 "mount (a folder of its own, /tmp, or stdout), then run harden again", line)
                if _under(workdir, folder) or _under(wd, folder):
                    reason = (f"{label} writes {path} ({why}) into the working directory {folder}, which stays "
                              "root-owned (harden does not hand the code directory to the app user), so as a "
                              "non-root user it would fail; write it into a folder of its own (e.g. "
                              f"{posixpath.join(folder, 'var', posixpath.basename(p))}), then run harden again")
                    if folder == workdir == wd and self.test_image(chain, uses):
                        self.hand.append(_Hand(reason, line, (p,), False))
                        continue
                    raise _Leave(reason, line)
                add(folder, f"{label} writes {path}", line, loud=False)

    def framework_writes(self, chain: list, uses: list) -> tuple[str, tuple[str, ...]] | None:
        """(who, folders under the work directory) a framework writes at start-up, as the stacks
        that may be there say (harden.stacks.of_app; writes_at_start); None without a work
        directory of its own."""
        from harden import stacks
        from harden.stacks.system import App

        workdir = self.workdir_at(chain)
        if workdir == "/":
            return None
        entry, cmd = _last_in_chain(chain, "ENTRYPOINT"), _last_in_chain(chain, "CMD")
        commands = []
        for u in uses:
            svc = u.project.service(u.service)
            val = svc.merged.get("command") if svc is not None else None
            if val:
                commands.append(" ".join(map(str, val)) if isinstance(val, list) else str(val))
        app = App(Path(self.unit.context), workdir, entry.value if entry is not None else None,
                  cmd.value if cmd is not None else None, commands)
        texts = [t for t in (app.entrypoint, app.cmd) if t is not None] + commands
        for name in stacks.of_app(app.context, texts):
            got = stacks.hook(name, "writes_at_start")(app)
            if got:
                return got
        return None

    def data_paths(self, name: str, value: str) -> list[str]:
        out = []
        for m in _SQLITE_URL.finditer(value):
            p = m.group(1)
            if p == ":memory:" or not p:
                continue
            out.append(posixpath.dirname(p) or ".")
        if out or "://" in value:
            return out
        if _DATA_NAME.match(name.upper()) and value and not value.startswith("$"):
            v = value.strip().strip("\"'")
            if v.startswith(("/", "./")) or "/" in v:
                if name.upper().endswith("_FILE") or _FILE_EXT.search(v):
                    v = posixpath.dirname(v) or "."
                out.append(v)
        return out

    def copy_chowns(self, chain: list, dirs: list[str], uid: int, gid: int) -> list[tuple[int, str]]:
        """COPY/ADD instructions of this stage that write into a writable directory: add --chown."""
        stage = chain[-1]
        edits = []
        if not dirs:
            return edits
        for inst in stage.instructions:
            if inst.instruction not in ("COPY", "ADD") or inst.heredoc or "chown" in inst.flags():
                continue
            words = inst.words()
            if len(words) < 2:
                continue
            dest = words[-1]
            if "$" in dest:
                continue
            wd = self.workdir_at(chain, stop_line=inst.startline)
            d = _norm(dest, wd)
            if not any(_under(d, x) for x in dirs):
                continue
            first = inst.lines[0]
            m = re.match(r"^(\s*)(COPY|ADD)(\s+)", first, re.I)
            if not m:
                continue
            edits.append((inst.startline, f"{m.group(0)}--chown={uid}:{gid} {first[m.end():]}"))
        return edits


# an install a script harden cannot follow may run at start-up
_INSTALL_WORDS = re.compile(r"\b(?:npm\s+(?:install|i|ci)|yarn(?:\s+install)?\s*$|pnpm\s+(?:install|i)|"
                            r"pip[0-9.]*\s+install(?!.*--user)|poetry\s+install|pipenv\s+install|uv\s+sync|"
                            r"bundle\s+install|composer\s+install)\b", re.M)

# a derived stage that ran its build steps as root goes on doing so; hadolint flags a root USER
# (DL3002) and a user name (DL3066) on any stage, and this one is root on purpose
_ROOT_AGAIN = ("# hadolint ignore=DL3002,DL3066", "USER root")
# harden's own RUN of one command after the Dockerfile's RUN: merging it into the user's RUN
# would rewrite their line (hadolint DL3059 asks for that)
_ONE_MORE_RUN = "# hadolint ignore=DL3059"

# a server's own port option: --port 80, -p 80, --bind 0.0.0.0:80, -b :80, --listen=:443
_BIND_PORT = re.compile(r"(?<![\w-])(?:--port|-p)[=\s\"',]+(\d{1,5})\b|(?<![\w-])(?:--bind|-b|--listen|--addr)[=\s\"',]+[\w.\[\]:${}-]*?:(\d{1,5})\b")

# what a start command runs through before the program itself
_START_WRAPPERS = {"sh", "bash", "ash", "dash", "tini", "dumb-init", "busybox", "env", "exec"}


def _unquote_words(text: str) -> str:
    """`mvnw", "spring-boot:run` (cut from an exec-form CMD) -> `mvnw spring-boot:run`."""
    return " ".join(w.strip("\"',") for w in text.split() if w.strip("\"',")) or text.strip()


def _last_in_chain(chain: list, kind: str) -> Any:
    """The last ``kind`` instruction (USER, CMD, ENTRYPOINT) in force at the end of a stage
    chain (base stages first): the running stage's own, else the nearest base stage's."""
    for st in reversed(chain):
        inst = st.last(kind)
        if inst is not None:
            return inst
    return None


_DATA_WORDS = {"data", "uploads", "upload", "media", "storage", "logs", "log", "state", "db", "database",
               "sqlite", "instance", "sessions", "attachments", "files", "output", "downloads", "backups", "tmp",
               "cache", "var"}


def _mkdir_targets(text: str) -> list[str]:
    """Directories ``mkdir`` creates in a RUN's shell text."""
    out = []
    for seg in re.split(r"&&|\|\||;|\||\n", text.replace("\\\n", " ")):
        toks = _split(seg)
        if not toks or not re.match(r"^(?:\S*/)?mkdir$", toks[0]):
            continue
        skip = False
        for t in toks[1:]:
            if skip:
                skip = False
                continue
            if t in ("-m", "--mode"):
                skip = True
                continue
            if not t.startswith("-"):
                out.append(t)
    return out
