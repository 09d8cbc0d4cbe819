"""The safety net: what harden writes must not break a file or a way the files are used.

Two checks run after every transform that changed something, before anything is written:

1. every changed file, rendered, is read again and must give exactly the tree the transform
   built (a compose file) or the instructions it built (a Dockerfile);
2. every *combination* of compose files that holds a changed file is checked the way
   `docker compose config` checks it: each network, volume, secret and config a service names is
   declared in a file loaded with it; `network_mode` and `networks` are not both set; each
   `depends_on` target is a service of that combination, active whenever its dependent is
   (profiles); each `condition: service_healthy` target has a healthcheck that runs there (its
   own, inherited, or its image's).

Only what harden made worse counts: a combination is compared with itself as read. A violation
fails that transform for that unit: the engine rolls its edits back and reports it (exit 2).

The combinations are found from the file names and folders alone, independently of how the
engine groups files into projects (so a mistake there is still caught here):

- each compose file on its own (`-f file`), with the files it includes;
- each base file (`compose.yaml`, `docker-compose.yml`, ...) with its override file, which
  `docker compose up` loads with it;
- each other compose file after its partner (`-f docker-compose.yml -f docker-compose.prod.yml`,
  `-f docker-compose.test.yml -f docker-compose.test.override.yml`, and a file in a sub-folder
  after the nearest base above it);
- the file lists of the engine's projects.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .record import record


@record
class Combination:
    docs: list  # ComposeDocs, in -f order (included files after the file that includes them)
    label: str  # "-f a.yml -f b.yml"
    reads: set = None  # ids of every file it depends on: its docs and the files they `extends`
    # who talks to whom, as read: (client, server, the networks the name it uses lives on, or None)
    edges: list = None
    # services that had a way out (a network that is not internal) as read
    way_out: set = None
    # a reading harden cannot tell is used: a file that stands alone, loaded after its partner
    # (`-f docker-compose.yml -f docker-compose.prod.yml`). It must stay valid for compose; what
    # runs there (who reaches whom) is not held to the same standard
    speculative: bool = False

    @property
    def key(self) -> tuple:
        return tuple(id(d) for d in self.docs)


def _extended_files(docs: list, world: Any) -> set[int]:
    """ids of the loaded files that services of ``docs`` extend (`extends: {file: ...}`),
    followed through those files too."""
    from .model import doc_dir

    out: set[int] = set()
    todo = list(docs)
    while todo:
        d = todo.pop()
        for _name, node in d.walk():
            ext = node.get("extends")
            if not isinstance(ext, dict) or not isinstance(ext.get("file"), str):
                continue
            try:
                other = world.doc((doc_dir(d) / ext["file"]).resolve()) if world is not None else None
            except OSError:
                other = None
            if other is not None and id(other) not in out:
                out.add(id(other))
                todo.append(other)
    return out


def combinations(run: Any) -> list[Combination]:
    from .project import COMPOSE_BASES, default_base, is_override_name

    compose = [d for d in run.docs.values() if getattr(d, "kind", None) == "compose"]
    included = getattr(run, "includes_of", {})
    inc_ids = {id(x) for v in included.values() for x in v}
    out: dict[tuple, Combination] = {}

    def add(files: list, speculative: bool = False) -> None:
        docs: list = []

        def put(x: Any) -> None:  # a file, then what it includes (compose's order)
            if x in docs:
                return
            docs.append(x)
            for y in included.get(id(x), []):
                put(y)

        for f in files:
            put(f)
        c = Combination(docs, " ".join(f"-f {run.rel_of(f)}" for f in files), speculative=speculative)
        have = out.setdefault(c.key, c)
        have.speculative = have.speculative and speculative

    def complete(doc: Any) -> bool:
        """Every service of ``doc`` has image or build: the file can stand alone."""
        from .model import ComposeProject

        p = ComposeProject(Path(doc.abspath).parent, [doc], [run.rel_of(doc)], world=getattr(run, "world", None))
        return all("image" in s.merged or "build" in s.merged for s in p.services())

    by_folder: dict[Path, list] = {}
    for d in compose:
        if id(d) in inc_ids:
            continue  # read with the file that includes it (and alone, below)
        by_folder.setdefault(Path(d.abspath).parent, []).append(d)
    bases_of: dict[Path, Any] = {}
    for folder, docs in by_folder.items():
        names = {Path(d.abspath).name: d for d in docs}
        b = default_base([Path(n) for n in names if n in COMPOSE_BASES])
        if b is not None:
            bases_of[folder] = names[b.name]

    def base_above(folder: Path) -> Any:
        for parent in folder.parents:
            if parent in bases_of:
                return bases_of[parent]
            if run.discovery is not None and parent == run.discovery.root.parent:
                break
        return None

    for d in compose:
        if not is_override_name(Path(d.abspath).name):  # an override file is never loaded alone
            add([d])
    for folder, docs in sorted(by_folder.items(), key=lambda kv: str(kv[0])):
        names = {Path(d.abspath).name: d for d in docs}
        bases = [names[n] for n in COMPOSE_BASES if n in names]
        for d in sorted(docs, key=lambda x: Path(x.abspath).name):
            name = Path(d.abspath).name
            fam = "docker-compose" if name.startswith("docker-") else "compose"
            same = [b for b in bases if b.abspath.name.startswith("docker-") == (fam == "docker-compose")]
            if is_override_name(name):
                for b in (same or bases[:1]):
                    add([b, d])
                continue
            if name in COMPOSE_BASES:
                above = base_above(folder)
                if above is not None:
                    add([above, d])
                continue
            stem, _, ext = name.rpartition(".")
            partners = []
            if stem.endswith(".override"):
                main = stem[: -len(".override")]
                partners = [names[n] for n in (f"{main}.{ext}", f"{main}.yml", f"{main}.yaml") if n in names][:1]
            if not partners:
                partners = same[:1] or bases[:1]
            if not partners:
                above = base_above(folder)
                partners = [above] if above is not None else []
            for p in partners:
                add([p, d], speculative=complete(d))
    for p in run.projects:
        c = Combination(list(p.docs), " ".join(f"-f {r}" for r in p.rels))
        out.setdefault(c.key, c).speculative = False  # how the engine reads it: a way it is used
    for docs in getattr(run, "alt_readings", []):
        add(list(docs), speculative=True)
    world = getattr(run, "world", None)
    for c in out.values():
        c.reads = set(c.key) | _extended_files(c.docs, world)
    return list(out.values())


# ------------------------------------------------------------------- the model


def _names(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [str(k) for k in value]
    if isinstance(value, list):
        out = []
        for x in value:
            if isinstance(x, dict):
                if x.get("source") is not None:
                    out.append(str(x["source"]))
            elif x is not None:
                out.append(str(x))
        return out
    return []


def _healthcheck_runs(merged: dict) -> bool | None:
    """True: a test that runs; False: disabled; None: nothing in compose (the image decides)."""
    hc = merged.get("healthcheck")
    if not isinstance(hc, dict):
        return None
    if hc.get("disable") in (True, "true", "True"):
        return False
    test = hc.get("test")
    if test is None or test == []:
        return None
    if test == "NONE" or (isinstance(test, list) and str(test[0]).upper() == "NONE"):
        return False
    return True


def _project(combo: Combination, run: Any) -> Any:
    from .model import ComposeProject

    docs = combo.docs
    proj = ComposeProject(Path(docs[0].abspath).parent, list(docs), [run.rel_of(d) for d in docs],
                          world=getattr(run, "world", None))
    # the Dockerfiles these services build, as the engine's projects know them (a HEALTHCHECK there)
    for p in run.projects:
        if any(d in p.docs for d in docs):
            for name, unit in p.dockerfiles.items():
                proj.dockerfiles.setdefault(name, unit)
    return proj


def measure_edges(combo: Combination, run: Any) -> None:
    """Who talks to whom in the combination as read (compose's own evidence: depends_on, links,
    host names in the environment and env files, proxy upstreams), kept on ``combo``: after an
    edit, each pair must still share a network."""
    from .roles import alias_networks, classify

    proj = _project(combo, run)
    edges = []
    for s in proj.services():
        try:
            r = classify(proj, s)
        except Exception:
            continue
        for t in sorted(r.talks_to):
            target = proj.service(t)
            scoped: set[str] | None = None
            for h in sorted(r.hosts.get(t, ())):
                nets = alias_networks(target, h) if target is not None else None
                if nets is None:
                    scoped = None  # reached by a name that works on every network
                    break
                scoped = (scoped or set()) | nets
            edges.append((s.name, t, scoped))
    combo.edges = edges
    merged = {s.name: s.merged for s in proj.services()}
    internal = _internal_networks(proj)
    combo.way_out = {n for n in merged if (_on_networks(merged, n) or set()) - internal}


def _internal_networks(proj: Any) -> set[str]:
    return {n for n, v in proj.top("networks").items() if isinstance(v, dict) and v.get("internal") in (True, "true")}


class _FactsCtx:
    """What roles.classify asks of a transform's context, answered from the run: the app-source
    facts its projects already read, and the per-service options."""

    def __init__(self, run: Any, docs: list):
        self.run, self.docs = run, docs

    def facts(self, _proj: Any, name: str) -> Any:
        for p in self.run.projects:
            if p.service(name) is not None and any(d in p.docs for d in self.docs):
                return self.run.facts(p, name)
        return None

    def service_option(self, name: str, key: str, default: Any = None) -> Any:
        return self.run.options.service(name).get(key, default)


def _on_networks(merged: dict, name: str, seen: tuple = ()) -> set[str] | None:
    """The networks service ``name`` is attached to; None when compose does not place it
    (network_mode host/none/container:, or a cycle)."""
    m = merged.get(name)
    if m is None or name in seen:
        return None
    nm = m.get("network_mode")
    if nm is not None:
        nm = str(nm)
        if nm.startswith("service:"):
            return _on_networks(merged, nm.split(":", 1)[1], seen + (name,))
        return None
    nets = _names(m.get("networks"))
    return set(nets) if nets else {"default"}


def violations(combo: Combination, run: Any) -> dict[tuple, str]:
    """What `docker compose config` would reject in this combination, or where a dependent
    would wait for a health status that never comes: {key: message}."""
    from .model import as_map, parse_volumes

    proj = _project(combo, run)
    services = proj.services()
    merged = {s.name: s.merged for s in services}
    declared = {k: set(proj.top(k)) for k in ("networks", "volumes", "secrets", "configs")}
    out: dict[tuple, str] = {}
    label = combo.label
    for name, m in merged.items():
        if "image" not in m and "build" not in m:
            # compose rejects the combination as a whole (a fragment meant for `-f base -f this`)
            out[("incomplete", name, "")] = f"{label}: service {name!r} has neither an image nor a build context"
        nets = _names(m.get("networks"))
        for n in nets:
            if n != "default" and n not in declared["networks"]:
                out[("network", name, n)] = f"{label}: service {name!r} refers to undefined network {n!r}"
        if nets and m.get("network_mode") is not None:
            out[("network_mode", name, "")] = f"{label}: service {name!r} sets both network_mode and networks"
        for kind, src, _dst, _ro in parse_volumes(m.get("volumes")):
            if kind != "volume" or not src:
                continue
            src = str(src)
            if "$" in src or src.startswith(("/", ".", "~")) or src in declared["volumes"]:
                continue
            out[("volume", name, src)] = f"{label}: service {name!r} refers to undefined volume {src!r}"
        for key in ("secrets", "configs"):
            for n in _names(m.get(key)):
                if n not in declared[key]:
                    out[(key, name, n)] = f"{label}: service {name!r} refers to undefined {key[:-1]} {n!r}"
        deps = m.get("depends_on")
        dmap = as_map(deps) if isinstance(deps, (dict, list)) else {}
        mine = {str(x) for x in (m.get("profiles") or [])}
        for dep, spec in dmap.items():
            dep = str(dep)
            spec = spec if isinstance(spec, dict) else {}
            if dep not in merged:  # Compose 2.26 rejects it even with `required: false`
                out[("depends_on", name, dep)] = f"{label}: service {name!r} depends on undefined service {dep!r}"
                continue
            theirs = {str(x) for x in (merged[dep].get("profiles") or [])}
            if theirs and not (mine and mine <= theirs):
                out[("profile", name, dep)] = (f"{label}: service {name!r} depends on {dep!r}, which only starts "
                                              f"with the profile {', '.join(sorted(theirs))}")
            if spec.get("condition") == "service_healthy":
                runs = _healthcheck_runs(merged[dep])
                if runs is None:
                    from .healthchecks import can_wait_healthy

                    svc = proj.service(dep)
                    try:
                        runs = svc is not None and can_wait_healthy(proj, svc)
                    except Exception:
                        runs = False
                if not runs:
                    out[("healthy", name, dep)] = (f"{label}: service {name!r} waits for {dep!r} to be healthy, "
                                                  f"but {dep!r} has no healthcheck there")
    # what runs: each pair that talks shares a network (on which the name it uses exists), and a
    # service that publishes ports keeps a network that is not internal (compose drops them)
    if combo.speculative:
        return out
    nets_of = {n: _on_networks(merged, n) for n in merged}
    internal = _internal_networks(proj)
    for a, b, scoped in combo.edges or ():
        na, nb = nets_of.get(a), nets_of.get(b)
        if na is None or nb is None:
            continue
        shared = na & nb & scoped if scoped is not None else na & nb
        if not shared:
            out[("unreachable", a, b)] = f"{label}: service {a!r} talks to {b!r}, but they share no network"
    for name, m in merged.items():
        nets = nets_of.get(name)
        if not nets or not nets <= internal:
            continue
        if m.get("ports"):
            out[("ports", name, "")] = (f"{label}: service {name!r} publishes ports but is only on internal "
                                       "networks (compose drops the ports)")
        elif combo.way_out is not None and name in combo.way_out:
            from .roles import classify

            try:
                r = classify(proj, proj.service(name), _FactsCtx(run, combo.docs))
            except Exception:
                r = None
            if r is None or (not r.store and r.egress is not False):
                out[("egress", name, "")] = (f"{label}: service {name!r} would be only on internal networks, cut off "
                                            "from the internet, and harden cannot tell that it never calls out")
    return out


def reparse_problem(doc: Any) -> str | None:
    """Why the rendered text of ``doc`` does not read back as what the transforms built, or None."""
    from .errors import EditError, HardenError

    try:
        text = doc.render()
    except EditError as e:
        return f"cannot be rendered: {e}"
    try:
        if doc.kind == "compose":
            from .compose_doc import ComposeDoc

            again = ComposeDoc(doc.path, text)
            if canonical(again.data) != canonical(doc.data):
                return "does not read back as the tree harden built"
        else:
            from .dockerfile_doc import DockerfileDoc

            again = DockerfileDoc(doc.path, text)
            if _instructions(again) != _instructions(doc):
                return "does not read back as the instructions harden built"
    except HardenError as e:
        where = f" (line {e.line} of the new text)" if e.line else ""
        return f"would no longer parse{where}: {' '.join(e.message.split())}"
    return None


def _instructions(doc: Any) -> list[tuple]:
    return [(st.index, [(i.instruction, i.value) for i in st.instructions]) for st in doc.stages]


def canonical(x: Any) -> Any:
    """A loaded YAML tree as plain values, tags included, for comparing two readings."""
    tag = getattr(getattr(x, "tag", None), "value", None)
    if isinstance(x, dict):  # key order aside: a merged key may sit elsewhere after an edit
        v: Any = {_hashable(canonical(k)): canonical(x[k]) for k in x}
    elif isinstance(x, list):
        v = [canonical(i) for i in x]
    elif isinstance(x, bool) or x is None:
        v = x
    elif isinstance(x, int):
        v = int(x)
    elif isinstance(x, float):
        v = float(x)
    elif isinstance(x, str):
        v = str(x)
    else:
        v = (type(x).__name__, canonical(getattr(x, "value", repr(x))))
    return (tag, v) if tag else v


def _hashable(k: Any) -> Any:
    try:
        hash(k)
        return k
    except TypeError:
        return repr(k)
