"""``nbdocker --version`` and ``nbdocker version`` (Docker's verb), and what an install is."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import nbdocker
from tests.support import RunNbdocker

REPO = Path(__file__).resolve().parents[2]


def test_version_flag(nbdocker: RunNbdocker) -> None:
    for flag in ("--version", "-v"):
        result = nbdocker(flag)
        assert result.returncode == 0, result.stderr
        assert result.stdout.decode() == f"nbdocker version {nbdocker_version()}\n"


def nbdocker_version() -> str:
    return importlib.metadata.version("nbdocker")


def test_version_verb(nbdocker: RunNbdocker, nbdocker_home: Path) -> None:
    result = nbdocker("version")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode().splitlines()
    assert lines[0] == "Client:" and "Engine:" in lines
    assert f" Version:           {nbdocker_version()}" in lines
    assert any(line.startswith(" OS/Arch:") and "linux/" in line for line in lines)
    assert f" Store:             {nbdocker_home}" in lines

    info = json.loads(nbdocker("version", "--format", "json").stdout)
    assert info["Client"]["Version"] == info["Server"]["Version"] == nbdocker_version()
    assert info["Client"]["PythonVersion"] == ".".join(map(str, sys.version_info[:3]))
    assert info["Server"]["Store"] == str(nbdocker_home)


def test_the_package_says_the_truth_about_itself() -> None:
    """One version; requires-python is what the code needs; the licence file is pyproject's."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert nbdocker.__version__ == nbdocker_version()
    assert project["requires-python"] == ">=3.11"  # typing.dataclass_transform, tomllib
    assert project["license"] == "Apache-2.0"
    licence = (REPO / "LICENSE").read_text()
    assert "Apache License" in licence and "Version 2.0, January 2004" in licence
    # pip install nbdocker is the whole product: the notebook front end comes with it.
    names = {d.split(">")[0].split("=")[0].strip().lower() for d in project["dependencies"]}
    assert {"ipython", "ipykernel", "ipywidgets", "nbformat"} <= names


NOTEBOOK_PACKAGES = (
    "IPython",
    "ipykernel",
    "ipywidgets",
    "nbformat",
    "jupyter_server",
    "traitlets",
)


def test_engine_and_cli_never_import_the_notebook_packages(
    nbdocker_home: Path, busybox_tarball: Path, tmp_path: Path
) -> None:
    """Import, build, list and inspect through the CLI in one process: no notebook package
    may be loaded (the engine stays usable without Jupyter, and the CLI starts fast)."""
    (tmp_path / "Dockerfile").write_text("FROM base:1\nENV A=1\n")
    script = f"""
import sys
from nbdocker.cli import main
for argv in (["import", {str(busybox_tarball)!r}, "base:1"], ["build", "-t", "x:1",
             {str(tmp_path)!r}], ["images"], ["inspect", "x:1"], ["version"]):
    assert main(argv) == 0, argv
loaded = sorted(m for m in sys.modules if m.split(".")[0] in {NOTEBOOK_PACKAGES!r})
print("LOADED", loaded, file=sys.stderr)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "LOADED []" in done.stderr, done.stderr
