"""A COPY/ADD resolved by Docker's rules before anything is written: :func:`plan_copy` makes a
:class:`CopyPlan` (what to copy, where), and :func:`source_entries` / :func:`source_digest`
describe what it copies for the build cache.

Every user mistake (no match, a path outside the context, several sources into a file) is a
one-line :class:`DockerfileError` naming ``Dockerfile:line``, raised here.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import stat
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict, cast

from ...errors import DockerfileError
from ...lazy import lazy_dataclass
from ...trees import preorder
from .sources import SourceTree, glob, is_archive, resolve_in

__all__ = [
    "CopyItem",
    "CopyPlan",
    "PlanJSON",
    "Where",
    "is_url",
    "plan_copy",
    "source_digest",
    "source_entries",
]


if TYPE_CHECKING:

    class WhereJSON(TypedDict):
        path: str
        line: int | None

    class ItemJSON(TypedDict):
        kind: str
        name: str
        rel: str
        is_dir: bool
        archive: bool
        content: str
        url: str
        checksum: str | None
        local: str
        mtime: float | None

    class PlanJSON(TypedDict):
        """:class:`CopyPlan` as :meth:`CopyPlan.to_json` writes it."""

        items: list[ItemJSON]
        dest: str
        dest_dir: bool
        is_add: bool
        where: WhereJSON

else:  # at run time these are the dicts json makes: the names cost nothing to import
    WhereJSON = dict
    ItemJSON = dict
    PlanJSON = dict


_WILDCARDS = "*?["
_CHUNK = 1 << 20


@lazy_dataclass(frozen=True)
class Where:
    """The instruction's place, for error messages: ``path:line``."""

    path: str = "Dockerfile"
    line: int | None = None

    def error(self, message: str) -> DockerfileError:
        return DockerfileError(message, self.path, self.line)


@lazy_dataclass(frozen=True)
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


@lazy_dataclass(frozen=True)
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

    def to_json(self) -> PlanJSON:
        """The plan as JSON, for the user-namespace helper (:mod:`.helper`)."""
        return cast(PlanJSON, asdict(self))

    @classmethod
    def from_json(cls, data: PlanJSON) -> CopyPlan:
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
    archive = is_add and stat.S_ISREG(st.st_mode) and is_archive(path)
    return CopyItem("path", name, rel=rel, archive=archive)


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
            matches = glob(tree, rel)
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
    """Every entry below ``rel`` (parents first, names in order), however deep."""
    out: list[tuple[str, Path, os.stat_result]] = []

    def children(parent: str) -> list[str]:
        return [f"{parent}/{name}" if parent else name for name in tree.listdir(parent)]

    def into(child: str) -> list[str]:
        path = tree.lookup(child)
        if path is None:
            return []
        st = os.lstat(path)
        out.append((child, path, st))
        return children(child) if stat.S_ISDIR(st.st_mode) else []

    for _ in preorder(children(rel), into):
        pass
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
