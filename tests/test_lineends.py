"""Line endings come back as they were: LF, CRLF, and files that mix them (each untouched line
keeps its own ending, new lines take the ending most of the file uses)."""

from __future__ import annotations

import shutil
from pathlib import Path

from hypothesis import given, settings, strategies as st

from harden_testlib import run_harden
from harden import lineends


def test_single_kind_files():
    assert lineends.split("a\nb\n") == ("a\nb\n", "\n", None)
    assert lineends.split("a\r\nb\r\n") == ("a\nb\n", "\r\n", None)
    assert lineends.split("a\r\nb") == ("a\nb", "\r\n", None)
    assert lineends.join("a\nb\n", None, "a\nx\nb\n", "\r\n") == "a\r\nx\r\nb\r\n"
    assert lineends.join("a\nb\n", None, "a\nx\nb\n", "\n") == "a\nx\nb\n"


def test_mixed_file_keeps_each_lines_ending():
    body = "one\r\ntwo\r\nthree\nfour\r\n"
    text, newline, flags = lineends.split(body)
    assert text == "one\ntwo\nthree\nfour\n" and newline == "\r\n" and flags == [True, True, False, True, False]
    after = "one\ntwo\nnew\nthree\nfour\n"
    assert lineends.join(text, flags, after, newline) == "one\r\ntwo\r\nnew\r\nthree\nfour\r\n"
    # the majority decides what new lines get
    text, newline, flags = lineends.split("a\nb\nc\r\n")
    assert newline == "\n"
    assert lineends.join(text, flags, "a\nb\nx\nc\n", newline) == "a\nb\nx\nc\r\n"
    assert lineends.join(text, flags, text, newline) == "a\nb\nc\r\n"


_LINE = st.sampled_from(["services:", "  db:", "    image: x", "", "# c", "  web:", "    ports:", "  a:", "  b:",
                         "    image: y", "# d", "x-common: &c", "networks:", "  backend:"])


# Distinct lines: where a file holds the same line twice around an edit, which copy harden
# "kept" is a matter of choice, and the diff may choose the other one.
@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(st.tuples(_LINE, st.booleans()), min_size=1, max_size=12, unique_by=lambda t: t[0]), st.booleans(),
       st.integers(0, 12), st.integers(0, 3), st.lists(st.sampled_from(["    new: 1", "  added:", "    more: 2"]), max_size=3))
def test_untouched_lines_keep_their_endings(lines, final_newline, at, remove, insert):
    body = "".join(text + ("\r\n" if crlf else "\n") for text, crlf in lines)
    if not final_newline:
        body = body[: -2 if lines[-1][1] else -1]
    text, newline, flags = lineends.split(body)
    assert lineends.join(text, flags, text, newline) == body  # nothing edited: the same bytes
    old = text.split("\n")
    at = min(at, len(old) - 1)
    new = old[:at] + insert + old[at + remove:]
    out = lineends.join(text, flags, "\n".join(new), newline)
    assert out.replace("\r\n", "\n") == "\n".join(new)
    out_lines = out.split("\n")
    body_lines = body.split("\n")
    for k in range(min(at, len(new) - 1)):  # the lines before the edit
        assert out_lines[k] == body_lines[k]
    after_edit = len(old) - min(len(old), at + remove)
    for k in range(1, after_edit + 1):  # and the lines after it
        assert out_lines[-k] == body_lines[-k]


def test_harden_apply_on_a_mixed_project(tmp_path: Path):
    proj = tmp_path / "p"
    proj.mkdir()
    compose = (b"services:\r\n  db:\r\n    image: mysql:8.0\r\n    environment:\r\n      MYSQL_ROOT_PASSWORD: x\r\n"
               b"  web:\n    image: nginx\n    ports:\n      - \"8080:80\"\n    depends_on:\n      - db\n")
    docker = b"FROM python:3.12\r\nWORKDIR /app\nCOPY requirements.txt .\r\nRUN pip install -r requirements.txt\nCOPY . .\r\nCMD [\"python\", \"app.py\"]\r\n"
    (proj / "docker-compose.yml").write_bytes(compose)
    (proj / "Dockerfile").write_bytes(docker)
    (proj / "requirements.txt").write_text("flask\n")
    (proj / "app.py").write_text("import flask\n")
    p = run_harden("apply", str(proj))
    assert p.returncode == 0, p.stderr
    for name, before in (("docker-compose.yml", compose), ("Dockerfile", docker)):
        after = (proj / name).read_bytes()
        assert after != before
        # every original line that is still there (same text) kept its own ending
        kept = [ln for ln in before.split(b"\n") if ln]
        after_lines = set(after.split(b"\n"))
        for ln in kept:
            if ln.rstrip(b"\r") in {a.rstrip(b"\r") for a in after_lines}:
                assert ln in after_lines, (name, ln)
    assert b"  web:\n    image: nginx\n" in (proj / "docker-compose.yml").read_bytes()
    assert b"WORKDIR /app\nCOPY requirements.txt .\r\n" in (proj / "Dockerfile").read_bytes()
    again = run_harden("diff", str(proj))
    assert again.returncode == 0, again.stdout
