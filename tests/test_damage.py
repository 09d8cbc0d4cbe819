"""The damage classes found on real projects (issue 14), each reproduced as it was seen, and the
safety net that must catch such damage before anything is written.

1. a plain scalar holding `{`/`}` (`- ${PORT}:8080`) rewritten into YAML that no longer parses;
2. an alternate compose file (docker-compose.prod.yml) treated as an override of the base;
3. `depends_on` toward a host name that is a network alias, not a service;
4. a network named by a service but declared only in a file not loaded with it.
"""

from __future__ import annotations

from pathlib import Path

import yaml as pyyaml

from harden_testlib import harden_run


def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return root


def _after(result, rel: str) -> str:
    for f in result.files:
        if f.rel == rel:
            return f.after
    raise AssertionError(f"{rel} not in the result")


# ------------------------------------------------------------ 1. plain scalars with braces

def test_plain_port_with_a_variable_stays_valid_yaml_dev_profiles(tmp_path):
    root = _write(tmp_path, {"compose.yaml": (
        "services:\n"
        "  adminer:\n"
        "    image: adminer\n"
        "    ports:\n"
        "      - ${PORT}:8080\n"
    )})
    result = harden_run(root, select=["dev-profiles"])
    out = _after(result, "compose.yaml")
    assert '- "127.0.0.1:${PORT}:8080"\n' in out
    assert pyyaml.safe_load(out)["services"]["adminer"]["ports"] == ["127.0.0.1:${PORT}:8080"]


def test_plain_database_port_with_a_default_stays_valid_yaml_networks(tmp_path):
    root = _write(tmp_path, {"compose.yaml": (
        "services:\n"
        "  web:\n"
        "    image: nginx\n"
        "    ports:\n"
        "      - ${WEB_PORT}:80   # public\n"
        "    environment:\n"
        "      DATABASE_URL: postgres://app@db/app\n"
        "  db:\n"
        "    image: postgres:16\n"
        "    ports:\n"
        "      - ${DB_PORT:-5432}:5432   # for local tools\n"
    )})
    result = harden_run(root, select=["networks"])
    out = _after(result, "compose.yaml")
    assert '- "127.0.0.1:${DB_PORT:-5432}:5432"   # for local tools\n' in out
    data = pyyaml.safe_load(out)
    assert data["services"]["db"]["ports"] == ["127.0.0.1:${DB_PORT:-5432}:5432"]
    assert data["services"]["web"]["ports"] == ["${WEB_PORT}:80"]
