"""pytest fixtures shared by every test module; the helpers live in harden_testlib.py."""

from __future__ import annotations

import os
import tempfile

import pytest

# app-source facts are cached between runs (facts_cache.py): keep the tests' cache apart from
# the user's and fresh for every session (subprocesses inherit it)
os.environ["HARDEN_CACHE_DIR"] = tempfile.mkdtemp(prefix="harden-test-cache-")

from harden_testlib import *  # noqa: F401,F403  (kept for modules that import from conftest)
from harden_testlib import (
    DockerfileSnapshot,
    ComposeSnapshot,
    DiffSnapshot,
    TextSnapshot,
    JsonSnapshot,
    BytesSnapshot,
    require_compose_v2,
)


@pytest.fixture(scope="session")
def compose_v2():
    """The Compose v2 command; skips (fails under CI) without it. Session-scoped, so tests that
    hypothesis drives can ask for it too."""
    return require_compose_v2()


@pytest.fixture
def snap_dockerfile(snapshot):
    return snapshot.use_extension(DockerfileSnapshot)


@pytest.fixture
def snap_compose(snapshot):
    return snapshot.use_extension(ComposeSnapshot)


@pytest.fixture
def snap_diff(snapshot):
    return snapshot.use_extension(DiffSnapshot)


@pytest.fixture
def snap_text(snapshot):
    return snapshot.use_extension(TextSnapshot)


@pytest.fixture
def snap_json(snapshot):
    return snapshot.use_extension(JsonSnapshot)


@pytest.fixture
def snap_bytes(snapshot):
    return snapshot.use_extension(BytesSnapshot)
