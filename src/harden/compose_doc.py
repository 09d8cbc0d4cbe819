"""ComposeDoc: a compose file loaded with ruamel.yaml (round trip) and edited by splicing.

harden never dumps a whole document. ruamel is used to *read*: the tree and the line/column of
every key, value and item. Every edit goes through a helper here that does two things: it
changes the in-memory tree (so later transforms see the edit) and it records a patch against
the original text. ``render()`` applies the patches to the original bytes, so every byte no edit
touched stays as it was: comments, blank lines, quoting, indentation, anchors, CRLF, BOM.

New text is written by harden.yaml_emit in the file's own style. A patch that inserts a new key
renders from the tree at render time, so a later transform may still change the new value.

Every helper records how to undo itself; the engine rolls back a transform that fails or skips.
"""

from __future__ import annotations

import bisect
import re
import warnings
from .record import record
from typing import Any, Callable, Iterator

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq, merge_attrib
from ruamel.yaml.compat import ordereddict
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.scalarstring import LiteralScalarString, FoldedScalarString

from . import lineends
from .errors import EditError, HardenError
from .yaml_emit import Flow, FlowMap, Style, entry_lines, scalar, seq_item_lines, flow


def _patch_add_referent() -> None:
    # ruamel 0.19 checks `cm not in self._ref`, comparing whole mappings: quadratic in the
    # number of `<<: *anchor` users. Identity is what is meant; keep a set of ids beside it.
    if getattr(CommentedMap, "_harden_patched", False):
        return
    seen: dict[int, set[int]] = {}

    def add_referent(self: CommentedMap, cm: Any) -> None:
        ids = seen.setdefault(id(self), set())
        if id(cm) not in ids:
            ids.add(id(cm))
            self._ref.append(cm)

    CommentedMap.add_referent = add_referent  # type: ignore[method-assign]
    CommentedMap._harden_patched = True  # type: ignore[attr-defined]


_patch_add_referent()

MAX_EXPANDED_NODES = 2_000_000


def _yaml() -> YAML:
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.allow_duplicate_keys = False
    return y


def is_map(x: Any) -> bool:
    return isinstance(x, dict)


def is_seq(x: Any) -> bool:
    return isinstance(x, list)


def anchor_name(node: Any) -> str | None:
    """The anchor (``&name``) written on ``node``, if any."""
    a = getattr(node, "anchor", None)
    return getattr(a, "value", None) if a is not None else None


def own_keys(m: Any) -> list:
    """Keys written in this mapping itself, not pulled in by `<<: *anchor`."""
    if isinstance(m, CommentedMap):
        ok = getattr(m, "_ok", None)
        if ok is not None and getattr(m, "merge", None):
            return [k for k in m.keys() if k in ok]
        return list(m.keys())
    if isinstance(m, dict):
        return list(m.keys())
    return []


def has_merge(m: Any) -> bool:
    return isinstance(m, CommentedMap) and bool(getattr(m, "merge", None))


def merge_sources(m: Any, depth: int = 0) -> list:
    """The mappings ``m`` pulls in with `<<: *anchor` (`<<: [*a, *b]`), each followed by the
    ones it pulls in itself, in the order their keys win."""
    out: list = []
    if depth > 20:
        return out
    for src in getattr(m, merge_attrib, None) or []:
        src = src[1] if isinstance(src, tuple) else src
        if isinstance(src, dict):
            out.append(src)
            out += merge_sources(src, depth + 1)
    return out


def overlay_def(svc: Any, editable: set | None) -> tuple[Any, Any] | None:
    """Where an overlay project adds a key its service does not write in any file: (doc,
    mapping) of the service's own mapping in the last file the project may change (``editable``:
    ids of those files), when its first definition is in a file it may not change (the base file,
    edited as a project of its own). Compose adds an overlay's keys to the base file's service,
    which then stays as it is. None when that does not apply, or the service has no plain
    mapping there (one that merges an anchor)."""
    if editable is None or id(svc.defs[0][0]) in editable:
        return None
    for doc, node in reversed(svc.defs):
        if id(doc) in editable and isinstance(node, dict) and not merge_sources(node):
            return doc, node
    return None


def anchored_source(svc: Any, key: str) -> tuple[Any, Any, str] | None:
    """(doc, mapping, "merge") of the mapping written under an anchor that gives service ``svc``
    its ``key`` through `<<: *anchor` (followed through nested merges), or None (it comes from
    `extends`, or nowhere). An edit there changes every service that shares it: edit it only
    when each of them gets the same edit (depends-healthy, networks)."""
    for doc, node in reversed(svc.defs):
        if isinstance(node, dict):
            for m in merge_sources(node):
                if key in own_keys(m):
                    return doc, m, "merge"
    return None


def _has_pos(node: Any) -> bool:
    return isinstance(node, (CommentedMap, CommentedSeq)) and node.lc.line is not None


def is_flow(node: Any) -> bool:
    # a collection read from the text without items can only be `[]` or `{}` (ruamel leaves its
    # flow_style unset; items harden appended later have no position)
    return isinstance(node, (CommentedMap, CommentedSeq)) and bool(
        node.fa.flow_style() or (node.lc.line is not None and not node.lc.data)
    )


def _sync_referents(m: Any, key: Any, depth: int = 0) -> None:
    """After ``m[key]`` changed: the mappings that merge ``m`` in (`<<: *anchor`) and do not
    write ``key`` themselves hold a copy of the old value (ruamel copies merged keys in at load
    time): give them the new one, as a fresh read of the text would."""
    if depth > 20 or not isinstance(m, CommentedMap):
        return
    for r in getattr(m, "_ref", None) or []:
        if not isinstance(r, CommentedMap) or key in getattr(r, "_ok", ()):
            continue
        for src in getattr(r, merge_attrib, None) or []:
            src = src[1] if isinstance(src, tuple) else src
            if isinstance(src, dict) and key in src:
                ordereddict.__setitem__(r, key, src[key])
                break
        else:
            if key in r:
                ordereddict.__delitem__(r, key)
        _sync_referents(r, key, depth + 1)


def _put(container: Any, key: Any, value: Any) -> None:
    """``container[key] = value``, seen by the mappings that merge it in."""
    container[key] = value
    _sync_referents(container, key)


def _del_own(m: Any, key: Any) -> None:
    """Delete ``m``'s own ``key``. A value ``<<: *anchor`` merges in for the same key shows
    again, as it does when the text is read back (ruamel 0.19 drops it from the mapping)."""
    if key not in m:
        return
    refs = getattr(m, "_ref", None) if isinstance(m, CommentedMap) else None
    if refs:
        # ruamel would update the mappings that merge ``m`` in through a method that misreads
        # its own merge list (ruamel 0.19): _sync_referents below does it instead
        m._ref = []
        try:
            del m[key]
        finally:
            m._ref = refs
    else:
        del m[key]
    if isinstance(m, CommentedMap):
        for src in getattr(m, merge_attrib, None) or []:
            if isinstance(src, dict) and key in src:
                ordereddict.__setitem__(m, key, src[key])  # a merged key, not an own one
                break
    _sync_referents(m, key)


def _block_value(v: Any) -> bool:
    """A value written on lines of its own below its key (not on the key's line)."""
    return isinstance(v, (dict, list)) and bool(v) and not isinstance(v, (Flow, FlowMap))


def _reinsert(m: Any, idx: int, key: Any, value: Any) -> None:
    """Put ``key`` back at position ``idx`` (undo of a delete); plain dicts have no insert()."""
    if isinstance(m, CommentedMap):
        m.insert(idx, key, value)
        _sync_referents(m, key)
        return
    items = list(m.items())
    items.insert(idx, (key, value))
    m.clear()
    m.update(items)


@record
class _Patch:
    start: int
    end: int
    seq: int
    render: Callable[[], str]
    col: int = 0  # for inserts: the column of the inserted block (deeper ones go first)


_COMMENT_RE = re.compile(r"^\s*#")
_OTHER_BREAK = re.compile("[\r\x85\u2028\u2029]")


class ComposeDoc:
    kind = "compose"

    def __init__(self, path: str, text: str):
        """``text`` is the file's decoded content, exactly as read (CRLF and BOM included)."""
        self.path = path
        self.original = text
        self.bom = text.startswith("\ufeff")
        body = text[1:] if self.bom else text
        self.src, self.newline, self._crlf_lines = lineends.split(body)
        m = _OTHER_BREAK.search(self.src)
        if m:
            # YAML reads these as line breaks, so its line numbers would not be ours
            line = self.src.count("\n", 0, m.start()) + 1
            what = "a carriage return without a line feed" if m.group() == "\r" else f"line separator U+{ord(m.group()):04X}"
            raise HardenError(path, f"{what}: harden edits only files with LF or CRLF line endings", line)
        self.lines = self.src.split("\n")
        self._line_starts: list[int] = []
        pos = 0
        for ln in self.lines:
            self._line_starts.append(pos)
            pos += len(ln) + 1
        self.data = self._load()
        self.style = self._detect_style()
        self._patches: list[_Patch] = []
        self._undo: list[Callable[[], None]] = []
        self._seq = 0
        self._spans: dict[tuple[int, Any], tuple[Any, tuple[int, int]]] = {}

    # ------------------------------------------------------------------ loading
    def _load(self) -> CommentedMap:
        if "\t" in self.src:
            for i, ln in enumerate(self.lines):
                stripped = ln.lstrip(" ")
                if stripped.startswith("\t") and stripped.strip() and not stripped.strip().startswith("#"):
                    raise HardenError(self.path, "tab character used for indentation (YAML allows spaces only)", i + 1)
        from . import fast_yaml

        fast = fast_yaml.load(self.src, self.path)
        try:
            if fast is not None:
                docs = fast
            else:
                with warnings.catch_warnings():  # ruamel warns on stderr (a reused anchor): not ours to print
                    warnings.simplefilter("ignore")
                    docs = list(_yaml().load_all(self.src))
        except MarkedYAMLError as e:
            mark = e.problem_mark or e.context_mark
            line = mark.line + 1 if mark is not None else None
            what = (e.problem or e.context or "invalid YAML").strip()
            if "duplicate key" in str(e).lower() or type(e).__name__ == "DuplicateKeyError":
                what = "duplicate key: " + (e.problem or "").strip()
            raise HardenError(self.path, f"invalid YAML: {what}", line) from None
        except YAMLError as e:
            raise HardenError(self.path, f"invalid YAML: {e}") from None
        except RecursionError:
            raise HardenError(self.path, "YAML nesting too deep") from None
        docs = [d for d in docs if d is not None]
        if not docs:
            raise HardenError(self.path, "empty compose file")
        if len(docs) > 1:
            raise HardenError(self.path, "several YAML documents in one compose file are not supported")
        data = docs[0]
        if not isinstance(data, CommentedMap):
            raise HardenError(self.path, f"top level is a {type(data).__name__.replace('Commented', '').lower()}, not a mapping", 1)
        self._check_expansion(data)
        services = data.get("services")
        if services is not None and not isinstance(services, dict):
            line = data.lc.value("services")[0] + 1 if "services" in own_keys(data) else None
            raise HardenError(self.path, "`services` is not a mapping", line)
        return data

    def _check_expansion(self, data: Any) -> None:
        """Refuse alias bombs: count the nodes the document would expand to, memoised by id."""
        memo: dict[int, int] = {}

        def size(node: Any, depth: int) -> int:
            if depth > 200:
                raise HardenError(self.path, "YAML nesting deeper than 200 levels")
            if not isinstance(node, (dict, list)):
                return 1
            key = id(node)
            if key in memo:
                return memo[key]
            memo[key] = 1  # cycles count once
            total = 1
            items = node.values() if isinstance(node, dict) else node
            for v in items:
                total += size(v, depth + 1)
                if total > MAX_EXPANDED_NODES:
                    raise HardenError(self.path, "aliases expand to more than 2,000,000 nodes (alias bomb?)")
            memo[key] = total
            return total

        size(data, 0)

    def _detect_style(self) -> Style:
        indent, offset = None, None
        quote = '"'
        services = self.data.get("services") if isinstance(self.data, dict) else None
        roots = [services] if isinstance(services, CommentedMap) else []
        roots.append(self.data)
        for root in roots:
            for k in own_keys(root):
                v = root[k]
                if isinstance(v, CommentedMap) and not is_flow(v) and _has_pos(v) and own_keys(v):
                    kcol = root.lc.key(k)[1]
                    first = own_keys(v)[0]
                    indent = v.lc.key(first)[1] - kcol
                    for kk in own_keys(v):
                        vv = v[kk]
                        if isinstance(vv, CommentedSeq) and not is_flow(vv) and len(vv) and offset is None:
                            dash = self._dash_col(vv, 0)
                            if dash is not None:
                                offset = dash - v.lc.key(kk)[1]
                    if offset is not None:
                        break
            if indent is not None:
                break
        n_single = len(re.findall(r":\s+'", self.src))
        n_double = len(re.findall(r':\s+"', self.src))
        if n_single > n_double:
            quote = "'"
        if indent is None or indent <= 0:
            indent = 2
        if offset is None or offset < 0:
            offset = indent
        return Style(indent=indent, seq_offset=offset, quote=quote)

    # ------------------------------------------------------------ positions
    def _dash_col(self, seq: CommentedSeq, i: int) -> int | None:
        line, col = seq.lc.item(i)
        text = self.lines[line]
        j = text.rfind("-", 0, col)
        return j if j >= 0 else None

    def _offset(self, line: int, col: int) -> int:
        return self._line_starts[line] + col

    def _indent_of(self, line: int) -> int:
        text = self.lines[line]
        return len(text) - len(text.lstrip(" "))

    def _is_blank_or_comment(self, line: int) -> bool:
        s = self.lines[line].strip()
        return not s or s.startswith("#")

    def _block_end(self, first_line: int, parent_col: int, block_scalar: bool, allow_dash_at_col: bool) -> int:
        """Last line (inclusive) of a value that starts on ``first_line`` and belongs to a key
        (or a dash) at ``parent_col``: the following lines indented deeper are part of it."""
        last = first_line
        depth = 0
        text = self.lines[first_line]
        depth += text.count("[") + text.count("{") - text.count("]") - text.count("}")
        i = first_line + 1
        n = len(self.lines)
        while i < n:
            ln = self.lines[i]
            s = ln.strip()
            if s in ("---", "...") and not ln.startswith(" "):
                break
            if not s:
                i += 1
                continue
            ind = len(ln) - len(ln.lstrip(" "))
            if s.startswith("#") and not block_scalar and depth <= 0:
                i += 1
                continue
            belongs = ind > parent_col or depth > 0
            if allow_dash_at_col and ind == parent_col and (s.startswith("- ") or s == "-") and not block_scalar:
                belongs = True
            if belongs:
                last = i
                if not block_scalar:
                    depth += s.count("[") + s.count("{") - s.count("]") - s.count("}")
                i += 1
                continue
            if ind <= parent_col and s[0] in "]}" and depth > 0:
                last = i
                depth = 0
                i += 1
                continue
            break
        return last

    def entry_span(self, m: CommentedMap, key: Any) -> tuple[int, int]:
        """(first line, last content line) of ``key: value`` in mapping ``m``.

        Measured once, on the original text: after an edit replaced the value in the tree, the
        entry still spans the lines the original value held (a second edit must not reach
        further, e.g. over the comment lines that follow)."""
        memo = self._spans.get((id(m), key))
        if memo is not None and memo[0] is m:
            return memo[1]
        kline, kcol = m.lc.key(key)
        value = m[key]
        if isinstance(value, (CommentedMap, CommentedSeq)) and _has_pos(value) and not is_flow(value):
            start = kline
            block_scalar = False
        elif value is None:
            start = kline  # `key:` with no value: ruamel places the value at the next token
            block_scalar = False
        else:
            start = m.lc.value(key)[0] if m.lc.value(key) else kline
            block_scalar = isinstance(value, (LiteralScalarString, FoldedScalarString))
        end = self._block_end(max(start, kline), kcol, block_scalar, allow_dash_at_col=True)
        self._spans[(id(m), key)] = (m, (kline, end))  # m is kept alive: its id stays unique
        return kline, end

    def item_span(self, seq: CommentedSeq, i: int) -> tuple[int, int]:
        line, _col = seq.lc.item(i)
        dash = self._dash_col(seq, i)
        value = seq[i]
        block_scalar = isinstance(value, (LiteralScalarString, FoldedScalarString))
        end = self._block_end(line, dash if dash is not None else 0, block_scalar, allow_dash_at_col=False)
        return line, end

    def key_line(self, m: CommentedMap, key: Any) -> int | None:
        """1-based line of a key, for reports; None for keys harden added."""
        if isinstance(m, CommentedMap) and _has_pos(m) and key in own_keys(m):
            try:
                return m.lc.key(key)[0] + 1
            except (KeyError, TypeError):
                return None
        return None

    def _add_patch(self, start: int, end: int, render: Callable[[], str], col: int = 0) -> None:
        self._seq += 1
        p = _Patch(start, end, self._seq, render, col)
        self._patches.append(p)
        self._undo.append(lambda: self._patches.remove(p))

    def _insert_after_line(self, line: int, render_lines: Callable[[], list[str]], col: int = 0) -> None:
        """Insert lines after ``line``. ``col`` is the column of the inserted block: of several
        inserts after the same line the deeper one goes first, as it continues the block above
        (a key added to a nested mapping, then one added to its parent)."""
        if line + 1 < len(self.lines):
            off = self._line_starts[line + 1]
            self._add_patch(off, off, lambda: "".join(ln + "\n" for ln in render_lines()), col)
        else:
            # after the last line: keep a missing final newline missing
            off = len(self.src)
            self._add_patch(off, off, lambda: "".join("\n" + ln for ln in render_lines()), col)

    @property
    def changed(self) -> bool:
        return bool(self._patches)

    def checkpoint(self) -> int:
        return len(self._undo)

    def rollback(self, token: int) -> None:
        while len(self._undo) > token:
            self._undo.pop()()

    def render(self) -> str:
        if not self._patches:
            return self.original
        # A replacement that lies inside a larger one is superseded by it (the larger one renders
        # from the tree, which holds the inner edit); of two with the same span the first one is
        # kept (both render the same tree). Partial overlaps are a bug. An insert strictly inside
        # a kept replacement is superseded too; an insert at a replacement's start goes before it.
        reps = sorted((p for p in self._patches if p.end > p.start), key=lambda p: (p.start, -p.end, p.seq))
        kept_reps: list[_Patch] = []
        for p in reps:
            if kept_reps and p.start < kept_reps[-1].end:
                if p.end <= kept_reps[-1].end:
                    continue
                raise EditError(f"{self.path}: overlapping edits")
            kept_reps.append(p)
        starts = [r.start for r in kept_reps]
        inserts = []
        for p in self._patches:
            if p.end == p.start:
                i = bisect.bisect_left(starts, p.start) - 1  # the last replacement starting before it
                if i >= 0 and p.start < kept_reps[i].end:
                    continue
                inserts.append(p)
        kept = sorted(kept_reps + inserts, key=lambda p: (p.start, p.end > p.start, -p.col, p.seq))
        out: list[str] = []
        pos = 0
        for p in kept:
            out.append(self.src[pos : p.start])
            out.append(p.render())
            pos = max(pos, p.end)
        out.append(self.src[pos:])
        text = lineends.join(self.src, self._crlf_lines, "".join(out), self.newline)
        if self.bom:
            text = "\ufeff" + text
        return text

    # ------------------------------------------------------------ reading
    def services(self) -> CommentedMap:
        s = self.data.get("services")
        return s if isinstance(s, CommentedMap) else CommentedMap()

    def service_names(self) -> list[str]:
        return [str(k) for k in own_keys(self.services())]

    # ------------------------------------------------------------- edits
    def _require_editable(self, m: Any, what: str) -> None:
        if is_flow(m):
            raise EditError(f"{what} is written in flow style ({{...}}); harden leaves it as it is")

    def _shared(self, node: Any) -> bool:
        """Is this mapping or list reached from more than one place (an alias ``*x`` or a merge
        ``<<: *x`` besides its anchor ``&x``)? An edit of it would change every place."""
        ids = getattr(self, "_shared_ids", None)
        if ids is None:
            seen: set[int] = set()
            ids = set()

            def visit(n: Any) -> None:
                if not isinstance(n, (dict, list)):
                    return
                if id(n) in seen:
                    ids.add(id(n))
                    return
                seen.add(id(n))
                if isinstance(n, dict):
                    for merged in getattr(n, merge_attrib, None) or []:
                        visit(merged[1] if isinstance(merged, tuple) else merged)
                    items = [n[k] for k in (own_keys(n) if isinstance(n, CommentedMap) else n)]
                else:
                    items = list(n)
                for v in items:
                    visit(v)

            visit(self.data)
            self._shared_ids = ids
        return id(node) in ids

    def _require_unshared_node(self, node: Any, what: str) -> None:
        if self._shared(node):
            raise EditError(f"{what} is written once under an anchor and used in several places "
                            "(*alias or <<: merge); changing it would change every place")

    def _require_unshared(self, m: Any, key: Any) -> None:
        """Refuse to edit a value written once under an anchor (``&deps``) and reached through
        aliases (``depends_on: *deps``): the edit would land in the anchor's text and change every
        user of it."""
        value = m[key]
        name = anchor_name(value)
        if not name and isinstance(value, (dict, list)) and _has_pos(m) and key in (m.lc.data or {}):
            kline, _ = m.lc.key(key)
            vline, vcol = m.lc.value(key)
            text = self.lines[vline][vcol:] if vline < len(self.lines) else ""
            if vline < kline or text.startswith(("&", "*")):
                # ruamel hands an alias the anchored node itself, with the anchor's position
                name = re.match(r"[&*]?([^\s,\]}]*)", text).group(1) or "?"
        if name:
            raise EditError(f"{key} is the anchored value &{name}, shared through *{name}; changing it "
                            "would change every service that uses it")
        if isinstance(value, (dict, list)):
            self._require_unshared_node(value, str(key))

    def add_key(self, m: Any, key: Any, value: Any, *, after: Any = None, blank_line: bool | None = None,
                through_anchor: bool = False) -> None:
        """Add ``key: value`` to mapping ``m`` (after ``after``, else after its last own key).
        A mapping used in several places (`&x` merged with `<<: *x`) is refused unless
        ``through_anchor``: the caller has checked that every place gets this same edit."""
        if not through_anchor:
            self._require_unshared_node(m, "the mapping that would get " + repr(str(key)))
        if key in m and (not isinstance(m, CommentedMap) or key in own_keys(m)):
            raise EditError(f"key {key!r} exists already")
        if not _has_pos(m):
            # a mapping harden created: its text renders from the tree
            _put(m, key, value)
            self._undo.append(lambda: _del_own(m, key))
            return
        self._require_editable(m, "the mapping")
        keys = own_keys(m)
        if not keys:
            raise EditError("cannot add to an empty mapping")
        # keys harden added earlier have no position: place the text after the last key that
        # has one (inserts at the same spot render in the order they were made)
        placed = [k for k in keys if k in m.lc.data]
        if not placed:
            raise EditError("cannot add to a mapping without positions")
        anchor = after if after is not None and after in placed else placed[-1]
        col = m.lc.key(placed[0])[1]
        _, last = self.entry_span(m, anchor)
        # comment lines right below, indented deeper than the keys, belong to the entry above
        while last + 1 < len(self.lines) and _COMMENT_RE.match(self.lines[last + 1]) and self._indent_of(last + 1) > col:
            last += 1
        if blank_line is None:
            blank_line = False
        pos = keys.index(anchor if after is not None and after in placed else keys[-1]) + 1
        if isinstance(m, CommentedMap):
            m.insert(pos, key, value)
            _sync_referents(m, key)
        else:
            _put(m, key, value)
        self._undo.append(lambda: _del_own(m, key))
        style = self.style

        def render() -> list[str]:
            if key not in m:  # deleted again by a later edit
                return []
            lines = entry_lines(key, m[key], col, style)
            return ([""] if blank_line else []) + lines

        self._insert_after_line(last, render, col)

    def set_scalar(self, container: Any, key: Any, value: Any) -> None:
        """Replace the scalar at ``container[key]`` (mapping key or sequence index) in place,
        keeping its quote style."""
        self._require_unshared_node(container, f"the {'list' if isinstance(container, list) else 'mapping'} "
                                    f"holding {container[key]!r}")
        old = container[key]
        if isinstance(old, (dict, list)):
            raise EditError("set_scalar on a collection")
        if not _has_pos(container):
            _put(container, key, value)
            self._undo.append(lambda: _put(container, key, old))
            return
        if key not in (container.lc.data or {}):
            # a key or item harden added in this run: its text renders from the tree
            _put(container, key, value)
            self._undo.append(lambda: _put(container, key, old))
            return
        if isinstance(container, CommentedSeq):
            line, col = container.lc.item(key)
        else:
            line, col = container.lc.value(key)
            kline, kcol = container.lc.key(key)
            ktext = self.lines[kline]
            if ktext[kcol : kcol + 1] in ("'", '"'):
                ktok = self._scalar_token(ktext, kcol) or ""
                colon = ktext.find(":", kcol + len(ktok))
            else:
                cm = re.compile(r":(?=\s|$)").search(ktext, kcol)
                colon = cm.start() if cm else -1
            after = ktext[colon + 1 :].strip() if colon >= 0 else None
            if old is None and (line != kline or not after or after.startswith("#")):
                # `key:` with no value: ruamel places the value at the next token (a later line,
                # or the comment); write the new value right after the colon instead
                if colon < 0:
                    raise EditError("cannot find the key's colon")
                _put(container, key, value)
                self._undo.append(lambda: _put(container, key, old))
                off = self._offset(kline, colon + 1)
                self._add_patch(off, off, lambda: " " + scalar(container[key], self.style))
                return
        token = self._value_token(self.lines[line], col, old, flow=is_flow(container))
        cls = type(old)
        new_value = cls(value) if isinstance(old, str) and cls is not str and hasattr(cls, "__new__") else value
        try:
            _put(container, key, new_value)
        except Exception:  # pragma: no cover - defensive
            _put(container, key, value)
        self._undo.append(lambda: _put(container, key, old))
        start = self._offset(line, col)
        end = start + len(token)
        style = self.style
        first = token[:1]

        def render() -> str:
            v = container[key]
            if first == '"':
                from .yaml_emit import double_quoted

                return double_quoted(str(v))
            if first == "'":
                from .yaml_emit import single_quoted

                return single_quoted(str(v))
            return scalar(v, style)

        self._add_patch(start, end, render)

    def _value_token(self, text: str, col: int, value: Any, *, flow: bool = False) -> str:
        """The text of the one-line scalar ``value`` that starts at ``col``; EditError for a
        quoted scalar that goes on below, or a plain one whose text is not the value (it goes on
        below, or this reading does not delimit it as YAML did)."""
        token = self._scalar_token(text, col, flow=flow)
        if token is None or (isinstance(value, str) and token[:1] not in "'\"" and token != str(value)):
            raise EditError("multi-line scalar; harden leaves it as it is")
        return token

    @staticmethod
    def _scalar_token(text: str, col: int, *, flow: bool = False) -> str | None:
        """The text of the scalar that starts at ``col``: a quoted one up to its closing quote; a
        plain one up to an end-of-line comment or the line's end, and inside a flow collection
        (``flow``) also up to ``,``, ``]`` or ``}``. In block context ``{``, ``}``, ``[``, ``]`` and
        ``:`` are ordinary characters of a plain scalar (``- ${PORT}:8080``)."""
        rest = text[col:]
        if not rest:
            return None
        if rest[0] == '"':
            i = 1
            while i < len(rest):
                if rest[i] == "\\":
                    i += 2
                    continue
                if rest[i] == '"':
                    return rest[: i + 1]
                i += 1
            return None
        if rest[0] == "'":
            i = 1
            while i < len(rest):
                if rest[i] == "'":
                    if i + 1 < len(rest) and rest[i + 1] == "'":
                        i += 2
                        continue
                    return rest[: i + 1]
                i += 1
            return None
        if flow:
            m = re.match(r"(.*?)(?=\s+#|\s*$|\s*,|\s*[\]}])", rest)
        else:
            m = re.match(r"(.*?)(?=\s+#|\s*$)", rest)
        tok = m.group(1) if m else rest
        return tok.rstrip() or None

    def replace_value(self, m: CommentedMap, key: Any, value: Any) -> None:
        """Replace the whole value of an existing key with a new one written by harden.
        Comment lines inside the old value are kept, after the new value."""
        old = m[key]
        self._require_unshared(m, key)
        if not _has_pos(m) or key not in (m.lc.data or {}):
            # a mapping or a key harden added: its text renders from the tree
            _put(m, key, value)
            self._undo.append(lambda: _put(m, key, old))
            return
        kline, kcol = m.lc.key(key)
        first, last = self.entry_span(m, key)
        kept_comments = [self.lines[i] for i in range(first + 1, last + 1) if _COMMENT_RE.match(self.lines[i])]
        _put(m, key, value)
        self._undo.append(lambda: _put(m, key, old))
        style = self.style
        # keep the key's own end-of-line comment
        line_text = self.lines[kline]
        eol = ""
        cm = re.search(r"\s+#.*$", line_text[kcol:])
        if cm and isinstance(old, (dict, list)) and not is_flow(old):
            eol = cm.group(0)
        start = self._line_starts[first]
        end = self._line_starts[last] + len(self.lines[last])

        def render() -> str:
            lines = entry_lines(key, m[key], kcol, style)
            if eol and lines and lines[0].endswith(":"):
                lines[0] += eol
            return "\n".join(lines + kept_comments)

        self._add_patch(start, end, render)

    def seq_to_map(self, m: CommentedMap, key: Any, new_map: dict) -> None:
        """Turn ``key: [a, b]`` (block or flow) into ``key: {a: {...}, b: {...}}`` in block
        style, in place: each item line becomes the item's key line, so end-of-line comments
        and the comment lines between items stay where they were."""
        old = m[key]
        self._require_unshared(m, key)
        if not isinstance(old, CommentedSeq) or not _has_pos(old):
            self.replace_value(m, key, new_map)
            return
        if any(i not in (old.lc.data or {}) for i in range(len(old))):
            raise EditError("the list has items harden appended in this run; convert it before appending")
        names = [str(x) for x in old]
        if list(map(str, new_map.keys()))[: len(names)] != names:
            raise EditError("seq_to_map: the new mapping must keep the list's order")
        kline, kcol = m.lc.key(key)
        style = self.style
        self.entry_span(m, key)  # measure (and remember) the span of the list before the tree changes
        _put(m, key, new_map)
        self._undo.append(lambda: _put(m, key, old))
        if is_flow(old):
            first, last = self.entry_span(m, key)
            vline, vcol = m.lc.value(key)
            if last != vline:
                # a flow list over several lines: replace it whole
                _put(m, key, old)
                self._undo.pop()
                self.replace_value(m, key, new_map)
                return
            line_text = self.lines[vline]
            tail = line_text[vcol:]
            depth, j = 0, 0
            for j, ch in enumerate(tail):
                if ch == "[":
                    depth += 1
                elif ch == "]":
                    depth -= 1
                    if depth == 0:
                        break
            after = tail[j + 1 :]
            eol = after if after.strip().startswith("#") else ""
            # replace from just after "key:" to the end of the line
            colon = line_text.rfind(":", 0, vcol)
            start = self._offset(vline, colon + 1)
            end = self._offset(vline, len(line_text))

            def render_flow() -> str:
                lines = []
                for k, v in m[key].items():
                    lines += entry_lines(k, v, kcol + style.indent, style)
                return (eol if eol else "") + "\n" + "\n".join(lines)

            self._add_patch(start, end, render_flow)
            return
        # block list: each "- name" becomes "name:" and its body follows on new lines
        for i, name in enumerate(names):
            line, col = old.lc.item(i)
            dash = self._dash_col(old, i)
            text = self.lines[line]
            token = self._value_token(text, col, old[i])
            if dash is None:
                raise EditError("unusual depends_on list layout")
            item_col = kcol + style.indent
            start = self._offset(line, dash)
            end = self._offset(line, col + len(token))
            def head(n=name) -> str:
                # a key deleted from the new mapping later renders nothing (its line goes, see
                # below); a scalar or flow value goes on the key's line, before its comment
                cur = m[key]
                if not isinstance(cur, dict) or n not in cur:
                    return ""
                v = cur[n]
                if v is None or _block_value(v):
                    return scalar(n, style) + ":"
                return scalar(n, style) + ": " + flow(v, style)

            self._add_patch(start, end, head)
            _, iend = self.item_span(old, i)

            def body(n=name, c=item_col) -> list[str]:
                cur = m[key]
                v = cur.get(n) if isinstance(cur, dict) else None
                if not _block_value(v):
                    return []  # nothing, or written on the key's line by head()
                if isinstance(v, dict):
                    out: list[str] = []
                    for kk, vv in v.items():
                        out += entry_lines(kk, vv, c + style.indent, style)
                    return out
                return seq_item_lines(v, c + style.seq_offset, style)

            self._insert_after_line(line, body, item_col + style.indent)

            def gone(n=name) -> bool:
                cur = m[key]
                return not isinstance(cur, dict) or n not in cur

            # the rest of the item's line (its end-of-line comment, the newline) and its indent:
            # a key deleted from the new mapping later takes its whole line with it, the way
            # remove_item takes an item with its end-of-line comment
            tail_end = self._line_starts[line + 1] if line + 1 < len(self.lines) else len(self.src)
            tail = self.src[end:tail_end]
            self._add_patch(end, tail_end, (lambda t=tail, g=gone: "" if g() else t))
            pad_start = self._offset(line, 0)
            # re-indent the item line so keys line up at item_col
            pad = " " * item_col if dash != item_col else self.src[pad_start:start]
            self._add_patch(pad_start, start, (lambda p=pad, g=gone: "" if g() else p))
        # keys beyond the list's items, now or added to the new mapping later: rendered from
        # the tree at render time, after the last item
        _, last = self.entry_span(m, key)

        def more() -> list[str]:
            out: list[str] = []
            cur = m[key]
            if isinstance(cur, dict):
                for k in cur:
                    if str(k) not in names:
                        out += entry_lines(k, cur[k], kcol + style.indent, style)
            return out

        self._insert_after_line(last, more, kcol + style.indent)

    def append_item(self, m: CommentedMap, key: Any, item: Any) -> None:
        """Append ``item`` to the sequence ``m[key]``."""
        seq = m[key]
        self._require_unshared(m, key)
        if not isinstance(seq, list):
            raise EditError(f"{key} is not a list")
        if not _has_pos(seq):
            seq.append(item)
            self._undo.append(lambda: seq.pop())
            return
        style = self.style
        n = len(seq)  # index of the new item; refuse before the tree changes
        if is_flow(seq):
            vline, vcol = m.lc.value(key)
            text = self.lines[vline]
            close = text.find("]", vcol)
            if close < 0:
                raise EditError("flow list over several lines")
            inner = text[vcol + 1 : close].strip()
            off = self._offset(vline, close)
            seq.append(item)
            self._undo.append(lambda: seq.pop())
            # rendered from the tree: a later edit of the new item shows; a second append to an
            # empty `[]` gets its comma
            self._add_patch(off, off, (lambda: (", " if inner or n > 0 else "") + flow(seq[n], style, True)))
            return
        if n == 0:
            raise EditError("empty block list")
        if (n - 1) not in (seq.lc.data or {}):
            # the last item is one harden appended: the insert that wrote it writes this one too
            seq.append(item)
            self._undo.append(lambda: seq.pop())
            return
        dash = self._dash_col(seq, n - 1)
        _, last = self.item_span(seq, n - 1)
        seq.append(item)
        self._undo.append(lambda: seq.pop())
        # every item from n on, rendered from the tree (later appends and edits of them show)
        # col: an item of an indentless list (dash at its key's column) is still inside that key
        self._insert_after_line(last, lambda: seq_item_lines(seq[n:], dash or 0, style), (dash or 0) + 1)

    def remove_item(self, m: CommentedMap, key: Any, index: int) -> None:
        """Remove item ``index`` of the block list ``m[key]``; full comment lines inside it are
        kept (its end-of-line comment goes with it)."""
        seq = m[key]
        self._require_unshared(m, key)
        if not isinstance(seq, CommentedSeq) or not _has_pos(seq) or is_flow(seq):
            raise EditError(f"{key} is not a block list harden can remove an item from")
        if any(i not in (seq.lc.data or {}) for i in range(len(seq))):
            raise EditError("the list has items harden added in this run")
        if len(seq) < 2:
            raise EditError(f"cannot remove the only item of {key!r}: the list would be left empty")
        first, last = self.item_span(seq, index)
        kept = [self.lines[i] for i in range(first + 1, last + 1) if _COMMENT_RE.match(self.lines[i])]
        old_item, old_lc = seq[index], dict(seq.lc.data)
        seq.pop(index)
        seq.lc.data = {(i if i < index else i - 1): v for i, v in old_lc.items() if i != index}

        def undo() -> None:
            seq.insert(index, old_item)
            seq.lc.data = old_lc

        self._undo.append(undo)
        start = self._line_starts[first]
        end = self._line_starts[last + 1] if last + 1 < len(self.lines) else len(self.src)
        self._add_patch(start, end, lambda: "".join(k + "\n" for k in kept))

    def delete_key(self, m: CommentedMap, key: Any) -> None:
        """Remove ``key: value``; full comment lines inside it are kept."""
        old = m[key]
        self._require_unshared(m, key)
        idx = list(m.keys()).index(key)
        if own_keys(m) == [key] and not has_merge(m):
            # the mapping's text would be left empty, which reads back as null, not {}
            raise EditError(f"cannot delete {key!r}: it is the mapping's only key")
        if not _has_pos(m):
            _del_own(m, key)
            self._undo.append(lambda: _reinsert(m, idx, key, old))
            return
        if key not in (m.lc.data or {}):
            # a key harden added in this run: its insert renders from the tree, so it goes too
            _del_own(m, key)
            self._undo.append(lambda: _reinsert(m, idx, key, old))
            return
        first, last = self.entry_span(m, key)
        kept = [self.lines[i] for i in range(first + 1, last + 1) if _COMMENT_RE.match(self.lines[i])]
        _del_own(m, key)
        self._undo.append(lambda: _reinsert(m, idx, key, old))
        # an entry set off by blank lines (or the top of the file) takes one blank line with it,
        # so no doubled blank line (or blank first line) is left where it was
        above_blank = first == 0 or not self.lines[first - 1].strip()
        if not kept and above_blank and last + 2 < len(self.lines) and not self.lines[last + 1].strip():
            last += 1
        elif not kept and first > 0 and not self.lines[first - 1].strip() \
                and all(not ln for ln in self.lines[last + 1:]):
            first -= 1  # the last entry of the file: drop the blank line that set it off
        start = self._line_starts[first]
        end = self._line_starts[last + 1] if last + 1 < len(self.lines) else len(self.src)
        if end == len(self.src) and not self.src.endswith("\n") and start > 0 and not kept:
            start -= 1  # keep a missing final newline missing
        self._add_patch(start, end, lambda: "".join(k + "\n" for k in kept))

    def walk(self) -> Iterator[tuple[str, CommentedMap]]:
        services = self.services()
        for name in own_keys(services):
            svc = services[name]
            if isinstance(svc, dict):
                yield str(name), svc
