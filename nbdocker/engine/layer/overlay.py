"""The overlay form of a layer, and the OCI tar names for the same things (the spec's terms,
written once).

A layer on disk is an *overlay directory*, the way overlayfs wants a lower or upper dir: a
deleted path is a 0:0 character device (a whiteout), and a directory that hides everything
below it carries the ``<ns>.overlay.opaque = y`` xattr — ``trusted.`` as root, ``user.`` in a
user namespace (:func:`opaque_xattr`). A layer *tar* says the same with OCI whiteout entries:
``.wh.<name>`` deletes ``name``, ``.wh..wh..opq`` makes its directory opaque. Extended
attributes travel in a tar as PAX records ``SCHILY.xattr.<name>``; overlayfs' own
(``*.overlay.*``) never enter an image.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from . import emulated

if TYPE_CHECKING:
    import tarfile

__all__ = [
    "OPAQUE_XATTRS",
    "WHITEOUT_OPAQUE",
    "WHITEOUT_PREFIX",
    "XATTR_PAX",
    "is_opaque",
    "is_whiteout",
    "opaque_xattr",
    "set_xattrs",
    "xattr_records",
]

WHITEOUT_PREFIX = ".wh."
WHITEOUT_OPAQUE = ".wh..wh..opq"
# (the last: the trusted.* mark as the chroot and ptrace levels keep it, see :mod:`.emulated`)
OPAQUE_XATTRS = (
    "trusted.overlay.opaque",
    "user.overlay.opaque",
    emulated.XATTR_PREFIX + "trusted.overlay.opaque",
)
XATTR_PAX = "SCHILY.xattr."


def opaque_xattr() -> str:
    """The opaque-directory xattr overlayfs reads for this process: ``trusted.`` as root,
    ``user.`` (mounted with ``userxattr``) in a user namespace."""
    return OPAQUE_XATTRS[0] if os.geteuid() == 0 else OPAQUE_XATTRS[1]


def is_whiteout(st: os.stat_result, path: Path | str | None = None) -> bool:
    """Whether an entry of an overlay directory marks a deletion (a 0:0 character device); with
    ``path``, also the empty file the chroot and ptrace levels keep one as where the kernel
    refuses the device (see :mod:`.emulated`)."""
    if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
        return True
    return path is not None and emulated.recorded_whiteout(path, st)


def is_opaque(path: Path | str) -> bool:
    """Whether the directory ``path`` hides what layers below have at its place."""
    for name in OPAQUE_XATTRS:
        with contextlib.suppress(OSError):
            if os.getxattr(path, name, follow_symlinks=False) == b"y":
                return True
    return False


def xattr_records(path: Path | str) -> dict[str, str]:
    """The extended attributes of ``path`` as PAX records (``SCHILY.xattr.NAME``), without
    overlayfs' own."""
    out: dict[str, str] = {}
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return out
    for name in names:
        if ".overlay." in name:
            continue  # overlayfs' own bookkeeping, never part of an image
        with contextlib.suppress(OSError):
            value = os.getxattr(path, name, follow_symlinks=False)
            out[XATTR_PAX + name] = value.decode("utf-8", "surrogateescape")
    return out


def set_xattrs(path: Path | str, member: tarfile.TarInfo) -> None:
    """Apply the extended attributes a tar member carries (PAX ``SCHILY.xattr.*``); those the
    file system refuses are left out, as Docker leaves them."""
    for key, value in member.pax_headers.items():
        if key.startswith(XATTR_PAX):
            with contextlib.suppress(OSError):
                os.setxattr(
                    path,
                    key[len(XATTR_PAX) :],
                    value.encode("utf-8", "surrogateescape"),
                    follow_symlinks=False,
                )
