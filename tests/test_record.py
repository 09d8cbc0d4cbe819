"""harden.record behaves like the dataclasses it replaces (for the subset harden uses), and the
diff path no longer imports dataclasses or inspect."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from harden_testlib import FIXTURES
from harden.record import asdict, field, fields, record


def _pair(frozen: bool = False):
    def body(deco, fld):
        @deco
        class Thing:
            name: str
            count: int
            label: str | None = None
            items: list = fld(default_factory=list)
            tags: set = fld(default_factory=set)

        return Thing

    rec = body(record(frozen=frozen), field)
    dc = body(dataclasses.dataclass(frozen=frozen), dataclasses.field)
    return rec, dc


CALLS = [
    ((), {}),
    (("a",), {}),
    (("a", 1), {}),
    (("a", 1, "x"), {}),
    (("a", 1, "x", [1], {2}), {}),
    (("a", 1, "x", [1], {2}, "extra"), {}),
    (("a",), {"count": 2}),
    ((), {"name": "a", "count": 2, "tags": {"t"}}),
    (("a", 1), {"name": "b"}),
    (("a", 1), {"bogus": 3}),
    ((), {"count": 1}),
]


@pytest.mark.parametrize("frozen", [False, True])
@pytest.mark.parametrize("args,kwargs", CALLS)
def test_construction_like_dataclass(frozen, args, kwargs):
    rec, dc = _pair(frozen)
    try:
        expected = dc(*args, **kwargs)
    except TypeError:
        with pytest.raises(TypeError):
            rec(*args, **kwargs)
        return
    got = rec(*args, **kwargs)
    assert repr(got).replace("test_construction_like_dataclass.<locals>.body.<locals>.", "") == \
        repr(expected).replace("test_construction_like_dataclass.<locals>.body.<locals>.", "")
    assert asdict(got) == dataclasses.asdict(expected)
    assert fields(got) == tuple(f.name for f in dataclasses.fields(expected))


def test_defaults_are_fresh_and_equality_is_by_value():
    rec, _ = _pair()
    a, b = rec("a", 1), rec("a", 1)
    assert a == b and a is not b and a.items is not b.items
    a.items.append(1)
    assert a != b and b.items == []
    assert rec.__hash__ is None  # mutable records are unhashable, as with dataclasses
    assert not hasattr(rec, "items")  # factory fields leave no class attribute
    assert rec.label is None  # plain defaults stay as class attributes
    assert (a == "a") is False


def test_frozen():
    rec, _ = _pair(frozen=True)
    a = rec("a", 1, items=(1,), tags=frozenset())
    with pytest.raises(AttributeError):
        a.name = "b"
    with pytest.raises(AttributeError):
        del a.name
    assert hash(a) == hash(rec("a", 1, items=(1,), tags=frozenset()))
    assert len({a, rec("a", 1, items=(1,), tags=frozenset())}) == 1


def test_own_methods_win_and_mistakes_are_refused():
    @record
    class Custom:
        x: int

        def __repr__(self) -> str:
            return "custom"

    assert repr(Custom(1)) == "custom" and Custom(1) == Custom(1)
    with pytest.raises(ValueError):
        @record
        class Shared:
            xs: list = []  # noqa: RUF012
    with pytest.raises(TypeError):
        @record
        class Order:
            a: int = 1
            b: int


def test_nested_asdict():
    @record
    class Inner:
        v: int

    @record
    class Outer:
        inner: Inner
        many: list = field(default_factory=list)
        by: dict = field(default_factory=dict)

    o = Outer(Inner(1), [Inner(2)], {"k": Inner(3)})
    assert asdict(o) == {"inner": {"v": 1}, "many": [{"v": 2}], "by": {"k": {"v": 3}}}


def test_diff_path_does_not_import_dataclasses_or_inspect():
    code = ("import sys\nsys.argv = ['harden', 'diff', sys.argv[1]]\nfrom harden.entry import main\n"
            "try:\n    main()\nexcept SystemExit as e:\n    rc = e.code\n"
            "print(rc, sorted(m for m in ('dataclasses', 'inspect') if m in sys.modules), file=sys.stderr)")
    # the second run: the first reads the app's source with libcst (which uses dataclasses)
    # and caches what it learnt
    for _ in range(2):
        p = subprocess.run([sys.executable, "-c", code, str(FIXTURES / "core-seed")], capture_output=True, text=True)
    assert p.stderr.strip().splitlines()[-1] == "1 []", p.stderr
