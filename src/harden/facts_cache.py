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


_CODE_VERSION: list[str] = []


def _code_version() -> str:
    if not _CODE_VERSION:
        _CODE_VERSION.append(_read_code_version())
    return _CODE_VERSION[0]


def _read_code_version() -> str:
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


def _slot(context: Path, command: Any, service_names: Any,
          fingerprints: dict[str, str | None] | None = None) -> tuple[Path, str] | None:
    """Where the facts for these inputs are cached, and the context's fingerprint; None when
    the cache is off or the context too large to fingerprint. ``fingerprints`` keeps them
    for inputs that share a context."""
    folder = cache_dir()
    if folder is None:
        return None
    if fingerprints is None:
        fp = fingerprint(context)
    else:
        if str(context) not in fingerprints:
            fingerprints[str(context)] = fingerprint(context)
        fp = fingerprints[str(context)]
    if fp is None:
        return None
    names = service_names if isinstance(service_names, str) else sorted(service_names)
    key_src = json.dumps([_code_version(), str(Path(context).resolve()), command, names], default=str)
    key = _hash(key_src.encode(), digest_size=32).hexdigest()
    return folder / "facts-v1" / key[:2] / f"{key}.json", fp


def _load(slot: tuple[Path, str] | None) -> Any:
    if slot is None:
        return None
    path, fp = slot
    from .facts import SourceFacts

    try:
        with open(path, encoding="utf-8") as f:
            entry = json.load(f)
        if entry.get("fingerprint") == fp:
            return _from_json(SourceFacts, entry["facts"])
    except (OSError, ValueError, TypeError, KeyError):
        pass
    return None


def _store(slot: tuple[Path, str] | None, facts: Any) -> None:
    # facts cut short by the time bound depend on the machine's load at the time: never kept
    if slot is None or facts is None or getattr(facts, "time_bound", False):
        return
    path, fp = slot
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({"fingerprint": fp, "facts": _to_json(facts)}, f)
        os.replace(tmp, path)
    except (OSError, TypeError, ValueError):
        pass


def cached_facts(context: Path, command: Any, service_names: Any, compute: Callable[[], Any]) -> Any:
    """``compute()``'s result, from the cache when the context has not changed since."""
    slot = _slot(context, command, service_names)
    facts = _load(slot)
    if facts is not None:
        return facts
    facts = compute()
    _store(slot, facts)
    return facts


# ------------------------------------------------------------------ many contexts at once

_GROUPS: list[list[tuple[Any, Callable[[], Any]]]] = []


def _run_group(index: int) -> list[tuple[Any, Any]]:
    return [(key, compute()) for key, compute in _GROUPS[index]]


def facts_for(tasks: list[tuple[Any, Path, Any, Any, Callable[[], Any]]], jobs: int) -> dict[Any, Any]:
    """Facts for many inputs at once: ``tasks`` are ``(key, context, command, service_names,
    compute)``; returns ``{key: facts}``, as :func:`cached_facts` would give them one by one.

    What the cache does not hold is computed build context by build context (inputs that share
    a context are read in one process, which parses each file once for all of them). The
    contexts are independent: with ``jobs`` > 1 and more than one context to read, they are
    spread over forked worker processes. Which process reads which context changes nothing in
    the result."""
    out: dict[Any, Any] = {}
    groups: dict[str, list[tuple[Any, Callable[[], Any]]]] = {}
    slots: dict[Any, Any] = {}
    fingerprints: dict[str, str | None] = {}
    for key, context, command, names, compute in tasks:
        slot = _slot(context, command, names, fingerprints)
        facts = _load(slot)
        if facts is not None:
            out[key] = facts
            continue
        slots[key] = slot
        groups.setdefault(str(context), []).append((key, compute))
    ordered = [groups[c] for c in sorted(groups)]
    results: list[tuple[Any, Any]] = []
    if len(ordered) > 1 and jobs > 1 and hasattr(os, "fork"):
        results = _in_workers(ordered, jobs)
    else:
        for group in ordered:
            results += [(key, compute()) for key, compute in group]
    for key, facts in results:
        out[key] = facts
        _store(slots.get(key), facts)
    return out


def _in_workers(groups: list[list[tuple[Any, Callable[[], Any]]]], jobs: int) -> list[tuple[Any, Any]]:
    """Run the groups in ``jobs`` processes: this one and ``jobs - 1`` forked children, each
    taking every ``jobs``-th group; a child sends its facts back as JSON on a pipe. What a child
    fails to deliver (it could not start, or broke), this process reads itself."""
    from .facts import SourceFacts

    _GROUPS[:] = groups
    workers = min(jobs, len(groups))
    shares = [list(range(w, len(groups), workers)) for w in range(workers)]
    children: list[tuple[int, int, list[int]]] = []
    mine = list(shares[0])
    try:
        for share in shares[1:]:
            try:
                r, wfd = os.pipe()
                pid = os.fork()
            except OSError:
                mine += share
                continue
            if pid == 0:  # the child: read its share, send it, and leave without any cleanup
                code = 1
                try:
                    os.close(r)
                    payload = [(_key_to_json(k), None if f is None else _to_json(f))
                               for i in share for k, f in _run_group(i)]
                    with os.fdopen(wfd, "wb") as pipe:
                        pipe.write(json.dumps(payload).encode())
                    code = 0
                finally:
                    os._exit(code)
            os.close(wfd)
            children.append((pid, r, share))
        results: list[tuple[Any, Any]] = []
        for i in mine:
            results += _run_group(i)
        keys = {_key_to_json(k): k for group in groups for k, _ in group}
        for pid, r, share in children:
            with os.fdopen(r, "rb") as pipe:
                data = pipe.read()
            _, status = os.waitpid(pid, 0)
            got = None
            if status == 0:
                try:
                    got = [(keys[k], None if f is None else _from_json(SourceFacts, f)) for k, f in json.loads(data)]
                except (ValueError, KeyError, TypeError):
                    got = None
            if got is None:
                got = [x for i in share for x in _run_group(i)]
            results += got
        return results
    finally:
        _GROUPS[:] = []


def _key_to_json(key: Any) -> str:
    return json.dumps(key, default=str)
