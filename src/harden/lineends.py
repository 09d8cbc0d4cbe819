"""Line endings: harden edits LF text and gives every line back the ending it had.

A file with one kind of ending (LF or CRLF) is the common case: new lines get that ending. A
file that mixes them (a CRLF file someone appended to on Linux, say) keeps each untouched line's
own ending; lines harden writes get the ending most of the file uses. Without this, a mixed file
would come back with every line converted, a diff of the whole file for a one-line change.
Which lines are untouched is found by matching the edited text against the original (common
head and tail by position, a line diff in between); where an edit sits among copies of the same
line, the diff may give a copy the other's ending.
"""

from __future__ import annotations


def split(body: str) -> tuple[str, str, list[bool] | None]:
    """``(text with LF endings, ending for new lines, per-line CRLF flags or None)``.

    The flags are given only for a mixed file: ``flags[i]`` is True when line ``i`` of the LF
    text ended with CRLF."""
    crlf = body.count("\r\n")
    if not crlf:
        return body, "\n", None
    lf = body.count("\n") - crlf
    text = body.replace("\r\n", "\n")
    if not lf:
        return text, "\r\n", None
    flags = [line.endswith("\r") for line in body.split("\n")]
    return text, ("\r\n" if crlf >= lf else "\n"), flags


def join(before: str, flags: list[bool] | None, after: str, newline: str) -> str:
    """``after`` (LF text, an edit of the LF text ``before``) with the file's endings back."""
    if flags is None:
        return after.replace("\n", "\r\n") if newline == "\r\n" else after
    from .fastdiff import opcodes

    old = before.split("\n")
    new = after.split("\n")
    ends = [newline] * len(new)
    # the lines before and after the edits match by position; only the middle needs a diff
    # (which, among equal lines, may pair a line with another copy of it)
    head = 0
    while head < min(len(old), len(new)) and old[head] == new[head]:
        ends[head] = "\r\n" if flags[head] else "\n"
        head += 1
    tail = 0
    while tail < min(len(old), len(new)) - head and old[-1 - tail] == new[-1 - tail]:
        ends[-1 - tail] = "\r\n" if flags[-1 - tail] else "\n"
        tail += 1
    for tag, i1, i2, j1, _j2 in opcodes(old[head:len(old) - tail], new[head:len(new) - tail]):
        if tag == "equal":
            for k in range(i2 - i1):
                ends[head + j1 + k] = "\r\n" if flags[head + i1 + k] else "\n"
    ends[-1] = ""  # the last piece has no ending: the text ends there
    return "".join(line + end for line, end in zip(new, ends))
