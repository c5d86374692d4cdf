"""The entries one COPY/ADD adds, worked out in memory (:class:`LayerTree`) and written as the
layer tar straight from their sources — no file is created for a copied one.

:func:`build_copy` applies a :class:`~.plan.CopyPlan` over the image's layers by overlayfs'
rules (copy-up of parents, opaque directories over replaced ones, hard links); ADD extracts
local archives here too. :meth:`LayerTree.write_tar` streams the result into the store.

Where the two Docker builders differ, the classic builder of Docker 20.10 (what the tests
compare with) is followed, except that ``.`` as destination counts as a directory and setuid
bits survive, as with BuildKit (see :func:`build_copy`).
"""

from __future__ import annotations

import io
import lzma
import os
import posixpath
import shutil
import stat
import tarfile
import time
import zlib
from pathlib import Path
from typing import IO, TYPE_CHECKING

from ...errors import DockerfileError
from ...layer import BadMember, UnsafeLayer, check_member, clean_name
from ...layer.overlay import WHITEOUT_OPAQUE, XATTR_PAX, xattr_records
from ...layer.tarstream import TarWriter
from ...layer.view import LinkLoop, LowerView, follow_links
from ...trees import preorder
from .chown import Identity, resolve_chown
from .plan import CopyItem, CopyPlan, Where
from .sources import MAX_LINKS, SourceTree, open_archive

if TYPE_CHECKING:
    from ...chunks import Sink

__all__ = ["DirNode", "LayerTree", "Node", "build_copy", "write_copy_layer"]

_CHUNK = 1 << 20
_ROOT_ID = (0, 0)


def build_copy(
    plan: CopyPlan,
    tree: SourceTree,
    lower: LowerView,
    *,
    chown: str | None = None,
    chmod: str | None = None,
    spill: Path | None = None,
) -> LayerTree:
    """What ``plan`` copies over the image ``lower``, as the new layer's entries in memory.

    Docker's rules: a directory source copies its contents into the destination (created
    0755, owned by the ``--chown`` identity when new; an existing one keeps its metadata;
    directories merged below it take the source's mode); a file goes *into* a destination that
    is (or resolves through image symlinks to) a directory, else becomes it, replacing a file;
    parents that exist below are copied up with their metadata, new parents of a copied file
    are 0755 and owned by the ``--chown`` identity. Owners become 0:0 (``--from`` keeps them)
    unless ``--chown=user[:group]`` (the group defaults to the *name* given, as Docker's classic
    builder does); ``--chmod`` (octal) applies to every copied file and directory. ADD extracts
    local tar archives (gzip, bzip2, xz) keeping the archive's owners; ``.wh.`` names in them
    are ordinary files, and their files' data is written to ``spill`` (a scratch dir).

    Nothing is written for the copied files themselves: :meth:`LayerTree.write_tar` streams
    them from their sources into the layer, so a COPY of many files creates none on disk.
    Raises :class:`DockerfileError`.
    """
    where = plan.where
    layer = LayerTree(lower, where, spill)
    mode = _parse_chmod(chmod, where)
    try:
        identity = resolve_chown(chown, layer.read_resolved, where) if chown else None
        for item in plan.items:
            layer.copy_item(plan, item, tree, identity, mode)
    except OSError as exc:
        raise _copy_failed(plan, exc) from None
    return layer


def write_copy_layer(
    plan: CopyPlan, layer: LayerTree, out: Sink, source_date_epoch: int | None = None
) -> int:
    """:meth:`LayerTree.write_tar` with a source that went away reported as the step's error."""
    try:
        return layer.write_tar(out, source_date_epoch)
    except OSError as exc:
        raise _copy_failed(plan, exc) from None


def _copy_failed(plan: CopyPlan, exc: OSError) -> DockerfileError:
    reason = exc.strerror or str(exc)
    name = f" {exc.filename}" if exc.filename else ""
    return plan.where.error(f"{plan.keyword} failed:{name}: {reason}")


def _parse_chmod(chmod: str | None, where: Where) -> int | None:
    if chmod is None:
        return None
    try:
        value = int(chmod, 8)
    except ValueError:
        value = -1
    if not 0 <= value <= 0o7777:
        raise where.error(f"invalid --chmod={chmod}: give an octal mode such as 0755")
    return value


class Node:
    """One entry of the new layer. ``fmt`` is its file type (``stat.S_IFREG``…); a regular
    file's data comes from ``source`` (a file, read when the tar is written) or ``data``;
    ``mtime_ns`` None means "when the layer is made" (a directory something was added to, a
    new file). Hard links are one Node under several names."""

    __slots__ = (
        "data",
        "fmt",
        "gid",
        "linkname",
        "mode",
        "mtime_ns",
        "pax",
        "rdev",
        "source",
        "uid",
    )

    def __init__(self, fmt: int, mode: int, owner: tuple[int, int]) -> None:
        self.fmt = fmt
        self.mode = mode
        self.uid, self.gid = owner
        self.mtime_ns: int | None = None
        self.source: Path | str | None = None
        self.data: bytes | None = None
        self.linkname = ""
        self.rdev = 0
        self.pax: dict[str, str] = {}  # extended attributes as PAX records

    def copy_meta(self, st: os.stat_result, path: Path | str) -> None:
        """Owner, mode, times and extended attributes of the image's entry ``path``."""
        self.uid, self.gid = st.st_uid, st.st_gid
        self.mode = stat.S_IMODE(st.st_mode)
        self.mtime_ns = st.st_mtime_ns
        self.pax = xattr_records(path)


class DirNode(Node):
    """A directory; ``opaque`` hides what the image has below it (a new directory over one)."""

    __slots__ = ("children", "opaque")

    def __init__(self, mode: int, owner: tuple[int, int], opaque: bool = False) -> None:
        super().__init__(stat.S_IFDIR, mode, owner)
        self.children: dict[str, Node] = {}
        self.opaque = opaque


# What the merged view finds at a path: a Node of this layer, the path of the image's entry,
# or None.
Found = Node | Path | None


class LayerTree:
    """The entries one COPY/ADD adds over the image ``lower``, kept as overlayfs would keep
    them in an upper dir: parents found below are copied up with their metadata; a new
    directory over something ``lower`` has is opaque; replacing an entry drops only what this
    layer had (the new entry hides the lower one). :meth:`write_tar` writes it as a layer."""

    def __init__(self, lower: LowerView, where: Where, spill: Path | None = None) -> None:
        self.lower = lower
        self.where = where
        self.spill = spill
        self.root = DirNode(0o755, _ROOT_ID)
        self.links: dict[tuple[int, int], Node] = {}
        self._spilled = 0

    # -------------------------------------------------------------- the merged view

    def _walk_to(self, rel: str) -> tuple[Node | None, bool]:
        """(this layer's node at ``rel``, whether the image's entries there still show)."""
        node: Node = self.root
        below = True
        for part in [p for p in rel.split("/") if p]:
            if not isinstance(node, DirNode):
                return None, False  # a non-directory of this layer hides all below it
            if node.opaque:
                below = False
            child = node.children.get(part)
            if child is None:
                return None, below
            node = child
        return node, below

    def find(self, rel: str) -> Found:
        node, below = self._walk_to(rel)
        if node is not None:
            return node
        return self.lower.lookup(rel) if below else None

    def fmt(self, rel: str) -> int | None:
        """The file type at ``rel`` in the merged view (``stat.S_IFDIR``…), None if absent."""
        found = self.find(rel)
        if found is None:
            return None
        if isinstance(found, Node):
            return found.fmt
        return stat.S_IFMT(os.lstat(found).st_mode)

    def is_dir(self, rel: str) -> bool:
        return self.fmt(rel) == stat.S_IFDIR

    def read_resolved(self, rel: str) -> bytes | None:
        """The content of the regular file ``rel`` resolves to (image symlinks followed)."""
        return self.read(self.resolve(rel))

    def read(self, rel: str) -> bytes | None:
        """The content of the regular file at ``rel`` in the merged view, or None."""
        found = self.find(rel)
        try:
            if isinstance(found, Node):
                if found.fmt != stat.S_IFREG:
                    return None
                if found.data is not None:
                    return found.data
                found = Path(found.source) if found.source is not None else None
            if found is None or not stat.S_ISREG(os.lstat(found).st_mode):
                return None
            return found.read_bytes()
        except OSError:
            return None

    def _link_target(self, rel: str) -> str | None:
        found = self.find(rel)
        if isinstance(found, Node):
            return found.linkname if found.fmt == stat.S_IFLNK else None
        if found is not None and stat.S_ISLNK(os.lstat(found).st_mode):
            return os.readlink(found)
        return None

    def resolve(self, rel: str, scope: str = "") -> str:
        """``scope``/``rel`` with the image's symlinks followed, confined to ``scope`` (like a
        chroot there); missing components are kept as written."""
        try:
            return follow_links(rel, self._link_target, floor=scope, max_links=MAX_LINKS)
        except LinkLoop:
            path = "/" + rel.lstrip("/")
            raise self.where.error(f"too many levels of symbolic links in {path}") from None

    # -------------------------------------------------------------- making entries

    def _parent(self, rel: str) -> tuple[DirNode, str]:
        """The directory node holding ``rel`` (which :meth:`ensure_dir` made) and its name."""
        head, name = posixpath.split(rel)
        node, _ = self._walk_to(head)
        assert isinstance(node, DirNode), rel
        node.mtime_ns = None  # adding an entry changes a directory's mtime
        return node, name

    def put(self, rel: str, node: Node) -> Node:
        """Place ``node`` at ``rel`` (its parent exists), replacing what this layer had."""
        parent, name = self._parent(rel)
        parent.children[name] = node
        return node

    def _new_dir(self, rel: str, mode: int, owner: tuple[int, int]) -> DirNode:
        below = self.lower.lookup(rel)
        opaque = below is not None and stat.S_ISDIR(os.lstat(below).st_mode)
        node = DirNode(mode, owner, opaque)
        self.put(rel, node)
        return node

    def clear(self, rel: str) -> None:
        """Drop what this layer has at ``rel`` (with all below it)."""
        head, name = posixpath.split(rel)
        node, _ = self._walk_to(head)
        if isinstance(node, DirNode):
            node.children.pop(name, None)

    def ensure_dir(self, rel: str, owner: tuple[int, int], mode: int = 0o755) -> bool:
        """Make directory ``rel`` (already resolved) exist in the merged view; True when the
        last component was created (with ``owner``/``mode``, like every new parent)."""
        parts = [p for p in rel.split("/") if p]
        created = False
        for depth in range(1, len(parts) + 1):
            sub = "/".join(parts[:depth])
            mine, _ = self._walk_to(sub)
            created = False
            if isinstance(mine, DirNode):
                continue
            found = self.find(sub)
            if isinstance(found, Path):
                st = os.lstat(found)
                if stat.S_ISDIR(st.st_mode):
                    node = DirNode(0o755, _ROOT_ID)  # copy-up
                    node.copy_meta(st, found)  # its mtime changes once something is added
                    self.put(sub, node)
                    continue
            if found is not None:
                raise self.where.error(
                    f"cannot create directory /{sub}: the image has a file there (not a "
                    "directory); choose another destination"
                )
            self._new_dir(sub, mode, owner)
            created = True
        return created

    def place_dir(self, rel: str) -> DirNode:
        """A directory at ``rel`` for a copied or extracted one: merged with an existing
        directory (copied up), replacing anything else."""
        if self.is_dir(rel):
            self.ensure_dir(rel, _ROOT_ID)
            node, _ = self._walk_to(rel)
            assert isinstance(node, DirNode)
            return node
        self.clear(rel)
        return self._new_dir(rel, 0o755, _ROOT_ID)

    def copy_item(
        self,
        plan: CopyPlan,
        item: CopyItem,
        tree: SourceTree,
        identity: Identity | None,
        chmod: int | None,
    ) -> None:
        ident = (identity.uid, identity.gid) if identity else _ROOT_ID
        target = self.resolve(plan.dest)
        kind = self.fmt(target)
        is_dir = kind == stat.S_IFDIR
        if item.is_dir or item.archive:
            if kind is not None and not is_dir:
                raise self.where.error(
                    f"{plan.keyword} {item.name}: cannot copy a directory onto the file "
                    f"{plan.dest}; remove it first or choose a directory"
                )
            self.ensure_dir(posixpath.dirname(target), _ROOT_ID)
            if item.archive:
                self.ensure_dir(target, _ROOT_ID)
                source = tree.lookup(item.rel)
                assert source is not None
                self._extract(source, target, item.name)
                return
            self.ensure_dir(target, ident, 0o755 if chmod is None else chmod)
            self._copy_tree(tree, item.rel, target, identity, chmod)
            return
        if plan.dest_dir or is_dir:
            target = posixpath.join(target, item.name)
        self.ensure_dir(posixpath.dirname(target), ident)
        if item.kind == "heredoc":
            node = self.put(target, Node(stat.S_IFREG, 0o644 if chmod is None else chmod, ident))
            node.data = item.content.encode("utf-8", "surrogateescape")
        elif item.kind == "fetched":
            node = self.put(target, Node(stat.S_IFREG, 0o600 if chmod is None else chmod, ident))
            node.source = item.local
            node.mtime_ns = None if item.mtime is None else int(item.mtime * 1e9)
        elif item.kind == "url":
            raise ValueError(f"fetch {item.url} before applying the copy")
        else:
            source = tree.lookup(item.rel)
            assert source is not None
            self._copy_node(source, os.stat(source), target, tree, identity, chmod)

    def _copy_tree(
        self,
        tree: SourceTree,
        src_rel: str,
        dst_rel: str,
        identity: Identity | None,
        chmod: int | None,
    ) -> None:
        """Copy what is below ``src_rel`` to ``dst_rel``, however deep (no recursion); each
        directory gets its own time once everything is in it."""

        def below(pair: tuple[str, str]) -> list[tuple[str, str]]:
            src, dst = pair
            names = tree.listdir(src)
            return [(f"{src}/{n}" if src else n, f"{dst}/{n}" if dst else n) for n in names]

        directories: set[tuple[str, str]] = set()
        dir_times: list[tuple[Node, int]] = []
        walk = preorder(below((src_rel, dst_rel)), lambda p: below(p) if p in directories else ())
        for src, dst in walk:
            path = tree.lookup(src)
            if path is None:
                continue
            st = os.lstat(path)
            if not stat.S_ISDIR(st.st_mode):
                self._copy_node(path, st, dst, tree, identity, chmod)
                continue
            made = self.place_dir(dst)
            made.uid, made.gid = self._owner(st, tree, identity)
            made.mode = _mode(st, chmod)
            directories.add((src, dst))
            dir_times.append((made, st.st_mtime_ns))
        for node, mtime_ns in reversed(dir_times):
            node.mtime_ns = mtime_ns

    def _owner(
        self, st: os.stat_result, tree: SourceTree, identity: Identity | None
    ) -> tuple[int, int]:
        if identity is not None:
            return identity.uid, identity.gid
        return (st.st_uid, st.st_gid) if tree.keep_owners else _ROOT_ID

    def _copy_node(
        self,
        src: Path,
        st: os.stat_result,
        rel: str,
        tree: SourceTree,
        identity: Identity | None,
        chmod: int | None,
    ) -> None:
        fmt = stat.S_IFMT(st.st_mode)
        if fmt == stat.S_IFSOCK:
            self.clear(rel)
            return  # sockets are not copied
        key = (st.st_dev, st.st_ino)
        if fmt == stat.S_IFREG and st.st_nlink > 1 and key in self.links:
            self.put(rel, self.links[key])
            return
        # A symlink's own mode is always 0777; chmod does not reach it.
        mode = 0o777 if fmt == stat.S_IFLNK else _mode(st, chmod)
        node = self.put(rel, Node(fmt, mode, self._owner(st, tree, identity)))
        node.mtime_ns = st.st_mtime_ns
        if fmt == stat.S_IFREG:
            node.source = src
            if st.st_nlink > 1:
                self.links[key] = node
        elif fmt == stat.S_IFLNK:
            node.linkname = os.readlink(src)
        elif fmt in (stat.S_IFCHR, stat.S_IFBLK):
            node.rdev = st.st_rdev
        if tree.keep_owners:
            node.pax = xattr_records(src)

    def _extract(self, archive: Path, target: str, name: str) -> None:
        """Unpack a tar into directory ``target`` as Docker's ``UntarPath`` does (chrooted
        there): owners, modes and times from the archive, whiteout names not special. An
        archive that breaks off or is corrupt past its first entry is a DockerfileError."""
        try:
            self._extract_entries(archive, target, name)
        except (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, OSError) as exc:
            if isinstance(exc, OSError) and exc.errno is not None:
                raise  # a real I/O error (disk full)
            raise self.where.error(
                f"ADD {name}: the archive cannot be read ({exc or 'it ends early'}); give a "
                "complete tar archive"
            ) from None

    def _extract_entries(self, archive: Path, target: str, name: str) -> None:
        dir_times: list[tuple[DirNode, int]] = []
        with open_archive(archive) as tar:
            for member in tar:
                entry = posixpath.normpath("/" + member.name).lstrip("/")
                if posixpath.normpath(member.name.lstrip("/")).startswith("../"):
                    raise self.where.error(
                        f"ADD {name}: archive entry {member.name!r} points outside the "
                        "destination; the archive is unsafe"
                    )
                try:  # what the layer's own checks would refuse later, said here with the ADD
                    check_member(member)
                    clean_name(entry, "the archive")
                except BadMember as exc:
                    raise self.where.error(
                        f"ADD {name}: {exc}; rebuild the archive without that entry"
                    ) from None
                except UnsafeLayer as exc:
                    raise self.where.error(f"ADD {name}: {exc}") from None
                if not entry:
                    continue
                parent = self.resolve(posixpath.dirname(entry), scope=target)
                self.ensure_dir(parent, _ROOT_ID)
                rel = posixpath.join(parent, posixpath.basename(entry))
                node: Node
                if member.isdir():
                    made = self.place_dir(rel)
                    dir_times.append((made, int(member.mtime) * 10**9))
                    node = made
                else:
                    node = self._extract_node(tar, member, rel, target)
                    node.mtime_ns = int(member.mtime * 1e9)
                node.uid, node.gid = member.uid, member.gid
                if not member.issym():
                    node.mode = member.mode & 0o7777
                node.pax = {k: v for k, v in member.pax_headers.items() if k.startswith(XATTR_PAX)}
        for node, mtime_ns in reversed(dir_times):
            node.mtime_ns = mtime_ns

    def _extract_node(
        self, tar: tarfile.TarFile, member: tarfile.TarInfo, rel: str, target: str
    ) -> Node:
        if member.islnk():
            link = posixpath.normpath("/" + member.linkname).lstrip("/")
            link_rel = self.resolve(link, scope=target)
            mine, _ = self._walk_to(link_rel)
            if mine is None:
                below = self.find(link_rel)
                if not isinstance(below, Path):
                    raise self.where.error(
                        f"archive entry {member.name!r} links to {member.linkname!r}, "
                        "which is not there; the archive is broken"
                    )
                self.ensure_dir(posixpath.dirname(link_rel), _ROOT_ID)  # copy it up
                mine = self._image_node(below)
                self.put(link_rel, mine)
            return self.put(rel, mine)
        if member.issym():
            node = Node(stat.S_IFLNK, 0o777, _ROOT_ID)
            node.linkname = member.linkname
        elif member.ischr() or member.isblk():
            node = Node(stat.S_IFCHR if member.ischr() else stat.S_IFBLK, 0o600, _ROOT_ID)
            node.rdev = os.makedev(member.devmajor, member.devminor)
        elif member.isfifo():
            node = Node(stat.S_IFIFO, 0o600, _ROOT_ID)
        else:
            node = Node(stat.S_IFREG, 0o600, _ROOT_ID)
            data = tar.extractfile(member) if member.isreg() else None
            if data is None or member.size == 0:
                node.data = b""
            else:
                node.source = self._spill(data)
        return self.put(rel, node)

    def _image_node(self, path: Path) -> Node:
        """A copy of the image's (non-directory) entry ``path``, for this layer."""
        st = os.lstat(path)
        node = Node(stat.S_IFMT(st.st_mode), 0, _ROOT_ID)
        node.copy_meta(st, path)
        if stat.S_ISREG(st.st_mode):
            node.source = path
        elif stat.S_ISLNK(st.st_mode):
            node.linkname = os.readlink(path)
        else:
            node.rdev = st.st_rdev
        return node

    def _spill(self, data: IO[bytes]) -> Path:
        """An archive member's data, kept in a scratch file until the layer is written."""
        if self.spill is None:
            raise ValueError("extracting an archive needs a spill directory")
        self.spill.mkdir(parents=True, exist_ok=True)
        self._spilled += 1
        path = self.spill / f"{self._spilled:08d}"
        with open(path, "xb") as out:
            shutil.copyfileobj(data, out, _CHUNK)
        return path

    # -------------------------------------------------------------- the layer tar

    def write_tar(self, out: Sink, source_date_epoch: int | None = None) -> int:
        """Write the layer as a tar to ``out`` (parents first, names sorted, as
        :func:`~nbdocker.engine.layer.diff.write_diff` orders an upper dir); return the size of
        its files. ``source_date_epoch`` clamps every time to it."""
        now = time.time_ns()
        tar = TarWriter(out)
        first_name: dict[int, str] = {}  # hard links: the node's first name in the tar
        content = 0

        def entries(item: tuple[str, Node]) -> list[tuple[str, Node]]:
            rel, directory = item
            if not isinstance(directory, DirNode):
                return []
            prefix = rel + "/" if rel else ""
            children = directory.children
            return [(prefix + name, children[name]) for name in sorted(children)]

        def add_all() -> None:  # parents first, however deep (no recursion)
            nonlocal content
            for rel, node in preorder(entries(("", self.root)), entries):
                info = tarfile.TarInfo(rel)
                mtime = (now if node.mtime_ns is None else node.mtime_ns) // 10**9
                info.mtime = mtime if source_date_epoch is None else min(mtime, source_date_epoch)
                info.mode, info.uid, info.gid = node.mode, node.uid, node.gid
                info.pax_headers = dict(node.pax)
                if id(node) in first_name:
                    info.type = tarfile.LNKTYPE
                    info.linkname = first_name[id(node)]
                    tar.add(info)
                elif isinstance(node, DirNode):
                    info.type = tarfile.DIRTYPE
                    tar.add(info)
                    if node.opaque:
                        opq = tarfile.TarInfo(posixpath.join(rel, WHITEOUT_OPAQUE))
                        opq.mtime = info.mtime
                        tar.add(opq)
                elif node.fmt == stat.S_IFREG:
                    first_name[id(node)] = rel
                    if node.data is not None:
                        info.size = len(node.data)
                        tar.add(info, io.BytesIO(node.data))
                    else:
                        assert node.source is not None
                        with open(node.source, "rb") as f:
                            info.size = os.fstat(f.fileno()).st_size
                            tar.add(info, f)
                    content += info.size
                elif node.fmt == stat.S_IFLNK:
                    info.type = tarfile.SYMTYPE
                    info.linkname = node.linkname
                    tar.add(info)
                elif node.fmt in (stat.S_IFCHR, stat.S_IFBLK):
                    info.type = tarfile.CHRTYPE if node.fmt == stat.S_IFCHR else tarfile.BLKTYPE
                    info.devmajor, info.devminor = os.major(node.rdev), os.minor(node.rdev)
                    tar.add(info)
                elif node.fmt == stat.S_IFIFO:
                    info.type = tarfile.FIFOTYPE
                    tar.add(info)

        add_all()
        tar.close()
        return content


def _mode(st: os.stat_result, chmod: int | None) -> int:
    return stat.S_IMODE(st.st_mode) if chmod is None else chmod
