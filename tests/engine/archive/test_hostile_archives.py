"""``load`` and ``import`` of archives made to break them: each gets one line, exit 1, and the
store is left exactly as it was. The archives are generated here."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support import RunNbdocker, ok
from tests.support.store import snapshot

Member = tuple[str, bytes | None, str | None]  # name, content (None: a symlink), link target


def _archive(members: list[Member]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data, link in members:
            info = tarfile.TarInfo(name)
            if data is None:
                info.type, info.linkname = tarfile.SYMTYPE, link or ""
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _load_fails(
    nbdocker: RunNbdocker, home: Path, tmp_path: Path, archive: bytes, words: str
) -> None:
    ok(nbdocker("images"))  # an initialised store, to compare with
    before = snapshot(home)
    path = tmp_path / "hostile.tar"
    path.write_bytes(archive)
    try:
        result = nbdocker("load", "-i", path, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("load never finished")
    err = result.stderr.decode()
    assert result.returncode == 1, err
    assert len(err.strip().splitlines()) == 1, err
    assert words in err, err
    assert snapshot(home) == before


SYMLINK_LOOPS: dict[str, Callable[[], bytes]] = {
    "to itself": lambda: _archive([("manifest.json", None, "manifest.json")]),
    "round two": lambda: _archive([("manifest.json", None, "a"), ("a", None, "manifest.json")]),
    "through a directory": lambda: _archive(
        [("manifest.json", None, "d/../manifest.json"), ("d/x", b"", None)]
    ),
}


@pytest.mark.parametrize("case", list(SYMLINK_LOOPS))
def test_a_manifest_json_symlink_loop_is_refused(
    nbdocker: RunNbdocker, nbdocker_home: Path, tmp_path: Path, case: str
) -> None:
    _load_fails(nbdocker, nbdocker_home, tmp_path, SYMLINK_LOOPS[case](), "symbolic link loop")


def _deep_tar(depth: int) -> bytes:
    members: list[Member] = []
    path = ""
    for _ in range(depth):
        path += "d/"
    members.append((path + "f", b"deep\n", None))
    return _archive(members)


@pytest.mark.parametrize("depth", [600, 3000])
def test_import_refuses_an_absurdly_deep_tree(
    nbdocker: RunNbdocker, nbdocker_home: Path, tmp_path: Path, depth: int
) -> None:
    ok(nbdocker("images"))
    before = snapshot(nbdocker_home)
    path = tmp_path / "deep.tar"
    path.write_bytes(_deep_tar(depth))
    result = nbdocker("import", path, "deep:1", timeout=120)
    err = result.stderr.decode()
    assert result.returncode == 1, err
    assert len(err.strip().splitlines()) == 1, err
    assert f"{depth + 1} directories deep" in err, err
    assert snapshot(nbdocker_home) == before


def test_import_accepts_a_deep_but_sane_tree(nbdocker: RunNbdocker, tmp_path: Path) -> None:
    path = tmp_path / "deep.tar"
    path.write_bytes(_deep_tar(200))
    ok(nbdocker("import", path, "deep:1"))
    ok(nbdocker("rmi", "deep:1"))


def _members(archive: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        return {
            m.name: tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.isreg()
        }


def _edited_oci_archive(
    nbdocker: RunNbdocker, tmp_path: Path, edit: Callable[[dict[str, Any]], None]
) -> bytes:
    """An OCI archive ``nbdocker save`` wrote, with its manifest changed by ``edit`` (and
    re-digested, so only the change is wrong); the image is removed from the store again."""
    rootfs = tmp_path / "rootfs.tar"
    rootfs.write_bytes(_archive([("etc/hello", b"hello\n", None)]))
    ok(nbdocker("import", rootfs, "edited:1"))
    saved = tmp_path / "oci.tar"
    ok(nbdocker("save", "--format", "oci", "-o", saved, "edited:1"))
    ok(nbdocker("rmi", "edited:1"))
    files = _members(saved.read_bytes())
    index = json.loads(files["index.json"])
    manifest = json.loads(files["blobs/sha256/" + index["manifests"][0]["digest"][7:]])
    edit(manifest)
    data = json.dumps(manifest).encode()
    new = "sha256:" + hashlib.sha256(data).hexdigest()
    files["blobs/sha256/" + new[7:]] = data
    index["manifests"][0].update(digest=new, size=len(data))
    files["index.json"] = json.dumps(index).encode()
    return _archive([(name, body, None) for name, body in files.items()])


def test_a_layer_whose_size_disagrees_with_its_descriptor_is_refused(
    nbdocker: RunNbdocker, nbdocker_home: Path, tmp_path: Path
) -> None:
    def one_byte_more(manifest: dict[str, Any]) -> None:
        manifest["layers"][0]["size"] += 1  # the blob stays as it is: its digest still matches

    hostile = _edited_oci_archive(nbdocker, tmp_path, one_byte_more)
    _load_fails(nbdocker, nbdocker_home, tmp_path, hostile, "but its descriptor says")


def test_a_layer_of_an_unknown_media_type_is_refused(
    nbdocker: RunNbdocker, nbdocker_home: Path, tmp_path: Path
) -> None:
    def unknown_type(manifest: dict[str, Any]) -> None:
        manifest["layers"][0]["mediaType"] = "application/vnd.example.not-a-layer"

    hostile = _edited_oci_archive(nbdocker, tmp_path, unknown_type)
    _load_fails(nbdocker, nbdocker_home, tmp_path, hostile, "not a layer nbdocker can unpack")
