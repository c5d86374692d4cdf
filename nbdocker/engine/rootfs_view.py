"""A container's file system seen from outside: ``diff`` (what changed) and ``export`` (all of it).

Both read the image's unpacked layers and the container's upper dir (overlay form) through the
sandbox's merged :class:`LowerView`, so nothing needs mounting.
"""

from __future__ import annotations

import os
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .sandbox._view import LowerView, is_opaque, is_whiteout

__all__ = ["Change", "changes", "export_tar"]

Change = tuple[str, str]  # ("A" | "C" | "D", "/path")
_CHUNK = 1 << 20


def changes(lowers: tuple[Path, ...], upper: Path) -> list[Change]:
    """``docker diff``: A(dded), C(hanged) and D(eleted) paths, sorted by path."""
    lower = LowerView(lowers)
    out: list[Change] = []

    def walk(rel: str) -> None:
        base = upper / rel if rel else upper
        for name in sorted(os.listdir(base)):
            child = f"{rel}/{name}" if rel else name
            st = os.lstat(upper / child)
            existed = lower.lookup(child) is not None
            if is_whiteout(st):
                if existed:
                    out.append(("D", "/" + child))
                continue
            out.append(("C" if existed else "A", "/" + child))
            if stat.S_ISDIR(st.st_mode):
                if existed and is_opaque(upper / child):
                    mine = set(os.listdir(upper / child))
                    for gone in sorted(set(lower.listdir(child)) - mine):
                        out.append(("D", f"/{child}/{gone}"))
                walk(child)

    walk("")
    return sorted(out, key=lambda c: c[1])


def _entries(view: LowerView, rel: str) -> Iterator[tuple[str, Path]]:
    for name, path in sorted(view.listdir(rel).items()):
        child = f"{rel}/{name}" if rel else name
        yield child, path
        if stat.S_ISDIR(os.lstat(path).st_mode):
            yield from _entries(view, child)


def export_tar(lowers: tuple[Path, ...], upper: Path, out: Any) -> None:
    """``docker export``: the container's whole root file system as a tar stream."""
    view = LowerView((*lowers, upper))
    inodes: dict[tuple[int, int], str] = {}
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT, bufsize=_CHUNK) as tar:
        for rel, path in _entries(view, ""):
            info = tar.gettarinfo(str(path), arcname=rel)
            st = os.lstat(path)
            key = (st.st_dev, st.st_ino)
            if info.isreg() and st.st_nlink > 1:
                if key in inodes:
                    info.type = tarfile.LNKTYPE
                    info.linkname = inodes[key]
                    info.size = 0
                    tar.addfile(info)
                    continue
                inodes[key] = rel
            info.uname = info.gname = ""
            if info.isreg():
                with open(path, "rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)


def main(argv: list[str]) -> int:
    """``changes UPPER LOWER…`` (lines ``K /path``) or ``export UPPER LOWER…`` (tar to stdout).

    Run by :mod:`.userns` inside a user namespace."""
    import sys

    upper, lowers = Path(argv[1]), tuple(Path(p) for p in argv[2:])
    if argv[0] == "changes":
        for kind, path in changes(lowers, upper):
            sys.stdout.write(f"{kind} {path}\n")
    elif argv[0] == "export":
        export_tar(lowers, upper, sys.stdout.buffer)
    else:
        return 2
    return 0
