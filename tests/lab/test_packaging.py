"""`pip install nbdocker` alone enables the lab extension and the server extension: the wheel
carries the prebuilt extension where JupyterLab looks for it and the config that enables the
server extension, and JupyterLab reports both enabled and OK."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _jupyter(*args: str, env: dict[str, str] | None = None) -> str:
    out = subprocess.run(
        [str(BIN / "jupyter"), *args],
        capture_output=True,
        text=True,
        check=True,
        env=env or dict(os.environ),
    )
    return re.sub(r"\x1b\[[0-9;]*m", "", out.stdout + out.stderr)


def test_the_development_install_enables_both_extensions() -> None:
    labextensions = _jupyter("labextension", "list")
    assert re.search(r"nbdocker v\d+\.\d+\.\d+ enabled OK \(python, nbdocker\)", labextensions)
    servers = _jupyter("server", "extension", "list")
    assert re.search(r"nbdocker\.server enabled", servers)
    assert re.search(r"nbdocker\.server\s+OK", servers)


def test_the_wheel_carries_the_prebuilt_extension(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            str(REPO),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("nbdocker-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    data = next(
        n.split("/")[0]
        for n in names
        if n.endswith(".data/data/etc/jupyter/jupyter_server_config.d/nbdocker.json")
    )
    share = f"{data}/data/share/jupyter/labextensions/nbdocker"
    assert f"{share}/package.json" in names
    assert f"{share}/install.json" in names
    assert any(
        re.fullmatch(rf"{re.escape(share)}/static/remoteEntry\.[0-9a-f]+\.js", n) for n in names
    )
    assert not any(n.startswith("nbdocker/labextension/") for n in names)  # no second copy

    # Installed as pip installs it (into a prefix of its own, leaving this environment's
    # nbdocker alone), JupyterLab finds and enables both.
    prefix = tmp_path / "prefix"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--ignore-installed",
            "--prefix",
            str(prefix),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    env = {
        **os.environ,
        "JUPYTER_PATH": str(prefix / "share" / "jupyter"),
        "JUPYTER_CONFIG_PATH": str(prefix / "etc" / "jupyter"),
    }
    listing = _jupyter("labextension", "list", env=env)
    section = listing.split(str(prefix / "share" / "jupyter" / "labextensions"), 1)[1]
    assert re.search(r"nbdocker v0\.1\.0 enabled OK \(python, nbdocker\)", section.split("\n/")[0])
    config = prefix / "etc" / "jupyter" / "jupyter_server_config.d" / "nbdocker.json"
    assert '"nbdocker.server": true' in config.read_text()
