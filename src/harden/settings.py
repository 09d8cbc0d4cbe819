"""The config file: ``.harden.toml`` at the project root, or ``[tool.harden]`` in the
``pyproject.toml`` there (``.harden.toml`` wins when both exist).

The project root is the PATH folder, or the folder of a single file given as PATH. The
file holds the same keys either way::

    select = ["split-stages", "non-root-user"]   # run only these (default: all)
    ignore = ["dev-profiles"]                    # never run these

    [options]                                    # transform options (config.DEFAULT_OPTIONS)
    uid = 10001
    backend_network = "backend"

    [services.worker]                            # per-service overrides
    role = "worker"
    egress = true
    port = 8080
    talks_to = ["db", "cache"]                 # every service it connects to ([] for none)
    ignore = ["networks"]

Precedence: command-line flags > config file > defaults. ``--select`` replaces the file's
``select`` and ``--ignore`` replaces its ``ignore`` (``--ignore ''`` clears it); ``--set KEY=VALUE``
replaces one option.

Every problem is a HardenError naming the file (and the line when it is known), so the CLI
prints one line and exits 2: unknown keys, wrong types, bad values, invalid TOML.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any

from .config import DEFAULT_OPTIONS, Options
from .errors import HardenError

CONFIG_NAME = ".harden.toml"
PYPROJECT = "pyproject.toml"

TOP_KEYS = ("select", "ignore", "options", "services")
SERVICE_KEYS = ("role", "egress", "port", "talks_to", "ignore")
ROLES = ("web", "worker", "database", "cache", "queue", "proxy", "devtool", "other")  # as roles.ROLES

_DURATION = re.compile(r"^(?:\d+(?:\.\d+)?(?:us|ms|s|m|h))+$")
_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")  # compose network and profile names
_USER = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
_INT_OPTIONS = {k for k, v in DEFAULT_OPTIONS.items() if isinstance(v, int) and not isinstance(v, bool)}


class _Source:
    """Where the settings come from, for messages: the file name and how to find a key's line."""

    def __init__(self, display: str, text: str, prefix: tuple[str, ...]):
        self.display = display
        self.text = text
        self.prefix = prefix  # ("tool", "harden") for pyproject.toml

    def table_name(self, table: tuple[str, ...]) -> str:
        full = self.prefix + table
        return "[" + ".".join(_quote_key(k) for k in full) + "]" if full else "the top level"

    def line_of(self, table: tuple[str, ...], key: str | None) -> int | None:
        """Best effort: the line of ``key = ...`` inside ``[table]`` (or of the table header)."""
        full = self.prefix + table
        lines = self.text.splitlines()
        start = 0
        if full:
            header = re.compile(r"^\s*\[\s*" + r"\s*\.\s*".join(r"(?:%s|\"%s\"|'%s')" % ((re.escape(k),) * 3) for k in full) + r"\s*\]\s*(?:#.*)?$")
            for i, ln in enumerate(lines):
                if header.match(ln):
                    start = i
                    if key is None:
                        return i + 1
                    break
            else:
                if key is None:
                    return None
                # dotted keys or inline tables: search the whole file
        if key is None:
            return None
        pat = re.compile(r"^\s*(?:[\w.\"'-]+\.)?(?:%s|\"%s\"|'%s')\s*=" % ((re.escape(key),) * 3))
        for i in range(start, len(lines)):
            if i > start and full and lines[i].lstrip().startswith("["):
                break
            if not full and lines[i].lstrip().startswith("["):
                break
            if pat.match(lines[i]):
                return i + 1
        return None

    def error(self, message: str, table: tuple[str, ...] = (), key: str | None = None) -> HardenError:
        return HardenError(self.display, message, self.line_of(table, key))


def _quote_key(k: str) -> str:
    return k if re.match(r"^[A-Za-z0-9_-]+$", k) else f'"{k}"'


def _did_you_mean(key: str, choices: list[str] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(key, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def find_config(root: Path) -> Path | None:
    """The config file for a project root: ``.harden.toml``, else a pyproject.toml that has a
    ``[tool.harden]`` table (checked when it is read), else None."""
    p = root / CONFIG_NAME
    if p.is_file():
        return p
    p = root / PYPROJECT
    if p.is_file():
        return p
    return None


def project_root(path: Path) -> Path:
    path = Path(path)
    return path.parent if path.is_file() or (path.is_symlink() and not path.is_dir()) else path


def _read_toml(path: Path, display: str) -> tuple[dict, str]:
    import tomllib

    from .io import read_text

    text = read_text(path, display)
    try:
        data = tomllib.loads(text.lstrip("\ufeff"))
    except tomllib.TOMLDecodeError as e:
        msg = str(e)
        m = re.search(r"\(at line (\d+), column \d+\)\s*$", msg)
        line = int(m.group(1)) if m else None
        msg = re.sub(r"\s*\(at (?:line \d+, column \d+|end of document)\)\s*$", "", msg)
        raise HardenError(display, f"invalid TOML: {msg}", line) from None
    return data, text


def load_settings(path: Path, opts: Options | None = None, *, config: Path | None = None,
                  known: list[str] | None = None) -> Options:
    """Apply the project's config file (if any) to ``opts`` and return it.

    ``path`` is what the user named (folder or file); ``config`` an explicit file instead of the
    one found at the root; ``known`` the transform names (default: the registry's)."""
    opts = opts if opts is not None else Options()
    root = project_root(path)
    cfg = Path(config) if config is not None else find_config(root)
    if cfg is None:
        return opts
    display = _display(cfg, root)
    if config is not None and not cfg.is_file():
        raise HardenError(display, "config file not found")
    data, text = _read_toml(cfg, display)
    if cfg.name == PYPROJECT:
        tool = data.get("tool")
        if not isinstance(tool, dict) or "harden" not in tool:
            if config is not None:
                raise HardenError(display, "no [tool.harden] table")
            return opts
        section = tool["harden"]
        src = _Source(display, text, ("tool", "harden"))
        if not isinstance(section, dict):
            raise src.error("[tool.harden] must be a table", (), None)
    else:
        section = data
        src = _Source(display, text, ())
    if known is None:
        from harden.transforms import names

        known = names()
    apply_settings(section, opts, src, known)
    return opts


def _display(cfg: Path, root: Path) -> str:
    try:
        return cfg.resolve().relative_to(root.resolve()).as_posix()
    except (ValueError, OSError):
        return str(cfg)


def apply_settings(section: dict, opts: Options, src: _Source, known: list[str]) -> None:
    for key in section:
        if key not in TOP_KEYS:
            where = f" in {src.table_name(())}" if src.prefix else ""
            raise src.error(f"unknown key {key!r}{where}{_did_you_mean(key, TOP_KEYS)}", (), key)
    for key in ("select", "ignore"):
        if key in section:
            names = _names(section[key], src, (), key, known)
            if key == "select":
                opts.select = names
            else:
                opts.ignore = names
    if "options" in section:
        table = section["options"]
        if not isinstance(table, dict):
            raise src.error("'options' must be a table ([options])", (), "options")
        for k, v in table.items():
            if k not in DEFAULT_OPTIONS:
                raise src.error(f"unknown key {k!r} in {src.table_name(('options',))}{_did_you_mean(k, list(DEFAULT_OPTIONS))}",
                                ("options",), k)
            problem = option_problem(k, v)
            if problem:
                raise src.error(f"{src.table_name(('options',))} {k}: {problem}", ("options",), k)
            opts.values[k] = v
    if "services" in section:
        services = section["services"]
        if not isinstance(services, dict):
            raise src.error("'services' must be a table of [services.NAME] tables", (), "services")
        for name, table in services.items():
            where = ("services", name)
            if not isinstance(table, dict):
                raise src.error(f"{src.table_name(where)} must be a table", ("services",), name)
            over = dict(opts.services.get(name, {}))
            for k, v in table.items():
                if k not in SERVICE_KEYS:
                    raise src.error(f"unknown key {k!r} in {src.table_name(where)}{_did_you_mean(k, SERVICE_KEYS)}", where, k)
                if k == "ignore":
                    v = _names(v, src, where, k, known)
                else:
                    problem = service_problem(k, v)
                    if problem:
                        raise src.error(f"{src.table_name(where)} {k}: {problem}", where, k)
                over[k] = v
            opts.services[name] = over


def _names(value: Any, src: _Source, table: tuple[str, ...], key: str, known: list[str]) -> list[str]:
    label = f"{src.table_name(table)} {key}" if table else key
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise src.error(f"{label} must be a list of transform names, e.g. [\"{known[0] if known else 'split-stages'}\"]", table, key)
    for n in value:
        if n not in known:
            raise src.error(f"{label}: unknown transform {n!r}{_did_you_mean(n, known)} (known: {', '.join(known) or 'none'})",
                            table, key)
    return list(value)


def option_problem(key: str, value: Any) -> str | None:
    """Why ``value`` is not acceptable for option ``key`` (None when it is)."""
    if key in _INT_OPTIONS:
        if isinstance(value, bool) or not isinstance(value, int):
            return f"must be an integer, not {_tname(value)}"
        if key in ("uid", "gid"):
            if value == 0:
                return "0 is root; use a non-root id (e.g. 10001)"
            if not 1 <= value <= 2147483647:
                return "must be between 1 and 2147483647"
        elif value < 1:
            return "must be at least 1"
        return None
    if not isinstance(value, str):
        return f"must be a string, not {_tname(value)}"
    if key in ("user", "group"):
        if value == "root":
            return "'root' defeats the purpose; pick another name"
        if not _USER.match(value):
            return f"{value!r} is not a valid user or group name (lower case letters, digits, _ and -)"
    elif key == "venv":
        if not value.startswith("/"):
            return f"{value!r} must be an absolute path"
    elif key.endswith("_network") or key == "dev_profile":
        if not _NAME.match(value):
            return f"{value!r} is not a valid name (letters, digits, _ . -, starting with a letter or digit)"
    elif key.startswith("healthcheck_"):
        if not _DURATION.match(value):
            return f"{value!r} is not a duration like '10s', '1m30s' or '500ms'"
    return None


def service_problem(key: str, value: Any) -> str | None:
    if key == "role":
        try:
            from .roles import ROLES as roles
        except ImportError:  # pragma: no cover
            roles = ROLES
        if not isinstance(value, str) or value not in roles:
            return f"must be one of {', '.join(roles)}"
    elif key == "egress":
        if not isinstance(value, bool):
            return f"must be true or false, not {_tname(value)}"
    elif key == "port":
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
            return "must be a port number between 1 and 65535"
    elif key == "talks_to":
        if not isinstance(value, list) or not all(isinstance(x, str) and _NAME.match(x) for x in value):
            return "must be a list of compose service names, e.g. [\"db\", \"cache\"] ([] for none)"
    return None


def _tname(v: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list",
            dict: "a table"}.get(type(v), type(v).__name__)


def parse_set(item: str) -> tuple[str, Any]:
    """``--set KEY=VALUE`` -> (key, typed value); HardenError("--set", ...) when wrong."""
    if "=" not in item:
        raise HardenError("--set", f"{item!r} is not KEY=VALUE")
    key, raw = (s.strip() for s in item.split("=", 1))
    if key not in DEFAULT_OPTIONS:
        raise HardenError("--set", f"unknown option {key!r}{_did_you_mean(key, list(DEFAULT_OPTIONS))} "
                                   f"(known: {', '.join(DEFAULT_OPTIONS)})")
    value: Any = raw
    if key in _INT_OPTIONS:
        try:
            value = int(raw)
        except ValueError:
            raise HardenError("--set", f"{key}: must be an integer, not {raw!r}") from None
    problem = option_problem(key, value)
    if problem:
        raise HardenError("--set", f"{key}: {problem}")
    return key, value
