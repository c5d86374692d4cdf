"""The copy-based root file system, for machines where overlayfs cannot be mounted.

:func:`populate` applies the layers (and the previous upper dir) one over another into a plain
directory; after the run :func:`compute_upper` compares that directory with the merged view of
the lower layers and rewrites the upper dir in overlayfs form, so callers see the same result as
with an overlay mount: added/changed entries as copies, deleted ones as 0:0 character-device
whiteouts (an empty ``.wh.<name>`` file where the kernel forbids that mknod, kernels < 5.8
without privilege). Directories that exist on both sides are diffed child by child, so the copy
fallback never needs opaque directories.

Failure guarantee: :func:`compute_upper` builds the new upper dir beside the old one and only
swaps contents once it is complete.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from .. import trees
from ..layer.overlay import is_opaque, is_whiteout
from ..layer.view import LowerView, lstat
from ._files import copy_meta, copy_node, copy_tree, remove


def _apply(layer: Path, root: Path) -> None:
    """Apply one overlay-form layer onto ``root`` (whiteouts delete, opaque dirs replace)."""
    dirs: list[tuple[os.stat_result, Path, Path]] = []
    links: dict[tuple[int, int], Path] = {}
    for dirpath, dirnames, filenames in trees.walk(layer):
        src_dir = Path(dirpath)
        dst_dir = root / src_dir.relative_to(layer)
        for name in dirnames + filenames:
            src, dst = src_dir / name, dst_dir / name
            st = os.lstat(src)
            old = lstat(dst)
            if is_whiteout(st):
                remove(dst)
                continue
            if stat.S_ISDIR(st.st_mode):
                if old is not None and (not stat.S_ISDIR(old.st_mode) or is_opaque(src)):
                    remove(dst)
                    old = None
                if old is None:
                    dst.mkdir()
                dirs.append((st, src, dst))
                continue
            remove(dst)
            key = (st.st_dev, st.st_ino)
            if st.st_nlink > 1 and key in links:
                os.link(links[key], dst)
                continue
            copy_node(src, dst, st)
            links[key] = dst
    for st, src, dst in reversed(dirs):
        copy_meta(st, dst, src)
    copy_meta(os.lstat(layer), root, layer)


def populate(root: Path, layers: tuple[Path, ...]) -> None:
    """Fill the empty directory ``root`` with the merge of ``layers`` (bottom-most first)."""
    for layer in layers:
        _apply(layer, root)


def _changed(a: os.stat_result, b: os.stat_result, pa: Path, pb: Path) -> bool:
    if stat.S_IFMT(a.st_mode) != stat.S_IFMT(b.st_mode):
        return True
    if (a.st_mode, a.st_uid, a.st_gid, a.st_mtime_ns) != (
        b.st_mode,
        b.st_uid,
        b.st_gid,
        b.st_mtime_ns,
    ):
        return True
    if stat.S_ISLNK(a.st_mode):
        return os.readlink(pa) != os.readlink(pb)
    if stat.S_ISREG(a.st_mode):
        return a.st_size != b.st_size
    return (stat.S_ISCHR(a.st_mode) or stat.S_ISBLK(a.st_mode)) and a.st_rdev != b.st_rdev


class _Differ:
    """Writes the overlay-form difference between ``root`` and ``view`` into ``out``.

    With ``since`` (a ctime, nanoseconds, taken after ``root`` was filled) only what the step
    can have touched is compared: the kernel sets the ctime of every inode whose data,
    metadata, extended attributes or links change, and of every directory an entry is added
    to, removed from or renamed in. So a directory older than ``since`` holds the names it was
    filled with, and of its entries only the newer ones need a look; the rest is walked with
    plain ``lstat`` only (no look-up in the layers)."""

    def __init__(self, root: Path, view: LowerView, out: Path, since: int | None) -> None:
        self.root, self.view, self.out, self.since = root, view, out, since
        self.made: list[str] = []
        # directories still to compare, (untouched since ``since``, path): a stack, not
        # recursion, since a step may make a tree of any depth
        self._pending: list[tuple[bool, str]] = []

    def run(self) -> None:
        """Compare the whole root."""
        self._pending.append((False, ""))
        while self._pending:
            untouched, rel = self._pending.pop()
            if untouched:
                self._untouched_dir(rel)
            else:
                self._diff(rel)

    def _parents(self, rel: str) -> None:
        """Create ``out/rel``'s directory chain, mirroring the root's directories."""
        parts = [p for p in rel.split("/") if p]
        for depth in range(len(parts)):
            sub = "/".join(parts[: depth + 1])
            if not (self.out / sub).exists():
                (self.out / sub).mkdir()
                self.made.append(sub)

    def _whiteout(self, rel_dir: str, name: str) -> None:
        self._parents(rel_dir)
        target = self.out / rel_dir / name
        try:
            os.mknod(target, stat.S_IFCHR | 0o000, os.makedev(0, 0))
        except OSError as exc:
            if exc.errno != errno.EPERM:
                raise
            (self.out / rel_dir / f".wh.{name}").touch()

    def _diff(self, rel: str) -> None:
        here = self.root / rel
        if self.since is not None and os.stat(here, follow_symlinks=False).st_ctime_ns < self.since:
            self._untouched_dir(rel)
            return
        lower = self.view.listdir(rel)
        names = set(os.listdir(here))
        for name in sorted(set(lower) - names):
            self._whiteout(rel, name)
        for name in sorted(names):
            self._entry(rel, name, lower.get(name))

    def _untouched_dir(self, rel: str) -> None:
        """A directory no entry was added to or removed from since ``since``: compare the
        entries changed in place, walk into the others. (``DirEntry.stat`` is the kernel's
        own ``lstat``, without the metadata emulation's extended-attribute reads.)"""
        assert self.since is not None
        with os.scandir(self.root / rel) as entries:
            found = [(e.name, e.stat(follow_symlinks=False)) for e in entries]
        for name, st in sorted(found):
            child = f"{rel}/{name}" if rel else name
            if st.st_ctime_ns >= self.since:
                self._entry(rel, name, self.view.lookup(child))
            elif stat.S_ISDIR(st.st_mode):
                self._pending.append((True, child))

    def _entry(self, rel: str, name: str, lp: Path | None) -> None:
        """Compare ``rel/name`` in the root with ``lp``, what the layers have there."""
        here = self.root / rel
        child = f"{rel}/{name}" if rel else name
        st = os.lstat(here / name)
        lst = lstat(lp) if lp is not None else None
        if lp is None or lst is None:
            self._parents(rel)
            copy_tree(here / name, self.out / child)
        elif stat.S_ISDIR(st.st_mode) and stat.S_ISDIR(lst.st_mode):
            if _changed(st, lst, here / name, lp):
                self._parents(child)
            self._pending.append((False, child))
        elif _changed(st, lst, here / name, lp):
            self._parents(rel)
            copy_tree(here / name, self.out / child)

    def finish(self) -> None:
        for sub in reversed(self.made):
            copy_meta(os.lstat(self.root / sub), self.out / sub, self.root / sub)
        copy_meta(os.lstat(self.root), self.out, self.root)


def compute_upper(
    root: Path, lowers: tuple[Path, ...], upper: Path, scratch: Path, since: int | None = None
) -> None:
    """Rewrite ``upper`` as the overlay-form difference between ``root`` and ``lowers``.

    ``since``: the ctime (ns) of a file made after ``root`` was filled and before anything
    ran in it, to compare only what changed after it (see :class:`_Differ`); ``root`` must
    then hold exactly ``lowers`` at that time (``upper`` empty before the run)."""
    new = scratch / "upper.new"
    trees.remove_tree(new)
    new.mkdir()
    differ = _Differ(root, LowerView(lowers), new, since)
    differ.run()
    differ.finish()
    for name in os.listdir(upper):
        remove(upper / name)
    for name in os.listdir(new):
        os.rename(new / name, upper / name)
    copy_meta(os.lstat(new), upper, new)
    new.rmdir()
