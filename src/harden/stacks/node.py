"""Node: what harden knows about npm, yarn 1 and pnpm, global tools, the prune of
devDependencies and the start commands that need one, installs outside the work directory, the
node images (and deno's and bun's) and their users, and ``next start``'s ``.next``.

Hooks (harden.stacks): classify, global_bins, IMAGE, LABEL, BUILD_ONLY_PACKAGES, COPIES_WORKDIR,
plan_split (split-stages); ships_user, onbuild, writes_at_start, install_writes (non-root-user).
"""

from __future__ import annotations

import re
from typing import Any

from harden.errors import Skip
from harden.stacks.shell import Cmd, abspath, base, file_op, positional, start_segments, strip_prefix, under, walk_cwd
from harden.stacks.system import release_of

IMAGE = "node"
LABEL = "Node"
# production copies the whole work directory from the builder (node_modules, the build output)
COPIES_WORKDIR = True

# devDependencies whose command has another name than the package
_NODE_DEV_BINS = {"@nestjs/cli": ("nest",), "typescript": ("tsc",), "sequelize-cli": ("sequelize",),
                  "@prisma/cli": ("prisma",), "nuxi": ("nuxi", "nuxt"), "@angular/cli": ("ng",),
                  "@remix-run/serve": ("remix-serve",), "@medusajs/medusa-cli": ("medusa",)}


# npm packages whose commands are not named after the package
NODE_BINS = {
    "@nestjs/cli": ("nest",), "@angular/cli": ("ng",), "@vue/cli": ("vue",), "@ionic/cli": ("ionic",),
    "typescript": ("tsc", "tsserver"), "pm2": ("pm2", "pm2-runtime", "pm2-docker"), "firebase-tools": ("firebase",),
    "sequelize-cli": ("sequelize", "sequelize-cli"), "@prisma/cli": ("prisma",), "pnpm": ("pnpm", "pnpx"),
    "yarn": ("yarn", "yarnpkg"), "npm": ("npm", "npx"), "corepack": ("corepack", "pnpm", "pnpx", "yarn", "yarnpkg"),
    "ts-node": ("ts-node", "ts-node-esm"), "@strapi/strapi": ("strapi",), "@medusajs/medusa-cli": ("medusa",),
}


def node_global_bins(c: Cmd) -> set[str]:
    """Commands a global npm/yarn/pnpm install or ``corepack enable`` puts on PATH (empty for
    anything else). A package's command is its name (without scope and version) unless
    ``NODE_BINS`` says otherwise."""
    if c.kind != "tool" or c.eco != "node" or not c.words:
        return set()
    w0, args = base(c.words[0]), c.words[1:]
    pos, opts = positional(args, {"--prefix", "-C", "--filter", "-F", "--dir", "--cwd"})
    if w0 == "corepack":
        if not pos or pos[0] != "enable":
            return set()
        return set(pos[1:]) | ({"pnpm", "pnpx", "yarn", "yarnpkg"} if len(pos) == 1 else set()) | {
            "pnpx" for n in pos[1:] if n == "pnpm"} | {"yarnpkg" for n in pos[1:] if n == "yarn"}
    if w0 == "yarn":
        pkgs = pos[2:] if pos[:2] == ["global", "add"] else []
    elif "-g" in opts or "--global" in opts:
        pkgs = pos[1:]
    else:
        return set()
    out: set[str] = set()
    for p in pkgs:
        m = re.match(r"^(@[^/@]+/[^@]+|[^@]+)", p)
        if not m:
            continue
        name = m.group(1)
        out.update(NODE_BINS.get(name, (name.rsplit("/", 1)[-1],)))
    return out


def _node_modules_package(word: str, bins: dict[str, str]) -> str | None:
    """The package a path into node_modules runs: ``./node_modules/nodemon/bin/nodemon.js`` ->
    nodemon, ``node_modules/@scope/x/cli.js`` -> @scope/x, ``node_modules/.bin/tsc`` -> the
    package whose command is tsc (``bins``)."""
    m = re.search(r"(?:^|/)node_modules/(.+)$", word)
    if not m:
        return None
    parts = [p for p in m.group(1).split("/") if p]
    if not parts:
        return None
    if parts[0] == ".bin":
        return bins.get(parts[1]) if len(parts) > 1 else None
    if parts[0].startswith("@"):
        return "/".join(parts[:2]) if len(parts) > 1 else None
    return parts[0]


# node-gyp's tools: only needed to compile native modules
BUILD_ONLY_PACKAGES = {"python3", "python", "make", "g++", "gcc", "build-base", "build-essential"}


# ---------------------------------------------------------------------------- reading a RUN

def classify(words: list[str], prefix: list[str]) -> Cmd:
    """npm, yarn, pnpm, corepack, npx, tsc."""
    w0 = base(words[0])
    args = words[1:]
    if w0 == "npm":
        pos, opts = positional(args, {"--prefix", "-C", "--workspace", "-w", "--omit", "--include"})
        sub = pos[0] if pos else ""
        if sub in ("ci", "install", "i", "add", "clean-install", "isntall"):
            if "-g" in opts or "--global" in opts:
                return Cmd("tool", "node", words)
            prod = "--production" in opts or "dev" in opts.get("--omit", []) or any(
                v in ("production", "prod") for v in opts.get("--only", []))
            return Cmd("install", "node", words, prod_only=prod)
        if sub in ("cache", "config", "set"):
            return Cmd("helper", words=words)
        return Cmd("build", "node", words)
    if w0 == "yarn":
        pos, opts = positional(args, {"--cwd", "--modules-folder", "--cache-folder"})
        sub = pos[0] if pos else "install"
        if sub == "install":
            return Cmd("install", "node", words, prod_only="--production" in opts)
        if sub in ("global", "set", "config", "policies", "plugin"):
            return Cmd("tool", "node", words)
        if sub == "cache":
            return Cmd("helper", words=words)
        return Cmd("build", "node", words)
    if w0 == "pnpm":
        pos, opts = positional(args, {"--filter", "-F", "--dir", "-C"})
        sub = pos[0] if pos else ""
        if sub in ("install", "i", "fetch", "add"):
            if "-g" in opts or "--global" in opts:
                return Cmd("tool", "node", words)
            return Cmd("install", "node", words, prod_only="--prod" in opts or "--production" in opts or "-P" in opts)
        if sub in ("store", "config", "setup", "env"):
            return Cmd("tool", "node", words)
        return Cmd("build", "node", words)
    if w0 == "corepack":
        return Cmd("tool", "node", words)
    if w0 in ("npx", "tsc"):
        return Cmd("build", "node", words)
    return Cmd("other", words=words)


def global_bins(c: Cmd) -> set[str]:
    return node_global_bins(c)


# ---------------------------------------------------------------------------- splitting

def plan_split(plan: Any) -> tuple[list[str], list[str], str]:
    """Install and build in the builder, prune devDependencies there (not when a start command
    runs one: they are kept, and a note says which); production copies the work directory."""
    items, cut = plan.items, plan.cut
    if any(c.kind == "install" and base(c.words[0]) == "yarn" for i in items for c in i.cmds if c.words):
        if (plan.context / ".yarnrc.yml").exists() or re.search(r'"packageManager"\s*:\s*"yarn@[2-9]', plan.read("package.json")):
            raise Skip("yarn 2+ (berry) project: pruning dev dependencies needs "
                       "`yarn workspaces focus --production`; split this Dockerfile by hand")
    wd = items[cut].workdir
    if wd == "/" or "$" in wd:
        raise Skip(_installed_elsewhere(plan) or (
            "the install runs without a WORKDIR" + _install_folder_said(plan) + "; harden cannot tell "
            "which files the build produced (set WORKDIR to the app's folder and install there)"))
    _outside_installs(plan, wd)
    plan.carry_file_steps([wd])
    cmds = [c for i in items if i.cls == "build" for c in i.cmds]
    pm = next(base(c.words[0]) for c in cmds if c.kind == "install")
    needs_prune = any(c.kind == "build" for c in cmds) or not any(c.prod_only for c in cmds if c.kind == "install")
    steps = [c for c in cmds if c.kind in ("install", "build")]
    if steps and steps[-1].kind == "install" and steps[-1].prod_only:
        needs_prune = False  # the author's last step already reinstalls production dependencies only
    # a start command that runs a devDependency: the split keeps them (no prune), and says which
    kept = _dev_tools_at_start(plan, items) if needs_prune else []
    prune = None
    if needs_prune:
        if pm == "npm":
            major = re.match(r"(\d+)", plan.rtag)
            prune = "RUN npm prune --omit=dev" if not major or int(major.group(1)) >= 16 else "RUN npm prune --production"
        elif pm == "yarn":
            frozen = " --frozen-lockfile" if (plan.context / "yarn.lock").exists() else ""
            prune = f"RUN yarn install --production{frozen}"
        elif pm == "pnpm":
            prune = "RUN pnpm prune --prod"
    if kept:
        plan.notes.append((items[cut].line, _kept_note(kept, prune)))
        prune = None
    # global tools (`npm i -g pm2`, `corepack enable`) that production runs are installed there too:
    # named in its instructions or start commands, or run by the package.json scripts those start
    # (`npm run start:prod` -> "nest start")
    used = plan.tools_in_prod([i for k, i in enumerate(items) if k > cut or i.cls in ("prod", "other", "both")])
    global_bins = set().union(*(node_global_bins(c) for i in items for c in i.cmds))
    if global_bins:
        scripts = _package_json(plan).get("scripts")
        used |= {w0 for _, w0, _ in _start_commands(plan, items, scripts if isinstance(scripts, dict) else {},
                                                      global_bins)}
    global_in_prod: set[int] = set()
    for k, i in enumerate(items):
        if k > cut or i.cls != "build":
            continue
        need = set().union(*(node_global_bins(c) for c in i.cmds)) & used
        if not need:
            continue
        if not all(c.kind == "helper" or node_global_bins(c) for c in i.cmds):
            raise Skip(f"production runs {', '.join(sorted(need))}, which the RUN at line {i.line} installs "
                       "together with other build steps; split that RUN by hand first")
        global_in_prod.add(k)
    from harden.stacks.shell import under as sh_under

    builder: list[str] = []
    production: list[str] = []
    copied = False
    for k, i in enumerate(items):
        if k > cut:
            if not copied:
                plan.gen(production, [plan.copy_from_builder(wd)])
                copied = True
            production += i.out()
            continue
        if i.cls == "both":
            builder += i.out()
            production += i.out()
        elif i.cls == "prod":
            production += i.out()
        elif i.cls == "copy":
            builder += i.out()
            if i.in_workdir or _lands_in(i, wd):
                if not copied:
                    plan.gen(production, [plan.copy_from_builder(wd)])
                    copied = True
            else:
                production += i.out()
        elif i.cls in ("copy_from", "other"):
            builder += i.out()
            if not (i.strict_rm and sh_under(i.workdir, wd)):  # the copy of wd carries the removal
                production += i.out()
        elif i.cls == "pkg":
            plan.split_pkg_runs(builder, production, k, i, release=release_of(plan.rtag))
        elif i.cls == "builder":
            builder += i.out()
        elif i.cls == "build":
            builder += i.out()
            plan.gen(production, i.prod_run, airy=False)
            if k in global_in_prod:
                production += i.out()
            if k == cut and prune:
                plan.gen(builder, [prune], airy=False)
    if not copied:
        plan.gen(production, [plan.copy_from_builder(wd)])
    return builder, production, _runtime_image(plan, items, cut)


def _lands_in(item: Any, wd: str) -> bool:
    """A COPY made before the WORKDIR (``COPY . /usr/src/app`` then ``WORKDIR /usr/src/app``)
    whose destination is inside the work directory production copies from the builder: that copy
    already holds what it brought (as the builder left it), so production does not copy it twice.
    A COPY with flags (``--chown``, ``--chmod``, ``--link``) is kept as written."""
    from harden.stacks import shell as sh

    if not item.dest or any(w.startswith("--") for w in item.inst.words()):
        return False
    dest = sh.abspath(item.dest, item.workdir)
    return dest is not None and sh.under(dest, wd)


def _dev_tools_at_start(plan, items) -> list[tuple[str, list[str], str]]:
    """The devDependencies the start commands run: (where, words, package) of each. The prune
    removes devDependencies, so a split that has any keeps them all. The start commands are the
    ones that really run: each compose service's `entrypoint`/`command` when it sets them (they
    replace the image's), the Dockerfile's ENTRYPOINT/CMD otherwise; followed through
    `npm|yarn|pnpm start|run X` into the package.json scripts (with their pre/post scripts),
    `npx`/`exec`, `sh -c`, start scripts, and paths into node_modules/
    (``./node_modules/nodemon/bin/nodemon.js``) or node_modules/.bin/. A start script harden
    cannot follow is refused: it may run one, or something else keeping them does not bring."""
    pkg = _package_json(plan)
    dev = pkg.get("devDependencies") if isinstance(pkg.get("devDependencies"), dict) else {}
    deps = pkg.get("dependencies") if isinstance(pkg.get("dependencies"), dict) else {}
    scripts = pkg.get("scripts") if isinstance(pkg.get("scripts"), dict) else {}
    dev_only = {n for n in dev if n not in deps}
    global_bins = set().union(*(node_global_bins(c) for i in items for c in i.cmds)) if items else set()
    if not dev_only:
        return []
    bins = {n: n for n in dev_only if not n.startswith("@types/")}
    for n in dev_only:
        if n.startswith("@types/"):
            continue  # type declarations only: `@types/node` has no command (`node` is Node itself)
        bins.setdefault(n.rsplit("/", 1)[-1], n)
        for b in _NODE_DEV_BINS.get(n, ()):
            bins[b] = n
    found: list[tuple[str, list[str], str]] = []
    for where, w0, words in _start_commands(plan, items, scripts, bins):
        if w0 in bins and w0 not in global_bins:
            found.append((where, words, bins[w0]))
        for w in words:
            dep = _node_modules_package(w, bins)
            if dep is not None and dep in dev_only and base(w) not in global_bins:
                found.append((where, words, dep))
        for dep in _preloaded(words):
            if dep in dev_only:
                found.append((where, words, dep))
    # a start script harden cannot follow may run any of them, or something else only the builder has:
    # keeping the dev dependencies is a choice made on what harden read, so it is refused either way
    unknown = plan.start_scripts(items).unknown if hasattr(plan, "start_scripts") else []
    if unknown and found:
        where, words, dep = found[0]
        raise Skip(f"{unknown[0]}: harden cannot tell what else it runs, so it cannot tell whether keeping the dev "
                   f"dependencies ({where} runs `{' '.join(words[:3])}` from the devDependency {dep}) is all "
                   "production needs; write the script's commands plainly, one per line, or run harden with "
                   "split-stages ignored for this Dockerfile")
    if unknown:
        raise Skip(f"{unknown[0]}: harden cannot tell whether it runs a devDependency the production prune "
                   "removes (the container would fail to start); write the script's commands plainly, one per "
                   "line, or run harden with split-stages ignored for this Dockerfile")
    return found


def _kept_note(kept: list[tuple[str, list[str], str]], prune: str | None) -> str:
    """devDependencies kept in production: which start step runs which of them, and how to get
    them pruned."""
    ways: dict[tuple[str, str], list[str]] = {}
    for where, words, dep in kept:
        deps = ways.setdefault((where, " ".join(words[:3])), [])
        if dep not in deps:
            deps.append(dep)
    shown = [f"{where} runs `{cmd}` from the devDependenc{'ies' if len(deps) > 1 else 'y'} {', '.join(deps)}"
             for (where, cmd), deps in ways.items()]
    if len(shown) > 3:
        shown = shown[:3] + [f"{len(shown) - 3} more"]
    names = list(dict.fromkeys(dep for _, _, dep in kept))
    step = f" (no `{prune.removeprefix('RUN ')}`)" if prune else ""
    compiled = " (or run the compiled JavaScript there instead)" if set(names) & _TS_RUNNERS else ""
    return (f"devDependencies kept in production{step}: {'; '.join(shown)}. Move {', '.join(names)} to "
            f"dependencies{compiled} and harden prunes the others; until then production carries every "
            "devDependency")


# devDependencies that run TypeScript sources: the compiled JavaScript runs without them
_TS_RUNNERS = {"ts-node", "tsx", "tsconfig-paths", "typescript", "@swc-node/register", "esbuild-register",
               "ts-node-dev", "@nestjs/cli"}


_PRELOAD_OPTS = ("-r", "--require", "--loader", "--experimental-loader", "--import")


def _preloaded(words: list[str]) -> list[str]:
    """Packages a node or ts-node command loads by option (``-r tsconfig-paths/register``,
    ``--require ts-node/register``, ``--loader ts-node/esm``, ``--import tsx``): they must be
    installed where the command runs, like the program itself."""
    out = []
    for k, w in enumerate(words):
        name, eq, value = w.partition("=")
        if name not in _PRELOAD_OPTS:
            continue
        spec = value if eq else (words[k + 1] if k + 1 < len(words) else "")
        if not spec or spec.startswith((".", "/", "-", "$")) or ":" in spec:
            continue  # a file of the app, a variable, a node: or file: URL
        parts = spec.split("/")
        out.append("/".join(parts[:2]) if spec.startswith("@") else parts[0])
    return out


def _package_json(plan: Any) -> dict:
    import json

    try:
        pkg = json.loads(plan.read("package.json") or "{}")
    except ValueError:
        return {}
    return pkg if isinstance(pkg, dict) else {}


def _start_commands(plan: Any, items: list, scripts: dict, bins: Any):
    """(where, program, words) of each command the start commands run: the Dockerfile's last
    ENTRYPOINT and CMD and each compose service's `entrypoint`/`command`, followed through
    `npm|yarn|pnpm start|run X` into the package.json scripts (with their pre/post scripts),
    `npm exec X`/`pnpm dlx X`, `yarn X` for a program X in ``bins``, `sh -c` and `npx`."""
    texts = plan.start_texts(items)
    seen: set[str] = set()
    k = 0
    while k < len(texts):
        text, where = texts[k]
        k += 1
        for words in start_segments(text):
            w0 = base(words[0])
            if w0 in ("npm", "yarn", "pnpm", "bun"):
                rest = [w for w in words[1:] if not w.startswith("-")]
                name = None
                if rest[:1] in (["exec"], ["x"], ["dlx"]) and len(rest) > 1:
                    w0 = base(rest[1])  # `npm exec nodemon`, `pnpm exec nodemon`: the bin itself
                    words = rest[1:]
                elif rest[:1] in (["run"], ["run-script"]) and len(rest) > 1:
                    name = rest[1]
                elif rest[:1] in (["start"], ["test"]):
                    name = rest[0]
                elif rest and w0 in ("yarn", "pnpm") and rest[0] in scripts:
                    name = rest[0]
                elif rest and w0 in ("yarn", "pnpm") and rest[0] in bins:
                    w0 = rest[0]  # `yarn nodemon`: yarn runs node_modules/.bin/nodemon
                    words = rest
                if name is not None:
                    if name in scripts and name not in seen:
                        seen.add(name)
                        for pre in (f"pre{name}", name, f"post{name}"):
                            if isinstance(scripts.get(pre), str):
                                texts.append((scripts[pre], f"{where} -> package.json script \"{pre}\""))
                    continue
                if w0 in ("npm", "yarn", "pnpm", "bun"):
                    continue
            yield where, w0, words


def _runtime_image(plan, items, cut) -> str:
    """The full node image holds compilers, headers and a Debian toolbox the app does not
    run with: production uses the slim variant of the same Node and Debian release
    (native modules built in the builder link against the same glibc)."""
    tag = plan.tag or "latest"
    if (plan.alpine or plan.digest or "$" in plan.base or re.search(r"slim|alpine|windows|nanoserver", tag)
            or base(plan.repo) != "node"):
        return plan.base
    prod_items = [i for k, i in enumerate(items) if k > cut or i.cls in ("prod", "other", "both")]
    tools = plan.tools_in_prod(prod_items) & {"curl", "wget", "git", "python3", "make", "g++", "gcc"}
    installed = {w for i in items if i.cls == "pkg" for c in i.cmds for w in c.words}
    missing = sorted(tools - installed)
    if missing:
        plan.notes.append((plan.stage.startline + 1, f"production keeps {plan.base}: the image runs "
                           f"{', '.join(missing)} that node:*-slim does not have"))
        return plan.base
    # Prisma's query and schema engines load OpenSSL's libssl, which node:*-slim does not carry
    # (Prisma's own Docker guide installs openssl there); the full image has it
    pkg = _package_json(plan)
    deps = {name for key in ("dependencies", "devDependencies", "optionalDependencies")
            if isinstance(pkg.get(key), dict) for name in pkg[key]}
    prisma = sorted(deps & {"prisma", "@prisma/client"})
    if prisma and not installed & {"openssl", "libssl3", "libssl1.1", "libssl-dev"}:
        plan.notes.append((plan.stage.startline + 1, f"production keeps {plan.base}: {prisma[0]} (package.json) "
                           "runs Prisma's engines, which need OpenSSL (libssl), and node:*-slim does not have it; "
                           "install openssl in a slim production stage by hand to use one"))
        return plan.base
    prod = f"{plan.repo}:{'slim' if tag == 'latest' else tag + '-slim'}"
    plan.notes.append((plan.stage.startline + 1, f"production uses {prod} (the same Node on the same Debian "
                       f"release, without compilers, headers and the full image's tools); the builder keeps "
                       f"{plan.base}. A native module that links a library of the full image needs that "
                       "library installed in production: build and run the image once"))
    return prod


def _install_folder_said(plan) -> str:
    """`` (`npm install` at line 7 runs in /tmp/app, after `cd`)``, when a ``cd`` says so."""
    for i in plan.items:
        for c, cwd in (walk_cwd(i) if i.cls == "build" else ()):
            if c.kind == "install" and cwd not in (None, i.workdir):
                return f" (`{' '.join(c.words[:2])}` at line {i.line} runs in {cwd}, after `cd`)"
    return ""


def _installed_elsewhere(plan: Any) -> str | None:
    """``RUN cd /tmp/app && npm install`` with the app's folder set only later (``COPY . /usr/src/app``,
    ``WORKDIR /usr/src/app``) and nothing copying the installed node_modules there: what the image
    does with them (a start script that installs again, NODE_PATH) is not in the Dockerfile, so
    what production needs from the install cannot be told. The reason, or None."""
    wds = [i for i in plan.items if i.inst.instruction == "WORKDIR"]
    if not wds or "$" in wds[-1].workdir or wds[-1].workdir == "/":
        return None
    app = wds[-1].workdir
    for i in plan.items:
        for c, cwd in (walk_cwd(i) if i.cls == "build" else ()):
            if c.kind != "install" or cwd in (None, i.workdir) or under(cwd, app):
                continue
            for j in plan.items[plan.items.index(i) + 1:]:
                ops = [(file_op(x.words), d) for x, d in walk_cwd(j) if x.kind == "other"] if j.file_only else []
                if any(abspath(p, d) and under(abspath(p, d), cwd) for op, d in ops for p in op.reads):
                    return None  # copied on: _outside_installs decides
            return (f"`{' '.join(c.words[:2])}` at line {i.line} installs in {cwd} (after `cd`), and nothing copies "
                    f"what it installed into the app's folder {app} (WORKDIR at line {wds[-1].line}): harden cannot "
                    f"tell what the image uses those node_modules for (a start script that installs again, "
                    f"NODE_PATH), so neither what production needs from the install; install in {app} (WORKDIR "
                    f"{app} before the install) or copy node_modules into it, then run harden again")
    return None


def _outside_installs(plan, wd: str) -> None:
    """``RUN cd /tmp/app && npm install`` installs outside the work directory production
    copies. A later RUN of file commands that copies from there into the work directory
    (``cp -a /tmp/app/node_modules /usr/src/app``) then runs in the builder only: production
    gets its result with the work directory. With no such RUN, refused."""
    dirs = {}
    for i in plan.items:
        if i.cls != "build":
            continue
        for c, cwd in walk_cwd(i):
            if c.kind == "install" and cwd is None:
                raise Skip(f"`{' '.join(c.words[:3])}` at line {i.line} runs after a `cd` harden cannot "
                           "resolve: it cannot tell where the dependencies are installed")
            if c.kind == "install" and not under(cwd, wd):
                dirs.setdefault(cwd, (i, c))
    for d, (i, c) in dirs.items():
        used = False
        for j in plan.items[plan.items.index(i) + 1:plan.cut + 1]:
            if not j.file_only:
                continue
            ops = [(file_op(x.words), cwd) for x, cwd in walk_cwd(j) if x.kind == "other"]
            reads = [abspath(p, cwd) for op, cwd in ops for p in op.reads]
            if not any(r and under(r, d) for r in reads):
                continue
            writes = [abspath(p, cwd) for op, cwd in ops for p in op.writes if op.name != "mv" or p not in op.reads]
            if not all(w and under(w, wd) for w in writes):
                raise Skip(f"RUN at line {j.line} copies from {d}, where `{' '.join(c.words[:2])}` installed, to "
                           f"outside the work directory {wd} production copies; split this Dockerfile by hand")
            j.cls = "builder"
            used = True
        if not used:
            raise Skip(f"`{' '.join(c.words[:3])}` at line {i.line} installs in {d} (after `cd`), outside the "
                       f"work directory {wd} production copies from the builder; split this Dockerfile by hand")
        for j in plan.items[:plan.items.index(i)]:  # its manifests (COPY package*.json /tmp/app/)
            dest = abspath(j.dest, j.workdir) if j.cls == "copy" and j.manifest else None
            if dest and under(dest, d):
                j.cls = "builder"


# ---------------------------------------------------------------------------- running as non-root

def ships_user(ref: Any, alpine: bool) -> Any:
    """The official node image ships ``node`` (1000:1000); deno_docker ``deno`` (1993 on
    Debian/Ubuntu, 1000 on Alpine), oven/bun ``bun`` (1000) on every variant. Switching to it
    keeps the folders the image prepared for it (Deno's /deno-dir) writable."""
    from harden.stacks.system import BaseInfo

    raw, tag = ref.raw.strip(), (ref.tag or "latest").lower()
    fam = "alpine" if alpine else "debian"
    if ref.path == "library/node":
        return BaseInfo(raw, fam, existing=(1000, 1000, "node"))
    if ref.path in ("denoland/deno", "oven/bun"):
        if "distroless" in tag:
            return BaseInfo(raw, unknown=f"base image {raw} is a distroless variant whose users harden does not "
                                         "know; add USER yourself")
        if ref.path == "denoland/deno":  # deno_docker: useradd --uid 1993 on Debian/Ubuntu, adduser --uid 1000 on Alpine
            ids = (1000, 1000) if alpine else (1993, 1993)
            return BaseInfo(raw, fam, existing=(*ids, "deno"))
        return BaseInfo(raw, fam, existing=(1000, 1000, "bun"))  # oven/bun: bun 1000:1000 on every variant
    return None


def onbuild(ref: Any, alpine: bool) -> Any:
    """The official ``node:*-onbuild`` and ``iojs:onbuild`` images set WORKDIR /usr/src/app; their
    triggers copy package.json, ``npm install`` and copy the app there, root-owned, before the
    Dockerfile's own steps. node's image ships the user ``node`` (1000:1000)."""
    from harden.stacks.system import BaseInfo

    existing = (1000, 1000, "node") if ref.name == "node" else None
    return BaseInfo(ref.raw.strip(), "alpine" if alpine else "debian", existing=existing, workdir="/usr/src/app")


# what a package install writes in the folder it runs in: the packages and the lockfiles it
# (re)writes, and yarn 2+'s own folder
INSTALL_WRITES = ("node_modules", "package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml",
                  ".yarn", ".pnp.cjs", ".pnp.loader.mjs")


def install_writes(words: list[str]) -> tuple[str, ...] | None:
    """An install run at start-up (``npm install``, ``npm ci``, ``yarn``, ``pnpm install``)
    writes these, relative to the folder it runs in; None when it names a folder of its own
    (``--prefix``, ``--cwd``, ``--dir``, ``--modules-folder``) or installs globally, so handing
    that folder to the app user would not make it work."""
    w = strip_prefix(words)
    if not w or base(w[0]) not in ("npm", "yarn", "pnpm"):
        return None
    c = classify(w, [])
    if c.kind != "install":
        return None
    if any(a.split("=", 1)[0] in ("--prefix", "-C", "--cwd", "--dir", "--modules-folder", "-g", "--global",
                                  "--location") for a in w[1:]):
        return None
    return INSTALL_WRITES


# what a start command writes under the work directory: (pattern, who, folder)
_START_WRITES = [
    # `next start` writes .next/cache (image optimisation, fetch cache) and ISR pages under .next/server
    (re.compile(r"(?:^|[\s/&;])next\s+start\b"), "next start", ".next"),
    # dev servers keep their caches in node_modules, which `npm ci` as root left root-owned: the
    # babel-loader and ESLint caches of `react-scripts start` and `vue-cli-service serve`
    # (node_modules/.cache), Vite's dependency pre-bundling (node_modules/.vite); without them the
    # server fails at start with EACCES
    (re.compile(r"(?:^|[\s/&;])react-scripts\s+start\b"), "react-scripts start", "node_modules/.cache"),
    (re.compile(r"(?:^|[\s/&;])vue-cli-service\s+serve\b"), "vue-cli-service serve", "node_modules/.cache"),
    (re.compile(r"(?:^|[\s/&;])vite(?=\s*(?:$|[&;|])|\s+(?:dev|serve)\b|\s+-)"), "vite", "node_modules/.vite"),
]


def writes_at_start(app: Any) -> tuple[str, tuple[str, ...]] | None:
    """What the Node start writes under the work directory, made root-owned by the build: `next
    start` writes .next; the dev servers `react-scripts start`, `vue-cli-service serve` and `vite`
    write their caches into node_modules (.cache, .vite). The stage runs one when its
    CMD/ENTRYPOINT or the compose `command` of a service that runs it does, directly or through
    the package.json script it runs (npm start, yarn start, npm run X)."""
    texts = [" ".join(v for v in (app.entrypoint, app.cmd) if v is not None)] + list(app.commands or [])
    scripts = None
    for text in texts:
        flat = re.sub(r'[\[\]",]', " ", text)
        found = [flat]
        m = re.search(r"\b(?:npm|yarn|pnpm)\s+(?:run(?:-script)?\s+)?([\w:.-]+)", flat)
        if m:
            if scripts is None:
                try:
                    import json
                    got = json.loads((app.context / "package.json").read_text(errors="replace")).get("scripts")
                    scripts = got if isinstance(got, dict) else {}
                except (OSError, ValueError, AttributeError):
                    scripts = {}
            script = scripts.get(m.group(1), "")
            if isinstance(script, str):
                found.append(script)
        for t in found:
            for pattern, who, folder in _START_WRITES:
                if pattern.search(t):
                    return who, (folder,)
    return None
