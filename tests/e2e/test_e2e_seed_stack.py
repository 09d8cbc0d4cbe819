"""examples/seed-stack before and after `harden apply`, under a real Docker engine.

The one example driven by docker-compose 1.29 (users still have it): its stacks are built and
brought up with `docker-compose`; every other e2e test uses Compose v2 (`docker compose`)."""

import json
import time

import pytest

from e2e_checks import HardenedChecks, OriginalChecks
from e2e_lib import V1, Example, Stack, log

pytestmark = pytest.mark.e2e

SEED = Example(
    name="seed-stack",
    port_vars=("WEB_PORT", "MYSQL_PORT", "ADMINER_PORT"),
    app_services=("web", "bot"),
    web_service="web",
    web_port_var="WEB_PORT",
    web_path="/",
    web_expect="Hello from MySQL",
    stores={"mysql": 3306},
    waits=(("bot", "mysql"), ("web", "mysql")),
    startup_connectors=("bot",),
    dev_tools={"adminer": "ADMINER_PORT"},
    ready_markers={"mysql": "Starting mysqld on 0.0.0.0:3306"},
)


class TestOriginal(OriginalChecks):
    example = SEED
    compose_cli = V1


class TestHardened(HardenedChecks):
    example = SEED
    compose_cli = V1

    def test_bot_writes_heartbeats(self, hardened: Stack):
        """The bot is not only up: it is doing its work against MySQL."""
        _, body = hardened.http_get("WEB_PORT", "/")
        first = json.loads(body)["heartbeats"]
        time.sleep(7)
        _, body = hardened.http_get("WEB_PORT", "/")
        second = json.loads(body)["heartbeats"]
        log(f"hardened bot heartbeats: {first} -> {second}")
        assert second > first, f"no new heartbeat in 7 s ({first} -> {second})"
