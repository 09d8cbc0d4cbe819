"""DockerfileDoc: a Dockerfile read with dockerfile-parse and edited by whole-line splices.

dockerfile-parse is given an in-memory file object (with a path it writes to disk on every
edit) and read once per version of the text. It does not know heredocs (``RUN <<EOF``): the
lines of a heredoc come back as instructions of their own. We fold them back into the
instruction that opened them and mark it ``heredoc``.

Every edit replaces whole lines; lines no edit touched stay byte-identical. Parser directives
(``# syntax=``, ``# escape=``) stay first and ``ARG`` before the first ``FROM`` stays there.
"""

from __future__ import annotations

import io
import re
import shlex
from .record import field, record

from . import lineends
from .errors import HardenError

KNOWN = {
    "FROM", "RUN", "CMD", "LABEL", "MAINTAINER", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT",
    "VOLUME", "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL",
}
_HEREDOC = re.compile(r"<<(-?)\s*([\"']?)([A-Za-z_][A-Za-z0-9_]*)\2")
_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9_-]*)\s*=\s*(.*?)\s*$")


@record
class Instruction:
    instruction: str  # upper case, e.g. "RUN"
    value: str  # arguments, continuation lines joined (dockerfile-parse's value)
    startline: int  # 0-based, inclusive
    endline: int  # 0-based, inclusive
    heredoc: bool = False
    lines: list[str] = field(default_factory=list)  # raw lines, without newlines

    @property
    def raw(self) -> str:
        return "\n".join(self.lines)

    def flags(self) -> dict[str, str]:
        """``--from=x --chown=y`` style flags at the start of the arguments."""
        out: dict[str, str] = {}
        for tok in self.value.split():
            if not tok.startswith("--"):
                break
            k, _, v = tok[2:].partition("=")
            out[k] = v
        return out

    def args_without_flags(self) -> str:
        toks = self.value.split(" ")
        i = 0
        while i < len(toks) and (toks[i].startswith("--") or toks[i] == ""):
            i += 1
        return " ".join(toks[i:]).strip()

    def exec_form(self) -> list[str] | None:
        """The JSON array of CMD/ENTRYPOINT/RUN in exec form, else None."""
        import json

        v = self.args_without_flags().strip()
        if v.startswith("["):
            try:
                arr = json.loads(v)
            except ValueError:
                return None
            if isinstance(arr, list) and all(isinstance(a, str) for a in arr):
                return arr
        return None

    def words(self) -> list[str]:
        arr = self.exec_form()
        if arr is not None:
            return arr
        try:
            return shlex.split(self.args_without_flags(), comments=False)
        except ValueError:
            return self.args_without_flags().split()


@record
class Stage:
    index: int
    from_: Instruction
    base: str  # image reference as written (may hold ${ARG})
    alias: str | None
    platform: str | None
    instructions: list[Instruction]  # after FROM, up to the next FROM

    @property
    def name(self) -> str:
        return self.alias or str(self.index)

    @property
    def startline(self) -> int:
        return self.from_.startline

    @property
    def endline(self) -> int:
        return self.instructions[-1].endline if self.instructions else self.from_.endline

    def find(self, name: str) -> list[Instruction]:
        return [i for i in self.instructions if i.instruction == name]

    def last(self, name: str) -> Instruction | None:
        found = self.find(name)
        return found[-1] if found else None


def parse_from(value: str) -> tuple[str, str | None, str | None]:
    """``--platform=x image AS name`` -> (image, alias, platform)."""
    toks = value.split()
    platform = None
    rest = []
    for t in toks:
        if t.startswith("--platform="):
            platform = t.split("=", 1)[1]
        elif t.startswith("--"):
            continue
        else:
            rest.append(t)
    image = rest[0] if rest else ""
    alias = None
    if len(rest) >= 3 and rest[1].lower() == "as":
        alias = rest[2]
    return image, alias, platform


class DockerfileDoc:
    kind = "dockerfile"

    def __init__(self, path: str, text: str):
        self.path = path
        self.original = text
        self.bom = text.startswith("\ufeff")
        body = text[1:] if self.bom else text
        self.final_newline = body.endswith("\n")
        body, self.newline, self._crlf_lines = lineends.split(body)
        self._source = body
        self._text = body
        self._history: list[str] = []
        self._parsed_for: str | None = None
        self._instructions: list[Instruction] = []
        self._preamble: list[Instruction] = []
        self._stages: list[Stage] = []
        self._parse()
        if not self._stages:
            raise HardenError(path, "no FROM instruction: not a Dockerfile harden can read")

    # ------------------------------------------------------------ parsing
    @property
    def text(self) -> str:
        return self._text

    @property
    def lines(self) -> list[str]:
        return self._text.split("\n")

    def _parse(self) -> None:
        if self._parsed_for == self._text:
            return
        from dockerfile_parse import DockerfileParser

        raw_lines = self._text.split("\n")
        try:
            parser = DockerfileParser(fileobj=io.BytesIO(self._text.encode("utf-8")))
            structure = parser.structure
        except Exception as e:  # dockerfile-parse raises plain exceptions
            raise HardenError(self.path, f"cannot parse Dockerfile: {e}") from None
        items = sorted(structure, key=lambda s: (s["startline"], -s["endline"]))
        insts: list[Instruction] = []
        i = 0
        while i < len(items):
            s = items[i]
            name = s["instruction"].upper()
            if name == "COMMENT":
                i += 1
                continue
            start, end = s["startline"], s["endline"]
            if name not in KNOWN:
                raise HardenError(self.path, f"unknown instruction {s['instruction']}", start + 1)
            inst = Instruction(name, s["value"], start, end)
            markers = _HEREDOC.findall(s["content"]) if name in ("RUN", "COPY", "ADD") else []
            if markers:
                inst.heredoc = True
                line = end + 1
                for dash, _q, word in markers:
                    while line < len(raw_lines):
                        candidate = raw_lines[line].lstrip("\t") if dash else raw_lines[line]
                        if candidate == word:
                            break
                        line += 1
                    else:
                        raise HardenError(self.path, f"heredoc <<{word} is never closed", start + 1)
                    line += 1
                inst.endline = line - 1
                while i + 1 < len(items) and items[i + 1]["startline"] <= inst.endline:
                    i += 1
            # comments inside a continuation are part of the instruction's lines
            while i + 1 < len(items) and items[i + 1]["startline"] <= inst.endline:
                i += 1
            inst.lines = raw_lines[inst.startline : inst.endline + 1]
            insts.append(inst)
            i += 1
        self._instructions = insts
        stages: list[Stage] = []
        preamble: list[Instruction] = []
        for inst in insts:
            if inst.instruction == "FROM":
                image, alias, platform = parse_from(inst.value)
                stages.append(Stage(len(stages), inst, image, alias, platform, []))
            elif stages:
                stages[-1].instructions.append(inst)
            else:
                preamble.append(inst)
        self._stages = stages
        self._preamble = preamble
        self._parsed_for = self._text

    @property
    def instructions(self) -> list[Instruction]:
        self._parse()
        return self._instructions

    @property
    def stages(self) -> list[Stage]:
        self._parse()
        return self._stages

    @property
    def preamble(self) -> list[Instruction]:
        """Instructions before the first FROM (ARG only, in a valid Dockerfile)."""
        self._parse()
        return self._preamble

    def directives(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for line in self.lines:
            m = _DIRECTIVE.match(line)
            if not m:
                break
            out[m.group(1).lower()] = m.group(2)
        return out

    def stage_by_name(self, name: str) -> Stage | None:
        for st in self.stages:
            if st.alias == name or str(st.index) == name:
                return st
        return None

    def replace_lines(self, start: int, end: int, new_lines: list[str]) -> None:
        """Replace lines ``start..end`` (0-based, inclusive; end = start - 1 inserts)."""
        lines = self.lines
        if not (0 <= start <= len(lines)) or end < start - 1 or end >= len(lines):
            raise IndexError("line span out of range")
        self._history.append(self._text)
        self._text = "\n".join(lines[:start] + list(new_lines) + lines[end + 1 :])

    def insert_lines(self, before: int, new_lines: list[str]) -> None:
        self.replace_lines(before, before - 1, new_lines)

    def set_text(self, text: str) -> None:
        self._history.append(self._text)
        self._text = text

    @property
    def changed(self) -> bool:
        return self.render() != self.original

    def checkpoint(self) -> int:
        return len(self._history)

    def rollback(self, token: int) -> None:
        if len(self._history) > token:
            self._text = self._history[token]
            del self._history[token:]

    def render(self) -> str:
        text = lineends.join(self._source, self._crlf_lines, self._text, self.newline)
        if self.bom:
            text = "\ufeff" + text
        return text
