"""Reading RUN instructions: the commands, their options, simple file commands, start commands.

``classify(words)`` says what one command of a RUN is (an OS package install, a helper, a
stack's install/build/tool, an installer harden does not know); the stack a command belongs
to reads it (``harden.stacks.of_command`` says which, so only that stack's module is loaded).
"""

from __future__ import annotations

import posixpath
import re
import shlex
from pathlib import PurePosixPath
from typing import Any

from harden.record import field, record

# installers and build tools harden does not know: which files they produce is not known, so a
# stage that runs one is not split
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
SEP = {"&&", "||", ";", "|", "&"}
# commands that neither install nor build
HELPERS = {"set", "true", "echo", "export", "cd", ":", "rm", "apt-mark", "update-ca-certificates"}


@record
class Cmd:
    """One command of a RUN, as harden reads it. ``eco``: the stack it belongs to."""

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


def base(word: str) -> str:
    """A command's program name: ``/usr/local/bin/pip3`` -> ``pip3``."""
    return PurePosixPath(word).name.lower() if word else ""


def split_shell(text: str) -> list[list[str]]:
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


def strip_prefix(words: list[str]) -> list[str]:
    """The command without ``VAR=value``, ``sudo``, ``exec``, ``env`` ... in front."""
    i = 0
    while i < len(words) and (re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[i]) or words[i] in ("sudo", "exec", "time", "env", "nice")):
        i += 1
    return words[i:]


def positional(args: list[str], with_value: set[str]) -> tuple[list[str], dict[str, list[str]]]:
    """(positional arguments, {option: [values]}); ``with_value``: options that take the next word."""
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


def classify(words: list[str]) -> Cmd:
    """What one command of a RUN is (``words`` as the shell splits it)."""
    from harden.stacks import get, of_command

    prefix = words[:len(words) - len(strip_prefix(words))]
    words = strip_prefix(words)
    if not words:
        return Cmd("helper")
    w0 = base(words[0])
    args = words[1:]
    # OS packages
    if w0 in ("apt-get", "apt", "aptitude"):
        pos, opts = positional(args, {"-o", "-t", "--target-release", "-c"})
        sub = pos[0] if pos else ""
        pkgs = [p for p in pos[1:]] if sub == "install" else []
        removed = [p for p in pos[1:]] if sub in ("purge", "remove") else []
        return Cmd("pkg", words=words, pkgs=pkgs, removed=removed, family="apt")
    if w0 == "apk":
        pos, opts = positional(args, {"-t", "--virtual", "-X", "--repository", "--repositories-file", "-p", "--root"})
        sub = pos[0] if pos else ""
        return Cmd("pkg", words=words, pkgs=pos[1:] if sub == "add" else [], removed=pos[1:] if sub == "del" else [], family="apk")
    if w0 in HELPERS or w0 == "find" and "-delete" in args:
        return Cmd("helper", words=words)
    stack = of_command(w0, args)
    if stack is not None:
        c = get(stack).classify(words, prefix)
        if c is not None:
            return c
    if w0 in FOREIGN:
        return Cmd("foreign", words=words, detail=FOREIGN[w0])
    if words[0] in ("./configure", "./mvnw", "./gradlew"):
        return Cmd("foreign", words=words, detail=FOREIGN[w0.lstrip("./")])
    return Cmd("other", words=words)


def run_commands(inst) -> list[list[str]]:
    """The commands of a RUN (shell or exec form), each as its words."""
    arr = inst.exec_form()
    if arr is not None:
        if len(arr) >= 3 and base(arr[0]) in ("sh", "bash", "ash", "dash") and arr[1] in ("-c", "-ec", "-ex", "-xc"):
            return split_shell(arr[2])
        return [arr]
    return split_shell(inst.args_without_flags())


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


def file_op(words: list[str]) -> FileOp | None:
    """``mkdir -p a b`` -> FileOp(mkdir, writes=[a, b]); None for anything else."""
    w = strip_prefix(words)
    if not w or base(w[0]) not in FILE_CMDS:
        return None
    name = base(w[0])
    pos, opts = positional(w[1:], {"-m", "--mode", "-t", "--target-directory", "--reference"})
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


def heredoc_may_install(inst) -> bool:
    """Whether a RUN heredoc names an installer or a build tool anywhere in its script."""
    return bool(_INSTALL_WORDS.search(inst.raw))


def separators(inst) -> set[str]:
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


def walk_cwd(item: Any):
    """(command, the folder it runs in) for each command of a RUN (``item.cmds``, starting in
    ``item.workdir``), following ``cd``; the folder is None after a ``cd`` harden cannot resolve."""
    cwd: str | None = item.workdir if "$" not in item.workdir else None
    for c in item.cmds:
        w = strip_prefix(c.words)
        if w and base(w[0]) == "cd":
            to = w[1] if len(w) > 1 else ""
            if not to or to == "-" or "$" in to or to.startswith("~") or cwd is None:
                cwd = None
            else:
                cwd = posixpath.normpath(to if to.startswith("/") else posixpath.join(cwd, to))
        yield c, cwd


def abspath(path: str, cwd: str | None) -> str | None:
    """An absolute path without variables; a glob stands for its folder. None: cannot tell."""
    if "$" in path or path.startswith("~") or (cwd is None and not path.startswith("/")):
        return None
    if any(ch in path for ch in "*?["):
        path = posixpath.dirname(path.split("*")[0].split("?")[0].split("[")[0]) or "."
    return posixpath.normpath(path if path.startswith("/") else posixpath.join(cwd, path))


def under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


# folders every base image has: a chown/chmod/cd there runs in production too
SYSTEM_DIRS = {"/", "/tmp", "/var", "/var/tmp", "/var/log", "/var/lib", "/var/cache", "/var/run", "/run", "/opt",
                "/srv", "/home", "/etc", "/usr", "/usr/local", "/usr/local/bin", "/usr/local/lib", "/usr/bin",
                "/usr/share", "/mnt", "/root"}


def env_pairs(value: str) -> dict[str, str]:
    """``ENV A=1 B="x y"`` / legacy ``ENV A 1`` -> {name: value}."""
    try:
        toks = shlex.split(value)
    except ValueError:
        toks = value.split()
    if toks and "=" not in toks[0]:
        return {toks[0]: " ".join(toks[1:])}
    return dict(t.split("=", 1) for t in toks if "=" in t)


# ---------------------------------------------------------------------------- start commands

SHELLS = {"sh", "bash", "ash", "dash", "zsh"}


START_PREFIX = {"npx", "exec", "cross-env", "dotenv", "--", "-y", "--yes", "env", "tini", "dumb-init", "gosu",
                 "su-exec", "nohup", "time"}


def start_segments(text: str) -> list[list[str]]:
    """The commands a start command runs, as word lists: split at ``&&``, ``||``, ``;`` and
    ``|``, exec-form brackets and quotes dropped, ``VAR=value``/``npx``/``exec``/``env`` and
    ``sh -c`` in front of a command skipped (``sh -c "npm start"`` runs ``npm start``)."""
    out: list[list[str]] = []
    for seg in re.split(r"&&|\|\||;|\|", re.sub(r"[\[\]\"',]", " ", text)):
        words = seg.split()
        while words:
            if re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]) or words[0] in START_PREFIX:
                words = words[1:]
            elif base(words[0]) in SHELLS and len(words) > 1 and re.fullmatch(r"-[a-z]*c[a-z]*", words[1]):
                words = words[2:]
            else:
                break
        if words:
            out.append(words)
    return out
