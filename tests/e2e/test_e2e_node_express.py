"""examples/node-express before and after `harden apply`, under a real Docker engine."""

import pytest

from e2e_checks import HardenedChecks, OriginalChecks
from e2e_lib import Example

pytestmark = pytest.mark.e2e

NODE = Example(
    name="node-express",
    port_vars=("API_PORT", "MYSQL_PORT", "ADMINER_PORT"),
    app_services=("api",),
    web_service="api",
    web_port_var="API_PORT",
    web_path="/todos",
    web_expect="try harden on this repo",
    stores={"mysql": 3306},
    waits=(("api", "mysql"),),
    startup_connectors=("api",),
    dev_tools={"adminer": "ADMINER_PORT"},
    ready_markers={"mysql": "Starting mysqld on 0.0.0.0:3306"},
)


class TestOriginal(OriginalChecks):
    example = NODE


class TestHardened(HardenedChecks):
    example = NODE
