"""Several processes on one store: work in flight against an ``rmi`` that shares its layers.

A load or build decides without the store lock that a layer is already stored, then only
references it; an ``rmi`` in another process meanwhile must not delete that layer."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

from nbdocker.engine import Engine
from nbdocker.engine.builder import BuildOptions
from nbdocker.engine.events import Event, StepStarted, TaskDone
from tests.support import ok


def _rootfs_tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        data = b"shared layer\n"
        info = tarfile.TarInfo("etc/shared")
        info.size = len(data)
        info.mtime = 1_600_000_000
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "NBDOCKER_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "nbdocker", *args], capture_output=True, env=env, timeout=120
    )


def test_load_concurrent_with_rmi_of_an_image_sharing_its_layer_keeps_the_layer(
    tmp_path: Path,
) -> None:
    home, other = tmp_path / "home", tmp_path / "other"
    rootfs = tmp_path / "rootfs.tar"
    rootfs.write_bytes(_rootfs_tar())
    # b:1 has the same layer as a:1 but another config; its archive comes from another store.
    ok(_cli(other, "import", "-c", 'CMD ["b"]', str(rootfs), "b:1"))
    archive = tmp_path / "b.tar"
    ok(_cli(other, "save", "-o", str(archive), "b:1"))
    ok(_cli(home, "import", "-c", 'CMD ["a"]', str(rootfs), "a:1"))

    removed: list[subprocess.CompletedProcess[bytes]] = []

    def on_event(event: Event) -> None:
        # The load has decided that its layer is stored (a:1's) and not yet committed b:1:
        # another process removes a:1 now.
        if isinstance(event, TaskDone) and event.task == "load":
            removed.append(_cli(home, "rmi", "a:1"))

    with archive.open("rb") as source:
        assert Engine(home, on_event=on_event).load(source) == ["b:1"]
    assert len(removed) == 1 and removed[0].returncode == 0, removed
    # b:1 is whole: it saves (every blob is there) and a later rmi frees what a:1 left.
    ok(_cli(home, "save", "-o", str(tmp_path / "again.tar"), "b:1"))
    ok(_cli(home, "rmi", "b:1"))
    assert list((home / "blobs" / "sha256").iterdir()) == []


def test_build_concurrent_with_rmi_of_its_base_keeps_the_base_layer(tmp_path: Path) -> None:
    home = tmp_path / "home"
    rootfs = tmp_path / "rootfs.tar"
    rootfs.write_bytes(_rootfs_tar())
    ok(_cli(home, "import", str(rootfs), "base:1"))
    context = tmp_path / "context"
    context.mkdir()
    (context / "added").write_text("added\n")
    removed: list[subprocess.CompletedProcess[bytes]] = []

    def on_event(event: Event) -> None:
        # FROM has found base:1's layer; another process removes base:1 before the COPY.
        if isinstance(event, StepStarted) and event.step == 2:
            removed.append(_cli(home, "rmi", "base:1"))

    options = BuildOptions(tags=("built:1",), dockerfile_text="FROM base:1\nCOPY added /\n")
    Engine(home, on_event=on_event).build(str(context), options)
    assert len(removed) == 1 and removed[0].returncode == 0, removed
    ok(_cli(home, "save", "-o", str(tmp_path / "built.tar"), "built:1"))
