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

__all__ = ["preorder", "remove_tree"]

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


def remove_tree(path: Path) -> None:
    """Delete ``path`` and all below it (nothing happens if it does not exist); symbolic links
    are removed, never followed. Iterative, with one directory open at a time, so a tree of any
    depth goes. Raises OSError for what cannot be removed (what was removed stays removed)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(path)
        return
    stack = [path]  # directories whose entries may not all be gone yet
    while stack:
        directory = stack[-1]
        subdirs = []
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    subdirs.append(Path(entry.path))
                else:
                    os.unlink(entry.path)
        if subdirs:
            stack.extend(subdirs)
        else:
            os.rmdir(directory)
            stack.pop()
