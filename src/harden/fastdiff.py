"""Line diffs that stay fast on large files.

difflib's SequenceMatcher is quadratic when a file holds many equal lines in many places (a
5,000-service compose file has thousands of `    depends_on:`): minutes for one diff. Small
inputs use difflib as it is. Large inputs are first cut at anchors — lines that occur exactly
once in each text, kept in order (the longest increasing subsequence, as patience diff does) —
and difflib only matches the short stretches between anchors.
"""

from __future__ import annotations

import bisect
import difflib
from collections import Counter
from typing import Iterator, Sequence

SMALL = 4000  # lines in both texts together: below this, plain difflib


def _lis(pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Longest subsequence of (i, j) pairs (sorted by i) with increasing j."""
    tails: list[int] = []
    tail_idx: list[int] = []
    prev = [-1] * len(pairs)
    for k, (_i, j) in enumerate(pairs):
        pos = bisect.bisect_left(tails, j)
        if pos == len(tails):
            tails.append(j)
            tail_idx.append(k)
        else:
            tails[pos] = j
            tail_idx[pos] = k
        prev[k] = tail_idx[pos - 1] if pos > 0 else -1
    out = []
    k = tail_idx[-1] if tail_idx else -1
    while k >= 0:
        out.append(pairs[k])
        k = prev[k]
    return out[::-1]


def _small(a: Sequence[str], b: Sequence[str], autojunk: bool) -> list[tuple[str, int, int, int, int]]:
    return difflib.SequenceMatcher(None, a, b, autojunk=autojunk).get_opcodes()


def opcodes(a: Sequence[str], b: Sequence[str], autojunk: bool = False) -> list[tuple[str, int, int, int, int]]:
    """difflib-style opcodes turning ``a`` into ``b``."""
    if len(a) + len(b) < SMALL:
        return _small(a, b, autojunk)
    ca, cb = Counter(a), Counter(b)
    where_b = {line: j for j, line in enumerate(b) if cb[line] == 1}
    pairs = [(i, where_b[line]) for i, line in enumerate(a) if ca[line] == 1 and line in where_b]
    anchors = _lis(pairs)
    raw: list[tuple[str, int, int, int, int]] = []
    i0 = j0 = 0
    for i, j in anchors + [(len(a), len(b))]:
        if i > i0 or j > j0:
            for tag, x1, x2, y1, y2 in _small(a[i0:i], b[j0:j], autojunk):
                raw.append((tag, x1 + i0, x2 + i0, y1 + j0, y2 + j0))
        if i < len(a):
            raw.append(("equal", i, i + 1, j, j + 1))
        i0, j0 = i + 1, j + 1
    merged: list[tuple[str, int, int, int, int]] = []
    for op in raw:
        if op[1] == op[2] and op[3] == op[4]:
            continue
        if merged and merged[-1][0] == op[0] == "equal":
            t, x1, _x2, y1, _y2 = merged[-1]
            merged[-1] = (t, x1, op[2], y1, op[4])
        else:
            merged.append(op)
    return merged or [("equal", 0, 0, 0, 0)]


class _Matcher(difflib.SequenceMatcher):
    def __init__(self, a: Sequence[str], b: Sequence[str]):
        super().__init__(None, a, b, autojunk=False)
        self._ops = opcodes(a, b, autojunk=False)

    def get_opcodes(self):  # type: ignore[override]
        return self._ops


def unified_diff(a: Sequence[str], b: Sequence[str], fromfile: str, tofile: str, n: int = 3) -> Iterator[str]:
    """What difflib.unified_diff prints (without dates), fast on large inputs, and without
    difflib's "popular line" heuristic (autojunk): on a file of 200 lines or more, a line that
    makes up over 1% of it (`    logging:` in every service) is ignored as an anchor, and an
    untouched block of such lines next to an edit shows as removed and added again."""
    started = False
    for group in _Matcher(a, b).get_grouped_opcodes(n):
        if not started:
            started = True
            yield f"--- {fromfile}\n"
            yield f"+++ {tofile}\n"
        first, last = group[0], group[-1]
        yield f"@@ -{_range(first[1], last[2])} +{_range(first[3], last[4])} @@\n"
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                for line in a[i1:i2]:
                    yield " " + line
                continue
            if tag in ("replace", "delete"):
                for line in a[i1:i2]:
                    yield "-" + line
            if tag in ("replace", "insert"):
                for line in b[j1:j2]:
                    yield "+" + line


def _range(start: int, stop: int) -> str:
    # as difflib's _format_range_unified
    beginning = start + 1
    length = stop - start
    if length == 1:
        return f"{beginning}"
    if not length:
        beginning -= 1
    return f"{beginning},{length}"
