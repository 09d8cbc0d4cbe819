"""fastdiff gives valid diffs (applying them rebuilds the new text) and matches difflib on
small inputs, so snapshots stay as they were."""

from __future__ import annotations

import difflib
import random

from harden import fastdiff


def _apply(a, b, ops):
    out = []
    for tag, i1, i2, j1, j2 in ops:
        if tag == "equal":
            assert a[i1:i2] == b[j1:j2]
            out += a[i1:i2]
        else:
            out += b[j1:j2]
    return out


def _compose(n):
    lines = ["services:\n"]
    for i in range(n):
        lines += [f"  svc{i}:\n", "    image: x\n", "    depends_on:\n", "      - db\n", "\n"]
    return lines


def _harden_like(lines):
    out = []
    for ln in lines:
        if ln == "      - db\n":
            out += ["      db:\n", "        condition: service_healthy\n", "    networks:\n", "      - backend\n"]
        else:
            out.append(ln)
    return out


def test_large_inputs_give_a_correct_edit_script():
    a = _compose(2000)
    b = _harden_like(a)
    ops = fastdiff.opcodes(a, b)
    assert _apply(a, b, ops) == b
    changed = sum(j2 - j1 for t, i1, i2, j1, j2 in ops if t != "equal")
    assert changed <= 4 * 2000 + 10  # no needless churn


def test_small_inputs_match_difflib():
    rng = random.Random(7)
    for _ in range(50):
        a = [f"l{rng.randrange(8)}\n" for _ in range(rng.randrange(40))]
        b = list(a)
        for _ in range(rng.randrange(6)):
            b.insert(rng.randrange(len(b) + 1), f"n{rng.randrange(4)}\n")
        assert fastdiff.opcodes(a, b) == difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
        assert list(fastdiff.unified_diff(a, b, "a/x", "b/x")) == list(difflib.unified_diff(a, b, fromfile="a/x", tofile="b/x"))


def test_popular_lines_next_to_an_edit_are_not_removed_and_added_again():
    """difflib.unified_diff drops lines that make up over 1% of a 200+ line text as anchors
    (autojunk): the untouched `logging:` block after an edited port line came out as removed
    and added again (piggymetrics' compose file). Only the edited and the added lines change."""
    a = ["services:\n"]
    for k in range(30):
        a += [f"  s{k}:\n", f"    image: img{k}\n", "    ports:\n", f"      - {8000 + k}:80\n",
              "    logging:\n", "      options:\n", '        max-size: "10m"\n', "\n"]
    b = list(a)
    b[4] = '      - "127.0.0.1:8000:80"\n'
    b[9:9] = ["    networks:\n", "      - backend\n"]
    assert len(a) >= 200
    text = "".join(fastdiff.unified_diff(a, b, "a/c.yml", "b/c.yml"))
    changed = [ln for ln in text.splitlines() if ln[:1] in "+-" and not ln.startswith(("+++", "---"))]
    assert changed == ["-      - 8000:80", '+      - "127.0.0.1:8000:80"', "+    networks:", "+      - backend"]


def test_large_unified_diff_applies(tmp_path):
    a = _compose(1500)
    b = _harden_like(a)
    text = "".join(fastdiff.unified_diff(a, b, "a/c.yml", "b/c.yml"))
    # re-apply the hunks
    out, i = [], 0
    hunks = text.split("@@ -")[1:]
    for h in hunks:
        header, body = h.split(" @@\n", 1)
        start = int(header.split(",")[0].split()[0]) - 1
        out += a[i:start]
        i = start
        for line in body.splitlines(keepends=True):
            if line.startswith(" "):
                out.append(line[1:]); i += 1
            elif line.startswith("-"):
                i += 1
            elif line.startswith("+"):
                out.append(line[1:])
    out += a[i:]
    assert out == b
