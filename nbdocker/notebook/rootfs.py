"""A Debian root filesystem tarball from ``mmdebstrap``, cached: the offline notebooks' base.

The tutorial's "import from the local filesystem" path: ``mmdebstrap --variant=minbase
bookworm`` writes a ~170 MB tarball in about 15 s (Debian's mirror is reachable where PyPI
is), which ``%import`` turns into an image. The tarball is cached outside any repository, in
``$NBDOCKER_ROOTFS_CACHE`` or the user cache dir (``~/.cache/nbdocker-rootfs``), keyed by suite,
variant, architecture and ISO week, so a week-old base is remade but a notebook run twice in a
day does not wait twice. Concurrent callers wait on a lock instead of building twice.

The cache heals itself: an entry that is not a readable tarball (a directory, an empty or cut
file left by an older version or a crash) is removed and made again.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import platform
import shutil
import subprocess
import tarfile
from pathlib import Path

from ..engine.errors import NbdockerError

__all__ = ["debian_rootfs", "rootfs_cache_dir"]

MMDEBSTRAP = "mmdebstrap"


def rootfs_cache_dir() -> Path:
    explicit = os.environ.get("NBDOCKER_ROOTFS_CACHE")
    if explicit:
        return Path(explicit)
    import platformdirs

    return Path(platformdirs.user_cache_dir("nbdocker-rootfs"))


def debian_rootfs(
    suite: str = "bookworm",
    variant: str = "minbase",
    include: tuple[str, ...] = (),
    cache: Path | None = None,
) -> Path:
    """The path of a cached ``mmdebstrap`` tarball of Debian ``suite`` (made when missing).

    Raises :class:`NbdockerError` with mmdebstrap's last lines when it is missing or fails;
    a failed run leaves no tarball behind.
    """
    directory = cache or rootfs_cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    week = dt.date.today().strftime("%G-W%V")
    extra = ("+" + "+".join(sorted(include))) if include else ""
    name = f"debian-{suite}-{variant}{extra}-{platform.machine()}-{week}.tar"
    target = directory / name
    if _valid_tarball(target):
        return target
    tool = shutil.which(MMDEBSTRAP)
    if tool is None:
        raise NbdockerError(
            "mmdebstrap is not installed (apt-get install mmdebstrap); or import any root "
            "filesystem tarball you have with %import FILE REPO:TAG"
        )
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _valid_tarball(target):
            return target
        _remove(target)
        # mmdebstrap picks its output format from the file name unless told: say tar, or a
        # name without a .tar suffix (this one) makes a directory.
        partial = directory / f".{name}.{os.getpid()}.partial"
        argv = [tool, f"--variant={variant}", "--format=tar", "--quiet"]
        if include:
            argv.append("--include=" + ",".join(include))
        argv += [suite, str(partial)]
        try:
            result = subprocess.run(argv, capture_output=True, text=True, check=False)
            if result.returncode != 0:
                tail = " | ".join((result.stderr or result.stdout).strip().splitlines()[-3:])
                raise NbdockerError(
                    f"mmdebstrap {suite} failed (status {result.returncode}): {tail}"
                )
            os.replace(partial, target)
        finally:
            _remove(partial)
    for old in directory.glob(f"debian-{suite}-{variant}{extra}-{platform.machine()}-*.tar"):
        if old != target:
            _remove(old)
    return target


def _valid_tarball(path: Path) -> bool:
    """Whether ``path`` is a regular file that starts with a tar header and ends with the
    archive's end marker (two zero blocks), so a directory, an empty file or a file cut short
    is refused — in constant time, whatever the tarball's size."""
    if path.is_symlink() or not path.is_file():
        return False
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size < 3 * tarfile.BLOCKSIZE or size % tarfile.BLOCKSIZE:
                return False
            tarfile.TarInfo.frombuf(f.read(tarfile.BLOCKSIZE), "utf-8", "surrogateescape")
            f.seek(size - 2 * tarfile.BLOCKSIZE)
            return f.read() == bytes(2 * tarfile.BLOCKSIZE)
    except (OSError, tarfile.HeaderError):
        return False


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
