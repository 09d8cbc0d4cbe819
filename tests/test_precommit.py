"""The pre-commit hooks (.pre-commit-hooks.yaml), run for real by `pre-commit try-repo` on a
sample git repository. pre-commit builds harden into its own virtualenv from this repository,
which needs PyPI for the dependencies; the test is skipped only when pre-commit itself cannot
be installed."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harden_testlib import FIXTURES, REPO

pytestmark = pytest.mark.slow

def _pre_commit() -> list[str]:
    try:
        import pre_commit  # noqa: F401
    except ImportError:
        p = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "pre-commit"], capture_output=True, text=True)
        if p.returncode != 0:
            pytest.skip(f"pre-commit is not installed and cannot be installed: {p.stderr.strip().splitlines()[-1:]}")
    return [sys.executable, "-m", "pre_commit"]

def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)

def test_hooks_file_declares_both_hooks():

    text = (REPO / ".pre-commit-hooks.yaml").read_text()
    from ruamel.yaml import YAML

    hooks = YAML(typ="safe").load(text)
    assert [h["id"] for h in hooks] == ["harden", "harden-diff"]
    assert hooks[0]["entry"] == "harden apply" and hooks[1]["entry"] == "harden diff"
    assert all(h["pass_filenames"] is False and h["language"] == "python" for h in hooks)

def test_try_repo(tmp_path):
    cmd = _pre_commit()
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout: pre-commit try-repo needs one")
    repo = tmp_path / "sample"
    shutil.copytree(FIXTURES / "cfg-toml", repo)
    (repo / "README.md").write_text("sample\n")
    _git(repo, "init", "-q")
    _git(repo, "-c", "user.email=t@example.com", "-c", "user.name=t", "add", "-A")
    _git(repo, "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-q", "-m", "init")
    env = {"PRE_COMMIT_HOME": str(tmp_path / "cache"), "PATH": "/usr/local/bin:/usr/bin:/bin:" + str(Path(sys.executable).parent),
           "HOME": str(tmp_path), "GIT_AUTHOR_NAME": "t", "GIT_COMMITTER_NAME": "t",
           "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_EMAIL": "t@example.com"}
    import os

    for k in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_TRUSTED_HOST", "PIP_CONFIG_FILE", "http_proxy", "https_proxy",
              "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "no_proxy", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"):
        if k in os.environ:
            env[k] = os.environ[k]
    before = (repo / "app" / "Dockerfile").read_text()

    def hook(name: str) -> subprocess.CompletedProcess:
        return subprocess.run([*cmd, "try-repo", str(REPO), name, "--ref", "HEAD", "--all-files", "--color", "never"],
                              cwd=repo, capture_output=True, text=True, env=env, timeout=900)

    # check only: fails, shows the diff, changes nothing
    p = hook("harden-diff")
    out = p.stdout + p.stderr
    if p.returncode == 3 or "An unexpected error has occurred" in out:
        pytest.fail(f"pre-commit could not build the hook environment:\n{out[-3000:]}")
    assert p.returncode == 1, out
    assert "+++ b/app/Dockerfile" in out and "Failed" in out
    assert (repo / "app" / "Dockerfile").read_text() == before
    # rewrite: fails because files changed (as formatters do), and changes them
    p = hook("harden")
    out = p.stdout + p.stderr
    assert p.returncode == 1, out
    assert "files were modified by this hook" in out
    assert "USER 2000:2000" in (repo / "app" / "Dockerfile").read_text()
    # once the rewrite is staged, both hooks pass
    _git(repo, "add", "-A")
    for name in ("harden", "harden-diff"):
        p = hook(name)
        assert p.returncode == 0, p.stdout + p.stderr
        assert "Passed" in p.stdout
