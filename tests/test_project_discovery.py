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
