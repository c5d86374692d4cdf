"""Fixtures for the notebook front end: a real IPython shell with ``%load_ext nbdocker``, a
busybox base image in the test's store, and a Debian tarball shared by the whole session."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

BASE = "nbdtest/base:1"


@pytest.fixture
def ip(nbdocker_home: Path) -> Iterator[Any]:
    """IPython's InteractiveShell with the extension loaded (magics, formatters)."""
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.extension_manager.load_extension("nbdocker")
    magics = shell.magics_manager.registry["NbdockerMagics"]
    magics.use_widgets = None
    try:
        yield shell
    finally:
        magics.use_widgets = None
        magics.last_progress = None


@pytest.fixture
def magics(ip: Any) -> Any:
    return ip.magics_manager.registry["NbdockerMagics"]


@pytest.fixture
def base(ip: Any, busybox_tarball: Path) -> str:
    """The busybox rootfs imported (through %import) as nbdtest/base:1 with CMD /bin/sh."""
    ip.run_line_magic("import", f"-c 'CMD [\"/bin/sh\"]' {busybox_tarball} {BASE}")
    return BASE


@pytest.fixture(scope="session")
def debian_tarball(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """mmdebstrap's bookworm minbase tarball, made once and cached outside the repository
    ($NBDOCKER_ROOTFS_CACHE, else the user cache, keyed by ISO week), shared by the session."""
    from nbdocker.notebook.rootfs import debian_rootfs
    from tests.support.real import require

    if shutil.which("mmdebstrap") is None:
        require("mmdebstrap", "apt-get install mmdebstrap")
    return debian_rootfs()


def run_cell(ip: Any, source: str) -> tuple[Any, Any]:
    """Run a cell as a notebook would; (ExecutionResult, captured output)."""
    from IPython.utils.capture import capture_output

    with capture_output() as captured:
        result = ip.run_cell(source, store_history=False)
    return result, captured
