"""The kernel's own Python interpreter, installed into a Debian base image (for ``%snapshot``).

Why: a snapshot must run the kernel's Python, and Debian ships one patch release (bookworm:
3.11.2) while kernels often run another (pyenv, python.org builds: 3.11.7), for which some
pinned packages are made (``Requires-Python >=3.11.5``). No index offers CPython itself, but
the kernel's interpreter is right here: when it is a self-contained installation (its own
prefix, not the system's ``/usr``) built on the same Debian release as the base, its files
work in the image as they do on this machine, given the same Debian libraries.

What is copied, into the same path in the image (the interpreter knows its prefix): the
``python3.X`` executable, ``libpython3.X*``, and ``lib/python3.X`` without what a snapshot does
not run — the test suite, ``site-packages`` (the lock installs the packages), ``__pycache__``,
the static library for embedding (``config-*``), and tkinter/IDLE (which would pull in X11).
The Debian packages of the shared libraries those files link (``ldd``, then ``dpkg -S``) are
installed with apt. ``python3`` in the image is that interpreter.

When that is not possible — a system Python, a host that is not Debian of the base's release,
a library no Debian package provides (conda's own OpenSSL, say) — :func:`kernel_python_base`
says why instead, and the snapshot falls back to Debian's Python.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from ..engine import Engine
from ..engine.builder import BuildOptions
from ..engine.image import Image

__all__ = ["kernel_python_base", "kernel_python_files"]

_SKIPPED = {"site-packages", "test", "__pycache__", "tkinter", "idlelib", "turtledemo"}


class NotPortable(Exception):
    """The kernel's interpreter cannot be installed into the base image (the message says why)."""


def _minor() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def kernel_python_files(prefix: Path | None = None) -> list[Path]:
    """The files of the kernel's interpreter a snapshot needs, under its ``prefix``."""
    prefix = prefix or Path(sys.base_prefix)
    minor = _minor()
    if prefix.resolve() in (Path("/usr"), Path("/")):
        raise NotPortable(f"the kernel runs the system's Python ({prefix}), not its own install")
    executable = prefix / "bin" / f"python{minor}"
    if not executable.is_file():
        raise NotPortable(f"{executable} is missing")
    files = [executable, *sorted((prefix / "lib").glob(f"libpython{minor}*.so*"))]
    stdlib = prefix / "lib" / f"python{minor}"
    if not (stdlib / "os.py").is_file():
        raise NotPortable(f"no standard library in {stdlib}")
    for root, dirs, names in os.walk(stdlib):
        dirs[:] = [d for d in dirs if d not in _SKIPPED and not d.startswith("config-")]
        files += [Path(root) / n for n in names if not n.startswith("_tkinter")]
    return files


def _libraries(files: Iterable[Path], prefix: Path) -> set[str]:
    """The shared libraries outside ``prefix`` that the executables and modules link."""
    found: set[str] = set()
    for path in files:
        if not (path.name.endswith(".so") or ".so." in path.name or path.parent.name == "bin"):
            continue
        out = subprocess.run(["ldd", str(path)], capture_output=True, text=True, check=False)
        for line in out.stdout.splitlines():
            if "not found" in line:
                raise NotPortable(f"{path.name} needs {line.split()[0]}, missing here too")
            m = re.search(r"=> (/\S+)", line)
            if m and not Path(m.group(1)).resolve().is_relative_to(prefix.resolve()):
                found.add(m.group(1))
            elif m:
                inside = Path(m.group(1)).resolve()
                if not inside.name.startswith("libpython"):
                    raise NotPortable(f"{path.name} links {inside}, a library of its own install")
    return found


def _debian_packages(libraries: Iterable[str]) -> set[str]:
    """The Debian packages that ship ``libraries`` (``dpkg -S``)."""
    packages: set[str] = set()
    for library in sorted(libraries):
        for candidate in dict.fromkeys((library, os.path.realpath(library))):
            out = subprocess.run(
                ["dpkg", "-S", candidate], capture_output=True, text=True, check=False
            )
            if out.returncode == 0:
                packages.update(
                    p.split(":")[0].strip() for p in out.stdout.split(": ")[0].split(",")
                )
                break
        else:
            raise NotPortable(f"{library} comes from no Debian package on this machine")
    return packages


def _host_release() -> str:
    try:
        text = Path("/etc/os-release").read_text()
    except OSError:
        return ""
    fields = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    if fields.get("ID", "").strip('"') != "debian":
        return ""
    return fields.get("VERSION_CODENAME", "").strip('"')


def kernel_python_base(
    engine: Engine,
    debian: str,
    release: str,
    build: Callable[[Callable[[], Image]], Image],
) -> str:
    """The name of an image: ``debian`` (Debian ``release``) with the kernel's interpreter as
    ``python3`` (built, or reused from the cache). Raises :class:`NotPortable` saying why it
    cannot be made."""
    if _host_release() != release:
        raise NotPortable(f"this machine is not Debian {release}, which the base image is")
    if shutil.which("ldd") is None or shutil.which("dpkg") is None:
        raise NotPortable("ldd and dpkg are needed to find the libraries it links")
    prefix = Path(sys.base_prefix)
    files = kernel_python_files(prefix)
    packages = sorted(_debian_packages(_libraries(files, prefix)))
    version = ".".join(map(str, sys.version_info[:3]))
    name = f"nbdocker/python{version}:{release}"
    target = str(prefix)
    dockerfile = (
        f"FROM {debian}\n"
        "RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
        f"--no-install-recommends ca-certificates {' '.join(packages)} "
        "&& rm -rf /var/lib/apt/lists/*\n"
        f"COPY python/ {target}/\n"
        f"RUN ln -s {target}/bin/python{_minor()} /usr/local/bin/python3 "
        f"&& ln -s {target}/bin/python{_minor()} /usr/local/bin/python\n"
    )
    options = BuildOptions(tags=(name,), dockerfile_text=dockerfile, dockerfile_name="python")
    with tempfile.TemporaryDirectory(prefix="nbdocker-python-") as context:
        copy = Path(context) / "python"
        for path in files:
            dest = copy / path.relative_to(prefix)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest, follow_symlinks=False)
        build(lambda: engine.build(context, options))
    return name
