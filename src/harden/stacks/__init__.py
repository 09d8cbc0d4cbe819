"""What harden knows about each language stack, one module per stack.

The Dockerfile transforms say *what* they do and when they refuse (split-stages: a builder and
a production stage; non-root-user: a numeric USER and the folders it must write); the stack
modules say *how*, for the ecosystem a Dockerfile uses:

    python.py   pip, poetry, pipenv, uv; the virtualenv (or ``--user`` site) production copies;
                python images and the slim production base; start commands through project
                tools; ``collectstatic`` at start-up; micromamba's user.
                What the app's own source says (libcst): ``harden/app_source.py``.
    node.py     npm, yarn 1, pnpm; global tools; the prune of devDependencies and the start
                commands that need one; installs outside the work directory; node:*-slim;
                the users of the node, deno and bun images; ``next start``'s ``.next``.
    go.py       go build/install: the binaries, cgo, and the production base (distroless,
                alpine, debian-slim) with what the program needs at run time.
    ruby.py     Rails and Puma: the folders they write beside the code at start-up.
    php.py      php-fpm/Apache images that must start as root; Laravel's writable folders.
    jvm.py      maven, gradle and sbt run as the start command; Spring's configuration files
                (and a native config server's), read for the hosts a service connects to
                (harden.roles).
    dotnet.py   .NET images: their user ``app`` (1654), ``dotnet run`` at start-up, port 80.
    rust.py     ``cargo run`` as the start command.
    system.py   the OS under every stack: how a base image creates users (Debian, Alpine, RHEL
                families, distroless, Chainguard, images that ship a user), entrypoints that
                switch user, Debian releases, image references.
    shell.py    reading RUN instructions: commands, options, file commands (mkdir, cp, chown,
                ...), start commands; which stack a command belongs to.

OS packages (``-dev`` package -> runtime library) are a table of their own: ``harden/runtime_libs.py``.
Stores (databases, caches, brokers) are not stacks: ``harden/catalog.py`` and ``harden/healthchecks.py``.

The interface
-------------
``get(name)`` returns a stack module. A module is imported only when a Dockerfile shows that
stack: one of its commands in a RUN, its base image, a word of its start command or a file of
its build context, as the registry below lists them; a project without the stack pays nothing
for it. Every hook is optional: a module defines the ones it has knowledge for.

Reading a RUN (shell.classify):
    classify(words, prefix) -> shell.Cmd    one command of this stack's tools (``words``
                                            without ``VAR=value``/``sudo`` prefix; ``prefix``
                                            what was dropped)
    read_run(cmds) -> None                  adjust one RUN's commands after classification
                                            (``curl <installer> | python3 -`` is a tool install)
    global_bins(cmd) -> set[str]            commands a global install puts on PATH

Splitting a single stage (split-stages; the stacks harden splits: python, node, go):
    IMAGE: str                              the official image the stage must be FROM ("golang")
    LABEL: str                              how messages name the stack ("Go")
    image_carried(repo, tag) -> str | None  an image built on the official one that says which
    BUILD_ONLY_PACKAGES: set[str]           OS packages only this stack's build needs
    COPIES_WORKDIR: bool                    production copies the whole work directory
    KEEPS_USERS: bool                       production starts from an image with the builder's users
    check_start(plan) -> None               refuse start commands production could not run
    plan_split(plan) -> (builder lines, production lines, production image)
                                            ``plan`` is split-stages' planner: the stage's items
                                            as read, the cut, the base image, and the helpers
                                            that write package RUNs, copies and notes

Running as non-root (non-root-user):
    keeps_root(ref) -> str | None           the base image must start as root: why
    onbuild(ref, alpine) -> BaseInfo | None an official ONBUILD image: its family, user and the
                                            work directory its triggers copy the app into
    ships_user(ref, alpine) -> BaseInfo | None
                                            the base image ships a non-root user of its own
    nonroot_user_value(base, value) -> bool ``USER $APP_UID`` names the image's own user
    writes_at_start(app) -> (label, folders) | None
                                            folders the framework writes beside its code at
                                            start-up (``app``: system.App)
    START_BUILD: re.Pattern                 a start command that compiles into the app folder
                                            (group 1: the command)
    start_writes(label, text, writable) -> str | None
                                            a start command that writes into the app folder:
                                            the reason to refuse
    low_ports(image, env) -> list[str]      ports below 1024 the image listens on by default
    install_writes(words) -> tuple | None   what a package install run at start-up (``npm
                                            install``) writes in the folder it runs in
                                            (node_modules, lockfiles); None: it writes elsewhere
                                            (the system's, a global prefix); asked through
                                            of_command of the command's first word
"""

from __future__ import annotations

import importlib
import re
from types import ModuleType
from typing import Any

# --------------------------------------------------------------------------- the registry

NAMES = ("python", "node", "go", "ruby", "php", "jvm", "dotnet", "rust")

# RUN command words (the program's file name) each stack reads
_COMMANDS = (
    ("python", re.compile(r"pip[0-9.]*|python[0-9.]*|virtualenv|poetry|pipenv|uv")),
    ("node", re.compile(r"npm|yarn|pnpm|corepack|npx|tsc")),
    ("go", re.compile(r"go")),
)
# installers fetched with curl/wget from these addresses are the stack's tools
_FETCHED = (("install.python-poetry.org", "python"), ("astral.sh/uv", "python"))

# dependency manifests of the stacks harden splits: a COPY of only these (and docs) is an
# install step's input, which production does not need
MANIFESTS = {
    "python": r"requirements[^/]*\.(txt|in)|constraints[^/]*\.txt|requirements|pyproject\.toml|poetry\.lock|"
              r"setup\.py|setup\.cfg|Pipfile|Pipfile\.lock|uv\.lock|\.python-version|poetry\.toml",
    "node": r"package\.json|package-lock\.json|npm-shrinkwrap\.json|yarn\.lock|pnpm-lock\.yaml|"
            r"pnpm-workspace\.yaml|\.npmrc|\.yarnrc|\.yarnrc\.yml|\.nvmrc",
    "go": r"go\.mod|go\.sum|go\.work|go\.work\.sum",
}

# the stacks that know folders their framework writes beside the code at start-up, each with
# the words of a start command (ENTRYPOINT, CMD, compose `command:`) and the build-context files
# that may show it (a superset of what the module then checks)
_APP_SIGNS = (
    ("ruby", re.compile(r"rails|puma|unicorn"), ("Gemfile",)),
    ("php", re.compile(r"artisan"), ("artisan",)),
    ("node", re.compile(r"next|npm|yarn|pnpm|react-scripts|vue-cli-service|vite"), ()),
)
# the stacks that know start commands that write into the app folder (START_BUILD, start_writes),
# with the words that may show them
_START_SIGNS = (
    ("python", re.compile(r"collectstatic")),
    ("jvm", re.compile(r"mvn|gradle|sbt")),
    ("dotnet", re.compile(r"dotnet")),
    ("rust", re.compile(r"cargo")),
)

# official images of the PHP web apps built on Apache/php-fpm (Docker Hub's library/)
PHP_APPS = {"wordpress", "drupal", "joomla", "nextcloud", "mediawiki", "matomo", "phpmyadmin"}
_HUB = ("", "docker.io", "index.docker.io")
# the official ONBUILD images (deprecated, still in use): the stack that knows their layout
_ONBUILD = {"ruby": "ruby", "rails": "ruby", "python": "python", "django": "python", "node": "node",
            "iojs": "node", "golang": "go"}


def get(name: str) -> ModuleType:
    """The stack module ``name`` ("python", "node", ...), imported on first use."""
    return importlib.import_module(f"harden.stacks.{name}")


def hook(name: str | None, attr: str) -> Any:
    """A stack's hook, or None when the stack (or the hook) is not there."""
    if name is None:
        return None
    return getattr(get(name), attr, None)


def of_command(w0: str, args: list[str]) -> str | None:
    """The stack whose tool the command ``w0 args...`` runs (``w0``: the program's file name)."""
    for name, pat in _COMMANDS:
        if pat.fullmatch(w0):
            return name
    if w0 in ("curl", "wget"):
        text = " ".join(args)
        for url, name in _FETCHED:
            if url in text:
                return name
    return None


def of_image(ref: Any) -> str | None:
    """The stack a base image (catalog.ImageRef) belongs to, when its user or root-ness is that
    stack's knowledge."""
    reg = (ref.registry or "").lower()
    if ref.namespace == "library" and "onbuild" in (ref.tag or "").lower() and ref.name in _ONBUILD:
        return _ONBUILD[ref.name]
    if ref.name == "php" or (ref.namespace == "library" and ref.name in PHP_APPS):
        return "php"
    if ref.path == "library/node" or (reg in _HUB and ref.path in ("denoland/deno", "oven/bun")):
        return "node"
    if reg in _HUB and ref.path == "mambaorg/micromamba":
        return "python"
    if reg == "mcr.microsoft.com" and ref.path.startswith("dotnet/"):
        return "dotnet"
    return None


def in_start(text: str) -> list[str]:
    """The stacks whose start-up knowledge (START_BUILD, start_writes) a start command's text
    may concern, by its words."""
    return [name for name, pat in _START_SIGNS if pat.search(text)]


def of_app(context: Any, texts: list[str]) -> list[str]:
    """The stacks whose framework may write beside the code (writes_at_start), in the order they
    are asked: by the words of the start commands (``texts``) and the files at the top of the
    build context."""
    return [name for name, pat, files in _APP_SIGNS
            if any(pat.search(t) for t in texts) or any(_is_file(context / f) for f in files)]


# a build context that is a JVM project: a build file, or sources under src/main (stacks/jvm.py
# then reads its Spring configuration for harden.roles); asked before importing the module
_JVM_FILES = ("pom.xml", "build.gradle", "build.gradle.kts", "settings.gradle", "settings.gradle.kts", "build.sbt")
_JVM_SOURCES = ("java", "kotlin", "scala", "groovy")


def is_jvm_context(context: Any) -> bool:
    try:
        return any(_is_file(context / f) for f in _JVM_FILES) or \
            any((context / "src" / "main" / d).is_dir() for d in _JVM_SOURCES)
    except OSError:
        return False


def _is_file(path: Any) -> bool:
    try:
        return path.is_file()
    except OSError:
        return False
