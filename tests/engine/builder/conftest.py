"""Fixtures for build tests: a base image in nbdocker's store (and in Docker for parity)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import RunNbdocker

BASE = "nbdtest/base:1"


@pytest.fixture
def base(nbdocker: RunNbdocker, busybox_tarball: Path) -> str:
    """The busybox rootfs imported as nbdtest/base:1 (with CMD /bin/sh, as Docker's images)."""
    result = nbdocker("import", "-c", 'CMD ["/bin/sh"]', busybox_tarball, BASE)
    assert result.returncode == 0, result.stderr
    return BASE


def write_context(root: Path, files: dict[str, str | bytes]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return root
