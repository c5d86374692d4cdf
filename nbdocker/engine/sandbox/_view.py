"""A read-only merged view of overlay-form layers, and the copy helpers built on it.

Layers are in overlayfs form: a whiteout is a 0:0 character device, an opaque directory carries
``trusted.overlay.opaque`` or ``user.overlay.opaque`` = ``y``. The view answers "what is at this
path in the merged image" without mounting anything; the copy fallback and the init layer use it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path

from . import _emulate

# (the last: a trusted.* attribute the chroot level keeps in a user.* one, see ``_emulate``)
OPAQUE_XATTRS = (
    "trusted.overlay.opaque",
    "user.overlay.opaque",
    _emulate.XATTR_PREFIX + "trusted.overlay.opaque",
)


def is_whiteout(st: os.stat_result, path: Path | None = None) -> bool:
    """A 0:0 character device; with ``path``, also the empty file the chroot and ptrace levels
    keep one as where the kernel refuses the device (see ``_emulate``)."""
    if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
        return True
    return path is not None and _emulate.recorded_whiteout(path, st)


def is_opaque(path: Path) -> bool:
    for name in OPAQUE_XATTRS:
        with contextlib.suppress(OSError):
            if os.getxattr(path, name, follow_symlinks=False) == b"y":
                return True
    return False


def lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


class LinkLoop(ValueError):
    """A path with more symlinks on it than :func:`follow_links` follows."""


def follow_links(
    path: str,
    link_target: Callable[[str], str | None],
    *,
    floor: str = "",
    max_links: int = 40,
) -> str:
    """``floor``/``path`` (relative, ``/``-separated) with every symlink on it followed, as if
    ``floor`` were the root: an absolute target starts again there and ``..`` stops there, so
    the result never leaves it. ``link_target(rel)`` is the target of the symlink at ``rel``, or
    None for anything else (or nothing); missing components are kept as written. Raises
    :class:`LinkLoop` after ``max_links`` links."""
    base = [p for p in floor.split("/") if p]
    done = list(base)
    pending = [p for p in path.split("/") if p]
    links = 0
    while pending:
        part = pending.pop(0)
        if part == ".":
            continue
        if part == "..":
            if len(done) > len(base):
                done.pop()
            continue
        target = link_target("/".join([*done, part]))
        if target is not None:
            links += 1
            if links > max_links:
                raise LinkLoop(path)
            if target.startswith("/"):
                done = list(base)
            pending = [p for p in target.split("/") if p] + pending
            continue
        done.append(part)
    return "/".join(done)


class LowerView:
    """The merged view of ``layers`` (bottom-most first), as overlayfs would show it."""

    def __init__(self, layers: tuple[Path, ...]) -> None:
        self.top_first = tuple(reversed(layers))

    def lookup(self, rel: str) -> Path | None:
        """The layer path that provides ``rel`` (no leading slash), or None if absent."""
        parts = [p for p in rel.split("/") if p]
        candidates = list(self.top_first)
        for depth, _ in enumerate(parts):
            sub = "/".join(parts[: depth + 1])
            last = depth == len(parts) - 1
            nxt: list[Path] = []
            for layer in candidates:
                st = lstat(layer / sub)
                if st is None:
                    continue
                if is_whiteout(st, layer / sub):
                    break
                if last:
                    return layer / sub
                if not stat.S_ISDIR(st.st_mode):
                    break
                nxt.append(layer)
                if is_opaque(layer / sub):
                    break
            if last or not nxt:
                return None
            candidates = nxt
        return candidates[0] if candidates else None

    def listdir(self, rel: str) -> dict[str, Path]:
        """Children of directory ``rel`` in the merged view: name -> providing layer path."""
        parts = [p for p in rel.split("/") if p]
        layers = list(self.top_first)
        if parts:
            layers = []
            for layer in self.top_first:
                path = layer.joinpath(*parts)
                st = lstat(path)
                if st is None:
                    continue
                if not stat.S_ISDIR(st.st_mode) or is_whiteout(st, path):
                    break
                layers.append(layer)
                if is_opaque(path):
                    break
            if self.lookup(rel) is None:
                return {}
        out: dict[str, Path] = {}
        hidden: set[str] = set()
        for layer in layers:
            base = layer.joinpath(*parts)
            try:
                names = os.listdir(base)
            except OSError:
                continue
            for name in names:
                if name in out or name in hidden:
                    continue
                st = os.lstat(base / name)
                if is_whiteout(st, base / name):
                    hidden.add(name)
                else:
                    out[name] = base / name
            if is_opaque(base):
                break
        return out


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
        shutil.rmtree(path)
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
    """Copy ``src`` (any type) to the absent ``dst``, preserving metadata; dirs post-order."""
    st = os.lstat(src)
    copy_node(src, dst, st)
    if stat.S_ISDIR(st.st_mode):
        for name in os.listdir(src):
            copy_tree(src / name, dst / name)
        copy_meta(st, dst, src)
