"""Walking and removing trees of any depth, without recursion.

A file tree's depth is not ours to choose: a layer from an archive, a build context, or what a
container made can go thousands of directories down. A recursive walk meets Python's recursion
limit there (``RecursionError``, about 1,000 frames) and :func:`shutil.rmtree` of Python 3.11
too; one such tree in a store would then break every later command that walks it. New trees
deeper than :data:`nbdocker.engine.layer.unpacking.MAX_DEPTH` are refused where they enter, but
everything that walks or removes a tree goes through here, so depth never breaks a command.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TypeVar

__all__ = ["preorder", "remove_tree", "walk"]

T = TypeVar("T")


def preorder(start: Iterable[T], children: Callable[[T], Iterable[T]]) -> Iterator[T]:
    """The items of ``start`` and, after each, its ``children`` (and theirs), in the order
    given — a depth-first pre-order walk with an explicit stack. ``children`` is asked for an
    item's children only once the item has been yielded (and the consumer has acted on it)."""
    stack: list[Iterator[T]] = [iter(start)]
    while stack:
        for item in stack[-1]:
            yield item
            stack.append(iter(children(item)))
            break
        else:
            stack.pop()


def walk(top: str | Path) -> Iterator[tuple[str, list[str], list[str]]]:
    """:func:`os.walk` (top down, symlinks not followed, unreadable directories skipped)
    without its recursion, which Python 3.11 still has: ``(dirpath, dirnames, filenames)``."""
    pending = [os.fspath(top)]
    while pending:
        directory = pending.pop()
        dirs: list[str] = []
        files: list[str] = []
        try:
            with os.scandir(directory) as scan:
                for entry in scan:
                    (dirs if entry.is_dir(follow_symlinks=False) else files).append(entry.name)
        except OSError:
            continue
        yield directory, dirs, files
        pending.extend(os.path.join(directory, name) for name in reversed(dirs))


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def remove_tree(path: Path) -> None:
    """Delete ``path`` and all below it (nothing happens if it does not exist); symbolic links
    are removed, never followed. No recursion and one open directory at a time, each reached
    from the last by name (``openat``), so neither the depth nor the length of the paths below
    (past Linux's PATH_MAX of 4096 bytes) stops it. Raises OSError for what cannot be removed
    (what was removed stays removed). Nothing else may move directories of the tree meanwhile
    (it climbs back up through ``..``)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(path)
        return
    fd = os.open(path, _DIR_FLAGS)
    below: list[str] = []  # the names from ``path`` down to the directory ``fd`` is
    try:
        while True:
            with os.scandir(fd) as scan:
                entries = [(e.name, e.is_dir(follow_symlinks=False)) for e in scan]
            subdir = next((name for name, is_dir in entries if is_dir), None)
            for name, is_dir in entries:
                if not is_dir:
                    os.unlink(name, dir_fd=fd)
            if subdir is not None:
                child = os.open(subdir, _DIR_FLAGS, dir_fd=fd)
                os.close(fd)
                fd = child
                below.append(subdir)
                continue
            if not below:
                break
            parent = os.open("..", _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = parent
            os.rmdir(below.pop(), dir_fd=fd)
    finally:
        os.close(fd)
    os.rmdir(path)
