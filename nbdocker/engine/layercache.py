"""Unpacked layers, ready to be overlay lower dirs: ``<home>/layers/<chainID hex>/``.

Keyed by chain ID (the digest that names a layer *and* everything below it), each directory
holds the one layer's files in overlay form (see :mod:`.tardiff`). They are a cache: built from
the blobs when first needed, atomically (unpacked beside, then renamed), and safe to delete.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import subprocess
import tarfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

from . import userns
from .errors import ArchiveError, StorageError
from .layers import decompressed
from .store import Store, storage_errors
from .tardiff import UnsafeLayer, unpack

__all__ = ["LayerCache", "chain_ids"]


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
        self.root = store.root / "layers"

    def path(self, chain_id: str) -> Path:
        return self.root / chain_id.split(":", 1)[1]

    @contextlib.contextmanager
    def _lock(self, chain_id: str) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / f".lock-{chain_id.split(':', 1)[1][:16]}", "a+b") as f:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)

    def ensure(
        self, diff_ids: Sequence[str], opaque_xattr: str = "trusted.overlay.opaque"
    ) -> list[Path]:
        """The unpacked directories of an image's layers, bottom-most first, built if missing."""
        dirs: list[Path] = []
        with storage_errors(self.store.root):
            for diff_id, chain_id in zip(diff_ids, chain_ids(diff_ids), strict=True):
                target = self.path(chain_id)
                if not target.is_dir():
                    with self._lock(chain_id):
                        if not target.is_dir():
                            self._unpack(diff_id, target, opaque_xattr)
                dirs.append(target)
        return dirs

    def adopt(self, diff_ids: Sequence[str], unpacked: Path) -> None:
        """Take ``unpacked`` (the top layer of ``diff_ids``, already in overlay form, on this
        file system) as the cache's directory for it, unless the cache has one already."""
        target = self.path(chain_ids(diff_ids)[-1])
        if target.exists():
            return
        self.root.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):  # another process got there first: keep theirs
            os.rename(unpacked, target)

    def _unpack(self, diff_id: str, target: Path, opaque_xattr: str) -> None:
        record = self.store.layer(diff_id)
        if record is None:
            raise StorageError(
                f"the store has no blob for layer {diff_id}; remove the image and import, "
                "load or pull it again"
            )
        tmp = target.with_name(f".tmp-{target.name}-{os.getpid()}")
        userns.remove_tree(tmp)
        tmp.mkdir(parents=True)
        try:
            with self.store.open_blob(record.blob) as blob:
                if userns.needed():
                    self._unpack_in_userns(decompressed(blob), tmp, opaque_xattr)
                else:
                    unpack(decompressed(blob), tmp, opaque_xattr=opaque_xattr)
            os.rename(tmp, target)
        except (UnsafeLayer, tarfile.TarError, EOFError) as exc:
            userns.remove_tree(tmp)
            raise ArchiveError(f"layer {diff_id} cannot be unpacked: {exc}") from None
        except BaseException:
            userns.remove_tree(tmp)
            raise

    @staticmethod
    def _unpack_in_userns(tar: IO[bytes], dest: Path, opaque_xattr: str) -> None:
        proc = userns.spawn(
            "tardiff",
            "unpack",
            str(dest),
            opaque_xattr,
            stdin=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert proc.stdin is not None
        try:
            while chunk := tar.read(1 << 20):
                proc.stdin.write(chunk)
        except BrokenPipeError:
            pass
        finally:
            proc.stdin.close()
        userns.finish(proc, f"unpacking into {dest}")

    def prune(self, keep: set[str]) -> None:
        """Remove unpacked layers whose chain ID is not in ``keep`` (call under the store lock)."""
        if not self.root.is_dir():
            return
        for entry in self.root.iterdir():
            if entry.name.startswith("."):
                continue
            if "sha256:" + entry.name not in keep:
                userns.remove_tree(entry)
