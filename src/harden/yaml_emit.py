"""A small YAML emitter for the values harden writes.

harden never dumps a whole document: it splices new text into the original bytes. The new text
comes from here, so its layout is ours to choose: the file's own mapping indent and sequence
style, quotes where YAML 1.1 would misread a scalar ("8080:80", yes/no/on/off), and flow lists
for healthcheck ``test:``.
"""

from __future__ import annotations

import re
from .record import record


class Flow(list):
    """A list written in flow style on one line: ``[a, b]``."""


class FlowMap(dict):
    """A mapping written in flow style on one line: ``{a: b}``."""


class Quoted(str):
    """A string that is always written double-quoted."""


@record(frozen=True)
class Style:
    """How a file lays out block collections."""

    indent: int = 2  # columns between a key and the keys of its mapping value
    seq_offset: int = 2  # columns between a key and the dash of its sequence value
    quote: str = '"'  # preferred quote character for new strings


_SPECIAL_WORDS = re.compile(
    r"^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF"
    r"|null|Null|NULL|~|\.inf|\.Inf|\.INF|-\.inf|-\.Inf|-\.INF|\.nan|\.NaN|\.NAN)$"
)
_NUMBER_LIKE = re.compile(r"^[-+]?(?:\d[\d_]*(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?$|^0[xob][0-9a-fA-F_]+$")
_SEXAGESIMAL = re.compile(r"^[-+]?\d[\d_]*(?::[0-5]?\d)+(?:\.\d*)?$")


def needs_quotes(s: str) -> bool:
    if s == "" or s == "=" or s != s.strip() or "\n" in s:  # a lone "=" is YAML's value tag
        return True
    if _SPECIAL_WORDS.match(s) or _NUMBER_LIKE.match(s) or _SEXAGESIMAL.match(s):
        return True
    if s[0] in "-?:,[]{}#&*!|>'\"%@`" and not (s[0] in "-?:" and len(s) > 1 and s[1] not in " \t"):
        return True
    if s[0] in ",[]{}#&*!|>'\"%@`":
        return True
    if ": " in s or " #" in s or s.endswith(":") or "\t" in s:
        return True
    # port mappings and anything else with a colon: quote, as docker docs do
    if ":" in s and re.match(r"^[\d.\[\]:a-fA-F/${}_A-Z-]+$", s):
        return True
    return False


def double_quoted(s: str) -> str:
    out = s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{out}"'


def single_quoted(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def scalar(value: object, style: Style = Style()) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return str(value)
    s = str(value)
    cls = type(value).__name__
    if isinstance(value, Quoted) or cls == "DoubleQuotedScalarString":
        return double_quoted(s)
    if cls == "SingleQuotedScalarString" and "\n" not in s:
        return single_quoted(s)
    if needs_quotes(s):
        if style.quote == "'" and "\n" not in s and "\\" not in s:
            return single_quoted(s)
        return double_quoted(s)
    return s


_FLOW_INDICATORS = set(",[]{}#")


def _flow_scalar(value: object, style: Style) -> str:
    """A scalar inside ``[...]`` or ``{...}``: flow indicators must be quoted there."""
    out = scalar(value, style)
    if isinstance(value, str) and out == str(value) and _FLOW_INDICATORS & set(out):
        return double_quoted(str(value))
    return out


def flow(value: object, style: Style, _inner: bool = False) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_flow_scalar(k, style)}: {flow(v, style, True)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(flow(v, style, True) for v in value) + "]"
    return _flow_scalar(value, style) if _inner else scalar(value, style)


def _is_block(value: object) -> bool:
    if isinstance(value, (Flow, FlowMap)):
        return False
    return isinstance(value, (dict, list)) and len(value) > 0


def entry_lines(key: object, value: object, col: int, style: Style) -> list[str]:
    """Lines (without newlines) of ``key: value`` with the key at column ``col``."""
    pad = " " * col
    k = scalar(key, style)
    if not _is_block(value):
        if value is None:
            return [f"{pad}{k}:"]
        return [f"{pad}{k}: {flow(value, style)}"]
    lines = [f"{pad}{k}:"]
    if isinstance(value, dict):
        for kk, vv in value.items():
            lines += entry_lines(kk, vv, col + style.indent, style)
    else:
        lines += seq_item_lines(value, col + style.seq_offset, style)
    return lines


def seq_item_lines(items: list, dash_col: int, style: Style) -> list[str]:
    lines: list[str] = []
    pad = " " * dash_col
    for item in items:
        if isinstance(item, dict) and _is_block(item):
            sub: list[str] = []
            for kk, vv in item.items():
                sub += entry_lines(kk, vv, dash_col + 2, style)
            sub[0] = pad + "- " + sub[0][dash_col + 2 :]
            lines += sub
        elif isinstance(item, list) and _is_block(item):
            lines.append(f"{pad}- {flow(item, style)}")
        else:
            lines.append(f"{pad}- {flow(item, style)}")
    return lines


def value_lines(value: object, col: int, style: Style) -> list[str]:
    """A block value on lines of its own, its keys (or dashes) at column ``col``."""
    if isinstance(value, dict):
        out: list[str] = []
        for k, v in value.items():
            out += entry_lines(k, v, col, style)
        return out
    if isinstance(value, list):
        return seq_item_lines(value, col, style)
    raise TypeError("value_lines needs a mapping or a sequence")
