"""The engine: text in, text out.

``run(target, options)`` finds the project, reads and parses every file once, runs the selected
transforms in registry order (each on the previous one's output, through the same parsed
documents) and returns a RunResult with the new text of every file and the outcome of every
transform. It writes nothing: ``apply`` writes what ``diff`` shows.

A transform that raises Skip or fails is rolled back: only its own edits are discarded.
"""

from __future__ import annotations

import re
from .record import field, record
from pathlib import Path
from typing import Any

from .config import Options
from .errors import EditError, HardenError, Skip
from .io import read_text
from .project import COMPOSE_BASES, MAX_FILE_BYTES, Discovery, discover, inside, is_compose_name

# A pragma is a whole comment line: `# harden: ignore`, `# harden: ignore[a, b]`, `# harden: ignore-file`.
_PRAGMA = re.compile(r"^\s*#\s*harden:\s*(ignore-file|ignore)(?![\w-])\s*(?:\[([^\]]*)\])?", re.I)
_ANY_PRAGMA = re.compile(r"^\s*#\s*harden\s*:\s*(.*?)\s*$", re.I)


@record
class Note:
    transform: str
    file: str
    message: str
    line: int | None = None


@record
class Outcome:
    transform: str
    file: str
    status: str  # changed | unchanged | skipped | failed | suppressed
    reason: str | None = None
    part: str | None = None  # service or stage, for a partial skip
    line: int | None = None


@record
class FileResult:
    path: Path
    rel: str
    kind: str  # compose | dockerfile
    before: str
    after: str
    transforms: list[str] = field(default_factory=list)  # those that changed it
    # (transform, text before, text after) for each transform that changed it, in run order
    steps: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.before != self.after


@record
class RunResult:
    root: Path
    files: list[FileResult] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    errors: list[HardenError] = field(default_factory=list)
    transforms: list[str] = field(default_factory=list)
    # in a folder run, the projects left out because one of their files could not be read:
    # (display name, the files of the project) each
    errored: list[tuple[str, list[str]]] = field(default_factory=list)

    @property
    def changed_files(self) -> list[FileResult]:
        return [f for f in self.files if f.changed]


def _leading_comment_block(text: str) -> list[str]:
    """The comment lines before the first statement (blank lines and a YAML `---` allowed)."""
    out = []
    for line in text.lstrip("\ufeff").splitlines():
        s = line.strip()
        if not s or s == "---":
            continue
        if s.startswith("#"):
            out.append(s)
            continue
        break
    return out


def _parse_pragma(comment: str) -> tuple[str, set[str] | None] | None:
    m = _PRAGMA.match(comment)
    if not m:
        return None
    names = None
    if m.group(2) is not None:
        names = {n.strip() for n in m.group(2).split(",") if n.strip()}
    return m.group(1).lower(), names


def _union(a: set[str] | None | bool, b: set[str] | None) -> set[str] | None:
    """Merge two pragmas' name sets; None (= everything) wins."""
    if a is False:
        return b
    if a is None or b is None:
        return None
    return set(a) | b


def file_pragma(text: str) -> set[str] | None | bool:
    """False: no file pragma; None: ignore everything; a set: ignore those transforms."""
    found: set[str] | None | bool = False
    for c in _leading_comment_block(text):
        p = _parse_pragma(c)
        if p and p[0] == "ignore-file":
            found = _union(found, p[1])
    return found


def pragma_above(lines: list[str], line: int) -> tuple[bool, set[str] | None] | None:
    """The `# harden: ignore[...]` pragmas in the comment block right above 0-based ``line``
    (several merge; a bare `ignore` covers every transform)."""
    j = line - 1
    found: set[str] | None | bool = False
    while j >= 0 and lines[j].strip().startswith("#"):
        p = _parse_pragma(lines[j])
        if p and p[0] == "ignore":
            found = _union(found, p[1])
        j -= 1
    if found is False:
        return None
    return True, found


def pragma_problems(text: str, known: set[str]) -> list[tuple[int, str]]:
    """(1-based line, message) for `# harden:` comments that do nothing: an unknown directive
    or an unknown transform name. A typo in a pragma must not pass in silence."""
    out = []
    for i, line in enumerate(text.lstrip("\ufeff").splitlines()):
        m = _ANY_PRAGMA.match(line)
        if not m:
            continue
        p = _parse_pragma(line)
        if p is None:
            out.append((i + 1, f"unknown pragma '# harden: {m.group(1)}' (use ignore, ignore[NAME, ...] or ignore-file)"))
            continue
        for n in sorted(p[1] or ()):
            if n not in known:
                out.append((i + 1, f"unknown transform {n!r} in '# harden: {m.group(1)}' (known: {', '.join(sorted(known))})"))
    return out


class Context:
    """What a transform sees besides its unit."""

    def __init__(self, run: "Run", transform: str, file: str):
        self._run = run
        self.transform = transform
        self.file = file
        self.options = run.options
        self.changed_parts: list[str] = []

    def note(self, message: str, *, line: int | None = None, file: str | None = None) -> None:
        self._run.result.notes.append(Note(self.transform, file or self.file, message, line))

    def skip_part(self, part: str, reason: str, *, line: int | None = None, file: str | None = None) -> None:
        self._run.result.outcomes.append(Outcome(self.transform, file or self.file, "skipped", reason, part, line))

    def opt(self, key: str) -> Any:
        return self.options.get(key)

    def service_option(self, service: str, key: str, default: Any = None) -> Any:
        return self.options.service(service).get(key, default)

    def _record_suppressed(self, file: str, part: str, reason: str, line: int | None) -> None:
        key = (self.transform, file, part)
        if key in self._run._suppressed:  # a transform may ask twice; report once
            return
        self._run._suppressed.add(key)
        self._run.result.outcomes.append(Outcome(self.transform, file, "suppressed", reason, part, line))

    def suppressed(self, doc: Any, line0: int | None, part: str) -> bool:
        """True (and recorded) when a `# harden: ignore` pragma above 0-based ``line0`` covers
        this transform."""
        if line0 is None:
            return False
        p = pragma_above(doc.lines, line0)
        if p is None:
            return False
        _, names = p
        if names is None or self.transform in names:
            self._record_suppressed(self._run.rel_of(doc), part, "# harden: ignore", line0 + 1)
            return True
        return False

    def service_suppressed(self, svc: Any) -> bool:
        """True when a pragma above the service's key (in the base file or an override file)
        or the config's ``[services.NAME] ignore`` covers this transform."""
        ignored = self.options.service(svc.name).get("ignore") or ()
        if self.transform in ignored:
            self._record_suppressed(self._run.rel_of(svc.doc), svc.name, f"[services.{svc.name}] ignore in the config", None)
            return True
        for doc, _node in getattr(svc, "defs", [(svc.doc, None)]):
            try:
                line0 = doc.services().lc.key(svc.name)[0]
            except Exception:
                continue
            if self.suppressed(doc, line0, svc.name):
                return True
        return False

    def stage_suppressed(self, doc: Any, stage: Any) -> bool:
        """True when a pragma above the stage's FROM covers this transform. Earlier transforms
        may have moved that FROM (split-stages puts a builder stage above the production
        stage): a stage also counts as covered when the stage it continues had the pragma in
        the file as read (same alias, or the last stage for the last stage)."""
        if self.suppressed(doc, stage.startline, f"stage {stage.name}"):
            return True
        orig = self._run.original_stage_pragmas(doc)
        if not orig:
            return False
        stages = doc.stages
        match = None
        if stage.alias:
            match = next((o for o in orig if o[0] == stage.alias), None)
        if match is None and stages and stage is stages[-1] and not (orig[-1][0] and doc.stage_by_name(orig[-1][0])
                                                                      and doc.stage_by_name(orig[-1][0]) is not stage):
            match = orig[-1]
        if match is None or match[2] is False:
            return False
        names = match[2]
        if names is None or self.transform in names:
            self._record_suppressed(self._run.rel_of(doc), f"stage {stage.name}", "# harden: ignore", match[1])
            return True
        return False

    def facts(self, project: Any, service: str) -> Any:
        """App-source facts for a service (cached per run); None when unknown."""
        return self._run.facts(project, service)


@record
class _Source:
    """Where a service's app source is read: a folder, and the file shown for notes about it."""

    context: Path
    rel: str


def _names_and_key(project: Any) -> tuple[frozenset, str]:
    from .facts_cache import _hash

    names = frozenset(project.service_names())
    return names, _hash("\0".join(sorted(names)).encode(), digest_size=32).hexdigest()


class Run:
    def __init__(self, target: Path, options: Options | None = None, transforms: list | None = None,
                 discovery: Discovery | None = None, progress: Any = None, careful: bool = False):
        self.target = Path(target)
        # careful: the safety net checks after every transform (and settles each one) instead of
        # once at the end; a run whose end check finds damage is run again carefully, to know
        # which transform did it and to roll back only that one
        self.careful = careful
        self.progress = progress  # progress(phase, done, total) or None
        self._suppressed: set = set()
        self._stage_pragmas: dict[int, list] = {}
        self._steps: dict[int, list[tuple[str, str, str]]] = {}
        self._given_discovery = discovery
        self.options = options or Options()
        self._transforms = transforms
        self.result = RunResult(root=self.target)
        self.docs: dict[Path, Any] = {}
        from .model import World

        self.world = World(self.docs)
        self.rels: dict[int, str] = {}
        self._facts: dict[tuple[int, str], Any] = {}
        self._facts_by_input: dict[tuple, Any] = {}  # services sharing a context and command
        self._fact_notes: dict[tuple, Note] = {}  # app sources the time bound stopped
        self.jobs = 1  # processes that may read app sources (build contexts) at once
        self.discovery: Discovery | None = None
        self.projects: list = []
        self.units: list = []
        self._included_under: dict[int, list] = {}  # id(doc) -> the files it includes, in order
        self.includes_of: dict[int, list] = {}  # id(doc) -> the files its own `include:` loads (the safety net)
        self.alt_readings: list[list] = []
        self._shared: dict[int, list[str]] = {}  # id(doc) -> projects that include it
        # files that could not be read (resolved path -> error), and which files belong together
        # (a union-find over resolved paths): a bad file leaves out only its own project
        self._broken: dict[Path, HardenError] = {}
        self._not_ours: set[int] = set()  # files named like compose files that are not (ids)
        self._parent: dict[Path, Path] = {}

    def rel_of(self, doc: Any) -> str:
        return self.rels.get(id(doc), doc.path)

    # ----------------------------------------------------------- loading
    def _load(self, path: Path, kind: str) -> Any:
        path = Path(path)
        key = path.resolve()
        if key in self.docs:
            return self.docs[key]
        assert self.discovery is not None
        try:
            return self._read(path, key, kind)
        except HardenError as e:
            self._broken.setdefault(key, e)
            raise

    def _read(self, path: Path, key: Path, kind: str) -> Any:
        from .compose_doc import ComposeDoc
        from .dockerfile_doc import DockerfileDoc

        assert self.discovery is not None
        rel = self.discovery.rel(path)
        text = read_text(path, rel, limit=MAX_FILE_BYTES)
        if kind == "compose":
            if not text.strip():
                raise HardenError(rel, "empty compose file")
            doc = ComposeDoc(rel, text)
        else:
            if not text.strip():
                raise HardenError(rel, "empty Dockerfile")
            doc = DockerfileDoc(rel, text)
        doc.abspath = path
        self.docs[key] = doc
        self.rels[id(doc)] = rel
        if self.progress is not None:
            self.progress("reading", len(self.docs), self._files_estimate)
        return doc

    # ------------------------------------------- which files go together
    def _find(self, p: Path) -> Path:
        p = Path(p).resolve()
        root = p
        while self._parent.get(root, root) != root:
            root = self._parent[root]
        while p != root:  # path compression
            nxt = self._parent[p]
            self._parent[p] = root
            p = nxt
        return root

    def _join(self, *paths: Path) -> None:
        roots = [self._find(p) for p in paths]
        for r in roots[1:]:
            if r != roots[0]:
                self._parent[r] = roots[0]

    def _leave_out_broken(self) -> None:
        """A folder run goes on without the projects a bad file belongs to: the compose files
        loaded with it (override, partner, overlays, includes, extends) and the Dockerfiles
        they build, or the Dockerfile alone. Their files are neither rewritten nor shown."""
        if not self._broken or self.discovery is None or self.discovery.single_file:
            return
        d = self.discovery
        # a compose file that cannot be read cannot say what it builds: the Dockerfiles in its
        # folder and below go with it
        for bad in self._broken:
            if is_compose_name(bad.name):
                for df in d.dockerfiles:
                    if inside(bad.parent, df):
                        self._join(bad, df)
        bad_roots = {self._find(p) for p in self._broken}
        members: dict[Path, list[str]] = {}
        for p in set(self._parent) | set(self._broken) | {k for k in self.docs}:
            r = self._find(p)
            if r in bad_roots:
                members.setdefault(r, []).append(d.rel(p))
        for r in sorted(bad_roots, key=lambda x: sorted(members.get(x, []))):
            files = sorted(members.get(r, []))
            bad = sorted(d.rel(p) for p in self._broken if self._find(p) == r)
            self.result.errored.append((bad[0], files))
        out = {p for p in self.docs if self._find(p) in bad_roots}
        gone = {id(self.docs[p]) for p in out}
        self.projects = [pr for pr in self.projects if not any(id(x) in gone for x in pr.docs)]
        self.world.projects = self.projects
        self.units = [u for u in self.units if id(u.doc) not in gone]
        self._left_out = gone

    def load(self) -> None:
        from .model import ComposeProject, DockerfileUnit, ServiceUse, container_paths_of_volumes

        d = self.discovery = self._given_discovery or discover(self.target)
        self.result.root = d.root
        self._files_estimate = sum(len(g.files) for g in d.groups) + len(d.dockerfiles)
        for path, reason in d.skipped:
            self.result.outcomes.append(Outcome("harden", d.rel(path), "skipped", reason))
        errors = self.result.errors
        loaded_groups = []
        for group in d.groups:
            if any(f in d.by_content for f in group.files) and not self._compose_by_content(group.files):
                continue  # a YAML file that only looked like a compose file: not ours, nothing to say
            self._join(*group.files, *group.partners)
            docs = []
            for f in group.files:
                try:
                    docs.append(self._load(f, "compose"))
                except HardenError as e:
                    errors.append(e)
            if docs and len(docs) == len(group.files):
                other = next((x for x in docs if not _looks_like_compose(x.data)), None)
                if other is not None and not d.single_file:
                    self._not_ours.update(id(x) for x in docs)
                    self.result.outcomes.append(Outcome(
                        "harden", self.rel_of(other), "skipped",
                        "not a compose file (no services, include, networks, volumes, secrets or configs at its top "
                        "level); left alone"))
                    continue
                loaded_groups.append((group, docs))
        loaded_groups = self._readings(loaded_groups)
        for group, docs, entries, scopes in self._with_includes([(g, dd) for g, dd, _e in loaded_groups],
                                                                {id(g): e[1][0] for g, _dd, e in loaded_groups if e}):
            own = next(e for g, _dd, e in loaded_groups if g is group)
            editable = None
            if own is not None:
                # an overlay: its partner files (and what they include) belong to their own
                # project and are only read here; it edits its own file and what that includes
                first = next(i for i, x in enumerate(docs) if x is own[1][0])
                editable = {id(x) for x in docs[first:]}
            self.projects.append(ComposeProject(group.folder, docs, [self.rel_of(x) for x in docs],
                                                includes=entries, scopes=scopes, editable=editable,
                                                world=self.world))
        # a project that reads another one's files comes after it: it sees that project's edits
        self.projects.sort(key=lambda p: p.editable is not None)
        self.world.projects = self.projects
        units: dict[Path, DockerfileUnit] = {}
        root_real = d.root.resolve()
        # Dockerfiles that compose services build
        if not d.single_file:
            for proj in self.projects:
                for svc in proj.services():
                    b = proj.build_of(svc)
                    if b is None:
                        continue
                    rel_compose = self.rel_of(svc.owner("build")[0])
                    self._join(svc.owner("build")[0].abspath, *[x.abspath for x in proj.docs])
                    if b.remote:
                        self.result.outcomes.append(Outcome("harden", rel_compose, "skipped", "build context is a remote URL", svc.name))
                        continue
                    if b.inline:
                        self.result.outcomes.append(Outcome("harden", rel_compose, "skipped", "dockerfile_inline is not rewritten", svc.name))
                        continue
                    path = b.dockerfile_path()
                    if ".." in path.parts:  # context: .. with dockerfile: docker/x -> docker/x, not docker/../docker/x
                        import os
                        clean = Path(os.path.normpath(path))
                        if clean.exists() and path.exists() and clean.resolve() == path.resolve():
                            path = clean
                    try:
                        real = path.resolve()
                        real.relative_to(root_real)
                    except (ValueError, OSError, RuntimeError):
                        self.result.outcomes.append(Outcome("harden", rel_compose, "skipped", f"Dockerfile {path} is outside the project", svc.name))
                        continue
                    if not path.is_file():
                        self.result.outcomes.append(Outcome("harden", rel_compose, "skipped", f"Dockerfile {d.rel(path)} not found", svc.name))
                        continue
                    self._join(proj.docs[0].abspath, path)
                    try:
                        doc = self._load(path, "dockerfile")
                    except HardenError as e:
                        errors.append(e)
                        continue
                    key = path.resolve()
                    unit = units.get(key)
                    if unit is None:
                        unit = units[key] = DockerfileUnit(doc, self.rel_of(doc), b.context)
                    merged = svc.merged
                    unit.uses.append(ServiceUse(proj, svc.name, b.target, merged.get("user"),
                                                container_paths_of_volumes(merged.get("volumes")), merged.get("command")))
                    proj.dockerfiles[svc.name] = unit
        for path in d.dockerfiles:
            key = path.resolve()
            if key in units:
                continue
            if not d.single_file:
                what = _not_a_dockerfile(path)
                if what:
                    self.result.outcomes.append(Outcome("harden", d.rel(path), "skipped",
                                                        f"not a Dockerfile: {what}; left alone"))
                    continue
            try:
                doc = self._load(path, "dockerfile")
            except HardenError as e:
                errors.append(e)
                continue
            units[key] = DockerfileUnit(doc, self.rel_of(doc), path.parent)
        self.units = list(units.values())
        # files another file `extends` go with it
        for proj in self.projects:
            for doc in proj.docs:
                for _name, node in doc.walk():
                    ext = node.get("extends")
                    if isinstance(ext, dict) and isinstance(ext.get("file"), str):
                        from .model import doc_dir

                        self._join(doc.abspath, doc_dir(doc) / ext["file"])
        self._leave_out_broken()
        # a file that fails to load is tried once per service that uses it: report it once
        seen: set[str] = set()
        errors[:] = [e for e in errors if not (e.one_line() in seen or seen.add(e.one_line()))]

    def _compose_by_content(self, files: list) -> bool:
        """Files discovery found by their text (not their name) are compose files when they
        parse and hold a compose model (is_compose_model); one that does not is forgotten, as
        if never found: no error, no note."""
        assert self.discovery is not None
        for f in files:
            if f not in self.discovery.by_content:
                continue
            key = Path(f).resolve()
            try:
                doc = self._load(f, "compose")
            except HardenError:
                self._broken.pop(key, None)
                self.docs.pop(key, None)
                return False
            if not is_compose_model(doc.data):
                self.docs.pop(key, None)
                self.rels.pop(id(doc), None)
                return False
        return True

    # ------------------------------------------------- project readings
    def _readings(self, groups: list) -> list:
        """Decide how each compose file that is not a base with its overrides is used
        (README, "How a compose project is read"):

        - every service has `image` or `build` (own, or through `extends`): it stands alone as a
          project (`docker compose -f docker-compose.prod.yml up`); it may also be run as an
          overlay of its partner (`-f docker-compose.yml -f docker-compose.prod.yml`), so that
          combination is kept valid too (self.combinations);
        - some service has neither: an overlay of its partner. Its project reads the partner's
          files first and edits only its own file;
        - an overlay whose partner harden cannot find is left alone, with the reason.

        Returns (group, docs, None | (partner docs, own docs)) per project."""
        from .model import ComposeProject

        out = []
        for group, docs in groups:
            partner_docs = []
            for p in group.partners:
                try:
                    partner_docs.append(self._load(p, "compose"))
                except HardenError:
                    partner_docs = []  # reported once, with the partner's own project
                    break
            probe = ComposeProject(group.folder, docs, [self.rel_of(x) for x in docs], world=self.world)
            partial = [s.name for s in probe.services()
                       if "image" not in s.merged and "build" not in s.merged]
            is_base = group.files[0].name in COMPOSE_BASES
            if not partial and partner_docs and not is_base and not any("include" in x.data for x in docs):
                # every service has image or build, but the file names services or networks it
                # does not define (docker-elk's extensions: `depends_on: [elasticsearch]`,
                # `networks: [elk]`): compose rejects it alone, it is an overlay of its partner
                partial = _dangling(probe)
            if not partial:
                out.append((group, docs, None))
                same_folder = partner_docs and partner_docs[0].abspath.parent == group.files[0].parent
                if same_folder and not is_base:
                    self.alt_readings.append(partner_docs + docs)
            elif partner_docs:
                # `-f docker-compose.yml -f extensions/x/x-compose.yml`: compose resolves every
                # relative path (build contexts, env files, mounts) against the first file's folder
                from .model import doc_dir

                first_dir = doc_dir(partner_docs[0])
                for x in docs:
                    if getattr(x, "base_dir", None) is None and doc_dir(x) != first_dir:
                        x.base_dir = first_dir
                out.append((group, partner_docs + docs, (partner_docs, docs)))
                # `-f base -f overlay`: every relative path resolves against the first file's
                # folder (the project directory), the overlay's too (docker-elk's
                # extensions/curator/curator-compose.yml builds `context: extensions/curator/`)
                from .model import doc_dir

                for x in docs:
                    # (not a file with `include:`: a base file in a sub-folder read as an overlay
                    # only because its services come from what it includes is used on its own)
                    if getattr(x, "base_dir", None) is None and "include" not in x.data \
                            and Path(x.abspath).parent != Path(partner_docs[0].abspath).parent:
                        x.base_dir = doc_dir(partner_docs[0])
            elif is_base:
                out.append((group, docs, None))  # what `docker compose up` loads there, as it is
            else:
                self.result.outcomes.append(Outcome(
                    "harden", self.rel_of(docs[0]), "skipped",
                    f"{', '.join(partial[:3])}{' ...' if len(partial) > 3 else ''} "
                    f"{'has' if len(partial) == 1 else 'have'} neither `image` nor `build`: the file is an "
                    "overlay (`-f base -f this`) for a base file harden cannot find, so it is left as it is"))
        return out

    # -------------------------------------------------------- include:
    def _include_closure(self, start: list, report: bool) -> tuple[list, list, dict]:
        """Follow the `include:` items of ``start`` (a project's own files), recursively.
        Returns (every entry, the included docs in order, scopes: id(doc) -> ids of the docs
        whose services it may name). ``report``: record conflicts as problems."""
        from .model import doc_dir
        from .project import include_entries, inside

        assert self.discovery is not None
        d = self.discovery
        root_real = d.root.resolve()
        entries: list = []
        included: list = []
        scopes: dict[int, set[int]] = {}
        imported: set[str] = set()  # services already brought in by an include (updated in place)
        seen = {id(x) for x in start}
        own_ids = set(seen)

        def visit(doc: Any, base: Path, stack: tuple) -> set[int]:
            reached: set[int] = set()
            for e in include_entries(doc, base):
                entries.append(e)
                if e.problem:
                    continue
                for p in e.paths:
                    if not inside(root_real, p):
                        e.problem = f"{d.rel(p)} is outside the project"
                    elif p.is_dir():
                        e.problem = f"{d.rel(p)} is a folder, not a compose file"
                    elif not p.is_file():
                        e.problem = f"{d.rel(p)} not found"
                    if e.problem:
                        break
                if e.problem:
                    continue
                self._join(doc.abspath, *e.paths)
                try:
                    loaded = [self._load(p, "compose") for p in e.paths]
                except HardenError as err:
                    self.result.errors.append(err)
                    e.problem = "the included file cannot be read"
                    continue
                if any(id(x) in stack or x is doc for x in loaded):
                    e.problem = "an include cycle"
                    continue
                if report and any(id(x) in own_ids for x in loaded):
                    e.problem = "a file that is also one of the project's own files"
                    continue
                # compose rejects a service the including file (or an earlier include) defines
                # too; an override file (compose.override.yaml, -f) may still change it
                names = {n for x in loaded for n in own_keys_of(x.services())}
                clash = sorted(names & (set(own_keys_of(doc.services())) | imported))
                if clash and report:
                    e.problem = (f"service {', '.join(clash)} is defined both here and in the included file "
                                 "(compose rejects such a conflict)")
                    continue
                imported.update(names)
                e.docs = loaded
                direct = self.includes_of.setdefault(id(doc), [])
                direct += [x for x in loaded if x not in direct]
                pdir = e.project_dir if e.project_dir is not None else e.paths[0].parent
                ids = {id(x) for x in loaded}
                for x in loaded:
                    if getattr(x, "base_dir", None) is None:
                        x.base_dir = pdir
                for x in loaded:
                    if id(x) not in seen:
                        seen.add(id(x))
                        included.append(x)
                        ids |= visit(x, pdir, stack + (id(x),))
                for x in loaded:
                    scopes.setdefault(id(x), set()).update(ids)
                reached |= ids
            return reached

        self._included_under = {}
        for doc in start:
            n = len(included)
            visit(doc, doc_dir(doc), (id(doc),))
            self._included_under[id(doc)] = included[n:]
        return entries, included, scopes

    def _with_includes(self, groups: list, overlay_first: dict | None = None) -> list:
        """(group, docs, include entries, scopes) per compose project. A file that some
        project includes belongs to that project: it leaves the group discovery put it in
        (as an override, or as the base of a project of its own), so no file is edited as
        part of two projects. A file several projects include is read by each of them and
        edited by none (``_shared``)."""
        if not any("include" in doc.data for _g, docs in groups for doc in docs):
            return [(g, docs, [], {}) for g, docs in groups]
        # pass 1: every file some project includes
        included_ids: set[int] = set()
        for _g, docs in groups:
            entries, _inc, _s = self._include_closure(docs, report=False)
            included_ids |= {id(x) for e in entries for x in e.docs}
        out = []
        users: dict[int, list[str]] = {}
        for group, docs in groups:
            first = (overlay_first or {}).get(id(group), docs[0])  # an overlay's own first file
            if id(first) in included_ids:
                if first is not docs[0]:
                    continue  # an included file found as an overlay too: it is read with its includer
                for x in docs[1:]:
                    if id(x) not in included_ids:
                        self.result.outcomes.append(Outcome(
                            "harden", self.rel_of(x), "skipped",
                            f"it overrides {self.rel_of(docs[0])}, which another compose file includes "
                            "(`include:`); harden does not process it on its own"))
                continue
            own = [x for x in docs if id(x) not in included_ids]
            entries, inc, scopes = self._include_closure(own, report=True)
            for e in entries:
                if e.problem:
                    self.result.outcomes.append(Outcome(
                        "harden", self.rel_of(e.doc), "skipped",
                        f"`include:` {e.raw} not followed: {e.problem}", line=e.line))
            for x in inc:
                who = users.setdefault(id(x), [])
                if self.rel_of(own[0]) not in who:  # an overlay project reads its partner's includes too
                    who.append(self.rel_of(own[0]))
            # compose reads each file with what it includes, then merges the next file on top:
            # an override file's services override the included ones
            ordered = []
            for x in own:
                ordered.append(x)
                ordered += [y for y in self._included_under.get(id(x), []) if y not in own and y not in ordered]
            out.append((group, ordered, entries, scopes))
        self._shared = {k: v for k, v in users.items() if len(v) > 1}
        return out

    # ---------------------------------------------------------- facts
    def _fact_input(self, project: Any, service: str) -> tuple | None:
        """(memo key, source, raw command parts, service names, their key) of a service whose
        app source harden reads; None for one it does not. ``source`` (a _Source) is the build
        context of the Dockerfile it builds, or the host folder a bind mount puts at its working
        directory when the image has no files of its own there (model.mounted_source): that is
        what runs there. A service that builds nothing is read only through such a mount."""
        unit = project.dockerfiles.get(service)
        svc = project.service(service)
        mounted = None
        if svc is not None and self.discovery is not None:
            from .model import mounted_source

            mounted = mounted_source(project, svc, self.discovery.root)
        if unit is None:
            if mounted is None:
                return None
            m = svc.merged
            raw: tuple = (m.get("command"), None, None, m.get("entrypoint"))
            rel = next((r for d, r in zip(project.docs, project.rels) if d is svc.doc), project.rels[0])
        else:
            stage = unit.doc.stages[-1]
            ent = stage.last("ENTRYPOINT")
            cmd = stage.last("CMD")
            raw = (
                svc.merged.get("command") if svc else None,
                ent.exec_form() or ent.args_without_flags() if ent else None,
                cmd.exec_form() or cmd.args_without_flags() if cmd else None,
            )
            rel = unit.rel
        source = _Source(mounted or Path(unit.context), rel)
        names, names_key = project.memo("facts_names", lambda: _names_and_key(project))
        return (str(source.context), repr(raw), names_key), source, raw, names, names_key

    @staticmethod
    def _compute_facts(unit: Any, raw: tuple, names: frozenset) -> Any:
        def compute() -> Any:
            from .app_source import analyze, effective_command

            if len(raw) > 3:  # a service that builds nothing: its compose entrypoint and command
                command = effective_command(raw[0], None, None, compose_entrypoint=raw[3])
            else:
                command = effective_command(*raw)
            return analyze(unit.context, command, service_names=names)

        return compute

    def _known(self, memo_key: tuple, unit: Any, facts: Any) -> Any:
        """The facts a transform may use: none when the time bound stopped the reading (what
        was read by then depends on the machine's load), which is reported once."""
        if facts is None or not getattr(facts, "time_bound", False):
            return facts
        if memo_key not in self._fact_notes:
            from .app_source import MAX_SECONDS

            where = self.discovery.rel(Path(unit.context)) if self.discovery is not None else str(unit.context)
            self._fact_notes[memo_key] = Note(
                "harden", unit.rel,
                f"the app source in {where or '.'} was not read within the {MAX_SECONDS:g} s time bound: "
                "harden decided as if it knew nothing from it (run again on a less busy machine to use it)")
        return None

    def facts(self, project: Any, service: str) -> Any:
        key = (id(project), service)
        if key in self._facts:
            return self._facts[key]
        result = None
        try:
            got = self._fact_input(project, service)
            if got is not None:
                memo_key, unit, raw, names, names_key = got
                if memo_key in self._facts_by_input:
                    result = self._facts_by_input[memo_key]
                else:
                    from .facts_cache import cached_facts

                    result = cached_facts(unit.context, raw, names_key, self._compute_facts(unit, raw, names))
                    self._facts_by_input[memo_key] = result
                result = self._known(memo_key, unit, result)
        except Exception:
            result = None
        self._facts[key] = result
        return result

    def facts_note(self, project: Any, service: str) -> str | None:
        """Why :meth:`facts` gave nothing for a service whose app source was there to read
        (the time bound), or None."""
        try:
            got = self._fact_input(project, service)
        except Exception:
            return None
        note = self._fact_notes.get(got[0]) if got is not None else None
        return note.message if note is not None else None

    def _prefetch_facts(self) -> None:
        """Read the app source of every service built here before the transforms ask for it,
        build contexts in parallel (facts_cache.facts_for). The transforms then find each in
        the memo; what they decide does not depend on which process read what."""
        tasks = []
        for project in self.projects:
            for name in project.service_names():
                try:
                    got = self._fact_input(project, name)
                except Exception:
                    continue  # facts() will say None for it, as before
                if got is None or got[0] in self._facts_by_input or any(t[0] == got[0] for t in tasks):
                    continue
                memo_key, unit, raw, names, names_key = got
                tasks.append((memo_key, unit.context, raw, names_key, self._compute_facts(unit, raw, names)))
        if not tasks:
            return
        from .facts_cache import facts_for

        try:
            self._facts_by_input.update(facts_for(tasks, self.jobs))
        except Exception:
            pass  # facts() reads them one by one, as before

    # -------------------------------------------------------------- run
    def transforms(self) -> list:
        if self._transforms is not None:
            return self._transforms
        from harden.transforms import all_transforms

        classes = all_transforms()
        chosen = set(self.options.selected([c.name for c in classes]))
        return [c for c in classes if c.name in chosen]

    def original_stage_pragmas(self, doc: Any) -> list[tuple[str | None, int, Any]]:
        """For each stage of the Dockerfile as read: (alias, 1-based FROM line, pragma names:
        False = no pragma, None = all, or a set)."""
        key = id(doc)
        if key not in self._stage_pragmas:
            out: list[tuple[str | None, int, Any]] = []
            if getattr(doc, "kind", None) == "dockerfile":
                from .dockerfile_doc import DockerfileDoc

                try:
                    orig = DockerfileDoc(doc.path, doc.original)
                    lines = orig.lines
                    for st in orig.stages:
                        p = pragma_above(lines, st.startline)
                        out.append((st.alias, st.startline + 1, False if p is None else p[1]))
                except Exception:
                    out = []
            self._stage_pragmas[key] = out
        return self._stage_pragmas[key]

    def _check_pragmas(self, transforms: list) -> None:
        """Notes for pragmas that name no known transform or directive."""
        if self._transforms is not None:
            known = {t.name for t in self._transforms}
        else:
            from harden.transforms import names

            known = set(names())
        for doc in self.docs.values():
            if "harden" not in doc.original:
                continue
            for line, msg in pragma_problems(doc.original, known):
                self.result.notes.append(Note("harden", self.rel_of(doc), msg, line))

    def _record_step(self, doc: Any, name: str, last_text: dict[int, str], before: str | None, after: str | None) -> None:
        """Remember the text of ``doc`` before and after transform ``name`` (for reports that
        say which transform made which change)."""
        try:
            if after is None:
                after = doc.render()
            if before is None:
                before = last_text.get(id(doc), doc.original)
        except EditError:
            return
        last_text[id(doc)] = after
        self._steps.setdefault(id(doc), []).append((name, before, after))

    def _apply_one(self, t: Any, unit: Any, docs: list, file_pragmas: dict) -> "_Made | None":
        """Run transform ``t`` on one unit. Returns what it did (None: suppressed, skipped or
        failed, already reported); its edits stay until the safety net has seen them."""
        editable = getattr(unit, "editable", None)
        own = [d for d in docs if editable is None or id(d) in editable]
        rel = self.rel_of(own[0])
        fp = [file_pragma_covers(file_pragmas[id(doc)], t.name) for doc in docs]
        if all(file_pragma_covers(file_pragmas[id(doc)], t.name) for doc in own):
            self.result.outcomes.append(Outcome(t.name, rel, "suppressed", "# harden: ignore-file"))
            return None
        if t.kind == "dockerfile":
            # a single-stage Dockerfile whose FROM has the pragma: the whole unit is that
            # stage, whether or not the transform asks (split-stages rewrites it whole)
            sp = self.original_stage_pragmas(docs[0])
            if len(sp) == 1 and file_pragma_covers(sp[0][2], t.name):
                st_name = sp[0][0] or "0"
                self.result.outcomes.append(Outcome(t.name, rel, "suppressed", "# harden: ignore", f"stage {st_name}", sp[0][1]))
                return None
        tokens = [doc.checkpoint() for doc in docs]
        before = [doc.render() if doc.kind == "dockerfile" else len(doc._patches) for doc in docs]
        ctx = Context(self, t.name, rel)
        n_notes, n_outcomes = len(self.result.notes), len(self.result.outcomes)

        def undo() -> None:
            for doc, tok in zip(docs, tokens):
                doc.rollback(tok)

        try:
            t.apply(unit, ctx)
            for doc, covered, tok in zip(docs, fp, tokens):
                if doc.checkpoint() == tok:
                    continue
                if covered:
                    raise Skip(f"{self.rel_of(doc)} has # harden: ignore-file")
                if id(doc) in self._shared:
                    raise Skip(f"{self.rel_of(doc)} is included (`include:`) by several compose files "
                               f"({', '.join(self._shared[id(doc)])}); an edit there would change "
                               "all of them, so harden leaves it as it is")
                if editable is not None and id(doc) not in editable:
                    raise Skip(f"it would change {self.rel_of(doc)}, which {rel} is an overlay for "
                               f"(`-f {self.rel_of(doc)} -f {rel}`); that file is edited as a project of its "
                               "own, so harden leaves this overlay as it is")
            for doc, tok in zip(docs, tokens):
                if doc.checkpoint() == tok or (doc.kind == "compose" and not self.careful):
                    continue
                problem = self._reparse_problem(doc)
                if problem:
                    undo()
                    del self.result.notes[n_notes:]
                    del self.result.outcomes[n_outcomes:]
                    self.result.outcomes.append(Outcome(
                        t.name, rel, "failed", f"its edits would damage the project, so none were made: {problem}"))
                    return None
        except Skip as s:
            undo()
            del self.result.notes[n_notes:]  # they told of edits that are undone now
            self.result.outcomes.append(Outcome(t.name, rel, "skipped", s.reason))
            return None
        except EditError as e:
            # the document refused an edit it cannot make without damage (a value under an
            # anchor, flow style, a multi-line scalar...): a refusal, not a bug, so the
            # transform stands aside for this unit and says why
            undo()
            del self.result.notes[n_notes:]
            self.result.outcomes.append(Outcome(
                t.name, rel, "skipped", f"an edit it needs cannot be made without damage: {e}; nothing changed here"))
            return None
        except (HardenError, Exception) as e:  # a bug in one transform
            undo()
            del self.result.notes[n_notes:]
            msg = str(e) if isinstance(e, HardenError) else f"{type(e).__name__}: {e}"
            if not isinstance(e, HardenError):
                import os

                if os.environ.get("HARDEN_DEBUG"):
                    import traceback

                    traceback.print_exc()
            self.result.outcomes.append(Outcome(t.name, rel, "failed", msg))
            return None
        finally:
            if hasattr(unit, "invalidate"):
                unit.invalidate()
            if t.kind == "compose" and any(d.checkpoint() != tok for d, tok in zip(docs, tokens)):
                self._invalidate_all()  # other projects read these files too (overlays, extends)
        return _Made(unit, docs, tokens, before, rel, self.result.notes[n_notes:], self.result.outcomes[n_outcomes:])

    # -------------------------------------------------------- safety net
    def _invalidate_all(self) -> None:
        for p in self.projects:
            p.invalidate()

    def _reparse_problem(self, doc: Any) -> str | None:
        from . import safety

        problem = safety.reparse_problem(doc)
        return f"{self.rel_of(doc)} {problem}" if problem else None

    def _settle(self, name: str, made: list) -> None:
        """The second half of the safety net, once a compose transform has run on every project:
        each combination that reads a file it changed must not be worse than as read. The
        projects whose edits reach a damaged combination are rolled back and fail, until none
        is damaged (a project's edits may rest on another's, so it is checked again)."""
        from . import safety

        while True:
            live = [m for m in made if m.failed is None and m.changed()]
            if not live or self._baseline is None:
                return
            ids = {id(d) for m in live for d, tok in zip(m.docs, m.tokens) if d.checkpoint() != tok}
            self._invalidate_all()
            damage = None
            for combo, before in self._baseline:
                if not ids & combo.reads:
                    continue
                new = {k: v for k, v in safety.violations(combo, self).items() if k not in before}
                if new:
                    first = sorted(new)[0]
                    more = f" (and {len(new) - 1} more)" if len(new) > 1 else ""
                    damage = (combo, new[first] + more)
                    break
            if damage is None:
                return
            combo, msg = damage
            for m in live:
                if not any(id(d) in combo.reads for d, tok in zip(m.docs, m.tokens) if d.checkpoint() != tok):
                    continue
                m.undo()
                # what it said about edits that are not made no longer holds
                self.result.notes[:] = [n for n in self.result.notes if not any(n is x for x in m.notes)]
                self.result.outcomes[:] = [o for o in self.result.outcomes if not any(o is x for x in m.outcomes)]
                m.failed = f"its edits would damage the project, so none were made: {msg}"
                self.result.outcomes.append(Outcome(name, m.rel, "failed", m.failed))
            self._invalidate_all()

    def _damaged(self) -> bool:
        """The safety net at the end of a run: does any changed file read back wrong, or any
        combination that reads one hold something new for the net?"""
        from . import safety

        changed = [d for d in self.docs.values() if d.kind == "compose" and d.changed]
        for doc in changed:
            if safety.reparse_problem(doc):
                return True
        ids = {id(d) for d in changed}
        if not ids or self._baseline is None:
            return False
        self._invalidate_all()
        for combo, before in self._baseline:
            if ids & combo.reads and any(k not in before for k in safety.violations(combo, self)):
                return True
        return False

    def _measure_baseline(self) -> None:
        from . import safety

        self._baseline = []
        for c in safety.combinations(self):
            safety.measure_edges(c, self)
            before = safety.violations(c, self)
            # a combination compose rejects as read (a fragment loaded alone: a service without
            # image or build, a depends_on, network, volume, secret or config it does not
            # define, as docker-elk's extensions/*/…-compose.yml alone) is no way the files are
            # used: nothing to keep valid there
            if not any(k[0] in _REJECTED_AS_READ for k in before):
                self._baseline.append((c, before))

    def execute(self) -> RunResult:
        self.load()
        if self.result.errors and (self.discovery is None or self.discovery.single_file or not self.result.errored):
            return self.result
        transforms = self.transforms()
        self.result.transforms = [t.name for t in transforms]
        changed_by: dict[int, list[str]] = {}
        self._baseline = None
        if self.projects and any(t.kind == "compose" for t in transforms):
            self._prefetch_facts()
            self._measure_baseline()
        file_pragmas: dict[int, Any] = {id(doc): file_pragma(doc.original) for doc in self.docs.values()}
        self._check_pragmas(transforms)
        last_text: dict[int, str] = {}
        total = sum(len(self.units) if t.kind == "dockerfile" else len(self.projects) for t in transforms)
        done = 0
        for tcls in transforms:
            t = tcls()
            if tcls.kind == "dockerfile":
                units = [(u, [u.doc]) for u in self.units]
            else:
                units = [(p, list(p.docs)) for p in self.projects]
            made: list[_Made] = []
            for unit, docs in units:
                if self.progress is not None:
                    self.progress("transforming", done, total)
                done += 1
                m = self._apply_one(t, unit, docs, file_pragmas)
                if m is not None:
                    made.append(m)
            if tcls.kind == "compose" and self.careful:
                self._settle(t.name, made)
            for m in made:
                if m.failed is not None:
                    continue
                after = [doc.render() if doc.kind == "dockerfile" else len(doc._patches) for doc in m.docs]
                if after != m.before:
                    for doc, b, a in zip(m.docs, m.before, after):
                        if a != b:
                            changed_by.setdefault(id(doc), []).append(t.name)
                            self._record_step(doc, t.name, last_text, b if doc.kind == "dockerfile" else None,
                                              a if doc.kind == "dockerfile" else None)
                    self.result.outcomes.append(Outcome(t.name, m.rel, "changed"))
                else:
                    self.result.outcomes.append(Outcome(t.name, m.rel, "unchanged"))
        if not self.careful and self._damaged():
            again = Run(self.target, self.options, self._transforms, discovery=self.discovery,
                        progress=self.progress, careful=True)
            # the same facts (read once, and the same ones even if the time bound hit)
            again._facts_by_input, again._fact_notes, again.jobs = self._facts_by_input, self._fact_notes, self.jobs
            return again.execute()
        left_out = getattr(self, "_left_out", set()) | self._not_ours
        for doc in self.docs.values():
            if not hasattr(doc, "abspath") or id(doc) in left_out:
                continue
            try:
                after = doc.render()
            except EditError as e:
                self.result.errors.append(HardenError(self.rel_of(doc), f"internal error while rendering: {e}"))
                continue
            self.result.files.append(FileResult(doc.abspath, self.rel_of(doc), doc.kind, doc.original, after,
                                                changed_by.get(id(doc), []), self._steps.get(id(doc), [])))
        if self.progress is not None:
            self.progress("transforming", total, total)
        self.result.notes += self._fact_notes.values()
        self.result.files.sort(key=lambda f: f.rel)
        return self.result


class _Made:
    """A transform's edits on one unit, kept until the safety net has seen them."""

    def __init__(self, unit: Any, docs: list, tokens: list, before: list, rel: str, notes: list, outcomes: list):
        self.unit, self.docs, self.tokens, self.before, self.rel = unit, docs, tokens, before, rel
        self.notes, self.outcomes = notes, outcomes
        self.failed: str | None = None

    def changed(self) -> bool:
        return any(d.checkpoint() != tok for d, tok in zip(self.docs, self.tokens))

    def undo(self) -> None:
        for d, tok in zip(self.docs, self.tokens):
            d.rollback(tok)
        if hasattr(self.unit, "invalidate"):
            self.unit.invalidate()


_COMPOSE_KEYS = {"services", "include", "networks", "volumes", "secrets", "configs", "version", "name", "models"}


# violations (safety.violations keys) that make `docker compose config` reject a combination
_REJECTED_AS_READ = {"incomplete", "depends_on", "network", "volume", "secrets", "configs", "network_mode"}


def _dangling(project: Any) -> list[str]:
    """Services of ``project`` that name a service or a network the project does not define
    (depends_on, links, network_mode/volumes_from `service:`, networks): such a file only works
    on top of another one."""
    from .model import as_map

    names = set(project.service_names())
    networks = set(project.top("networks")) | {"default"}
    out = []
    for s in project.services():
        m = s.merged
        refs = set(as_map(m.get("depends_on")) if isinstance(m.get("depends_on"), (dict, list)) else ())
        refs |= {str(x).split(":", 1)[0] for x in (m.get("links") or []) if isinstance(x, str)}
        nm = str(m.get("network_mode") or "")
        if nm.startswith("service:"):
            refs.add(nm[len("service:"):])
        for v in m.get("volumes_from") or []:
            v = str(v)
            if not v.startswith("container:"):
                refs.add(v[len("service:"):] if v.startswith("service:") else v.split(":", 1)[0])
        nets = m.get("networks")
        used = set(as_map(nets)) if isinstance(nets, (dict, list)) else set()
        if (refs - names) or (used - networks):
            out.append(s.name)
    return out


def is_compose_model(data: Any) -> bool:
    """Parsed YAML that is a compose model: only top-level keys compose knows (or ``x-``), a
    ``services`` mapping of mappings written with service keys only, and a service with an
    image (a string) or a build, or extending one."""
    from .project import COMPOSE_TOP_KEYS, SERVICE_KEYS

    if not isinstance(data, dict) or not data:
        return False
    if any(not isinstance(k, str) or (k not in COMPOSE_TOP_KEYS and not k.startswith("x-")) for k in data):
        return False
    services = data.get("services")
    if not isinstance(services, dict) or not services:
        return False
    sourced = False
    for svc in services.values():
        if svc is None:
            continue
        if not isinstance(svc, dict):
            return False
        if any(not isinstance(k, str) or (k not in SERVICE_KEYS and not k.startswith("x-") and k != "<<") for k in svc):
            return False
        if "image" in svc and not isinstance(svc["image"], str):
            return False
        sourced = sourced or isinstance(svc.get("image"), str) or "build" in svc or "extends" in svc
    return sourced


def _looks_like_compose(data: Any) -> bool:
    """A compose file: a top-level key of the Compose Specification (or an `x-` extension), or
    the legacy v1 layout (services at the top, each with `image` or `build`)."""
    if not isinstance(data, dict) or not data:
        return False
    keys = [str(k) for k in data]
    if any(k in _COMPOSE_KEYS or k.startswith("x-") for k in keys):
        return True
    return any(isinstance(v, dict) and ("image" in v or "build" in v) for v in data.values())


_INSTRUCTIONS = {"FROM", "ARG", "RUN", "CMD", "LABEL", "MAINTAINER", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT",
                 "VOLUME", "USER", "WORKDIR", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL"}


def _not_a_dockerfile(path: Path) -> str | None:
    """Why a file found by its name is not a Dockerfile (its first instruction, after comments,
    parser directives and ARGs, is no Dockerfile instruction), or None."""
    try:
        with open(path, "rb") as f:
            head = f.read(16384).decode("utf-8", "replace")
    except OSError:
        return None  # read again by the loader, which reports it
    cont = False
    for line in head.lstrip("\ufeff").splitlines():
        s = line.strip()
        if cont:
            cont = s.endswith("\\")
            continue
        if not s or s.startswith("#"):
            continue
        word = s.split(None, 1)[0]
        if word.upper() == "ARG":
            cont = s.endswith("\\")
            continue
        if word.upper() in _INSTRUCTIONS:
            return None
        return f"its first instruction would be {word[:40]!r}"
    return None


def own_keys_of(m: Any) -> list[str]:
    from .compose_doc import own_keys

    return [str(k) for k in own_keys(m)] if isinstance(m, dict) else []


def file_pragma_covers(pragma: Any, name: str) -> bool:
    if pragma is False:
        return False
    if pragma is None:
        return True
    return name in pragma


PARALLEL_MIN_PARTS = 8


def _partitions(d: Discovery) -> list[Discovery] | None:
    """Split a discovery into independent parts (one per top-level sub-folder), or None when
    the project must run as one piece (a single file, a compose file at the root, few parts)."""
    if d.single_file:
        return None
    parts: dict[str, Discovery] = {}

    def part(p: Path) -> Discovery | None:
        rel = Path(d.rel(p))
        if len(rel.parts) < 2:
            return None
        key = rel.parts[0]
        if key not in parts:
            parts[key] = Discovery(root=d.root, target=d.target, by_content=d.by_content)
        return parts[key]

    for g in d.groups:
        dst = part(g.files[0])
        if dst is None:
            return None
        dst.groups.append(g)
    loose = []
    for f in d.dockerfiles:
        dst = part(f)
        if dst is None:
            loose.append(f)
        else:
            dst.dockerfiles.append(f)
    if loose:
        parts["."] = Discovery(root=d.root, target=d.target, dockerfiles=loose)
    if len(parts) < PARALLEL_MIN_PARTS:
        return None
    return [parts[k] for k in sorted(parts)]


def _run_part(args: tuple) -> RunResult:
    target, options, transforms, discovery = args
    return Run(target, options, transforms, discovery=discovery).execute()


def _canonical(result: RunResult) -> RunResult:
    """One order for everything a report prints, whatever the order of execution."""
    rank = {name: i for i, name in enumerate(result.transforms)}
    result.files.sort(key=lambda f: f.rel)
    result.outcomes.sort(key=lambda o: (o.file, rank.get(o.transform, -1)))
    result.notes.sort(key=lambda n: (n.file, rank.get(n.transform, -1)))
    result.errors.sort(key=lambda e: (e.path, e.line or 0))
    result.errored.sort()
    return result


def run(target: Path, options: Options | None = None, transforms: list | None = None,
        jobs: int | None = None, progress: Any = None) -> RunResult:
    """Run harden on ``target``. Independent sub-projects run in worker processes when there
    are many of them and more than one core (``jobs``, or env HARDEN_JOBS; 1 = sequential)."""
    import os

    if jobs is None:
        env = os.environ.get("HARDEN_JOBS", "")
        jobs = int(env) if env.isdigit() and int(env) > 0 else (os.cpu_count() or 1)
    d = discover(Path(target))
    parts = _partitions(d) if jobs > 1 else None
    if not parts:
        whole = Run(target, options, transforms, discovery=d, progress=progress)
        whole.jobs = jobs
        return _canonical(whole.execute())
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    merged = RunResult(root=d.root)
    for path, reason in d.skipped:
        merged.outcomes.append(Outcome("harden", d.rel(path), "skipped", reason))
    ctx = multiprocessing.get_context("fork") if hasattr(os, "fork") else None
    chunk = max(1, len(parts) // (jobs * 8))
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
        for i, res in enumerate(pool.map(_run_part, [(target, options, transforms, p) for p in parts], chunksize=chunk)):
            if progress is not None:
                progress("projects", i + 1, len(parts))
            merged.files += res.files
            merged.outcomes += res.outcomes
            merged.notes += res.notes
            merged.errors += res.errors
            merged.errored += res.errored
            merged.transforms = res.transforms or merged.transforms
    seen: set = set()
    for f in merged.files:
        if f.path in seen:  # a file two parts both read: run it as one piece instead
            return _canonical(Run(target, options, transforms, discovery=d).execute())
        seen.add(f.path)
    return _canonical(merged)
