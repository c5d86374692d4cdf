"""Overlay directories to layer tars: a container's changes (an upper dir) as a new layer.

:func:`write_diff` walks an upper dir in name order, parents first, and writes what it holds as
a layer tar: a whiteout device becomes a ``.wh.`` entry, an opaque directory gains
``.wh..wh..opq``, hard links within the dir stay links, xattrs (without overlayfs' own) become
PAX records. Nothing is read twice: the sizes of the files written are counted on the way.
"""

from __future__ import annotations

import os
import posixpath
import stat
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, TypedDict, cast

from ..trees import preorder
from .overlay import WHITEOUT_OPAQUE, WHITEOUT_PREFIX, is_opaque, xattr_records
from .tarstream import TarWriter
from .unpacking import MAX_DEPTH, MAX_NAME_BYTES, UnsafeLayer

__all__ = ["DiffRequest", "serve_diff", "write_diff"]


if TYPE_CHECKING:
    from ..chunks import Sink

    class DiffRequest(TypedDict):
        """``diff``: the layer tar goes to the helper's stdout; the result is its content size."""

        upper: str
        source_date_epoch: int | None

else:  # at run time these are the dicts json makes: the names cost nothing to import
    DiffRequest = dict


def _walk(root: Path) -> Iterator[tuple[str, os.stat_result]]:
    """Entries of ``root`` depth-first in name order, parents before children, however deep."""
    stats: dict[str, os.stat_result] = {}

    def entries(rel: str) -> list[str]:
        st = stats.pop(rel, None)
        if rel and (st is None or not stat.S_ISDIR(st.st_mode)):
            return []
        return [f"{rel}/{name}" if rel else name for name in sorted(os.listdir(root / rel))]

    for child in preorder(entries(""), entries):
        _check_storable(child)
        st = stats[child] = os.lstat(root / child)
        yield child, st


def _check_storable(rel: str) -> None:
    """UnsafeLayer if ``rel`` is deeper or longer than a layer may hold (what unpacking would
    refuse later), said where the layer is made: a command made it, and can be told."""
    depth = rel.count("/") + 1
    size = len(rel.encode("utf-8", "surrogateescape"))
    if depth > MAX_DEPTH or size > MAX_NAME_BYTES:
        what = f"{depth} directories deep" if depth > MAX_DEPTH else f"a path of {size} bytes"
        raise UnsafeLayer(
            f"/{rel[:60]}… is {what}, more than a layer may hold ({MAX_DEPTH} directories, "
            f"{MAX_NAME_BYTES} bytes); remove or flatten it in the container, then try again"
        )


def write_diff(
    upper: Path,
    out: Sink,
    *,
    uid_map: Callable[[int, int], tuple[int, int]] | None = None,
    skip: frozenset[str] = frozenset(),
    source_date_epoch: int | None = None,
) -> int:
    """Write overlay dir ``upper`` to ``out`` as a layer tar with OCI whiteouts; return the
    size of the files written (what ``images`` counts).

    ``skip`` holds relative paths left out (with what is below them). ``uid_map`` maps host ids
    back to container ids (a callable), when the upper dir was written in a user namespace.
    ``source_date_epoch`` clamps every mtime to it, for reproducible layers.
    """
    seen_inodes: dict[tuple[int, int], str] = {}
    content = 0
    tar = TarWriter(out)
    for rel, st in _walk(upper):
        if any(rel == s or rel.startswith(s + "/") for s in skip):
            continue
        path = upper / rel
        mtime = st.st_mtime
        if source_date_epoch is not None:
            mtime = min(mtime, source_date_epoch)
        if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
            parent, name = posixpath.split(rel)
            info = tarfile.TarInfo(posixpath.join(parent, WHITEOUT_PREFIX + name))
            info.mtime = int(mtime)
            tar.add(info)
            continue
        info = tarfile.TarInfo(rel)
        info.mode = stat.S_IMODE(st.st_mode)
        uid, gid = (st.st_uid, st.st_gid) if uid_map is None else uid_map(st.st_uid, st.st_gid)
        info.uid, info.gid = uid, gid
        info.mtime = int(mtime)
        info.pax_headers = xattr_records(path)
        key = (st.st_dev, st.st_ino)
        if stat.S_ISREG(st.st_mode) and st.st_nlink > 1 and key in seen_inodes:
            info.type = tarfile.LNKTYPE
            info.linkname = seen_inodes[key]
            tar.add(info)
            continue
        if stat.S_ISDIR(st.st_mode):
            info.type = tarfile.DIRTYPE
            tar.add(info)
            if is_opaque(path):
                opq = tarfile.TarInfo(posixpath.join(rel, WHITEOUT_OPAQUE))
                opq.mtime = int(mtime)
                tar.add(opq)
        elif stat.S_ISREG(st.st_mode):
            seen_inodes[key] = rel
            info.size = st.st_size
            content += st.st_size
            with open(path, "rb") as f:
                tar.add(info, f)
        elif stat.S_ISLNK(st.st_mode):
            info.type = tarfile.SYMTYPE
            info.linkname = os.readlink(path)
            tar.add(info)
        elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            info.type = tarfile.CHRTYPE if stat.S_ISCHR(st.st_mode) else tarfile.BLKTYPE
            info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
            tar.add(info)
        elif stat.S_ISFIFO(st.st_mode):
            info.type = tarfile.FIFOTYPE
            tar.add(info)
    tar.close()
    return content


# -- in a user namespace (served by nbdocker.engine.userns_helper) ------------------------------


def serve_diff(args: dict[str, object], stdin: BinaryIO, stdout: BinaryIO) -> dict[str, object]:
    request = cast(DiffRequest, args)
    size = write_diff(
        Path(request["upper"]), stdout, source_date_epoch=request["source_date_epoch"]
    )
    return {"content_size": size}
