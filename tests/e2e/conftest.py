"""End-to-end tests: the examples under examples/ brought up under a real Docker engine.

Every test here is marked ``e2e``. Run them alone with ``pytest -m e2e tests/e2e`` (skip them
with ``-m 'not e2e'``, or ``HARDEN_E2E=0``). Without a reachable engine they skip, except when
``CI`` is set, where they fail.

The stacks run under Compose v2 (``docker compose``); a test class that sets
``compose_cli = e2e_lib.V1`` runs its stacks under docker-compose 1.29 (the seed example only).

Prepare the engine and the base images with ``sudo .ci/e2e.sh``.
"""

from __future__ import annotations

import os

import pytest

# tests/e2e is on sys.path through pyproject.toml (pythonpath); do not insert it first here:
# it would make `conftest` resolve to this file for every other test module.

import e2e_lib  # noqa: E402


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "e2e: needs a real Docker engine (run alone with -m e2e, skip with -m 'not e2e')",
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """On a failure, attach what the stacks alive at that moment were doing to the report."""
    outcome = yield
    report = outcome.get_result()
    if report.failed and item.get_closest_marker("e2e") is not None:
        for stack in list(e2e_lib.ACTIVE_STACKS):
            for title, text in stack.diagnostics():
                report.sections.append((f"{stack.project}: {title}", text))


@pytest.fixture(scope="session")
def docker_engine() -> None:
    """Skip (or, under CI, fail) when no engine or base image is there (open_stack checks the
    compose CLI a stack needs)."""
    if os.environ.get("HARDEN_E2E", "1") == "0":
        pytest.skip("HARDEN_E2E=0")
    problem = e2e_lib.engine_problem()
    if problem:
        e2e_lib.skip_or_fail(problem)


def _example_of(request: pytest.FixtureRequest) -> "e2e_lib.Example":
    example = getattr(request.cls, "example", None)
    assert example is not None, "e2e test classes set `example`"
    return example


def _cli_of(request: pytest.FixtureRequest) -> str:
    return getattr(request.cls, "compose_cli", e2e_lib.V2)


@pytest.fixture(scope="class")
def original(request: pytest.FixtureRequest, docker_engine, tmp_path_factory) -> "e2e_lib.Stack":
    """The example as written, built and brought up with a plain `up -d`."""
    example = _example_of(request)
    stack = e2e_lib.open_stack(example, tmp_path_factory.mktemp(f"{example.name}-orig"), "orig",
                               _cli_of(request))
    request.addfinalizer(stack.down)
    stack.build()
    stack.up()
    for svc in example.app_services:
        size = e2e_lib.size_mb(stack.image_of(svc))
        e2e_lib.ORIGINAL_SIZES[(example.name, svc)] = size
        e2e_lib.log(f"{stack.project}: original image of {svc}: {size:.0f} MB")
    return stack


@pytest.fixture(scope="class")
def hardened(request: pytest.FixtureRequest, docker_engine, tmp_path_factory) -> "e2e_lib.Stack":
    """The example after `harden apply`, built and brought up with a plain `up -d`."""
    example = _example_of(request)
    stack = e2e_lib.open_stack(example, tmp_path_factory.mktemp(f"{example.name}-hard"), "hard",
                               _cli_of(request))
    request.addfinalizer(stack.down)
    if os.environ.get("HARDEN_E2E_NO_APPLY") == "1":
        # self-test of the suite: without `harden apply` every hardened check must fail
        stack.build()
        stack.up()
        return stack
    proc = stack.harden_apply()
    print(f"$ python -m harden apply {stack.dir}\n{proc.stdout}{proc.stderr}")
    if proc.returncode != 0:
        pytest.fail(
            f"`python -m harden apply {stack.dir}` exited {proc.returncode}:\n"
            f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}",
            pytrace=False,
        )
    stack.build()
    stack.up()
    return stack
