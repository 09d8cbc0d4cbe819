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


# ------------------------------------------------------------------ compose files by content

_COMPOSE_LIKE = {
    # cookiecutter-django: `docker compose -f local.yml up`
    "local.yml": "version: '3'\nservices:\n  django:\n    build: .\n    ports: ['8000:8000']\n  redis:\n    image: redis:7\n",
    # an overlay named after what it adds (`-f docker-compose.yml -f jibri.yml`)
    "jibri.yml": "services:\n  jibri:\n    image: jitsi/jibri\n    networks:\n      meet.jitsi:\n",
    "stack/x-compose.yml": "x-common: &c\n  restart: always\nservices:\n  db:\n    <<: *c\n    image: postgres:16\n",
}
_NOT_COMPOSE = {
    # Symfony's service container
    "config/services.yaml": "services:\n  _defaults:\n    autowire: true\n  App\\:\n    resource: '../src/'\n",
    # a CI workflow: services under jobs
    ".github/workflows/ci.yml": "on: push\njobs:\n  test:\n    services:\n      db:\n        image: postgres\n",
    # GitLab CI: a top-level services list
    ".gitlab-ci.yml": "services:\n  - docker:dind\nbuild:\n  script: [make]\n",
    # app config with a services section that is not compose's
    "config/app.yml": "services:\n  mailer:\n    host: smtp.example.com\n    port: 25\n",
    # an overlay that only adds settings, named like no compose file: too little to tell it from
    # app config by its text, so it is not read (name it compose.<x>.yaml to have it read)
    "ops/ports.yaml": "services:\n  web:\n    ports: !reset []\n    environment:\n      DEBUG: '0'\n",
    # a top-level key compose does not know
    "deploy/values.yaml": "replicaCount: 2\nservices:\n  web:\n    image: nginx\n",
    # services: is not at the top level
    "nested.yml": "app:\n  services:\n    web:\n      image: nginx\n",
    "broken.yml": "services:\n  web: [\n",
}


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
def test_compose_files_under_other_names_are_found_by_content(tmp_path):
    _write(tmp_path, {**_COMPOSE_LIKE, **_NOT_COMPOSE})
    d = discover(tmp_path)
    found = sorted(d.rel(f) for g in d.groups for f in g.files)
    assert found == sorted(_COMPOSE_LIKE)


def test_a_file_found_by_content_pairs_with_the_base_of_its_folder(tmp_path):
    _write(tmp_path, {"docker-compose.yml": "services:\n  web:\n    image: nginx\n",
                      "jibri.yml": _COMPOSE_LIKE["jibri.yml"],
                      "extra/mongo.yml": "services:\n  mongodb:\n    image: mongo\n"})
    d = discover(tmp_path)
    groups = {d.rel(g.files[0]): [d.rel(p) for p in g.partners] for g in d.groups}
    assert groups == {"docker-compose.yml": [], "jibri.yml": ["docker-compose.yml"],
                      "extra/mongo.yml": ["docker-compose.yml"]}


def test_harden_rewrites_a_compose_file_found_by_content(tmp_path):
    from harden_testlib import changed_text, harden_run

    _write(tmp_path, {"local.yml": "services:\n  web:\n    build: .\n    ports: ['8000:8000']\n"
                                   "    environment:\n      DB_HOST: db\n  db:\n    image: postgres:16\n",
                      "Dockerfile": "FROM python:3.12-slim\nCMD [\"python\"]\n"})
    result = harden_run(tmp_path, select=["db-healthcheck"])
    assert "pg_isready" in changed_text(result, "local.yml")
