"""Layer tars to overlay directories (:mod:`.overlay`): the unpacking half of the layer format.

:func:`unpack` makes a layer tar's entries under an empty directory, whiteouts as 0:0 devices and
``.wh..wh..opq`` as the opaque xattr. Paths from a tar are untrusted: every entry is placed under
the destination without following symlinks, and a name that climbs out is refused
(:class:`UnsafeLayer`, an :class:`~nbdocker.engine.errors.ArchiveError`). :func:`remove_tree`
deletes what an unpack or a container made, including entries a user namespace owns.
"""

from __future__ import annotations

import collections
import contextlib
import os
import posixpath
import stat
import tarfile
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import IO, TYPE_CHECKING, BinaryIO, TypedDict, cast

from .. import userns
from ..errors import ArchiveError
from ..trees import remove_tree
from .overlay import OPAQUE_XATTRS, WHITEOUT_OPAQUE, WHITEOUT_PREFIX, set_xattrs
from .tarstream import MemberData, TarReader

__all__ = [
    "UnsafeLayer",
    "clean_name",
    "parent_dir",
    "remove_tree",
    "serve_remove",
    "serve_unpack",
    "unpack",
    "unpack_in_userns",
]


if TYPE_CHECKING:
    from ..chunks import Source

    class UnpackRequest(TypedDict):
        """``unpack``: the layer tar comes on the helper's stdin."""

        dest: str
        opaque_xattr: str

    class RemoveRequest(TypedDict):
        paths: list[str]

else:  # at run time these are the dicts json makes: the names cost nothing to import
    UnpackRequest = dict
    RemoveRequest = dict


_CHUNK = 1 << 20


class UnsafeLayer(ArchiveError):
    """A layer entry that would be written outside its directory or through a symlink."""


MAX_DEPTH = 512
"""The most directories a path in a layer or context may go down. Real trees stay far below;
a deeper one is refused where it enters, so that no later walk (run, diff, rmi) meets it."""


NAME_MAX = 255  # Linux's limit on one name (a path component), in bytes
MAX_NAME_BYTES = 3072
"""The longest path nbdocker accepts in a layer or context: with the store's own directories in
front, it stays under Linux's PATH_MAX of 4096 bytes."""


def clean_name(name: str, within: str = "the layer") -> str:
    """A tar member's name as a clean relative path (``""`` for the root itself); UnsafeLayer
    for a name that climbs out of ``within``, goes deeper than :data:`MAX_DEPTH`, is longer
    than :data:`MAX_NAME_BYTES` or has a component longer than :data:`NAME_MAX`, or holds a
    NUL byte."""
    norm = posixpath.normpath(name.lstrip("/")) if name.strip("/") else "."
    if norm == ".." or norm.startswith("../"):
        raise UnsafeLayer(
            f"entry {name!r} points outside {within}; rebuild it with paths relative to its root"
        )
    depth = norm.count("/") + 1
    if depth > MAX_DEPTH:
        raise UnsafeLayer(
            f"entry {name[:60]!r}… is {depth} directories deep, more than the {MAX_DEPTH} "
            f"nbdocker accepts in {within}; flatten the tree"
        )
    if "\0" in norm:
        raise UnsafeLayer(f"entry {name[:60]!r} has a NUL byte in its name; no file can")
    size = len(norm.encode("utf-8", "surrogateescape"))
    if size > MAX_NAME_BYTES:
        raise UnsafeLayer(
            f"entry {name[:60]!r}… is a path of {size} bytes, more than the {MAX_NAME_BYTES} "
            f"nbdocker accepts in {within}; shorten it"
        )
    if size > NAME_MAX:
        for part in norm.split("/"):
            if len(part.encode("utf-8", "surrogateescape")) > NAME_MAX:
                raise UnsafeLayer(
                    f"entry {name[:60]!r}… has a name longer than the {NAME_MAX} bytes Linux "
                    f"allows in {within}; shorten it"
                )
    return "" if norm == "." else norm


def parent_dir(dest: Path, rel: str) -> Path:
    """The real directory that will hold ``rel``: parents are created, never followed if links."""
    current = dest
    for part in rel.split("/")[:-1]:
        current = current / part
        try:
            st = os.lstat(current)
        except FileNotFoundError:
            os.mkdir(current, 0o755)
            continue
        if not stat.S_ISDIR(st.st_mode):
            raise UnsafeLayer(f"entry {rel!r} goes through {part!r}, which is not a directory")
    return current


# How a layer is unpacked (see _Unpacker): files up to _POOLED_SIZE are read whole and written by
# a worker; at most _AHEAD_BYTES of such content, or _AHEAD_ENTRIES entries, wait for the workers.
# Two workers: the kernel allocates the inodes of one block group one at a time, so more threads
# mostly wait for each other.
_WORKERS = 2
_POOLED_SIZE = 1 << 20
_AHEAD_BYTES = 16 << 20
_AHEAD_ENTRIES = 1024
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class _Unpacker:
    """Makes one layer's entries under an empty directory, the independent ones on threads.

    Why threads: a layer of many small files (a distribution's base layer) costs mostly the
    kernel's time to make inodes — on ext4 without a journal up to half a millisecond each, as
    it skips recently freed ones — which is spent without the GIL: workers make entries while
    this thread inflates, hashes and parses the tar. Directories are made here at once (what
    follows goes into them); files, symlinks, devices and whiteouts go to the workers, each
    worker taking whole directories (the kernel makes one directory's entries one at a time);
    a hard link, or an entry that replaces an earlier one, first waits for all of them.

    What exists below ``dest`` is known from what was made (it starts empty), so no path is
    looked up on disk, and a name that goes through a symlink or a file is refused.
    """

    def __init__(self, dest: Path, owner: bool, workers: int) -> None:
        self.root = str(dest)
        self.owner = owner
        self.content = 0  # size of the files made
        self._is_dir: dict[str, bool] = {}  # every entry made, by relative path
        self._dir_times: dict[str, float] = {}  # set last: making entries inside changes them
        self._workers = [
            ThreadPoolExecutor(1, thread_name_prefix=f"nbd-unpack-{n}")
            for n in range(max(1, workers))
        ]
        self._worker_of: dict[str, ThreadPoolExecutor] = {}  # directory → its worker
        self._pending: collections.deque[tuple[Future[None], int]] = collections.deque()
        self._ahead = 0

    def _path(self, rel: str) -> str:
        return f"{self.root}/{rel}" if rel else self.root

    def parent(self, rel: str) -> str:
        """The directory that holds ``rel``, made (mode 755) with its parents if not listed."""
        missing: list[str] = []
        above = posixpath.dirname(rel)
        while above and above not in self._is_dir:
            missing.append(above)
            above = posixpath.dirname(above)
        if above and not self._is_dir[above]:
            raise UnsafeLayer(f"entry {rel!r} goes through {above!r}, which is not a directory")
        for directory in reversed(missing):
            os.mkdir(self._path(directory), 0o755)
            self._is_dir[directory] = True
        return self._path(posixpath.dirname(rel))

    def add(self, rel: str, member: tarfile.TarInfo, data: MemberData) -> None:
        """Make the entry ``member`` (not a whiteout) at ``rel``; ``data`` reads its content."""
        if rel in self._is_dir and not (member.isdir() and self._is_dir[rel]):
            self._replace(rel)
        path = self._path(rel)
        if member.isdir():
            if rel not in self._is_dir:
                os.mkdir(path, 0o700)
                self._is_dir[rel] = True
            _set_metadata(path, member, self.owner)
            self._dir_times[rel] = member.mtime
        elif member.islnk():
            target = clean_name(member.linkname)
            if self._is_dir.get(target) is not False:
                raise UnsafeLayer(
                    f"hard link {rel!r} points to {member.linkname!r}, which is not a file made "
                    "earlier in the layer"
                )
            self.wait()  # the target may still be in the workers' hands
            os.link(self._path(target), path, follow_symlinks=False)
            self._is_dir[rel] = False  # a hard link shares its target's metadata
        elif member.isreg() and member.size > _POOLED_SIZE:
            _make(path, member, data.chunks(), self.owner)  # streamed, never whole in memory
            self._is_dir[rel] = False
            self.content += member.size
        elif member.isreg() or member.issym() or member.isdev():
            content = data.read() if member.isreg() else b""
            self._submit(rel, len(content), _make, path, member, (content,), self.owner)
            self._is_dir[rel] = False
            self.content += member.size if member.isreg() else 0

    def whiteout(self, rel: str, name: str) -> None:
        """Mark ``name`` in the directory of ``rel`` (a ``.wh.`` entry) deleted."""
        if name in ("", ".", ".."):
            raise UnsafeLayer(f"entry {rel!r} is not a valid whiteout")
        target = posixpath.join(posixpath.dirname(rel), name)
        self._replace(target)
        self._submit(target, 0, os.mknod, self._path(target), stat.S_IFCHR, os.makedev(0, 0))
        self._is_dir[target] = False

    def _replace(self, rel: str) -> None:
        """Remove the entry made at ``rel`` (a tar may name a path twice; the last wins)."""
        if rel not in self._is_dir:
            return
        self.wait()
        remove_tree(Path(self._path(rel)))
        below = rel + "/"
        for table in (self._is_dir, self._dir_times):
            for key in [k for k in table if k == rel or k.startswith(below)]:
                del table[key]

    def _submit(self, rel: str, size: int, make: Callable[..., None], *args: object) -> None:
        """Hand making ``rel`` to the worker of its directory (directories taken in turn)."""
        directory = posixpath.dirname(rel)
        worker = self._worker_of.get(directory)
        if worker is None:
            worker = self._workers[len(self._worker_of) % len(self._workers)]
            self._worker_of[directory] = worker
        self._pending.append((worker.submit(make, *args), size))
        self._ahead += size
        while self._pending and (
            self._pending[0][0].done()
            or self._ahead > _AHEAD_BYTES
            or len(self._pending) > _AHEAD_ENTRIES
        ):
            self._settle_oldest()

    def _settle_oldest(self) -> None:
        future, size = self._pending.popleft()
        self._ahead -= size
        future.result()  # a worker's error is raised here

    def wait(self) -> None:
        """Until the workers have made every entry handed to them."""
        while self._pending:
            self._settle_oldest()

    def finish(self) -> None:
        """Wait for the workers, then give directories their times (parents last)."""
        self.wait()
        for rel, mtime in reversed(self._dir_times.items()):
            os.utime(self._path(rel), (mtime, mtime))

    def close(self) -> None:
        """Stop the workers: none is still writing into ``dest`` when this returns (on an
        error, the caller removes ``dest``)."""
        for worker in self._workers:
            worker.shutdown(wait=False, cancel_futures=True)
        for worker in self._workers:
            worker.shutdown(wait=True)


def _make(path: str, member: tarfile.TarInfo, chunks: Iterable[bytes], owner: bool) -> None:
    """Make a file (content from ``chunks``), symlink, device or fifo, with its metadata."""
    mode = member.mode & 0o7777
    if member.isreg():
        fd = os.open(path, _NEW_FILE, 0o600)
        try:
            for chunk in chunks:
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
    elif member.issym():
        os.symlink(member.linkname, path)
    elif member.isfifo():
        os.mkfifo(path, mode)
    else:
        kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
        os.mknod(path, kind | mode, os.makedev(member.devmajor, member.devminor))
    _set_metadata(path, member, owner)


def _set_metadata(path: str, member: tarfile.TarInfo, owner: bool) -> None:
    """Owner, then xattrs and mode (a chown clears set-id bits and capabilities), then time —
    but a directory's time is set last, once its entries are in."""
    if owner:
        os.lchown(path, member.uid, member.gid)
    set_xattrs(path, member)
    if member.issym():
        with contextlib.suppress(OSError):
            os.utime(path, (member.mtime, member.mtime), follow_symlinks=False)
        return
    os.chmod(path, member.mode & 0o7777)
    if not member.isdir():
        os.utime(path, (member.mtime, member.mtime))


def unpack(
    stream: Source,
    dest: Path,
    *,
    opaque_xattr: str = OPAQUE_XATTRS[0],
    same_owner: bool | None = None,
    workers: int = _WORKERS,
) -> int:
    """Unpack a (plain) layer tar into the empty directory ``dest`` in overlay form; return
    the size of its files.

    ``same_owner`` (default: when running as root) sets owners from the tar; ``workers`` threads
    make the small entries. Raises :class:`UnsafeLayer` or :class:`tarfile.TarError`; the caller
    removes ``dest`` on error.
    """
    owner = os.geteuid() == 0 if same_owner is None else same_owner
    unpacker = _Unpacker(dest, owner, workers)
    try:
        for member, data in TarReader(stream):
            rel = clean_name(member.name)
            if not rel:
                continue
            parent = unpacker.parent(rel)
            base = posixpath.basename(rel)
            if base == WHITEOUT_OPAQUE:
                os.setxattr(parent, opaque_xattr, b"y")
            elif base.startswith(WHITEOUT_PREFIX):
                unpacker.whiteout(rel, base[len(WHITEOUT_PREFIX) :])
            else:
                unpacker.add(rel, member, data)
        unpacker.finish()
    finally:
        unpacker.close()
    return unpacker.content


# -- in a user namespace (served by nbdocker.engine.userns_helper) ------------------------------


def unpack_in_userns(stream: IO[bytes], dest: Path, opaque_xattr: str) -> int:
    """:func:`unpack` with the owners of the tar, inside the user namespace (rootless); the
    same errors, and the size of the files made."""
    request: UnpackRequest = {"dest": str(dest), "opaque_xattr": opaque_xattr}
    helper = userns.start("unpack", request, what=f"unpacking into {dest}", stdin=True)
    assert helper.stdin is not None
    try:
        while chunk := stream.read(_CHUNK):
            helper.stdin.write(chunk)
    except BrokenPipeError:
        pass  # the helper stopped reading: its reply says why
    except BaseException:
        helper.kill()
        raise
    finally:
        with contextlib.suppress(BrokenPipeError):
            helper.stdin.close()
    return cast(int, helper.reply()["content_size"])


def serve_unpack(args: dict[str, object], stdin: BinaryIO, stdout: BinaryIO) -> dict[str, object]:
    request = cast(UnpackRequest, args)
    try:
        # Owners from the tar always: the helper exists to keep them (root in a user namespace,
        # or the caller with the copy levels' owner emulation, whose euid is not 0).
        size = unpack(
            stdin, Path(request["dest"]), opaque_xattr=request["opaque_xattr"], same_owner=True
        )
    except (tarfile.TarError, EOFError) as exc:
        raise ArchiveError(str(exc) or "it ends early (truncated)") from None
    return {"content_size": size}


def serve_remove(args: dict[str, object], stdin: BinaryIO, stdout: BinaryIO) -> dict[str, object]:
    for path in cast(RemoveRequest, args)["paths"]:
        remove_tree(Path(path))
    return {}
