"""COPY and ADD: which files a step copies, a digest of them, and writing them into a layer.

Stdlib only, and only stdlib-only engine modules imported relatively, so that the same code
runs in-process (as root) and inside a user namespace through ``userns.spawn("builder.copy")``
(:func:`main` reads a JSON job on stdin) for rootless builds.

- :class:`ContextTree` (the build context, ``.dockerignore`` honoured) and :class:`ImageTree`
  (an image's merged layers, for ``COPY --from``) are the two read-only :class:`SourceTree`\\ s.
- :func:`plan_copy` resolves sources and destination by Docker's rules into a :class:`CopyPlan`;
  every user mistake (no match, path outside the context, several sources into a file) is a
  one-line :class:`DockerfileError` naming ``Dockerfile:line``, raised before anything is written.
- :func:`source_digest` hashes what the plan copies (names, types, modes, link targets,
  contents — never mtimes) for the build cache.
- :func:`apply_copy` writes the result into an overlay upper dir as overlayfs would after the
  copy. On error the upper dir may be half written: the caller discards it.

Where the two Docker builders differ, the classic builder of Docker 20.10 (what the tests
compare with) is followed, except that ``.`` as destination counts as a directory and setuid
bits survive, as with BuildKit (see :func:`apply_copy`).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import posixpath
import shutil
import stat
import sys
import tarfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from ..errors import DockerfileError
from ..sandbox._view import LowerView, copy_meta, copy_node
from ..tardiff import set_xattrs
from .dockerignore import IgnoreRules, compile_glob

__all__ = [
    "ContextTree",
    "CopyItem",
    "CopyPlan",
    "ImageTree",
    "SourceTree",
    "Where",
    "apply_copy",
    "main",
    "plan_copy",
    "source_digest",
    "source_entries",
]

_WILDCARDS = "*?["
_MAX_LINKS = 255
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Where:
    """The instruction's place, for error messages: ``path:line``."""

    path: str = "Dockerfile"
    line: int | None = None

    def error(self, message: str) -> DockerfileError:
        return DockerfileError(message, self.path, self.line)


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


@dataclass(frozen=True)
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


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class CopyItem:
    """One thing to copy. ``kind``: ``path`` (``rel`` in the tree), ``heredoc`` (``content``),
    ``url`` (not fetched yet) or ``fetched`` (``local`` file, ``mtime`` from the server).
    ``name`` is the file name used when the destination is a directory; ``is_dir`` copies the
    directory's contents; ``archive`` (ADD) extracts it."""

    kind: str
    name: str
    rel: str = ""
    is_dir: bool = False
    archive: bool = False
    content: str = ""
    url: str = ""
    checksum: str | None = None
    local: str = ""
    mtime: float | None = None


@dataclass(frozen=True)
class CopyPlan:
    """What one COPY/ADD does. ``dest`` is absolute and clean; ``dest_dir`` when the
    destination was written as a directory (trailing ``/``, ``.``)."""

    items: tuple[CopyItem, ...]
    dest: str
    dest_dir: bool
    is_add: bool
    where: Where = Where()

    @property
    def keyword(self) -> str:
        return "ADD" if self.is_add else "COPY"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CopyPlan:
        items = tuple(CopyItem(**i) for i in data["items"])
        return cls(items, data["dest"], data["dest_dir"], data["is_add"], Where(**data["where"]))


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def _is_git(source: str) -> bool:
    if source.startswith(("git://", "git@", "ssh://")):
        return True
    return is_url(source) and source.split("#", 1)[0].split("?", 1)[0].endswith(".git")


def _has_wildcards(path: str) -> bool:
    escaped = False
    for ch in path:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch in _WILDCARDS:
            return True
    return False


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
            if links > _MAX_LINKS:
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


def _glob(tree: SourceTree, pattern: str) -> list[str]:
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


def _item_for(tree: SourceTree, named: str, is_add: bool, where: Where) -> CopyItem:
    rel = resolve_in(tree, named)
    path = tree.lookup(rel) if rel is not None else None
    if rel is None or path is None:
        raise where.error(
            f"{named or '.'}: not found in the {tree.label} (or excluded by .dockerignore); "
            "check the path and .dockerignore"
        )
    st = os.stat(path)
    name = posixpath.basename(named) or "."
    if stat.S_ISDIR(st.st_mode):
        return CopyItem("path", name, rel=rel, is_dir=True)
    archive = is_add and stat.S_ISREG(st.st_mode) and _is_archive(path)
    return CopyItem("path", name, rel=rel, archive=archive)


def _is_archive(path: Path) -> bool:
    try:
        with open_archive(path) as tar:
            return tar.next() is not None
    except Exception:  # noqa: BLE001 - anything unreadable is simply not an archive
        return False


def plan_copy(
    sources: Sequence[str],
    dest: str,
    *,
    workdir: str,
    tree: SourceTree,
    is_add: bool,
    where: Where,
    heredocs: Sequence[tuple[str, str]] = (),
    checksum: str | None = None,
    keep_git_dir: bool = False,
    context_bound: bool = True,
) -> CopyPlan:
    """Resolve ``sources`` (and heredoc ``(name, body)`` pairs) against ``tree`` by Docker's
    rules. ``context_bound``: a source climbing out with ``..`` is an error (the build
    context) rather than clamped at the root (an image). Raises :class:`DockerfileError`."""
    keyword = "ADD" if is_add else "COPY"
    if keep_git_dir:
        raise where.error(f"{keyword} --keep-git-dir is not supported yet; clone in a RUN step")
    items: list[CopyItem] = []
    for source in sources:
        if _is_git(source):
            raise where.error(f"{keyword} {source}: git sources are not supported yet")
        if is_url(source):
            if not is_add:
                raise where.error(f"COPY {source}: source can't be a URL for COPY; use ADD")
            name = posixpath.basename(source.split("#", 1)[0].split("?", 1)[0].rstrip("/"))
            items.append(CopyItem("url", name or "__unnamed__", url=source, checksum=checksum))
            continue
        rel = posixpath.normpath(source.lstrip("/") or ".")
        if rel == ".." or rel.startswith("../"):
            if context_bound:
                raise where.error(
                    f"forbidden path outside the build context: {source}; "
                    "only files inside the context can be copied"
                )
            rel = posixpath.normpath("/" + rel).lstrip("/") or "."
        rel = "" if rel == "." else rel
        if _has_wildcards(rel):
            matches = _glob(tree, rel)
            if not matches:
                raise where.error(
                    f"{source}: no source files were specified (no match in the {tree.label}, "
                    "or excluded by .dockerignore)"
                )
            items.extend(_item_for(tree, m, is_add, where) for m in matches)
        else:
            items.append(_item_for(tree, rel, is_add, where))
    items.extend(CopyItem("heredoc", name, content=body) for name, body in heredocs)
    if checksum is not None and any(i.kind != "url" for i in items):
        raise where.error("ADD --checksum can only be used with an http(s) source")
    if not items:
        raise where.error(f"{keyword} needs at least one source")
    dest_dir = dest.endswith("/") or dest in ("", ".") or dest.endswith("/.")
    if len(items) > 1 and not dest_dir:
        raise where.error(
            f"When using {keyword} with more than one source file, the destination must be a "
            "directory and end with a /"
        )
    full = dest if dest.startswith("/") else posixpath.join("/", workdir or "/", dest)
    return CopyPlan(tuple(items), posixpath.normpath(full), dest_dir, is_add, where)


def _walk(tree: SourceTree, rel: str) -> list[tuple[str, Path, os.stat_result]]:
    out: list[tuple[str, Path, os.stat_result]] = []
    for name in tree.listdir(rel):
        child = f"{rel}/{name}" if rel else name
        path = tree.lookup(child)
        if path is None:
            continue
        st = os.lstat(path)
        out.append((child, path, st))
        if stat.S_ISDIR(st.st_mode):
            out.extend(_walk(tree, child))
    return out


def _hash_file(path: Path | str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _describe(name: str, path: Path, st: os.stat_result, owners: bool) -> str:
    mode = stat.S_IMODE(st.st_mode)
    owner = f" {st.st_uid}:{st.st_gid}" if owners else ""
    if stat.S_ISLNK(st.st_mode):
        return f"l {name} {os.readlink(path)}{owner}"
    if stat.S_ISDIR(st.st_mode):
        return f"d {name} {mode:o}{owner}"
    if stat.S_ISREG(st.st_mode):
        return f"f {name} {mode:o}{owner} {_hash_file(path)}"
    return f"o {name} {stat.S_IFMT(st.st_mode):o} {mode:o}{owner} {st.st_rdev}"


def source_entries(plan: CopyPlan, tree: SourceTree) -> list[tuple[str, str]]:
    """(path, description) for everything the plan copies: each path's name, type, mode,
    owner (images only), link target and content — never times. ``path`` names it for people
    (the context-relative path, ``<<EOF`` for a heredoc, the URL). A ``url`` item needs fetching
    first unless it has a ``--checksum`` (which then stands for its content); else ValueError."""
    out: list[tuple[str, str]] = []
    for item in plan.items:
        head = f"item {item.kind} {item.name} dir={item.is_dir} archive={item.archive}"
        if item.kind == "heredoc":
            out.append(
                (f"<<{item.name}", f"{head} {hashlib.sha256(item.content.encode()).hexdigest()}")
            )
        elif item.kind == "url":
            if item.checksum is None:
                raise ValueError(f"fetch {item.url} before computing its digest")
            out.append((item.url, f"{head} {item.checksum}"))
        elif item.kind == "fetched":
            out.append((item.url or item.name, f"{head} {_hash_file(item.local)} {item.mtime}"))
        else:
            path = tree.lookup(item.rel)
            assert path is not None, item.rel
            st = os.stat(path)
            out.append((item.rel or ".", f"{head} {_describe('.', path, st, tree.keep_owners)}"))
            if item.is_dir:
                out.extend(
                    (
                        rel,
                        _describe(posixpath.relpath(rel, item.rel or "."), p, s, tree.keep_owners),
                    )
                    for rel, p, s in _walk(tree, item.rel)
                )
    return out


def source_digest(plan: CopyPlan, tree: SourceTree) -> str:
    """``sha256:…`` over :func:`source_entries`: touching a file keeps the cache, editing it
    does not."""
    digest = hashlib.sha256()
    for _, line in source_entries(plan, tree):
        digest.update(line.encode("utf-8", "surrogateescape") + b"\n")
    return "sha256:" + digest.hexdigest()


def apply_copy(
    plan: CopyPlan,
    tree: SourceTree,
    upper: Path,
    lower: LowerView,
    *,
    chown: str | None = None,
    chmod: str | None = None,
    opaque_xattr: str = "trusted.overlay.opaque",
) -> None:
    """Write what ``plan`` copies into the overlay ``upper`` dir over ``lower``.

    Docker's rules: a directory source copies its contents into the destination (created
    0755, owned by the ``--chown`` identity when new; an existing one keeps its metadata;
    directories merged below it take the source's mode); a file goes *into* a destination that
    is (or resolves through image symlinks to) a directory, else becomes it, replacing a file;
    parents that exist below are copied up with their metadata, new parents of a copied file
    are 0755 and owned by the ``--chown`` identity. Owners become 0:0 (``--from`` keeps them)
    unless ``--chown=user[:group]`` (the group defaults to the *name* given, as Docker's classic
    builder does); ``--chmod`` (octal) applies to every copied file and directory. ADD extracts
    local tar archives (gzip, bzip2, xz) keeping the archive's owners; ``.wh.`` names in them
    are ordinary files. Raises :class:`DockerfileError`; on error the upper dir is half
    written and must be discarded.
    """
    where = plan.where
    writer = Writer(upper, lower, opaque_xattr, where)
    mode = _parse_chmod(chmod, where)
    identity: Identity | None = resolve_chown(chown, writer, where) if chown else None
    try:
        for item in plan.items:
            writer.copy_item(plan, item, tree, identity, mode)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        name = f" {exc.filename}" if exc.filename else ""
        raise where.error(f"{plan.keyword} failed:{name}: {reason}") from None


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


# ---------------------------------------------------------------- writing into the upper dir

_ROOT_ID = (0, 0)
_FICLONE = 0x40049409
_XATTR_PAX = "SCHILY.xattr."


@dataclass(frozen=True)
class Identity:
    """The owner ``--chown`` asks for."""

    uid: int
    gid: int


def _rows(path: Path | None) -> list[list[str]]:
    if path is None:
        return []
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return [line.split(":") for line in text.splitlines() if line and not line.startswith("#")]


def resolve_chown(spec: str, writer: Writer, where: Where) -> Identity:
    """``user[:group]`` (names or numbers) in the destination image's ``/etc/passwd`` and
    ``/etc/group``; without ``:group`` the group of the same name (or number) is used, as in
    Docker's classic builder. An unknown name is a :class:`DockerfileError`."""
    user, sep, group = spec.partition(":")
    if not sep:
        group = user
    if not user or not group:
        raise where.error(f"invalid --chown={spec}: give user[:group], by name or number")

    def find(kind: str, name: str, file: str, column: int) -> int:
        if name.isdigit():
            return int(name)
        path = writer.real(writer.resolve(f"etc/{file}"))
        for row in _rows(path):
            if len(row) > column and row[0] == name and row[column].isdigit():
                return int(row[column])
        raise where.error(
            f"--chown={spec}: unable to find {kind} {name}: no matching entries in the "
            f"image's /etc/{file}; create the {kind} first or use a numeric id"
        )

    return Identity(find("user", user, "passwd", 2), find("group", group, "group", 2))


def open_archive(path: Path) -> tarfile.TarFile:
    """``path`` as a streamed tar, plain or gzip/bzip2/xz-compressed (detected by content)."""
    return tarfile.open(path, mode="r|*", bufsize=_CHUNK)


_SMALL = 1 << 16  # files up to this size are copied with one read and one write
_reflinks = {"ok": True}  # cleared once the file system refuses a reflink


def _copy_data(src: Path | str, dst: Path) -> None:
    """Stream ``src`` into the new file ``dst``: small files with one read and one write; big
    ones as a reflink when the file system can, else ``copy_file_range``, else plain reads and
    writes — never the whole of a big file in memory."""
    fin = os.open(src, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        fout = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            size = os.fstat(fin).st_size
            if size <= _SMALL:
                data = os.read(fin, _SMALL + 1)
                while data:
                    written = os.write(fout, data)
                    data = data[written:] or os.read(fin, _SMALL + 1)
                return
            if _reflinks["ok"]:
                try:
                    fcntl.ioctl(fout, _FICLONE, fin)
                    return
                except OSError:
                    _reflinks["ok"] = False  # (ext4 and the like): don't ask again
            try:
                first = os.copy_file_range(fin, fout, _CHUNK * 64)
            except OSError:
                first = -1
            if first >= 0:
                while os.copy_file_range(fin, fout, _CHUNK * 64):
                    pass
                return
            with open(fin, "rb", closefd=False) as r, open(fout, "wb", closefd=False) as w:
                shutil.copyfileobj(r, w, _CHUNK)
        finally:
            os.close(fout)
    finally:
        os.close(fin)


class Writer:
    """Puts entries into ``upper`` as overlayfs would: the merged view is ``lower`` under
    ``upper``; parents found below are copied up with their metadata; a new directory over
    something ``lower`` has is made opaque; replacing an entry removes only what ``upper``
    had (a new entry there hides the lower one)."""

    def __init__(self, upper: Path, lower: LowerView, opaque_xattr: str, where: Where) -> None:
        self.upper = upper
        self.lower = lower
        self.opaque_xattr = opaque_xattr
        self.where = where
        self.merged = LowerView((*reversed(lower.top_first), upper))
        self.links: dict[tuple[int, int], Path] = {}

    # -------------------------------------------------------------- the merged view

    def real(self, rel: str) -> Path | None:
        return self.upper if not rel else self.merged.lookup(rel)

    def stat(self, rel: str) -> os.stat_result | None:
        path = self.real(rel)
        return os.lstat(path) if path is not None else None

    def resolve(self, rel: str, scope: str = "") -> str:
        """``scope``/``rel`` with the image's symlinks followed, confined to ``scope`` (like a
        chroot there); missing components are kept as written."""
        floor = [p for p in scope.split("/") if p]
        done = list(floor)
        pending = [p for p in rel.split("/") if p]
        links = 0
        while pending:
            part = pending.pop(0)
            if part == ".":
                continue
            if part == "..":
                if len(done) > len(floor):
                    done.pop()
                continue
            candidate = "/".join([*done, part])
            path = self.real(candidate)
            if path is not None and stat.S_ISLNK(os.lstat(path).st_mode):
                links += 1
                if links > _MAX_LINKS:
                    raise self.where.error(f"too many levels of symbolic links in /{rel}")
                target = os.readlink(path)
                if target.startswith("/"):
                    done = list(floor)
                pending = [p for p in target.split("/") if p] + pending
                continue
            done.append(part)
        return "/".join(done)

    # -------------------------------------------------------------- making entries

    def _new_dir(self, rel: str, mode: int, owner: tuple[int, int]) -> Path:
        path = self.upper / rel
        os.mkdir(path, 0o700)
        below = self.lower.lookup(rel)
        if below is not None and stat.S_ISDIR(os.lstat(below).st_mode):
            os.setxattr(path, self.opaque_xattr, b"y")
        os.lchown(path, *owner)
        os.chmod(path, mode)
        return path

    def clear(self, rel: str) -> None:
        """Remove what ``upper`` has at ``rel`` (a whiteout, file or directory)."""
        path = self.upper / rel
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            shutil.rmtree(path)
        else:
            os.unlink(path)

    def ensure_dir(self, rel: str, owner: tuple[int, int], mode: int = 0o755) -> bool:
        """Make directory ``rel`` (already resolved) exist in the merged view; True when the
        last component was created (with ``owner``/``mode``, like every new parent)."""
        parts = [p for p in rel.split("/") if p]
        created = False
        for depth in range(1, len(parts) + 1):
            sub = "/".join(parts[:depth])
            here = self.upper / sub
            mine = _lstat(here)
            created = False
            if mine is not None and stat.S_ISDIR(mine.st_mode):
                continue
            st = self.stat(sub)
            if st is not None and stat.S_ISDIR(st.st_mode):
                os.mkdir(here, 0o700)  # copy-up
                copy_meta(st, here, self.real(sub))
                continue
            if st is not None:
                raise self.where.error(
                    f"cannot create directory /{sub}: the image has a file there (not a "
                    "directory); choose another destination"
                )
            if mine is not None:
                os.unlink(here)  # a whiteout
            self._new_dir(sub, mode, owner)
            created = True
        return created

    def place_dir(self, rel: str) -> Path:
        """A directory at ``rel`` for a copied or extracted one: merged with an existing
        directory (copied up), replacing anything else."""
        st = self.stat(rel)
        if st is not None and stat.S_ISDIR(st.st_mode):
            self.ensure_dir(rel, _ROOT_ID)
            return self.upper / rel
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
        st = self.stat(target)
        is_dir = st is not None and stat.S_ISDIR(st.st_mode)
        if item.is_dir or item.archive:
            if st is not None and not is_dir:
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
        self.clear(target)
        dst = self.upper / target
        if item.kind == "heredoc":
            with open(dst, "xb") as f:
                f.write(item.content.encode("utf-8", "surrogateescape"))
            self._meta(dst, ident, 0o644 if chmod is None else chmod, None, link=False)
        elif item.kind == "fetched":
            _copy_data(item.local, dst)
            mtime = None if item.mtime is None else int(item.mtime * 1e9)
            self._meta(dst, ident, 0o600 if chmod is None else chmod, mtime, link=False)
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
        for name in tree.listdir(src_rel):
            src = f"{src_rel}/{name}" if src_rel else name
            dst = f"{dst_rel}/{name}" if dst_rel else name
            path = tree.lookup(src)
            if path is None:
                continue
            st = os.lstat(path)
            if not stat.S_ISDIR(st.st_mode):
                self._copy_node(path, st, dst, tree, identity, chmod)
                continue
            made = self.place_dir(dst)
            self._meta(made, self._owner(st, tree, identity), _mode(st, chmod), None, link=False)
            self._copy_tree(tree, src, dst, identity, chmod)
            os.utime(made, ns=(st.st_atime_ns, st.st_mtime_ns))

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
        self.clear(rel)
        dst = self.upper / rel
        owner = self._owner(st, tree, identity)
        mode = _mode(st, chmod)
        key = (st.st_dev, st.st_ino)
        if stat.S_ISREG(st.st_mode):
            if st.st_nlink > 1 and key in self.links:
                os.link(self.links[key], dst)
                return
            unchanged = owner == (st.st_uid, st.st_gid) and mode == stat.S_IMODE(st.st_mode)
            linked = False
            if tree.immutable and unchanged:
                try:
                    os.link(src, dst)  # the store's files never change in place
                    linked = True
                except OSError:
                    pass
            if not linked:
                _copy_data(src, dst)
            if st.st_nlink > 1:
                self.links[key] = dst
            if linked:
                return
        elif stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(src), dst)
        elif stat.S_ISDIR(st.st_mode):
            os.mkdir(dst, 0o700)
        elif stat.S_ISFIFO(st.st_mode):
            os.mkfifo(dst, 0o600)
        elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            os.mknod(dst, stat.S_IFMT(st.st_mode) | 0o600, st.st_rdev)
        else:
            return  # sockets are not copied
        if tree.keep_owners:
            _copy_xattrs(src, dst)
        self._meta(dst, owner, mode, st.st_mtime_ns, stat.S_ISLNK(st.st_mode))

    def _meta(
        self, path: Path, owner: tuple[int, int], mode: int, mtime_ns: int | None, link: bool
    ) -> None:
        os.lchown(path, *owner)  # before chmod: chown clears setuid bits
        if not link:
            os.chmod(path, mode)
        if mtime_ns is not None:
            os.utime(path, ns=(mtime_ns, mtime_ns), follow_symlinks=False)

    def _extract(self, archive: Path, target: str, name: str) -> None:
        """Unpack a tar into directory ``target`` as Docker's ``UntarPath`` does (chrooted
        there): owners, modes and times from the archive, whiteout names not special."""
        dir_times: list[tuple[Path, int]] = []
        with open_archive(archive) as tar:
            for member in tar:
                entry = posixpath.normpath("/" + member.name).lstrip("/")
                if posixpath.normpath(member.name.lstrip("/")).startswith("../"):
                    raise self.where.error(
                        f"ADD {name}: archive entry {member.name!r} points outside the "
                        "destination; the archive is unsafe"
                    )
                if not entry:
                    continue
                parent = self.resolve(posixpath.dirname(entry), scope=target)
                self.ensure_dir(parent, _ROOT_ID)
                rel = posixpath.join(parent, posixpath.basename(entry))
                if member.isdir():
                    path = self.place_dir(rel)
                    dir_times.append((path, int(member.mtime)))
                else:
                    path = self._extract_node(tar, member, rel, target)
                owner = (member.uid, member.gid)
                self._meta(path, owner, member.mode & 0o7777, None, link=member.issym())
                set_xattrs(path, member)
                if not member.isdir():
                    mtime = int(member.mtime * 1e9)
                    os.utime(path, ns=(mtime, mtime), follow_symlinks=False)
        for path, mtime in reversed(dir_times):
            os.utime(path, (mtime, mtime))

    def _extract_node(
        self, tar: tarfile.TarFile, member: tarfile.TarInfo, rel: str, target: str
    ) -> Path:
        self.clear(rel)
        path = self.upper / rel
        if member.isreg():
            data = tar.extractfile(member)
            assert data is not None
            with open(path, "xb") as out:
                shutil.copyfileobj(data, out, _CHUNK)
        elif member.issym():
            os.symlink(member.linkname, path)
        elif member.islnk():
            link = posixpath.normpath("/" + member.linkname).lstrip("/")
            link_rel = self.resolve(link, scope=target)
            here = self.upper / link_rel
            if _lstat(here) is None:
                below = self.real(link_rel)
                if below is None:
                    raise self.where.error(
                        f"archive entry {member.name!r} links to {member.linkname!r}, "
                        "which is not there; the archive is broken"
                    )
                self.ensure_dir(posixpath.dirname(link_rel), _ROOT_ID)
                copy_node(below, here, os.lstat(below))
            os.link(here, path, follow_symlinks=False)
        elif member.ischr() or member.isblk():
            kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
            os.mknod(path, kind | 0o600, os.makedev(member.devmajor, member.devminor))
        elif member.isfifo():
            os.mkfifo(path, 0o600)
        else:
            with open(path, "xb"):
                pass
        return path


def _mode(st: os.stat_result, chmod: int | None) -> int:
    return stat.S_IMODE(st.st_mode) if chmod is None else chmod


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


def _copy_xattrs(src: Path, dst: Path) -> None:
    with contextlib.suppress(OSError):
        for name in os.listxattr(src, follow_symlinks=False):
            if ".overlay." in name:
                continue
            with contextlib.suppress(OSError):
                value = os.getxattr(src, name, follow_symlinks=False)
                os.setxattr(dst, name, value, follow_symlinks=False)


def _tree_from_json(data: dict[str, Any]) -> SourceTree:
    if data["kind"] == "context":
        rules = IgnoreRules.from_patterns(data.get("ignore", []))
        return ContextTree(Path(data["root"]), rules)
    return ImageTree.of_layers([Path(p) for p in data["layers"]], data.get("label", "image"))


def main(argv: list[str]) -> int:
    """``apply`` or ``entries``, the job as JSON on stdin: ``plan`` (:meth:`CopyPlan.to_json`),
    ``tree`` (``{"kind": "context", "root", "ignore"}`` or ``{"kind": "image", "layers"}``)
    and for ``apply`` also ``upper``, ``lower`` (layers bottom first), ``chown``, ``chmod``,
    ``opaque_xattr``. ``entries`` prints :func:`source_entries` as JSON. Errors: one line on
    stderr, status 1."""
    try:
        job = json.load(sys.stdin)
        plan = CopyPlan.from_json(job["plan"])
        tree = _tree_from_json(job["tree"])
        if argv[:1] == ["entries"]:
            json.dump(source_entries(plan, tree), sys.stdout)
        elif argv[:1] == ["apply"]:
            lower = LowerView(tuple(Path(p) for p in job["lower"]))
            apply_copy(
                plan,
                tree,
                Path(job["upper"]),
                lower,
                chown=job.get("chown"),
                chmod=job.get("chmod"),
                opaque_xattr=job.get("opaque_xattr", "user.overlay.opaque"),
            )
        else:
            sys.stderr.write(f"unknown command {argv[:1]}; use apply or entries\n")
            return 1
    except DockerfileError as exc:
        sys.stderr.write(str(exc) + "\n")
        return 1
    except (OSError, ValueError, KeyError) as exc:
        sys.stderr.write(f"{type(exc).__name__}: {exc}\n")
        return 1
    return 0
