"""What the engine and its user-namespace helper say to each other: JSON, one line each way.

The helper gets a :class:`Request` (an operation's name and its arguments) and answers with a
:class:`Reply`: the operation's result, or a :class:`Failure` — the error as data, never text to
parse. :func:`failure_of` turns an exception into a failure on the helper's side and
:func:`raise_failure` turns it back into the same kind of error on the caller's: a
``DockerfileError`` keeps its file and line, every other :class:`NbdockerError` its class and
message, an ``OSError`` its errno. Bulk data (a layer tar) goes on the helper's stdin or stdout,
never through these messages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NoReturn, TypedDict

from .. import errors
from ..errors import DockerfileError, NbdockerError, StorageError

__all__ = ["Failure", "Reply", "Request", "failure_of", "raise_failure"]


if TYPE_CHECKING:

    class Request(TypedDict):
        op: str  # the operation, e.g. "unpack" (the helper's table says who serves it)
        args: dict[str, object]  # its arguments, as the serving module's request type says

    class _FailureBase(TypedDict):
        error: str  # a class of nbdocker.engine.errors, "OSError", or "internal" (a bug)
        message: str

    class Failure(_FailureBase, total=False):
        path: str  # DockerfileError
        line: int | None  # DockerfileError
        errno: int | None  # OSError

    class Reply(TypedDict, total=False):
        result: dict[str, object]
        failure: Failure

else:  # at run time these are the dicts json makes: the names cost nothing to import
    Request = dict
    Failure = dict
    Reply = dict


def failure_of(exc: BaseException) -> Failure:
    """An exception raised in the helper, as data."""
    if isinstance(exc, DockerfileError):
        return {
            "error": "DockerfileError",
            "message": exc.message,
            "path": exc.path,
            "line": exc.line,
        }
    if isinstance(exc, NbdockerError):
        public = next(
            k.__name__
            for k in type(exc).__mro__
            if k.__module__ == errors.__name__ and k.__name__ in errors.__all__
        )
        return {"error": public, "message": str(exc)}
    if isinstance(exc, OSError):
        return {"error": "OSError", "message": f"{type(exc).__name__}: {exc}", "errno": exc.errno}
    return {"error": "internal", "message": f"{type(exc).__name__}: {exc}"}


def raise_failure(failure: Failure, what: str) -> NoReturn:
    """Raise what :func:`failure_of` described; ``what`` names the work for errors that carry no
    context of their own (``unpacking into …``)."""
    kind, message = failure["error"], failure["message"]
    if kind == "DockerfileError":
        raise DockerfileError(message, failure.get("path", "Dockerfile"), failure.get("line"))
    error = getattr(errors, kind, None) if kind in errors.__all__ else None
    if isinstance(error, type) and issubclass(error, NbdockerError):
        raise error(message)
    raise StorageError(f"{what} failed in the user namespace: {message}")
