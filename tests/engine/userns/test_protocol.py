"""Failures cross the user-namespace helper's pipe as data and come back as the same error."""

from __future__ import annotations

import errno
import json

import pytest

from nbdocker.engine.errors import ArchiveError, DockerfileError, NbdockerError, StorageError
from nbdocker.engine.layer.unpacking import UnsafeLayer
from nbdocker.engine.userns.protocol import failure_of, raise_failure


def _round_trip(exc: BaseException, what: str = "unpacking into /x") -> NbdockerError:
    failure = json.loads(json.dumps(failure_of(exc)))  # as it crosses the pipe
    with pytest.raises(NbdockerError) as raised:
        raise_failure(failure, what)
    return raised.value


def test_a_dockerfile_error_keeps_its_file_and_line() -> None:
    back = _round_trip(DockerfileError("--chown=ghost: unknown", "Dockerfile.dev", 7))
    assert isinstance(back, DockerfileError)
    assert (back.path, back.line, str(back)) == (
        "Dockerfile.dev",
        7,
        "Dockerfile.dev:7: --chown=ghost: unknown",
    )


def test_an_engine_error_keeps_its_public_class_and_message() -> None:
    back = _round_trip(UnsafeLayer("entry '../x' points outside the layer"))
    assert type(back) is ArchiveError
    assert str(back) == "entry '../x' points outside the layer"


@pytest.mark.parametrize(
    ("exc", "says"),
    [
        (OSError(errno.ENOSPC, "No space left on device", "/store/x"), "OSError: [Errno 28]"),
        (ValueError("a bug"), "ValueError: a bug"),
    ],
)
def test_anything_else_is_a_storage_error_naming_the_work(exc: BaseException, says: str) -> None:
    back = _round_trip(exc)
    assert type(back) is StorageError
    assert str(back).startswith("unpacking into /x failed in the user namespace: " + says)
