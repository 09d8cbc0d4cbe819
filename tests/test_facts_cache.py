"""The app-source facts cache: a hit gives the same facts, any change to the context misses."""

from __future__ import annotations

import os
import time

from harden.facts_cache import cached_facts, fingerprint


def _app(tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "bot.py").write_text("import os\nimport pymysql\nconn = pymysql.connect(host=os.environ['DB_HOST'])\n")
    return ctx


def test_hit_returns_equal_facts_without_recomputing(tmp_path, monkeypatch):
    from harden.app_source import analyze

    monkeypatch.setenv("HARDEN_CACHE_DIR", str(tmp_path / "cache"))
    ctx = _app(tmp_path)
    calls = []

    def compute():
        calls.append(1)
        return analyze(ctx, ["python", "bot.py"], service_names=frozenset({"db"}))

    first = cached_facts(ctx, ["python", "bot.py"], frozenset({"db"}), compute)
    second = cached_facts(ctx, ["python", "bot.py"], frozenset({"db"}), compute)
    assert len(calls) == 1
    assert second == first
    assert "mysql" in second.clients


def test_changed_added_or_removed_file_misses(tmp_path, monkeypatch):
    monkeypatch.setenv("HARDEN_CACHE_DIR", str(tmp_path / "cache"))
    ctx = _app(tmp_path)
    fp = fingerprint(ctx)
    (ctx / "extra.py").write_text("x = 1\n")
    fp2 = fingerprint(ctx)
    assert fp2 != fp
    os.utime(ctx / "bot.py", ns=(time.time_ns(), time.time_ns() + 10_000_000))
    assert fingerprint(ctx) != fp2
    (ctx / "extra.py").unlink()
    assert fingerprint(ctx) not in (fp2, None)


def test_other_command_or_services_miss(tmp_path, monkeypatch):
    monkeypatch.setenv("HARDEN_CACHE_DIR", str(tmp_path / "cache"))
    ctx = _app(tmp_path)
    seen = []
    for cmd, names in ((["python", "bot.py"], {"db"}), (["python", "other.py"], {"db"}), (["python", "bot.py"], {"db", "x"})):
        cached_facts(ctx, cmd, frozenset(names), lambda: seen.append(1) or None)
    assert len(seen) == 3


def test_no_cache_env_and_unwritable_dir(tmp_path, monkeypatch):
    ctx = _app(tmp_path)
    monkeypatch.setenv("HARDEN_NO_CACHE", "1")
    seen = []
    cached_facts(ctx, None, frozenset(), lambda: seen.append(1))
    cached_facts(ctx, None, frozenset(), lambda: seen.append(1))
    assert len(seen) == 2
    monkeypatch.delenv("HARDEN_NO_CACHE")
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("HARDEN_CACHE_DIR", str(blocker))
    from harden.app_source import SourceFacts

    assert cached_facts(ctx, None, frozenset(), lambda: SourceFacts(egress=True)).egress is True
