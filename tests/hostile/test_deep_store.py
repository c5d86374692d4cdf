"""A store that already holds a layer deeper than nbdocker now accepts (imported before the
limit existed) must not break the commands on other images: ``run``, ``build`` and ``rmi``
work, the deep images can be removed, and running one is a single line.

The old store is made by the real command line with the limits of
:mod:`nbdocker.engine.layer.unpacking` lifted in that process alone, as a version without them
would have made it. 1,200 levels (2,400-byte paths) could be unpacked back then, so that
layer is in the layer cache too; 3,000 levels (6,000 bytes, past PATH_MAX) could only be stored.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from nbdocker.engine.trees import remove_tree
from tests.hostile.corpus import archive
from tests.support import RunNbdocker, ok

_WITHOUT_LIMITS = (
    "import sys; import nbdocker.engine.layer.unpacking as u; "
    "u.MAX_DEPTH = u.MAX_NAME_BYTES = 10**6; "
    "from nbdocker.cli import main; sys.exit(main(sys.argv[1:]))"
)


@pytest.fixture(autouse=True)
def _removed_after(nbdocker_home: Path, tmp_path: Path) -> Iterator[None]:
    """The deep trees go with the test, even a failed one: pytest's own clean-up of old
    temporary folders (shutil.rmtree) stops at Python's recursion limit on them."""
    yield
    for path in (nbdocker_home, tmp_path):
        remove_tree(path)
        path.mkdir()


def _as_before(home: Path, *args: str | Path) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "NBDOCKER_HOME": str(home)}
    argv = [sys.executable, "-c", _WITHOUT_LIMITS, *(str(a) for a in args)]
    return subprocess.run(argv, capture_output=True, env=env, timeout=600, check=False)


def _one_line(result: subprocess.CompletedProcess[bytes], words: str) -> None:
    err = result.stderr.decode()
    assert result.returncode != 0, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert words in err, err


def test_a_too_deep_layer_from_before_breaks_nothing_else(
    nbdocker: RunNbdocker, nbdocker_home: Path, busybox_tarball: Path, tmp_path: Path
) -> None:
    ok(nbdocker("import", busybox_tarball, "busybox:1"))
    for depth in (1200, 3000):
        tarball = tmp_path / f"deep{depth}.tar"
        tarball.write_bytes(archive([("d/" * depth + "f", b"deep\n", None)]))
        ok(_as_before(nbdocker_home, "import", tarball, f"deep:{depth}"))
    # Back then the 1,200-deep layer was unpacked by a run (there is no program in it to run).
    unpacked = _as_before(nbdocker_home, "run", "--rm", "deep:1200", "/f")
    assert unpacked.returncode != 0 and b"Traceback" not in unpacked.stderr, unpacked.stderr

    # Today: the deep layer that was never unpacked is refused with one line ...
    _one_line(nbdocker("run", "--rm", "deep:3000", "/f"), "3001 directories deep")
    # ... and everything else works as if it were not there.
    assert ok(nbdocker("run", "--rm", "busybox:1", "echo", "still runs")) == "still runs\n"
    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM busybox:1\nRUN mkdir -p /a/b/c && echo built\n")
    ok(nbdocker("build", "-t", "built:1", context))
    ok(nbdocker("rmi", "deep:1200"))
    ok(nbdocker("rmi", "deep:3000"))
    assert ok(nbdocker("run", "--rm", "built:1", "ls", "/a/b")) == "c\n"
    ok(nbdocker("rmi", "built:1"))
    ok(nbdocker("rmi", "busybox:1"))
    assert ok(nbdocker("images", "-q")) == ""


def test_a_container_cannot_poison_the_store_with_a_deep_tree(
    nbdocker: RunNbdocker, busybox_tarball: Path
) -> None:
    """A container may make a tree of any depth; diff and commit walk it without recursion,
    and a commit of one deeper than a layer may be is one line, with nothing stored."""
    ok(nbdocker("import", busybox_tarball, "busybox:1"))
    deep = "cd /tmp && i=0 && while [ $i -lt 1100 ]; do mkdir d && cd d; i=$((i+1)); done"
    ok(nbdocker("run", "--name", "deep", "busybox:1", "sh", "-c", deep))
    changes = ok(nbdocker("diff", "deep")).splitlines()
    assert len(changes) > 1100
    before = ok(nbdocker("images", "-q"))
    _one_line(nbdocker("commit", "deep", "deep:1"), "directories deep")
    assert ok(nbdocker("images", "-q")) == before
    ok(nbdocker("rm", "deep"))
    assert ok(nbdocker("run", "--rm", "busybox:1", "echo", "fine")) == "fine\n"
