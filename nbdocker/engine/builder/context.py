"""The build context: the files a Dockerfile may COPY, from a directory, a tar stream or none.

Why a class of its own: Docker decides *before* the build what the context holds (the CLI
walks it with ``.dockerignore``, the daemon unpacks what it got) and reports its size
("Sending build context to Docker daemon  2.56kB"). :class:`BuildContext` answers the same two
questions — which files (:meth:`BuildContext.tree`) and how many bytes (:attr:`size`, the
length of the tar the docker CLI would send) — without copying a directory context anywhere.

Failure guarantees: a malformed ``.dockerignore`` or an unsafe or corrupt tar is a one-line
:class:`NbdockerError`; a tar context is unpacked under the caller's scratch directory and,
on error, what was unpacked is removed.

A directory context, the common case, needs none of the tar and compression code (nor COPY's,
for a Dockerfile without COPY): those modules are imported where a tar is unpacked or a tree is
read, so that a cached build does not load them.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import stat
from pathlib import Path
from typing import IO, TYPE_CHECKING, cast

from .. import layer
from ..errors import ArchiveError, DockerfileError, NbdockerError
from ..lazy import lazy_dataclass
from ..trees import preorder, remove_tree
from . import copy
from .dockerignore import IgnoreRules, PatternError

if TYPE_CHECKING:
    from .copy.sources import ContextTree

__all__ = ["BuildContext"]

_BLOCK = 512
_CHUNK = 1 << 20
_BUILD_FILES = (".dockerignore",)


def _rules(root: Path) -> IgnoreRules:
    path = root / ".dockerignore"
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return IgnoreRules()
    except OSError as exc:
        raise DockerfileError(f"cannot read it ({exc.strerror})", str(path)) from None
    try:
        return IgnoreRules.from_text(text)
    except PatternError as exc:
        raise DockerfileError(f"{exc}; fix the pattern", str(path)) from None


def _header_bytes(name: str, link: str = "") -> int:
    """Bytes Go's tar writer (PAX format, as the docker CLI uses) spends on one header."""
    extra = []
    if not name.isascii() or not _fits_ustar(name):
        extra.append(("path", name))
    if link and (not link.isascii() or len(link) > 100):
        extra.append(("linkpath", link))
    if not extra:
        return _BLOCK
    records = 0
    for key, value in extra:
        body = f" {key}={value}\n"
        size = len(body.encode()) + 1
        while len(str(size)) + len(body.encode()) != size:
            size = len(str(size)) + len(body.encode())
        records += size
    return _BLOCK + _BLOCK + _padded(records)


def _fits_ustar(name: str) -> bool:
    if len(name) <= 100:
        return True
    if len(name) > 256:
        return False
    for i, ch in enumerate(name):
        if ch == "/" and i <= 155 and len(name) - i - 1 <= 100 and i > 0:
            return True
    return False


def _padded(size: int) -> int:
    return (size + _BLOCK - 1) // _BLOCK * _BLOCK


def tar_size(root: Path, rules: IgnoreRules, always: tuple[str, ...] = ()) -> int:
    """Length of the tar the docker CLI sends for the directory ``root`` under ``rules``: every
    visible entry (not the root, not excluded directories walked for exceptions), ``always``
    (the Dockerfile and ``.dockerignore``, which are sent even when ignored), hard links once,
    two end blocks."""
    total = 0
    seen: set[tuple[int, int]] = set()
    sent: set[str] = set()

    def add(rel: str, st: os.stat_result) -> None:
        nonlocal total
        sent.add(rel)
        if stat.S_ISDIR(st.st_mode):
            total += _header_bytes(rel + "/")
        elif stat.S_ISLNK(st.st_mode):
            total += _header_bytes(rel, os.readlink(root / rel))
        elif stat.S_ISREG(st.st_mode):
            key = (st.st_dev, st.st_ino)
            total += _header_bytes(rel)
            if st.st_nlink > 1 and key in seen:
                return
            seen.add(key)
            total += _padded(st.st_size)
        else:
            total += _header_bytes(rel)

    def entries(rel: str) -> list[str]:
        try:
            names = sorted(os.listdir(root / rel if rel else root))
        except OSError as exc:
            raise _unreadable(root / rel, exc) from None
        return [f"{rel}/{name}" if rel else name for name in names]

    walked: set[str] = set()  # the directories to go into, decided as each is met
    for child in preorder(entries(""), lambda rel: entries(rel) if rel in walked else ()):
        st = os.lstat(root / child)
        excluded = rules.excluded(child)
        if excluded and not (stat.S_ISDIR(st.st_mode) and rules.walk_into(child)):
            if child in always:
                add(child, st)
            continue
        if not excluded:
            if stat.S_ISREG(st.st_mode) and not os.access(root / child, os.R_OK):
                raise _unreadable(root / child, PermissionError(13, "permission denied"))
            add(child, st)
        if stat.S_ISDIR(st.st_mode):
            walked.add(child)

    return total + 2 * _BLOCK


def _unreadable(path: Path, exc: OSError) -> NbdockerError:
    why = (exc.strerror or str(exc)).lower()
    return NbdockerError(
        f"error checking context: cannot read {path} ({why}); make it readable, "
        "or leave it out with .dockerignore"
    )


@lazy_dataclass(frozen=True)
class BuildContext:
    """A build context on disk: ``root``, its ``.dockerignore`` ``rules`` and ``size`` in
    bytes as Docker reports it. ``dockerfile`` is the Dockerfile's path inside the context."""

    root: Path
    rules: IgnoreRules
    size: int
    dockerfile: str = "Dockerfile"

    @classmethod
    def from_dir(cls, root: Path, *, dockerfile: str = "Dockerfile") -> BuildContext:
        """The directory ``root`` as it is (nothing copied). Raises DockerfileError for a
        malformed ``.dockerignore``, NbdockerError for a file or folder it would send that
        cannot be read (as Docker checks the context before it builds)."""
        rules = _rules(root)
        rel = posixpath.normpath(dockerfile)
        always = (rel, *_BUILD_FILES)
        size = tar_size(root, rules, always)
        return cls(root, rules, size, rel)

    @classmethod
    def from_tar(
        cls, stream: IO[bytes], scratch: Path, *, dockerfile: str = "Dockerfile"
    ) -> BuildContext:
        """Unpack a (plain, gzip, bzip2, xz or zstd) tar context under ``scratch``; its size
        is the bytes read, as Docker counts the stream. Raises ArchiveError for an unsafe or
        corrupt tar (and removes what it unpacked)."""
        import tarfile
        import tempfile

        scratch.mkdir(parents=True, exist_ok=True)
        root = Path(tempfile.mkdtemp(prefix="context-", dir=scratch))
        counter = _Counting(stream)
        try:
            _extract(layer.decompressed(cast(IO[bytes], counter)), root)
            while counter.read(_CHUNK):
                pass
        except (tarfile.TarError, ArchiveError, OSError, EOFError, ValueError) as exc:
            _discard(root)
            detail = "it ends early (truncated)" if isinstance(exc, EOFError) else exc
            raise ArchiveError(f"the build context tar cannot be read: {detail}") from None
        except BaseException:
            _discard(root)
            raise
        return cls(root, _rules(root), counter.count, posixpath.normpath(dockerfile))

    @classmethod
    def empty(cls, scratch: Path) -> BuildContext:
        """No context (``docker build - < Dockerfile``): an empty directory, size 0."""
        import tempfile

        scratch.mkdir(parents=True, exist_ok=True)
        return cls(Path(tempfile.mkdtemp(prefix="context-", dir=scratch)), IgnoreRules(), 0)

    def tree(self) -> ContextTree:
        """The files COPY may read (``.dockerignore`` applied, ignored build files hidden)."""
        return copy.ContextTree(self.root, self.rules)


def _discard(root: Path) -> None:
    """Remove a half-unpacked context (best effort: the scratch dir is removed with the build)."""
    with contextlib.suppress(OSError):
        remove_tree(root)


class _Counting:
    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        self.count += len(data)
        return data

    def readable(self) -> bool:
        return True


def _extract(stream: IO[bytes], root: Path) -> None:
    """Unpack a tar under ``root``: no entry leaves it, no symlink is followed, owners are not
    kept (COPY owns files by root anyway); modes and times are."""
    from ..layer.tarstream import TarReader  # noqa: PLC0415 - only a tar context needs it

    dir_times: list[tuple[Path, float]] = []
    for member, data in TarReader(stream):
        rel = layer.clean_name(member.name, "the context")
        if not rel:
            continue
        path = layer.parent_dir(root, rel) / posixpath.basename(rel)
        if os.path.lexists(path) and not (member.isdir() and path.is_dir()):
            remove_tree(path)
        if member.isdir():
            path.mkdir(exist_ok=True)
            os.chmod(path, member.mode & 0o7777)
            dir_times.append((path, member.mtime))
            continue
        if member.isreg():
            with open(path, "xb") as out:
                for chunk in data.chunks():
                    out.write(chunk)
        elif member.issym():
            os.symlink(member.linkname, path)
            continue
        elif member.islnk():
            target = layer.clean_name(member.linkname, "the context")
            os.link(root / target, path, follow_symlinks=False)
            continue
        else:
            continue  # devices and fifos have no place in a build context
        os.chmod(path, member.mode & 0o7777)
        os.utime(path, (member.mtime, member.mtime))
    for path, mtime in reversed(dir_times):
        os.utime(path, (mtime, mtime))
