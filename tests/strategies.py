"""Hypothesis strategies: compose files and Dockerfiles written as *text*, in many styles.

The generators build the text line by line (not through a YAML dumper) so that every layout a
person might write shows up: 2/4-space indentation, indentless or indented sequences, the three
quoting styles, both ``environment`` and ``depends_on`` forms, anchors and merge keys, comments
in every position, CRLF, a BOM, a leading ``---`` and a missing final newline.

Each generator returns a small record with the text and what it put in: the comments (every one
is unique, so a test can check that each survives) and the service names.

The hypothesis settings profile ``harden`` (derandomized, no deadline) is registered here and
loaded by the test modules that use these strategies.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st

settings.register_profile(
    "harden",
    derandomize=True,  # CI is reproducible: the same examples every run
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)
settings.register_profile("harden-deep", parent=settings.get_profile("harden"), derandomize=False)
# local debugging: stop at the first bug, shrink little
settings.register_profile("harden-debug", parent=settings.get_profile("harden"), report_multiple_bugs=False,
                          phases=[Phase.explicit, Phase.reuse, Phase.generate])
settings.load_profile(os.environ.get("HARDEN_HYPOTHESIS_PROFILE", "harden"))


def n_examples(n: int) -> int:
    """Example count for CI; HARDEN_HYPOTHESIS_SCALE=10 runs ten times more locally."""
    return max(1, int(n * float(os.environ.get("HARDEN_HYPOTHESIS_SCALE", "1"))))


# --------------------------------------------------------------------------- pieces

COMMENT_BODIES = [
    "note", "TODO: tighten this", "keep: me", 'quotes "x" and \'y\'', "unicode é ✓ 漢字", "#double hash",
    "- looks like a list item", "key: value", "   spaced out", "&anchor *alias", "[flow, ish]",
]

IMAGES = {
    "db": ["postgres:16", "postgres:15-alpine", "mysql:8.0", "mariadb:11", "mongo:7"],
    "cache": ["redis:7-alpine", "redis:7", "memcached:1.6"],
    "web": ["nginx:1.25", "traefik:v3.0", "caddy:2"],
    "tool": ["adminer", "adminer:4", "phpmyadmin/phpmyadmin", "dpage/pgadmin4", "mailhog/mailhog", "rediscommander/redis-commander"],
    "app": ["python:3.12-slim", "node:20-alpine", "busybox:1.36", "ghcr.io/acme/app:1.2.3"],
}
SERVICE_NAMES = {
    "db": ["db", "postgres", "mysql", "database"],
    "cache": ["redis", "cache"],
    "web": ["proxy", "nginx", "frontend"],
    "tool": ["adminer", "phpmyadmin", "pgadmin", "mailhog", "redis-commander"],
    "app": ["web", "api", "worker", "app", "bot", "scheduler"],
}


class Counter:
    def __init__(self) -> None:
        self.n = 0

    def next(self) -> int:
        self.n += 1
        return self.n


@dataclass
class ComposeCase:
    text: str
    comments: list[str] = field(default_factory=list)  # every comment written, "#..." form
    services: list[str] = field(default_factory=list)
    builds: list[str] = field(default_factory=list)  # services with `build:` (need a Dockerfile)
    indent: int = 2
    crlf: bool = False
    bom: bool = False
    has_anchor: bool = False

    def as_bytes(self) -> bytes:
        return self.text.encode("utf-8")


def _quote(draw, value: str, *, allow_plain: bool = True) -> str:
    """``value`` (a string that is safe plain) in one of the three quoting styles."""
    styles = ["plain", "single", "double"] if allow_plain else ["single", "double"]
    s = draw(st.sampled_from(styles))
    if s == "single":
        return "'" + value.replace("'", "''") + "'"
    if s == "double":
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return value


class _Writer:
    """Collects lines and comments; comments are numbered so each one is unique."""

    def __init__(self, draw, counter: Counter):
        self.draw = draw
        self.c = counter
        self.lines: list[str] = []
        self.comments: list[str] = []

    def comment_text(self) -> str:
        body = self.draw(st.sampled_from(COMMENT_BODIES))
        hashes = self.draw(st.sampled_from(["# ", "#", "#  "]))
        text = f"{hashes}c{self.c.next()} {body}"
        self.comments.append(text)
        return text

    def maybe_comment_lines(self, col: int, p: float = 0.3) -> None:
        """Full comment lines (and sometimes a blank line) at ``col`` (sometimes misaligned)."""
        if self.draw(st.integers(0, 99)) < p * 100:
            for _ in range(self.draw(st.integers(1, 2))):
                c = self.draw(st.sampled_from([col, col, 0, col + 1]))
                self.lines.append(" " * c + self.comment_text())
        if self.draw(st.integers(0, 99)) < 15:
            self.lines.append("")

    def eol(self, p: float = 0.3) -> str:
        if self.draw(st.integers(0, 99)) < p * 100:
            gap = self.draw(st.sampled_from([" ", "  ", "   "]))
            return gap + self.comment_text()
        return ""

    def add(self, line: str, *, eol: bool = True) -> None:
        self.lines.append(line + (self.eol() if eol else ""))


@st.composite
def compose_cases(draw, *, min_services: int = 1, max_services: int = 5, allow_anchors: bool = True,
                  allow_crlf: bool = True) -> ComposeCase:
    counter = Counter()
    w = _Writer(draw, counter)
    ind = draw(st.sampled_from([2, 4]))
    seq_off = draw(st.sampled_from(sorted({0, 2, ind})))
    crlf = allow_crlf and draw(st.integers(0, 9)) == 0
    bom = draw(st.integers(0, 14)) == 0
    final_newline = draw(st.integers(0, 7)) != 0

    def seq(col: int, items: list[str]) -> None:
        dash = col + seq_off
        for it in items:
            w.maybe_comment_lines(dash, 0.15)
            w.add(" " * dash + "- " + it)

    # header
    if draw(st.booleans()):
        w.add(w.comment_text(), eol=False)
        if draw(st.booleans()):
            w.lines.append("#")
        w.lines.append("")
    if draw(st.integers(0, 5)) == 0:
        w.add("---")
    if draw(st.integers(0, 3)) == 0:
        w.add("version: " + _quote(draw, draw(st.sampled_from(["3.8", "3.9", "2.4"])), allow_plain=False))

    anchor = allow_anchors and draw(st.integers(0, 2)) == 0
    if anchor:
        w.maybe_comment_lines(0)
        w.add("x-common: &common")
        w.add(" " * ind + "restart: " + _quote(draw, draw(st.sampled_from(["unless-stopped", "always", "on-failure"]))))
        if draw(st.booleans()):
            w.add(" " * ind + "logging:")
            w.add(" " * 2 * ind + "driver: " + _quote(draw, "json-file"))
            w.add(" " * 2 * ind + "options:")
            w.add(" " * 3 * ind + "max-size: " + _quote(draw, "10m", allow_plain=False))

    n = draw(st.integers(min_services, max_services))
    used: set[str] = set()
    services: list[tuple[str, str]] = []
    for _ in range(n):
        kind = draw(st.sampled_from(sorted(IMAGES)))
        name = draw(st.sampled_from(SERVICE_NAMES[kind]))
        if name in used:
            name = f"{name}{len(used)}"
        used.add(name)
        services.append((name, kind))

    w.maybe_comment_lines(0)
    w.add("services:")
    networks_used: set[str] = set()
    volumes_used: set[str] = set()
    builds: list[str] = []
    profiled: set[str] = set()
    for i, (name, kind) in enumerate(services):
        c1, c2 = ind, 2 * ind
        w.maybe_comment_lines(c1, 0.5)
        w.add(" " * c1 + name + ":")
        if anchor and draw(st.booleans()):
            w.add(" " * c2 + "<<: *common")
        use_build = kind == "app" and draw(st.booleans())
        if use_build:
            builds.append(name)
            if draw(st.booleans()):
                w.add(" " * c2 + "build: " + _quote(draw, "."))
            else:
                w.add(" " * c2 + "build:")
                w.add(" " * (c2 + ind) + "context: " + _quote(draw, "."))
                w.add(" " * (c2 + ind) + "dockerfile: " + _quote(draw, "Dockerfile"))
        else:
            w.maybe_comment_lines(c2, 0.2)
            w.add(" " * c2 + "image: " + _quote(draw, draw(st.sampled_from(IMAGES[kind]))))
        # environment, both forms
        if draw(st.booleans()):
            env = {"TZ": "UTC", "LOG_LEVEL": "info", "DB_HOST": "${DB_HOST:-db}", "URL": "http://${HOST}:${PORT}/x"}
            if kind == "db":
                env.update({"POSTGRES_PASSWORD": "example", "MYSQL_ROOT_PASSWORD": "example"})
            keys = draw(st.lists(st.sampled_from(sorted(env)), min_size=1, max_size=3, unique=True))
            if draw(st.booleans()):
                w.add(" " * c2 + "environment:")
                for k in keys:
                    w.maybe_comment_lines(c2 + ind, 0.15)
                    w.add(" " * (c2 + ind) + k + ": " + _quote(draw, env[k]))
            else:
                w.add(" " * c2 + "environment:")
                seq(c2, [_quote(draw, f"{k}={env[k]}") for k in keys])
        if draw(st.integers(0, 2)) == 0:
            host = draw(st.sampled_from(["8080", "127.0.0.1:8081", "${WEB_PORT:-8082}", "${PORT}", "$PORT"]))
            port = f"{host}:{draw(st.sampled_from(['80', '5432', '3306', '6379', '8000', '${APP_PORT}']))}"
            if draw(st.booleans()):
                # a flow list cannot hold a plain scalar with { } : it is quoted there
                w.add(" " * c2 + "ports: [" + _quote(draw, port, allow_plain=False) + "]")
            else:
                # block context: `- ${PORT}:8080` unquoted, as real projects write it
                w.add(" " * c2 + "ports:")
                seq(c2, [_quote(draw, port, allow_plain="{" in port or "$" in port)])
        if draw(st.integers(0, 2)) == 0:
            vol = draw(st.sampled_from(["data", "cache", "./src:/app/src", "./conf:/etc/conf:ro",
                                        "${DATA_DIR:-./data}:/data", "${CONF}:/etc/app/conf:ro"]))
            if ":" not in vol:
                volumes_used.add(vol)
                vol = f"{vol}:/var/lib/{vol}"
            w.add(" " * c2 + "volumes:")
            seq(c2, [_quote(draw, vol)])
        if draw(st.integers(0, 3)) == 0:
            cmd = draw(st.sampled_from(['["python", "-m", "app"]', "python -m app", "sleep infinity"]))
            w.add(" " * c2 + "command: " + cmd)
        # depends_on: earlier services without profiles only (no cycles, no profile trouble)
        targets = [s for s, _k in services[:i] if s not in profiled]
        if targets and draw(st.booleans()):
            deps = draw(st.lists(st.sampled_from(targets), min_size=1, max_size=min(3, len(targets)), unique=True))
            form = draw(st.sampled_from(["block", "flow", "long"]))
            if form == "flow":
                w.add(" " * c2 + "depends_on: [" + ", ".join(deps) + "]")
            elif form == "block":
                w.add(" " * c2 + "depends_on:")
                seq(c2, deps)
            else:
                w.add(" " * c2 + "depends_on:")
                for d in deps:
                    w.maybe_comment_lines(c2 + ind, 0.15)
                    w.add(" " * (c2 + ind) + d + ":")
                    w.add(" " * (c2 + 2 * ind) + "condition: " + draw(st.sampled_from(["service_started", "service_started"])))
        if draw(st.integers(0, 3)) == 0:
            nets = draw(st.lists(st.sampled_from(["front", "back"]), min_size=1, max_size=2, unique=True))
            networks_used.update(nets)
            if draw(st.booleans()):
                w.add(" " * c2 + "networks: [" + ", ".join(nets) + "]")
            else:
                w.add(" " * c2 + "networks:")
                seq(c2, nets)
        if kind == "tool" and draw(st.booleans()):
            profiled.add(name)
            if draw(st.booleans()):
                w.add(" " * c2 + "profiles: [" + _quote(draw, "dev") + "]")
            else:
                w.add(" " * c2 + "profiles:")
                seq(c2, [_quote(draw, "dev")])
        if draw(st.integers(0, 3)) == 0:
            w.add(" " * c2 + "restart: " + _quote(draw, "no", allow_plain=False))
    if networks_used:
        w.maybe_comment_lines(0)
        w.add("networks:")
        for nname in sorted(networks_used):
            w.add(" " * ind + nname + ":")
    if volumes_used:
        w.maybe_comment_lines(0)
        w.add("volumes:")
        for v in sorted(volumes_used):
            w.add(" " * ind + v + ":")
    if draw(st.integers(0, 4)) == 0:
        w.add(w.comment_text(), eol=False)  # a trailing comment at the very end

    text = "\n".join(w.lines)
    if final_newline:
        text += "\n"
    if crlf:
        text = text.replace("\n", "\r\n")
    if bom:
        text = "\ufeff" + text
    return ComposeCase(text, w.comments, [s for s, _ in services], builds, ind, crlf, bom, anchor)


# ------------------------------------------------------------------------- Dockerfiles

@dataclass
class DockerfileCase:
    text: str
    comments: list[str] = field(default_factory=list)
    stages: int = 1
    heredoc: bool = False


BASES = ["python:3.12-slim", "python:3.11", "node:20-alpine", "alpine:3.19", "debian:bookworm-slim",
         "golang:1.22", "ubuntu:24.04", "nginx:1.25"]


@st.composite
def dockerfile_cases(draw, *, max_stages: int = 3, allow_heredoc: bool = True, allow_crlf: bool = True) -> DockerfileCase:
    counter = Counter()
    w = _Writer(draw, counter)
    crlf = allow_crlf and draw(st.integers(0, 9)) == 0
    bom = draw(st.integers(0, 19)) == 0
    final_newline = draw(st.integers(0, 7)) != 0
    heredoc = False

    if draw(st.integers(0, 2)) == 0:
        w.add("# syntax=docker/dockerfile:1", eol=False)  # a parser directive, not a comment we track
        w.comments.append("# syntax=docker/dockerfile:1")
    arg_before = draw(st.booleans())
    base = draw(st.sampled_from(BASES))
    if arg_before:
        w.maybe_comment_lines(0)
        w.add("ARG BASE=" + base, eol=False)
    nstages = draw(st.integers(1, max_stages))
    for s in range(nstages):
        w.maybe_comment_lines(0, 0.5)
        img = "${BASE}" if arg_before and s == 0 else draw(st.sampled_from(BASES))
        alias = f" AS stage{s}" if (s < nstages - 1 or draw(st.booleans())) else ""
        if alias and draw(st.booleans()):
            alias = alias.replace(" AS ", " as ")
        w.add(f"FROM {img}{alias}", eol=False)
        body = draw(st.lists(st.sampled_from(["env", "run", "runcont", "heredoc", "copy", "workdir", "expose",
                                              "label", "arg", "user"]), max_size=6))
        for kind in body:
            w.maybe_comment_lines(0, 0.25)
            if kind == "env":
                w.add(draw(st.sampled_from(["ENV PYTHONUNBUFFERED=1", "ENV A=b C=d", 'ENV GREETING="hello world"'])), eol=False)
            elif kind == "run":
                w.add(draw(st.sampled_from(["RUN pip install --no-cache-dir -r requirements.txt",
                                            "RUN apt-get update && apt-get install -y --no-install-recommends curl",
                                            "RUN echo '# not a comment' > /tmp/x",
                                            "run echo lower-case instruction"])), eol=False)
            elif kind == "runcont":
                w.add("RUN set -eux; \\", eol=False)
                if draw(st.booleans()):
                    w.lines.append("    " + w.comment_text())  # a comment inside a continuation
                w.add("    apt-get update; \\", eol=False)
                w.add("    rm -rf /var/lib/apt/lists/*", eol=False)
            elif kind == "heredoc" and allow_heredoc:
                heredoc = True
                w.add("RUN <<EOF", eol=False)
                w.add("set -e", eol=False)
                w.add("# inside a heredoc: a shell comment", eol=False)
                w.add("echo hello > /greeting", eol=False)
                w.add("EOF", eol=False)
            elif kind == "copy":
                w.add(draw(st.sampled_from(["COPY . .", "COPY requirements.txt ./", "COPY --chown=1000:1000 src/ /app/src/"])), eol=False)
            elif kind == "workdir":
                w.add("WORKDIR /app", eol=False)
            elif kind == "expose":
                w.add("EXPOSE " + draw(st.sampled_from(["8000", "80", "5000/tcp"])), eol=False)
            elif kind == "label":
                w.add('LABEL org.opencontainers.image.title="demo"', eol=False)
            elif kind == "arg":
                w.add("ARG VERSION=1.0", eol=False)
            elif kind == "user" and s == nstages - 1:
                w.add("USER " + draw(st.sampled_from(["nobody", "1000", "app"])), eol=False)
        if s == nstages - 1:
            w.maybe_comment_lines(0, 0.3)
            if draw(st.booleans()):
                w.add(draw(st.sampled_from(['ENTRYPOINT ["/docker-entrypoint.sh"]', "ENTRYPOINT /entry.sh"])), eol=False)
            w.add(draw(st.sampled_from(['CMD ["python", "-m", "app"]', "CMD python -m app", 'CMD ["node", "server.js"]'])), eol=False)
    if draw(st.integers(0, 4)) == 0:
        w.add(w.comment_text(), eol=False)
    text = "\n".join(w.lines)
    if final_newline:
        text += "\n"
    if crlf:
        text = text.replace("\n", "\r\n")
    if bom:
        text = "\ufeff" + text
    return DockerfileCase(text, w.comments, nstages, heredoc)


# ---------------------------------------------------------------------------- helpers

def comment_lines(text: str) -> list[str]:
    """Full-line comments of a file, stripped (for files we did not generate)."""
    return [ln.strip() for ln in text.lstrip("\ufeff").splitlines() if ln.strip().startswith("#")]


def count_missing(needles: list[str], text: str) -> list[str]:
    """Needles (with multiplicity) that ``text`` no longer holds."""
    from collections import Counter as C

    want = C(needles)
    missing = []
    for needle, n in want.items():
        if text.count(needle) < n:
            missing.append(needle)
    return missing


def lost_comments(comments: list[str], before: str, after: str) -> list[str]:
    """Comments of ``before`` missing from ``after``. A full-line comment must always survive;
    an end-of-line comment only while the line it sits on does (a key a transform deleted or
    rewrote on purpose may take its end-of-line comment with it). Which lines survive is read
    from a line diff of the two texts."""
    import difflib

    old = before.lstrip("\ufeff").splitlines()
    new = after.lstrip("\ufeff").splitlines()
    gone: set[int] = set()
    for tag, i1, i2, _j1, _j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if tag in ("delete", "replace"):
            gone.update(range(i1, i2))
    lost = []
    for c in comments:
        if c in after:
            continue
        for i, ln in enumerate(old):
            if c not in ln:
                continue
            code = ln[: ln.index(c)].strip()
            if not code or i not in gone:
                lost.append(c)
            break
    return lost
