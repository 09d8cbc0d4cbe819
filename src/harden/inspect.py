"""``harden inspect``: what harden believes about each compose service, and why.

For every compose service under PATH: its role, the port it listens on, the services it talks
to, whether it calls the internet (egress), and the evidence behind each of those as
``file:line: what`` (file relative to PATH). The facts are the ones the `networks`,
`depends-healthy` and `split-stages` transforms act on: the classification is
``roles.classify(project, svc, ctx)`` with a real engine ``Context`` over a loaded ``Run``, so
app-source facts (``Run.facts``) and the config's ``[services.NAME]`` overrides are the same.

Port: the config's ``[services.NAME] port``, else the port the app source listens on, else the
container side of the first published port, else ``EXPOSE`` in the stage the service runs of the
Dockerfile it builds, else unknown (None).

Nothing here writes (the app-source facts cache lives outside the project, see facts_cache.py).

JSON (``--format json``)::

    {"services": [{"name", "role", "port", "talks_to", "egress", "evidence"}]}

with ``"project"`` (the compose file's folder relative to PATH) added to each entry when PATH
holds several compose projects. Order: by project (the compose file's folder, then file name),
then the order of the services in the compose files.
"""

from __future__ import annotations

import os
import re
from .record import field, record
from pathlib import Path
from typing import Any

from .errors import HardenError


@record
class ServiceReport:
    project: str  # the compose file's folder relative to PATH ("." for PATH itself)
    name: str
    role: str
    port: int | None
    talks_to: list[str]
    egress: bool | None
    evidence: list[str] = field(default_factory=list)
    compose: str = ""  # base compose file, relative to PATH
    line: int | None = None  # line of the service key in it

    def as_json(self, with_project: bool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if with_project:
            out["project"] = self.project
        out.update(name=self.name, role=self.role, port=self.port, talks_to=list(self.talks_to),
                   egress=self.egress, evidence=list(self.evidence))
        return out


@record
class InspectResult:
    services: list[ServiceReport]
    projects: list[str]

    @property
    def multi(self) -> bool:
        return len(set(self.projects)) > 1


# ------------------------------------------------------------------------------ helpers


_VAR_DEFAULT = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*:?-([^}]*)\}")


def _port_number(text: Any) -> int | None:
    """``8000`` / ``"8000/tcp"`` / ``"${PORT:-8000}"`` / ``"3000-3005"`` -> the first port; else None."""
    if isinstance(text, bool) or text is None:
        return None
    s = _VAR_DEFAULT.sub(lambda m: m.group(1), str(text)).strip()
    m = re.fullmatch(r"(\d{1,5})(?:-\d{1,5})?(?:/(?:tcp|udp|sctp))?", s)
    if not m:
        return None
    n = int(m.group(1))
    return n if 1 <= n <= 65535 else None


def container_port(entry: Any) -> int | None:
    """The container side of one ``ports:`` entry (short or long syntax)."""
    if isinstance(entry, dict):
        return _port_number(entry.get("target"))
    if isinstance(entry, bool) or entry is None:
        return None
    s = str(entry).strip()
    # split on ':' outside ${...}
    parts, depth, cur = [], 0, ""
    for ch in s:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth = max(0, depth - 1)
        if ch == ":" and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return _port_number(parts[-1])


class _Locator:
    """Turns a conclusion into ``file:line: what`` (file relative to PATH)."""

    def __init__(self, run: Any, project: Any, svc: Any):
        self.run = run
        self.project = project
        self.svc = svc

    def rel(self, doc: Any) -> str:
        return self.run.rel_of(doc)

    def service_line(self) -> str:
        doc = self.svc.doc
        line = doc.key_line(doc.services(), self.svc.name)
        return self.at(doc, line)

    def at(self, doc: Any, line: int | None) -> str:
        return f"{self.rel(doc)}:{line}" if line else self.rel(doc)

    def key(self, key: str, sub: str | None = None) -> str:
        """Where the service's own ``key`` is written (the file whose value wins); with ``sub``,
        the line of that entry inside it (``environment: DB_HOST``) when it can be found."""
        doc, node = self.svc.owner(key)
        if not isinstance(node, dict) or key not in node:
            for d, n in self.svc.defs:
                if isinstance(n, dict) and key in n:
                    doc, node = d, n
                    break
            else:
                return self.service_line()
        line = doc.key_line(node, key)
        if sub is not None:
            value = node.get(key)
            sub_line = None
            if isinstance(value, dict):
                sub_line = doc.key_line(value, sub)
            elif isinstance(value, list):
                for i, item in enumerate(value):
                    if isinstance(item, str) and (item == sub or item.startswith(sub + "=")):
                        try:
                            sub_line = value.lc.item(i)[0] + 1
                        except Exception:
                            sub_line = None
                        break
            line = sub_line or line
        return self.at(doc, line) if line else self.service_line()

    def build(self) -> str:
        return self.key("build") if "build" in self.svc.merged else self.service_line()

    def mounted(self, fname: str, target: str) -> str:
        """A line of the mounted proxy config ``fname`` that names ``target``."""
        try:
            from .roles import _mounted_files

            files = _mounted_files(self.project, self.svc)
        except Exception:
            files = []
        pat = re.compile(rf"(?<![\w.-]){re.escape(target)}(?![\w-])", re.I)
        for p in files:
            if p.name != fname:
                continue
            rel = self.run.discovery.rel(Path(os.path.normpath(p)))
            try:
                for i, text in enumerate(p.read_text(encoding="utf-8", errors="replace").splitlines()):
                    if pat.search(text) and not text.lstrip().startswith("#"):
                        return f"{rel}:{i + 1}"
            except OSError:
                pass
            return rel
        return self.key("volumes")

    def labels_of(self, other: str) -> str:
        o = self.project.service(other)
        if o is None:
            return self.service_line()
        return _Locator(self.run, self.project, o).key("labels")


def _conclusion(loc: _Locator, ev: str) -> str:
    """Anchor one ``roles.classify`` evidence string at the place it comes from."""
    m = re.match(r"talks to (\S+): (.*)$", ev)
    if m:
        target, why = m.group(1), m.group(2)
        if why in ("depends_on", "links", "volumes_from", "network_mode", "command", "entrypoint", "healthcheck"):
            return f"{loc.key(why)}: {ev}"
        if why.startswith("environment "):
            return f"{loc.key('environment', why[len('environment '):])}: {ev}"
        if why == "Traefik labels":
            return f"{loc.labels_of(target)}: {ev}"
        if why.startswith("upstream in "):
            return f"{loc.mounted(why[len('upstream in '):], target)}: {ev}"
        if why.startswith("the app source"):
            return f"{loc.build()}: {ev}"
        return f"{loc.service_line()}: {ev}"
    if ev.startswith("publishes ports"):
        return f"{loc.key('ports')}: {ev}"
    if ev.startswith("image "):
        return f"{loc.key('image')}: {ev}"
    if ev.startswith("the app source"):
        return f"{loc.build()}: {ev}"
    if ev == "a reverse proxy routes to it (labels)":
        return f"{loc.key('labels')}: {ev}"
    if ev == "a reverse proxy routes to it (VIRTUAL_HOST)":
        return f"{loc.key('environment', 'VIRTUAL_HOST')}: {ev}"
    m = re.match(r"calls the internet: environment (\S+)", ev)
    if m:
        return f"{loc.key('environment', m.group(1))}: {ev}"
    m = re.match(r"calls the internet: (\S+) names ", ev)
    if m:
        return f"{loc.key('environment', m.group(1))}: {ev}"
    return f"{loc.service_line()}: {ev}"


class _Config:
    """Where the config file sets a service override (for ``config: role = worker`` lines)."""

    def __init__(self, path: Path, config: Path | None):
        self.display: str | None = None
        self.source: Any = None
        try:
            from .settings import PYPROJECT, _display, _Source, find_config, project_root

            root = project_root(path)
            cfg = Path(config) if config is not None else find_config(root)
            if cfg is None or not cfg.is_file():
                return
            text = cfg.read_text(encoding="utf-8", errors="replace")
            self.display = _display(cfg, root)
            prefix = ("tool", "harden") if cfg.name == PYPROJECT else ()
            self.source = _Source(self.display, text, prefix)
        except Exception:
            self.display = None

    def where(self, service: str, key: str) -> str:
        if self.display is None:
            return "config"
        line = self.source.line_of(("services", service), key)
        return f"{self.display}:{line}" if line else self.display


def _grounded(facts: Any) -> bool:
    """Facts read completely from the app's own files (as roles._grounded): only then does a
    "serves no HTTP" mean something."""
    if facts is None or getattr(facts, "truncated", False):
        return False
    return any(str(getattr(e, "file", "") or "")[:1] not in ("", "<") for e in getattr(facts, "evidence", None) or ())


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f'"{v}"'
    return str(v)


# --------------------------------------------------------------------------- the report


def _facts_evidence(run: Any, loc: _Locator, unit: Any, facts: Any) -> list[str]:
    """The app-source evidence, with files relative to PATH; ``<command>`` facts point at the
    compose ``command:`` or the Dockerfile's CMD/ENTRYPOINT."""
    from .app_source import COMMAND_FILE

    out: list[str] = []
    if facts is None or unit is None:
        return out
    if "command" in loc.svc.merged:
        cmd_at = loc.key("command")
    else:
        stage = unit.doc.stages[-1] if unit.doc.stages else None
        ins = (stage.last("CMD") or stage.last("ENTRYPOINT")) if stage is not None else None
        cmd_at = f"{unit.rel}:{ins.startline + 1}" if ins is not None else unit.rel
    for e in getattr(facts, "evidence", None) or ():
        if e.file == COMMAND_FILE:
            where = cmd_at
        else:
            rel = run.discovery.rel(Path(os.path.normpath(Path(unit.context) / e.file)))
            where = f"{rel}:{e.line}" if e.line else rel
        line = f"{where}: {e.what}"
        if line not in out:
            out.append(line)
    if getattr(facts, "truncated", False):
        out.append(f"{loc.build()}: the app source was read only in part (a size or time bound was hit)")
    return out


def _port(run: Any, loc: _Locator, unit: Any, facts: Any, fact_lines: list[str],
          override: Any, cfg: _Config) -> tuple[int | None, str | None]:
    name = loc.svc.name
    if isinstance(override, int) and not isinstance(override, bool):
        return override, f"{cfg.where(name, 'port')}: config: port = {override}"
    fport = getattr(facts, "port", None) if facts is not None else None
    if isinstance(fport, int) and not isinstance(fport, bool):
        pat = re.compile(rf"(?<!\d){fport}(?!\d)")
        for line in fact_lines:
            what = line.split(": ", 1)[-1]
            if pat.search(what):
                return fport, f"{line.split(': ', 1)[0]}: port {fport}: the app source listens on it"
        return fport, f"{loc.build()}: port {fport}: the app source listens on it"
    ports = loc.svc.merged.get("ports")
    if isinstance(ports, list) and ports:
        p = container_port(ports[0])
        if p is not None:
            shown = ports[0] if not isinstance(ports[0], dict) else f"target: {ports[0].get('target')}"
            return p, f"{loc.key('ports')}: port {p}: container side of the first published port ({shown})"
    if unit is not None:
        stages = unit.doc.stages
        target = None
        b = loc.project.build_of(loc.svc)
        if b is not None and b.target:
            target = unit.doc.stage_by_name(str(b.target))
        stage = target if target is not None else (stages[-1] if stages else None)
        if stage is not None:
            for ins in stage.find("EXPOSE"):
                for word in ins.words():
                    p = _port_number(word)
                    if p is None:
                        continue
                    where = f"{unit.rel}:{ins.startline + 1}"
                    if _grounded(facts) and not getattr(facts, "serves_http", False):
                        # one image, several services: EXPOSE speaks for the image's own CMD
                        return None, f"{where}: EXPOSE {ins.value.strip()} is not its port: the app source serves no HTTP"
                    return p, f"{where}: port {p}: EXPOSE {ins.value.strip()}"
    return None, None


def inspect(path: Path, options: Any = None, config: Path | None = None) -> InspectResult:
    """Classify every compose service under ``path``. Raises HardenError on bad input."""
    from .engine import Context, Run
    from .roles import classify

    run = Run(Path(path), options)
    run.load()
    if run.result.errors:
        raise run.result.errors[0] if len(run.result.errors) == 1 else _Many(run.result.errors)
    cfg = _Config(Path(path), config)
    d = run.discovery
    projects = sorted(run.projects, key=lambda p: (_folder(d, p), p.rels[0]))
    out: list[ServiceReport] = []
    folders: list[str] = []
    for project in projects:
        folder = _folder(d, project)
        folders.append(folder)
        ctx = Context(run, "inspect", project.rels[0])
        for svc in project.services():
            loc = _Locator(run, project, svc)
            role = classify(project, svc, ctx)
            unit = project.dockerfiles.get(svc.name)
            facts = run.facts(project, svc.name)
            fact_lines = _facts_evidence(run, loc, unit, facts)
            stopped = run.facts_note(project, svc.name) if facts is None else None
            if stopped:
                fact_lines.append(f"{loc.build()}: {stopped}")
            evidence: list[str] = []
            over = ctx.options.service(svc.name)
            for ev in role.evidence:
                if ev.endswith(" set in the configuration") and ev.startswith(("role ", "egress ")):
                    key = ev.split(" ", 1)[0]
                    evidence.append(f"{cfg.where(svc.name, key)}: config: {key} = {_toml_value(over.get(key))}")
                else:
                    evidence.append(_conclusion(loc, ev))
            if role.egress is None:
                evidence.append(f"{loc.service_line()}: egress unknown: no app source harden could read and no sign "
                                "in the compose file (set [services.%s] egress in the config)" % svc.name)
            port, port_ev = _port(run, loc, unit, facts, fact_lines, over.get("port"), cfg)
            if port_ev:
                evidence.append(port_ev)
            for line in fact_lines:
                if line not in evidence:
                    evidence.append(line)
            line = svc.doc.key_line(svc.doc.services(), svc.name)
            out.append(ServiceReport(folder, svc.name, role.role, port, sorted(role.talks_to), role.egress,
                                     evidence, run.rel_of(svc.doc), line))
    return InspectResult(out, folders)


class _Many(HardenError):
    """Several bad files: the CLI prints every one."""

    def __init__(self, errors: list[HardenError]):
        last = errors[-1]
        super().__init__(last.path, last.message, last.line)
        self.errors = errors


def errors_of(e: HardenError) -> list[HardenError]:
    return list(getattr(e, "errors", None) or [e])


def _folder(d: Any, project: Any) -> str:
    rel = d.rel(Path(os.path.normpath(project.folder)))
    if rel in ("", ".") or os.path.isabs(rel):
        return "." if rel in ("", ".") else rel
    return rel


# ------------------------------------------------------------------------------ output


def json_text(result: InspectResult) -> str:
    import json

    multi = result.multi
    return json.dumps({"services": [s.as_json(multi) for s in result.services]}, indent=2) + "\n"


def _egress_word(v: bool | None) -> str:
    return "yes" if v is True else "no" if v is False else "unknown"


def text(result: InspectResult, path: str = ".") -> str:
    if not result.services:
        return f"no compose services under {path}\n"
    multi = result.multi
    head = (["PROJECT"] if multi else []) + ["SERVICE", "ROLE", "PORT", "TALKS TO", "EGRESS"]
    rows = []
    for s in result.services:
        rows.append(([s.project] if multi else []) + [
            s.name, s.role, str(s.port) if s.port is not None else "-",
            ", ".join(s.talks_to) or "-", _egress_word(s.egress)])
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]

    def fmt(r: list[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() + "\n"

    lines = [fmt(head)] + [fmt(r) for r in rows]
    for s in result.services:
        title = f"{s.project}/{s.name}" if multi and s.project != "." else s.name
        lines.append(f"\n{title} ({s.compose}:{s.line}):\n" if s.line else f"\n{title} ({s.compose}):\n")
        for ev in s.evidence:
            lines.append(f"  {ev}\n")
    return "".join(lines)
