"""Plain data classes without the cost of :mod:`dataclasses` at start-up.

``@record`` gives a class what harden used ``@dataclass`` for: an ``__init__`` taking the
annotated fields in order (positionally or by name, with defaults and
``field(default_factory=...)``), ``__repr__``, ``__eq__`` over the fields, and with
``frozen=True`` immutability and a hash. Nothing else (no ordering, no ``__post_init__``, no
inheritance of fields, no ``InitVar``); a class that needs more should use dataclasses.

Why not dataclasses: importing it pulls in :mod:`inspect` (and with it ast, dis, tokenize),
about 6 ms, and every decorated class ``exec``s freshly generated methods and computes an
``inspect.signature`` for its docstring, about 0.4 ms per class. harden defines ~30 such classes
on the way to a `harden diff`, so that was 15-18 ms of a ~110 ms run on a small project, where
the tools users run beside harden take about as long in total. Here the methods are closures
built once per class from a tuple of field specs; tests/test_record.py checks that records
behave like the equivalent dataclasses.
"""

from __future__ import annotations

from typing import Any, Callable

_REQUIRED, _DEFAULT, _FACTORY = 0, 1, 2


class _Field:
    __slots__ = ("default_factory",)

    def __init__(self, default_factory: Callable[[], Any]):
        self.default_factory = default_factory


def field(*, default_factory: Callable[[], Any]) -> Any:
    """A field whose default is ``default_factory()``, called once per instance."""
    return _Field(default_factory)


def _specs(cls: type) -> tuple[tuple[str, int, Any], ...]:
    specs = []
    seen_default = False
    for name, annotation in cls.__dict__.get("__annotations__", {}).items():
        if isinstance(annotation, str) and annotation.replace("typing.", "").startswith("ClassVar"):
            continue
        if name in cls.__dict__:
            value = cls.__dict__[name]
            if isinstance(value, _Field):
                specs.append((name, _FACTORY, value.default_factory))
                delattr(cls, name)  # as dataclasses does: no class attribute for a factory field
            else:
                if isinstance(value, (list, dict, set)):
                    raise ValueError(f"{cls.__name__}.{name}: mutable default, use field(default_factory=...)")
                specs.append((name, _DEFAULT, value))
            seen_default = True
        elif seen_default:
            raise TypeError(f"{cls.__name__}: field {name!r} without a default follows one with a default")
        else:
            specs.append((name, _REQUIRED, None))
    return tuple(specs)


def record(cls: type | None = None, *, frozen: bool = False) -> Any:
    """Decorate a class whose annotated attributes are its fields (see the module docstring)."""

    def wrap(cls: type) -> type:
        specs = _specs(cls)
        names = tuple(s[0] for s in specs)
        count = len(specs)
        qualname = cls.__qualname__
        setter = object.__setattr__

        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            if len(args) > count:
                raise TypeError(f"{qualname}() takes {count} arguments but {len(args)} were given")
            for i, (name, kind, default) in enumerate(specs):
                if i < len(args):
                    value = args[i]
                    if name in kwargs:
                        raise TypeError(f"{qualname}() got multiple values for argument {name!r}")
                elif name in kwargs:
                    value = kwargs.pop(name)
                elif kind == _DEFAULT:
                    value = default
                elif kind == _FACTORY:
                    value = default()
                else:
                    raise TypeError(f"{qualname}() missing required argument: {name!r}")
                setter(self, name, value)
            if kwargs:
                raise TypeError(f"{qualname}() got an unexpected keyword argument {next(iter(kwargs))!r}")

        def __repr__(self: Any) -> str:
            return f"{qualname}({', '.join(f'{n}={getattr(self, n)!r}' for n in names)})"

        def __eq__(self: Any, other: Any) -> Any:
            if other.__class__ is not self.__class__:
                return NotImplemented
            return all(getattr(self, n) == getattr(other, n) for n in names)

        __init__.__qualname__ = f"{qualname}.__init__"
        cls.__init__ = __init__  # type: ignore[misc]
        if "__repr__" not in cls.__dict__:
            cls.__repr__ = __repr__  # type: ignore[method-assign]
        if "__eq__" not in cls.__dict__:
            cls.__eq__ = __eq__  # type: ignore[method-assign]
        if frozen:
            def __setattr__(self: Any, name: str, value: Any) -> None:
                raise AttributeError(f"cannot assign to field {name!r} of frozen {qualname}")

            def __delattr__(self: Any, name: str) -> None:
                raise AttributeError(f"cannot delete field {name!r} of frozen {qualname}")

            def __hash__(self: Any) -> int:
                return hash(tuple(getattr(self, n) for n in names))

            cls.__setattr__ = __setattr__  # type: ignore[method-assign,assignment]
            cls.__delattr__ = __delattr__  # type: ignore[method-assign,assignment]
            cls.__hash__ = __hash__  # type: ignore[method-assign,assignment]
        elif "__hash__" not in cls.__dict__:
            cls.__hash__ = None  # type: ignore[assignment]  # mutable and compared by value
        cls.__record_fields__ = names  # type: ignore[attr-defined]
        return cls

    return wrap if cls is None else wrap(cls)


def fields(obj: Any) -> tuple[str, ...]:
    """The field names of a record class or instance, in order."""
    return obj.__record_fields__


def asdict(obj: Any) -> Any:
    """A record as a dict, recursively through records, lists, tuples, sets and dicts (copies)."""
    if hasattr(obj, "__record_fields__") and not isinstance(obj, type):
        return {n: asdict(getattr(obj, n)) for n in obj.__record_fields__}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return type(obj)(asdict(v) for v in obj)
    if isinstance(obj, dict):
        return {asdict(k): asdict(v) for k, v in obj.items()}
    return obj
