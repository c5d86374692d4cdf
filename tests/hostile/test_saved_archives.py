"""``load`` and ``import`` of archives near the edge: a deep but sane tree imports, and an
archive ``nbdocker save`` wrote, changed in one field, is refused. The hostile cases made from
scratch are in :mod:`tests.hostile`."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.hostile.conftest import Attempt, refused
from tests.hostile.corpus import archive, deep_tar, digest
from tests.support import RunNbdocker, ok


def test_import_accepts_a_deep_but_sane_tree(nbdocker: RunNbdocker, tmp_path: Path) -> None:
    path = tmp_path / "deep.tar"
    path.write_bytes(deep_tar(200))
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
    rootfs.write_bytes(archive([("etc/hello", b"hello\n", None)]))
    ok(nbdocker("import", rootfs, "edited:1"))
    saved = tmp_path / "oci.tar"
    ok(nbdocker("save", "--format", "oci", "-o", saved, "edited:1"))
    ok(nbdocker("rmi", "edited:1"))
    files = _members(saved.read_bytes())
    index = json.loads(files["index.json"])
    manifest = json.loads(files["blobs/sha256/" + index["manifests"][0]["digest"][7:]])
    edit(manifest)
    data = json.dumps(manifest).encode()
    new = digest(data)
    files["blobs/sha256/" + new[7:]] = data
    index["manifests"][0].update(digest=new, size=len(data))
    files["index.json"] = json.dumps(index).encode()
    return archive([(name, body, None) for name, body in files.items()])


def test_a_layer_whose_size_disagrees_with_its_descriptor_is_refused(
    nbdocker: RunNbdocker, attempt: Attempt, tmp_path: Path
) -> None:
    def one_byte_more(manifest: dict[str, Any]) -> None:
        manifest["layers"][0]["size"] += 1  # the blob stays as it is: its digest still matches

    hostile = _edited_oci_archive(nbdocker, tmp_path, one_byte_more)
    (attempt.inputs / "image.tar").write_bytes(hostile)
    refused(attempt, "but its descriptor says", "load", "-i", attempt.inputs / "image.tar")


def test_a_layer_of_an_unknown_media_type_is_refused(
    nbdocker: RunNbdocker, attempt: Attempt, tmp_path: Path
) -> None:
    def unknown_type(manifest: dict[str, Any]) -> None:
        manifest["layers"][0]["mediaType"] = "application/vnd.example.not-a-layer"

    hostile = _edited_oci_archive(nbdocker, tmp_path, unknown_type)
    (attempt.inputs / "image.tar").write_bytes(hostile)
    refused(attempt, "not a layer nbdocker", "load", "-i", attempt.inputs / "image.tar")
