"""Files a container's start command writes, read from the command itself.

A server or worker told where to put its log, pid or state file (``celery worker
--logfile=logs/celery.log``, ``gunicorn --pid run/app.pid``) writes there as whatever user the
container runs as. non-root-user uses this to make those folders writable by the new user, and to
leave a Dockerfile alone when the file would land in a folder that a compose bind mount brings
from the host (the host's files keep their owner: a new UID cannot write there, where root could).

Pure functions over the command text; no I/O.
"""

from __future__ import annotations

import posixpath
import re
import shlex

# options whose value is a file the process writes (log, pid and state files of common servers
# and workers: celery, gunicorn, uwsgi, hypercorn, rq, supervisord, nginx-like daemons)
_FILE_OPTS = {
    "--logfile", "--log-file", "--pidfile", "--pid-file", "--pid", "--access-logfile",
    "--error-logfile", "--statedb", "--schedule", "--logto", "--daemonize",
}
# short options that take a file only in a given program (celery beat -s, -f of celery/uwsgi)
_SHORT_OPTS = {"celery": {"-s": "--schedule", "-f": "--logfile"}}
# values that are not files
_NOT_FILES = {"-", "", "/dev/stdout", "/dev/stderr", "/dev/null"}

_SHELLS = {"sh", "bash", "ash", "dash", "zsh"}


def _words(command: str | list) -> list[list[str]]:
    """The simple commands of a start command, as word lists (``sh -c "..."`` and ``&&``/``;``
    chains opened; a text shlex cannot read gives nothing)."""
    if isinstance(command, str) and command.lstrip().startswith("["):
        import json

        try:
            parsed = json.loads(command)
        except ValueError:
            parsed = None
        if isinstance(parsed, list):
            command = parsed  # the exec form of CMD/ENTRYPOINT
    if isinstance(command, list):
        words = [str(w) for w in command]
    else:
        try:
            words = shlex.split(str(command), comments=True)
        except ValueError:
            return []
    if len(words) >= 3 and posixpath.basename(words[0]) in _SHELLS and words[1] in ("-c", "-ec", "-ex", "-exc"):
        return _words(words[2])
    out: list[list[str]] = [[]]
    for w in words:
        if w in ("&&", "||", ";", "|"):
            out.append([])
        elif w.endswith(";") and len(w) > 1:
            out[-1].append(w[:-1])
            out.append([])
        else:
            out[-1].append(w)
    return [c for c in out if c]


def _program(words: list[str]) -> tuple[str, list[str]]:
    """The program a simple command runs and its arguments, past ``exec``, ``env X=Y``,
    ``python -m``, and ``poetry run``-style launchers."""
    i = 0
    while i < len(words):
        w = posixpath.basename(words[i])
        if w in ("exec", "env", "nohup") or re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", words[i]):
            i += 1
        elif re.fullmatch(r"python[0-9.]*", w) and i + 2 < len(words) and words[i + 1] == "-m":
            return words[i + 2], words[i + 3:]
        elif w in ("poetry", "pipenv", "uv", "pdm", "hatch") and i + 1 < len(words) and words[i + 1] == "run":
            i += 2
        else:
            return w, words[i + 1:]
    return "", []


def written_files(command: str | list | None) -> list[tuple[str, str]]:
    """(path as written, why) of each file the start command says it writes: the value of a
    log/pid/state file option, and the schedule file of Celery beat's default (persistent)
    scheduler, ``celerybeat-schedule`` in the working directory."""
    if not command:
        return []
    out: list[tuple[str, str]] = []
    for words in _words(command):
        prog, args = _program(words)
        short = _SHORT_OPTS.get(prog, {})
        beat = prog == "celery" and ("beat" in args or "-B" in args or "--beat" in args)
        schedule_given = custom_scheduler = False
        i = 0
        while i < len(args):
            a = args[i]
            name, eq, value = a.partition("=")
            if not eq:
                value = args[i + 1] if i + 1 < len(args) else ""
            name = short.get(name, name)
            if name in ("--scheduler", "-S"):
                custom_scheduler = "Persistent" not in value
            if name in _FILE_OPTS:
                if name == "--schedule":
                    schedule_given = True
                    if not beat:
                        i += 1
                        continue
                if name == "--daemonize" and prog != "uwsgi":
                    i += 1
                    continue
                if value not in _NOT_FILES and not value.startswith("-"):
                    out.append((value, f"`{prog} {name}`"))
                i += 1 if eq else 2
                continue
            i += 1
        if beat and not schedule_given and not custom_scheduler:
            out.append(("celerybeat-schedule", "Celery beat's schedule file (its default --schedule)"))
    return out


def resolve(path: str, workdir: str) -> str:
    """An absolute, normalised container path (relative ones from the working directory)."""
    return posixpath.normpath(path if path.startswith("/") else posixpath.join(workdir or "/", path))
