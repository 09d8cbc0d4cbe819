"""The transforms, in the order they run.

Order matters: the stage split comes before the non-root user (USER goes into the production
stage it creates), the database healthcheck before the dependents that wait for it, and the
networks after both. Import this package as ``harden.transforms``, never as ``transforms``.
"""

from __future__ import annotations

import importlib

# (module, class) in run order
_REGISTRY = [
    ("split_stages", "SplitStages"),
    ("non_root_user", "NonRootUser"),
    ("db_healthcheck", "DbHealthcheck"),
    ("depends_healthy", "DependsHealthy"),
    ("networks", "Networks"),
    ("dev_profiles", "DevProfiles"),
]


def all_transforms() -> list:
    """Transform classes in run order."""
    return [getattr(importlib.import_module(f"harden.transforms.{mod}"), cls) for mod, cls in _REGISTRY]


def names() -> list[str]:
    return [t.name for t in all_transforms()]


def by_name(name: str):
    for t in all_transforms():
        if t.name == name:
            return t
    return None
