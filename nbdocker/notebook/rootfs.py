"""A Debian root filesystem tarball from ``mmdebstrap``, cached: the offline notebooks' base.

The tutorial's "import from the local filesystem" path: ``mmdebstrap --variant=minbase
bookworm`` writes a ~170 MB tarball in about 15 s (Debian's mirror is reachable where PyPI
is), which ``%import`` turns into an image. The tarball is cached outside any repository, in
``$NBDOCKER_ROOTFS_CACHE`` or the user cache dir (``~/.cache/nbdocker-rootfs``), keyed by suite,
variant, architecture and ISO week, so a week-old base is remade but a notebook run twice in a
day does not wait twice. Concurrent callers wait on a lock instead of building twice.

The cache heals itself: an entry that is not a readable tarball (a directory, an empty or cut
file left by an older version or a crash) is removed and made again.

While mmdebstrap works (a minute or two) its progress shows: a live line in a notebook (what it
is doing, packages fetched and set up, a clock) that stays as a static line once the tarball is
made, or one line per phase on standard error outside a notebook.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import platform
import shutil
import subprocess
import tarfile
from collections import deque
from collections.abc import Callable
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
    progress: Callable[[str], None] | None = None,
) -> Path:
    """The path of a cached ``mmdebstrap`` tarball of Debian ``suite`` (made when missing).

    While mmdebstrap runs, ``progress`` gets each line it prints; by default its progress is
    shown (see the module docstring). Raises :class:`NbdockerError` with mmdebstrap's last
    lines when it is missing or fails; a failed run leaves no tarball behind.
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
        argv = [tool, f"--variant={variant}", "--format=tar", "--verbose"]
        if include:
            argv.append("--include=" + ",".join(include))
        argv += [suite, str(partial)]
        view = None
        if progress is None:
            from .live import RootfsView, in_kernel

            view = RootfsView(suite, variant, widgets=in_kernel())
            on_line: Callable[[str], None] = view
        else:
            on_line = progress
        made = False
        try:
            code, tail = _run(argv, on_line)
            if code != 0:
                raise NbdockerError(
                    f"mmdebstrap {suite} failed (status {code}): {' | '.join(tail)}"
                )
            os.replace(partial, target)
            made = True
        finally:
            _remove(partial)
            if view is not None:
                view.close(str(target), target.stat().st_size if made else 0, failed=not made)
    for old in directory.glob(f"debian-{suite}-{variant}{extra}-{platform.machine()}-*.tar"):
        if old != target:
            _remove(old)
    return target


def _run(argv: list[str], on_line: Callable[[str], None]) -> tuple[int, list[str]]:
    """Run ``argv``, handing each line of its output to ``on_line``; (status, last 3 lines).
    The process does not outlive an interrupt."""
    last: deque[str] = deque(maxlen=3)
    with subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
    ) as proc:
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                if line.strip():
                    last.append(line.strip())
                on_line(line)
            return proc.wait(), list(last)
        except BaseException:
            proc.kill()
            raise


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
