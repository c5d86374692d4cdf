"""The build context: size as Docker reports it, .dockerignore, tar contexts."""

from __future__ import annotations

import io
import os
import re
import tarfile
from pathlib import Path

import pytest

from nbdocker.engine.builder.context import BuildContext
from nbdocker.engine.errors import ArchiveError, DockerfileError
from nbdocker.formatting import human_size
from tests.support.dockerd import DockerEngine


def _make(root: Path) -> Path:
    (root / "src/sub").mkdir(parents=True)
    (root / "src/a").write_text("a" * 700)
    (root / "src/sub/b").write_text("b")
    os.link(root / "src/a", root / "src/hl")
    os.symlink("a", root / "src/l")
    (root / ("long-" * 30)).write_text("long name")
    (root / "ign").mkdir()
    (root / "ign/keep").write_text("k")
    (root / "ign/drop").write_text("d" * 5000)
    (root / "Dockerfile").write_text("FROM scratch\nCOPY . /\n")
    (root / ".dockerignore").write_text("ign\n!ign/keep\nDockerfile\n.dockerignore\n")
    return root


def test_ignored_build_files_are_sent_but_not_copyable(tmp_path: Path) -> None:
    ctx = BuildContext.from_dir(_make(tmp_path / "ctx"))
    tree = ctx.tree()
    assert tree.lookup("Dockerfile") is None and tree.lookup(".dockerignore") is None
    assert tree.lookup("ign/keep") is not None and tree.lookup("ign/drop") is None
    assert tree.listdir("") == ["ign", "long-" * 30, "src"]
    bigger = BuildContext.from_dir(tmp_path / "ctx").size
    (tmp_path / "ctx/Dockerfile").write_text("FROM scratch\nCOPY . /\n" + "#" * 600)
    assert BuildContext.from_dir(tmp_path / "ctx").size == bigger + 512  # still sent


def test_bad_dockerignore(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_text("[oops\n")
    with pytest.raises(DockerfileError, match=r"\.dockerignore: syntax error in pattern"):
        BuildContext.from_dir(tmp_path)


@pytest.mark.docker
def test_size_matches_docker(tmp_path: Path, docker_engine: DockerEngine) -> None:
    root = _make(tmp_path / "ctx")
    result = docker_engine.run("build", "--network", "none", "-q", str(root), check=False)
    result = docker_engine.run("build", "--network", "none", str(root), check=False)
    match = re.search(r"Sending build context to Docker daemon\s+(\S+)", result.stdout)
    assert match, result.stdout + result.stderr
    assert human_size(BuildContext.from_dir(root).size) == match.group(1)


def _tar(entries: list[tarfile.TarInfo], mode: str = "w:gz") -> bytes:
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode=mode) as t:
        for info in entries:
            t.addfile(info, io.BytesIO(b"x" * info.size) if info.isreg() else None)
    return bio.getvalue()


def _entry(
    name: str, kind: bytes = tarfile.REGTYPE, size: int = 1, link: str = ""
) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.size, info.linkname, info.mode = kind, size, link, 0o640
    return info


@pytest.mark.parametrize("mode", ["w", "w:gz", "w:bz2", "w:xz"])
def test_tar_context(tmp_path: Path, mode: str) -> None:
    data = _tar(
        [
            _entry("Dockerfile", size=3),
            _entry("./dir", tarfile.DIRTYPE, 0),
            _entry("dir/f", size=4),
            _entry("dir/l", tarfile.SYMTYPE, 0, "/etc/passwd"),
            _entry(".dockerignore", size=1),
        ],
        mode,
    )
    ctx = BuildContext.from_tar(io.BytesIO(data), tmp_path / "scratch")
    assert ctx.size == len(data)
    assert ctx.root.parent == tmp_path / "scratch"
    assert (ctx.root / "dir/f").read_bytes() == b"xxxx"
    assert os.readlink(ctx.root / "dir/l") == "/etc/passwd"
    assert os.stat(ctx.root / "dir/f").st_mode & 0o777 == 0o640


@pytest.mark.parametrize(
    "entries",
    [
        [_entry("../evil")],
        [_entry("l", tarfile.SYMTYPE, 0, "/tmp"), _entry("l/evil")],
        [_entry("h", tarfile.LNKTYPE, 0, "../../etc/passwd")],
    ],
)
def test_unsafe_tar_context(tmp_path: Path, entries: list[tarfile.TarInfo]) -> None:
    with pytest.raises(ArchiveError, match="build context tar cannot be read"):
        BuildContext.from_tar(io.BytesIO(_tar(entries)), tmp_path / "scratch")
    assert list((tmp_path / "scratch").iterdir()) == []


def test_empty_context(tmp_path: Path) -> None:
    ctx = BuildContext.empty(tmp_path)
    assert ctx.size == 0 and ctx.tree().listdir("") == []
