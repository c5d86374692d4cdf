"""What COPY reads: the build context or an image's file system, as one read-only interface.

:class:`ContextTree` (the build context, ``.dockerignore`` honoured) and :class:`ImageTree` (an
image's merged layers, for ``COPY --from``) are the two :class:`SourceTree`\\ s. Paths are
untrusted: :func:`resolve_in` follows symlinks without ever leaving the tree, :func:`glob`
matches as Docker's walk does.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ...layer.view import LowerView
from ...lazy import lazy_dataclass
from ..dockerignore import IgnoreRules, compile_glob

if TYPE_CHECKING:
    import tarfile

__all__ = [
    "ContextTree",
    "ImageTree",
    "SourceTree",
    "glob",
    "is_archive",
    "open_archive",
    "resolve_in",
]

MAX_LINKS = 255
_CHUNK = 1 << 20


class SourceTree(Protocol):
    """A read-only tree COPY reads from. Paths are relative, ``/``-separated, ``""`` = root.

    ``lookup`` gives the real path of a *visible* entry (never following a final symlink) or
    None; ``listdir`` the sorted visible names of a directory. ``keep_owners``: copied files
    keep their uid/gid (images) or become 0:0 (the context). ``immutable``: its files never
    change in place, so a copy may hard-link them."""

    @property
    def label(self) -> str: ...

    @property
    def keep_owners(self) -> bool: ...

    @property
    def immutable(self) -> bool: ...

    def lookup(self, rel: str) -> Path | None: ...

    def listdir(self, rel: str) -> list[str]: ...


@lazy_dataclass(frozen=True)
class ContextTree:
    """The build context directory; entries ``.dockerignore`` leaves out are invisible."""

    root: Path
    rules: IgnoreRules = IgnoreRules()
    label: str = "build context"
    keep_owners: bool = False
    immutable: bool = False

    def visible(self, rel: str) -> bool:
        """As the docker CLI's walk: every parent walked, and ``rel`` itself sent (or an
        excluded directory still walked for re-included files below it)."""
        if not rel:
            return True
        parts = rel.split("/")
        for depth in range(1, len(parts)):
            parent = "/".join(parts[:depth])
            if self.rules.excluded(parent) and not self.rules.walk_into(parent):
                return False
        if not self.rules.excluded(rel):
            return True
        return self.rules.walk_into(rel) and os.path.isdir(self.root / rel)

    def lookup(self, rel: str) -> Path | None:
        path = self.root / rel if rel else self.root
        if not self.visible(rel) or not os.path.lexists(path):
            return None
        return path

    def listdir(self, rel: str) -> list[str]:
        path = self.root / rel if rel else self.root
        names = sorted(os.listdir(path))
        return [n for n in names if self.visible(f"{rel}/{n}" if rel else n)]


@lazy_dataclass(frozen=True)
class ImageTree:
    """An image's file system (``COPY --from``): its overlay-form layers, merged."""

    view: LowerView
    label: str = "image"
    keep_owners: bool = True
    immutable: bool = True

    @classmethod
    def of_layers(cls, layers: Sequence[Path], label: str = "image") -> ImageTree:
        """Layers bottom-most first (a stage's upper dir last)."""
        return cls(LowerView(tuple(layers)), label)

    def lookup(self, rel: str) -> Path | None:
        if not rel:
            return self.view.top_first[0] if self.view.top_first else None
        return self.view.lookup(rel)

    def listdir(self, rel: str) -> list[str]:
        return sorted(self.view.listdir(rel))


def resolve_in(tree: SourceTree, rel: str) -> str | None:
    """``rel`` with every symlink followed, never leaving the tree (absolute targets and
    ``..`` are taken from the tree's root), or None when something on the way is missing."""
    pending = [p for p in rel.split("/") if p and p != "."]
    done: list[str] = []
    links = 0
    while pending:
        part = pending.pop(0)
        if part == "..":
            if done:
                done.pop()
            continue
        candidate = "/".join([*done, part])
        path = tree.lookup(candidate)
        if path is None:
            return None
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode):
            links += 1
            if links > MAX_LINKS:
                return None
            target = os.readlink(path)
            if target.startswith("/"):
                done = []
            pending = [p for p in target.split("/") if p and p != "."] + pending
            continue
        if pending and not stat.S_ISDIR(st.st_mode):
            return None
        done.append(part)
    return "/".join(done)


def glob(tree: SourceTree, pattern: str) -> list[str]:
    """Paths matching ``pattern`` component by component (Go ``filepath.Match`` per name),
    walking real directories only, in lexical order, as Docker's walk finds them."""
    found = [""]
    for part in pattern.split("/"):
        regex = compile_glob(part)
        nxt: list[str] = []
        for base in found:
            path = tree.lookup(base)
            if path is None or not stat.S_ISDIR(os.lstat(path).st_mode):
                continue
            for name in tree.listdir(base):
                if regex.fullmatch(name):
                    nxt.append(f"{base}/{name}" if base else name)
        found = nxt
    return found


def open_archive(path: Path) -> tarfile.TarFile:
    """``path`` as a streamed tar, plain or gzip/bzip2/xz-compressed (detected by content)."""
    import tarfile  # only ADD of a local file needs it

    return tarfile.open(path, mode="r|*", bufsize=_CHUNK)


def is_archive(path: Path) -> bool:
    try:
        with open_archive(path) as tar:
            return tar.next() is not None
    except Exception:  # noqa: BLE001 - anything unreadable is simply not an archive
        return False
