"""split-stages: a single-stage Dockerfile becomes a builder stage and a production stage.

The transform reads the stage (what each instruction is: an install or build step, an OS
package install, a COPY of manifests or of the app, ...), finds the one stack it installs for,
and asks that stack's module (harden.stacks: python, node, go) which lines go to the builder
and which to production; what is common to every stack (OS packages, file commands beside an
install, the installing user, the assembly of the two stages) is here.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from harden.errors import Skip
from harden.model import context_file_text
from harden.record import field, record
from harden.transform import Example, Transform

if TYPE_CHECKING:
    from harden.stacks.shell import Cmd, FileOp


class SplitStages(Transform):
    """What it does: rewrites a single-stage Dockerfile into two stages. ``FROM <base> AS builder``
    installs the dependencies (and runs the build step); ``FROM <runtime base> AS production``
    starts clean and copies only the result: the virtualenv for Python, the pruned
    ``node_modules`` and built files for Node, the binary for Go. Every other instruction stays in
    the stage that needs it, with its comments: ARG before FROM and parser directives stay first,
    ENV/ARG/WORKDIR are in both stages, LABEL, EXPOSE, VOLUME, HEALTHCHECK, STOPSIGNAL, ENTRYPOINT
    and CMD in production; steps such as ``collectstatic`` run in production after the app is
    copied, so the files they make are there.

    - Python (pip with any requirements files, ``pip install .``, poetry, pipenv, uv): the builder
      creates a virtualenv (option ``venv``, default ``/opt/venv``; an existing ``python -m venv``
      is reused) before the first install and puts it first on PATH (``VIRTUAL_ENV`` is set too, so
      poetry and pipenv install into it; ``uv sync`` gets ``UV_PROJECT_ENVIRONMENT``). Production
      copies it to the same path (console-script shebangs point into it) and sets the same PATH.
      A CMD/ENTRYPOINT that runs ``poetry run X`` (a ``poetry install`` made the environment)
      runs ``X`` in production: ``poetry run`` only puts the environment's bin folder first on
      PATH and sets VIRTUAL_ENV, which production sets the same way (noted).
      A full ``python:X`` base becomes ``python:X-slim`` in production (same Python, same path).
      uv's images that carry the official Python (``ghcr.io/astral-sh/uv:python3.12-bookworm-slim``)
      become that official image in production (``python:3.12-slim-bookworm``; from the full
      ``python3.12-bookworm`` variant, the slim one), without uv.
    - OS packages: compilers, ``build-essential``, ``git``, ``pkg-config`` and ``*-dev`` stay in the
      builder; production installs the runtime library each ``-dev`` package stood for
      (``libpq-dev`` -> ``libpq5``, ``default-libmysqlclient-dev`` -> ``libmariadb3``, Alpine
      ``postgresql-dev`` -> ``libpq``; table in ``harden.runtime_libs``) and keeps every other
      package (curl for a HEALTHCHECK, ffmpeg, tini ...).
    - Node (npm, yarn 1, pnpm): install and build run in the builder, which then prunes dev
      dependencies; production copies the work directory from the builder. When the start
      command runs a devDependency (``npm run start:prod`` whose script is ``prisma migrate deploy
      && node dist/main.js`` with prisma in devDependencies, ``"start": "./node_modules/nodemon/
      bin/nodemon.js app.js"``, a start script's ``npm run migrate`` running ts-node), the prune is
      left out: production copies node_modules with the dev dependencies, and a note names the
      start step, the package and what to change so that they are pruned. The start command is
      the one that really runs: the compose ``command``/``entrypoint`` of each service that builds
      the Dockerfile as well as its own CMD/ENTRYPOINT, followed through ``npm|yarn|pnpm start|run
      X`` into package.json scripts (pre/post scripts too), ``sh -c``, ``npx``/``exec``, start
      scripts, preloads (``-r tsconfig-paths/register``) and paths into ``node_modules/`` or
      ``node_modules/.bin/``. A full ``node:X``
      base becomes ``node:X-slim`` in production (same Node, same Debian release and glibc, so
      native modules keep working), unless production runs a tool only the full image has.
    - Go: the binary is built in the builder with ``CGO_ENABLED=0`` unless the code uses cgo.
      Production is ``gcr.io/distroless/static-debian12:nonroot`` (real, tiny, carries CA
      certificates and tzdata, no shell, runs as uid 65532) when nothing in production needs a
      shell or packages; otherwise ``alpine:3.20`` (Alpine builders) or ``debian:<release>-slim``,
      with ``ca-certificates``/``tzdata`` installed when the code makes HTTP/TLS calls or loads
      time zones.
    - A ``USER`` above the install (``USER node`` then ``npm ci``, ``USER app`` then ``pip install
      --user``) stays where it is, in both stages: the builder installs as that user, as before,
      and production copies what it installed with ``--chown=<that user>``. A virtualenv is made
      by root before that USER line and handed to the user; ``pip install --user`` needs none:
      production copies the user's site (``~/.local`` of the home the RUN that creates the user
      gives it, or ``$HOME``/``$PYTHONUSERBASE``).
    - A RUN that joins simple file commands to the install with ``&&`` (``mkdir``, ``touch``,
      ``ln``, ``cp``, ``mv``, ``chown``, ``chmod``; ``cd`` and ``rm`` as before) stays whole in
      the builder. Effects inside what production copies from the builder come with the copy; a
      ``chown -R`` of a copied folder becomes the copy's ``--chown``; production runs the others
      (``mkdir -p /app/uploads`` beside ``pip install``) in a RUN of their own at the same place.
      A RUN of file commands that copies from a folder a Node install ran in (``cd /tmp/app &&
      npm install``, then ``cp -a /tmp/app/node_modules /usr/src/app``) runs in the builder only.

    Why: build tools, headers, caches and dev dependencies make the image several times larger
    and give an attacker a compiler. The production stage ships only what runs.

    Example:

        FROM python:3.12                      FROM python:3.12 AS builder
        RUN apt-get update && apt-get \\       RUN apt-get update && apt-get ... gcc default-libmysqlclient-dev
            install -y gcc \\                  RUN python3 -m venv /opt/venv
            default-libmysqlclient-dev        ENV VIRTUAL_ENV=/opt/venv PATH="/opt/venv/bin:$PATH"
        COPY requirements.txt .         ->    COPY requirements.txt .
        RUN pip install -r requirements.txt   RUN pip install -r requirements.txt
        COPY . .
        CMD ["gunicorn", "app:app"]           FROM python:3.12-slim AS production
                                              RUN apt-get ... install -y --no-install-recommends libmariadb3 ...
                                              COPY --from=builder /opt/venv /opt/venv
                                              ENV VIRTUAL_ENV=/opt/venv PATH="/opt/venv/bin:$PATH"
                                              COPY . .
                                              CMD ["gunicorn", "app:app"]

    Safety: production lacks what the builder had. A package built from source against a library
    harden does not know (an unknown ``-dev``) would fail to load: such ``-dev`` packages are kept
    in production and a note asks you to replace them. ``python:X-slim`` lacks the full image's
    libraries: known source-built packages (mysqlclient, psycopg2) get theirs, and a note says so.
    A Go program that reads files at run time gets the app files copied next to the binary.
    Build and run the image once after the change.

    When it refuses (nothing is changed, the reason is reported): an installer it does not know
    (bundle, composer, cargo, maven, make, conda, ``python setup.py``, ``curl | sh`` ...); a RUN
    heredoc beside an install, or naming an installer; a RUN that mixes installs with other
    commands, or with file commands joined otherwise than by ``&&``, whose paths it cannot name (a
    variable, a pattern), that copy files out of what production copies, change the owner of part
    of it, or touch a file production does not have; a Node install in a folder outside the work
    directory that nothing copies back; ``pip --target/--prefix``, ``pip --user`` as root or into a
    home harden cannot find; a base image it cannot classify (``ubuntu`` with a hand-installed
    Python, ``cimg/python``, ``${VAR}`` without a default); Python and Node in one stage; yarn 2+;
    ``SHELL``; build steps run as different users, or as a ``USER`` from a build variable, or a
    ``USER`` before a Go build; a CMD/ENTRYPOINT that runs through ``pipenv run`` (it also loads
    ``.env`` files) or ``uv run`` (it syncs the environment first), or through ``poetry run`` where
    dropping it could change what runs (a script of pyproject.toml, an option to poetry, a
    ``poetry`` inside quotes or ``sh -c``, an environment poetry did not install), or a
    compose ``command``/``entrypoint`` that runs poetry, pipenv, uv, pdm or hatch (only the builder
    has them); a Node start script harden cannot follow (it may run a devDependency the prune would
    remove, or something else only the builder has); a global tool production runs that a
    RUN installs together with build steps; a test or CI image (its start runs the tests or
    linters, or only test/CI compose files build it). Dockerfiles that already have several
    stages, or a compose ``target:``, are left as they are.
    """

    name = "split-stages"
    summary = "Split a single-stage Dockerfile into a builder stage and a slim production stage"
    kind = "dockerfile"
    examples = [
        Example(
            "python-pip",
            files={
                "Dockerfile": (
                    "FROM python:3.12-slim\n"
                    "WORKDIR /app\n"
                    "COPY requirements.txt .\n"
                    "RUN pip install --no-cache-dir -r requirements.txt\n"
                    "COPY . .\n"
                    'CMD ["python", "app.py"]\n'
                ),
                "requirements.txt": "flask==3.0.3\n",
            },
            expect={
                "Dockerfile": (
                    "FROM python:3.12-slim AS builder\n"
                    "WORKDIR /app\n"
                    "COPY requirements.txt .\n"
                    "RUN python3 -m venv /opt/venv\n"
                    "ENV VIRTUAL_ENV=/opt/venv \\\n"
                    '    PATH="/opt/venv/bin:$PATH"\n'
                    "RUN pip install --no-cache-dir -r requirements.txt\n"
                    "\n"
                    "FROM python:3.12-slim AS production\n"
                    "WORKDIR /app\n"
                    "COPY --from=builder /opt/venv /opt/venv\n"
                    "ENV VIRTUAL_ENV=/opt/venv \\\n"
                    '    PATH="/opt/venv/bin:$PATH"\n'
                    "COPY . .\n"
                    'CMD ["python", "app.py"]\n'
                ),
            },
        ),
        Example(
            "already-multi-stage",
            files={
                "Dockerfile": (
                    "FROM golang:1.22 AS build\n"
                    "WORKDIR /src\n"
                    "COPY . .\n"
                    "RUN go build -o /out/app .\n"
                    "FROM gcr.io/distroless/static-debian12:nonroot\n"
                    "COPY --from=build /out/app /app\n"
                    'ENTRYPOINT ["/app"]\n'
                ),
            },
        ),
        Example(
            "unknown-installer",
            files={
                "Dockerfile": (
                    "FROM ruby:3.3\n"
                    "WORKDIR /app\n"
                    "COPY Gemfile Gemfile.lock ./\n"
                    "RUN bundle install\n"
                    "COPY . .\n"
                    'CMD ["ruby", "app.rb"]\n'
                ),
            },
        ),
    ]

    def apply(self, unit, ctx) -> None:
        doc = unit.doc
        stages = doc.stages
        if len(stages) != 1:
            return  # already multi-stage: the stages are the author's
        stage = stages[0]
        if ctx.stage_suppressed(doc, stage):
            return
        for use in unit.uses:
            if use.target:
                raise Skip(f"compose service {use.service} builds target {use.target!r}; "
                           "splitting the stage would change what that target builds")
        plan = _Planner(unit, ctx, stage).plan()
        if plan is None:
            return
        start, end, new_lines, notes = plan
        doc.replace_lines(start, end, new_lines)
        for line, msg in notes:
            ctx.note(msg, line=line)




# ---------------------------------------------------------------------------- reading the stage

@record
class Item:
    inst: object
    lead: list[str]
    cls: str  # both | prod | copy | copy_from | pkg | build | other
    workdir: str = "/"
    cmds: list[Cmd] = field(default_factory=list)
    eco: str | None = None
    manifest: bool = False
    dest: str = ""
    in_workdir: bool = False
    file_only: bool = False  # an "other" RUN of simple file commands only (mkdir, cp, chown ...)
    heredoc: bool = False  # a RUN heredoc that names no installer (harden does not read it further)
    prod_run: list[str] = field(default_factory=list)  # what production runs of a build RUN's file commands
    rewrite: list[str] | None = None  # the instruction's lines as production writes them (a stack's rewrite)

    @property
    def line(self) -> int:
        return self.inst.startline + 1

    def out(self) -> list[str]:
        return self.lead + (self.rewrite if self.rewrite is not None else self.inst.lines)


# package names whose tools a builder step may call (their install stays in the builder too)
FETCH_TOOLS = {"ca-certificates", "curl", "wget", "git", "gnupg", "openssh-client", "unzip", "xz-utils"}


DOC_RE = re.compile(r"^(README|LICENSE|LICENCE|COPYING|NOTICE|CHANGELOG|CHANGES|AUTHORS)([.-][^/]*)?$", re.I)


_MANIFEST: list[re.Pattern] = []


def _manifest_re() -> re.Pattern:
    """Dependency manifests of the stacks harden splits (harden.stacks.MANIFESTS)."""
    if not _MANIFEST:
        from harden.stacks import MANIFESTS

        _MANIFEST.append(re.compile("^(" + "|".join(MANIFESTS.values()) + ")$"))
    return _MANIFEST[0]


class _Planner:
    def __init__(self, unit, ctx, stage):
        self.unit = unit
        self.ctx = ctx
        self.doc = unit.doc
        self.stage = stage
        self.notes: list[tuple[int | None, str]] = []
        self.context = Path(unit.context)
        self.emitted: set[str] = set()  # runtime packages production installs already
        self.run_uses: list | None = None  # the compose uses that run this stage (None: every use of the unit)
        self.instructions: list | None = None  # what the image is made of (None: the stage's own)

    def uses(self) -> list:
        if self.run_uses is not None:
            return self.run_uses
        return list(getattr(self.unit, "uses", None) or [])

    # -------------------------------------------------------------- reading

    def _items(self) -> list[Item]:
        from harden import stacks
        from harden.stacks import shell as sh

        lines = self.doc.lines
        prev_end = self.stage.from_.endline
        items: list[Item] = []
        workdir = "/"
        # commands that global installs (`npm i -g @nestjs/cli`, `corepack enable`) put on PATH:
        # a RUN calling one (`nest build`) is a build step of the builder (command -> stack)
        self.global_bins: dict[str, str] = {}
        for inst in self.stage.instructions:
            if inst.instruction == "RUN" and not inst.heredoc:
                try:
                    for c in sh.run_commands(inst):
                        cmd = sh.classify(c)
                        global_bins = stacks.hook(cmd.eco, "global_bins")
                        for b in (global_bins(cmd) if global_bins is not None else ()):
                            self.global_bins.setdefault(b, cmd.eco)
                except (ValueError, Skip):
                    pass  # the pass below reports it, in the order of the file
        for inst in self.stage.instructions:
            lead = lines[prev_end + 1: inst.startline]
            prev_end = inst.endline
            name = inst.instruction
            if name == "WORKDIR":
                wd = inst.args_without_flags().strip().strip('"')
                workdir = str(PurePosixPath(workdir) / wd) if "$" not in wd else wd
            item = Item(inst, lead, "prod", workdir)
            if name in ("ENV", "ARG", "WORKDIR"):
                item.cls = "both"
            elif name == "SHELL":
                raise Skip(f"SHELL at line {item.line} changes how RUN is read; split this Dockerfile by hand")
            elif name in ("COPY", "ADD"):
                fl = inst.flags()
                if inst.heredoc:
                    item.cls = "other"
                elif "from" in fl:
                    item.cls = "copy_from"
                else:
                    item.cls = "copy"
                    words = [w for w in inst.words() if not w.startswith("--")]
                    if len(words) >= 2:
                        srcs, dest = words[:-1], words[-1]
                        item.dest = dest
                        names = [PurePosixPath(s.rstrip("/")).name or "" for s in srcs]
                        names = [n.replace("*", "") for n in names]  # poetry.lock*, requirements*.txt
                        manifest = _manifest_re()
                        item.manifest = any(manifest.match(n) for n in names) and all(
                            manifest.match(n) or DOC_RE.match(n) for n in names)
                        absdest = dest if dest.startswith("/") else str(PurePosixPath(workdir) / dest)
                        item.in_workdir = workdir != "/" and (absdest.rstrip("/") + "/").startswith(workdir.rstrip("/") + "/")
            elif name == "RUN":
                if inst.heredoc:
                    if sh.heredoc_may_install(inst):
                        raise Skip(_heredoc_reason(item))
                    item.cls = "other"  # refused below if anything else is to be split
                    item.heredoc = True
                    items.append(item)
                    continue
                try:
                    cmds = [sh.classify(c) for c in sh.run_commands(inst)]
                except ValueError as e:
                    raise Skip(f"cannot read the RUN at line {item.line}: {e}") from None
                item.cmds = cmds
                for eco in sorted({c.eco for c in cmds if c.eco}):
                    read_run = stacks.hook(eco, "read_run")  # `curl <installer> | python3 -`: a tool install
                    if read_run is not None:
                        read_run(cmds)
                if any(c.kind == "tool" for c in cmds) and not any(c.kind in ("install", "build", "venv") for c in cmds):
                    for c in cmds:  # linking or marking the tool just installed
                        if c.kind == "other" and c.words and sh.base(c.words[0]) in ("ln", "chmod"):
                            c.kind = "helper"
                for c in cmds:
                    if c.kind == "other" and c.words and sh.base(c.words[0]) in self.global_bins:
                        c.kind, c.eco = "build", self.global_bins[sh.base(c.words[0])]
                    if c.kind == "foreign":
                        raise Skip(f"RUN at line {item.line} uses {c.detail} (`{' '.join(c.words[:3])}`): "
                                   "harden does not know which files that installer produces")
                kinds = {c.kind for c in cmds}
                ecos = {c.eco for c in cmds if c.eco}
                if len(ecos) > 1:
                    raise Skip(f"RUN at line {item.line} mixes {' and '.join(sorted(ecos))} installs")
                if kinds & {"install", "build", "tool", "venv"}:
                    if "other" in kinds:
                        _mark_file_commands(item)
                    item.cls = "build"
                    item.eco = ecos.pop()
                elif kinds <= {"pkg", "helper"} and "pkg" in kinds:
                    item.cls = "pkg"
                else:
                    item.cls = "other"
                    if "other" in kinds and all(c.kind != "other" or sh.file_op(c.words) for c in cmds):
                        item.file_only = True
            items.append(item)
        return items

    def plan(self):
        from harden import stacks
        from harden.stacks.system import split_image

        items = self._items()
        ecos = {i.eco for i in items if i.cls == "build"}
        if not ecos:
            return None  # nothing to split (a heredoc without an installer in it included)
        heredoc = next((i for i in items if i.heredoc), None)
        if heredoc is not None:
            raise Skip(_heredoc_reason(heredoc))
        if len(ecos) > 1:
            raise Skip(f"this stage installs both {' and '.join(sorted(ecos))} dependencies; "
                       "harden splits one ecosystem per stage")
        eco = ecos.pop()
        if not any(c.kind in ("install", "build") for i in items if i.cls == "build" for c in i.cmds):
            return None  # only tooling: nothing to build
        self.items = items
        self.eco = eco
        self._refuse_test_image(items)
        self.stack = stacks.get(eco)
        self.airy = any(line.strip() == "" for i in items for line in i.lead)
        self.cut = max(k for k, i in enumerate(items) if i.cls == "build")
        self.install_user = self._install_user(items, eco)
        # base image
        pre_args: dict[str, str | None] = {}
        for a in self.doc.preamble:
            if a.instruction == "ARG":
                k, eq, v = a.args_without_flags().strip().partition("=")
                pre_args[k.strip()] = v.strip().strip('"\'') if eq else None
        self.base = self.stage.base
        resolved = _resolve(self.base, pre_args) if "$" in self.base else self.base
        if resolved is None:
            raise Skip(f"base image {self.base} uses a build argument without a default; "
                       "harden cannot tell which image it is")
        self.repo, self.tag, self.digest = split_image(self.base)
        rrepo, rtag, _ = split_image(resolved)
        self.family_name = _family_of_repo(rrepo)
        self.rtag = rtag or "latest"
        self.alpine = "alpine" in self.rtag
        self.pkg_family = "apk" if self.alpine else "apt"
        builder_alias = "builder"
        self.prod_alias = self.stage.alias or "production"
        if self.stage.alias == "builder":
            raise Skip("the only stage is already named builder; rename it and run harden again")
        self.builder_alias = builder_alias
        expected = self.stack.IMAGE
        image_carried = getattr(self.stack, "image_carried", None)
        self.carried = image_carried(rrepo, self.rtag) if image_carried is not None else None
        if self.family_name != expected and self.carried is None:
            raise Skip(f"base image {resolved} is not an official {expected} image; harden cannot tell "
                       f"which runtime the production stage would need for these {eco} installs (nor whether "
                       f"a virtualenv or a binary built there runs on another image); build FROM the official "
                       f"{expected} image, or split it by hand")
        check_start = getattr(self.stack, "check_start", None)
        if check_start is not None:
            check_start(self)  # a start command production could not run
        builder, production, prod_from = self.stack.plan_split(self)
        return self._assemble(builder, production, prod_from)

    # ------------------------------------------------------------- a test or CI image

    def _refuse_test_image(self, items: list[Item]) -> None:
        """A test or CI image (test_image_why) is left, with the reason: a production stage
        without dev dependencies is not what it is for."""
        why = self.test_image_why(items)
        if why:
            raise Skip(f"a test image: {why}; it needs its dev dependencies, so a production stage without them "
                       "is not what it is for")

    def test_image_why(self, items: list[Item]) -> str | None:
        """A test or CI image runs the test suite or linters against its dev dependencies: one
        whose start runs them (``npm test``, ``npm run test:e2e``, ``npm run lint``, ``jest``,
        ``pytest`` ..., directly or through a start script), or that only test or CI compose files
        build (the name rule of dev-profiles: ``docker-compose.relational.ci.yaml``). Says why
        (``its start runs `npm run lint` (CMD at line 8)``), or None for any other image."""
        from harden.project import ci_stack_word
        from harden.stacks.shell import start_segments
        from harden.start_script import runs_tests

        scripts = None
        if (self.context / "package.json").is_file():
            try:
                import json

                got = json.loads(self.read("package.json") or "{}").get("scripts")
                scripts = got if isinstance(got, dict) else None
            except (ValueError, AttributeError):
                scripts = None
        # what runs for sure: the start commands, a script's plain lines
        starts = self.own_starts(items)
        starts += [(c.text, c.where) for c in self.start_scripts(items).commands if not c.conditional]
        for text, where in starts:
            for words in start_segments(text):
                shown = runs_tests(words, scripts)
                if shown:
                    return f"its start runs `{shown}` ({where})"
        uses = self.uses()
        if uses:
            files = []
            for use in uses:
                svc = use.project.service(use.service) if hasattr(use.project, "service") else None
                doc = getattr(svc, "doc", None)
                rel = next((r for d, r in zip(getattr(use.project, "docs", []), getattr(use.project, "rels", []))
                            if d is doc), None) or (use.project.rels[0] if getattr(use.project, "rels", None) else "")
                files.append(rel)
            words = [ci_stack_word(r) for r in files]
            if files and all(words):
                shown = ", ".join(dict.fromkeys(files))
                return f"only test or CI compose files build it ({shown}: the name says `{words[0]}`)"
        return None

    # ------------------------------------------------------------- the installing user

    def _install_user(self, items: list[Item], eco: str) -> str | None:
        """``USER node`` before ``npm ci`` (``USER app`` before ``pip install --user``): each USER
        above the last build step stays where it is, in both stages, so the builder installs as
        that user, as before, and production runs the later steps as it. The user the build
        steps run as (None: root) owns what production copies from the builder (``--chown``)."""
        users = [i for k, i in enumerate(items) if i.inst.instruction == "USER" and k < self.cut]
        if not users:
            return None
        if not getattr(self.stack, "KEEPS_USERS", True):
            raise Skip(f"USER at line {users[0].line} comes before the {self.stack.LABEL} build: production starts "
                       "from another image, where that user does not exist; split this Dockerfile by hand")
        for i in users:
            i.cls = "both"
        current, found = None, {}
        for i in items[:self.cut + 1]:
            if i.inst.instruction == "USER":
                current = i
            elif i.cls == "build":
                found.setdefault(current.inst.value.strip() if current else "root", current or i)
        if len(found) > 1:
            raise Skip(f"the build steps run as different users ({', '.join(found)}); harden cannot tell who "
                       "must own what production copies from the builder; split this Dockerfile by hand")
        (value, where), = found.items()
        if "$" in value:
            raise Skip(f"USER {value} at line {where.line} comes from a build variable; harden cannot tell which "
                       "user the builder installs as, nor who must own what production copies")
        return None if value.split(":", 1)[0] in ("root", "0") else value

    def copy_from_builder(self, path: str) -> str:
        """``COPY --from=builder`` of what the builder made: owned by the user who made it (or
        the owner a ``chown -R`` beside the install gave it)."""
        owner = self.install_user or getattr(self, "copy_owner", None)
        chown = f"--chown={owner} " if owner else ""
        return f"COPY --from={self.builder_alias} {chown}{path} {path}"

    # ------------------------------------------------------------- file commands beside an install

    def carry_file_steps(self, roots: list[str]) -> None:
        """A build RUN that also runs simple file commands stays whole in the builder. What
        production copies from the builder (``roots``: the virtualenv, the Node work directory)
        carries their effects there; production runs, in a RUN at the same place, the ones it
        would otherwise lack (``mkdir -p /app/uploads`` when it copies only the virtualenv), and a
        ``chown -R`` of a copied folder becomes ``--chown`` of the copy. Refused, naming the
        command, when an effect cannot be named or would not hold in production."""
        from harden.stacks import shell as sh

        # what production has at each point: folders (WORKDIR, made by a file command) and the
        # trees its own COPY instructions write
        exists: list[str] = sorted(sh.SYSTEM_DIRS)
        trees: list[str] = []
        for i in self.items:
            if i.inst.instruction == "WORKDIR" and "$" not in i.workdir:
                exists.append(i.workdir)
            elif i.dest and self._copy_in_production(i) and sh.abspath(i.dest, i.workdir):
                trees.append(sh.abspath(i.dest, i.workdir))
            elif i.cls == "build" and any(c.kind == "file" for c in i.cmds):
                i.prod_run = self._file_steps(i, roots, exists, trees)

    def _copy_in_production(self, item: Item) -> bool:
        if item.cls == "copy_from":
            return True
        if item.cls != "copy":
            return False
        return not item.in_workdir if getattr(self.stack, "COPIES_WORKDIR", False) else not item.manifest

    def _file_steps(self, item: Item, roots: list[str], exists: list[str], trees: list[str]) -> list[str]:
        """The production RUN lines for the file commands of one build RUN (may be none)."""
        from harden.stacks import shell as sh

        keep: list[list[str]] = []
        for c, cwd in sh.walk_cwd(item):
            op = sh.file_op(c.words) if c.kind == "file" else None
            if op is None:
                continue
            shown = f"`{' '.join(sh.strip_prefix(c.words))}` at line {item.line}"
            paths = [(p, sh.abspath(p, cwd)) for p in op.writes + op.reads]
            unnamed = [p for p, a in paths if a is None]
            if unnamed:
                raise Skip(f"{shown}: harden cannot tell which files it changes ({unnamed[0]}); split that RUN by hand first")
            writes = [sh.abspath(p, cwd) for p in op.writes]
            carried = [w for w in writes if any(sh.under(w, r) for r in roots)]
            if op.name == "chown":
                for r in self._chown_of_copied(op, writes, roots, shown):
                    if r in exists:  # a folder production has already: the copy does not re-own it
                        keep.append(["chown", op.owner, r])
            if len(carried) == len(writes):
                continue  # production gets it with what it copies from the builder
            if op.name in ("cp", "mv") or op.reads:
                raise Skip(f"{shown} copies or moves files outside what production copies from the builder "
                           f"({', '.join(roots)}); split that RUN by hand first")
            if cwd != item.workdir and any(not p.startswith("/") for p in op.writes):
                raise Skip(f"{shown} runs after a `cd` with relative paths; split that RUN by hand first")
            if any(ch in p for p in op.writes for ch in "*?["):
                raise Skip(f"{shown} names files by a pattern that may match other files in production; "
                           "split that RUN by hand first")
            if op.name in ("chown", "chmod"):
                missing = [w for w in writes if w not in carried and w not in exists
                           and not any(sh.under(w, t) for t in trees)]
                if missing:
                    raise Skip(f"{shown} changes {missing[0]}, which harden cannot tell is there in the production "
                               "stage; split that RUN by hand first")
            else:
                for w in writes:  # mkdir -p makes the folders above it too
                    exists.extend(str(d) for d in [PurePosixPath(w), *PurePosixPath(w).parents])
            keep.append(c.words)
        if not keep:
            return []
        cmds = [shlex.join(w) for w in keep]
        lines = [f"RUN {cmds[0]}"]
        for cmd in cmds[1:]:
            lines[-1] += " \\"
            lines.append(f"    && {cmd}")
        return lines

    def _chown_of_copied(self, op: FileOp, writes: list[str], roots: list[str], shown: str) -> list[str]:
        """COPY --from does not keep owners: a ``chown -R`` of a copied folder becomes the copy's
        ``--chown`` (the copied folders returned: one that production already has keeps its
        owner through the copy, so it is chowned on its own). A chown of only a part of a copied
        folder, or of a folder holding one, is refused."""
        from harden.stacks import shell as sh

        owned = []
        for w in writes:
            for r in roots:
                if sh.under(w, r) and not (w == r and op.recursive):
                    raise Skip(f"{shown} changes the owner of part of {r}, which production copies from the "
                               "builder (the copy does not keep owners); split that RUN by hand first")
                if sh.under(r, w) and w != r and op.recursive:
                    raise Skip(f"{shown} changes the owner of a folder that holds {r}, which production copies "
                               "from the builder (the copy does not keep owners); split that RUN by hand first")
                if w == r and op.recursive:
                    owner = self.install_user or getattr(self, "copy_owner", None)
                    if owner not in (None, op.owner):
                        raise Skip(f"{shown} gives {r} to {op.owner}, but the install runs as {owner}; harden "
                                   "cannot tell who must own what production copies; split that RUN by hand first")
                    if "$" in op.owner:
                        raise Skip(f"{shown}: the owner comes from a variable; split that RUN by hand first")
                    self.copy_owner = op.owner
                    owned.append(r)
        return owned

    # ------------------------------------------------------------- helpers

    def _from_line(self, image: str, alias: str) -> str:
        first = self.stage.from_.lines[0]
        kw = first.split()[0]
        as_kw = "as" if kw.islower() else "AS"
        flags = [t for t in self.stage.from_.value.split() if t.startswith("--")]
        return " ".join([kw, *flags, image, as_kw, alias])

    def _assemble(self, builder: list[str], production: list[str], prod_image: str):
        doc = self.doc
        st = self.stage
        lines = doc.lines
        end = st.endline
        out = [self._from_line(self.base, self.builder_alias)]
        out += builder
        while out and out[-1].strip() == "":
            out.pop()
        out.append("")
        # a `# harden: ...` pragma above the FROM meant the stage that runs: repeat it there
        j = st.startline - 1
        pragmas = []
        while j >= 0 and lines[j].strip().startswith("#"):
            if re.match(r"^\s*#\s*harden:", lines[j]):
                pragmas.insert(0, lines[j])
            j -= 1
        out += pragmas
        out.append(self._from_line(prod_image, self.prod_alias))
        out += production
        # what follows the last instruction (trailing comments, blank lines) stays at the end
        return st.startline, end, out, self.notes

    def pkgs(self, items: list[Item]):
        """OS packages of these RUNs: (family, installed, removed)."""
        inst, rem = [], set()
        fam = None
        for i in items:
            for c in i.cmds:
                if c.kind == "pkg":
                    fam = fam or c.family
                    inst += c.pkgs
                    rem |= {p for p in c.removed}
        return fam, inst, rem

    def runtime_for(self, items: list[Item], line: int | None, *, base_has: set[str] = frozenset(),
                     release: str | None = None) -> tuple[list[str], bool]:
        """Runtime packages for the packages these RUNs install; (packages, any build-only)."""
        from harden import runtime_libs as rl

        fam, pkgs, removed = self.pkgs(items)
        fam = fam or self.pkg_family
        out: list[str] = []
        build_only = False
        unknown = []
        for p in pkgs:
            name = rl.strip_version(p)
            if rl.is_build_only(p, fam) or name in getattr(self.stack, "BUILD_ONLY_PACKAGES", ()):
                build_only = True
                continue
            if rl.is_dev(p):
                build_only = True
                rt = rl.runtime_of(p, fam, release)
                if rt is None:
                    unknown.append(name)
                    out.append(p)
                else:
                    out += [r for r in rt if r not in base_has]
                continue
            if name in removed or name.startswith("."):
                continue
            out.append(p)
        if unknown:
            self.notes.append((line, f"kept {', '.join(unknown)} in the production stage: harden does not know "
                                     "which runtime library it stands for; replace it with that library"))
        seen: list[str] = []
        for p in out:
            if p not in seen:
                seen.append(p)
        return seen, build_only

    def gen(self, out: list[str], lines: list[str], *, airy: bool = True) -> None:
        """Append generated lines, set off by a blank line when the file sets its blocks off so
        (``airy``). A generated RUN right after another RUN gets `# hadolint ignore=DL3059`:
        it is a step of its own on purpose (the venv, a prune), not one to fold into the
        author's RUN."""
        if airy and self.airy and out and out[-1].strip():
            out.append("")
        for ln in lines:
            if ln.startswith("RUN ") and _follows_run(out):
                if out and out[-1].startswith("# hadolint ignore="):
                    out[-1] += ",DL3059"
                else:
                    out.append("# hadolint ignore=DL3059")
            out.append(ln)

    def pkg_run(self, pkgs: list[str], family: str) -> list[str]:
        # versions of runtime libraries follow the base image's release: not pinned (the line is
        # harden's own, so the finding would be new even when the author's installs are unpinned)
        pragma = [f"# hadolint ignore={'DL3018' if family == 'apk' else 'DL3008'}"]
        if family == "apk":
            return pragma + [f"RUN apk add --no-cache {' '.join(pkgs)}"]
        return pragma + ["RUN apt-get update \\",
                f"    && apt-get install -y --no-install-recommends {' '.join(pkgs)} \\",
                "    && rm -rf /var/lib/apt/lists/*"]

    def _builder_needs(self, item: Item) -> bool:
        """A RUN of runtime-only packages: does a builder step use one of them?"""
        from harden.stacks import shell as sh
        from harden import runtime_libs as rl

        _, pkgs, _ = self.pkgs([item])
        names = {rl.strip_version(p) for p in pkgs}
        if names & FETCH_TOOLS:
            return True
        used = {sh.base(c.words[0]) for i in self.items if i.cls == "build" for c in i.cmds if c.words}
        return bool(names & used)

    def split_pkg_runs(self, builder: list[str], production: list[str], k: int, i: Item, *,
                        base_has: set[str] = frozenset(), release: str | None = None,
                        ) -> None:
        """Place a pre-cut OS-package RUN: verbatim in the builder when it installs build tools,
        and its runtime part in production."""
        runtime, build_only = self.runtime_for([i], i.line, base_has=base_has, release=release)
        if not build_only:
            self.emitted.update(runtime)
            if self._builder_needs(i):
                builder += i.out()
            production += i.out()
            return
        builder += i.out()
        runtime = [p for p in runtime if p not in self.emitted]
        self.emitted.update(runtime)
        if runtime:
            self.gen(production, self.pkg_run(runtime, self.pkg_family))

    def tool_copy(self, item: Item) -> bool:
        """``COPY --from=<image> /uv /bin/uv``: a tool only builder steps call."""
        from harden.stacks import shell as sh

        words = [w for w in item.inst.words() if not w.startswith("--")]
        if len(words) < 2:
            return False
        names = {sh.base(w.rstrip("/")) for w in words[:-1]} | ({sh.base(words[-1])} if not words[-1].endswith("/") else set())
        used_b = {sh.base(c.words[0]) for i in self.items if i.cls == "build" for c in i.cmds if c.words}
        after = [i for i in self.items if i.inst.instruction in ("RUN", "CMD", "ENTRYPOINT", "HEALTHCHECK")
                 and i.cls != "build"]
        return bool(names & used_b) and not (names & self.tools_in_prod(after))

    def tools_in_prod(self, production_items: list[Item]) -> set[str]:
        """Command words production runs: in its RUN/CMD/ENTRYPOINT/HEALTHCHECK, in the
        `entrypoint`/`command` of the compose services that build this Dockerfile, and in the
        entrypoint scripts those start (read from the build context)."""
        from harden.stacks import shell as sh

        words = set()
        starts = [(i.inst.instruction, i.inst.value) for i in production_items
                  if i.inst.instruction in ("HEALTHCHECK", "CMD", "ENTRYPOINT", "RUN")]
        starts += [("command", text) for text, _where in self.compose_starts()]
        starts += [("HEALTHCHECK", text) for text in self.compose_healthchecks()]
        for kind, value in starts:
            found = re.findall(r"[A-Za-z0-9_./-]+", value)
            words.update(sh.base(w) for w in found)
            if kind in ("CMD", "ENTRYPOINT", "command"):
                for w in found:
                    if re.search(r"\.(sh|bash)$|entrypoint|docker-entry|^start", sh.base(w)):
                        text = self.script_text(w)
                        words.update(sh.base(x) for x in re.findall(r"[A-Za-z0-9_./-]+", re.sub(r"(?m)#.*$", "", text)))
        return words

    def script_text(self, path: str) -> str:
        return context_file_text(self.context, path)

    def own_starts(self, items) -> list[tuple[str, str]]:
        """(command text, where it is written) of the start commands themselves: the Dockerfile's
        last ENTRYPOINT and CMD (`docker run` runs them), and each compose service's
        `entrypoint`/`command` that builds this Dockerfile (compose runs those instead)."""
        out: list[tuple[str, str]] = []
        for name in ("ENTRYPOINT", "CMD"):
            found = [i for i in items if i.inst.instruction == name]
            if found:
                out.append((found[-1].inst.value, f"{name} at line {found[-1].line}"))
        return out + self.compose_starts()

    def start_texts(self, items) -> list[tuple[str, str]]:
        """The start commands and the commands of the start scripts they run
        (`CMD ["/opt/startup.sh"]`)."""
        return self.own_starts(items) + [(c.text, c.where) for c in self.start_scripts(items).commands]

    def start_scripts(self, items=None):
        """What the shell scripts the start commands run (files the image COPY'd from the build
        context) run in turn (harden.start_script.Followed: commands, unknown)."""
        cached = getattr(self, "_followed", None)
        if cached is not None:
            return cached
        from harden.start_script import follow_unit

        items = items if items is not None else getattr(self, "items", None) or []
        self._followed = follow_unit(self.unit, self.instructions or self.stage.instructions, self.own_starts(items))
        return self._followed

    def compose_starts(self) -> list[tuple[str, str]]:
        """(text, where) of the `entrypoint` and `command` each compose service that builds this
        Dockerfile sets (its merged definition: base + overrides, extends, anchors)."""
        out: list[tuple[str, str]] = []
        for use in self.uses():
            project = use.project
            svc = project.service(use.service) if hasattr(project, "service") else None
            merged = svc.merged if svc is not None else {"command": use.command}
            for key in ("entrypoint", "command"):
                value = merged.get(key)
                if value is None or value == "" or value == []:
                    continue
                if isinstance(value, list):
                    text = " ".join(shlex.quote(str(v)) if " " in str(v) else str(v) for v in value)
                else:
                    text = str(value)
                out.append((text, f"compose service {use.service}{_compose_where(project, svc, key)}"))
        return out

    def compose_healthchecks(self, shell_only: bool = False) -> list[str]:
        """The `healthcheck.test` of each compose service that builds this Dockerfile (its merged
        definition): compose runs it inside the production image, so the tools it calls (curl,
        wget) must be there too. ``shell_only``: only the tests compose runs through /bin/sh
        (CMD-SHELL or a string), which an image without a shell (distroless) cannot run."""
        out: list[str] = []
        for use in self.uses():
            project = use.project
            svc = project.service(use.service) if hasattr(project, "service") else None
            check = svc.merged.get("healthcheck") if svc is not None else None
            if not isinstance(check, dict) or check.get("disable") is True:
                continue
            test = check.get("test")
            if isinstance(test, list):
                words = [str(w) for w in test]
                if words and words[0] in ("CMD", "CMD-SHELL", "NONE"):
                    if words[0] == "NONE" or (shell_only and words[0] == "CMD"):
                        continue
                    words = words[1:]
                out.append(" ".join(words))
            elif isinstance(test, str) and test:
                out.append(test)
        return out

    def read(self, name: str) -> str:
        try:
            return (self.context / name).read_text(errors="replace")
        except OSError:
            return ""


# ---------------------------------------------------------------------------- a test or CI image

def why_test_image(unit, ctx, stage, instructions: list, uses: list) -> str | None:
    """Why the stage that runs is a test or CI image (its start runs the tests or linters, or
    only test or CI compose files build it: _Planner.test_image_why), None otherwise.
    ``instructions``: what the image is made of (the stages it is built FROM, then its own);
    ``uses``: the compose services that run it. non-root-user asks this too."""
    planner = _Planner(unit, ctx, stage)
    planner.run_uses = list(uses)
    planner.instructions = list(instructions)
    return planner.test_image_why([Item(inst, [], "prod") for inst in instructions])


# ---------------------------------------------------------------------------- helpers

def _follows_run(lines: list[str]) -> bool:
    """Is the last instruction of ``lines`` (comments and blank lines aside) a RUN?"""
    i = len(lines) - 1
    while i >= 0 and (not lines[i].strip() or lines[i].lstrip().startswith("#")):
        i -= 1
    while i > 0 and lines[i - 1].rstrip().endswith("\\"):
        i -= 1
    return i >= 0 and lines[i].lstrip()[:4].upper() == "RUN "


def _mark_file_commands(item: Item) -> None:
    """A RUN that installs and also runs simple file commands (``pip install ... && mkdir -p
    /app/uploads``): they become ``file`` commands the planner places. Anything else beside the
    install, or commands joined otherwise than by ``&&``, is refused as before."""
    from harden.stacks.shell import file_op, separators

    for c in item.cmds:
        if c.kind == "other" and file_op(c.words) is None:
            raise Skip(f"RUN at line {item.line} mixes dependency installation with "
                       f"`{' '.join(c.words[:3])}`; split that RUN by hand first")
    seps = separators(item.inst)
    if seps - {"&&"}:
        c = next(c for c in item.cmds if c.kind == "other")
        raise Skip(f"RUN at line {item.line} mixes dependency installation with `{' '.join(c.words[:3])}` "
                   f"joined by `{sorted(seps - {'&&'})[0]}`; split that RUN by hand first")
    for c in item.cmds:
        if c.kind == "other":
            c.kind = "file"


def _heredoc_reason(item: Item) -> str:
    return (f"RUN heredoc at line {item.line}: harden does not read scripts in heredocs, so it cannot tell what "
            "they install")


def _resolve(text: str, args: dict[str, str | None]) -> str | None:
    """Expand ``$X``/``${X}``/``${X:-d}`` from global ARG defaults; None when one has no value."""
    missing = False

    def sub(m: re.Match) -> str:
        nonlocal missing
        name = m.group(1) or m.group(2)
        default = m.group(4)
        val = args.get(name)
        if val is None or val == "":
            if default is not None:
                return default
            missing = True
            return ""
        return val

    out = re.sub(r"\$(?:([A-Za-z_][A-Za-z0-9_]*)|\{([A-Za-z_][A-Za-z0-9_]*)(:?-([^}]*))?\})", sub, text)
    return None if missing else out


def _family_of_repo(repo: str) -> str:
    low = repo.lower()
    parts = low.split("/")
    name = parts[-1]
    if len(parts) == 1 or "/".join(parts[-2:]) in ("library/" + name,) or (len(parts) == 2 and parts[0] in ("docker.io", "index.docker.io")):
        return name
    return ""


def _compose_where(project, svc, key: str) -> str:
    """`` (docker-compose.yml:7) command`` for a key of a compose service, as far as known."""
    if svc is None:
        return f" {key}"
    try:
        doc, node = svc.owner(key)
        line = doc.key_line(node, key)
    except Exception:  # an anchor or extends: the key has no line of its own here
        return f" {key}"
    rel = next((r for d, r in zip(getattr(project, "docs", []), getattr(project, "rels", [])) if d is doc), None)
    if rel is None:
        rel = PurePosixPath(str(getattr(doc, "path", ""))).name
    return f" ({rel}:{line}) {key}" if line else f" ({rel}) {key}"
