"""examples/flask-postgres-redis before and after `harden apply`, under a real Docker engine."""

import json

import pytest

from e2e_checks import HardenedChecks, OriginalChecks
from e2e_lib import Example, Stack

pytestmark = pytest.mark.e2e

FLASK = Example(
    name="flask-postgres-redis",
    port_vars=("APP_PORT", "PG_PORT", "REDIS_PORT"),
    app_services=("app",),
    web_service="app",
    web_port_var="APP_PORT",
    web_path="/",
    web_expect="first note",
    stores={"db": 5432, "redis": 6379},
    waits=(("app", "db"), ("app", "redis")),
    ready_markers={"db": 'listening on IPv4 address "0.0.0.0"'},
)


class TestOriginal(OriginalChecks):
    example = FLASK


class TestHardened(HardenedChecks):
    example = FLASK

    def test_redis_counter_counts(self, hardened: Stack):
        _, body = hardened.http_get("APP_PORT", "/")
        first = json.loads(body)["hits"]
        _, body = hardened.http_get("APP_PORT", "/")
        assert json.loads(body)["hits"] == first + 1
