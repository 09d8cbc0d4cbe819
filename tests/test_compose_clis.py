"""The compose checks every other test relies on (harden_testlib.compose_config / compose_model):
they must catch what Compose v2 rejects, in every profile, and apply the per-tool rule."""

from __future__ import annotations

from pathlib import Path

import pytest

import harden_testlib
from harden_testlib import V1, V2, compose_config, compose_model, compose_regressions


def _project(tmp_path: Path, text: str) -> list[Path]:
    (tmp_path / "compose.yaml").write_text(text)
    return [tmp_path / "compose.yaml"]


def test_a_valid_file_passes_every_cli(compose_v2, tmp_path):
    files = _project(tmp_path, "services:\n  web:\n    image: nginx\n    networks: [front]\n"
                               "  db:\n    image: postgres\n    networks: [back]\nnetworks:\n  front:\n  back:\n")
    results = compose_config(tmp_path, files)
    assert list(results)[0] == V2
    assert all(ok for ok, _out in results.values()), results


def test_v2_rejects_an_undeclared_network_1_29_does_not(compose_v2, tmp_path):
    """Why the tests ask v2: 1.29 accepts a service naming a network nobody declares."""
    files = _project(tmp_path, "services:\n  web:\n    image: nginx\n    networks: [backend]\n")
    results = compose_config(tmp_path, files)
    ok, out = results[V2]
    assert not ok and "backend" in out, out
    if V1 in results:
        assert results[V1][0], results[V1]


@pytest.mark.parametrize("kind, entry", [
    ("networks", "[backend]"), ("volumes", "['data:/var/lib/data']"), ("secrets", "[token]"), ("configs", "[conf]"),
])
def test_v2_checks_services_of_every_profile(compose_v2, tmp_path, kind, entry):
    """A dev-only service naming an undeclared network/volume/secret/config: a plain v2 `config`
    does not look at it (inactive profile); `--profile dev up` would fail."""
    files = _project(tmp_path, f"services:\n  web:\n    image: nginx\n"
                               f"  adminer:\n    image: adminer\n    profiles: [dev]\n    {kind}: {entry}\n")
    ok, out = compose_config(tmp_path, files)[V2]
    assert not ok and "--profile *" in out, out


def test_v2_checks_the_default_profile_too(compose_v2, tmp_path):
    """A default service depending on a dev-only one: `up` fails, although with every profile
    active the file is fine."""
    files = _project(tmp_path, "services:\n  web:\n    image: nginx\n    depends_on: [adminer]\n"
                               "  adminer:\n    image: adminer\n    profiles: [dev]\n")
    ok, out = compose_config(tmp_path, files)[V2]
    assert not ok and "adminer" in out, out


def test_files_combine_in_order(compose_v2, tmp_path):
    """The network is declared in the override: valid only with both files."""
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    image: nginx\n    networks: [backend]\n")
    (tmp_path / "compose.override.yaml").write_text("networks:\n  backend:\n")
    assert not compose_config(tmp_path, ["compose.yaml"])[V2][0]
    assert compose_config(tmp_path, ["compose.yaml", "compose.override.yaml"])[V2][0]


def test_the_developers_environment_does_not_leak_in(compose_v2, tmp_path, monkeypatch):
    """COMPOSE_PROFILES=dev would activate the tool in the default pass, and a variable of the
    developer's would satisfy ${TAG:?}: neither reaches the CLIs."""
    files = _project(tmp_path, "services:\n  web:\n    image: nginx\n    depends_on: [adminer]\n"
                               "  adminer:\n    image: adminer\n    profiles: [dev]\n")
    monkeypatch.setenv("COMPOSE_PROFILES", "dev")
    ok, out = compose_config(tmp_path, files)[V2]
    assert not ok and "adminer" in out, out
    files = _project(tmp_path, "services:\n  web:\n    image: nginx:${TAG:?no tag}\n")
    monkeypatch.setenv("TAG", "1")
    results = compose_config(tmp_path, files)
    assert not any(ok for ok, _out in results.values()), results
    assert all(ok for ok, _out in compose_config(tmp_path, files, env={"TAG": "1"}).values())


def test_model_is_v2s_resolved_json(compose_v2, tmp_path):
    files = _project(tmp_path, "services:\n  web:\n    image: nginx\n    ports: ['127.0.0.1:8080:80']\n"
                               "    depends_on: [db]\n  db:\n    image: postgres\n"
                               "  adminer:\n    image: adminer\n    profiles: [dev]\n")
    default = compose_model(tmp_path, files)
    assert set(default["services"]) == {"web", "db"}
    web = default["services"]["web"]
    assert web["ports"][0]["host_ip"] == "127.0.0.1" and web["ports"][0]["target"] == 80
    assert web["depends_on"]["db"]["condition"] == "service_started"
    assert set(compose_model(tmp_path, files, profiles=["*"])["services"]) == {"web", "db", "adminer"}


def test_model_fails_on_an_invalid_combination(compose_v2, tmp_path):
    files = _project(tmp_path, "services:\n  web:\n    image: nginx\n    networks: [backend]\n")
    with pytest.raises(AssertionError, match="backend"):
        compose_model(tmp_path, files)


def test_the_rule_is_per_tool():
    before = {V2: (False, "v2 rejects the input"), V1: (True, "")}
    assert compose_regressions(before, {V2: (False, "x"), V1: (True, "")}) == {}
    assert compose_regressions(before, {V2: (False, "x"), V1: (False, "broken")}) == {V1: "broken"}
    before = {V2: (True, ""), V1: (False, "1.29 rejects the input")}
    assert compose_regressions(before, {V2: (False, "undefined network"), V1: (False, "")}) == {V2: "undefined network"}


@pytest.mark.parametrize("ci, outcome", [("", pytest.skip.Exception), ("false", pytest.skip.Exception),
                                         ("true", pytest.fail.Exception), ("1", pytest.fail.Exception)])
def test_missing_v2_skips_except_under_ci(monkeypatch, ci, outcome):
    monkeypatch.setattr(harden_testlib, "compose_clis", lambda: {V1: ("docker-compose",)})
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="Compose v2"):
        harden_testlib.require_compose_v2()
    with pytest.raises(outcome, match="Compose v2"):
        compose_config(Path("."), ["compose.yaml"])
