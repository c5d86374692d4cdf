"""COPY/ADD planning and the layers they make, unpacked as an overlay upper dir to look at (no
Docker needed)."""

from __future__ import annotations

import http.server
import io
import json
import os
import stat
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from nbdocker.engine.builder import copy as copymod
from nbdocker.engine.builder.copy import (
    ContextTree,
    CopyPlan,
    ImageTree,
    SourceTree,
    Where,
    build_copy,
    plan_copy,
    source_digest,
)
from nbdocker.engine.builder.copy.fetch import fetch_plan
from nbdocker.engine.builder.copy.helper import serve_copy_layer
from nbdocker.engine.builder.dockerignore import IgnoreRules
from nbdocker.engine.errors import DockerfileError
from nbdocker.engine.layer.unpacking import unpack
from nbdocker.engine.layer.view import LowerView
from nbdocker.engine.userns.protocol import failure_of, raise_failure

W = Where("Dockerfile", 7)


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    root = tmp_path / "ctx"
    (root / "src/sub").mkdir(parents=True)
    (root / "src/a.txt").write_text("A\n")
    (root / "src/sub/b.txt").write_text("B\n")
    os.symlink("a.txt", root / "src/rel")
    os.symlink("/src/a.txt", root / "abs_in")
    os.symlink("/etc", root / "abs_out")
    os.link(root / "src/a.txt", root / "src/hl")
    (root / "x1.md").write_text("1")
    (root / "x2.md").write_text("22")
    (root / "top.txt").write_text("top\n")
    return root


@pytest.fixture
def lower(tmp_path: Path) -> Path:
    root = tmp_path / "lower"
    (root / "etc").mkdir(parents=True)
    (root / "etc/passwd").write_text("root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/:/bin/sh\n")
    (root / "etc/group").write_text("root:x:0:\nalice:x:1000:\nstaff:x:50:\n")
    (root / "existing").mkdir()
    os.chmod(root / "existing", 0o750)
    os.chown(root / "existing", 1000, 1000)
    (root / "existing/old").write_text("old")
    (root / "afile").write_text("f")
    os.symlink("existing", root / "linkdir")
    return root


def _plan(ctx: Path, sources: list[str], dest: str, **kw: object) -> CopyPlan:
    args: dict[str, object] = {"workdir": "/", "is_add": False, "where": W}
    args.update(kw)
    return plan_copy(sources, dest, tree=ContextTree(ctx), **args)  # type: ignore[arg-type]


def _layer(
    plan: CopyPlan,
    tree: SourceTree,
    lowers: tuple[Path, ...],
    upper: Path,
    chown: str | None = None,
    chmod: str | None = None,
) -> None:
    """The layer the copy makes over ``lowers``, unpacked into ``upper`` in overlay form."""
    layer = build_copy(
        plan, tree, LowerView(lowers), chown=chown, chmod=chmod, spill=upper.parent / "spill"
    )
    out = io.BytesIO()
    layer.write_tar(out)
    out.seek(0)
    upper.mkdir()
    unpack(out, upper, opaque_xattr="trusted.overlay.opaque")


def _apply(
    ctx: Path, lower: Path, upper: Path, sources: list[str], dest: str, **kw: object
) -> None:
    chown = kw.pop("chown", None)
    chmod = kw.pop("chmod", None)
    plan = _plan(ctx, sources, dest, **kw)
    _layer(plan, ContextTree(ctx), (lower,), upper, chown=chown, chmod=chmod)  # type: ignore[arg-type]


# ---------------------------------------------------------------- planning rules

PLANS = [
    # sources, dest, workdir, (dest, dest_dir, [(name, is_dir)])
    (["top.txt"], "/d", "/", ("/d", False, [("top.txt", False)])),
    (["top.txt"], "/d/", "/", ("/d", True, [("top.txt", False)])),
    (["top.txt"], "rel", "/wd", ("/wd/rel", False, [("top.txt", False)])),
    (["top.txt"], ".", "/wd", ("/wd", True, [("top.txt", False)])),
    (["src"], "/d", "/", ("/d", False, [("src", True)])),
    (["./src/../top.txt"], "/d", "/", ("/d", False, [("top.txt", False)])),
    (["/top.txt"], "/d", "/", ("/d", False, [("top.txt", False)])),
    (["*.md"], "/d/", "/", ("/d", True, [("x1.md", False), ("x2.md", False)])),
    (["x1.*"], "/d", "/", ("/d", False, [("x1.md", False)])),
    (
        ["src/*"],
        "/d/",
        "/",
        ("/d", True, [("a.txt", False), ("hl", False), ("rel", False), ("sub", True)]),
    ),
    (["abs_in"], "/d", "/", ("/d", False, [("abs_in", False)])),
    (["x1.md", "top.txt"], "/d/", "/", ("/d", True, [("x1.md", False), ("top.txt", False)])),
    (["."], "/d", "/", ("/d", False, [(".", True)])),
]


@pytest.mark.parametrize(("sources", "dest", "workdir", "want"), PLANS)
def test_plan_rules(
    ctx: Path, sources: list[str], dest: str, workdir: str, want: tuple[str, bool, list[object]]
) -> None:
    plan = _plan(ctx, sources, dest, workdir=workdir)
    assert (plan.dest, plan.dest_dir, [(i.name, i.is_dir) for i in plan.items]) == want


ERRORS = [
    (["../x"], "/d", "Dockerfile:7: forbidden path outside the build context: ../x"),
    (["src/../../x"], "/d", "forbidden path outside the build context"),
    (["nope"], "/d", "Dockerfile:7: nope: not found in the build context"),
    (["*.nope"], "/d/", "*.nope: no source files were specified"),
    (["abs_out"], "/d", "abs_out: not found"),  # /etc inside the context: absent
    (["*.md"], "/d", "When using COPY with more than one source file, the destination must"),
    (["x1.md", "x2.md"], "/d", "must be a directory and end with a /"),
    (["http://example.com/x"], "/d", "source can't be a URL for COPY"),
]


@pytest.mark.parametrize(("sources", "dest", "message"), ERRORS)
def test_plan_errors(ctx: Path, sources: list[str], dest: str, message: str) -> None:
    with pytest.raises(DockerfileError) as info:
        _plan(ctx, sources, dest)
    assert message in str(info.value)
    assert "\n" not in str(info.value)
    assert info.value.line == 7


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"keep_git_dir": True}, "--keep-git-dir is not supported yet"),
        ({"checksum": "sha256:" + "0" * 64}, "--checksum can only be used with an http"),
    ],
)
def test_add_errors(ctx: Path, kw: dict[str, object], message: str) -> None:
    with pytest.raises(DockerfileError, match=message):
        _plan(ctx, ["top.txt"], "/d", is_add=True, **kw)


def test_git_urls_not_supported(ctx: Path) -> None:
    with pytest.raises(DockerfileError, match="git sources are not supported yet"):
        _plan(ctx, ["https://github.com/moby/moby.git"], "/d/", is_add=True)


def test_dockerignore_hides_sources(ctx: Path) -> None:
    tree = ContextTree(ctx, IgnoreRules.from_patterns(["src", "!src/sub", "*.md"]))
    with pytest.raises(DockerfileError, match="not found"):
        plan_copy(["src/a.txt"], "/d", workdir="/", tree=tree, is_add=False, where=W)
    with pytest.raises(DockerfileError, match="no source files"):
        plan_copy(["*.md"], "/d/", workdir="/", tree=tree, is_add=False, where=W)
    assert tree.listdir("src") == ["sub"]


# ---------------------------------------------------------------- writing


def _tree(upper: Path) -> dict[str, tuple[str, int, int, int, str]]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(upper):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            st = os.lstat(path)
            kind = "d" if stat.S_ISDIR(st.st_mode) else "l" if stat.S_ISLNK(st.st_mode) else "f"
            extra = os.readlink(path) if kind == "l" else path.read_text() if kind == "f" else ""
            mode = stat.S_IMODE(st.st_mode) if kind != "l" else 0
            out[str(path.relative_to(upper))] = (kind, mode, st.st_uid, st.st_gid, extra)
    return out


def test_dir_copy_keeps_links_hardlinks_and_mtimes(ctx: Path, lower: Path, tmp_path: Path) -> None:
    os.utime(ctx / "src/sub/b.txt", (1000000000, 1000000000))
    upper = tmp_path / "upper"
    _apply(ctx, lower, upper, ["src"], "/existing/")
    tree = _tree(upper)
    assert tree["existing"] == ("d", 0o750, 1000, 1000, "")  # copied up with its metadata
    assert tree["existing/rel"] == ("l", 0, 0, 0, "a.txt")
    assert tree["existing/a.txt"][2:] == (0, 0, "A\n")
    assert os.lstat(upper / "existing/hl").st_ino == os.lstat(upper / "existing/a.txt").st_ino
    assert os.lstat(upper / "existing/sub/b.txt").st_mtime == 1000000000
    assert "existing/old" not in tree  # not copied up: untouched


def test_chmod_applies_to_files_and_dirs(ctx: Path, lower: Path, tmp_path: Path) -> None:
    upper = tmp_path / "upper"
    _apply(ctx, lower, upper, ["src"], "/new/", chmod="0751")
    tree = _tree(upper)
    assert {tree[p][1] for p in ("new", "new/sub", "new/a.txt", "new/sub/b.txt")} == {0o751}


@pytest.mark.parametrize(
    ("chown", "owner"),
    [("alice", (1000, 1000)), ("alice:staff", (1000, 50)), ("7:8", (7, 8)), ("9", (9, 9))],
)
def test_chown(ctx: Path, lower: Path, tmp_path: Path, chown: str, owner: tuple[int, int]) -> None:
    upper = tmp_path / "upper"
    _apply(ctx, lower, upper, ["top.txt"], "/n1/n2/", chown=chown)
    tree = _tree(upper)
    assert tree["n1"][2:4] == owner  # new parents of a copied file take the owner too
    assert tree["n1/n2/top.txt"][2:4] == owner


@pytest.mark.parametrize(
    ("chown", "message"),
    [("carol", "unable to find user carol"), ("alice:nogroup", "unable to find group nogroup")],
)
def test_chown_unknown(ctx: Path, lower: Path, tmp_path: Path, chown: str, message: str) -> None:
    with pytest.raises(DockerfileError, match=message):
        _apply(ctx, lower, tmp_path / "upper", ["top.txt"], "/x", chown=chown)


def test_bad_chmod(ctx: Path, lower: Path, tmp_path: Path) -> None:
    with pytest.raises(DockerfileError, match="invalid --chmod=u"):
        _apply(ctx, lower, tmp_path / "upper", ["top.txt"], "/x", chmod="u+x")


def test_heredocs(ctx: Path, lower: Path, tmp_path: Path) -> None:
    plan = plan_copy(
        [],
        "/h/",
        workdir="/",
        tree=ContextTree(ctx),
        is_add=False,
        where=W,
        heredocs=[("EOF", "hello\n"), ("two", "x")],
    )
    upper = tmp_path / "upper"
    _layer(plan, ContextTree(ctx), (lower,), upper)
    tree = _tree(upper)
    assert tree["h/EOF"] == ("f", 0o644, 0, 0, "hello\n")
    assert tree["h/two"] == ("f", 0o644, 0, 0, "x")


def test_dir_onto_file_is_an_error(ctx: Path, lower: Path, tmp_path: Path) -> None:
    with pytest.raises(DockerfileError, match="cannot copy a directory onto the file /afile"):
        _apply(ctx, lower, tmp_path / "upper", ["src"], "/afile")


def test_destination_through_a_symlink_loop(ctx: Path, lower: Path, tmp_path: Path) -> None:
    os.symlink("/loop", lower / "loop")
    with pytest.raises(DockerfileError, match="too many levels of symbolic links in /loop/x"):
        _apply(ctx, lower, tmp_path / "upper", ["top.txt"], "/loop/x")


def test_parent_is_a_file(ctx: Path, lower: Path, tmp_path: Path) -> None:
    with pytest.raises(DockerfileError, match="cannot create directory /afile"):
        _apply(ctx, lower, tmp_path / "upper", ["top.txt"], "/afile/x")


def test_dir_deleted_by_an_earlier_layer_is_made_anew(
    ctx: Path, lower: Path, tmp_path: Path
) -> None:
    deleted = tmp_path / "deleted"
    deleted.mkdir()
    os.mknod(deleted / "existing", stat.S_IFCHR, os.makedev(0, 0))  # RUN rm -r /existing
    upper = tmp_path / "upper"
    _layer(_plan(ctx, ["top.txt"], "/existing/"), ContextTree(ctx), (lower, deleted), upper)
    assert stat.S_IMODE(os.lstat(upper / "existing").st_mode) == 0o755
    merged = LowerView((lower, deleted, upper))
    assert sorted(merged.listdir("existing")) == ["top.txt"]  # the old content stays gone


def test_file_then_dir_over_an_image_dir_is_opaque(ctx: Path, lower: Path, tmp_path: Path) -> None:
    """COPY of a file onto the image's directory /existing hides it; a directory copied to the
    same place in the same step starts empty (opaque), as overlayfs would make it."""
    (ctx / "flat").mkdir()
    (ctx / "flat/existing").write_text("now a file")
    (ctx / "tree/existing").mkdir(parents=True)
    (ctx / "tree/existing/new").write_text("n")
    upper = tmp_path / "upper"
    _layer(_plan(ctx, ["flat", "tree"], "/"), ContextTree(ctx), (lower,), upper)
    assert os.getxattr(upper / "existing", "trusted.overlay.opaque") == b"y"
    merged = LowerView((lower, upper))
    assert sorted(merged.listdir("existing")) == ["new"]


def _tar(entries: list[tuple[str, bytes | None, bytes, int, int]]) -> bytes:
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode="w:gz") as t:
        for name, data, kind, uid, mode in entries:
            info = tarfile.TarInfo(name)
            info.type, info.uid, info.gid, info.mode = kind, uid, uid, mode
            info.size = len(data or b"")
            t.addfile(info, io.BytesIO(data) if data is not None else None)
    return bio.getvalue()


def test_add_extracts_archives(ctx: Path, lower: Path, tmp_path: Path) -> None:
    (ctx / "a.tar.gz").write_bytes(
        _tar(
            [
                ("d", None, tarfile.DIRTYPE, 5, 0o700),
                ("d/.wh.x", b"", tarfile.REGTYPE, 0, 0o644),
                ("old", b"new", tarfile.REGTYPE, 6, 0o4755),
            ]
        )
    )
    plan = _plan(ctx, ["a.tar.gz"], "/existing", is_add=True)
    layer = build_copy(plan, ContextTree(ctx), LowerView((lower,)), spill=tmp_path / "spill")
    out = io.BytesIO()
    layer.write_tar(out)
    out.seek(0)
    with tarfile.open(fileobj=out) as t:
        got = {m.name: (m.type, m.mode, m.uid, m.gid, m.size) for m in t}
    assert got["existing/d"] == (tarfile.DIRTYPE, 0o700, 5, 5, 0)
    # Extracting does not treat the name as a whiteout (nothing below is removed); in the layer
    # it then is one, as in the layer Docker's classic builder writes.
    assert got["existing/d/.wh.x"] == (tarfile.REGTYPE, 0o644, 0, 0, 0)
    assert got["existing/old"] == (tarfile.REGTYPE, 0o4755, 6, 6, 3)  # archive owners
    assert got["existing"][2:4] == (1000, 1000)  # copied up with its metadata


def test_add_refuses_escaping_archives(ctx: Path, lower: Path, tmp_path: Path) -> None:
    (ctx / "bad.tgz").write_bytes(_tar([("../../evil", b"x", tarfile.REGTYPE, 0, 0o644)]))
    with pytest.raises(DockerfileError, match="points outside the destination"):
        _apply(ctx, lower, tmp_path / "upper", ["bad.tgz"], "/x/", is_add=True)


def test_copy_from_image_keeps_owners_and_xattrs(lower: Path, tmp_path: Path) -> None:
    tree = ImageTree.of_layers([lower])
    plan = plan_copy(
        ["/linkdir"], "/fx/", workdir="/", tree=tree, is_add=False, where=W, context_bound=False
    )
    upper = tmp_path / "upper"
    _layer(plan, tree, (lower,), upper)
    assert _tree(upper)["fx/old"][2:4] == (0, 0) == (os.lstat(lower / "existing/old").st_uid, 0)
    os.chown(lower / "existing/old", 7, 8)
    os.setxattr(lower / "existing/old", "user.origin", b"base")
    upper2 = tmp_path / "upper2"
    _layer(plan, tree, (lower,), upper2)
    assert _tree(upper2)["fx/old"][2:4] == (7, 8)
    assert os.getxattr(upper2 / "fx/old", "user.origin") == b"base"


# ---------------------------------------------------------------- digest


def test_digest_ignores_mtime_not_content(ctx: Path) -> None:
    tree = ContextTree(ctx)
    plan = _plan(ctx, ["src", "top.txt"], "/d/")
    first = source_digest(plan, tree)
    os.utime(ctx / "src/sub/b.txt", (1, 1))
    os.utime(ctx / "top.txt", (1, 1))
    assert source_digest(plan, tree) == first
    (ctx / "src/sub/b.txt").write_text("changed")
    second = source_digest(plan, tree)
    assert second != first
    os.chmod(ctx / "top.txt", 0o600)
    assert source_digest(plan, tree) != second
    (ctx / "src/new").write_text("")
    assert source_digest(plan, tree) != second


# ---------------------------------------------------------------- in the user namespace


def test_the_copy_layer_request_writes_the_layer_and_fails_as_data(
    ctx: Path, lower: Path, tmp_path: Path
) -> None:
    """What the user-namespace helper runs for a rootless COPY: the layer on its stdout, the
    size as its result, and a failure that comes back to the build as the same located error."""
    request = {
        "plan": _plan(ctx, ["top.txt"], "/x/").to_json(),
        "tree": {"kind": "context", "root": str(ctx), "ignore": []},
        "lower": [str(lower)],
        "chown": "alice",
        "chmod": None,
        "spill": str(tmp_path / "spill"),
        "source_date_epoch": 1000,
    }
    stdout = io.BytesIO()
    assert serve_copy_layer(request, io.BytesIO(), stdout) == {"content_size": 4}
    with tarfile.open(fileobj=io.BytesIO(stdout.getvalue())) as t:
        member = t.getmember("x/top.txt")
        assert (member.uid, member.gid, member.mtime, member.size) == (1000, 1000, 1000, 4)
    request["chown"] = "carol"
    with pytest.raises(DockerfileError) as raised:
        serve_copy_layer(request, io.BytesIO(), io.BytesIO())
    with pytest.raises(DockerfileError) as back:
        raise_failure(json.loads(json.dumps(failure_of(raised.value))), "COPY")
    err = str(back.value)
    assert "\n" not in err and err.startswith("Dockerfile:7:") and "carol" in err


def test_the_user_namespace_helper_loads_without_the_registry_client_or_compression() -> None:
    """What a rootless helper process loads: the layer and copy code it serves, nothing else."""
    root = Path(copymod.__file__).resolve().parents[4]
    code = f"""
import sys
sys.path.insert(0, {str(root)!r})
import nbdocker.engine.userns_helper
print([m for m in ("httpx", "isal", "zstandard") if m in sys.modules])
"""
    out = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------- remote ADD


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[str]:
    root = tmp_path / "www"
    root.mkdir()
    (root / "file.txt").write_text("remote\n")
    os.utime(root / "file.txt", (1500000000, 1500000000))

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a: object, **kw: object) -> None:
            super().__init__(*a, directory=str(root), **kw)  # type: ignore[arg-type]

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


REMOTE_SHA = "sha256:" + __import__("hashlib").sha256(b"remote\n").hexdigest()


def test_add_url(ctx: Path, lower: Path, tmp_path: Path, http_server: str) -> None:
    plan = _plan(ctx, [f"{http_server}/file.txt?x=1"], "/r/", is_add=True, checksum=REMOTE_SHA)
    digest = source_digest(plan, ContextTree(ctx))  # --checksum stands for the content
    fetched = fetch_plan(plan, tmp_path / "scratch")
    upper = tmp_path / "upper"
    _layer(fetched, ContextTree(ctx), (lower,), upper)
    st = os.lstat(upper / "r/file.txt")
    assert (stat.S_IMODE(st.st_mode), st.st_mtime) == (0o600, 1500000000)
    assert (upper / "r/file.txt").read_text() == "remote\n"
    assert digest.startswith("sha256:")
    assert source_digest(fetched, ContextTree(ctx)).startswith("sha256:")


@pytest.mark.parametrize(
    ("path", "checksum", "message"),
    [
        ("/file.txt", "sha256:" + "0" * 64, "checksum mismatch: expected sha256:000"),
        ("/nope.txt", None, "failed to GET .* with status 404"),
        ("/file.txt", "md5:abc", "invalid --checksum=md5:abc"),
    ],
)
def test_add_url_errors(
    ctx: Path, tmp_path: Path, http_server: str, path: str, checksum: str | None, message: str
) -> None:
    plan = _plan(ctx, [http_server + path], "/r/", is_add=True, checksum=checksum)
    with pytest.raises(DockerfileError, match=message) as info:
        fetch_plan(plan, tmp_path / "scratch")
    assert "\n" not in str(info.value)
    scratch = tmp_path / "scratch"
    assert not scratch.exists() or not list(scratch.iterdir())  # no partial download left
