"""split-stages: a single-stage Dockerfile becomes a builder stage and a production stage."""

from __future__ import annotations

import posixpath
import re
import shlex
from harden.record import field, record
from pathlib import Path, PurePosixPath

from harden.errors import Skip
from harden.model import context_file_text
from harden.transform import Example, Transform

# ---------------------------------------------------------------------------- word tables

PY_TOOLS = {"pip", "setuptools", "wheel", "poetry", "pipenv", "uv", "pip-tools", "virtualenv",
            "poetry-plugin-export", "poetry-core", "hatch", "pdm"}
FOREIGN = {
    "bundle": "Ruby (bundle)", "bundler": "Ruby (bundler)", "gem": "Ruby (gem)", "composer": "PHP (composer)",
    "cargo": "Rust (cargo)", "rustup": "Rust (rustup)", "mvn": "Java (maven)", "mvnw": "Java (maven)",
    "gradle": "Java (gradle)", "gradlew": "Java (gradle)", "ant": "Java (ant)", "sbt": "Scala (sbt)",
    "make": "make", "cmake": "cmake", "configure": "./configure", "conda": "conda", "mamba": "mamba",
    "micromamba": "micromamba", "dotnet": ".NET (dotnet)", "mix": "Elixir (mix)", "cabal": "Haskell (cabal)",
    "stack": "Haskell (stack)", "rscript": "R", "easy_install": "easy_install", "bun": "bun", "deno": "deno",
    "luarocks": "luarocks", "lein": "Clojure (lein)", "opam": "OCaml (opam)", "nix": "nix", "nix-env": "nix",
    "brew": "brew", "julia": "julia", "pdm": "pdm", "hatch": "hatch", "conan": "conan", "vcpkg": "vcpkg",
}
# Python installers and project tools: the builder has them, production does not
PY_BUILDER_TOOLS = {"poetry", "pipenv", "uv", "uvx", "pdm", "hatch", "pip-sync", "pip-compile"}
# package names whose tools a builder step may call (their install stays in the builder too)
FETCH_TOOLS = {"ca-certificates", "curl", "wget", "git", "gnupg", "openssh-client", "unzip", "xz-utils"}
MANIFEST_RE = re.compile(
    r"^(requirements[^/]*\.(txt|in)|constraints[^/]*\.txt|requirements|pyproject\.toml|poetry\.lock|"
    r"setup\.py|setup\.cfg|Pipfile|Pipfile\.lock|uv\.lock|\.python-version|poetry\.toml|"
    r"package\.json|package-lock\.json|npm-shrinkwrap\.json|yarn\.lock|pnpm-lock\.yaml|"
    r"pnpm-workspace\.yaml|\.npmrc|\.yarnrc|\.yarnrc\.yml|\.nvmrc|go\.mod|go\.sum|go\.work|go\.work\.sum)$"
)
DOC_RE = re.compile(r"^(README|LICENSE|LICENCE|COPYING|NOTICE|CHANGELOG|CHANGES|AUTHORS)([.-][^/]*)?$", re.I)
# node-gyp's tools: only needed to compile native modules
NODE_BUILD_ONLY = {"python3", "python", "make", "g++", "gcc", "build-base", "build-essential"}
CGO_MODULES = ("github.com/mattn/go-sqlite3", "github.com/confluentinc/confluent-kafka-go",
               "github.com/h2non/bimg", "github.com/davidbyttow/govips", "gopkg.in/gographics/imagick",
               "github.com/go-gl/", "github.com/tecbot/gorocksdb", "github.com/linxGnu/grocksdb")
GO_READS_FILES = re.compile(r"\b(os\.(ReadFile|Open|OpenFile|ReadDir)|ioutil\.ReadFile|ParseFiles|ParseGlob|"
                            r"http\.Dir|LoadHTMLGlob|LoadHTMLFiles|\.Static\(|godotenv\.Load)\b")
SEP = {"&&", "||", ";", "|", "&"}
HELPERS = {"set", "true", "echo", "export", "cd", ":", "rm", "apt-mark", "update-ca-certificates"}


@record
class Cmd:
    kind: str  # pkg | helper | install | tool | build | venv | other | foreign
    eco: str | None = None
    words: list[str] = field(default_factory=list)
    detail: str = ""
    pkgs: list[str] = field(default_factory=list)  # installed OS packages (pkg)
    removed: list[str] = field(default_factory=list)
    family: str | None = None  # apt | apk
    venv: str | None = None
    prod_only: bool = False  # npm ci --omit=dev and the like
    uv_sync: bool = False
    user_site: bool = False  # pip install --user


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

    @property
    def line(self) -> int:
        return self.inst.startline + 1

    def out(self) -> list[str]:
        return self.lead + self.inst.lines


# devDependencies whose command has another name than the package
_NODE_DEV_BINS = {"@nestjs/cli": ("nest",), "typescript": ("tsc",), "sequelize-cli": ("sequelize",),
                  "@prisma/cli": ("prisma",), "nuxi": ("nuxi", "nuxt"), "@angular/cli": ("ng",),
                  "@remix-run/serve": ("remix-serve",), "@medusajs/medusa-cli": ("medusa",)}

def _follows_run(lines: list[str]) -> bool:
    """Is the last instruction of ``lines`` (comments and blank lines aside) a RUN?"""
    i = len(lines) - 1
    while i >= 0 and (not lines[i].strip() or lines[i].lstrip().startswith("#")):
        i -= 1
    while i > 0 and lines[i - 1].rstrip().endswith("\\"):
        i -= 1
    return i >= 0 and lines[i].lstrip()[:4].upper() == "RUN "


def _base(word: str) -> str:
    return PurePosixPath(word).name.lower() if word else ""


def _split_shell(text: str) -> list[list[str]]:
    lex = shlex.shlex(text, posix=True, punctuation_chars=";&|")
    lex.whitespace_split = True
    lex.commenters = ""
    cmds: list[list[str]] = [[]]
    for tok in lex:
        if tok in SEP:
            cmds.append([])
        else:
            cmds[-1].append(tok)
    return [c for c in cmds if c]


def _strip_prefix(words: list[str]) -> list[str]:
    i = 0
    while i < len(words) and (re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[i]) or words[i] in ("sudo", "exec", "time", "env", "nice")):
        i += 1
    return words[i:]


def _positional(args: list[str], with_value: set[str]) -> tuple[list[str], dict[str, list[str]]]:
    pos: list[str] = []
    opts: dict[str, list[str]] = {}
    i = 0
    while i < len(args):
        a = args[i]
        if a.startswith("-"):
            k, eq, v = a.partition("=")
            if k in with_value and not eq:
                opts.setdefault(k, []).append(args[i + 1] if i + 1 < len(args) else "")
                i += 2
                continue
            opts.setdefault(k, []).append(v)
        else:
            pos.append(a)
        i += 1
    return pos, opts


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
    pos, opts = _positional(args[1:], PIP_VALUE)
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


def classify(words: list[str]) -> Cmd:
    system_python = next((w for w in words[:len(words) - len(_strip_prefix(words))]
                          if re.match(r"(?i)^UV_SYSTEM_PYTHON=(1|true|yes|on)$", w)), None)
    words = _strip_prefix(words)
    if not words:
        return Cmd("helper")
    w0 = _base(words[0])
    args = words[1:]
    # OS packages
    if w0 in ("apt-get", "apt", "aptitude"):
        pos, opts = _positional(args, {"-o", "-t", "--target-release", "-c"})
        sub = pos[0] if pos else ""
        pkgs = [p for p in pos[1:]] if sub == "install" else []
        removed = [p for p in pos[1:]] if sub in ("purge", "remove") else []
        return Cmd("pkg", words=words, pkgs=pkgs, removed=removed, family="apt")
    if w0 == "apk":
        pos, opts = _positional(args, {"-t", "--virtual", "-X", "--repository", "--repositories-file", "-p", "--root"})
        sub = pos[0] if pos else ""
        return Cmd("pkg", words=words, pkgs=pos[1:] if sub == "add" else [], removed=pos[1:] if sub == "del" else [], family="apk")
    if w0 in HELPERS or w0 == "find" and "-delete" in args:
        return Cmd("helper", words=words)
    # Python
    if re.fullmatch(r"pip[0-9.]*", w0):
        return _pip_cmd(args, words)
    if re.fullmatch(r"python[0-9.]*", w0):
        if args[:2] == ["-m", "pip"]:
            return _pip_cmd(args[2:], words)
        if args[:2] == ["-m", "venv"] or args[:2] == ["-m", "virtualenv"]:
            pos, _ = _positional(args[2:], {"--prompt"})
            return Cmd("venv", "python", words, venv=pos[0] if pos else None)
        if args and args[0] == "setup.py":
            return Cmd("foreign", words=words, detail="python setup.py")
        if args and args[0] == "-" :
            return Cmd("foreign", words=words, detail="a script piped into python")
        return Cmd("other", words=words)
    if w0 == "virtualenv":
        pos, _ = _positional(args, {"-p", "--python", "--prompt"})
        return Cmd("venv", "python", words, venv=pos[0] if pos else None)
    if w0 == "poetry":
        sub = next((a for a in args if not a.startswith("-")), "")
        if sub in ("install", "sync"):
            return Cmd("install", "python", words)
        if sub == "run":
            return Cmd("other", words=words)
        return Cmd("tool", "python", words)
    if w0 == "pipenv":
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
            pos, _ = _positional(args[1:], {"-p", "--python", "--prompt"})
            return Cmd("venv", "python", words, venv=pos[0] if pos else ".venv")
        if args[:1] == ["run"]:
            return Cmd("other", words=words)
        return Cmd("tool", "python", words)
    if w0 in ("curl", "wget") and any(u in " ".join(args) for u in ("install.python-poetry.org", "astral.sh/uv")):
        return Cmd("tool", "python", words)
    # Node
    if w0 == "npm":
        pos, opts = _positional(args, {"--prefix", "-C", "--workspace", "-w", "--omit", "--include"})
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
        pos, opts = _positional(args, {"--cwd", "--modules-folder", "--cache-folder"})
        sub = pos[0] if pos else "install"
        if sub == "install":
            return Cmd("install", "node", words, prod_only="--production" in opts)
        if sub in ("global", "set", "config", "policies", "plugin"):
            return Cmd("tool", "node", words)
        if sub == "cache":
            return Cmd("helper", words=words)
        return Cmd("build", "node", words)
    if w0 == "pnpm":
        pos, opts = _positional(args, {"--filter", "-F", "--dir", "-C"})
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
    # Go
    if w0 == "go":
        sub = args[0] if args else ""
        if sub == "mod":
            return Cmd("install", "go", words)
        if sub in ("build", "install"):
            return Cmd("build", "go", words, detail=sub)
        return Cmd("tool", "go", words)
    if w0 in FOREIGN:
        return Cmd("foreign", words=words, detail=FOREIGN[w0])
    if words[0] in ("./configure", "./mvnw", "./gradlew"):
        return Cmd("foreign", words=words, detail=FOREIGN[w0.lstrip("./")])
    return Cmd("other", words=words)


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
    w0, args = _base(c.words[0]), c.words[1:]
    pos, opts = _positional(args, {"--prefix", "-C", "--filter", "-F", "--dir", "--cwd"})
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


def _run_commands(inst) -> list[list[str]]:
    arr = inst.exec_form()
    if arr is not None:
        if len(arr) >= 3 and _base(arr[0]) in ("sh", "bash", "ash", "dash") and arr[1] in ("-c", "-ec", "-ex", "-xc"):
            return _split_shell(arr[2])
        return [arr]
    return _split_shell(inst.args_without_flags())


# ---------------------------------------------------------------------------- file commands

# simple file commands a RUN may join to an install (issue 16): what they touch can be named
FILE_CMDS = {"mkdir", "touch", "ln", "cp", "mv", "chown", "chmod"}


@record
class FileOp:
    name: str
    writes: list[str]  # paths made or changed, as written
    reads: list[str] = field(default_factory=list)  # paths read (cp/mv sources, hard link targets)
    recursive: bool = False
    owner: str = ""  # chown


def _file_op(words: list[str]) -> FileOp | None:
    """``mkdir -p a b`` -> FileOp(mkdir, writes=[a, b]); None for anything else."""
    w = _strip_prefix(words)
    if not w or _base(w[0]) not in FILE_CMDS:
        return None
    name = _base(w[0])
    pos, opts = _positional(w[1:], {"-m", "--mode", "-t", "--target-directory", "--reference"})
    flags = "".join(k[1:] for k in opts if k.startswith("-") and not k.startswith("--"))
    recursive = bool(set(flags) & {"R", "r", "a"}) or "--recursive" in opts or "--archive" in opts
    target_dir = (opts.get("-t") or opts.get("--target-directory") or [None])[-1]
    if name in ("mkdir", "touch"):
        return FileOp(name, pos) if pos else None
    if name in ("chown", "chmod"):
        if len(pos) < 2 or "--reference" in opts:
            return None
        return FileOp(name, pos[1:], recursive=recursive, owner=pos[0] if name == "chown" else "")
    srcs, dest = (pos, target_dir) if target_dir else (pos[:-1], pos[-1] if pos else None)
    if not srcs or not dest:
        return None
    if name == "ln":
        soft = "s" in flags or "--symbolic" in opts
        return FileOp(name, [dest], reads=[] if soft else srcs)
    return FileOp(name, [dest] + (srcs if name == "mv" else []), reads=srcs, recursive=recursive)


# words that start an install or a build: a heredoc that names one may install something
_INSTALL_WORDS = re.compile(r"(?<![\w.-])(pip[0-9.]*|python[0-9.]*|poetry|pipenv|uv|virtualenv|conda|mamba|micromamba|npm|"
                            r"npx|yarn|pnpm|corepack|node|bun|deno|go|" + "|".join(re.escape(w) for w in FOREIGN) +
                            r")(?![\w.-])")


def _heredoc_may_install(inst) -> bool:
    """Whether a RUN heredoc names an installer or a build tool anywhere in its script."""
    return bool(_INSTALL_WORDS.search(inst.raw))


def _heredoc_reason(item: Item) -> str:
    return (f"RUN heredoc at line {item.line}: harden does not read scripts in heredocs, so it cannot tell what "
            "they install")


def _mark_file_commands(item: Item) -> None:
    """A RUN that installs and also runs simple file commands (``pip install ... && mkdir -p
    /app/uploads``): they become ``file`` commands the planner places. Anything else beside the
    install, or commands joined otherwise than by ``&&``, is refused as before."""
    for c in item.cmds:
        if c.kind == "other" and _file_op(c.words) is None:
            raise Skip(f"RUN at line {item.line} mixes dependency installation with "
                       f"`{' '.join(c.words[:3])}`; split that RUN by hand first")
    seps = _separators(item.inst)
    if seps - {"&&"}:
        c = next(c for c in item.cmds if c.kind == "other")
        raise Skip(f"RUN at line {item.line} mixes dependency installation with `{' '.join(c.words[:3])}` "
                   f"joined by `{sorted(seps - {'&&'})[0]}`; split that RUN by hand first")
    for c in item.cmds:
        if c.kind == "other":
            c.kind = "file"


def _separators(inst) -> set[str]:
    """The shell operators between the commands of a RUN (``&&``, ``;``, ``||``, ``|``, ``&``)."""
    arr = inst.exec_form()
    text = arr[2] if arr and len(arr) >= 3 and arr[1] in ("-c", "-ec", "-ex", "-xc") else (
        None if arr is not None else inst.args_without_flags())
    if text is None:
        return set()
    lex = shlex.shlex(text, posix=True, punctuation_chars=";&|")
    lex.whitespace_split = True
    lex.commenters = ""
    return {tok for tok in lex if tok in SEP}


def _walk_cwd(item: Item):
    """(command, the folder it runs in) for each command of a RUN, following ``cd``; the folder
    is None after a ``cd`` harden cannot resolve."""
    cwd: str | None = item.workdir if "$" not in item.workdir else None
    for c in item.cmds:
        w = _strip_prefix(c.words)
        if w and _base(w[0]) == "cd":
            to = w[1] if len(w) > 1 else ""
            if not to or to == "-" or "$" in to or to.startswith("~") or cwd is None:
                cwd = None
            else:
                cwd = posixpath.normpath(to if to.startswith("/") else posixpath.join(cwd, to))
        yield c, cwd


def _abspath(path: str, cwd: str | None) -> str | None:
    """An absolute path without variables; a glob stands for its folder. None: cannot tell."""
    if "$" in path or path.startswith("~") or (cwd is None and not path.startswith("/")):
        return None
    if any(ch in path for ch in "*?["):
        path = posixpath.dirname(path.split("*")[0].split("?")[0].split("[")[0]) or "."
    return posixpath.normpath(path if path.startswith("/") else posixpath.join(cwd, path))


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


# folders every base image has: a chown/chmod/cd there runs in production too
_SYSTEM_DIRS = {"/", "/tmp", "/var", "/var/tmp", "/var/log", "/var/lib", "/var/cache", "/var/run", "/run", "/opt",
                "/srv", "/home", "/etc", "/usr", "/usr/local", "/usr/local/bin", "/usr/local/lib", "/usr/bin",
                "/usr/share", "/mnt", "/root"}


# ---------------------------------------------------------------------------- images

def _split_image(image: str) -> tuple[str, str | None, str | None]:
    """``reg/name:tag@digest`` -> (repository, tag, digest), textually."""
    digest = None
    if "@" in image:
        image, digest = image.split("@", 1)
    slash = image.rfind("/")
    colon = image.rfind(":")
    if colon > slash:
        return image[:colon], image[colon + 1:], digest
    return image, None, digest


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


DEBIAN_RELEASES = ("bookworm", "bullseye", "buster", "trixie", "stretch")

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


def _env_pairs(value: str) -> dict[str, str]:
    """``ENV A=1 B="x y"`` / legacy ``ENV A 1`` -> {name: value}."""
    try:
        toks = shlex.split(value)
    except ValueError:
        toks = value.split()
    if toks and "=" not in toks[0]:
        return {toks[0]: " ".join(toks[1:])}
    return dict(t.split("=", 1) for t in toks if "=" in t)


def _release_of(tag: str) -> str | None:
    for r in DEBIAN_RELEASES:
        if r in tag:
            return r
    return None


# ---------------------------------------------------------------------------- the transform

_SHELLS = {"sh", "bash", "ash", "dash", "zsh"}
_START_PREFIX = {"npx", "exec", "cross-env", "dotenv", "--", "-y", "--yes", "env", "tini", "dumb-init", "gosu",
                 "su-exec", "nohup", "time"}


def _start_segments(text: str) -> list[list[str]]:
    """The commands a start command runs, as word lists: split at ``&&``, ``||``, ``;`` and
    ``|``, exec-form brackets and quotes dropped, ``VAR=value``/``npx``/``exec``/``env`` and
    ``sh -c`` in front of a command skipped (``sh -c "npm start"`` runs ``npm start``)."""
    out: list[list[str]] = []
    for seg in re.split(r"&&|\|\||;|\|", re.sub(r"[\[\]\"',]", " ", text)):
        words = seg.split()
        while words:
            if re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]) or words[0] in _START_PREFIX:
                words = words[1:]
            elif _base(words[0]) in _SHELLS and len(words) > 1 and re.fullmatch(r"-[a-z]*c[a-z]*", words[1]):
                words = words[2:]
            else:
                break
        if words:
            out.append(words)
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
      dependencies; production copies the work directory from the builder. A full ``node:X``
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
    ``USER`` before a Go build; a CMD that runs through ``poetry run``/``pipenv run``/``uv run``, or a
    compose ``command``/``entrypoint`` that runs poetry, pipenv, uv, pdm or hatch (only the builder
    has them); a Node start command that runs a devDependency the prune would remove (``npm run
    start:prod`` whose script is ``prisma migrate deploy && node dist/main.js`` with prisma in
    devDependencies). The start command is the one that really runs: the compose
    ``command``/``entrypoint`` of each service that builds the Dockerfile as well as its own
    CMD/ENTRYPOINT, followed through ``npm|yarn|pnpm start|run X`` into package.json scripts
    (pre/post scripts too), ``sh -c``, ``npx``/``exec``, and paths into ``node_modules/`` or
    ``node_modules/.bin/`` (``"start": "./node_modules/nodemon/bin/nodemon.js app.js"`` with nodemon
    a devDependency is refused). Dockerfiles that already have several stages, or a compose
    ``target:``, are left as they are.
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


class _Planner:
    def __init__(self, unit, ctx, stage):
        self.unit = unit
        self.ctx = ctx
        self.doc = unit.doc
        self.stage = stage
        self.notes: list[tuple[int | None, str]] = []
        self.context = Path(unit.context)
        self.emitted: set[str] = set()  # runtime packages production installs already

    # -------------------------------------------------------------- reading
    def _items(self) -> list[Item]:
        lines = self.doc.lines
        prev_end = self.stage.from_.endline
        items: list[Item] = []
        workdir = "/"
        # commands that global installs (`npm i -g @nestjs/cli`, `corepack enable`) put on PATH:
        # a RUN calling one (`nest build`) is a build step of the builder
        self.global_bins: set[str] = set()
        for inst in self.stage.instructions:
            if inst.instruction == "RUN" and not inst.heredoc:
                try:
                    for c in _run_commands(inst):
                        self.global_bins |= node_global_bins(classify(c))
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
                        item.manifest = any(MANIFEST_RE.match(n) for n in names) and all(
                            MANIFEST_RE.match(n) or DOC_RE.match(n) for n in names)
                        absdest = dest if dest.startswith("/") else str(PurePosixPath(workdir) / dest)
                        item.in_workdir = workdir != "/" and (absdest.rstrip("/") + "/").startswith(workdir.rstrip("/") + "/")
            elif name == "RUN":
                if inst.heredoc:
                    if _heredoc_may_install(inst):
                        raise Skip(_heredoc_reason(item))
                    item.cls = "other"  # refused below if anything else is to be split
                    item.heredoc = True
                    items.append(item)
                    continue
                try:
                    cmds = [classify(c) for c in _run_commands(inst)]
                except ValueError as e:
                    raise Skip(f"cannot read the RUN at line {item.line}: {e}") from None
                item.cmds = cmds
                fetched = False  # `curl <known installer> | python3 -` (poetry, uv): a tool install
                for c in cmds:
                    if c.kind == "tool" and c.eco == "python" and c.words and _base(c.words[0]) in ("curl", "wget"):
                        fetched = True
                    elif fetched and c.words and (c.detail == "a script piped into python" or (
                            c.kind == "other" and _base(c.words[0]) in ("sh", "bash") and len(c.words) <= 2)):
                        c.kind, c.eco, c.detail = "tool", "python", ""
                if any(c.kind == "tool" for c in cmds) and not any(c.kind in ("install", "build", "venv") for c in cmds):
                    for c in cmds:  # linking or marking the tool just installed
                        if c.kind == "other" and c.words and _base(c.words[0]) in ("ln", "chmod"):
                            c.kind = "helper"
                for c in cmds:
                    if c.kind == "other" and c.words and _base(c.words[0]) in self.global_bins:
                        c.kind, c.eco = "build", "node"
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
                    if "other" in kinds and all(c.kind != "other" or _file_op(c.words) for c in cmds):
                        item.file_only = True
            items.append(item)
        return items

    def plan(self):
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
        self.repo, self.tag, self.digest = _split_image(self.base)
        rrepo, rtag, _ = _split_image(resolved)
        self.family_name = _family_of_repo(rrepo)
        self.rtag = rtag or "latest"
        self.alpine = "alpine" in self.rtag
        self.pkg_family = "apk" if self.alpine else "apt"
        builder_alias = "builder"
        self.prod_alias = self.stage.alias or "production"
        if self.stage.alias == "builder":
            raise Skip("the only stage is already named builder; rename it and run harden again")
        self.builder_alias = builder_alias
        expected = {"python": "python", "node": "node", "go": "golang"}[eco]
        self.carried = python_image_carried(rrepo, self.rtag) if eco == "python" else None
        if self.family_name != expected and self.carried is None:
            raise Skip(f"base image {resolved} is not an official {expected} image; harden cannot tell "
                       f"which runtime the production stage would need for these {eco} installs (nor whether "
                       f"a virtualenv or a binary built there runs on another image); build FROM the official "
                       f"{expected} image, or split it by hand")
        for k in ("CMD", "ENTRYPOINT"):
            last = self.stage.last(k)
            if last is not None and re.search(r"\b(poetry|pipenv|uv)\s+run\b", last.value):
                raise Skip(f"{k} at line {last.startline + 1} runs through `{re.search(r'(poetry|pipenv|uv) run', last.value).group(0)}`, "
                           "a tool the production stage would not have; call the commands directly (the "
                           "environment's bin folder is first on PATH in production), then run harden again")
        if eco == "python":
            # compose replaces the image's start command: one that runs the installer itself
            # (`command: poetry run uvicorn ...`) needs a tool only the builder has
            for text, where in self._compose_starts():
                for words in _start_segments(text):
                    if _base(words[0]) in PY_BUILDER_TOOLS:
                        raise Skip(f"{where} runs `{' '.join(words[:3])}`: {_base(words[0])} is installed only in the "
                                   "builder stage, so the production image would not have it (the container would "
                                   "fail to start); run the app from the virtualenv instead (`uvicorn ...`, "
                                   "`python -m ...`), then run harden again")
        builder, production, prod_from = getattr(self, f"_plan_{eco}")()
        return self._assemble(builder, production, prod_from)

    # ------------------------------------------------------------- the installing user
    def _install_user(self, items: list[Item], eco: str) -> str | None:
        """``USER node`` before ``npm ci`` (``USER app`` before ``pip install --user``): each USER
        above the last build step stays where it is, in both stages, so the builder installs as
        that user, as before, and production runs the later steps as it. The user the build
        steps run as (None: root) owns what production copies from the builder (``--chown``)."""
        users = [i for k, i in enumerate(items) if i.inst.instruction == "USER" and k < self.cut]
        if not users:
            return None
        if eco == "go":
            raise Skip(f"USER at line {users[0].line} comes before the Go build: production starts from another "
                       "image, where that user does not exist; split this Dockerfile by hand")
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

    def _copy_from_builder(self, path: str) -> str:
        """``COPY --from=builder`` of what the builder made: owned by the user who made it (or
        the owner a ``chown -R`` beside the install gave it)."""
        owner = self.install_user or getattr(self, "copy_owner", None)
        chown = f"--chown={owner} " if owner else ""
        return f"COPY --from={self.builder_alias} {chown}{path} {path}"

    # ------------------------------------------------------------- file commands beside an install
    def _carry_file_steps(self, roots: list[str]) -> None:
        """A build RUN that also runs simple file commands stays whole in the builder. What
        production copies from the builder (``roots``: the virtualenv, the Node work directory)
        carries their effects there; production runs, in a RUN at the same place, the ones it
        would otherwise lack (``mkdir -p /app/uploads`` when it copies only the virtualenv), and a
        ``chown -R`` of a copied folder becomes ``--chown`` of the copy. Refused, naming the
        command, when an effect cannot be named or would not hold in production."""
        # what production has at each point: folders (WORKDIR, made by a file command) and the
        # trees its own COPY instructions write
        exists: list[str] = sorted(_SYSTEM_DIRS)
        trees: list[str] = []
        for i in self.items:
            if i.inst.instruction == "WORKDIR" and "$" not in i.workdir:
                exists.append(i.workdir)
            elif i.dest and self._copy_in_production(i) and _abspath(i.dest, i.workdir):
                trees.append(_abspath(i.dest, i.workdir))
            elif i.cls == "build" and any(c.kind == "file" for c in i.cmds):
                i.prod_run = self._file_steps(i, roots, exists, trees)

    def _copy_in_production(self, item: Item) -> bool:
        if item.cls == "copy_from":
            return True
        if item.cls != "copy":
            return False
        return not item.in_workdir if self.eco == "node" else not item.manifest

    def _file_steps(self, item: Item, roots: list[str], exists: list[str], trees: list[str]) -> list[str]:
        """The production RUN lines for the file commands of one build RUN (may be none)."""
        keep: list[list[str]] = []
        for c, cwd in _walk_cwd(item):
            op = _file_op(c.words) if c.kind == "file" else None
            if op is None:
                continue
            shown = f"`{' '.join(_strip_prefix(c.words))}` at line {item.line}"
            paths = [(p, _abspath(p, cwd)) for p in op.writes + op.reads]
            unnamed = [p for p, a in paths if a is None]
            if unnamed:
                raise Skip(f"{shown}: harden cannot tell which files it changes ({unnamed[0]}); split that RUN by hand first")
            writes = [_abspath(p, cwd) for p in op.writes]
            carried = [w for w in writes if any(_under(w, r) for r in roots)]
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
                           and not any(_under(w, t) for t in trees)]
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
        owned = []
        for w in writes:
            for r in roots:
                if _under(w, r) and not (w == r and op.recursive):
                    raise Skip(f"{shown} changes the owner of part of {r}, which production copies from the "
                               "builder (the copy does not keep owners); split that RUN by hand first")
                if _under(r, w) and w != r and op.recursive:
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

    def _install_folder_said(self) -> str:
        """`` (`npm install` at line 7 runs in /tmp/app, after `cd`)``, when a ``cd`` says so."""
        for i in self.items:
            for c, cwd in (_walk_cwd(i) if i.cls == "build" else ()):
                if c.kind == "install" and cwd not in (None, i.workdir):
                    return f" (`{' '.join(c.words[:2])}` at line {i.line} runs in {cwd}, after `cd`)"
        return ""

    def _node_outside_installs(self, wd: str) -> None:
        """``RUN cd /tmp/app && npm install`` installs outside the work directory production
        copies. A later RUN of file commands that copies from there into the work directory
        (``cp -a /tmp/app/node_modules /usr/src/app``) then runs in the builder only: production
        gets its result with the work directory. With no such RUN, refused."""
        dirs = {}
        for i in self.items:
            if i.cls != "build":
                continue
            for c, cwd in _walk_cwd(i):
                if c.kind == "install" and cwd is None:
                    raise Skip(f"`{' '.join(c.words[:3])}` at line {i.line} runs after a `cd` harden cannot "
                               "resolve: it cannot tell where the dependencies are installed")
                if c.kind == "install" and not _under(cwd, wd):
                    dirs.setdefault(cwd, (i, c))
        for d, (i, c) in dirs.items():
            used = False
            for j in self.items[self.items.index(i) + 1:self.cut + 1]:
                if not j.file_only:
                    continue
                ops = [(_file_op(x.words), cwd) for x, cwd in _walk_cwd(j) if x.kind == "other"]
                reads = [_abspath(p, cwd) for op, cwd in ops for p in op.reads]
                if not any(r and _under(r, d) for r in reads):
                    continue
                writes = [_abspath(p, cwd) for op, cwd in ops for p in op.writes if op.name != "mv" or p not in op.reads]
                if not all(w and _under(w, wd) for w in writes):
                    raise Skip(f"RUN at line {j.line} copies from {d}, where `{' '.join(c.words[:2])}` installed, to "
                               f"outside the work directory {wd} production copies; split this Dockerfile by hand")
                j.cls = "builder"
                used = True
            if not used:
                raise Skip(f"`{' '.join(c.words[:3])}` at line {i.line} installs in {d} (after `cd`), outside the "
                           f"work directory {wd} production copies from the builder; split this Dockerfile by hand")
            for j in self.items[:self.items.index(i)]:  # its manifests (COPY package*.json /tmp/app/)
                dest = _abspath(j.dest, j.workdir) if j.cls == "copy" and j.manifest else None
                if dest and _under(dest, d):
                    j.cls = "builder"

    def _user_site(self, items: list[Item]) -> str | None:
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
        if self.install_user is None:
            raise Skip(f"`{' '.join(c.words[:3])} ... --user` at line {i.line} installs into root's home, outside "
                       "an environment harden can copy; split this Dockerfile by hand")
        env = {}
        for it in items[:items.index(i)]:
            if it.inst.instruction == "ENV":
                env.update(_env_pairs(it.inst.value))
        if env.get("PYTHONUSERBASE", "").startswith("/"):
            return env["PYTHONUSERBASE"]
        if env.get("HOME", "").startswith("/"):
            return posixpath.join(env["HOME"], ".local")
        home = self._home_of(items, self.install_user.split(":", 1)[0])
        if home is None:
            raise Skip(f"`{' '.join(c.words[:3])} ... --user` at line {i.line} installs into the home of user "
                       f"{self.install_user}, which harden cannot find in this Dockerfile; set ENV HOME (or "
                       "PYTHONUSERBASE) before it, then run harden again")
        return posixpath.join(home, ".local")

    @staticmethod
    def _home_of(items: list[Item], user: str) -> str | None:
        """The home folder of ``user`` (a name or UID) as the RUN that creates it sets it:
        useradd ``-d``/``--home-dir`` (else /home/<name>), Debian's adduser ``--home`` (else
        /home/<name>; a ``--system`` user has none), BusyBox adduser ``-h`` (else /home/<name>)."""
        for i in items:
            if i.inst.instruction != "RUN":
                continue
            for c in i.cmds:
                w = _strip_prefix(c.words)
                if not w or _base(w[0]) not in ("useradd", "adduser"):
                    continue
                pos, opts = _positional(w[1:], {"-d", "--home-dir", "--home", "-h", "-u", "--uid", "-g", "--gid",
                                                "-G", "--groups", "--ingroup", "-s", "--shell", "-c", "--comment",
                                                "--gecos", "-b", "--base-dir", "-k", "--skel", "-K", "-e", "-f"})
                name = pos[-1] if pos else ""
                uids = opts.get("-u", []) + opts.get("--uid", [])
                if user not in (name, *uids) or not name:
                    continue
                home = (opts.get("-d") or opts.get("--home-dir") or opts.get("--home") or opts.get("-h") or [None])[-1]
                if home:
                    return home if home.startswith("/") else None
                if _base(w[0]) == "adduser" and "--system" in opts:
                    return None
                base = (opts.get("-b") or opts.get("--base-dir") or ["/home"])[-1]
                return posixpath.join(base, name)
        return None

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

    def _pkgs(self, items: list[Item]):
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

    def _runtime_for(self, items: list[Item], line: int | None, *, base_has: set[str] = frozenset(),
                     release: str | None = None) -> tuple[list[str], bool]:
        """Runtime packages for the packages these RUNs install; (packages, any build-only)."""
        from harden import runtime_libs as rl

        fam, pkgs, removed = self._pkgs(items)
        fam = fam or self.pkg_family
        out: list[str] = []
        build_only = False
        unknown = []
        for p in pkgs:
            name = rl.strip_version(p)
            if rl.is_build_only(p, fam) or (self.eco == "node" and name in NODE_BUILD_ONLY):
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

    def _gen(self, out: list[str], lines: list[str], *, airy: bool = True) -> None:
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

    def _pkg_run(self, pkgs: list[str], family: str) -> list[str]:
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
        from harden import runtime_libs as rl

        _, pkgs, _ = self._pkgs([item])
        names = {rl.strip_version(p) for p in pkgs}
        if names & FETCH_TOOLS:
            return True
        used = {_base(c.words[0]) for i in self.items if i.cls == "build" for c in i.cmds if c.words}
        return bool(names & used)

    def _split_pkg_runs(self, builder: list[str], production: list[str], k: int, i: Item, *,
                        base_has: set[str] = frozenset(), release: str | None = None,
                        ) -> None:
        """Place a pre-cut OS-package RUN: verbatim in the builder when it installs build tools,
        and its runtime part in production."""
        runtime, build_only = self._runtime_for([i], i.line, base_has=base_has, release=release)
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
            self._gen(production, self._pkg_run(runtime, self.pkg_family))

    def _tool_copy(self, item: Item) -> bool:
        """``COPY --from=<image> /uv /bin/uv``: a tool only builder steps call."""
        words = [w for w in item.inst.words() if not w.startswith("--")]
        if len(words) < 2:
            return False
        names = {_base(w.rstrip("/")) for w in words[:-1]} | ({_base(words[-1])} if not words[-1].endswith("/") else set())
        used_b = {_base(c.words[0]) for i in self.items if i.cls == "build" for c in i.cmds if c.words}
        after = [i for i in self.items if i.inst.instruction in ("RUN", "CMD", "ENTRYPOINT", "HEALTHCHECK")
                 and i.cls != "build"]
        return bool(names & used_b) and not (names & self._tools_in_prod(after))

    def _tools_in_prod(self, production_items: list[Item]) -> set[str]:
        """Command words production runs: in its RUN/CMD/ENTRYPOINT/HEALTHCHECK, in the
        `entrypoint`/`command` of the compose services that build this Dockerfile, and in the
        entrypoint scripts those start (read from the build context)."""
        words = set()
        starts = [(i.inst.instruction, i.inst.value) for i in production_items
                  if i.inst.instruction in ("HEALTHCHECK", "CMD", "ENTRYPOINT", "RUN")]
        starts += [("command", text) for text, _where in self._compose_starts()]
        for kind, value in starts:
            found = re.findall(r"[A-Za-z0-9_./-]+", value)
            words.update(_base(w) for w in found)
            if kind in ("CMD", "ENTRYPOINT", "command"):
                for w in found:
                    if re.search(r"\.(sh|bash)$|entrypoint|docker-entry|^start", _base(w)):
                        text = self._script_text(w)
                        words.update(_base(x) for x in re.findall(r"[A-Za-z0-9_./-]+", re.sub(r"(?m)#.*$", "", text)))
        return words

    def _script_text(self, path: str) -> str:
        return context_file_text(self.context, path)

    # ------------------------------------------------------------- python
    def _plan_python(self):
        from harden import runtime_libs as rl

        items, cut = self.items, self.cut
        if re.match(r"^2(?:\.|$|-)", self.rtag):
            raise Skip(f"{self.base} is Python 2: it has no `python3 -m venv` to install into; "
                       "split this Dockerfile by hand (or move to Python 3 first)")
        uv_pip = [i for i in items if i.cls == "build" and any(
            c.kind == "install" and _base(c.words[0]) == "uv" and c.words[1:2] == ["pip"] for c in i.cmds)]
        for i in items:
            if i.inst.instruction in ("ENV", "ARG") and uv_pip and i.inst.startline < uv_pip[-1].inst.startline and \
                    re.search(r"(?i)\bUV_SYSTEM_PYTHON(=|\s+)[\"']?(1|true|yes|on)\b", i.inst.value):
                raise Skip(f"UV_SYSTEM_PYTHON at line {i.line} makes `uv pip install` install into the system Python, "
                           "outside an environment harden can copy; split this Dockerfile by hand (or drop it: uv "
                           "then installs into the virtualenv VIRTUAL_ENV names)")
        user_site = self._user_site(items)
        if user_site is not None:
            first_install = next(k for k, i in enumerate(items) if i.cls == "build" and any(c.kind == "install" for c in i.cmds))
            return self._python_stages(user_site, own_venv=False, anchor=first_install, uv_sync=False)
        venv = self.ctx.opt("venv") or "/opt/venv"
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
            named = self._project_venv_named(items[first_install].workdir)
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
        self._tools_into_venv(items[anchor:], venv)
        return self._python_stages(venv, own_venv=own_venv, anchor=anchor, uv_sync=uv_sync)

    def _python_stages(self, venv: str, *, own_venv: bool, anchor: int, uv_sync: bool):
        """The builder and production lines around ``venv``, the environment production copies
        (a virtualenv, or the ``--user`` site), first made or used at item ``anchor``."""
        from harden import runtime_libs as rl

        items, cut = self.items, self.cut
        self._carry_file_steps([venv])
        prod_image, full = self._python_production_image(items)
        release = _release_of(self.rtag)
        base_has = rl.PYTHON_IMAGE_HAS_APK if self.alpine else rl.PYTHON_IMAGE_HAS_APT
        builder: list[str] = []
        production: list[str] = []
        venv_lines_b = [f"RUN python3 -m venv {venv}",
                        f"ENV VIRTUAL_ENV={venv} \\",
                        f'    PATH="{venv}/bin:$PATH"' + (" \\" if uv_sync else "")]
        if uv_sync:
            venv_lines_b.append(f"    UV_PROJECT_ENVIRONMENT={venv}")
        venv_at = anchor
        if own_venv and self.install_user:
            # the user installs into it: root makes it before the USER line and hands it over
            venv_at = max(k for k, i in enumerate(items[:anchor]) if i.inst.instruction == "USER")
            venv_lines_b[:1] = [f"RUN python3 -m venv {venv} \\", f"    && chown -R {self.install_user} {venv}"]
        venv_lines_p = [self._copy_from_builder(venv)]
        if own_venv:
            venv_lines_p += [f"ENV VIRTUAL_ENV={venv} \\", f'    PATH="{venv}/bin:$PATH"']
        build_items = [i for i in items if i.cls == "build"]
        extra_rt, _ = self._runtime_for(build_items, build_items[0].line, base_has=base_has, release=release)
        prod_items = [i for k, i in enumerate(items) if k > cut or i.cls in ("prod", "copy_from", "other", "both")
                      or (i.cls == "copy" and not i.manifest)]
        installed_rt = {rl.strip_version(p) for p in self._pkgs([i for i in items if i.cls == "pkg"])[1]}
        if full:
            # python:X-slim lacks the full image's libraries and tools
            srcbuilt = [(d, libs) for d, libs in rl.PYPI_SOURCE_BUILT.items() if self._python_requires(d)]
            for dist, libs in srcbuilt:
                for lib in (libs if not self.alpine else ()):
                    if lib not in extra_rt and lib not in installed_rt:
                        extra_rt.append(lib)
            tools = self._tools_in_prod(prod_items) & {"curl", "wget", "git"}
            for t in sorted(tools - installed_rt):
                extra_rt.append(t)
            msg = (f"production uses {prod_image} (the same Python at the same path as {self.base}, without "
                   f"compilers and headers); the builder keeps {self.base}")
            if srcbuilt or tools - installed_rt:
                added = [lib for _d, libs in srcbuilt for lib in libs] + sorted(tools - installed_rt)
                msg += f"; production installs {', '.join(dict.fromkeys(added))} that {self.base} had built in"
            msg += ". Packages compiled from source against other libraries of the full image need those " \
                   "libraries installed in production: build and run the image once"
            self.notes.append((self.stage.startline + 1, msg))
        for k, i in enumerate(items):
            if k > cut:
                production += i.out()
                continue
            if k == venv_at and own_venv:
                self._gen(builder, venv_lines_b, airy=False)
            if k == anchor:
                block = []
                extra_rt = [p for p in extra_rt if p not in self.emitted]
                self.emitted.update(extra_rt)
                if extra_rt:
                    block += self._pkg_run(extra_rt, self.pkg_family)
                self._gen(production, block + venv_lines_p)
            if i.cls == "both":
                builder += i.out()
                production += i.out()
            elif i.cls == "prod":
                production += i.out()
            elif i.cls == "copy":
                builder += i.out()
                if not i.manifest:
                    production += i.out()
            elif i.cls == "copy_from" and self._tool_copy(i):
                builder += i.out()
            elif i.cls in ("copy_from", "other"):
                builder += i.out()
                production += i.out()
            elif i.cls == "pkg":
                self._split_pkg_runs(builder, production, k, i, base_has=base_has, release=release)
            elif i.cls == "build":
                builder += i.out()
                self._gen(production, i.prod_run, airy=False)
        return builder, production, prod_image

    def _python_production_image(self, items: list[Item]) -> tuple[str, bool]:
        """The production base and whether it is the slim variant of a full image (then
        production lacks the full image's libraries and tools). A full ``python:X`` becomes
        ``python:X-slim``; an image that carries the official image (``python_image_carried``)
        becomes that official image, slim."""
        carried = getattr(self, "carried", None)
        if carried is not None:
            return self._carried_production_image(items, carried)
        full = self.family_name == "python" and not self.alpine and not re.search(r"slim|windows|nanoserver", self.rtag)
        if not full:
            return self.base, False
        if self.digest:
            self.notes.append((self.stage.startline + 1, f"production keeps {self.base}: it is pinned by digest and "
                               "the slim variant has another digest; pin python:<version>-slim by hand for a smaller image"))
            return self.base, False
        tag = self.tag or "latest"
        m = re.match(r"^(.*?)(-(?:%s))?$" % "|".join(DEBIAN_RELEASES), tag)
        core, rel = m.group(1), m.group(2) or ""
        new_tag = "slim" + rel if core == "latest" else f"{core}-slim{rel}"
        return f"{self.repo}:{new_tag}", True

    def _carried_production_image(self, items: list[Item], carried: str) -> tuple[str, bool]:
        """``ghcr.io/astral-sh/uv:python3.12-bookworm-slim`` is ``python:3.12-slim-bookworm`` with
        uv added: production starts from that official image (same Python, same path, same
        Debian), without uv; from the full ``...-bookworm`` variant it gets the slim one, as a
        full ``python:X`` does. Kept when production needs the image itself: no CMD/ENTRYPOINT
        of the Dockerfile's own (the image's default command would change), or uv at run time."""
        line = self.stage.startline + 1
        if self.stage.last("CMD") is None and self.stage.last("ENTRYPOINT") is None:
            self.notes.append((line, f"production keeps {self.base}: the Dockerfile has no CMD or ENTRYPOINT of its own, "
                               f"so it runs the image's default command, which {carried} does not have"))
            return self.base, False
        prod_items = [i for k, i in enumerate(items) if k > self.cut or i.cls in ("prod", "other", "both")]
        if self._tools_in_prod(prod_items) & {"uv", "uvx"}:
            self.notes.append((line, f"production keeps {self.base}: the image runs uv at run time, which {carried} "
                               "does not have"))
            return self.base, False
        repo, tag, _ = _split_image(carried)
        full = not self.alpine and "slim" not in tag
        prod = f"{repo}:{tag.replace('-', '-slim-', 1)}" if full else carried
        if not full:
            self.notes.append((line, f"production uses {prod}, the official image {self.base} is built on (the same "
                               "Python at the same path), without uv; the builder keeps "
                               f"{self.base}"))
        return prod, full

    def _tools_into_venv(self, items: list[Item], venv: str) -> None:
        """``RUN pip install poetry && poetry install``: with the virtualenv first on PATH, that pip
        is the virtualenv's, so the installer itself (and its dependencies) lands in what
        production copies. It still builds and runs; say how to keep it out."""
        for i in items:
            if i.cls != "build":
                continue
            for c in i.cmds:
                if c.kind != "tool" or not c.words:
                    continue
                w = _strip_prefix(c.words)
                args = w[3:] if re.fullmatch(r"python[0-9.]*", _base(w[0])) else w[1:]
                if not args or args[0] != "install":
                    continue
                pos, _ = _positional(args[1:], PIP_VALUE)
                tools = sorted({re.split(r"[<>=!~\[;@ ]", p, maxsplit=1)[0].lower() for p in pos}
                               - {"pip", "setuptools", "wheel"})
                if tools:
                    self.notes.append((i.line, f"`{' '.join(w[:2])} ... {', '.join(tools)}` runs after {venv} is first on "
                                       f"PATH, so {', '.join(tools)} goes into the virtualenv production copies; install "
                                       "it in a RUN of its own before the dependencies to keep it out of production"))

    def _project_venv_named(self, install_wd: str) -> str | None:
        """The in-project virtualenv (``<dir>/.venv``) the Dockerfile runs from, if it names one:
        ``uv sync`` (and poetry/pipenv set to in-project) create it beside the project, and a
        CMD ``/app/.venv/bin/gunicorn`` or ``ENV PATH=/app/.venv/bin:$PATH`` relies on that path.
        The venv harden creates must then live there too, or production runs a missing file."""
        found: list[str] = []
        for i in self.items:
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
            ignore = self._read(".dockerignore")
            if not re.search(r"(?m)^\s*(\*\*/)?/?\.venv/?\s*$", ignore):
                self.notes.append((self.stage.startline + 1, f"production copies the virtualenv to {venv}, inside the "
                                   "app folder: keep a local .venv out of the build context (add `.venv` to "
                                   ".dockerignore), or a later COPY of the app writes over it"))
        return venv

    def _python_requires(self, dist: str) -> bool:
        pat = re.compile(r"(?im)^\s*[\"']?%s\s*(?:[\[<>=!~;\"'@ ]|$)" % re.escape(dist))
        pat_toml = re.compile(r"(?im)^\s*[\"']?%s[\"']?\s*=" % re.escape(dist))
        seen: set[Path] = set()
        todo = [p for p in self.context.glob("*") if p.is_file() and (p.suffix in (".txt", ".in", ".toml", ".lock") or p.name.startswith("Pipfile"))]
        for d in ("requirements", "reqs"):
            if (self.context / d).is_dir():
                todo += [p for p in (self.context / d).glob("*") if p.is_file()]
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

    # --------------------------------------------------------------- node
    def _plan_node(self):
        items, cut = self.items, self.cut
        if any(c.kind == "install" and _base(c.words[0]) == "yarn" for i in items for c in i.cmds if c.words):
            if (self.context / ".yarnrc.yml").exists() or re.search(r'"packageManager"\s*:\s*"yarn@[2-9]', self._read("package.json")):
                raise Skip("yarn 2+ (berry) project: pruning dev dependencies needs "
                           "`yarn workspaces focus --production`; split this Dockerfile by hand")
        wd = items[cut].workdir
        if wd == "/" or "$" in wd:
            raise Skip("the install runs without a WORKDIR" + self._install_folder_said() + "; harden cannot tell "
                       "which files the build produced (set WORKDIR to the app's folder and install there)")
        self._node_outside_installs(wd)
        self._carry_file_steps([wd])
        cmds = [c for i in items if i.cls == "build" for c in i.cmds]
        pm = next(_base(c.words[0]) for c in cmds if c.kind == "install")
        needs_prune = any(c.kind == "build" for c in cmds) or not any(c.prod_only for c in cmds if c.kind == "install")
        steps = [c for c in cmds if c.kind in ("install", "build")]
        if steps and steps[-1].kind == "install" and steps[-1].prod_only:
            needs_prune = False  # the author's last step already reinstalls production dependencies only
        if needs_prune:
            self._check_dev_tools_at_start(items)
        prune = None
        if needs_prune:
            if pm == "npm":
                major = re.match(r"(\d+)", self.rtag)
                prune = "RUN npm prune --omit=dev" if not major or int(major.group(1)) >= 16 else "RUN npm prune --production"
            elif pm == "yarn":
                frozen = " --frozen-lockfile" if (self.context / "yarn.lock").exists() else ""
                prune = f"RUN yarn install --production{frozen}"
            elif pm == "pnpm":
                prune = "RUN pnpm prune --prod"
        # global tools (`npm i -g pm2`, `corepack enable`) that production runs are installed there too
        used = self._tools_in_prod([i for k, i in enumerate(items) if k > cut or i.cls in ("prod", "other", "both")])
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
        builder: list[str] = []
        production: list[str] = []
        copied = False
        for k, i in enumerate(items):
            if k > cut:
                if not copied:
                    self._gen(production, [self._copy_from_builder(wd)])
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
                if i.in_workdir:
                    if not copied:
                        self._gen(production, [self._copy_from_builder(wd)])
                        copied = True
                else:
                    production += i.out()
            elif i.cls in ("copy_from", "other"):
                builder += i.out()
                production += i.out()
            elif i.cls == "pkg":
                self._split_pkg_runs(builder, production, k, i, release=_release_of(self.rtag))
            elif i.cls == "builder":
                builder += i.out()
            elif i.cls == "build":
                builder += i.out()
                self._gen(production, i.prod_run, airy=False)
                if k in global_in_prod:
                    production += i.out()
                if k == cut and prune:
                    self._gen(builder, [prune], airy=False)
        if not copied:
            self._gen(production, [self._copy_from_builder(wd)])
        return builder, production, self._node_runtime_image(items, cut)

    def _check_dev_tools_at_start(self, items) -> None:
        """The prune removes devDependencies: a start command that runs one would fail in
        production. The start commands are the ones that really run: each compose service's
        `entrypoint`/`command` when it sets them (they replace the image's), the Dockerfile's
        ENTRYPOINT/CMD otherwise; followed through `npm|yarn|pnpm start|run X` into the
        package.json scripts (with their pre/post scripts), `npx`/`exec`, `sh -c`, and paths into
        node_modules/ (``./node_modules/nodemon/bin/nodemon.js``) or node_modules/.bin/.
        Refused with the tool and the way to it named."""
        import json

        try:
            pkg = json.loads(self._read("package.json") or "{}")
        except ValueError:
            return
        if not isinstance(pkg, dict):
            return
        dev = pkg.get("devDependencies") if isinstance(pkg.get("devDependencies"), dict) else {}
        deps = pkg.get("dependencies") if isinstance(pkg.get("dependencies"), dict) else {}
        scripts = pkg.get("scripts") if isinstance(pkg.get("scripts"), dict) else {}
        dev_only = {n for n in dev if n not in deps}
        global_bins = set().union(*(node_global_bins(c) for i in items for c in i.cmds)) if items else set()
        if not dev_only:
            return
        bins = {n: n for n in dev_only}
        for n in dev_only:
            bins.setdefault(n.rsplit("/", 1)[-1], n)
            for b in _NODE_DEV_BINS.get(n, ()):
                bins[b] = n
        texts = self._start_texts(items)
        seen: set[str] = set()
        k = 0
        while k < len(texts):
            text, where = texts[k]
            k += 1
            for words in _start_segments(text):
                w0 = _base(words[0])
                if w0 in ("npm", "yarn", "pnpm", "bun"):
                    rest = [w for w in words[1:] if not w.startswith("-")]
                    name = None
                    if rest[:1] in (["exec"], ["x"], ["dlx"]) and len(rest) > 1:
                        w0 = _base(rest[1])  # `npm exec nodemon`, `pnpm exec nodemon`: the bin itself
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
                if w0 in bins and w0 not in global_bins:
                    self._refuse_dev_tool(where, words, bins[w0])
                for w in words:
                    dep = _node_modules_package(w, bins)
                    if dep is not None and dep in dev_only and _base(w) not in global_bins:
                        self._refuse_dev_tool(where, words, dep)

    @staticmethod
    def _refuse_dev_tool(where: str, words: list[str], dep: str) -> None:
        raise Skip(f"{where} runs `{' '.join(words[:3])}` from the devDependency {dep}, which the "
                   "production prune removes (the container would fail to start); move it to "
                   "dependencies, then run harden again")

    def _start_texts(self, items) -> list[tuple[str, str]]:
        """(command text, where it is written) of every start command of this image: the
        Dockerfile's last ENTRYPOINT and CMD (`docker run` runs them), and each compose service's
        `entrypoint`/`command` that builds this Dockerfile (compose runs those instead)."""
        out: list[tuple[str, str]] = []
        for name in ("ENTRYPOINT", "CMD"):
            found = [i for i in items if i.inst.instruction == name]
            if found:
                out.append((found[-1].inst.value, f"{name} at line {found[-1].line}"))
        out += [(text, where) for text, where in self._compose_starts()]
        return out

    def _compose_starts(self) -> list[tuple[str, str]]:
        """(text, where) of the `entrypoint` and `command` each compose service that builds this
        Dockerfile sets (its merged definition: base + overrides, extends, anchors)."""
        out: list[tuple[str, str]] = []
        for use in getattr(self.unit, "uses", None) or []:
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

    def _node_runtime_image(self, items, cut) -> str:
        """The full node image holds compilers, headers and a Debian toolbox the app does not
        run with: production uses the slim variant of the same Node and Debian release
        (native modules built in the builder link against the same glibc)."""
        tag = self.tag or "latest"
        if (self.alpine or self.digest or "$" in self.base or re.search(r"slim|alpine|windows|nanoserver", tag)
                or _base(self.repo) != "node"):
            return self.base
        prod_items = [i for k, i in enumerate(items) if k > cut or i.cls in ("prod", "other", "both")]
        tools = self._tools_in_prod(prod_items) & {"curl", "wget", "git", "python3", "make", "g++", "gcc"}
        installed = {w for i in items if i.cls == "pkg" for c in i.cmds for w in c.words}
        missing = sorted(tools - installed)
        if missing:
            self.notes.append((self.stage.startline + 1, f"production keeps {self.base}: the image runs "
                               f"{', '.join(missing)} that node:*-slim does not have"))
            return self.base
        prod = f"{self.repo}:{'slim' if tag == 'latest' else tag + '-slim'}"
        self.notes.append((self.stage.startline + 1, f"production uses {prod} (the same Node on the same Debian "
                           f"release, without compilers, headers and the full image's tools); the builder keeps "
                           f"{self.base}. A native module that links a library of the full image needs that "
                           "library installed in production: build and run the image once"))
        return prod

    def _read(self, name: str) -> str:
        try:
            return (self.context / name).read_text(errors="replace")
        except OSError:
            return ""

    # ----------------------------------------------------------------- go
    def _plan_go(self):
        items, cut = self.items, self.cut
        for i in items:
            c = next((c for c in i.cmds if c.kind == "file"), None) if i.cls == "build" else None
            if c is not None:
                raise Skip(f"RUN at line {i.line} mixes the Go build with `{' '.join(c.words[:3])}`; split that RUN "
                           "by hand first")
        env_text = " ".join(i.inst.value for i in items if i.inst.instruction in ("ENV", "ARG"))
        # the RUN text as written: `CGO_ENABLED=1 go build` sets it in a prefix the commands drop
        run_text = " ".join(i.inst.value for i in items if i.cls == "build")
        sources = self._go_sources()
        gomod = self._read("go.mod")
        cgo_set = re.search(r"\bCGO_ENABLED=(\d)", env_text + " " + run_text)
        if cgo_set:
            cgo = cgo_set.group(1) == "1"
        else:
            cgo = bool(re.search(r'(?m)^import\s+"C"|^\s*"C"\s*$', sources)) or any(m in gomod for m in CGO_MODULES)
        binaries = self._go_binaries(gomod)
        needs_certs = bool(re.search(r'"(net/http|crypto/tls|net/smtp)"|https://', sources)) or bool(
            re.search(r"(?m)^require\b", gomod))
        needs_tz = "LoadLocation" in sources and '"time/tzdata"' not in sources
        reads_files = bool(GO_READS_FILES.search(sources))
        prod_items = [i for k, i in enumerate(items) if k > cut or i.cls in ("prod", "other", "copy_from")]
        shell = any(i.inst.instruction == "RUN" for i in prod_items) or any(
            i.inst.instruction in ("CMD", "ENTRYPOINT") and i.inst.exec_form() is None for i in prod_items) or any(
            i.inst.instruction == "HEALTHCHECK" and "NONE" not in i.inst.value.split()[:1] for i in prod_items)
        via_shell, script = self._go_start_command(prod_items, binaries)
        if via_shell or script:
            shell = True  # CMD ["sh", "-c", ...] or a start script: distroless has no shell
        if script:
            reads_files = True  # the script comes from the build context: production copies the app files
        from harden import runtime_libs as rl

        pkg_items = [i for k, i in enumerate(items) if i.cls == "pkg" and k <= cut]
        runtime, _ = self._runtime_for(pkg_items + [i for i in items if i.cls == "build"], None)
        runtime = [p for p in runtime if rl.strip_version(p) not in ("ca-certificates", "tzdata")]
        tools = self._tools_in_prod(prod_items) & {"curl", "wget"}
        release = _release_of(self.rtag)
        if self.alpine:
            m = re.search(r"alpine(3\.\d+)", self.rtag)
            prod_image = f"alpine:{m.group(1) if m else '3.20'}"
            fam = "apk"
            extra = (["ca-certificates"] if needs_certs else []) + (["tzdata"] if needs_tz else []) + sorted(tools - {"wget"})
            why = "Alpine, like the builder" if m else (
                f"Alpine, like the builder; the release is a guess, as {self.base} names none: use the "
                "Alpine release of your builder image")
        elif not cgo and not shell and not runtime and not tools:
            prod_image = "gcr.io/distroless/static-debian12:nonroot"
            fam, extra = None, []
            why = "a static binary needs no shell or libraries; distroless carries CA certificates and tzdata"
        else:
            if cgo and release is None:
                raise Skip(f"the Go build uses cgo and {self.base} names no Debian release; harden cannot pick a "
                           "production base with the same C library")
            prod_image = f"debian:{release or 'bookworm'}-slim"
            fam = "apt"
            extra = (["ca-certificates"] if needs_certs else []) + (["tzdata"] if needs_tz else []) + sorted(tools)
            why = "cgo links the C library" if cgo else "production needs a shell or packages"
        runtime = list(dict.fromkeys(runtime + extra))
        builder: list[str] = []
        production: list[str] = []
        cgo_line = None if cgo_set or cgo else "ENV CGO_ENABLED=0"
        rt_done = False
        first_go_build = next(k for k, i in enumerate(items) if i.cls == "build" and any(c.detail in ("build", "install") for c in i.cmds))
        for k, i in enumerate(items):
            if k > cut:
                production += i.out()
                continue
            if i.cls == "both":
                builder += i.out()
                production += i.out()
            elif i.cls == "prod":
                production += i.out()
            elif i.cls == "copy":
                builder += i.out()
                if reads_files and not i.manifest:
                    production += i.out()
            elif i.cls in ("copy_from", "other"):
                builder += i.out()
                production += i.out()
            elif i.cls == "pkg":
                builder += i.out()
                if runtime and not rt_done:  # packages first, where the author installed them
                    self._gen(production, self._pkg_run(runtime, fam))
                    rt_done = True
            elif i.cls == "build":
                if k == first_go_build and cgo_line:
                    builder.append(cgo_line)
                builder += i.out()
            if k == cut:
                block = self._pkg_run(runtime, fam) if runtime and not rt_done else []
                block += [f"COPY --from={self.builder_alias} {b} {b}" for b in binaries]
                block += self._go_path_env(binaries, prod_items)
                self._gen(production, block)
        names = ", ".join(binaries)
        msg = f"production runs {names} on {prod_image} ({why})"
        if not reads_files:
            msg += "; it holds only the binary: if the program reads files at run time (templates, " \
                   "migrations, config), COPY them into the production stage"
        self.notes.append((self.stage.startline + 1, msg))
        return builder, production, prod_image

    @staticmethod
    def _go_start_command(prod_items: list[Item], binaries: list[str]) -> tuple[bool, str | None]:
        """(runs a shell, start script) of the exec-form ENTRYPOINT/CMD: ``["sh", "-c", "..."]``
        needs a shell in production, ``["./entrypoint.sh"]`` a shell and the script, which comes
        from the build context, not from the builder's binaries."""
        entry = [i for i in prod_items if i.inst.instruction == "ENTRYPOINT"]
        start = entry[-1] if entry else next((i for i in reversed(prod_items) if i.inst.instruction == "CMD"), None)
        arr = start.inst.exec_form() if start is not None else None
        if not arr:
            return False, None
        first = arr[0]
        if _base(first) in ("sh", "bash", "ash", "dash", "zsh", "env"):
            return True, None
        path = first if first.startswith("/") else posixpath.normpath(posixpath.join(start.workdir, first)) \
            if "/" in first and "$" not in start.workdir else None
        if path in binaries or _base(first) in {_base(b) for b in binaries}:
            return False, None
        if first.endswith(".sh") or path is not None:
            return False, first
        return False, None

    def _go_path_env(self, binaries: list[str], prod_items: list[Item]) -> list[str]:
        """``go install`` puts the binary in /go/bin, which only the golang image has on PATH: a
        CMD that calls it by name (``CMD ["app"]``) would find nothing in the production image.
        Put the binary's folder on PATH there, as the builder had it."""
        default = {"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"}
        on_path: set[str] = set()
        for i in self.items:
            if i.inst.instruction == "ENV":
                for m in re.finditer(r"(?:^|\s)PATH[= ]\"?([^\s\"]+)", i.inst.value):
                    on_path.update(m.group(1).split(":"))
        called: set[str] = set()
        for i in prod_items:
            if i.inst.instruction in ("CMD", "ENTRYPOINT", "HEALTHCHECK", "RUN"):
                # names without a folder: a PATH lookup (``./app`` or ``/go/bin/app`` are not)
                called.update(w for w in re.findall(r"[^\s\"',;&|\[\]()]+", i.inst.value) if "/" not in w)
        dirs: list[str] = []
        for b in binaries:
            d = str(PurePosixPath(b).parent)
            if PurePosixPath(b).name in called and d not in default | on_path and d not in dirs:
                dirs.append(d)
        return [f'ENV PATH="{":".join(dirs)}:$PATH"'] if dirs else []

    def _go_sources(self) -> str:
        out = []
        total = 0
        for p in sorted(self.context.rglob("*.go")):
            if any(part in ("vendor", "node_modules", ".git", "testdata") for part in p.parts) or p.name.endswith("_test.go"):
                continue
            try:
                t = p.read_text(errors="replace")
            except OSError:
                continue
            out.append(t)
            total += len(t)
            if total > 5_000_000:
                break
        return "\n".join(out)

    def _go_binaries(self, gomod: str) -> list[str]:
        out: list[str] = []
        for i in self.items:
            if i.cls != "build":
                continue
            cwd: str | None = i.workdir  # `cd` inside the RUN moves it; None: cannot tell
            for c in i.cmds:
                w = _strip_prefix(c.words)
                if w and _base(w[0]) == "cd":
                    to = w[1] if len(w) > 1 else ""
                    if not to or to == "-" or "$" in to or to.startswith("~") or cwd is None or "$" in cwd:
                        cwd = None
                    else:
                        cwd = posixpath.normpath(to if to.startswith("/") else posixpath.join(cwd, to))
                    continue
                if c.detail not in ("build", "install"):
                    continue
                if cwd is None:
                    raise Skip(f"`cd` to a folder harden cannot resolve before `go {c.detail}` at line {i.line}: "
                               "it cannot tell where the binary is")
                if cwd != i.workdir and not self._go_names_binary(w[2:], c.detail):
                    raise Skip(f"`cd` before `go {c.detail}` at line {i.line}: the binary is named after the go.mod "
                               "of that folder, which harden does not map back to the build context")
                args = w[2:]
                pos, opts = _positional(args, {"-o", "-ldflags", "-tags", "-gcflags", "-asmflags", "-mod", "-p",
                                               "-buildmode", "-trimpath", "-pkgdir", "-modfile", "-overlay"})
                pkgs = [p for p in pos if not p.endswith(".go")] or ["."]
                if c.detail == "install":
                    name = self._pkg_name(pkgs[0].split("@")[0], gomod)
                    gobin = re.search(r"\bGOBIN[= ]\"?([^\s\"]+)", " ".join(x.inst.value for x in self.items if x.inst.instruction == "ENV"))
                    out.append(f"{gobin.group(1) if gobin else '/go/bin'}/{name}")
                    continue
                o = (opts.get("-o") or [None])[-1]
                files = [p for p in pos if p.endswith(".go")]
                if o is None and files:
                    # `go build main.go util.go` writes ./main: named after the first file, in the
                    # current folder (not the package's name, not the file's folder)
                    o = PurePosixPath(files[0]).name[:-3]
                if o is None:
                    if len(pkgs) != 1:
                        raise Skip(f"`go build` at line {i.line} builds several packages and names no output")
                    o = self._pkg_name(pkgs[0], gomod)
                if o.endswith("/") or "$" in o:
                    raise Skip(f"`go build -o {o}` at line {i.line}: harden cannot tell the binary's path")
                if not o.startswith("/"):
                    if "$" in i.workdir:
                        raise Skip(f"WORKDIR {i.workdir} is a variable; harden cannot tell where the binary is")
                    o = posixpath.normpath(posixpath.join(cwd or i.workdir, o))
                out.append(o)
        if not out:
            raise Skip("no `go build`/`go install` step: harden cannot tell which binary production runs")
        return list(dict.fromkeys(out))

    @staticmethod
    def _go_names_binary(args: list[str], detail: str) -> bool:
        """Whether the binary's name follows from the command alone (``-o``, source files, or a
        package path), not from the current folder's go.mod."""
        pos, opts = _positional(args, {"-o", "-ldflags", "-tags", "-gcflags", "-asmflags", "-mod", "-p",
                                       "-buildmode", "-trimpath", "-pkgdir", "-modfile", "-overlay"})
        if detail == "build" and ("-o" in opts or any(p.endswith(".go") for p in pos)):
            return True
        pkgs = [p for p in pos if not p.endswith(".go")] or ["."]
        return pkgs[0].split("@")[0] not in (".", "./")

    def _pkg_name(self, pkg: str, gomod: str) -> str:
        if pkg in (".", "./"):
            m = re.search(r"(?m)^module\s+(\S+)", gomod)
            if not m:
                raise Skip("`go build`/`go install` of the current folder without go.mod in the build context "
                           "(GOPATH mode): harden cannot tell the binary's name")
            pkg = m.group(1)
        parts = [p for p in pkg.strip("./").split("/") if p and p != "..."]
        if not parts:
            raise Skip(f"cannot tell the binary name of `{pkg}`")
        if re.fullmatch(r"v\d+", parts[-1]) and len(parts) > 1:
            parts.pop()
        return parts[-1]
