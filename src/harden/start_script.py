"""Start scripts: the shell script FILE a start command runs, read as the start command it is.

``CMD ["/opt/startup.sh"]``, ``sh start.sh``, ``bash /opt/x.sh``, ``./start.sh``: when the image
got that file by COPY/ADD from the build context, its source file is read and each command it
runs comes back as a start command of its own (``npm run migration:run``, ``python manage.py
migrate``, ``exec gunicorn ...``), so the transforms check them as they check a CMD.

A script harden cannot follow makes what the start runs *unknown*, with a reason that names the
script: its source is not in the build context, it sources another file, evaluates text, runs a
variable as a command, or has a shape the reader does not take (a here-document, unbalanced
quotes, ``case``). Commands inside conditions, loops and functions, or after ``||``, may run:
they are returned marked ``conditional`` (a check of what *may* run uses them, a check of what
*does* run does not). Waits (``wait-for-it.sh host:port``, ``wait-for``, ``dockerize -wait``) are
skipped, and the command a wait runs after ``--`` is followed. ``exec "$@"`` runs the image's CMD,
which the callers read as a start command already.

Pure reading: the caller says which files the image copied (``copies_of``) and where the build
context is; no harden transform state.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from pathlib import Path
from typing import Any, Iterable

from harden.record import field, record

_SHELLS = {"sh", "bash", "ash", "dash", "zsh", "ksh"}
# folders on the default PATH of the images: a bare `start.sh` is looked up there
_PATH_DIRS = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
# what waits for another service before the real start (its own script is not the app's)
_WAIT = re.compile(r"^(wait[-_]for(?:[-_]it)?(?:\.sh)?|dockerize)$", re.I)
_OPENERS = {"if", "while", "until", "for", "select", "{", "("}
_CLOSERS = {"fi", "done", "}", ")"}
_THEN = {"then", "do", "else", "elif"}
_ASSIGN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_REDIRECT = re.compile(r"^\d*(?:>>?|<|&>|>&|<&)(.*)$")
_ARGS = {'"$@"', "$@", "${@}", '"${@}"', "$*", '"$*"'}
_MAX_DEPTH = 4


@record
class Copy:
    """One COPY/ADD from the build context: its sources as written and the absolute destination."""

    srcs: list[str]
    dest: str  # absolute, as written (a trailing / kept)
    line: int  # 1-based


@record
class ScriptCommand:
    text: str  # the command, its words joined (redirections dropped)
    where: str  # `CMD at line 9 -> startup.sh line 5`
    conditional: bool = False  # inside a condition, loop or function, or after `||`: may run
    writes: list[str] = field(default_factory=list)  # files its output redirections write (`> prod.log`)
    cwd: str = "/"  # the folder it runs in (the working directory, or after a `cd`)


@record
class Followed:
    """What the start commands run, their scripts followed."""

    commands: list[ScriptCommand] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)  # why what a script runs cannot be told
    scripts: list[str] = field(default_factory=list)  # build-context files read (relative)
    unread: list[tuple[str, str]] = field(default_factory=list)  # (where, text) of scripts not followed


def copies_of(instructions: Iterable[Any]) -> tuple[list[Copy], str]:
    """The COPY/ADD instructions (no ``--from``) of a stage with their absolute destinations, and
    the stage's last WORKDIR ("/" without one; a WORKDIR with a variable leaves relative
    destinations unresolved)."""
    out: list[Copy] = []
    wd: str | None = "/"
    for inst in instructions:
        name = inst.instruction
        if name == "WORKDIR":
            w = inst.args_without_flags().strip().strip("\"'")
            if "$" in w:
                wd = None
            else:
                wd = posixpath.normpath(posixpath.join(wd or "/", w)) if wd is not None or w.startswith("/") else None
        elif name in ("COPY", "ADD") and not inst.heredoc and "from" not in inst.flags():
            words = [w for w in inst.words() if not w.startswith("--")]
            if len(words) < 2:
                continue
            srcs, dest = words[:-1], words[-1]
            if "$" in dest:
                continue
            if not dest.startswith("/"):
                if wd is None:
                    continue
                dest = posixpath.join(wd, dest) + ("/" if dest.endswith("/") or dest in (".", "./") else "")
            out.append(Copy(srcs, dest, inst.startline + 1))
    return out, wd or "/"


def source_of(path: str, copies: list[Copy], context: Path) -> tuple[Path | None, bool]:
    """The build-context file an image path came from: (file, True); (None, True) when a COPY
    puts something there harden cannot name (a pattern, a URL, a missing source); (None, False)
    when no COPY from the context writes that path (the base image has it, or a RUN made it)."""
    path = posixpath.normpath(path)
    for cp in reversed(copies):
        dest = cp.dest
        into_dir = dest.endswith("/") or len(cp.srcs) > 1
        dnorm = posixpath.normpath(dest)
        for src in reversed(cp.srcs):
            if re.match(r"^[a-z]+://", src):
                if posixpath.normpath(dest) == path or (into_dir and posixpath.dirname(path) == dnorm):
                    return None, True
                continue
            rel = src.lstrip("/")
            if any(ch in src for ch in "*?["):
                if posixpath.dirname(path) == dnorm or dnorm == path:
                    matches = sorted(context.glob(rel)) if rel else []
                    for m in matches:
                        if m.is_file() and (dnorm == path or m.name == posixpath.basename(path)):
                            return m, True
                    if dnorm == path:
                        return None, True
                continue
            srcpath = context / rel if rel not in ("", ".") else context
            if srcpath.is_dir():
                # a folder's contents go under dest
                if path == dnorm or path.startswith(dnorm.rstrip("/") + "/"):
                    sub = path[len(dnorm.rstrip("/")) + 1:] if path != dnorm else ""
                    cand = srcpath / sub
                    if cand.is_file():
                        return cand, True
                continue
            name = posixpath.basename(rel.rstrip("/"))
            target = posixpath.join(dnorm, name) if into_dir else dnorm
            if target == path or (not into_dir and posixpath.join(dnorm, name) == path):
                # `COPY start.sh /usr/local/bin` (an existing folder) lands at /usr/local/bin/start.sh
                return (srcpath if srcpath.is_file() else None), True
    return None, False


def _script_arg(words: list[str]) -> tuple[str | None, list[str]]:
    """The script file a command runs, and its arguments: ``sh x.sh a`` -> x.sh, ``./x.sh`` or
    ``/opt/x.sh`` -> itself; None for anything else (``sh -c``, a program)."""
    if not words:
        return None, []
    w0 = posixpath.basename(words[0])
    if w0 in _SHELLS:
        i = 1
        while i < len(words) and words[i].startswith("-"):
            if "c" in words[i][1:] and not words[i].startswith("--"):
                return None, []  # sh -c TEXT: read as text by the callers
            i += 1
        return (words[i], words[i + 1:]) if i < len(words) else (None, [])
    return words[0], words[1:]


def _strip(words: list[str]) -> list[str]:
    """Words without assignments, ``exec``/``env``/``nohup``/``time`` in front and redirections."""
    i = 0
    while i < len(words) and (_ASSIGN.match(words[i]) or words[i] in ("exec", "env", "nohup", "time", "command")):
        i += 1
    out: list[str] = []
    skip = False
    for w in words[i:]:
        if skip:
            skip = False
            continue
        m = _REDIRECT.match(w)
        if m:
            skip = m.group(1) == ""  # `> file`: the file is the next word
            continue
        out.append(w)
    return out


def redirect_targets(words: list[str]) -> list[str]:
    """The files a command's output redirections write (``> prod.log``, ``2>>err.log``), not
    ``/dev/*`` nor file descriptors (``2>&1``)."""
    out = []
    for k, w in enumerate(words):
        m = re.match(r"^\d*(?:>>?|&>>?)(.*)$", w)
        if not m:
            continue
        target = m.group(1) or (words[k + 1] if k + 1 < len(words) else "")
        if not target or target.startswith("&") or target.startswith("/dev/"):
            continue
        out.append(target)
    return out


@record
class Mount:
    """A bind mount of a compose service that runs the image: what it puts at ``dest``."""

    dest: str  # absolute container path
    host: Path | None  # the host file or folder; None when harden cannot place it (a variable ...)
    service: str


class _Reader:
    def __init__(self, copies: list[Copy], context: Path, workdir: str, mounts: list[Mount] | None = None):
        self.copies = copies
        self.context = context
        self.workdir = workdir
        self.mounts = mounts or []
        self.out = Followed()

    def mounted(self, path: str) -> list[tuple[Mount, Path | None]]:
        """The bind mounts that put a host file at image path ``path`` (the deepest mount of each
        service wins, as in Docker), with that host file (None when harden cannot place it)."""
        best: dict[str, tuple[Mount, Path | None]] = {}
        for m in self.mounts:
            d = m.dest.rstrip("/") or "/"
            if path != d and not path.startswith(d.rstrip("/") + "/"):
                continue
            if m.service in best and len(best[m.service][0].dest) >= len(m.dest):
                continue
            host = None if m.host is None else (m.host if path == d else m.host / posixpath.relpath(path, d))
            best[m.service] = (m, host)
        return list(best.values())

    def image_path(self, word: str, cwd: str) -> str | None:
        if "$" in word or word.startswith("~"):
            return None
        if word.startswith("/"):
            return posixpath.normpath(word)
        if "/" in word:
            return posixpath.normpath(posixpath.join(cwd, word))
        return None

    def script_file(self, words: list[str], cwd: str) -> tuple[str | None, Path | None, bool]:
        """(image path, source file, copied) of the script ``words`` run; copied False when it is
        not a file the image got from the build context."""
        script, _args = _script_arg(words)
        if script is None:
            return None, None, False
        shell = posixpath.basename(words[0]) in _SHELLS
        cands = []
        p = self.image_path(script, cwd)
        if p is not None:
            cands.append(p)
        elif "$" not in script:
            if shell:  # `sh start.sh`: a file of the working directory
                cands.append(posixpath.normpath(posixpath.join(cwd, script)))
            else:  # a bare name is looked up on PATH
                cands += [posixpath.join(d, script) for d in _PATH_DIRS]
        for c in cands:
            src, copied = source_of(c, self.copies, self.context)
            if copied:
                return c, src, True
        return (cands[0] if cands else script), None, False

    def follow_text(self, text: str | list, where: str, depth: int = 0, conditional: bool = False) -> None:
        """Follow the scripts one start command (CMD/ENTRYPOINT value, compose command) runs."""
        if isinstance(text, list):
            segments = [[str(w) for w in text]]
        else:
            t = text.strip()
            if t.startswith("["):
                import json

                try:
                    arr = json.loads(t)
                    segments = [[str(w) for w in arr]] if isinstance(arr, list) else []
                except ValueError:
                    segments = []
            else:
                segments = []
            if not segments:
                segments = self.shell_segments(t)
        for words in segments:
            self.follow_words(words, where, depth, conditional, self.workdir)

    def shell_segments(self, text: str) -> list[list[str]]:
        from harden.healthchecks import script_commands

        cmds = script_commands(text) or []
        out = []
        for cmd, _op in cmds:
            try:
                out.append(shlex.split(cmd))
            except ValueError:
                continue
        return out

    def follow_words(self, words: list[str], where: str, depth: int, conditional: bool, cwd: str) -> bool:
        """A command's words: follow the script it runs; True when it was a script."""
        words = _strip(words)
        if not words:
            return False
        if posixpath.basename(words[0]) in _SHELLS and len(words) > 2 and re.fullmatch(r"-[a-z]*c[a-z]*", words[1]):
            for seg in self.shell_segments(words[2]):
                self.follow_words(seg, where, depth, conditional, cwd)
            return False
        if _WAIT.match(posixpath.basename(words[0])):
            if "--" in words:
                rest = words[words.index("--") + 1:]
                if rest:
                    self.emit(rest, where, conditional, cwd)
                    self.follow_words(rest, where, depth, conditional, cwd)
            return True
        path, src, copied = self.script_file(words, cwd)
        # a compose service may bind-mount another file over it: compose runs that one, `docker
        # run` the image's own; both are followed
        mounted = self.mounted(path) if path and path.startswith("/") else []
        followed = False
        for m, host in mounted:
            via = f"{where} (bind-mounted by compose service {m.service})"
            if host is None or not host.is_file():
                if host is None or host.exists() or not copied:
                    self.out.unknown.append(f"{via} runs the script {path}, which harden cannot read on the host")
                    followed = True
                continue  # a host file that is not there: Docker mounts an empty folder, no script
            if src is not None and copied and host.resolve() == src.resolve():
                continue  # the build context's own file (`.:/app`): read once, below
            followed = self.follow_file(words, path, host, via, depth, conditional, cwd) or followed
        if not copied:
            return followed
        if src is None:
            self.out.unknown.append(f"{where} runs the script {path}, whose source harden cannot find in the "
                                    "build context (a pattern, a URL or a file that is not there)")
            return True
        return self.follow_file(words, path, src, where, depth, conditional, cwd) or followed

    def follow_file(self, words: list[str], path: str, src: Path, where: str, depth: int, conditional: bool,
                    cwd: str) -> bool:
        """Read the script file ``src`` that ``words`` run (at image path ``path``) and follow
        what it runs; False when it is not a shell script (a program run by its shebang)."""
        shown = posixpath.basename(path)
        try:
            text = src.read_text(errors="replace")
        except OSError:
            self.out.unknown.append(f"{where} runs the script {path}, which harden cannot read")
            return True
        first = text.split("\n", 1)[0]
        is_shell = posixpath.basename(words[0]) in _SHELLS or re.match(
            r"^#!\s*\S*/(?:env\s+)?(?:-S\s+)?(sh|bash|ash|dash|zsh|ksh)\b", first) or (
            not first.startswith("#!") and src.suffix in (".sh", ".bash"))
        if not is_shell:
            return False  # a program (python, node ...) run by its shebang: not a shell script
        if depth >= _MAX_DEPTH:
            self.out.unknown.append(f"{where} runs {shown} through more nested scripts than harden follows")
            return True
        try:
            rel = src.resolve().relative_to(self.context.resolve()).as_posix()
        except ValueError:
            rel = src.name
        if rel not in self.out.scripts:
            self.out.scripts.append(rel)
        self.read_script(text, f"{where} -> {rel}", depth + 1, conditional, cwd)
        return True

    def read_script(self, text: str, where: str, depth: int, conditional: bool, cwd: str) -> None:
        from harden.healthchecks import script_commands

        label = where.rsplit(" -> ", 1)[-1]
        if re.search(r"(?m)^\s*case\b", text):
            self.out.unknown.append(f"{where}: a `case` harden does not follow")
            self.out.unread.append((where, text))
            return
        cmds = script_commands(text)
        if cmds is None:
            self.out.unknown.append(f"{where}: harden cannot read it (a here-document or unbalanced quotes)")
            self.out.unread.append((where, text))
            return
        lines = _line_starts(text)
        depth_ctl = 0
        prev_op = ""
        chain_cond = False  # the current `&&` chain began with a test
        pos = 0
        for cmd, op in cmds:
            at = text.find(cmd.split("\n", 1)[0], pos)
            if at >= 0:
                pos = at + 1
            line = _line_of(lines, at) if at >= 0 else None
            here = f"{where} line {line}" if line else where
            try:
                words = shlex.split(cmd)
            except ValueError:
                self.out.unknown.append(f"{here}: harden cannot read `{cmd[:40]}`")
                prev_op = op
                continue
            # control words: what follows them is a command; a body may or may not run
            while words and (words[0] in _OPENERS or words[0] in _THEN or words[0] in _CLOSERS
                             or words[0] == "!" or re.fullmatch(r"[A-Za-z_][\w-]*\(\)", words[0])
                             or words[0] == "function"):
                w = words[0]
                if w in _OPENERS:
                    depth_ctl += 1
                    if w in ("for", "select"):
                        words = []  # the loop's header: the list it walks
                        break
                elif w in _CLOSERS:
                    depth_ctl = max(0, depth_ctl - 1)
                    words = []
                    break
                elif w == "function" or w.endswith("()"):
                    depth_ctl += 1  # a function's body runs when it is called
                    words = [x for x in words[1:] if x not in ("()", "{")]
                    if w == "function":
                        words = [x for x in words[1:] if x not in ("()", "{")]
                    continue
                words = words[1:]
            if len(words) >= 2 and words[1] == "()":
                depth_ctl += 1
                words = [x for x in words[2:] if x != "{"]
            cond = conditional or depth_ctl > 0 or prev_op == "||" or (prev_op == "&&" and chain_cond)
            if prev_op not in ("&&", "||"):
                chain_cond = False
            stripped = _strip(words)
            if stripped and stripped[0] in ("[", "[[", "test"):
                chain_cond = True
                prev_op = op
                continue
            prev_op = op
            if not stripped:
                continue
            w0 = stripped[0]
            if w0 in (".", "source", "eval"):
                self.out.unknown.append(f"{here} runs `{' '.join(stripped[:2])}`: harden does not follow what "
                                        f"{label} sources or evaluates")
                continue
            if " ".join(stripped) in _ARGS or stripped[0] in _ARGS:
                continue  # exec "$@": the image's CMD, read as a start command already
            if w0.startswith("$") or w0.startswith("`"):
                self.out.unknown.append(f"{here} runs a variable as a command (`{' '.join(stripped[:2])}`): "
                                        f"harden cannot tell what {label} runs")
                continue
            if w0 == "cd" and len(stripped) > 1 and "$" not in stripped[1] and not cond:
                cwd = posixpath.normpath(posixpath.join(cwd, stripped[1]))
                continue
            if self.follow_words(stripped, here, depth, cond, cwd):
                continue
            self.emit(words, here, cond, cwd)

    def emit(self, words: list[str], where: str, conditional: bool, cwd: str | None = None) -> None:
        self.out.commands.append(ScriptCommand(shlex.join(_strip(words)), where, conditional,
                                               redirect_targets(words), cwd or self.workdir))


def _line_starts(text: str) -> list[int]:
    starts = [0]
    for m in re.finditer("\n", text):
        starts.append(m.end())
    return starts


def _line_of(starts: list[int], offset: int) -> int:
    import bisect

    return bisect.bisect_right(starts, offset)


def follow(starts: Iterable[tuple[Any, str]], copies: list[Copy], context: Path, workdir: str,
           mounts: list[Mount] | None = None) -> Followed:
    """Follow the scripts the start commands (``(command, where)``: a CMD/ENTRYPOINT value, a
    compose ``command`` as text or list) run, the image's copies and what compose services
    bind-mount over them (``mounts``). Only what a script runs is returned: the start commands
    themselves are the callers' already."""
    r = _Reader(copies, Path(context), workdir, mounts)
    for text, where in starts:
        if text:
            r.follow_text(text, where)
    return r.out


def mounts_of(unit: Any) -> list[Mount]:
    """The bind mounts of the compose services that run a Dockerfile unit (their merged
    definitions). A host path is read relative to the compose file's folder; one that holds a
    variable, or is absolute or under ``~``, is a mount harden cannot place (host None)."""
    from harden.model import doc_dir, parse_volumes

    out: list[Mount] = []
    for use in getattr(unit, "uses", None) or []:
        project = use.project
        svc = project.service(use.service) if hasattr(project, "service") else None
        if svc is None:
            continue
        for kind, src, dst, _ro in parse_volumes(svc.merged.get("volumes")):
            dst = str(dst or "")
            if kind != "bind" or not dst.startswith("/") or "$" in dst:
                continue
            src = str(src or "")
            host = None
            if src and "$" not in src and not src.startswith(("/", "~")) and not (len(src) > 1 and src[1] == ":"):
                try:
                    host = (doc_dir(svc.doc) / src).resolve()
                except (OSError, RuntimeError):
                    host = None
            out.append(Mount(posixpath.normpath(dst), host, use.service))
    return out


def follow_unit(unit: Any, instructions: Iterable[Any], starts: Iterable[tuple[Any, str]]) -> Followed:
    """``follow`` for a Dockerfile unit: its stage's instructions say which files it copied, the
    compose services that run it which files they bind-mount over them."""
    copies, wd = copies_of(instructions)
    return follow(starts, copies, Path(unit.context), wd, mounts_of(unit))


# --------------------------------------------------------------------------- what a command is

# test runners and linters: an image whose start runs one is a test/CI image
_TEST_PROGRAMS = {"jest", "vitest", "mocha", "ava", "tap", "karma", "cypress", "playwright", "eslint", "tslint",
                  "prettier", "stylelint", "pytest", "py.test", "tox", "nox", "flake8", "pylint", "mypy", "ruff",
                  "black", "isort", "bandit", "rspec", "rubocop", "phpunit", "pest", "phpstan", "psalm", "behat",
                  "golangci-lint", "codecept"}
_TEST_SCRIPT = re.compile(r"^(test|tests|lint|e2e|spec|check|ci)([:_-].*)?$|^(test|lint|e2e)", re.I)


def runs_tests(words: list[str], scripts: dict | None = None) -> str | None:
    """The test suite or linter a start command runs (``npm test``, ``npm run test:e2e``, ``yarn
    lint``, ``jest``, ``pytest``, ``python -m pytest``, ``python manage.py test``, ``go test``,
    ``bundle exec rspec``), shown as written; None otherwise."""
    w = _strip(list(words))
    while w and w[0] in ("npx", "pnpx", "bunx", "--", "-y", "--yes"):
        w = w[1:]
    if not w:
        return None
    w0 = posixpath.basename(w[0])
    shown = " ".join(w[:3])
    if w0 in ("npm", "yarn", "pnpm", "bun"):
        rest = [x for x in w[1:] if not x.startswith("-")]
        if not rest:
            return None
        if rest[0] in ("test", "t", "tst"):
            return shown
        name = rest[1] if rest[0] in ("run", "run-script") and len(rest) > 1 else (
            rest[0] if w0 != "npm" else None)
        if name and _TEST_SCRIPT.match(name) and (scripts is None or name in scripts):
            return shown
        return None
    if w0 in _TEST_PROGRAMS:
        return shown
    if re.fullmatch(r"python[0-9.]*", w0) and len(w) > 2 and w[1] == "-m" and w[2] in _TEST_PROGRAMS:
        return shown
    if re.fullmatch(r"python[0-9.]*", w0) and len(w) > 2 and posixpath.basename(w[1]) == "manage.py" and w[2] == "test":
        return shown
    if w0 == "go" and len(w) > 1 and w[1] == "test":
        return shown
    if w0 == "bundle" and len(w) > 2 and w[1] == "exec" and posixpath.basename(w[2]) in _TEST_PROGRAMS:
        return shown
    if re.search(r"(?:^|/)vendor/bin/(phpunit|pest)$", w[0]):
        return shown
    return None


# installs at start: they write into the app's folder (or the system's)
def install_run(words: list[str]) -> str | None:
    """The package install a start command runs (``npm install``, ``npm ci``, ``yarn`` /
    ``yarn install``, ``pnpm install``, ``pip install`` (not ``--user``), ``poetry install``,
    ``pipenv install``, ``uv sync``, ``bundle install``, ``composer install``), shown as written;
    None otherwise."""
    w = _strip(list(words))
    if not w:
        return None
    w0 = posixpath.basename(w[0])
    rest = [x for x in w[1:] if not x.startswith("-")]
    shown = " ".join(w[:2])
    if w0 == "npm" and rest[:1] and rest[0] in ("install", "i", "ci", "add", "clean-install", "update"):
        return shown
    if w0 == "yarn" and (not rest or rest[0] in ("install", "add", "upgrade")) and not any(
            x in ("--version", "-v", "--help", "-h") for x in w[1:]):
        return shown
    if w0 == "pnpm" and rest[:1] and rest[0] in ("install", "i", "add", "update"):
        return shown
    if w0 == "bun" and rest[:1] and rest[0] in ("install", "i", "add"):
        return shown
    pip = re.fullmatch(r"pip[0-9.]*", w0) and rest[:1] == ["install"]
    pym = re.fullmatch(r"python[0-9.]*", w0) and w[1:4:2] == ["-m", "install"] and re.fullmatch(r"pip[0-9.]*", w[2] if len(w) > 2 else "")
    if (pip or pym) and "--user" not in w:
        return " ".join(w[:4] if pym else w[:2])
    if w0 in ("poetry", "pipenv") and rest[:1] in (["install"], ["sync"]):
        return shown
    if w0 == "uv" and (rest[:1] == ["sync"] or rest[:2] == ["pip", "install"]):
        return " ".join(w[:3] if rest[:1] == ["pip"] else w[:2])
    if w0 in ("bundle", "bundler") and (not rest or rest[0] in ("install", "update")):
        return shown
    if w0 == "composer" and rest[:1] and rest[0] in ("install", "update", "require"):
        return shown
    return None
