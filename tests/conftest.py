"""pytest fixtures shared by every test module; the helpers live in harden_testlib.py."""

from __future__ import annotations

import pytest

from harden_testlib import *  # noqa: F401,F403  (kept for modules that import from conftest)
from harden_testlib import (
    DockerfileSnapshot,
    ComposeSnapshot,
    DiffSnapshot,
    TextSnapshot,
    JsonSnapshot,
    BytesSnapshot,
)

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
