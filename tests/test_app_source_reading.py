"""How app_source reads Python: the text pre-scan, the tree walk, the depth bound, and the time
bound. Each fast path is checked against the slow one it replaces (the facts must not change)."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest

from harden import app_source
from harden.app_source import _Scan, _depth_bound, _expr_depth, _visitor_class, analyze
from harden_testlib import FIXTURES, copy_fixture, harden_run, write_files

REPO = Path(__file__).resolve().parent.parent


def _python_files() -> list[Path]:
    out = []
    for root in (FIXTURES, REPO / "examples"):
        out += sorted(p for p in root.rglob("*.py"))
    return out


# Python that exercises where lines come from (parentheses, continuations, strings across lines,
# CRLF, no final newline), which visit_* prune, and what the pre-scan must not miss
TRICKY = {
    "parens.py": 'import os\nx = (\n    "http://api.example.org/v1"\n)\ny = f(\n  (\n   "db"),\n  host = (\n"redis")\n)\n',
    "docstrings.py": '"""Module doc\nwith http://example.org in it\n"""\n\ndef f():\n    """doc\n    http://x.org"""\n    return "https://api.github.com"\n',
    "concat.py": 'URL = ("https://api." "telegram.org"\n       "/bot")\nB = b"http://" b"x.org"\nM = ("http:" f"//{x}")\n',
    "continuation.py": 'import os, \\\n    redis\nDB_HOST = \\\n    os.environ.get("DB_HOST", "db")\ns = "http:\\\n//cont.example.org"\n',
    "settings_cls.py": 'from pydantic_settings import BaseSettings\n\nclass S(BaseSettings):\n    """doc"""\n\n    db_host: str = "db"\n    redis_url: str = (\n        "redis://cache:6379"\n    )\n\n    class Config:\n        env_prefix = "APP_"\n',
    "calls.py": 'import uvicorn\nfrom fastapi import FastAPI\napp = FastAPI()\nif __name__ == "__main__":\n    uvicorn.run(\n        "main:app",\n        host="0.0.0.0",\n        port=int(os.getenv("PORT", "8080")),\n    )\n',
    "dicts.py": 'DATABASES = {\n    "default": {\n        "ENGINE": "django.db.backends.postgresql",\n        "HOST": "db",\n        "PORT": 5432,\n    }\n}\nCACHES = {"default": {"LOCATION": "redis://cache:6379/1"}}\n',
    "match.py": 'def f(x):\n    match x:\n        case {"host": h}:\n            return h\n        case Point(\n            x=0,\n        ):\n            return "http://m.example.org"\n',
    "crlf.py": 'import redis\r\nr = redis.Redis(\r\n    host="cache",\r\n)\r\n',
    "no_newline.py": 'import pymongo\nc = pymongo.MongoClient("mongodb://mongo:27017")',
    "decorators.py": '@app.route(\n    "/x"\n)\n@other\ndef handler():\n    return requests.get("https://hooks.slack.com/x")\n',
    "escapes.py": 's = "http\\x3a//escaped.example.org"\nt = "\\u0068ttps://u.example.org"\n',
    "fstrings.py": 'import httpx\nu = f"{scheme}://{host}/x"\nv = f"{d[\'https://inner.example.org\']}"\nw = f"""\n{a}\n{b!r:>10}\n"""\n',
    "lambda_ifexp.py": 'f = lambda: (\n  "http://a.example.org" if x else "http://b.example.org"\n)\n',
    "subscripts.py": 'import os\nA = os.environ[\n    "DB_HOST"\n]\nB = environ["CACHE_URL"]\n',
    "empty.py": "",
    "comments_only.py": "# just a comment",
}


def _hits_both_ways(source: bytes) -> tuple[list, list, bool]:
    visitor_cls, cst, walk = _visitor_class()  # imports libcst (and its metadata) quietly
    from libcst.metadata import MetadataWrapper

    module = cst.parse_module(source)
    slow = visitor_cls()
    MetadataWrapper(module, unsafe_skip_copy=True).visit(slow)
    fast = visitor_cls()
    ok = walk(module, fast, source.decode(module.encoding))
    return [tuple(h) for h in slow.hits], [tuple(h) for h in fast.hits], ok


@pytest.mark.parametrize("name", sorted(TRICKY))
def test_the_walk_gives_what_libcst_visiting_gives(name):
    slow, fast, ok = _hits_both_ways(TRICKY[name].encode())
    assert ok
    assert fast == slow


def test_the_walk_agrees_with_libcst_on_every_python_file_of_the_fixtures():
    files = _python_files()
    assert len(files) > 50
    compared = 0
    for p in files:
        data = p.read_bytes()
        try:
            ast.parse(data)
        except (SyntaxError, ValueError):
            continue
        if _expr_depth(ast.parse(data), 200) > 200:
            continue
        slow, fast, ok = _hits_both_ways(data)
        assert ok, p
        assert fast == slow, p
        compared += 1
    assert compared > 50


def test_a_walk_whose_line_count_disagrees_is_reported_so_the_slow_way_is_taken():
    visitor_cls, cst, walk = _visitor_class()
    module = cst.parse_module(b"import redis\nx = 1\n")
    assert walk(module, visitor_cls(), "import redis\nx = 1\n")
    assert not walk(module, visitor_cls(), "import redis\r\rx = 1\n")  # not the text it parsed


@pytest.mark.parametrize("literal", [
    "'a'", '"http://x"', "'''a\nb'''", '""""q"""', "''", '""""""', "r'a'", "u'é'", "R'x'",
    "'\\x41'", "'a\\nb'", "r'\\d'", "b'x'", "rb'x'", "'\\N{COLON}'", "'a\\\nb'", "'\\0'",
])
def test_plain_literals_are_evaluated_without_the_parser_as_libcst_evaluates_them(literal):
    visitor_cls, cst, _walk = _visitor_class()
    node = cst.parse_expression(literal)
    v = visitor_cls()
    v.visit_SimpleString(node)
    expected = node.evaluated_value
    assert v.hits == ([(0, "string", expected)] if isinstance(expected, str) else [])


# --------------------------------------------------------------------------- the depth bound

CHAINS = [
    "x = a" + ".b" * 250,
    "x = f" + "(1)" * 250,
    "x = " + "not " * 250 + "y",
    "x = " + " + ".join(["1"] * 250),
    "x = " + "-" * 250 + "1",
    "x = (" + " if c else ".join(["a"] * 250) + ")",
    "x = " + "[" * 150 + "]" * 150,
    "x = " + "lambda: " * 250 + "0",
    "x = f'" + "{a}" * 300 + "'",
    "x = (a\n" + "  .b\n" * 250 + ")",
    "x = " + "{'k': " * 120 + "1" + "}" * 120,
    "x = " + "a[" * 150 + "0" + "]" * 150,
    "def f(a=g(h(i(j())))):\n    return [y for y in z if y]\n",
    "@d(e(f))\nclass C(B, metaclass=M):\n    x: list[dict[str, int]] = {}\n",
    "x = f'{a:{b}}' + f'''{\"c\"!r}'''\n",
    "x = a if b else c; y = d.e.f(g)[h]\n",
]


@pytest.mark.parametrize("source", CHAINS)
def test_the_depth_bound_is_never_below_the_depth(source):
    tree = ast.parse(source)
    assert _depth_bound(_Scan(source)) >= _expr_depth(tree, 10**9)


def test_the_depth_bound_holds_on_every_python_file_of_the_fixtures():
    for p in _python_files():
        data = p.read_bytes()
        try:
            tree = ast.parse(data)
        except (SyntaxError, ValueError):
            continue
        text = app_source._source_text(data)
        assert text is not None
        assert _depth_bound(_Scan(text)) >= _expr_depth(tree, 10**9), p


def test_ordinary_code_stays_under_the_bound_so_the_exact_depth_is_not_measured(monkeypatch):
    measured = []
    real = app_source._expr_depth
    monkeypatch.setattr(app_source, "_expr_depth", lambda tree, limit: measured.append(1) or real(tree, limit))
    f = analyze(FIXTURES / "apps" / "fastapi_pymysql", ["uvicorn", "app.main:app"])
    assert f.clients == {"mysql"}
    assert measured == []


# --------------------------------------------------------------------------- the pre-scan

def _facts_without_prescan(ctx: Path, command, names, monkeypatch) -> object:
    with monkeypatch.context() as m:
        m.setattr(app_source._Python, "worth_parsing", lambda self, scan, follow: True)
        app_source._PARSED.clear()
        return analyze(ctx, command, service_names=names)


def _comparable(facts) -> dict:
    from harden import record

    d = record.asdict(facts)
    # notes that a file did not parse: the pre-scan does not parse files without anything to find
    d["notes"] = [n for n in d["notes"] if not n.startswith("skipped ")]
    return d


PRESCAN_APP = {
    **{f"mod/{k}": v for k, v in TRICKY.items()},
    "main.py": "from mod import parens, docstrings, concat, continuation, settings_cls, calls, dicts\n"
               "from mod import match, crlf, no_newline, decorators, escapes, fstrings, lambda_ifexp, subscripts\n"
               "from . import sibling\nimport mod.empty\nfrom . mod import comments_only\n",
    "mod/__init__.py": "",
    "sibling.py": "import pika\nTARGET = 'mod.late'\n",
    "mod/late.py": "import boto3\n",
    "mod/unreached.py": "import openai\n",
    "plain.py": "import json\nimport logging\nlog = logging.getLogger(__name__)\n\ndef f(x):\n    return json.dumps(x)\n",
    "split_strings.py": 'u = ("https:/"\n     "/split.example.org")\nk = {"HO" "ST": "db"}\n',
    "local_string.py": "APP = 'mod' '.unreached'\n",
    "requirements.txt": "fastapi\n",
}


@pytest.mark.parametrize("command", [None, ["python", "main.py"], ["python", "plain.py"]])
def test_the_prescan_finds_what_parsing_every_file_finds(tmp_path, monkeypatch, command):
    ctx = write_files(tmp_path / "app", PRESCAN_APP)
    names = frozenset({"db", "cache", "redis", "mongo"})
    app_source._PARSED.clear()
    fast = analyze(ctx, command, service_names=names)
    slow = _facts_without_prescan(ctx, command, names, monkeypatch)
    assert _comparable(fast) == _comparable(slow)
    assert fast.evidence  # the app says things: the comparison is not between two empty answers


@pytest.mark.parametrize("case", sorted(p.name for p in (FIXTURES / "apps").iterdir() if p.is_dir()))
def test_the_prescan_finds_what_parsing_every_file_finds_in_the_fixture_apps(case, monkeypatch):
    ctx = FIXTURES / "apps" / case
    for command in (None, ["python", "-m", "app"], ["uvicorn", "app.main:app"], ["python", "manage.py", "runserver"]):
        app_source._PARSED.clear()
        fast = analyze(ctx, command, service_names=frozenset({"db", "redis"}))
        assert _comparable(fast) == _comparable(_facts_without_prescan(ctx, command, frozenset({"db", "redis"}),
                                                                      monkeypatch))


def test_a_module_with_nothing_to_find_is_read_but_not_parsed(tmp_path, monkeypatch):
    import libcst

    parsed = []
    real = libcst.parse_module
    monkeypatch.setattr(libcst, "parse_module", lambda src, *a, **k: parsed.append(src) or real(src, *a, **k))
    write_files(tmp_path, {"main.py": "import helpers\nimport redis\n", "helpers.py": "import json\nX = json.dumps([])\n"})
    app_source._PARSED.clear()
    f = analyze(tmp_path, ["python", "main.py"], max_files=10)
    assert f.clients == {"redis"}
    assert parsed == [b"import helpers\nimport redis\n"]
    # helpers.py still counts against the bounds
    app_source._PARSED.clear()
    f = analyze(tmp_path, ["python", "main.py"], max_files=1)
    assert f.truncated and "max_files=1" in "\n".join(f.notes)


@pytest.mark.parametrize("text, parse", [
    ("import json\n", False),
    ("import json\n# see http://docs.example.org\n", False),  # a comment is not a string
    ("import json\nx = 'http://a.example.org'\n", True),
    ("x = 'ht' 'tp:/' '/a.example.org'\n", True),
    ("x = 'a\\x3a//b'\n", True),
    ("x = f'{y[\"k\"]}'\n", True),
    ("import redis.asyncio as r\n", True),
    ("from google import genai\n", True),
    ("os.environ['X']\n", True),
    ("conn(hostname=h)\n", True),
    ("d = {'Location': x}\n", True),
    ("x = 'django.core.cache.backends.redis.RedisCache'\n", True),
    ("s = 'the host'\n", False),  # host in a string is not a host assignment
])
def test_prescan_verdicts(text, parse, tmp_path):
    py = app_source._Python(app_source._Run(tmp_path, (), 10, 10_000), None)
    py.scan_setup()
    assert py.worth_parsing(_Scan(text), follow=False) is parse


@pytest.mark.parametrize("text, parse", [
    ("from . helpers import x\n", True),  # relative, however spelled
    ("from.helpers import x\n", True),
    ("from .. import x\n", True),
    ("import helpers\n", True),  # helpers.py is in the context
    ("import Helpers\n", True),  # (a case-insensitive file system would find it)
    ("from pkg.sub import x\n", True),  # pkg/ is in the context
    ("import json, logging\n", False),
    ("x = 'pkg.tasks'\n", True),  # a dotted string naming a local module is followed
    ("x = 'json.tasks'\n", False),
])
def test_prescan_verdicts_when_imports_are_followed(text, parse, tmp_path):
    write_files(tmp_path, {"helpers.py": "", "pkg/__init__.py": ""})
    py = app_source._Python(app_source._Run(tmp_path, (), 10, 10_000), None)
    py.add_root(tmp_path)
    py.local_top = {"helpers", "pkg"}
    py.scan_setup()
    assert py.worth_parsing(_Scan(text), follow=True) is parse
    assert py.worth_parsing(_Scan(text), follow=False) is False


# --------------------------------------------------------------------------- the time bound

def test_time_bound_facts_are_not_cached(tmp_path, monkeypatch):
    from harden.facts_cache import cached_facts

    monkeypatch.setenv("HARDEN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(app_source, "MAX_SECONDS", -1.0)
    ctx = write_files(tmp_path / "ctx", {"a.py": "import redis\n"})
    calls = []

    def compute():
        calls.append(1)
        return analyze(ctx, None)

    assert cached_facts(ctx, None, frozenset(), compute).time_bound
    assert cached_facts(ctx, None, frozenset(), compute).time_bound
    assert len(calls) == 2
    assert not list((tmp_path / "cache").rglob("*.json"))


def _outputs(result) -> tuple:
    return ([(f.rel, f.after) for f in result.files],
            [(o.transform, o.file, o.status, o.reason) for o in result.outcomes],
            [(n.transform, n.file, n.message) for n in result.notes])


def test_a_time_bound_gives_exactly_the_rewrite_without_app_facts(tmp_path, monkeypatch):
    from harden.engine import Run

    monkeypatch.setenv("HARDEN_CACHE_DIR", str(tmp_path / "cache"))
    fixture = "inspect-celery"
    with_facts = _outputs(harden_run(copy_fixture(fixture, tmp_path / "a")))
    with monkeypatch.context() as m:
        m.setattr(Run, "facts", lambda self, project, service: None)
        unknown = _outputs(harden_run(copy_fixture(fixture, tmp_path / "b")))
    # the fixture's rewrite depends on what its source says, or this test could not fail
    assert unknown[0] != with_facts[0]
    app_source._PARSED.clear()
    monkeypatch.setattr(app_source, "MAX_SECONDS", 0.0)  # forced: every reading stops at once
    stopped = _outputs(harden_run(copy_fixture(fixture, tmp_path / "c")))
    assert stopped[0] == unknown[0]
    assert stopped[1] == unknown[1]
    extra = [n for n in stopped[2] if n not in unknown[2]]
    assert extra and all(n[0] == "harden" and "time bound" in n[2] for n in extra)
    assert [n for n in stopped[2] if n in unknown[2]] == unknown[2]


# --------------------------------------------------------------------------- contexts in parallel

def test_contexts_read_in_worker_processes_give_what_one_process_gives(tmp_path, monkeypatch):
    from harden.facts_cache import facts_for

    monkeypatch.setenv("HARDEN_CACHE_DIR", str(tmp_path / "cache"))
    apps = sorted(p for p in (FIXTURES / "apps").iterdir() if p.is_dir())
    tasks = []
    for i, ctx in enumerate(apps):
        for cmd in (None, ["python", "-m", "app"]):
            key = (str(ctx), repr(cmd))
            tasks.append((key, ctx, repr(cmd), f"k{i}",
                          (lambda c=ctx, cm=cmd: analyze(c, cm, service_names=frozenset({"db", "redis"})))))
    monkeypatch.setenv("HARDEN_NO_CACHE", "1")
    one = facts_for(tasks, 1)
    several = facts_for(tasks, 3)
    assert set(one) == set(several) == {t[0] for t in tasks}
    assert all(one[k] == several[k] for k in one)
    assert any(f.clients for f in one.values())


def test_a_run_over_several_build_contexts_is_the_same_with_one_job_or_several(tmp_path, monkeypatch):
    from harden.config import Options
    from harden.engine import run

    monkeypatch.setenv("HARDEN_NO_CACHE", "1")
    project = copy_fixture("inspect-bots", tmp_path)  # two build contexts, both Python
    app_source._PARSED.clear()
    one = _outputs(run(project, Options(), jobs=1))
    app_source._PARSED.clear()
    two = _outputs(run(project, Options(), jobs=2))
    assert one == two


def test_the_scan_ends_on_comment_lines_of_many_hashes(tmp_path):
    # between two literals the scan looks for blanks and comments only; a comment line of many
    # "#" once made that pattern try every way of splitting it (lib2to3's fixer_util.py hung).
    # Run in a subprocess: a hang fails instead of blocking the suite.
    import subprocess
    import sys

    write_files(tmp_path, {"a.py": "import redis\nx = 'a'\n" + "#" * 60 + "\ny = 'b'\n"})
    code = ("import sys; from pathlib import Path; from harden.app_source import analyze; "
            f"print(sorted(analyze(Path({str(tmp_path)!r}), None).clients))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, PYTHONPATH=str(Path(app_source.__file__).resolve().parents[1])))
    assert out.stdout.strip() == "['redis']", out.stderr


def test_inspect_says_when_the_time_bound_stopped_the_reading(tmp_path, monkeypatch):
    from harden.inspect import inspect as run_inspect

    monkeypatch.setenv("HARDEN_CACHE_DIR", str(tmp_path / "cache"))
    project = copy_fixture("inspect-celery", tmp_path)
    app_source._PARSED.clear()
    full = run_inspect(project)
    assert not any("time bound" in e for s in full.services for e in s.evidence)
    monkeypatch.setattr(app_source, "MAX_SECONDS", 0.0)
    monkeypatch.setenv("HARDEN_NO_CACHE", "1")  # read again, not from the first run's cache
    stopped = run_inspect(project)
    lines = [e for s in stopped.services for e in s.evidence if "time bound" in e]
    assert lines and all("was not read within the 0 s time bound" in e for e in lines)


def _js_events_every_expression_on_every_line(src: str) -> list:
    """The JS scan as it was: every expression searched on every line that is not a comment."""
    out = []
    for i, ln in enumerate(src.splitlines(), 1):
        if ln.strip().startswith(("//", "*", "/*")):
            continue
        out += [(i, "local", m.group(1)) for m in app_source._JS_LOCAL_RE.finditer(ln)]
        out += [(i, "pkg", m.group(1)) for m in app_source._JS_PKG_RE.finditer(ln)]
        out += [(i, "env", m.group(1) or m.group(2)) for m in app_source._JS_ENV_RE.finditer(ln)]
        for m in app_source._JS_DESTRUCT_RE.finditer(ln):
            out += [(i, "env", n) for part in m.group(1).split(",")
                    for n in [part.split(":")[0].split("=")[0].strip()] if n]
        if "fetch(" in ln:
            out.append((i, "fetch", None))
        out += [(i, "url", m.group(2)) for m in app_source._JS_STR_RE.finditer(ln) if "://" in m.group(2)]
        m = app_source._JS_LISTEN_RE.search(ln)
        if m:
            out.append((i, "listen", m.group(1)))
    return out


JS_TRICKY = (
    "const { DB_HOST, REDIS_URL: url = 'x' } = process.env;\nconst a = require('./lib'), b = require(\"pg\");\n"
    "import x from '../y';\nimport('./lazy').then(f);\n// require('./commented')\n * import './doc'\n"
    "fetch(`https://api.example.org/${id}`);\napp.listen(process.env.PORT || 3000);\n"
    "server.listen({ port: PORT });\nconst u = 'postgres://db:5432/app', v = \"redis://cache\";\n"
    "const h = process.env['MONGO_HOST'];\nexport { y } from \"@scope/pkg/sub\";\n"
    "const { PORT } = process.env; http.createServer(h).listen(PORT, () => fetch('http://x:1/'))\n"
)


def test_the_js_scan_finds_what_every_expression_on_every_line_finds():
    # a line is searched only with the expressions whose fixed text it contains
    sources = [JS_TRICKY] + [p.read_text(encoding="utf-8", errors="replace") for ext in ("js", "ts", "mjs")
                             for p in sorted(FIXTURES.rglob(f"*.{ext}"))]
    assert len(sources) > 10
    for src in sources:
        assert app_source._js_events(src) == _js_events_every_expression_on_every_line(src)
    assert {k for _, k, _ in app_source._js_events(JS_TRICKY)} == {"local", "pkg", "env", "fetch", "url", "listen"}
