"""Long work shows progress on a terminal, and nothing of it in a pipe."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tests.support import RunNbdocker
from tests.support.terminal import run_on_terminal


def test_import_shows_a_progress_display_on_a_terminal(
    nbdocker_home: Path, busybox_rootfs: Path, tmp_path: Path
) -> None:
    data = tmp_path / "rootfs" / "data"
    data.mkdir(parents=True)
    (data / "big").write_bytes(os.urandom(40_000_000))
    from tests.support.rootfs import make_rootfs_tarball

    tarball = make_rootfs_tarball(tmp_path / "rootfs", tmp_path / "big.tar", "none")
    env = dict(os.environ, NBDOCKER_HOME=str(nbdocker_home), COLUMNS="100", TERM="xterm")
    code, text, out = run_on_terminal(
        [sys.executable, "-m", "nbdocker", "import", str(tarball), "big:1"],
        env,
        capture_stdout=True,
    )
    assert code == 0 and out.startswith(b"sha256:")
    assert "import" in text and "MB" in text, text[:500]


def test_no_progress_in_a_pipe(nbdocker: RunNbdocker, busybox_tarball: Path) -> None:
    result = nbdocker("import", busybox_tarball, "quiet:1")
    assert result.returncode == 0 and result.stderr == b""
