"""Dockerfile discovery by name (project.py): the names real repositories use, and templates left out."""

from __future__ import annotations

import pytest

from harden.project import discover, is_dockerfile_name


@pytest.mark.parametrize("name", [
    "Dockerfile", "dockerfile", "Containerfile", "Dockerfile.prod", "Containerfile.prod", "Dockerfile-prod",
    "Dockerfile_dev", "Dockerfile.alpine", "app.Dockerfile", "api.dockerfile",
])
def test_dockerfile_names(name):
    assert is_dockerfile_name(name)


@pytest.mark.parametrize("name", [
    # templates rendered by a generator (FROM {{ base }}), samples, backups, not Dockerfiles
    "Dockerfile.template", "Dockerfile-template", "Dockerfile.tmpl", "Dockerfile.j2", "Dockerfile.jinja2",
    "Dockerfile.in", "Dockerfile.erb", "Dockerfile.example", "Dockerfile.orig", "Dockerfile.bak",
    "Dockerfile.dockerignore", "Dockerfile.md", "Dockerfilex", "Dockerfile.",
])
def test_not_dockerfile_names(name):
    assert not is_dockerfile_name(name)


def test_discovery_finds_renamed_dockerfiles_and_skips_templates(tmp_path):
    for rel in ("Dockerfile-prod", "docker/app.Dockerfile", "svc/dockerfile", "Containerfile",
                "tpl/Dockerfile.template", "tpl/Dockerfile.j2"):
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("FROM python:3.12-slim\n")
    found = sorted(p.relative_to(tmp_path).as_posix() for p in discover(tmp_path).dockerfiles)
    assert found == ["Containerfile", "Dockerfile-prod", "docker/app.Dockerfile", "svc/dockerfile"]


def test_a_template_named_on_the_command_line_is_still_read(tmp_path):
    p = tmp_path / "Dockerfile.template"
    p.write_text("FROM python:3.12-slim\nCMD [\"python\"]\n")
    assert discover(p).dockerfiles == [p]


@pytest.mark.parametrize("name", [
    # an editor's snippet library and syntax file, docs and scripts named after Dockerfiles
    "dockerfile.js", "Dockerfile.vim", "dockerfile.ts", "Dockerfile.go", "Dockerfile.py", "dockerfile.json",
    "Dockerfile.yml", "Dockerfile.sh", "Dockerfile.txt",
])
def test_names_whose_extension_says_something_else(name):
    assert not is_dockerfile_name(name)


def test_vendored_asset_folders_are_not_searched(tmp_path):
    for rel in ("static/assets/js/plugin/ace/src-noconflict/snippets/dockerfile.js", "snip/Dockerfile.vim",
                "assets/Dockerfile", "dist/Dockerfile", "app/Dockerfile"):
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text('ace.define("ace/snippets/dockerfile",["require","exports","module"], function(){});\n'
                     if rel.endswith(".js") else "FROM alpine:3.20\n")
    found = sorted(p.relative_to(tmp_path).as_posix() for p in discover(tmp_path).dockerfiles)
    assert found == ["app/Dockerfile"]


def _write(root, files):
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)


def test_compose_files_with_other_names_are_found_by_their_content(tmp_path):
    """cookiecutter-django's local.yml/production.yml, jitsi's jibri.yml, docker-elk's
    extensions/curator/curator-compose.yml are compose files by content, not by name; YAML
    files that only share a `services:` key (Symfony, GitLab CI, Helm values) are not."""
    _write(tmp_path, {
        "local.yml": "version: '3'\nvolumes:\n  data: {}\nservices:\n  django:\n    build: .\n  redis:\n    image: redis:5.0\n",
        "extensions/curator/curator-compose.yml": "services:\n  curator:\n    build:\n      context: x/\n",
        "x-only.yaml": "x-base: &b\n  restart: always\nservices:\n  web:\n    <<: *b\n    image: nginx\n",
        "config/services.yaml": "parameters:\n  a: 1\nservices:\n  _defaults:\n    autowire: true\n",
        ".gitlab-ci.yml": "image: python:3.12\nservices:\n  - postgres:16\ntest:\n  script: [pytest]\n",
        "chart/values.yaml": "services:\n  api:\n    image:\n      repository: acme/api\n    replicas: 2\n",
        "k8s/deploy.yaml": "apiVersion: apps/v1\nkind: Deployment\n",
        "notes.yml": "services:\n  - name: web\n    image: nginx\n",
        ".pre-commit-config.yaml": "repos:\n  - repo: x\n",
    })
    d = discover(tmp_path)
    found = sorted(p.relative_to(tmp_path).as_posix() for p in d.by_content)
    # chart/values.yaml and notes.yml pass the text probe (only `services:`, an indented image
    # key); the engine reads them and leaves them out: an image that is not a string, a list
    assert found == ["chart/values.yaml", "extensions/curator/curator-compose.yml", "local.yml", "notes.yml",
                     "x-only.yaml"]
    from harden.engine import Run
    from harden.config import Options

    run = Run(tmp_path, Options(select=["db-healthcheck"]))
    result = run.execute()
    assert not result.errors
    rels = sorted(r for p in run.projects for r in p.rels)
    assert "chart/values.yaml" not in rels and "notes.yml" not in rels and "local.yml" in rels
    assert not any(o.file in ("chart/values.yaml", "notes.yml") for o in result.outcomes)  # nothing to say


def test_a_yaml_file_that_looks_like_compose_but_does_not_parse_is_left_out_silently(tmp_path):
    _write(tmp_path, {
        "templates/stack.yml": "services:\n  web:\n    image: {{ .Image }}\n    ports: [{{ .Port }\n",
        "compose.yaml": "services:\n  db:\n    image: postgres:16\n",
    })
    from harden.engine import Run
    from harden.config import Options

    result = Run(tmp_path, Options(select=["db-healthcheck"])).execute()
    assert not result.errors and not result.errored
    assert [f.rel for f in result.files] == ["compose.yaml"]
