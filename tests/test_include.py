"""Compose `include:` (Compose 2.20+): included files are part of the project that includes
them. Snapshots of the whole diff over the core-include-* fixtures, plus the rules one by one:
edits go into the file that defines the service, paths resolve against the included file's
project directory, an included file is never processed as a project of its own (sequential or
parallel), networks are skipped with a reason naming `include:`, remote/missing includes are
reported and not followed, a file several projects include is left alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from harden_testlib import FIXTURES, copy_fixture, harden_run, run_harden, write_files
from harden.compose_doc import ComposeDoc
from harden.config import Options
from harden.engine import run
from harden.report import diff_text

INCLUDE_FIXTURES = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir() and p.name.startswith("core-include-"))




def _summary(res) -> str:
    lines = [f"# {o.transform} {o.status} {o.file}:{o.line} [{o.part}] {o.reason}"
             for o in res.outcomes if o.status in ("skipped", "failed")]
    lines += [f"# note {n.transform} {n.file}:{n.line}: {n.message}" for n in res.notes]
    return "\n".join(lines) + "\n"


def _after(res, rel: str) -> str:
    return next(f.after for f in res.files if f.rel == rel)


def _changed(res) -> list[str]:
    return sorted(f.rel for f in res.changed_files)


def test_there_are_include_fixtures():
    assert len(INCLUDE_FIXTURES) >= 3


@pytest.mark.parametrize("fixture", INCLUDE_FIXTURES)
def test_snapshot(fixture, tmp_path, snap_diff, snap_text):
    folder = copy_fixture(fixture, tmp_path)
    res = harden_run(folder)
    assert not res.errors, [e.one_line() for e in res.errors]
    assert diff_text(res) == snap_diff(name=fixture)
    assert _summary(res) == snap_text(name=fixture)
    rels = [f.rel for f in res.files]
    assert len(rels) == len(set(rels)), "a file was read twice"
    for f in res.files:
        if f.kind == "compose":
            ComposeDoc(f.rel, f.after)


def test_basic_edits_go_where_the_service_is_defined(tmp_path):
    folder = copy_fixture("core-include-basic", tmp_path)
    res = harden_run(folder)
    db = _after(res, "db.yaml")
    main = _after(res, "compose.yaml")
    # the healthcheck and the dev profile go into the included file that defines the service
    assert "healthcheck:" in db and "mysqladmin" in db and "healthcheck" not in main
    assert "profiles:" in db and "profiles" not in main
    # the dependents (defined in compose.yaml) wait there
    assert main.count("condition: service_healthy") == 2
    # networks are not planned across include (the db could not join a network of compose.yaml)
    assert "networks:" not in main and "networks:" not in db
    skip = [o for o in res.outcomes if o.transform == "networks" and o.status == "skipped"]
    assert skip and "include:" in skip[0].reason and "db.yaml" in skip[0].reason


def test_before_include_support_nothing_happened_control(tmp_path):
    """Control: without the include line the db is unknown to compose.yaml and nothing there
    waits on it. (db.yaml is still hardened, as a compose file of its own found by its content.)"""
    folder = copy_fixture("core-include-basic", tmp_path)
    text = (folder / "compose.yaml").read_text().replace("include:\n  - db.yaml   # MySQL and its admin UI\n", "")
    (folder / "compose.yaml").write_text(text)
    res = harden_run(folder)
    assert "service_healthy" not in _after(res, "compose.yaml")
    assert "healthcheck:" in _after(res, "db.yaml")


def test_paths_resolve_against_project_directory(tmp_path):
    folder = copy_fixture("core-include-nested", tmp_path)
    res = harden_run(folder)
    # stack/worker.yaml says `build: ./worker` with project_directory `.`: the Dockerfile is
    # worker/Dockerfile at the top, not stack/worker/Dockerfile
    assert "worker/Dockerfile" in _changed(res)
    assert not any("not found" in (o.reason or "") and o.part == "worker" for o in res.outcomes)
    # its env_file (worker/worker.env, relative to the same folder) names pg, which the
    # included file cannot reference: no depends_on there, and a note says why
    worker = _after(res, "stack/worker.yaml")
    assert "depends_on" not in worker
    assert any("stack/worker.yaml is an included file" in n.message for n in res.notes)
    # nested include: cache.yaml is included by stack/data.yaml, migrate may wait on it there
    data = _after(res, "stack/data.yaml")
    assert "cache:\n        condition: service_healthy" in data
    assert "healthcheck:" in _after(res, "stack/cache.yaml")


def test_unfollowed_includes_are_reported(tmp_path):
    folder = copy_fixture("core-include-nested", tmp_path)
    res = harden_run(folder)
    reasons = {o.reason for o in res.outcomes if o.transform == "harden" and o.status == "skipped"}
    assert any("oci://" in r and "remote" in r for r in reasons)
    assert any("git@github.com" in r and "remote" in r for r in reasons)
    assert any("optional/missing.yaml not found" in r for r in reasons)
    assert any("${EXTRA_COMPOSE" in r and "variable" in r for r in reasons)


def test_included_file_in_the_same_folder_is_not_an_override(tmp_path):
    """docker-compose.db.yml beside docker-compose.yml looks like an override by name; it is
    included instead, so it is read once, as its own model."""
    folder = copy_fixture("core-include-samefolder", tmp_path)
    res = harden_run(folder)
    assert _changed(res) == ["docker-compose.db.yml", "docker-compose.yml"]
    assert "healthcheck:" in _after(res, "docker-compose.db.yml")


def test_included_project_folder_is_not_a_project_of_its_own(tmp_path):
    write_files(tmp_path, {
        "compose.yaml": "include:\n  - db/compose.yaml\nservices:\n  app:\n    image: x/app\n    depends_on: [pg]\n",
        "db/compose.yaml": "services:\n  pg:\n    image: postgres:16\n",
        "db/compose.override.yaml": "services:\n  pg:\n    ports:\n      - \"5432:5432\"\n",
    })
    res = harden_run(tmp_path)
    assert not res.errors
    pg = _after(res, "db/compose.yaml")
    assert pg.count("healthcheck:") == 1
    # the override of the included file is not part of what compose.yaml includes: reported
    assert any(o.file == "db/compose.override.yaml" and o.status == "skipped" and "include" in o.reason
               for o in res.outcomes)
    assert _after(res, "db/compose.override.yaml") == (tmp_path / "db/compose.override.yaml").read_text()


def test_parallel_run_equals_sequential(tmp_path):
    files = {}
    for i in range(9):
        files[f"p{i}/compose.yaml"] = f"services:\n  app{i}:\n    image: x/app\n    depends_on: [db{i}]\n  db{i}:\n    image: redis:7\n"
    # p0 includes the database of p1's folder (which is also its own project there)
    files["p0/compose.yaml"] = "include:\n  - ../p1/db.yaml\nservices:\n  app0:\n    image: x/app\n    depends_on: [shared]\n"
    files["p1/db.yaml"] = "services:\n  shared:\n    image: postgres:16\n"
    files["p2/compose.yaml"] = "include:\n  - ../p3/compose.yaml\nservices:\n  app2:\n    image: x/app\n    depends_on: [db3]\n"
    write_files(tmp_path, files)
    seq = run(tmp_path, Options(), jobs=1)
    par = run(tmp_path, Options(), jobs=2)
    assert not seq.errors and not par.errors
    assert [(f.rel, f.after) for f in seq.files] == [(f.rel, f.after) for f in par.files]
    rels = [f.rel for f in seq.files]
    assert len(rels) == len(set(rels))
    p3 = _after(seq, "p3/compose.yaml")
    assert p3.count("healthcheck:") == 1 and "service_healthy" in p3
    assert "healthcheck:" in _after(seq, "p1/db.yaml")
    assert "shared:\n        condition: service_healthy" in _after(seq, "p0/compose.yaml")


def test_file_included_by_two_projects_is_left_alone(tmp_path):
    write_files(tmp_path, {
        "a/compose.yaml": "include:\n  - ../shared/db.yaml\nservices:\n  a:\n    image: x/a\n    depends_on: [db]\n",
        "b/compose.yaml": "include:\n  - ../shared/db.yaml\nservices:\n  b:\n    image: x/b\n",
        "shared/db.yaml": "services:\n  db:\n    image: postgres:16\n",
    })
    res = harden_run(tmp_path)
    assert not res.errors
    assert "shared/db.yaml" not in _changed(res)
    assert any(o.status == "skipped" and "several compose files" in (o.reason or "") for o in res.outcomes)
    # and a dependent does not wait healthy on a db that got no healthcheck
    assert "service_healthy" not in _after(res, "a/compose.yaml")


def test_conflicting_service_is_not_followed(tmp_path):
    write_files(tmp_path, {
        "compose.yaml": "include:\n  - db.yaml\nservices:\n  db:\n    image: postgres:16\n",
        "db.yaml": "services:\n  db:\n    image: mysql:8\n",
    })
    res = harden_run(tmp_path)
    assert any("defined both here and in the included file" in (o.reason or "") for o in res.outcomes)
    assert "db.yaml" not in _changed(res)


def test_include_outside_the_project_and_cycles(tmp_path):
    root = tmp_path / "proj"
    write_files(tmp_path, {
        "outside.yaml": "services:\n  db:\n    image: postgres:16\n",
        "proj/compose.yaml": "include:\n  - ../outside.yaml\n  - a.yaml\nservices:\n  app:\n    image: x/app\n",
        "proj/a.yaml": "include:\n  - b.yaml\nservices:\n  a:\n    image: x/a\n",
        "proj/b.yaml": "include:\n  - a.yaml\n  - sub\nservices:\n  b:\n    image: redis:7\n",
        "proj/sub/compose.yaml": "services:\n  c:\n    image: x/c\n",
    })
    res = harden_run(root)
    assert not res.errors
    reasons = [o.reason or "" for o in res.outcomes if o.transform == "harden"]
    assert any("outside the project" in r for r in reasons)
    assert any("include cycle" in r for r in reasons)
    assert any("sub is a folder, not a compose file" in r for r in reasons)
    assert (tmp_path / "outside.yaml").read_text() == "services:\n  db:\n    image: postgres:16\n"
    assert "outside.yaml" not in " ".join(f.rel for f in res.files)


def test_bad_included_file_is_one_error_line(tmp_path):
    write_files(tmp_path, {
        "compose.yaml": "include:\n  - db.yaml\nservices:\n  app:\n    image: x/app\n",
        "db.yaml": "services:\n  db:\n    image: [unclosed\n",
    })
    proc = run_harden("diff", str(tmp_path))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("harden: error:")]
    assert len(lines) == 1 and "db.yaml" in lines[0]


def test_included_version_key_is_kept(tmp_path):
    """Only Compose 2.20+ reads included files and it ignores `version:`: no edit for it there."""
    write_files(tmp_path, {
        "compose.yaml": "include:\n  - db.yaml\nservices:\n  app:\n    image: x/app\n    depends_on: [db]\n",
        "db.yaml": 'version: "3.8"\nservices:\n  db:\n    image: postgres:16\n',
    })
    res = harden_run(tmp_path)
    assert _after(res, "db.yaml").startswith('version: "3.8"\n')
    assert "healthcheck:" in _after(res, "db.yaml")


def test_apply_twice_changes_nothing(tmp_path):
    for fx in INCLUDE_FIXTURES:
        folder = copy_fixture(fx, tmp_path)
        assert run_harden("apply", str(folder)).returncode in (0, 1)
        again = run_harden("diff", str(folder))
        assert again.returncode == 0, (fx, again.stdout, again.stderr)


def test_override_file_may_change_an_included_service(tmp_path):
    """Compose rejects a service both the including file and the included file define, but a
    global override file (compose.override.yaml) may change the merged model: the included
    service keeps its definition in the included file, the override applies on top."""
    write_files(tmp_path, {
        "compose.yaml": "include:\n  - db.yaml\nservices:\n  app:\n    image: x/app\n    depends_on: [db]\n",
        "compose.override.yaml": "services:\n  db:\n    ports:\n      - \"5432:5432\"\n",
        "db.yaml": "services:\n  db:\n    image: postgres:16\n",
    })
    res = harden_run(tmp_path)
    assert not res.errors
    assert not any("defined both" in (o.reason or "") for o in res.outcomes)
    db = _after(res, "db.yaml")
    assert "healthcheck:" in db and "pg_isready" in db  # where the service is defined
    assert "healthcheck" not in _after(res, "compose.override.yaml")
    assert '"127.0.0.1:5432:5432"' in _after(res, "compose.override.yaml")
    assert "service_healthy" in _after(res, "compose.yaml")


def test_same_service_in_two_includes_is_a_conflict(tmp_path):
    write_files(tmp_path, {
        "compose.yaml": "include:\n  - a.yaml\n  - b.yaml\nservices:\n  app:\n    image: x/app\n",
        "a.yaml": "services:\n  db:\n    image: postgres:16\n",
        "b.yaml": "services:\n  db:\n    image: postgres:15\n",
    })
    res = harden_run(tmp_path)
    assert any("b.yaml" in (o.reason or "") and "defined both" in (o.reason or "") for o in res.outcomes)
    assert "b.yaml" not in _changed(res)
