"""``@lazy_dataclass``: a dataclass whose methods are made when it is first instantiated.

``@dataclass`` compiles each class's ``__init__`` (and ``__eq__``, ``__setattr__``… for frozen
ones) from generated source when its module is imported: about half a millisecond a class. A
command-line run imports whole families of classes it mostly never instantiates (a cached build
makes two kinds of instruction out of nineteen), and that was a large share of its start-up.

``@lazy_dataclass(...)`` takes ``@dataclass``'s options; the class becomes a real dataclass just
before its first instance (or a subclass's) is made, so the classes a run never uses cost it
nothing. It is the engine's one way to declare a record type (ARCHITECTURE.md, "Start-up").

``copy`` and ``pickle`` make an object without calling ``__init__`` and then hand it its fields
(``__setstate__``), so that is the other door where the class is made a dataclass: an instance
unpickled or copied before any other was made still compares, prints and hashes as one. What
needs a class to be a dataclass before any instance exists (``dataclasses.fields(cls)``) calls
:func:`realise` first.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from typing import Any, TypeVar, dataclass_transform

__all__ = ["lazy_dataclass", "realise"]

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
    """Make ``cls`` and the lazy dataclasses it derives from into dataclasses, bases first."""
    with _realising:
        for klass in reversed(cls.__mro__):
            options = klass.__dict__.get(_OPTIONS)
            if options is None:
                continue
            del klass.__init__  # type: ignore[misc]  # the stub: dataclass keeps an own __init__
            del klass.__setstate__  # type: ignore[attr-defined]
            dataclasses.dataclass(klass, **options)
            delattr(klass, _OPTIONS)
