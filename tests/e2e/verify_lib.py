"""Running `harden verify` as users run it (a subprocess, `--format json`) and checking that it left
nothing behind on the engine."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import e2e_lib

VERIFY_TIMEOUT = 1800


def run_verify(*args: str, timeout: float = VERIFY_TIMEOUT,
               env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess, dict | None]:
    """`python -m harden verify --format json ARGS` (``env``: variables added to this process's
    environment, as a user sets them for compose); (process, parsed report or None)."""
    import os

    cmd = [sys.executable, "-m", "harden", "verify", "--format", "json", *args]
    e2e_lib.log("$ " + " ".join([*(f"{k}={v}" for k, v in (env or {}).items()), *cmd[2:]]))
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})
    print(proc.stderr)  # the progress lines, for the CI log
    rep = json.loads(proc.stdout) if proc.stdout.strip() else None
    return proc, rep


def run_label(stderr: str) -> str:
    """The run's label, from its first progress line (the temporary folder harden-verify-<label>-...)."""
    m = re.search(r"harden-verify-([0-9a-f]{8})-", stderr)
    assert m, f"no run label in verify's output:\n{stderr[-2000:]}"
    return m.group(1)


def _lines(cmd: list[str]) -> list[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return [ln for ln in proc.stdout.splitlines() if ln.strip()]


def leftovers(label: str) -> list[str]:
    """Everything on the engine a verify run with this label made and did not remove:
    containers (its own label, or a compose project named after it), networks, volumes,
    images tagged by it, and its temporary folder."""
    prefix = f"harden-verify-{label}-"
    out: list[str] = []
    out += [f"container {c}" for c in _lines(["docker", "ps", "-aq", "--filter", f"label=harden.verify={label}"])]
    for line in _lines(["docker", "ps", "-a", "--format", '{{.ID}} {{.Label "com.docker.compose.project"}} {{.Names}}']):
        cid, _, rest = line.partition(" ")
        if prefix in rest:
            out.append(f"container {cid} {rest}")
    out += [f"network {n}" for n in _lines(["docker", "network", "ls", "--format", "{{.Name}}"]) if n.startswith(prefix)]
    out += [f"volume {v}" for v in _lines(["docker", "volume", "ls", "--format", "{{.Name}}"]) if v.startswith(prefix)]
    out += [f"image {i}" for i in _lines(["docker", "images", "--format", "{{.Repository}}:{{.Tag}}"])
            if i.startswith(prefix)]
    import tempfile

    out += [f"folder {p}" for p in Path(tempfile.gettempdir()).glob(f"{prefix}*")]
    return out


def verdicts(rep: dict) -> dict[str, str]:
    return {s["name"]: s["verdict"] for s in rep["services"]}


def stack_verdicts(rep: dict) -> dict[str, str]:
    return {s["service"]: s["verdict"] for s in (rep["stack"] or {}).get("services", [])}


def tree_state(root: Path) -> dict[str, tuple[int, int, str]]:
    """(size, mode, sha256) of every file under root: to show verify only reads the project."""
    import hashlib
    import os

    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for fn in files:
            p = Path(dirpath) / fn
            st = p.lstat()
            digest = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() and not p.is_symlink() else ""
            out[p.relative_to(root).as_posix()] = (st.st_size, st.st_mode, digest)
    return out
