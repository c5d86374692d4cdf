"""Big layers stream: importing, pushing, pulling, saving and loading a 300 MB layer keeps the
nbdocker process's memory flat (well under the 150 MiB the benchmarks allow)."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import uuid
from pathlib import Path

import pytest

from tests.support.registry import Registry

LIMIT_MIB = 150
pytestmark = pytest.mark.usefixtures("docker_config")


def _big_tarball(path: Path, size: int) -> Path:
    """A tar with one incompressible file of ``size`` bytes, written in pieces."""
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("data/blob")
        info.size = size

        class Random:
            def __init__(self) -> None:
                self.left = size

            def read(self, n: int = -1) -> bytes:
                n = min(self.left, 1 << 20 if n < 0 else n)
                self.left -= n
                return os.urandom(n)

        tar.addfile(info, Random())  # type: ignore[arg-type]
    return path


def _peak_mib(home: Path, *args: str) -> float:
    """Run ``nbdocker ARGS`` as a child; its peak resident memory in MiB (from wait4)."""
    env = dict(os.environ, NBDOCKER_HOME=str(home))
    proc = subprocess.Popen(
        [sys.executable, "-m", "nbdocker", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    err = proc.stderr.read().decode() if proc.stderr else ""
    assert os.waitstatus_to_exitcode(status) == 0, err
    return usage.ru_maxrss / 1024


def test_big_layers_keep_memory_flat(open_registry: Registry, tmp_path: Path) -> None:
    tarball = _big_tarball(tmp_path / "big.tar", 300 * 1024 * 1024)
    home, other = tmp_path / "home", tmp_path / "other"
    repo = f"{open_registry.host}/nbdtest/big{uuid.uuid4().hex[:8]}:1"
    archive = tmp_path / "big-saved.tar"
    peaks = {
        "import": _peak_mib(home, "import", str(tarball), repo),
        "push": _peak_mib(home, "push", repo),
        "pull": _peak_mib(other, "pull", repo),
        "save": _peak_mib(other, "save", "-o", str(archive), repo),
        "load": _peak_mib(tmp_path / "third", "load", "-i", str(archive)),
    }
    assert all(peak < LIMIT_MIB for peak in peaks.values()), peaks


def test_the_limit_is_not_vacuous(tmp_path: Path) -> None:
    """The measurement sees memory: a child that holds 200 MiB is reported above the limit."""
    proc = subprocess.Popen([sys.executable, "-c", "x = b'1' * (200 * 1024 * 1024)"])
    _, _, usage = os.wait4(proc.pid, 0)
    assert usage.ru_maxrss / 1024 > LIMIT_MIB
