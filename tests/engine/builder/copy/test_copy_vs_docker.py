"""COPY/ADD parity with real ``docker build`` (Docker 20.10's classic builder: Debian's docker.io
has no buildx, so BuildKit is not available here).

Each case builds ``FROM nbdtest/base`` + one COPY/ADD with Docker from a context directory, takes
the image's last layer, and compares its tree (paths, types, modes, owners, sizes, contents,
link targets — not times) with the layer nbdocker's :func:`build_copy` makes over the same base.
"""

from __future__ import annotations

import bz2
import functools
import gzip
import http.server
import io
import json
import lzma
import os
import shutil
import tarfile
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from nbdocker.engine.builder.copy import ContextTree, ImageTree, Where, build_copy, plan_copy
from nbdocker.engine.builder.copy.fetch import fetch_plan
from nbdocker.engine.builder.dockerignore import IgnoreRules
from nbdocker.engine.dockerfile import Copy, Workdir, parse, parse_instructions
from nbdocker.engine.layer.view import LowerView
from tests.support.dockerd import DockerEngine
from tests.support.trees import Entry, apply_layer

pytestmark = pytest.mark.docker

PASSWD = (
    "root:x:0:0:root:/root:/bin/sh\n"
    "alice:x:1000:1000::/home/alice:/bin/sh\n"
    "bob:x:1001:50::/home/bob:/bin/sh\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
)
GROUP = "root:x:0:\nstaff:x:50:bob\nalice:x:1000:\nnobody:x:65534:\n"


@pytest.fixture(scope="module")
def base(
    docker_engine: DockerEngine, busybox_rootfs: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """``nbdtest/base``: busybox + users + a few paths to copy onto; returns its root dir."""
    root = tmp_path_factory.mktemp("copy-base") / "rootfs"
    shutil.copytree(busybox_rootfs, root, symlinks=True)
    (root / "etc/passwd").write_text(PASSWD)
    (root / "etc/group").write_text(GROUP)
    (root / "existing").mkdir()
    os.chmod(root / "existing", 0o750)
    (root / "existing/old").write_text("old\n")
    os.chown(root / "existing", 1000, 1000)
    os.chown(root / "existing/old", 1000, 1001)
    (root / "afile").write_text("a file\n")
    (root / "adir").mkdir()
    (root / "adir/inner").write_text("inner\n")
    os.symlink("existing", root / "linkdir")
    tar = root.parent / "base.tar"
    with tarfile.open(tar, "w") as t:
        t.add(root, ".")
    docker_engine.run("import", str(tar), "nbdtest/base")
    return root


def _tar_bytes(opener: Callable[[bytes], bytes]) -> bytes:
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode="w") as t:
        for name, data, kind, mode, uid, gid, link in [
            ("pkg", None, tarfile.DIRTYPE, 0o700, 7, 8, ""),
            ("pkg/f", b"hello\n", tarfile.REGTYPE, 0o640, 1000, 50, ""),
            ("pkg/.wh.gone", b"", tarfile.REGTYPE, 0o644, 0, 0, ""),
            ("pkg/l", None, tarfile.SYMTYPE, 0o777, 0, 0, "f"),
            ("pkg/h", None, tarfile.LNKTYPE, 0o640, 1000, 50, "pkg/f"),
            ("./rootfile", b"r", tarfile.REGTYPE, 0o600, 3, 4, ""),
        ]:
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.uid, info.gid, info.linkname = kind, mode, uid, gid, link
            info.mtime = 1234567890
            info.size = len(data) if data is not None else 0
            t.addfile(info, io.BytesIO(data) if data is not None else None)
    return opener(bio.getvalue())


def _context(ctx: Path) -> None:
    (ctx / "src").mkdir()
    os.chmod(ctx / "src", 0o711)
    (ctx / "src/a.txt").write_text("A\n")
    os.chmod(ctx / "src/a.txt", 0o640)
    (ctx / "src/run.sh").write_text("#!/bin/sh\n")
    os.chmod(ctx / "src/run.sh", 0o755)
    (ctx / "src/sub").mkdir()
    (ctx / "src/sub/b.txt").write_text("B\n")
    os.symlink("a.txt", ctx / "src/rel")
    os.symlink("/etc/passwd", ctx / "src/abs")
    os.symlink("../../outside", ctx / "src/esc")
    os.link(ctx / "src/a.txt", ctx / "src/hl")
    (ctx / "top.txt").write_text("top\n")
    os.symlink("top.txt", ctx / "ltop")
    os.symlink("src", ctx / "lsrc")
    (ctx / "x1.md").write_text("1")
    (ctx / "x2.md").write_text("22")
    (ctx / "s2/old").mkdir(parents=True)
    (ctx / "s2/old/n").write_text("n")
    (ctx / "s3").mkdir()
    (ctx / "s3/adir").write_text("now a file\n")
    (ctx / "s4/existing").mkdir(parents=True)
    os.chmod(ctx / "s4/existing", 0o701)
    (ctx / "s4/existing/q").write_text("q")
    (ctx / "a.tar").write_bytes(_tar_bytes(lambda b: b))
    (ctx / "a.tgz").write_bytes(_tar_bytes(gzip.compress))
    (ctx / "a.tbz").write_bytes(_tar_bytes(bz2.compress))
    (ctx / "a.txz").write_bytes(_tar_bytes(lzma.compress))
    (ctx / "plain.gz").write_bytes(gzip.compress(b"not a tar"))
    (ctx / "ign").mkdir()
    (ctx / "ign/keep.txt").write_text("k")
    (ctx / "ign/drop.txt").write_text("d")
    (ctx / ".dockerignore").write_text("# comment\nign\n!ign/keep.txt\n*.tbz\n.dockerignore\n")


CASES = {
    "dir_new": "COPY src /newdir",
    "dir_into_new_parent": "COPY src /etc/sub/",
    "dir_onto_existing": "COPY src /existing",
    "file_into_existing_dir": "COPY top.txt /existing",
    "file_through_image_symlink": "COPY top.txt /linkdir/",
    "symlink_source_file": "COPY ltop /dst",
    "symlink_source_dir": "COPY lsrc /dst2/",
    "wildcards": "COPY *.md src/*.txt /w/",
    "wildcard_single_match": "COPY x1.* /w",
    "chown_names": "COPY --chown=alice:staff src /a/b/c/",
    "chown_name_only": "COPY --chown=alice top.txt /o/",
    "chown_ids_new_parents": "COPY --chown=1001:1002 top.txt /n1/n2/f",
    "file_replaces_file": "COPY top.txt /adir/inner",
    "dir_replaces_file": "COPY s2 /existing/",
    "file_replaces_dir": "COPY s3 /",
    "merged_dir_takes_source_meta": "COPY s4 /",
    "workdir_relative": "WORKDIR /wd\nCOPY top.txt rel/",
    "context_with_dockerignore": "COPY . /ctx/",
    "add_tar": "ADD a.tar /t/",
    "add_tgz_into_existing": "ADD a.tgz /existing",
    "add_txz_chown_not_applied": "ADD --chown=alice:alice a.txz /x",
    "add_gzip_not_tar": "ADD plain.gz /p/",
    "copy_tar_not_extracted": "COPY a.tar /t",
}


def _docker_layer(docker: DockerEngine, tag: str) -> dict[str, Entry]:
    data = docker.run("save", tag, text=False).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        manifest = json.loads(t.extractfile("manifest.json").read())  # type: ignore[union-attr]
        layer = t.extractfile(manifest[0]["Layers"][-1]).read()  # type: ignore[union-attr]
    tree: dict[str, Entry] = {}
    apply_layer(tree, io.BytesIO(layer))
    return tree


def _our_layer(base: Path, ctx: Path, dockerfile: str, scratch: Path) -> dict[str, Entry]:
    instructions = parse_instructions(parse(dockerfile))
    workdir = "/"
    workdir_layer = scratch / "workdir-layer"  # WORKDIR makes its own layer, as in Docker
    workdir_layer.mkdir()
    lower = LowerView((base, workdir_layer))
    for ins in instructions:
        if isinstance(ins, Workdir):
            workdir = os.path.join(workdir, ins.path)
            (workdir_layer / workdir.lstrip("/")).mkdir(parents=True, exist_ok=True)
    ins = instructions[-1]
    tree = ContextTree(ctx, IgnoreRules.from_text((ctx / ".dockerignore").read_text()))
    plan = plan_copy(
        ins.sources,  # type: ignore[attr-defined]
        ins.dest,  # type: ignore[attr-defined]
        workdir=workdir,
        tree=tree,
        is_add=not isinstance(ins, Copy),
        where=Where("Dockerfile", ins.line),
    )
    layer = build_copy(plan, tree, lower, chown=ins.chown, spill=scratch / "spill")  # type: ignore[attr-defined]
    out = io.BytesIO()
    layer.write_tar(out)
    out.seek(0)
    tree_out: dict[str, Entry] = {}
    apply_layer(tree_out, out)
    return tree_out


@pytest.mark.parametrize("name", sorted(CASES))
def test_copy_matches_docker(
    name: str, base: Path, docker_engine: DockerEngine, tmp_path: Path
) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    _context(ctx)
    dockerfile = "FROM nbdtest/base\n" + CASES[name] + "\n"
    (ctx / "Dockerfile").write_text(dockerfile)
    tag = f"nbdtest/copy-{name.replace('_', '-')}"
    docker_engine.run("build", "--network", "none", "-t", tag, str(ctx))
    theirs = _docker_layer(docker_engine, tag)
    if "WORKDIR" in dockerfile:  # WORKDIR made its own layer in Docker
        theirs.pop("wd", None)
    ours = _our_layer(base, ctx, dockerfile, tmp_path)
    if "WORKDIR" in dockerfile:
        ours.pop("wd", None)
    assert theirs, "docker made an empty layer"
    assert ours == theirs


def test_copy_from_image_matches_docker(
    base: Path, docker_engine: DockerEngine, tmp_path: Path
) -> None:
    """``COPY --from`` keeps the image's owners and modes (classic builder and ours)."""
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM nbdtest/base\nCOPY --from=nbdtest/base /linkdir /fx/\n")
    docker_engine.run("build", "--network", "none", "-t", "nbdtest/copy-from", str(ctx))
    theirs = _docker_layer(docker_engine, "nbdtest/copy-from")
    tree = ImageTree.of_layers([base], "image nbdtest/base")
    plan = plan_copy(
        ["/linkdir"],
        "/fx/",
        workdir="/",
        tree=tree,
        is_add=False,
        where=Where(),
        context_bound=False,
    )
    out = io.BytesIO()
    build_copy(plan, tree, LowerView((base,))).write_tar(out)
    out.seek(0)
    ours: dict[str, Entry] = {}
    apply_layer(ours, out)
    assert theirs["fx/old"][2:4] == (1000, 1001)
    assert ours == theirs


def test_add_url_matches_docker(base: Path, docker_engine: DockerEngine, tmp_path: Path) -> None:
    """Remote files: mode 0600, named from the URL path (query dropped), not extracted."""
    www = tmp_path / "www"
    www.mkdir()
    (www / "file.txt").write_text("remote\n")
    (www / "arch.tar.gz").write_bytes(_tar_bytes(gzip.compress))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(www))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        ctx = tmp_path / "ctx"
        ctx.mkdir()
        line = f"ADD --chown=alice:staff {url}/file.txt?x=1 {url}/arch.tar.gz /r/"
        (ctx / "Dockerfile").write_text(f"FROM nbdtest/base\n{line}\n")
        docker_engine.run("build", "--network", "none", "-t", "nbdtest/add-url", str(ctx))
        theirs = _docker_layer(docker_engine, "nbdtest/add-url")
        tree = ContextTree(ctx)
        plan = plan_copy(
            [f"{url}/file.txt?x=1", f"{url}/arch.tar.gz"],
            "/r/",
            workdir="/",
            tree=tree,
            is_add=True,
            where=Where(),
        )
        plan = fetch_plan(plan, tmp_path / "scratch")
    finally:
        server.shutdown()
        server.server_close()
    out = io.BytesIO()
    build_copy(plan, tree, LowerView((base,)), chown="alice:staff").write_tar(out)
    out.seek(0)
    with tarfile.open(fileobj=out) as t:  # the server's Last-Modified
        assert t.getmember("r/file.txt").mtime == int(os.lstat(www / "file.txt").st_mtime)
    out.seek(0)
    ours: dict[str, Entry] = {}
    apply_layer(ours, out)
    assert theirs["r/file.txt"][:4] == ("f", 0o600, 1000, 50)
    assert ours == theirs
