"""Paying on first use: the engine's one start-up technique (ARCHITECTURE.md, "Start-up").

- ``@lazy_dataclass``: a dataclass whose methods are made when it is first instantiated.
- :func:`lazy_exports`: a package ``__init__`` whose public names are imported when first used.

Lazy dataclasses
----------------

``@dataclass`` compiles each class's ``__init__`` (and ``__eq__``, ``__setattr__``… for frozen
ones) from generated source when its module is imported: about half a millisecond a class. A
command-line run imports whole families of classes it mostly never instantiates (a cached build
makes two kinds of instruction out of nineteen), and that was a large share of its start-up.

``@lazy_dataclass(...)`` takes ``@dataclass``'s options; the class becomes a real dataclass just
before its first instance (or a subclass's) is made, so the classes a run never uses cost it
nothing. It is the engine's one way to declare a record type (events excepted: see
:mod:`.events`).

Every instance is made by ``__new__`` — a call, ``copy`` and ``pickle`` alike (the last two never
call ``__init__``) — so that is where the class is made a dataclass, under a lock: an instance
unpickled or copied before any other still compares, prints and hashes as a dataclass, and
threads that make first instances at once (parallel build stages) all wait for the one making
the class, which swaps in the plain ``__new__`` last, once the class is complete. The price is
that ``__new__`` stays a Python function (a fraction of a microsecond per instance): CPython
cannot give a class back the C ``__new__`` once it had another. What needs a class to be a
dataclass before any instance exists (``dataclasses.fields(cls)``) calls :func:`realise` first.
"""

from __future__ import annotations

import dataclasses
import sys
import threading
from collections.abc import Callable, Mapping
from typing import TypeVar, dataclass_transform

__all__ = ["lazy_dataclass", "lazy_exports", "realise"]

_T = TypeVar("_T", bound=type)
_OPTIONS = "__lazy_dataclass_options__"
_realising = threading.Lock()  # parallel build stages may make the first instances at once


@dataclass_transform(field_specifiers=(dataclasses.field,))
def lazy_dataclass(
    *,
    frozen: bool = False,
    kw_only: bool = False,
    eq: bool = True,
    repr: bool = True,  # noqa: A002 - dataclass's own option name
    order: bool = False,
) -> Callable[[_T], _T]:
    """``@dataclass(frozen=…, kw_only=…, eq=…, repr=…, order=…)``, made on first use."""
    options = {"frozen": frozen, "kw_only": kw_only, "eq": eq, "repr": repr, "order": order}

    def wrap(cls: _T) -> _T:
        for klass in cls.__mro__[1:-1]:
            own = vars(klass).get("__new__")
            if own is not None and getattr(own, "__func__", None) not in (_first_new, _new):
                raise TypeError(f"{cls.__name__}: lazy_dataclass cannot derive from a __new__")
        setattr(cls, _OPTIONS, options)
        cls.__new__ = staticmethod(_first_new)  # type: ignore[assignment]
        return cls

    return wrap


def _first_new(cls: type, *args: object, **kwargs: object) -> object:
    """``__new__`` until the class is realised: realise it (or wait for the thread that is)."""
    realise(cls)
    return object.__new__(cls)


def _new(cls: type, *args: object, **kwargs: object) -> object:
    """``__new__`` once the class is a dataclass (its generated ``__init__`` takes the args)."""
    return object.__new__(cls)


def realise(cls: type) -> None:
    """Make ``cls`` and the lazy dataclasses it derives from into dataclasses, bases first."""
    with _realising:
        for klass in reversed(cls.__mro__):
            options = klass.__dict__.get(_OPTIONS)
            if options is None:
                continue
            dataclasses.dataclass(klass, **options)
            delattr(klass, _OPTIONS)
            klass.__new__ = staticmethod(_new)  # type: ignore[assignment]  # last: complete


def lazy_exports(
    package: str, homes: Mapping[str, str]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for a package ``__init__`` (PEP 562) whose public names
    live in its modules: ``homes`` maps each name to its module (``".store"``).

    Why: importing any module of a package runs the package's ``__init__`` first, so an
    ``__init__`` that imported its modules would load them all for whoever needs one (a helper
    process, a verb). With this, ``from nbdocker.engine import Engine`` still works, and loads
    only the engine facade and what it imports. The ``__init__`` also imports the same names
    under ``TYPE_CHECKING`` so that type checkers see them; a test keeps the two lists equal.
    """

    def __getattr__(name: str) -> object:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        # (__import__, not importlib.import_module: what it loads shows in -X importtime)
        module = __import__(package + home, fromlist=[name])
        value = getattr(module, name)
        sys.modules[package].__dict__[name] = value  # later lookups are plain attribute reads
        return value

    def __dir__() -> list[str]:
        return sorted({*homes, *sys.modules[package].__dict__})

    return __getattr__, __dir__
