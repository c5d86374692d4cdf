"""The store is private: another local user cannot reach the unpacked layers and containers
(the images' device nodes and setuid-root programs), even with the store outside a private
home, and a store made earlier with mode 0755 is made private when next used."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import RunNbdocker, ok
from tests.support.users import User, as_user, drop_user, make_user


@pytest.fixture
def open_place() -> Iterator[Path]:
    """A folder any user can enter (as ``/tmp/x`` is), where the store is made."""
    place = Path(tempfile.mkdtemp(prefix="nbd-open-", dir="/tmp"))
    place.chmod(0o755)
    try:
        yield place
    finally:
        shutil.rmtree(place, ignore_errors=True)


@pytest.fixture
def other_user() -> Iterator[User]:
    user = make_user(with_subids=False)
    try:
        yield user
    finally:
        drop_user(user)


def _reach(user: User, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*as_user(user.name), "stat", "-c", "%F", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_another_user_cannot_reach_the_unpacked_files(
    nbdocker: RunNbdocker, busybox_tarball: Path, open_place: Path, other_user: User
) -> None:
    home = open_place / "store"
    env = {"NBDOCKER_HOME": str(home)}
    ok(nbdocker("import", busybox_tarball, "bb:1", env=env))
    ok(nbdocker("run", "--name", "c1", "bb:1", "sh", "-c", "cp /bin/busybox /su", env=env))
    assert stat.S_IMODE(os.stat(home).st_mode) == 0o700
    layers = [p for p in home.iterdir() if p.name.startswith("layers")]
    unpacked = next(p for p in layers[0].iterdir() if not p.name.startswith("."))
    assert (unpacked / "bin" / "busybox").exists()
    for path in (unpacked / "bin" / "busybox", home / "containers", home / "index.json"):
        seen = _reach(other_user, path)
        assert seen.returncode != 0 and "Permission denied" in seen.stderr, (path, seen)
    # the owner keeps using it
    assert "bb" in ok(nbdocker("images", env=env))


def test_a_store_made_earlier_is_made_private(
    nbdocker: RunNbdocker, busybox_tarball: Path, open_place: Path
) -> None:
    home = open_place / "store"
    env = {"NBDOCKER_HOME": str(home)}
    ok(nbdocker("import", busybox_tarball, "bb:1", env=env))
    home.chmod(0o755)  # as stores were made before
    ok(nbdocker("images", env=env))
    assert stat.S_IMODE(os.stat(home).st_mode) == 0o700


def test_a_shared_directory_is_refused_as_the_store(
    nbdocker: RunNbdocker, busybox_tarball: Path, open_place: Path
) -> None:
    shared = open_place / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    result = nbdocker("import", busybox_tarball, "bb:1", env={"NBDOCKER_HOME": str(shared)})
    assert result.returncode == 1
    err = result.stderr.decode()
    assert err.count("\n") == 1 and "is a shared directory (sticky, like /tmp)" in err, err
    assert list(shared.iterdir()) == []
    assert stat.S_IMODE(os.stat(shared).st_mode) == 0o1777
