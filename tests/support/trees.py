"""File trees of images, compared the way a user would: paths, types, modes, owners, sizes,
link targets and contents — never timestamps."""

from __future__ import annotations

import hashlib
import io
import json
import posixpath
import tarfile
from pathlib import Path
from typing import IO

Entry = tuple[str, int, int, int, str]  # type, mode, uid, gid, content digest or link target


def _describe(tar: tarfile.TarFile, member: tarfile.TarInfo) -> Entry:
    if member.isreg():
        f = tar.extractfile(member)
        assert f is not None
        digest = hashlib.sha256(f.read()).hexdigest()
        return ("f", member.mode & 0o7777, member.uid, member.gid, digest)
    if member.issym():
        return ("l", 0, member.uid, member.gid, member.linkname)
    if member.islnk():
        return (
            "h",
            member.mode & 0o7777,
            member.uid,
            member.gid,
            posixpath.normpath(member.linkname.lstrip("./") or "."),
        )
    if member.isdir():
        return ("d", member.mode & 0o7777, member.uid, member.gid, "")
    return (str(member.type), member.mode & 0o7777, member.uid, member.gid, "")


def _name(member: tarfile.TarInfo) -> str:
    return posixpath.normpath(member.name.lstrip("/")).removeprefix("./")


def apply_layer(tree: dict[str, Entry], layer: IO[bytes]) -> None:
    """Apply one layer tar (with OCI whiteouts) onto ``tree``."""
    with tarfile.open(fileobj=layer, mode="r:*") as tar:
        members = tar.getmembers()
        for member in members:  # whiteouts first: they only remove what lower layers had
            name = _name(member)
            base = posixpath.basename(name)
            parent = posixpath.dirname(name)
            if base == ".wh..wh..opq":
                for path in [p for p in tree if p.startswith(parent + "/")]:
                    del tree[path]
            elif base.startswith(".wh."):
                gone = posixpath.join(parent, base[4:])
                for path in [p for p in tree if p == gone or p.startswith(gone + "/")]:
                    del tree[path]
        for member in members:
            name = _name(member)
            if name in ("", ".") or posixpath.basename(name).startswith(".wh."):
                continue
            if not member.isdir():
                for path in [p for p in tree if p.startswith(name + "/")]:
                    del tree[path]
            tree[name] = _describe(tar, member)
    # hard links point at a path: compare them by what they point to
    for path, entry in list(tree.items()):
        if entry[0] == "h" and entry[4] in tree:
            target = tree[entry[4]]
            tree[path] = ("f", target[1], target[2], target[3], target[4])


def tree_of_docker_archive(archive: bytes | Path) -> dict[str, dict[str, Entry]]:
    """{RepoTag or config name: flattened file tree} for each image of a ``docker save`` tar."""
    data = archive.read_bytes() if isinstance(archive, Path) else archive
    out: dict[str, dict[str, Entry]] = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for entry in json.loads(tar.extractfile("manifest.json").read()):  # type: ignore[union-attr]
            tree: dict[str, Entry] = {}
            for layer in entry["Layers"]:
                apply_layer(tree, io.BytesIO(tar.extractfile(layer).read()))  # type: ignore[union-attr]
            out[(entry.get("RepoTags") or [entry["Config"]])[0]] = tree
    return out


DOCKER_RUNTIME_PATHS = (
    ".dockerenv",
    "etc/hosts",
    "etc/hostname",
    "etc/resolv.conf",
    "dev",
    "proc",
    "sys",
    "etc/mtab",
)


def tree_of_export(export: bytes) -> dict[str, Entry]:
    """The tree of a ``docker export`` tar, without what Docker adds to every container."""
    tree: dict[str, Entry] = {}
    apply_layer(tree, io.BytesIO(export))
    return {
        p: e
        for p, e in tree.items()
        if not any(p == r or p.startswith(r + "/") for r in DOCKER_RUNTIME_PATHS)
    }


Meta = tuple[str, int, int, int, str]  # type, mode, uid, gid, link target ("" for files)


def views_after_each_layer(archive: Path) -> list[dict[str, Meta]]:
    """The file system of the first image of a ``docker save`` tar as it stands after each of
    its layers: paths, types, modes, owners and link targets (contents left out: logs and
    caches a build writes differ from run to run). What a container sees is compared, not how
    a layer spells it (overlayfs copies up a file opened for writing even if it is unchanged,
    a copy-and-compare diff does not)."""
    views: list[dict[str, Meta]] = []
    with tarfile.open(archive) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        tree: dict[str, Entry] = {}
        for layer in manifest[0]["Layers"]:
            apply_layer(tree, io.BytesIO(tar.extractfile(layer).read()))  # type: ignore[union-attr]
            views.append(
                {p: (e[0], e[1], e[2], e[3], "" if e[0] == "f" else e[4]) for p, e in tree.items()}
            )
    return views


def view_differences(got: dict[str, Meta], want: dict[str, Meta], limit: int = 12) -> str:
    """What differs between two views, shortly: paths only in one, and paths that differ."""
    only_got = sorted(set(got) - set(want))[:limit]
    only_want = sorted(set(want) - set(got))[:limit]
    changed = [(p, got[p], want[p]) for p in sorted(set(got) & set(want)) if got[p] != want[p]]
    return f"only here {only_got}; only in the reference {only_want}; differing {changed[:limit]}"
