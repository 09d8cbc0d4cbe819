"""Python: what harden knows about pip, poetry, pipenv and uv, the virtualenv production
copies, the python images, and the start commands that need a project tool or write into the
app folder. What the app's own source says (frameworks, the hosts it talks to) is read by
``harden/app_source.py`` (libcst).

Hooks (harden.stacks): classify, read_run, IMAGE, LABEL, image_carried, check_start,
plan_split (split-stages); ships_user, onbuild, start_writes (non-root-user).
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path, PurePosixPath
from typing import Any

from harden.errors import Skip
from harden.stacks.shell import Cmd, base, env_pairs, positional, start_segments, strip_prefix
from harden.stacks.system import DEBIAN_RELEASES, home_of, release_of, split_image

IMAGE = "python"
LABEL = "Python"

PY_TOOLS = {"pip", "setuptools", "wheel", "poetry", "pipenv", "uv", "pip-tools", "virtualenv",
            "poetry-plugin-export", "poetry-core", "hatch", "pdm"}


# Python installers and project tools: the builder has them, production does not
PY_BUILDER_TOOLS = {"poetry", "pipenv", "uv", "uvx", "pdm", "hatch", "pip-sync", "pip-compile"}


PIP_VALUE = {"-r", "--requirement", "-c", "--constraint", "-e", "--editable", "-i", "--index-url",
             "--extra-index-url", "-f", "--find-links", "--trusted-host", "-t", "--target", "--prefix",
             "--root", "--platform", "--python-version", "--implementation", "--abi", "--progress-bar",
             "--src", "--upgrade-strategy", "--cache-dir", "--global-option", "--config-settings", "-C",
             "--python", "--only-binary", "--no-binary", "--timeout", "--retries", "--proxy"}


# pip's general options, which may come before the subcommand (`pip --no-cache-dir install ...`)
PIP_GENERAL_VALUE = {"--proxy", "--timeout", "--retries", "--cache-dir", "--log", "--log-file", "--exists-action",
                     "--cert", "--client-cert", "--trusted-host", "--python", "--use-feature", "--use-deprecated",
                     "--keyring-provider", "--local-log"}


def _pip_cmd(args: list[str], words: list[str]) -> Cmd:
    while args and args[0].startswith("-"):
        args = args[2:] if args[0] in PIP_GENERAL_VALUE else args[1:]
    if not args:
        return Cmd("tool", "python", words)
    sub = args[0]
    if sub not in ("install", "sync"):
        return Cmd("tool", "python", words) if sub in ("cache", "config", "list", "freeze", "show", "--version", "check", "compile") else Cmd("other", words=words)
    pos, opts = positional(args[1:], PIP_VALUE)
    for bad in ("-t", "--target", "--prefix", "--root", "--system"):
        if bad in opts:
            raise Skip(f"`{' '.join(words[:3])} ... {bad}` installs outside an environment harden can copy; "
                       "split this Dockerfile by hand" + (" (or drop --system: uv then installs into the "
                                                          "virtualenv VIRTUAL_ENV names)" if bad == "--system" else ""))
    names = {re.split(r"[<>=!~\[;@ ]", p, maxsplit=1)[0].lower() for p in pos}
    user_site = "--user" in opts  # into the installing user's ~/.local: the planner decides
    if sub == "install" and not ({"-r", "--requirement", "-e", "--editable", "-c", "--constraint"} & opts.keys()) \
            and pos and names <= PY_TOOLS:
        return Cmd("tool", "python", words, user_site=user_site)
    return Cmd("install", "python", words, user_site=user_site)


# images built FROM the official python image that add only tools, with the Python (and the
# official image's variant) in the tag: repository -> tag pattern (version, variant, slim)
_CARRIES_PYTHON = {
    # uv's derived images: python3.12-bookworm-slim is python:3.12-slim-bookworm + uv (tags may
    # lead with uv's own version: 0.8.11-python3.12-bookworm-slim)
    "ghcr.io/astral-sh/uv": r"(?:\d+(?:\.\d+){0,2}-)?python(\d+\.\d+)-(bookworm|trixie|bullseye|alpine(?:3\.\d+)?)(-slim)?",
    "astral/uv": r"(?:\d+(?:\.\d+){0,2}-)?python(\d+\.\d+)-(bookworm|trixie|bullseye|alpine(?:3\.\d+)?)(-slim)?",
}


def python_image_carried(repo: str, tag: str) -> str | None:
    """The official python image a base image is built on, when its name says exactly which:
    ``ghcr.io/astral-sh/uv`` + ``python3.12-bookworm-slim`` -> ``python:3.12-slim-bookworm``."""
    repo = repo.lower()
    for prefix in ("docker.io/", "index.docker.io/"):
        if repo.startswith(prefix):
            repo = repo[len(prefix):]
    pat = _CARRIES_PYTHON.get(repo)
    m = re.fullmatch(pat, tag) if pat else None
    if m is None:
        return None
    version, variant, slim = m.groups()
    if variant.startswith("alpine"):
        return f"python:{version}-{variant}" if not slim else None
    return f"python:{version}-slim-{variant}" if slim else f"python:{version}-{variant}"


# ---------------------------------------------------------------------------- reading a RUN

def classify(words: list[str], prefix: list[str]) -> Cmd:
    """pip (and ``python -m pip``, ``uv pip``), venv/virtualenv, poetry, pipenv, uv, and the
    poetry/uv installers fetched with curl or wget."""
    system_python = next((w for w in prefix if re.match(r"(?i)^UV_SYSTEM_PYTHON=(1|true|yes|on)$", w)), None)
    w0 = base(words[0])
    args = words[1:]
    if re.fullmatch(r"pip[0-9.]*", w0):
        return _pip_cmd(args, words)
    if re.fullmatch(r"python[0-9.]*", w0):
        if args[:2] == ["-m", "pip"]:
            return _pip_cmd(args[2:], words)
        if args[:2] == ["-m", "venv"] or args[:2] == ["-m", "virtualenv"]:
            pos, _ = positional(args[2:], {"--prompt"})
            return Cmd("venv", "python", words, venv=pos[0] if pos else None)
        if args and args[0] == "setup.py":
            return Cmd("foreign", words=words, detail="python setup.py")
        if args and args[0] == "-" :
            return Cmd("foreign", words=words, detail="a script piped into python")
        return Cmd("other", words=words)
    if w0 == "virtualenv":
        pos, _ = positional(args, {"-p", "--python", "--prompt"})
        return Cmd("venv", "python", words, venv=pos[0] if pos else None)
    if w0 in ("poetry", "pipenv"):
        sub = next((a for a in args if not a.startswith("-")), "")
        if sub in ("install", "sync"):
            return Cmd("install", "python", words)
        if sub == "run":
            return Cmd("other", words=words)
        return Cmd("tool", "python", words)
    if w0 == "uv":
        if args[:1] == ["pip"]:
            c = _pip_cmd(args[1:], words)
            if system_python and c.kind == "install":
                raise Skip(f"`{system_python} uv pip ...` installs into the system Python, outside an environment "
                           "harden can copy; split this Dockerfile by hand")
            return c
        if args[:1] == ["sync"]:
            return Cmd("install", "python", words, uv_sync=True)
        if args[:1] == ["venv"]:
            pos, _ = positional(args[1:], {"-p", "--python", "--prompt"})
            return Cmd("venv", "python", words, venv=pos[0] if pos else ".venv")
        if args[:1] == ["run"]:
            return Cmd("other", words=words)
        return Cmd("tool", "python", words)
    if w0 in ("curl", "wget") and any(u in " ".join(args) for u in ("install.python-poetry.org", "astral.sh/uv")):
        return Cmd("tool", "python", words)
    return Cmd("other", words=words)


def read_run(cmds: list[Cmd]) -> None:
    """``curl <known installer> | python3 -`` (poetry, uv): the piped script is the tool install."""
    fetched = False
    for c in cmds:
        if c.kind == "tool" and c.eco == "python" and c.words and base(c.words[0]) in ("curl", "wget"):
            fetched = True
        elif fetched and c.words and (c.detail == "a script piped into python" or (
                c.kind == "other" and base(c.words[0]) in ("sh", "bash") and len(c.words) <= 2)):
            c.kind, c.eco, c.detail = "tool", "python", ""


# ---------------------------------------------------------------------------- splitting

def image_carried(repo: str, tag: str) -> str | None:
    return python_image_carried(repo, tag)


def check_start(plan: Any) -> None:
    """The start command must not run through a tool only the builder has. ``poetry run X`` in
    the Dockerfile's CMD/ENTRYPOINT becomes ``X`` in production when that is provably the same
    command (``_without_poetry_run``); ``pipenv run`` (it also loads .env files) and ``uv run``
    (it syncs the environment first) are refused, as is any of them in a compose start command."""
    for k in ("CMD", "ENTRYPOINT"):
        last = plan.stage.last(k)
        m = _RUNNER.search(last.value) if last is not None else None
        if m is None:
            continue
        why = _without_poetry_run(plan, last) if m.group(1) == "poetry" else ""
        if why is None:
            continue
        raise Skip(f"{k} at line {last.startline + 1} runs through `{m.group(1)} run`, "
                   "a tool the production stage would not have; " + (why + "; " if why else "") +
                   "call the commands directly (the environment's bin folder is first on PATH in production), "
                   "then run harden again")
    # compose replaces the image's start command: one that runs the installer itself
    # (`command: poetry run uvicorn ...`) needs a tool only the builder has
    # and so does a start script the image copied (`CMD ["/app/start.sh"]` whose line is `poetry run ...`)
    scripts = [(c.text, c.where) for c in plan.start_scripts().commands] if hasattr(plan, "start_scripts") else []
    for text, where in plan.compose_starts() + scripts:
        for words in start_segments(text):
            if base(words[0]) in PY_BUILDER_TOOLS:
                raise Skip(f"{where} runs `{' '.join(words[:3])}`: {base(words[0])} is installed only in the "
                           "builder stage, so the production image would not have it (the container would "
                           "fail to start); run the app from the virtualenv instead (`uvicorn ...`, "
                           "`python -m ...`), then run harden again")


# a project tool's `run` in a start command, shell or exec form (`poetry run`, `["uv", "run", ...]`)
_RUNNER = re.compile(r"\b(poetry|pipenv|uv)[\"',\s]+run\b")
# `poetry run X` at a command's start in a shell-form start command (the words are checked apart)
_POETRY_RUN = re.compile(r"(?<![\w./$-])poetry[ \t]+run[ \t]+")


def _without_poetry_run(plan: Any, inst: Any) -> str | None:
    """Production runs ``X ...`` where the Dockerfile's CMD/ENTRYPOINT ran ``poetry run X ...``:
    None when done (the item's production lines are rewritten, with a note), else why not.

    ``poetry run X`` puts the environment's bin folder first on PATH, sets VIRTUAL_ENV and runs
    X found on that PATH, unless X is a script of pyproject.toml, which it runs even when the
    project is not installed. Production has the environment poetry installed into (the builder
    made it active: VIRTUAL_ENV, PATH) with both set the same way, so ``X`` finds the same
    program. That holds when a ``poetry install``/``sync`` made the environment, X is a plain
    command (not an option, not a pyproject script) and every ``poetry`` in the command is such a
    ``poetry run X`` at a command's start (shell form: after ``&&``, ``||``, ``;``, ``|`` or
    ``exec``), outside quotes."""
    if any(m.group(1) != "poetry" for m in _RUNNER.finditer(inst.value)):
        return ""
    if not any(c.kind == "install" and base(c.words[0]) == "poetry" for i in plan.items if i.cls == "build"
               for c in i.cmds if c.words):
        return "poetry does not install the environment production copies"
    scripts = _pyproject_scripts(plan.read("pyproject.toml"))
    if scripts is None:
        return "harden cannot read the project's scripts in pyproject.toml"
    arr = inst.exec_form()
    if arr is not None:
        runs = [arr[2:]] if arr[:2] == ["poetry", "run"] else []
        if not runs or not runs[0] or "poetry" in arr[2:]:
            return "it is not `poetry run <command>` alone"
    else:
        runs = _poetry_runs(inst.args_without_flags())
        if runs is None:
            return "harden cannot tell that each `poetry` in it starts a `poetry run <command>`"
    for words in runs:
        if words[0].startswith("-") or words[0] == "poetry":
            return f"`poetry run {words[0]}` passes an option to poetry"
        if words[0] in scripts:
            return (f"`{words[0]}` is a script of pyproject.toml, which `poetry run` runs even when the project "
                    "is not installed")
    # the new lines, checked by reading them back
    lines = list(inst.lines)
    if arr is not None:
        lines[0], n = re.subn(r'\[\s*"poetry"\s*,\s*"run"\s*,\s*', "[", lines[0], count=1)
    else:
        n = 0
        for k, line in enumerate(lines):
            lines[k], m = _POETRY_RUN.subn("", line)
            n += m
    if not _reads_as(lines, inst, arr[2:] if arr is not None else None, n, len(runs)):
        return "harden cannot rewrite it without changing anything else"
    item = next(i for i in plan.items if i.inst is inst)
    item.rewrite = lines
    shown = ", ".join(f"`{w[0]}`" for w in dict.fromkeys(tuple(r[:1]) for r in runs))
    plan.notes.append((inst.startline + 1, f"{inst.instruction} at line {inst.startline + 1}: production runs {shown} "
                       "directly instead of through `poetry run`, which needs poetry: the virtualenv's bin folder "
                       "is first on PATH and VIRTUAL_ENV is set in production, as `poetry run` sets them"))
    return None


def _pyproject_scripts(text: str) -> set[str] | None:
    """The script names pyproject.toml declares (``[tool.poetry.scripts]``, ``[project.scripts]``);
    None when it cannot be read."""
    import tomllib

    if not text:
        return set()
    try:
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, ValueError):
        return None
    out: set[str] = set()
    for table in ((data.get("tool") or {}).get("poetry") or {}).get("scripts"), (data.get("project") or {}).get("scripts"):
        if isinstance(table, dict):
            out |= {str(k) for k in table}
    return out


def _poetry_runs(text: str) -> list[list[str]] | None:
    """The commands run through ``poetry run`` in a shell-form start command, each as its words
    after ``poetry run``; None when a ``poetry`` is anywhere else (quoted, an argument, a
    subshell, ``poetry`` without ``run``)."""
    import shlex

    lex = shlex.shlex(text, posix=True, punctuation_chars=";&|()")
    lex.whitespace_split = True
    lex.commenters = ""
    try:
        toks = list(lex)
    except ValueError:
        return None
    segs: list[list[str]] = [[]]
    for t in toks:
        if t in ("&&", "||", ";", "|", "&"):
            segs.append([])
        elif t in ("(", ")") or set(t) <= set(";&|()"):
            return None
        else:
            segs[-1].append(t)
    runs = []
    for seg in segs:
        words = seg[1:] if seg[:1] == ["exec"] else seg
        if words[:2] == ["poetry", "run"] and len(words) > 2:
            runs.append(words[2:])
            if "poetry" in words[2:]:
                return None
        elif "poetry" in seg:
            return None
    if text.count("poetry") != len(runs):
        return None  # a `poetry` inside quotes or glued to other text
    return runs


def _reads_as(lines: list[str], inst: Any, want_exec: list[str] | None, subs: int, runs: int) -> bool:
    """The rewritten instruction reads back as the original without each ``poetry run``."""
    from harden.dockerfile_doc import DockerfileDoc

    if subs != (1 if want_exec is not None else runs):
        return False
    try:
        doc = DockerfileDoc("Dockerfile", "FROM scratch\n" + "\n".join(lines) + "\n")
    except Exception:
        return False
    new = doc.stages[0].last(inst.instruction)
    if new is None or new.flags() != inst.flags():
        return False
    if want_exec is not None:
        return new.exec_form() == want_exec
    if new.exec_form() is not None:
        return False
    return _POETRY_RUN.sub("", inst.args_without_flags()) == new.args_without_flags()


def plan_split(plan: Any) -> tuple[list[str], list[str], str]:
    """A virtualenv (or the ``--user`` site) the builder installs into and production copies."""
    items = plan.items
    if re.match(r"^2(?:\.|$|-)", plan.rtag):
        raise Skip(f"{plan.base} is Python 2: it has no `python3 -m venv` to install into; "
                   "split this Dockerfile by hand (or move to Python 3 first)")
    uv_pip = [i for i in items if i.cls == "build" and any(
        c.kind == "install" and base(c.words[0]) == "uv" and c.words[1:2] == ["pip"] for c in i.cmds)]
    for i in items:
        if i.inst.instruction in ("ENV", "ARG") and uv_pip and i.inst.startline < uv_pip[-1].inst.startline and \
                re.search(r"(?i)\bUV_SYSTEM_PYTHON(=|\s+)[\"']?(1|true|yes|on)\b", i.inst.value):
            raise Skip(f"UV_SYSTEM_PYTHON at line {i.line} makes `uv pip install` install into the system Python, "
                       "outside an environment harden can copy; split this Dockerfile by hand (or drop it: uv "
                       "then installs into the virtualenv VIRTUAL_ENV names)")
    user_site = _user_site(plan, items)
    if user_site is not None:
        first_install = next(k for k, i in enumerate(items) if i.cls == "build" and any(c.kind == "install" for c in i.cmds))
        return _stages(plan, user_site, own_venv=False, anchor=first_install, uv_sync=False)
    venv = plan.ctx.opt("venv") or "/opt/venv"
    venv_item = next((k for k, i in enumerate(items) if i.cls == "build" and any(c.kind == "venv" for c in i.cmds)), None)
    first_install = next(k for k, i in enumerate(items) if i.cls == "build" and any(c.kind == "install" for c in i.cmds))
    uv_sync = any(c.uv_sync for i in items for c in i.cmds)
    for i in items:
        if i.inst.instruction == "ENV":
            m = re.search(r"\bUV_PROJECT_ENVIRONMENT[= ]\"?([^\s\"]+)", i.inst.value)
            if m and "$" not in m.group(1):
                venv = m.group(1)
                uv_sync = False  # already pointed somewhere: use that
                if str(PurePosixPath("/") / venv) in ("/", "/usr", "/usr/local"):
                    # uv syncs into the system prefix (a documented pattern for images):
                    # `python3 -m venv /usr/local` would overwrite the image's own Python
                    raise Skip(f"UV_PROJECT_ENVIRONMENT={venv} at line {i.line} makes uv install into the "
                               "system Python's prefix, outside an environment harden can copy on its own; "
                               "split this Dockerfile by hand (or point it at a virtualenv such as /opt/venv)")
    if venv_item is None and not any(re.search(r"\bUV_PROJECT_ENVIRONMENT\b", i.inst.value) for i in items):
        named = _project_venv_named(plan, items[first_install].workdir)
        if named:
            venv = named
    own_venv = venv_item is None
    if not own_venv:
        if venv_item > first_install:
            raise Skip(f"the virtualenv at line {items[venv_item].line} is created after the first install")
        c = next(c for c in items[venv_item].cmds if c.kind == "venv")
        venv = c.venv or venv
        if not venv.startswith("/"):
            venv = str(PurePosixPath(items[venv_item].workdir) / venv)
        anchor = venv_item
    else:
        anchor = first_install
    _tools_into_venv(plan, items[anchor:], venv)
    return _stages(plan, venv, own_venv=own_venv, anchor=anchor, uv_sync=uv_sync)


def _stages(plan, venv: str, *, own_venv: bool, anchor: int, uv_sync: bool):
    """The builder and production lines around ``venv``, the environment production copies
    (a virtualenv, or the ``--user`` site), first made or used at item ``anchor``."""
    from harden import runtime_libs as rl

    items, cut = plan.items, plan.cut
    plan.carry_file_steps([venv])
    prod_image, full = _production_image(plan, items)
    release = release_of(plan.rtag)
    base_has = rl.PYTHON_IMAGE_HAS_APK if plan.alpine else rl.PYTHON_IMAGE_HAS_APT
    builder: list[str] = []
    production: list[str] = []
    venv_lines_b = [f"RUN python3 -m venv {venv}",
                    f"ENV VIRTUAL_ENV={venv} \\",
                    f'    PATH="{venv}/bin:$PATH"' + (" \\" if uv_sync else "")]
    if uv_sync:
        venv_lines_b.append(f"    UV_PROJECT_ENVIRONMENT={venv}")
    venv_at = anchor
    if own_venv and plan.install_user:
        # the user installs into it: root makes it before the USER line and hands it over
        venv_at = max(k for k, i in enumerate(items[:anchor]) if i.inst.instruction == "USER")
        venv_lines_b[:1] = [f"RUN python3 -m venv {venv} \\", f"    && chown -R {plan.install_user} {venv}"]
    venv_lines_p = [plan.copy_from_builder(venv)]
    if own_venv:
        venv_lines_p += [f"ENV VIRTUAL_ENV={venv} \\", f'    PATH="{venv}/bin:$PATH"']
    build_items = [i for i in items if i.cls == "build"]
    extra_rt, _ = plan.runtime_for(build_items, build_items[0].line, base_has=base_has, release=release)
    prod_items = [i for k, i in enumerate(items) if k > cut or i.cls in ("prod", "copy_from", "other", "both")
                  or (i.cls == "copy" and not i.manifest)]
    installed_rt = {rl.strip_version(p) for p in plan.pkgs([i for i in items if i.cls == "pkg"])[1]}
    if full:
        # python:X-slim lacks the full image's libraries and tools
        srcbuilt = [(d, libs) for d, libs in rl.PYPI_SOURCE_BUILT.items() if _requires(plan, d)]
        for dist, libs in srcbuilt:
            for lib in (libs if not plan.alpine else ()):
                if lib not in extra_rt and lib not in installed_rt:
                    extra_rt.append(lib)
        tools = plan.tools_in_prod(prod_items) & {"curl", "wget", "git"}
        for t in sorted(tools - installed_rt):
            extra_rt.append(t)
        msg = (f"production uses {prod_image} (the same Python at the same path as {plan.base}, without "
               f"compilers and headers); the builder keeps {plan.base}")
        if srcbuilt or tools - installed_rt:
            added = [lib for _d, libs in srcbuilt for lib in libs] + sorted(tools - installed_rt)
            msg += f"; production installs {', '.join(dict.fromkeys(added))} that {plan.base} had built in"
        msg += ". Packages compiled from source against other libraries of the full image need those " \
               "libraries installed in production: build and run the image once"
        plan.notes.append((plan.stage.startline + 1, msg))
    ctx_copied = False
    for k, i in enumerate(items):
        if k > cut:
            production += i.out()
            continue
        if k == venv_at and own_venv:
            plan.gen(builder, venv_lines_b, airy=False)
        if k == anchor:
            block = []
            extra_rt = [p for p in extra_rt if p not in plan.emitted]
            plan.emitted.update(extra_rt)
            if extra_rt:
                block += plan.pkg_run(extra_rt, plan.pkg_family)
            plan.gen(production, block + venv_lines_p)
        if i.cls == "both":
            builder += i.out()
            production += i.out()
        elif i.cls == "prod":
            production += i.out()
        elif i.cls == "copy":
            builder += i.out()
            if not i.manifest:
                production += i.out()
                ctx_copied = True
        elif i.cls == "copy_from" and plan.tool_copy(i):
            builder += i.out()
        elif i.cls in ("copy_from", "other"):
            builder += i.out()
            if not i.strict_rm or ctx_copied:  # `rm Dockerfile` needs the context files in production too
                production += i.out()
        elif i.cls == "pkg":
            plan.split_pkg_runs(builder, production, k, i, base_has=base_has, release=release)
        elif i.cls == "build":
            builder += i.out()
            plan.gen(production, i.prod_run, airy=False)
    return builder, production, prod_image


def _production_image(plan, items: list) -> tuple[str, bool]:
    """The production base and whether it is the slim variant of a full image (then
    production lacks the full image's libraries and tools). A full ``python:X`` becomes
    ``python:X-slim``; an image that carries the official image (``python_image_carried``)
    becomes that official image, slim."""
    carried = getattr(plan, "carried", None)
    if carried is not None:
        return _carried_production_image(plan, items, carried)
    full = plan.family_name == "python" and not plan.alpine and not re.search(r"slim|windows|nanoserver", plan.rtag)
    if not full:
        return plan.base, False
    if plan.digest:
        plan.notes.append((plan.stage.startline + 1, f"production keeps {plan.base}: it is pinned by digest and "
                           "the slim variant has another digest; pin python:<version>-slim by hand for a smaller image"))
        return plan.base, False
    tag = plan.tag or "latest"
    m = re.match(r"^(.*?)(-(?:%s))?$" % "|".join(DEBIAN_RELEASES), tag)
    core, rel = m.group(1), m.group(2) or ""
    new_tag = "slim" + rel if core == "latest" else f"{core}-slim{rel}"
    return f"{plan.repo}:{new_tag}", True


def _carried_production_image(plan, items: list, carried: str) -> tuple[str, bool]:
    """``ghcr.io/astral-sh/uv:python3.12-bookworm-slim`` is ``python:3.12-slim-bookworm`` with
    uv added: production starts from that official image (same Python, same path, same
    Debian), without uv; from the full ``...-bookworm`` variant it gets the slim one, as a
    full ``python:X`` does. Kept when production needs the image itself: no CMD/ENTRYPOINT
    of the Dockerfile's own (the image's default command would change), or uv at run time."""
    line = plan.stage.startline + 1
    if plan.stage.last("CMD") is None and plan.stage.last("ENTRYPOINT") is None:
        plan.notes.append((line, f"production keeps {plan.base}: the Dockerfile has no CMD or ENTRYPOINT of its own, "
                           f"so it runs the image's default command, which {carried} does not have"))
        return plan.base, False
    prod_items = [i for k, i in enumerate(items) if k > plan.cut or i.cls in ("prod", "other", "both")]
    if plan.tools_in_prod(prod_items) & {"uv", "uvx"}:
        plan.notes.append((line, f"production keeps {plan.base}: the image runs uv at run time, which {carried} "
                           "does not have"))
        return plan.base, False
    repo, tag, _ = split_image(carried)
    full = not plan.alpine and "slim" not in tag
    prod = f"{repo}:{tag.replace('-', '-slim-', 1)}" if full else carried
    if not full:
        plan.notes.append((line, f"production uses {prod}, the official image {plan.base} is built on (the same "
                           "Python at the same path), without uv; the builder keeps "
                           f"{plan.base}"))
    return prod, full


def _tools_into_venv(plan, items: list, venv: str) -> None:
    """``RUN pip install poetry && poetry install``: with the virtualenv first on PATH, that pip
    is the virtualenv's, so the installer itself (and its dependencies) lands in what
    production copies. It still builds and runs; say how to keep it out."""
    for i in items:
        if i.cls != "build":
            continue
        for c in i.cmds:
            if c.kind != "tool" or not c.words:
                continue
            w = strip_prefix(c.words)
            args = w[3:] if re.fullmatch(r"python[0-9.]*", base(w[0])) else w[1:]
            if not args or args[0] != "install":
                continue
            pos, _ = positional(args[1:], PIP_VALUE)
            tools = sorted({re.split(r"[<>=!~\[;@ ]", p, maxsplit=1)[0].lower() for p in pos}
                           - {"pip", "setuptools", "wheel"})
            if tools:
                plan.notes.append((i.line, f"`{' '.join(w[:2])} ... {', '.join(tools)}` runs after {venv} is first on "
                                   f"PATH, so {', '.join(tools)} goes into the virtualenv production copies; install "
                                   "it in a RUN of its own before the dependencies to keep it out of production"))


def _project_venv_named(plan, install_wd: str) -> str | None:
    """The in-project virtualenv (``<dir>/.venv``) the Dockerfile runs from, if it names one:
    ``uv sync`` (and poetry/pipenv set to in-project) create it beside the project, and a
    CMD ``/app/.venv/bin/gunicorn`` or ``ENV PATH=/app/.venv/bin:$PATH`` relies on that path.
    The venv harden creates must then live there too, or production runs a missing file."""
    found: list[str] = []
    for i in plan.items:
        if i.cls == "build" or i.inst.instruction not in ("CMD", "ENTRYPOINT", "ENV", "RUN", "HEALTHCHECK"):
            continue
        for m in re.finditer(r"(?<![\w.$/-])((?:/[\w.-]+)*/)?(?:\./)?\.venv(?=/|\b)", i.inst.value):
            path = m.group(0)
            if not path.startswith("/"):
                if "$" in i.workdir:
                    continue
                path = str(PurePosixPath(i.workdir) / path)
            path = str(PurePosixPath(path))
            if path not in found:
                found.append(path)
    if not found:
        return None
    if len(found) > 1:
        raise Skip(f"the Dockerfile names several virtualenvs ({', '.join(found)}); harden cannot tell which "
                   "one production runs from")
    venv = found[0]
    if install_wd != "/" and "$" not in install_wd and PurePosixPath(install_wd) in PurePosixPath(venv).parents:
        ignore = plan.read(".dockerignore")
        if not re.search(r"(?m)^\s*(\*\*/)?/?\.venv/?\s*$", ignore):
            plan.notes.append((plan.stage.startline + 1, f"production copies the virtualenv to {venv}, inside the "
                               "app folder: keep a local .venv out of the build context (add `.venv` to "
                               ".dockerignore), or a later COPY of the app writes over it"))
    return venv


def _requires(plan, dist: str) -> bool:
    pat = re.compile(r"(?im)^\s*[\"']?%s\s*(?:[\[<>=!~;\"'@ ]|$)" % re.escape(dist))
    pat_toml = re.compile(r"(?im)^\s*[\"']?%s[\"']?\s*=" % re.escape(dist))
    seen: set[Path] = set()
    todo = [p for p in plan.context.glob("*") if p.is_file() and (p.suffix in (".txt", ".in", ".toml", ".lock") or p.name.startswith("Pipfile"))]
    for d in ("requirements", "reqs"):
        if (plan.context / d).is_dir():
            todo += [p for p in (plan.context / d).glob("*") if p.is_file()]
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            text = p.read_text(errors="replace")[:200000]
        except OSError:
            continue
        if pat.search(text) or pat_toml.search(text) or (f'name = "{dist}"' in text and p.suffix == ".lock"):
            return True
        for m in re.finditer(r"(?m)^\s*-[rc]\s*(\S+)", text):
            q = (p.parent / m.group(1))
            if q.is_file():
                todo.append(q)
    return False


def _user_site(plan, items: list) -> str | None:
    """``pip install --user``, run as a non-root user: the folder it installs into (the
    user's ``~/.local``, or PYTHONUSERBASE), which production copies. None: no ``--user``."""
    cmds = [(i, c) for i in items if i.cls == "build" for c in i.cmds if c.kind == "install"]
    user = [(i, c) for i, c in cmds if c.user_site]
    if not user:
        return None
    i, c = user[0]
    if len(user) != len(cmds):
        raise Skip(f"`{' '.join(c.words[:3])} ... --user` at line {i.line} installs into the user's site while "
                   "other installs do not; harden copies one environment: split this Dockerfile by hand")
    if plan.install_user is None:
        raise Skip(f"`{' '.join(c.words[:3])} ... --user` at line {i.line} installs into root's home, outside "
                   "an environment harden can copy; split this Dockerfile by hand")
    env = {}
    for it in items[:items.index(i)]:
        if it.inst.instruction == "ENV":
            env.update(env_pairs(it.inst.value))
    if env.get("PYTHONUSERBASE", "").startswith("/"):
        return env["PYTHONUSERBASE"]
    if env.get("HOME", "").startswith("/"):
        return posixpath.join(env["HOME"], ".local")
    home = home_of([c.words for i in items if i.inst.instruction == "RUN" for c in i.cmds],
                   plan.install_user.split(":", 1)[0])
    if home is None:
        raise Skip(f"`{' '.join(c.words[:3])} ... --user` at line {i.line} installs into the home of user "
                   f"{plan.install_user}, which harden cannot find in this Dockerfile; set ENV HOME (or "
                   "PYTHONUSERBASE) before it, then run harden again")
    return posixpath.join(home, ".local")



# ---------------------------------------------------------------------------- running as non-root

def ships_user(ref: Any, alpine: bool) -> Any:
    """mambaorg/micromamba ends with USER mambauser (57439): it runs as that user unless a USER
    root says otherwise."""
    from harden.stacks.system import BaseInfo

    if ref.path == "mambaorg/micromamba":
        return BaseInfo(ref.raw.strip(), "debian", default_nonroot=True, existing=(57439, 57439, "mambauser"))
    return None


def onbuild(ref: Any, alpine: bool) -> Any:
    """The official ``python:*-onbuild`` and ``django:onbuild`` images (Debian) set WORKDIR
    /usr/src/app; their triggers copy requirements.txt, ``pip install`` it and copy the app
    there, root-owned, before the Dockerfile's own steps."""
    from harden.stacks.system import BaseInfo

    return BaseInfo(ref.raw.strip(), "alpine" if alpine else "debian", workdir="/usr/src/app")


# start-up commands that write into the app folder
_STARTUP_WRITE = re.compile(r"(?m)^[^#\n]*?\b(manage\.py\s+collectstatic|django-admin\s+collectstatic)")


def start_writes(label: str, text: str, writable: list[str]) -> str | None:
    """``manage.py collectstatic`` at start-up writes STATIC_ROOT, usually inside the root-owned
    app folder: as the new user it fails with Permission denied and the container exits. None
    when a static folder is one harden makes writable (a volume, a data folder)."""
    if any("static" in d.lower() for d in writable):
        return None
    m = _STARTUP_WRITE.search(text or "")
    if m is None:
        return None
    return (f"{label} runs `{m.group(1)}` at start-up: it writes STATIC_ROOT, which as a "
            "non-root user fails with Permission denied in the root-owned app folder; run it at "
            "build time (RUN python manage.py collectstatic --noinput) or give STATIC_ROOT a "
            "volume, then run harden again")
