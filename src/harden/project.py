"""Finding the project: compose files (grouped with their overrides), the Dockerfiles their
services build, and Dockerfiles that stand alone.

Nothing here parses YAML: discovery only lists files. Symlinks that lead out of the root are
never followed, and neither are vendor folders, virtualenvs or VCS folders.
"""

from __future__ import annotations

import os
import re
from .record import field, record
from pathlib import Path

COMPOSE_BASES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
_COMPOSE_RE = re.compile(r"^(?:docker-)?compose(?:\.[A-Za-z0-9_.-]+)?\.ya?ml$")
_DOCKERFILE_RE = re.compile(r"^(?:Dockerfile|Containerfile)(?:\.[A-Za-z0-9_.-]+)?$|^[A-Za-z0-9_.-]+\.(?:Dockerfile|dockerfile)$")
SKIP_DIRS = {
    ".git", ".hg", ".svn", "node_modules", "vendor", "third_party", "__pycache__", ".tox", ".nox",
    ".venv", "venv", ".mypy_cache", ".pytest_cache", ".ruff_cache", "site-packages", ".idea",
    ".vscode", "bower_components", ".terraform", ".direnv",
}
MAX_FILE_BYTES = 10 * 1024 * 1024


def is_compose_name(name: str) -> bool:
    return bool(_COMPOSE_RE.match(name))


def is_dockerfile_name(name: str) -> bool:
    if name.endswith((".dockerignore", ".md", ".txt", ".orig", ".bak", ".rej", ".swp")):
        return False
    return bool(_DOCKERFILE_RE.match(name))


@record
class ComposeGroup:
    """One compose project: a base file and the override files that apply to it."""

    folder: Path
    files: list[Path] = field(default_factory=list)  # base first


@record
class Discovery:
    root: Path  # the folder paths are shown relative to
    target: Path  # what the user named (folder or file)
    groups: list[ComposeGroup] = field(default_factory=list)
    dockerfiles: list[Path] = field(default_factory=list)  # every Dockerfile found by name
    single_file: bool = False
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # (path, reason)

    def rel(self, p: Path) -> str:
        try:
            return p.relative_to(self.root).as_posix()
        except ValueError:
            return p.as_posix()


def inside(root: Path, p: Path) -> bool:
    try:
        p.resolve().relative_to(root.resolve())
        return True
    except (ValueError, OSError, RuntimeError):
        return False


def _is_venv(path: Path) -> bool:
    return (path / "pyvenv.cfg").exists()


def discover(target: Path) -> Discovery:
    target = Path(os.path.abspath(target))
    if target.is_file() or (target.is_symlink() and not target.is_dir()):
        d = Discovery(root=target.parent, target=target, single_file=True)
        if is_dockerfile_name(target.name) or not is_compose_name(target.name) and _looks_like_dockerfile(target):
            d.dockerfiles.append(target)
        else:
            d.groups.append(ComposeGroup(target.parent, [target]))
        return d
    d = Discovery(root=target, target=target)
    root_real = target.resolve()
    for dirpath, dirnames, filenames in os.walk(target, followlinks=False):
        here = Path(dirpath)
        keep = []
        for dn in sorted(dirnames):
            full = here / dn
            if dn in SKIP_DIRS or dn.endswith(".egg-info") or _is_venv(full):
                continue
            if full.is_symlink():
                continue  # never walk through links
            keep.append(dn)
        dirnames[:] = keep
        composes = []
        for fn in sorted(filenames):
            full = here / fn
            if not (is_compose_name(fn) or is_dockerfile_name(fn)):
                continue
            if full.is_symlink():
                try:
                    real = full.resolve(strict=True)
                except (OSError, RuntimeError):
                    d.skipped.append((full, "broken or looping symlink"))
                    continue
                if not inside(root_real, real):
                    d.skipped.append((full, "symlink that leads outside the project"))
                    continue
            if is_compose_name(fn):
                composes.append(full)
            else:
                d.dockerfiles.append(full)
        d.groups.extend(group_compose_files(here, composes))
    return d


def _looks_like_dockerfile(p: Path) -> bool:
    try:
        with open(p, "rb") as f:
            head = f.read(4096).decode("utf-8", "replace")
    except OSError:
        return False
    return bool(re.search(r"^\s*FROM\s+\S", head, re.M | re.I))


def group_compose_files(folder: Path, files: list[Path]) -> list[ComposeGroup]:
    """Base files each make a group; ``*.override.*`` files join the base of the same family;
    other variants (``docker-compose.prod.yml``) join the base as overrides too: compose runs
    them with ``-f base -f variant``. Without a base, each file stands alone."""
    if not files:
        return []
    names = {f.name: f for f in files}
    bases = [names[b] for b in COMPOSE_BASES if b in names]
    groups: list[ComposeGroup] = []
    by_family: dict[str, ComposeGroup] = {}
    for b in bases:
        g = ComposeGroup(folder, [b])
        groups.append(g)
        by_family.setdefault("docker-compose" if b.name.startswith("docker-") else "compose", g)
    for f in files:
        if f in bases:
            continue
        family = "docker-compose" if f.name.startswith("docker-") else "compose"
        g = by_family.get(family) or (groups[0] if groups else None)
        if g is None:
            groups.append(ComposeGroup(folder, [f]))
        else:
            g.files.append(f)
    return groups
