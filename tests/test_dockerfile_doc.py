"""DockerfileDoc: reading and whole-line splices, tested as properties over generated
Dockerfiles (tests/strategies.py: stages, ARG before FROM, directives, continuations with
comments inside, heredocs, CRLF, BOM, missing final newline)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harden.dockerfile_doc import DockerfileDoc
from harden.errors import HardenError
from strategies import dockerfile_cases, n_examples


@settings(max_examples=n_examples(200))
@given(dockerfile_cases())
def test_untouched_render_is_byte_identical_and_parse_is_consistent(case):
    doc = DockerfileDoc("Dockerfile", case.text)
    assert doc.render() == case.text
    assert not doc.changed
    assert len(doc.stages) == case.stages
    lines = doc.lines
    prev_end = -1
    for inst in doc.instructions:
        # spans are ordered, disjoint, and the raw lines are the file's lines
        assert prev_end < inst.startline <= inst.endline < len(lines)
        assert inst.lines == lines[inst.startline : inst.endline + 1]
        assert inst.lines[0].lstrip().upper().startswith(inst.instruction)
        prev_end = inst.endline
    assert any(i.heredoc for i in doc.instructions) == case.heredoc
    for inst in doc.preamble:
        assert inst.instruction == "ARG"
    # a heredoc's body never shows up as instructions of its own
    for inst in doc.instructions:
        if inst.heredoc:
            assert inst.lines[-1] == "EOF"


@settings(max_examples=n_examples(200))
@given(dockerfile_cases(), st.data())
def test_splices_keep_every_other_line_and_roll_back(case, data):
    doc = DockerfileDoc("Dockerfile", case.text)
    original_lines = doc.lines
    n = len(original_lines)
    token = doc.checkpoint()
    start = data.draw(st.integers(0, n - 1), label="start")
    end = data.draw(st.integers(start - 1, min(n - 1, start + 3)), label="end")
    new = data.draw(st.lists(st.sampled_from(["USER 10001:10001", "# harden: added", "RUN true", ""]), max_size=3))
    doc.replace_lines(start, end, new)
    after = doc.lines
    assert after[:start] == original_lines[:start]
    assert after[start : start + len(new)] == new
    assert after[start + len(new) :] == original_lines[end + 1 :]
    out = doc.render()
    assert out.startswith("\ufeff") == case.text.startswith("\ufeff")
    if "\r\n" in case.text:
        assert "\n" not in out.replace("\r\n", "")
    doc.rollback(token)
    assert doc.render() == case.text


@pytest.mark.parametrize(
    "text, words",
    [
        ("# just a comment\n", "no FROM"),
        ("FROM python:3.12\nRUN <<EOF\necho never closed\n", "never closed"),
        ("FROM python:3.12\nFROBNICATE now\n", "unknown instruction"),
    ],
)
def test_bad_dockerfiles_are_one_clear_error(text, words):
    with pytest.raises(HardenError) as e:
        DockerfileDoc("Dockerfile", text)
    assert words in e.value.message
    assert "\n" not in e.value.one_line()


def test_replace_lines_out_of_range_is_refused_and_changes_nothing():
    doc = DockerfileDoc("Dockerfile", "FROM alpine\nCMD [\"sh\"]\n")
    with pytest.raises(IndexError):
        doc.replace_lines(5, 7, ["RUN x"])
    assert doc.render() == "FROM alpine\nCMD [\"sh\"]\n"
