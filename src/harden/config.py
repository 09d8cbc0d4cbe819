"""Options for a run: which transforms, and the knobs each one reads.

Defaults live here. The config file (``.harden.toml`` or ``[tool.harden]``) and the command
line override them, the command line last.
"""

from __future__ import annotations

from .record import field, record
from typing import Any

DEFAULT_OPTIONS: dict[str, Any] = {
    "uid": 10001,
    "gid": 10001,
    "user": "app",
    "group": "app",
    "venv": "/opt/venv",
    "frontend_network": "frontend",
    "backend_network": "backend",
    "dev_profile": "dev",
    "healthcheck_interval": "10s",
    "healthcheck_timeout": "5s",
    "healthcheck_retries": 5,
    "healthcheck_start_period": "30s",
}


@record
class Options:
    select: list[str] | None = None  # None: all
    ignore: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_OPTIONS))
    services: dict[str, dict[str, Any]] = field(default_factory=dict)  # per-service overrides

    def get(self, key: str) -> Any:
        return self.values.get(key, DEFAULT_OPTIONS.get(key))

    def service(self, name: str) -> dict[str, Any]:
        return self.services.get(name, {})

    def selected(self, names: list[str]) -> list[str]:
        chosen = list(names) if self.select is None else [n for n in names if n in self.select]
        return [n for n in chosen if n not in self.ignore]
