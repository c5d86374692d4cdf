"""The hostile-input corpus (:mod:`tests.hostile.corpus`) through the real command line: each
case is refused with one line (``Error: …``), exit status 1 and no traceback, the store is byte
for byte what it was, and nothing appears in the working directory (or anywhere but the store's
own scratch space, which is empty again)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.hostile.conftest import Attempt, refused
from tests.hostile.corpus import LOAD_CASES, TAR_MEMBERS, Case


def _write(at: Attempt, name: str, case: Case) -> Path:
    path = at.inputs / name
    path.write_bytes(case.make())
    return path


@pytest.mark.parametrize("case", list(TAR_MEMBERS))
def test_import(attempt: Attempt, case: str) -> None:
    tarball = _write(attempt, "rootfs.tar", TAR_MEMBERS[case])
    refused(attempt, TAR_MEMBERS[case].words, "import", tarball, "hostile:1")


# Docker's rule: ADD copies a file that is not a whole archive as it is, so a truncated tar is
# no error there.
ADD_CASES = [name for name in TAR_MEMBERS if name != "truncated"]


@pytest.mark.parametrize("case", ADD_CASES)
def test_add(attempt: Attempt, case: str) -> None:
    _write(attempt, "a.tar", TAR_MEMBERS[case])
    (attempt.inputs / "Dockerfile").write_text("FROM scratch\nADD a.tar /\n")
    line = refused(attempt, TAR_MEMBERS[case].words, "build", "-t", "hostile:1", attempt.inputs)
    assert "Dockerfile:2" in line


@pytest.mark.parametrize("case", list(TAR_MEMBERS))
def test_build_context(attempt: Attempt, case: str) -> None:
    context = TAR_MEMBERS[case].make()
    refused(attempt, TAR_MEMBERS[case].words, "build", "-t", "hostile:1", "-", input=context)


@pytest.mark.parametrize("case", list(LOAD_CASES))
def test_load(attempt: Attempt, case: str) -> None:
    archive = _write(attempt, "image.tar", LOAD_CASES[case])
    refused(attempt, LOAD_CASES[case].words, "load", "-i", archive)


def _stdin(make: Callable[[], bytes]) -> bytes:
    return make()


@pytest.mark.parametrize("case", ["manifest.json an object", "index.json a list"])
def test_load_from_stdin(attempt: Attempt, case: str) -> None:
    refused(attempt, LOAD_CASES[case].words, "load", input=_stdin(LOAD_CASES[case].make))
