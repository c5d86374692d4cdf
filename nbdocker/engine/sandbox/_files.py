"""Copying single entries and trees with their metadata, for the copy-based root file system
and the init layer (never for image layers, whose metadata comes from their tars)."""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
from pathlib import Path

from .. import trees
from ..layer.view import lstat

__all__ = ["copy_meta", "copy_node", "copy_tree", "remove"]


def copy_meta(src_st: os.stat_result, dst: Path, src: Path | None = None) -> None:
    """Copy owner, mode, xattrs (not overlay's) and times from ``src_st`` onto ``dst``."""
    with contextlib.suppress(OSError):
        os.lchown(dst, src_st.st_uid, src_st.st_gid)
    if not stat.S_ISLNK(src_st.st_mode):
        os.chmod(dst, stat.S_IMODE(src_st.st_mode))
    if src is not None:
        with contextlib.suppress(OSError):
            for name in os.listxattr(src, follow_symlinks=False):
                if ".overlay." in name:
                    continue
                with contextlib.suppress(OSError):
                    value = os.getxattr(src, name, follow_symlinks=False)
                    os.setxattr(dst, name, value, follow_symlinks=False)
    os.utime(dst, ns=(src_st.st_atime_ns, src_st.st_mtime_ns), follow_symlinks=False)


def remove(path: Path) -> None:
    st = lstat(path)
    if st is None:
        return
    if stat.S_ISDIR(st.st_mode):
        trees.remove_tree(path)
    else:
        path.unlink()


def copy_node(src: Path, dst: Path, st: os.stat_result) -> None:
    """Create ``dst`` as a copy of the single non-directory entry ``src`` (data + metadata)."""
    mode = st.st_mode
    if stat.S_ISLNK(mode):
        os.symlink(os.readlink(src), dst)
    elif stat.S_ISREG(mode):
        shutil.copyfile(src, dst, follow_symlinks=False)
    elif stat.S_ISDIR(mode):
        dst.mkdir()
    else:
        os.mknod(dst, mode, st.st_rdev)
    copy_meta(st, dst, src)


def copy_tree(src: Path, dst: Path) -> None:
    """Copy ``src`` (any type) to the absent ``dst``, preserving metadata; a directory's
    metadata last (its times survive its entries' creation). A stack, not recursion: a step
    may make a tree of any depth."""
    dirs: list[tuple[os.stat_result, Path, Path]] = []
    pending = [(src, dst)]
    while pending:
        here, there = pending.pop()
        st = os.lstat(here)
        copy_node(here, there, st)
        if stat.S_ISDIR(st.st_mode):
            dirs.append((st, there, here))
            pending.extend((here / name, there / name) for name in os.listdir(here))
    for st, there, here in reversed(dirs):
        copy_meta(st, there, here)
