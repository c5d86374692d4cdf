"""What every hostile case runs in (:class:`Attempt`) and promises (:func:`refused`), and the
Hypothesis profiles of the fuzz tests.

Profiles: ``ci`` (the default when ``CI=true``) is derandomized and keeps no example database,
so every CI run tries the same examples and a failure reproduces from the log alone (Hypothesis
prints the failing example and a ``@reproduce_failure`` blob); ``dev`` (the default otherwise)
draws new examples each run and replays saved failures from ``.hypothesis/`` first. Choose one
with ``pytest --hypothesis-profile=ci``. Each fuzz test sets its own ``max_examples``.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import settings

from tests.support import RunNbdocker, ok
from tests.support.store import snapshot

settings.register_profile("ci", derandomize=True, database=None, print_blob=True, deadline=None)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") == "true" else "dev")


@dataclass(frozen=True)
class Attempt:
    """What a case ran in: an initialised store, an input folder, an empty working folder."""

    nbdocker: RunNbdocker
    home: Path
    inputs: Path
    cwd: Path


@pytest.fixture
def attempt(nbdocker: RunNbdocker, nbdocker_home: Path, tmp_path: Path) -> Iterator[Attempt]:
    ok(nbdocker("images"))  # an initialised store, to compare with
    (tmp_path / "in").mkdir()
    (tmp_path / "cwd").mkdir()
    yield Attempt(nbdocker, nbdocker_home, tmp_path / "in", tmp_path / "cwd")


def refused(
    at: Attempt, words: str, *args: str | Path, input: bytes | None = None, timeout: float = 120
) -> str:
    """Run ``nbdocker ARGS`` in the empty working folder; assert the case's promises; return
    the error line."""
    before = snapshot(at.home)
    try:
        result = at.nbdocker(*args, input=input, cwd=at.cwd, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"nbdocker {args[0]} never finished")
    err = result.stderr.decode(errors="replace")
    lines = err.strip().splitlines()
    assert result.returncode == 1, err
    assert len(lines) == 1 and lines[0].startswith("Error: "), err
    assert "Traceback" not in err
    assert words in lines[0], err
    assert snapshot(at.home) == before
    assert not list(at.cwd.iterdir()), "written into the working folder"
    ingest = at.home / "ingest"
    assert not ingest.exists() or not list(ingest.iterdir()), "scratch files left behind"
    return lines[0]
