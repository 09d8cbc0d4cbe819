"""Inline pragmas: `# harden: ignore`, `# harden: ignore[a, b]`, `# harden: ignore-file`.

Unit tests of the parsing, every form end to end with two tiny transforms (tests/tiny_transforms.py),
and the real transforms on the cfg-pragmas fixture."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harden_testlib import FIXTURES, changed_text, run_harden
from harden.config import Options
from harden.engine import file_pragma, pragma_above, pragma_problems, run
from tiny_transforms import TINY, AddLabel, StageLabel


def _run(tmp_path: Path, files: dict[str, str], opts: Options | None = None):
    for rel, text in files.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return run(tmp_path, opts or Options(), transforms=TINY, jobs=1)


def _supp(result):
    return sorted((o.transform, o.file, o.part, o.line, o.reason) for o in result.outcomes if o.status == "suppressed")


# ------------------------------------------------------------------ parsing
@pytest.mark.parametrize("text, expected", [
    ("# harden: ignore-file\nFROM x\n", None),
    ("# syntax=docker/dockerfile:1\n\n# harden: ignore-file[a, b]\nFROM x\n", {"a", "b"}),
    ("---\n# harden: ignore-file\nservices: {}\n", None),
    ("# harden: ignore-file[a]\n# harden: ignore-file[b]\nFROM x\n", {"a", "b"}),
    ("# harden: ignore-file[a]\n# harden: ignore-file\nFROM x\n", None),
    ("FROM x\n# harden: ignore-file\n", False),  # not in the leading comment block
    ("# harden: ignore\nFROM x\n", False),  # a stage pragma is not a file pragma
    ("# HARDEN: IGNORE-FILE\nFROM x\n", None),
    ("# see `# harden: ignore-file` in the docs\nFROM x\n", False),  # a mention, not a pragma
    ("# harden: ignore-files\nFROM x\n", False),
])
def test_file_pragma(text, expected):
    assert file_pragma(text) == expected


def test_pragma_above_forms():
    lines = [
        "services:",           # 0
        "  # harden: ignore",  # 1
        "  a:",                # 2
        "  # harden: ignore[x, y]",  # 3
        "  # a comment between",     # 4
        "  b:",                # 5
        "  # harden: ignore[x]",     # 6
        "  # harden: ignore[z]",     # 7
        "  c:",                # 8
        "  # harden: ignore",  # 9
        "",                    # 10: a blank line ends the block
        "  d:",                # 11
        "  # harden: ignored",  # 12: not a pragma
        "  e:",                # 13
    ]
    assert pragma_above(lines, 2) == (True, None)
    assert pragma_above(lines, 5) == (True, {"x", "y"})
    assert pragma_above(lines, 8) == (True, {"x", "z"})
    assert pragma_above(lines, 11) is None
    assert pragma_above(lines, 13) is None
    assert pragma_above(lines, 0) is None


def test_pragma_problems_name_typos_and_unknown_directives():
    text = "# harden: ignore[add-label, add-lable]\n# harden: ignroe\n# harden: ignore\n# harden: ignore-file[stage-label]\n"
    assert pragma_problems(text, {"add-label", "stage-label"}) == [
        (1, "unknown transform 'add-lable' in '# harden: ignore[add-label, add-lable]' (known: add-label, stage-label)"),
        (2, "unknown pragma '# harden: ignroe' (use ignore, ignore[NAME, ...] or ignore-file)"),
    ]


# ------------------------------------------------------------------ end to end, tiny transforms
COMPOSE = """\
services:
  web:
    image: nginx
{pragma}  db:
    image: postgres
"""


def test_no_pragma_changes_every_service(tmp_path):
    r = _run(tmp_path, {"compose.yaml": COMPOSE.format(pragma="")})
    out = changed_text(r, "compose.yaml")
    assert out.count("hardened:") == 2
    assert _supp(r) == []


def test_ignore_above_service_suppresses_every_transform_for_it(tmp_path):
    r = _run(tmp_path, {"compose.yaml": COMPOSE.format(pragma="  # harden: ignore\n")})
    out = changed_text(r, "compose.yaml")
    assert out == (
        "services:\n  web:\n    image: nginx\n    labels:\n      hardened: \"true\"\n"
        "  # harden: ignore\n  db:\n    image: postgres\n"
    )
    assert _supp(r) == [("add-label", "compose.yaml", "db", 5, "# harden: ignore")]


def test_ignore_with_this_name_suppresses(tmp_path):
    r = _run(tmp_path, {"compose.yaml": COMPOSE.format(pragma="  # harden: ignore[stage-label, add-label]\n")})
    assert changed_text(r, "compose.yaml").count("hardened:") == 1
    assert [s[0] for s in _supp(r)] == ["add-label"]


def test_ignore_with_other_names_does_not_suppress(tmp_path):
    r = _run(tmp_path, {"compose.yaml": COMPOSE.format(pragma="  # harden: ignore[stage-label]\n")})
    assert changed_text(r, "compose.yaml").count("hardened:") == 2
    assert _supp(r) == []
    assert not [n for n in r.notes if n.transform == "harden"]  # stage-label is a known name


def test_pragma_in_override_file_counts(tmp_path):
    r = _run(tmp_path, {
        "compose.yaml": COMPOSE.format(pragma=""),
        "compose.override.yaml": "services:\n  # harden: ignore\n  db:\n    environment:\n      A: b\n",
    })
    assert changed_text(r, "compose.yaml").count("hardened:") == 1
    assert _supp(r) == [("add-label", "compose.override.yaml", "db", 3, "# harden: ignore")]


def test_ignore_file_in_compose(tmp_path):
    r = _run(tmp_path, {"compose.yaml": "# Our compose file\n# harden: ignore-file\n" + COMPOSE.format(pragma="")})
    assert not r.changed_files
    assert _supp(r) == [("add-label", "compose.yaml", None, None, "# harden: ignore-file")]


def test_ignore_file_with_names_only_those(tmp_path):
    text = "# harden: ignore-file[stage-label]\n" + COMPOSE.format(pragma="")
    r = _run(tmp_path, {"compose.yaml": text})
    assert changed_text(r, "compose.yaml").count("hardened:") == 2


DOCKERFILE = """\
# syntax=docker/dockerfile:1
{p0}FROM python:3.12 AS build
RUN pip wheel -w /w .

{p1}FROM python:3.12-slim
COPY --from=build /w /w
"""


def test_dockerfile_stage_pragma(tmp_path):
    r = _run(tmp_path, {"Dockerfile": DOCKERFILE.format(p0="# harden: ignore\n", p1="")})
    out = changed_text(r, "Dockerfile")
    assert "LABEL stage=build" not in out and "LABEL stage=1" in out
    assert _supp(r) == [("stage-label", "Dockerfile", "stage build", 3, "# harden: ignore")]


def test_dockerfile_stage_pragma_with_names(tmp_path):
    r = _run(tmp_path, {"Dockerfile": DOCKERFILE.format(p0="", p1="# keep it\n# harden: ignore[stage-label]\n")})
    out = changed_text(r, "Dockerfile")
    assert "LABEL stage=build" in out and "LABEL stage=1" not in out
    r = _run(tmp_path, {"Dockerfile": DOCKERFILE.format(p0="", p1="# harden: ignore[add-label]\n")})
    assert "LABEL stage=1" in changed_text(r, "Dockerfile")


def test_dockerfile_ignore_file(tmp_path):
    r = _run(tmp_path, {"Dockerfile": "# syntax=docker/dockerfile:1\n# harden: ignore-file\n" + DOCKERFILE.format(p0="", p1="").split("\n", 1)[1]})
    assert not r.changed_files
    assert _supp(r) == [("stage-label", "Dockerfile", None, None, "# harden: ignore-file")]


def test_single_stage_pragma_covers_the_unit_even_if_the_transform_does_not_ask(tmp_path):
    class NoAsk(StageLabel):
        name = "no-ask"

        def apply(self, unit, ctx):  # never calls stage_suppressed
            unit.doc.insert_lines(len(unit.doc.lines) - 1, ["LABEL x=y"])

    (tmp_path / "Dockerfile").write_text("# harden: ignore[no-ask]\nFROM alpine\nRUN true\n")
    r = run(tmp_path, Options(), transforms=[NoAsk], jobs=1)
    assert not r.changed_files
    assert _supp(r) == [("no-ask", "Dockerfile", "stage 0", 2, "# harden: ignore")]


def test_a_transform_asking_twice_is_reported_once(tmp_path):
    class Twice(AddLabel):
        name = "twice"

        def apply(self, project, ctx):
            for svc in project.services():
                ctx.service_suppressed(svc)
                ctx.service_suppressed(svc)

    (tmp_path / "compose.yaml").write_text(COMPOSE.format(pragma="  # harden: ignore\n"))
    r = run(tmp_path, Options(), transforms=[Twice], jobs=1)
    assert len(_supp(r)) == 1


def test_unknown_pragma_name_is_a_note(tmp_path):
    r = _run(tmp_path, {"compose.yaml": COMPOSE.format(pragma="  # harden: ignore[add-lable]\n")})
    msgs = [(n.transform, n.file, n.line, n.message) for n in r.notes if n.transform == "harden"]
    assert msgs == [("harden", "compose.yaml", 4,
                     "unknown transform 'add-lable' in '# harden: ignore[add-lable]' (known: add-label, stage-label)")]
    assert changed_text(r, "compose.yaml").count("hardened:") == 2  # a typo suppresses nothing


def test_config_service_ignore(tmp_path):
    opts = Options()
    opts.services["db"] = {"ignore": ["add-label"]}
    r = _run(tmp_path, {"compose.yaml": COMPOSE.format(pragma="")}, opts)
    assert changed_text(r, "compose.yaml").count("hardened:") == 1
    assert _supp(r) == [("add-label", "compose.yaml", "db", None, "[services.db] ignore in the config")]


# ------------------------------------------------------------------ the real transforms
@pytest.fixture
def pragmas_project(tmp_path):
    dest = tmp_path / "cfg-pragmas"
    shutil.copytree(FIXTURES / "cfg-pragmas", dest)
    return dest


def test_real_transforms_honour_every_form(pragmas_project):
    from harden.transforms import names

    r = run(pragmas_project, Options(), jobs=1)
    assert not r.errors
    supp = {(o.transform, o.file, o.part) for o in r.outcomes if o.status == "suppressed"}
    compose = changed_text(r, "compose.yaml")
    svc = {name: compose.split(f"\n  {name}:\n", 1)[1].split("\n\n", 1)[0] for name in ("cache", "db", "adminer")}
    # `# harden: ignore` above cache: cache left exactly as written
    assert svc["cache"] == "    image: redis:7"
    # `# harden: ignore[db-healthcheck]` above db: no healthcheck for db
    assert "healthcheck" not in svc["db"]
    assert ("db-healthcheck", "compose.yaml", "db") in supp
    # `# harden: ignore[dev-profiles]` above adminer: not moved into a profile
    assert "profiles" not in svc["adminer"]
    if "dev-profiles" in names():
        assert ("dev-profiles", "compose.yaml", "adminer") in supp
    # `# harden: ignore[non-root-user]` above the single FROM of app/Dockerfile
    app = changed_text(r, "app/Dockerfile")
    assert "USER" not in app
    assert any(t == "non-root-user" and f == "app/Dockerfile" for t, f, _ in supp)
    # `# harden: ignore-file` in tools/Dockerfile: untouched, every Dockerfile transform suppressed
    tools = next(f for f in r.files if f.rel == "tools/Dockerfile")
    assert not tools.changed
    dockerfile_ts = [o.transform for o in r.outcomes if o.file == "tools/Dockerfile" and o.status == "suppressed"]
    assert dockerfile_ts and all(o.status == "suppressed" for o in r.outcomes if o.file == "tools/Dockerfile")


def test_summary_lists_suppressed_work(pragmas_project):
    p = run_harden("diff", str(pragmas_project))
    assert p.returncode == 1, p.stderr
    lines = p.stderr.splitlines()
    assert any(ln.startswith("suppressed [cache] in compose.yaml:13 by # harden: ignore: ") for ln in lines), lines
    assert "suppressed [db] in compose.yaml:17 by # harden: ignore: db-healthcheck" in lines
    assert any(ln.startswith("suppressed in tools/Dockerfile by # harden: ignore-file: ") for ln in lines), lines


def test_stage_pragma_survives_a_second_run(pragmas_project):
    """split-stages repeats the stage pragma above the production FROM: a second run is a no-op."""
    assert run_harden("apply", str(pragmas_project / "app" / "Dockerfile")).returncode == 0
    p = run_harden("diff", str(pragmas_project / "app" / "Dockerfile"))
    assert p.returncode == 0, p.stdout
