"""A cache of app-source facts between runs.

Reading the app's source needs libcst, whose import alone costs ~200 ms: more than everything
else `harden diff` does on a small project. Facts depend only on the build context's files, the
command and the project's service names, so they are kept in the user's cache folder
(``$HARDEN_CACHE_DIR``, else ``$XDG_CACHE_HOME/harden``, else ``~/.cache/harden``) under a key
made of those inputs and the analysing code's own version, and checked against a fingerprint of
the context (path, size and mtime of every file in it). A changed, added or removed file means a
fresh analysis. ``HARDEN_NO_CACHE=1`` turns the cache off. Nothing is ever written into the
project, and a cache that cannot be read or written is simply not used.
"""

from __future__ import annotations

from . import record
import json
import os
from pathlib import Path
from typing import Any, Callable

from . import __version__

try:  # hashlib loads OpenSSL (~5 ms at start-up); blake2 is built into CPython
    from _blake2 import blake2b as _hash
except ImportError:  # pragma: no cover - other Pythons
    from hashlib import blake2b as _hash

MAX_ENTRIES = 20_000
_SKIP = {".git", ".hg", ".svn", "node_modules", "__pycache__", ".venv", "venv", ".tox", ".nox",
         ".mypy_cache", ".pytest_cache", ".ruff_cache", "site-packages", "dist", "build"}


def cache_dir() -> Path | None:
    if os.environ.get("HARDEN_NO_CACHE"):
        return None
    explicit = os.environ.get("HARDEN_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "harden"


def fingerprint(context: Path) -> str | None:
    """A hash of (path, size, mtime) of every file under ``context``; None when too many."""
    h = _hash(digest_size=32)
    count = 0
    stack = [Path(context)]
    while stack:
        folder = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue
        for e in entries:
            try:
                if e.is_dir(follow_symlinks=False):
                    if e.name not in _SKIP and not e.name.endswith(".egg-info"):
                        stack.append(Path(e.path))
                    continue
                st = e.stat(follow_symlinks=False)
            except OSError:
                continue
            count += 1
            if count > MAX_ENTRIES:
                return None
            h.update(f"{e.path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest()


def _code_version() -> str:
    parts = [__version__]
    here = Path(__file__).resolve().parent
    for name in ("app_source.py", "facts.py", "facts_cache.py"):
        try:
            st = (here / name).stat()
            parts.append(f"{name}:{st.st_size}:{st.st_mtime_ns}")
        except OSError:
            parts.append(name)
    return "|".join(parts)


def _to_json(facts: Any) -> Any:
    def conv(x: Any) -> Any:
        if isinstance(x, (set, frozenset)):
            return {"__set__": sorted(conv(v) for v in x)}
        if isinstance(x, (list, tuple)):
            return [conv(v) for v in x]
        if isinstance(x, dict):
            return {k: conv(v) for k, v in x.items()}
        return x

    return conv(record.asdict(facts))


def _from_json(cls: Any, data: dict) -> Any:
    from .facts import Evidence

    def conv(x: Any) -> Any:
        if isinstance(x, dict) and "__set__" in x:
            return set(x["__set__"])
        return x

    values = {k: conv(v) for k, v in data.items()}
    if "evidence" in values:
        values["evidence"] = [Evidence(**e) if isinstance(e, dict) else e for e in values["evidence"]]
    names = set(record.fields(cls))
    return cls(**{k: v for k, v in values.items() if k in names})


def cached_facts(context: Path, command: Any, service_names: Any, compute: Callable[[], Any]) -> Any:
    """``compute()``'s result, from the cache when the context has not changed since."""
    folder = cache_dir()
    if folder is None:
        return compute()
    fp = fingerprint(context)
    if fp is None:
        return compute()
    names = service_names if isinstance(service_names, str) else sorted(service_names)
    key_src = json.dumps([_code_version(), str(Path(context).resolve()), command, names], default=str)
    key = _hash(key_src.encode(), digest_size=32).hexdigest()
    path = folder / "facts-v1" / key[:2] / f"{key}.json"
    from .facts import SourceFacts

    try:
        with open(path, encoding="utf-8") as f:
            entry = json.load(f)
        if entry.get("fingerprint") == fp:
            return _from_json(SourceFacts, entry["facts"])
    except (OSError, ValueError, TypeError, KeyError):
        pass
    facts = compute()
    if facts is None:
        return None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({"fingerprint": fp, "facts": _to_json(facts)}, f)
        os.replace(tmp, path)
    except (OSError, TypeError, ValueError):
        pass
    return facts
