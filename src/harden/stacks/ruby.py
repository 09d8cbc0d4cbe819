"""Ruby: what harden knows about Rails and Puma for running as non-root.

Hooks (harden.stacks): writes_at_start, onbuild (non-root-user). A Dockerfile that runs bundler is not
split (shell.FOREIGN: which files it produces is not known).
"""

from __future__ import annotations

import re
from typing import Any

# Rails/Puma write tmp/pids/server.pid, tmp/cache and log/ inside the app folder at start-up
_RAILS_DIRS = ("tmp", "log")
_RAILS_CMD = re.compile(r"(?:^|[\s\"'/\[,])rails[\"',\s]+(?:server|s)\b")
_PUMA_CMD = re.compile(r"(?:^|[\s\"'/\[,])(?:puma|unicorn)\b")
_GEM = r"(?m)^\s*gem\s+['\"]{}['\"]"


def _gemfile(app: Any) -> str:
    try:
        g = app.context / "Gemfile"
        if g.is_file():
            return g.read_text(errors="replace")[:200000]
    except OSError:
        pass
    return ""


def writes_at_start(app: Any) -> tuple[str, tuple[str, ...]] | None:
    """"a Rails app" (its start command, or a Gemfile in the build context that lists rails) or
    "Puma" writes tmp/ and log/ beside its code (the repository ships tmp/pids/.keep, so the
    subfolders come root-owned from COPY); with sqlite3 in the Gemfile, Rails also writes the
    database: db/*.sqlite3 (Rails < 7.1), storage/ (7.1+)."""
    texts = [v for v in (app.entrypoint, app.cmd) if v is not None] + list(app.commands)
    gemfile = _gemfile(app)
    if re.search(_GEM.format("rails"), gemfile) or any(_RAILS_CMD.search(t) for t in texts):
        subs = _RAILS_DIRS
        if re.search(_GEM.format(re.escape("sqlite3")), gemfile):
            subs += ("db", "storage")
        return "a Rails app", subs
    if any(_PUMA_CMD.search(t) for t in texts):
        return "Puma", _RAILS_DIRS
    return None


def onbuild(ref: Any, alpine: bool) -> Any:
    """The official ``ruby:*-onbuild`` and ``rails:onbuild`` images (Debian) set WORKDIR
    /usr/src/app; their triggers copy the Gemfile, run ``bundle install`` and copy the app
    there, root-owned, before the Dockerfile's own steps (rails:onbuild then runs ``rails
    server``)."""
    from harden.stacks.system import BaseInfo

    return BaseInfo(ref.raw.strip(), "alpine" if alpine else "debian", workdir="/usr/src/app")
