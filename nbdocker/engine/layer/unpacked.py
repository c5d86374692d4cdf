"""Unpacked layers, ready to be overlay lower dirs: ``<home>/layers/<chainID hex>/``.

Keyed by chain ID (the digest that names a layer *and* everything below it), each directory
holds the one layer's files in overlay form (see :mod:`.overlay`). They are a cache: built from
the blobs when first needed (or by ``pull`` while the blobs arrive, see :class:`UnpackBatch`),
atomically — unpacked beside in ``.tmp-<pid>-…``, then renamed — and safe to delete. A temp
dir left by a process that died is removed by the next one that unpacks.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path

from .. import layer, userns
from ..errors import ArchiveError, StorageError
from ..leftovers import TEMP, owner_gone, remove_unheld_lock
from ..store import Store, storage_errors
from .overlay import opaque_xattr

__all__ = ["LayerCache", "UnpackBatch", "chain_ids"]


def _cache_dir() -> str:
    """``layers``, or ``layers.emulated`` at the chroot and ptrace isolation levels, whose
    layers keep owners, whiteouts and devices in extended attributes (:mod:`.emulated`):
    the two forms never mix, and a level change unpacks the layers again."""
    return "layers.emulated" if userns.emulated() else "layers"


def chain_ids(diff_ids: Sequence[str]) -> list[str]:
    """OCI chain IDs: ChainID(L0) = DiffID(L0); ChainID(Ln) = sha256(ChainID(Ln-1) + " " + Ln)."""
    out: list[str] = []
    for diff_id in diff_ids:
        if not out:
            out.append(diff_id)
        else:
            text = f"{out[-1]} {diff_id}".encode()
            out.append("sha256:" + hashlib.sha256(text).hexdigest())
    return out


class LayerCache:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._swept: set[Path] = set()  # roots whose temp dirs of dead processes are removed

    @property
    def root(self) -> Path:
        """The directory of the layers in the form of the isolation level in use (it may
        change during a process's life: ``--isolation`` on one verb)."""
        return self.store.root / _cache_dir()

    def path(self, chain_id: str) -> Path:
        return self.root / chain_id.split(":", 1)[1]

    @contextlib.contextmanager
    def _lock(self, chain_id: str) -> Iterator[None]:
        """Hold the lock of one layer's unpacking. :meth:`prune` removes lock files nobody
        holds, so a lock is held only once the file locked is still the one at its path."""
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / f".lock-{chain_id.split(':', 1)[1][:16]}"
        while True:
            with open(path, "a+b") as f:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX)
                try:
                    current = os.stat(path).st_ino
                except FileNotFoundError:
                    current = -1
                if current != os.fstat(f.fileno()).st_ino:
                    continue  # removed (and perhaps made again) while we waited: lock anew
                try:
                    yield
                finally:
                    fcntl.flock(f.fileno(), fcntl.LOCK_UN)
                return

    def ensure(self, diff_ids: Sequence[str]) -> list[Path]:
        """The unpacked directories of an image's layers, bottom-most first, built if missing.

        Opaque directories carry the xattr overlayfs reads as this user
        (:func:`~.overlay.opaque_xattr`)."""
        dirs: list[Path] = []
        with storage_errors(self.store.root):
            for diff_id, chain_id in zip(diff_ids, chain_ids(diff_ids), strict=True):
                target = self.path(chain_id)
                if not target.is_dir():
                    with self._lock(chain_id):
                        if not target.is_dir():
                            self._unpack(diff_id, target)
                dirs.append(target)
        return dirs

    def adopt(self, diff_ids: Sequence[str], unpacked: Path) -> None:
        """Take ``unpacked`` (the top layer of ``diff_ids``, already in overlay form, on this
        file system) as the cache's directory for it, unless the cache has one already."""
        target = self.path(chain_ids(diff_ids)[-1])
        if not target.exists():
            self.root.mkdir(parents=True, exist_ok=True)
            _move_in(unpacked, target)

    @contextlib.contextmanager
    def batch(self) -> Iterator[UnpackBatch]:
        """An :class:`UnpackBatch`; what it did not publish is removed when the block ends."""
        batch = UnpackBatch(self)
        try:
            yield batch
        finally:
            batch.discard()

    def _temp_dir(self) -> Path:
        """A new empty directory beside the cache's ones, to unpack a layer into."""
        self.root.mkdir(parents=True, exist_ok=True)
        if self.root not in self._swept:
            self._swept.add(self.root)
            for entry in self.root.iterdir():
                if owner_gone(entry.name, TEMP):
                    userns.remove_tree(entry)
        import tempfile

        tmp = Path(tempfile.mkdtemp(prefix=f"{TEMP}{os.getpid()}-", dir=self.root))
        os.chmod(tmp, 0o755)  # it becomes the root directory of containers
        return tmp

    def _unpack(self, diff_id: str, target: Path) -> None:
        import tarfile

        record = self.store.layer(diff_id)
        if record is None:
            raise StorageError(
                f"the store has no blob for layer {diff_id}; remove the image and import, "
                "load or pull it again"
            )
        tmp = self._temp_dir()
        try:
            # (the tar and compression code through the package: running an image whose layers
            # are unpacked, as a build's next step or a pull leaves them, never loads it)
            with self.store.open_blob(record.blob) as blob:
                if userns.needed():
                    layer.unpack_in_userns(layer.decompressed(blob), tmp, opaque_xattr())
                else:
                    layer.unpack(layer.decompressed(blob), tmp, opaque_xattr=opaque_xattr())
            os.rename(tmp, target)
        except (ArchiveError, tarfile.TarError, EOFError) as exc:
            userns.remove_tree(tmp)
            raise ArchiveError(f"layer {diff_id} cannot be unpacked: {exc}") from None
        except BaseException:
            userns.remove_tree(tmp)
            raise

    def verify(self, diff_id: str, chain_id: str) -> str | None:
        """Compare the unpacked directory of layer ``chain_id`` (top layer ``diff_id``) with a
        fresh unpack of its blob (checked against its digest by the caller): None when they
        agree, else the first difference in a few words. Types, modes, owners, sizes, contents,
        link targets, device numbers and extended attributes count; times do not (a RUN step's
        layer is the step's upper directory, whose times the layer's tar may round)."""
        with storage_errors(self.store.root):
            fresh = self._temp_dir()
            try:
                os.rmdir(fresh)
                self._unpack(diff_id, fresh)
                return _first_difference(self.path(chain_id), fresh)
            finally:
                userns.remove_tree(fresh)

    def unpacked(self) -> list[Path]:
        """Every unpacked layer's directory, in both forms (``layers``, ``layers.emulated``)."""
        out: list[Path] = []
        for name in ("layers", "layers.emulated"):
            folder = self.store.root / name
            if folder.is_dir():
                out += sorted(e for e in folder.iterdir() if not e.name.startswith("."))
        return out

    def prune(self, keep: set[str]) -> list[Path]:
        """Remove unpacked layers whose chain ID is not in ``keep``, in both forms, and the lock
        files nobody holds (call under the store lock, with no work in flight: a build may be
        about to run on any layer); return the directories removed."""
        removed: list[Path] = []
        for name in ("layers", "layers.emulated"):
            folder = self.store.root / name
            if not folder.is_dir():
                continue
            for entry in folder.iterdir():
                if entry.name.startswith(".lock-"):
                    remove_unheld_lock(entry)
                elif entry.name.startswith("."):
                    continue
                elif "sha256:" + entry.name not in keep:
                    userns.remove_tree(entry)
                    removed.append(entry)
        return removed


class UnpackBatch:
    """Layers unpacked beside the cache while their blobs are being stored (``pull`` as root).

    :meth:`publish` moves them into the cache once the store has committed the blobs; whatever
    was not published is removed by :meth:`discard` — so the cache never holds a partial layer,
    nor one whose blob the store lacks (a pull that failed half-way leaves nothing behind).
    """

    def __init__(self, cache: LayerCache) -> None:
        self._cache = cache
        self._targets: dict[Path, Path] = {}  # temp dir → the cache's directory for it

    def new(self, chain_id: str) -> Path | None:
        """An empty directory to unpack layer ``chain_id`` into; None when the cache has it."""
        target = self._cache.path(chain_id)
        if target.exists():
            return None
        tmp = self._cache._temp_dir()
        self._targets[tmp] = target
        return tmp

    def publish(self) -> None:
        for tmp, target in self._targets.items():
            _move_in(tmp, target)
        self.discard()  # those another process had unpacked first

    def discard(self) -> None:
        for tmp in self._targets:
            if tmp.exists():
                userns.remove_tree(tmp)
        self._targets.clear()


def _move_in(unpacked: Path, target: Path) -> None:
    with contextlib.suppress(OSError):  # another process got there first: keep theirs
        os.rename(unpacked, target)


def _first_difference(kept: Path, fresh: Path) -> str | None:
    mine, theirs = _tree_summary(kept), _tree_summary(fresh)
    for path in sorted(set(mine) | set(theirs)):
        if path not in mine:
            return f"{path or '/'} is missing"
        if path not in theirs:
            return f"{path or '/'} should not be there"
        if mine[path] != theirs[path]:
            return f"{path or '/'} differs"
    return None


def _tree_summary(root: Path) -> dict[str, tuple[object, ...]]:
    """Every entry below ``root`` (and root itself, as ``""``) → what :meth:`LayerCache.verify`
    compares. An unreadable file counts as its error, so it differs from a readable one."""
    out = {"": _entry_summary(root)}
    stack = [root]
    while stack:
        directory = stack.pop()
        for path in sorted(directory.iterdir()):
            item = out[str(path.relative_to(root))] = _entry_summary(path)
            if item[0] == stat.S_IFDIR:
                stack.append(path)
    return out


def _entry_summary(path: Path) -> tuple[object, ...]:
    st = os.lstat(path)
    kind = stat.S_IFMT(st.st_mode)
    item: tuple[object, ...] = (kind, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, _xattrs(path))
    if kind == stat.S_IFREG:
        item += (st.st_size, _content_digest(path))
    elif kind == stat.S_IFLNK:
        item += (os.readlink(path),)
    elif kind in (stat.S_IFCHR, stat.S_IFBLK):
        item += (st.st_rdev,)
    return item


def _xattrs(path: Path) -> tuple[tuple[str, bytes], ...]:
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return ()
    values = []
    for name in sorted(names):
        if name.startswith("security."):  # (SELinux labels and capabilities the host adds)
            continue
        if ".overlay." in name and not name.endswith(".overlay.opaque"):
            continue  # overlayfs's own notes on an upper dir (uuid, origin, impure)
        try:
            values.append((name, os.getxattr(path, name, follow_symlinks=False)))
        except OSError as exc:
            values.append((name, str(exc).encode()))
    return tuple(values)


def _content_digest(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
    except OSError as exc:
        return f"unreadable: {exc.strerror}"
    return digest.hexdigest()
