"""A read-only merged view of overlay-form layers (:mod:`.overlay`), as overlayfs would show
them, without mounting anything; and the one symlink walk for paths confined to a root.

The sandbox's copy fallback and init layer, ``diff``/``export`` of a container, COPY's
``--from`` sources and its destination all read images through :class:`LowerView`.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

from .overlay import is_opaque, is_whiteout

__all__ = ["LinkLoop", "LowerView", "follow_links", "lstat", "resolve_under"]


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


def resolve_under(root: Path, unsafe_path: str) -> Path:
    """``unsafe_path`` resolved inside the directory ``root`` on disk: its symlinks (absolute or
    ``..``) cannot leave it. Missing trailing components are kept as they are, so the result
    may not exist yet. Raises :class:`LinkLoop`."""

    def link_target(rel: str) -> str | None:
        candidate = root / rel
        st = lstat(candidate)
        return os.readlink(candidate) if st is not None and stat.S_ISLNK(st.st_mode) else None

    return root / follow_links(unsafe_path, link_target)


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
