"""Reading YAML fast: libyaml's composer, ruamel's data model.

harden never dumps a document (edits are spliced into the original text), so what it needs from
a load is the tree and the line/column of every key, value and item. ruamel's round-trip loader
gives both but scans in pure Python (~0.2 MB/s: seconds for a large compose file). PyYAML's
libyaml-based composer builds the node graph with positions ~50x faster. This module turns that
node graph into the same ruamel objects the round-trip loader would make (CommentedMap /
CommentedSeq with `lc` positions, flow style, merge keys with own keys tracked, quoted and block
scalars as ruamel's ScalarString types, YAML 1.2 core scalars), so everything downstream works
unchanged. Comments are not needed: the text keeps them.

``load(text)`` returns the documents, or None when libyaml is not available or PyYAML rejects
the text; the caller then loads with ruamel, which also gives the precise error message.
"""

from __future__ import annotations

import re
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.mergevalue import MergeValue
from ruamel.yaml.scalarstring import (
    DoubleQuotedScalarString,
    FoldedScalarString,
    LiteralScalarString,
    SingleQuotedScalarString,
)

from .errors import HardenError

MAX_DEPTH = 200

_INT = re.compile(r"^[-+]?[0-9]+$")
_OCT = re.compile(r"^0o[0-7]+$")
_HEX = re.compile(r"^0x[0-9a-fA-F]+$")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_NULL = {"", "~", "null", "Null", "NULL"}
_INF = {".inf": float("inf"), ".Inf": float("inf"), ".INF": float("inf"), "+.inf": float("inf"),
        "-.inf": float("-inf"), "-.Inf": float("-inf"), "-.INF": float("-inf")}
MERGE_TAG = "tag:yaml.org,2002:merge"


def _plain(value: str) -> Any:
    if value in _NULL:
        return None
    b = _BOOL.get(value)
    if b is not None:
        return b
    if _INT.match(value):
        return int(value)
    if _FLOAT.match(value) and any(c.isdigit() for c in value):
        return float(value)
    if _OCT.match(value):
        return int(value[2:], 8)
    if _HEX.match(value):
        return int(value[2:], 16)
    if value in _INF:
        return _INF[value]
    if value in (".nan", ".NaN", ".NAN"):
        return float("nan")
    return value


class _Builder:
    def __init__(self, path: str):
        self.path = path
        self.done: dict[int, Any] = {}

    def build(self, node: Any, depth: int = 0) -> Any:
        key = id(node)
        if key in self.done:
            return self.done[key]
        if depth > MAX_DEPTH:
            raise HardenError(self.path, f"YAML nesting deeper than {MAX_DEPTH} levels", node.start_mark.line + 1)
        kind = node.id
        if kind == "scalar":
            style = node.style
            v = node.value
            if style == '"':
                out: Any = DoubleQuotedScalarString(v)
            elif style == "'":
                out = SingleQuotedScalarString(v)
            elif style == "|":
                out = LiteralScalarString(v)
            elif style == ">":
                out = FoldedScalarString(v)
            else:
                out = _plain(v)
            self.done[key] = out
            return out
        if kind == "sequence":
            seq = CommentedSeq()
            self.done[key] = seq
            seq._yaml_set_line_col(node.start_mark.line, node.start_mark.column)
            if node.flow_style:
                seq.fa.set_flow_style()
            else:
                seq.fa.set_block_style()
            for i, item in enumerate(node.value):
                seq._yaml_set_idx_line_col(i, [item.start_mark.line, item.start_mark.column])
                list.append(seq, self.build(item, depth + 1))
            return seq
        # mapping
        m = CommentedMap()
        self.done[key] = m
        m._yaml_set_line_col(node.start_mark.line, node.start_mark.column)
        if node.flow_style:
            m.fa.set_flow_style()
        else:
            m.fa.set_block_style()
        merges = MergeValue()
        for pos, (knode, vnode) in enumerate(node.value):
            if knode.tag == MERGE_TAG and knode.id == "scalar":
                if len(merges):
                    raise HardenError(self.path, 'duplicate merge key "<<"', knode.start_mark.line + 1)
                merges.merge_pos = pos
                if vnode.id == "mapping":
                    merges.append(self.build(vnode, depth + 1))
                elif vnode.id == "sequence":
                    seq = self.build(vnode, depth + 1)
                    merges.set_sequence(seq)
                    for sub in vnode.value:
                        if sub.id != "mapping":
                            raise HardenError(self.path, "expected a mapping for merging", sub.start_mark.line + 1)
                        merges.append(self.build(sub, depth + 1))
                else:
                    raise HardenError(self.path, "expected a mapping or list of mappings for merging", vnode.start_mark.line + 1)
                continue
            k = self.build(knode, depth + 1)
            if isinstance(k, (list, dict)):
                raise HardenError(self.path, "a collection used as a mapping key is not supported", knode.start_mark.line + 1)
            if k in m:
                raise HardenError(self.path, f"invalid YAML: duplicate key: found duplicate key \"{k}\"", knode.start_mark.line + 1)
            m._yaml_set_kv_line_col(k, [knode.start_mark.line, knode.start_mark.column,
                                        vnode.start_mark.line, vnode.start_mark.column])
            m[k] = self.build(vnode, depth + 1)
        if merges:
            m.add_yaml_merge(merges)
        return m


def load(text: str, path: str) -> list | None:
    """All documents of ``text`` as ruamel objects, or None (use ruamel instead)."""
    try:
        import yaml
        Loader = yaml.CSafeLoader
    except (ImportError, AttributeError):
        return None
    try:
        nodes = list(yaml.compose_all(text, Loader=Loader))
    except (yaml.YAMLError, RecursionError, ValueError):
        return None
    builder = _Builder(path)
    try:
        return [builder.build(n) if n is not None else None for n in nodes]
    except RecursionError:
        raise HardenError(path, f"YAML nesting deeper than {MAX_DEPTH} levels") from None
