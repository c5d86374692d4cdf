"""A container's file system seen from outside: ``diff`` (what changed) and ``export`` (all of it).

Both read the image's unpacked layers and the container's upper dir (overlay form) through the
merged :class:`~.view.LowerView`, so nothing needs mounting. Rootless, the files belong to ids
of the user namespace, so the same functions run there (:func:`changes_in_userns`,
:func:`export_in_userns`).
"""

from __future__ import annotations

import os
import stat
import tarfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, BinaryIO, TypedDict, cast

from .. import userns
from ..trees import preorder
from .overlay import is_opaque, is_whiteout
from .view import LowerView

__all__ = [
    "Change",
    "changes",
    "changes_in_userns",
    "export_in_userns",
    "export_tar",
    "serve_changes",
    "serve_export",
]


if TYPE_CHECKING:

    class RootfsRequest(TypedDict):
        """``changes`` (result: the changes) and ``export`` (the tar on the helper's stdout)."""

        upper: str
        lowers: list[str]

else:  # at run time these are the dicts json makes: the names cost nothing to import
    RootfsRequest = dict


Change = tuple[str, str]  # ("A" | "C" | "D", "/path")
_CHUNK = 1 << 20


def changes(lowers: tuple[Path, ...], upper: Path) -> list[Change]:
    """``docker diff``: A(dded), C(hanged) and D(eleted) paths, sorted by path."""
    lower = LowerView(lowers)
    out: list[Change] = []

    def entries(rel: str) -> list[str]:
        base = upper / rel if rel else upper
        return [f"{rel}/{name}" if rel else name for name in sorted(os.listdir(base))]

    walked: set[str] = set()  # the directories to go into, decided as each is met
    for child in preorder(entries(""), lambda rel: entries(rel) if rel in walked else ()):
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
            walked.add(child)
    return sorted(out, key=lambda c: c[1])


def _entries(view: LowerView) -> Iterator[tuple[str, Path]]:
    """Every entry of the merged view, parents first, names in order, however deep."""

    def below(item: tuple[str, Path]) -> list[tuple[str, Path]]:
        rel, path = item
        if rel and not stat.S_ISDIR(os.lstat(path).st_mode):
            return []
        return [(f"{rel}/{n}" if rel else n, p) for n, p in sorted(view.listdir(rel).items())]

    return preorder(below(("", Path())), below)


def export_tar(lowers: tuple[Path, ...], upper: Path, out: IO[bytes]) -> None:
    """``docker export``: the container's whole root file system as a tar stream."""
    view = LowerView((*lowers, upper))
    inodes: dict[tuple[int, int], str] = {}
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT, bufsize=_CHUNK) as tar:
        for rel, path in _entries(view):
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


# -- in a user namespace (served by nbdocker.engine.userns_helper) ------------------------------


def _request(lowers: Sequence[Path], upper: Path) -> RootfsRequest:
    return {"upper": str(upper), "lowers": [str(p) for p in lowers]}


def changes_in_userns(lowers: Sequence[Path], upper: Path, what: str) -> list[Change]:
    """:func:`changes`, read inside the user namespace (rootless)."""
    result = userns.call("changes", _request(lowers, upper), what=what)
    return [(kind, path) for kind, path in cast(list[list[str]], result["changes"])]


def export_in_userns(lowers: Sequence[Path], upper: Path, out: IO[bytes], what: str) -> None:
    """:func:`export_tar`, read inside the user namespace (rootless)."""
    helper = userns.start("export", _request(lowers, upper), what=what, stdout=True)
    assert helper.stdout is not None
    try:
        while chunk := helper.stdout.read(_CHUNK):
            out.write(chunk)
    except BaseException:
        helper.kill()
        raise
    helper.reply()


def serve_changes(args: dict[str, object], stdin: BinaryIO, stdout: BinaryIO) -> dict[str, object]:
    request = cast(RootfsRequest, args)
    found = changes(tuple(Path(p) for p in request["lowers"]), Path(request["upper"]))
    return {"changes": [list(change) for change in found]}


def serve_export(args: dict[str, object], stdin: BinaryIO, stdout: BinaryIO) -> dict[str, object]:
    request = cast(RootfsRequest, args)
    export_tar(tuple(Path(p) for p in request["lowers"]), Path(request["upper"]), stdout)
    return {}
