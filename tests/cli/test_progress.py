"""Long work shows progress on a terminal, and nothing of it in a pipe."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

from tests.support import RunNbdocker


def test_import_shows_a_progress_display_on_a_terminal(
    nbdocker_home: Path, busybox_rootfs: Path, tmp_path: Path
) -> None:
    data = tmp_path / "rootfs" / "data"
    data.mkdir(parents=True)
    (data / "big").write_bytes(os.urandom(40_000_000))
    from tests.support.rootfs import make_rootfs_tarball

    tarball = make_rootfs_tarball(tmp_path / "rootfs", tmp_path / "big.tar", "none")
    controller, terminal = pty.openpty()
    env = dict(os.environ, NBDOCKER_HOME=str(nbdocker_home), COLUMNS="100", TERM="xterm")
    proc = subprocess.Popen(
        [sys.executable, "-m", "nbdocker", "import", str(tarball), "big:1"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=terminal,
        env=env,
    )
    os.close(terminal)
    seen = b""
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    assert proc.wait(timeout=120) == 0
    os.close(controller)
    assert proc.stdout is not None and proc.stdout.read().startswith(b"sha256:")
    text = seen.decode(errors="replace")
    assert "import" in text and "MB" in text, text[:500]


def test_no_progress_in_a_pipe(nbdocker: RunNbdocker, busybox_tarball: Path) -> None:
    result = nbdocker("import", busybox_tarball, "quiet:1")
    assert result.returncode == 0 and result.stderr == b""
