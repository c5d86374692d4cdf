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

``copy`` and ``pickle`` make an object without calling ``__init__`` and then hand it its fields
(``__setstate__``), so that is the other door where the class is made a dataclass: an instance
unpickled or copied before any other was made still compares, prints and hashes as one. What
needs a class to be a dataclass before any instance exists (``dataclasses.fields(cls)``) calls
:func:`realise` first.
"""

from __future__ import annotations

import dataclasses
import sys
import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, dataclass_transform

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
        setattr(cls, _OPTIONS, options)

        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            realise(cls)
            cls.__init__(self, *args, **kwargs)  # type: ignore[misc]  # now the generated one

        def __setstate__(self: Any, state: dict[str, Any]) -> None:
            # copy and pickle make the object with __new__ alone, then hand it its fields
            realise(type(self))
            self.__dict__.update(state)

        cls.__init__ = __init__  # type: ignore[misc]
        cls.__setstate__ = __setstate__  # type: ignore[attr-defined]
        if not any(vars(klass).get("__annotations__") for klass in cls.__mro__):
            realise(cls)  # no fields: copies carry no state, so __setstate__ would never run
        return cls

    return wrap


def realise(cls: type) -> None:
    """Make ``cls`` and the lazy dataclasses it derives from into dataclasses, bases first.

    Threads may make the first instances at once (parallel build stages): until a class is
    complete its stub ``__init__`` stays, and every thread's first instance waits in it for the
    one that is realising the class. So the generated ``__init__`` is made on a copy of the
    class and set last, once ``__eq__``, ``__hash__``… are in place: no instance is made by a
    half-made class (which would, say, hash by identity and then compare as a dataclass)."""
    with _realising:
        for klass in reversed(cls.__mro__):
            options = klass.__dict__.get(_OPTIONS)
            if options is None:
                continue
            init = _generated_init(klass, options)
            dataclasses.dataclass(klass, init=False, **options)
            klass.__init__ = init  # type: ignore[misc]  # last: the class is complete
            del klass.__setstate__  # type: ignore[attr-defined]
            delattr(klass, _OPTIONS)


def _generated_init(klass: type, options: dict[str, bool]) -> Callable[..., None]:
    """The ``__init__`` ``@dataclass`` generates for ``klass``, made on a copy of it."""
    skip = ("__dict__", "__weakref__", "__init__", "__setstate__", _OPTIONS)
    namespace = {k: v for k, v in vars(klass).items() if k not in skip}
    copy: type[object] = type(klass.__name__, klass.__bases__, namespace)
    init: Callable[..., None] = vars(dataclasses.dataclass(copy, **options))["__init__"]
    return init


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
