"""``save`` and ``load`` against the real Docker engine, skopeo and buildah."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.support import RunNbdocker, ok
from tests.support.dockerd import DockerEngine
from tests.support.store import snapshot
from tests.support.trees import tree_of_docker_archive, tree_of_export


@pytest.fixture(scope="module")
def docker_multilayer(
    docker_engine: DockerEngine, busybox_tarball: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, Path]:
    """An image Docker itself built (several layers, a deletion, an opaque directory, a
    hardlink, modes and owners), and ``docker save`` of it."""
    docker_engine.run("import", "-c", 'CMD ["/bin/sh"]', busybox_tarball, "nbdtest/base:1")
    ctx = tmp_path_factory.mktemp("ctx")
    (ctx / "Dockerfile").write_text(
        "FROM nbdtest/base:1\n"
        "RUN mkdir -p /data/sub /opaque/old && echo hi > /data/x && echo old > /opaque/old/f\n"
        "RUN rm /bin/ls && rm -rf /opaque && mkdir /opaque && echo new > /opaque/g"
        " && ln /data/x /data/hard && ln -s ../data/x /opaque/sym && chmod 4755 /data/x"
        " && chown 65534:65534 /data/sub && echo deep > /data/sub/y\n"
        "ENV FOO=bar\n"
        'CMD ["/bin/sh", "-c", "cat /data/x"]\n'
    )
    docker_engine.run("build", "-q", "--network", "none", "-t", "nbdtest/multi:1", ctx)
    out = tmp_path_factory.mktemp("saved") / "multi.tar"
    docker_engine.run("save", "-o", out, "nbdtest/multi:1")
    image_id = docker_engine.run("inspect", "--format", "{{.Id}}", "nbdtest/multi:1").stdout.strip()
    return image_id, out


def _docker_export(docker_engine: DockerEngine, image: str) -> bytes:
    cid = docker_engine.run("create", "--network", "none", image, "true").stdout.strip()
    try:
        return docker_engine.run("export", cid, text=False).stdout
    finally:
        docker_engine.run("rm", cid)


@pytest.mark.docker
def test_imported_busybox_saved_by_nbdocker_loads_and_runs_in_docker(
    nbdocker: RunNbdocker, docker_engine: DockerEngine, busybox_tarball: Path, tmp_path: Path
) -> None:
    image_id = ok(
        nbdocker("import", "-c", 'CMD ["echo", "from cmd"]', busybox_tarball, "nbd/busybox:1")
    ).strip()
    archive = tmp_path / "bb.tar"
    ok(nbdocker("save", "-o", archive, "nbd/busybox:1"))
    loaded = docker_engine.run("load", "-i", archive).stdout
    assert "Loaded image: nbd/busybox:1" in loaded
    assert (
        docker_engine.run("run", "--rm", "--network", "none", "nbd/busybox:1", "echo", "ok").stdout
        == "ok\n"
    )
    assert (
        docker_engine.run("run", "--rm", "--network", "none", "nbd/busybox:1").stdout
        == "from cmd\n"
    )
    assert (
        docker_engine.run("inspect", "--format", "{{.Id}}", "nbd/busybox:1").stdout.strip()
        == image_id
    )


@pytest.mark.docker
def test_docker_save_loads_with_the_same_id_and_files(
    nbdocker: RunNbdocker,
    docker_engine: DockerEngine,
    docker_multilayer: tuple[str, Path],
    tmp_path: Path,
) -> None:
    image_id, saved = docker_multilayer
    assert ok(nbdocker("load", "-i", saved)) == "Loaded image: nbdtest/multi:1\n"
    rows = ok(nbdocker("images", "--no-trunc", "nbdtest/multi")).splitlines()[1:]
    assert rows[0].split()[2] == image_id
    [info] = json.loads(ok(nbdocker("inspect", "nbdtest/multi:1")))
    assert info["Id"] == image_id
    assert info["Config"]["Env"][-1] == "FOO=bar"
    # Files: nbdocker's save of it, flattened, equals the container filesystem Docker exports.
    ours = tmp_path / "ours.tar"
    ok(nbdocker("save", "-o", ours, "nbdtest/multi:1"))
    tree = tree_of_docker_archive(ours)["nbdtest/multi:1"]
    assert tree == tree_of_export(_docker_export(docker_engine, "nbdtest/multi:1"))
    assert "bin/ls" not in tree and "opaque/old/f" not in tree and tree["data/x"][1] == 0o4755
    # And the round trip runs in Docker again, with the same ID.
    docker_engine.run("rmi", "nbdtest/multi:1")
    docker_engine.run("load", "-i", ours)
    assert docker_engine.run("run", "--rm", "--network", "none", "nbdtest/multi:1").stdout == "hi\n"
    assert (
        docker_engine.run("inspect", "--format", "{{.Id}}", "nbdtest/multi:1").stdout.strip()
        == image_id
    )


@pytest.mark.docker
def test_load_reads_the_oci_layout_based_docker_form_and_stdin(
    nbdocker: RunNbdocker,
    docker_multilayer: tuple[str, Path],
    tmp_path: Path,
    nbdocker_home: Path,
) -> None:
    image_id, saved = docker_multilayer
    ok(nbdocker("load", "-i", saved))
    ours = tmp_path / "ours.tar"
    ok(nbdocker("save", "-o", ours, "nbdtest/multi:1"))
    # Keep only the OCI layout part (index.json, oci-layout, blobs), as Docker ≥ 25 writes it.
    only_oci = io.BytesIO()
    with tarfile.open(ours) as src, tarfile.open(fileobj=only_oci, mode="w") as dst:
        for m in src.getmembers():
            if m.name not in ("manifest.json", "repositories"):
                dst.addfile(m, src.extractfile(m) if m.isreg() else None)
    ok(nbdocker("rmi", "nbdtest/multi:1"))
    assert not any((nbdocker_home / "blobs" / "sha256").iterdir())
    out = ok(nbdocker("load", input=only_oci.getvalue()))
    assert out == "Loaded image: nbdtest/multi:1\n"
    assert json.loads(ok(nbdocker("inspect", "nbdtest/multi:1")))[0]["Id"] == image_id


@pytest.mark.skopeo
def test_skopeo_reads_the_store_and_our_oci_archives(
    nbdocker: RunNbdocker,
    nbdocker_home: Path,
    skopeo: str,
    busybox_tarball: Path,
    tmp_path: Path,
) -> None:
    image_id = ok(nbdocker("import", busybox_tarball, "ouruser/sinatra:v2")).strip()
    ref = f"oci:{nbdocker_home}:docker.io/ouruser/sinatra:v2"
    inspected = json.loads(
        subprocess.run([skopeo, "inspect", ref], check=True, capture_output=True, text=True).stdout
    )
    assert len(inspected["Layers"]) == 1
    config = json.loads(
        subprocess.run(
            [skopeo, "inspect", "--config", ref], check=True, capture_output=True, text=True
        ).stdout
    )
    assert (
        config["rootfs"]["diff_ids"]
        == json.loads(ok(nbdocker("inspect", image_id)))[0]["RootFS"]["Layers"]
    )
    # skopeo copies out of the store into an OCI archive, which nbdocker loads elsewhere.
    copied = tmp_path / "copied.tar"
    subprocess.run(
        [skopeo, "copy", ref, f"oci-archive:{copied}:sinatra:copied"],
        check=True,
        capture_output=True,
    )
    other = {"NBDOCKER_HOME": str(tmp_path / "other-home")}
    assert ok(nbdocker("load", "-i", copied, env=other)) == "Loaded image: sinatra:copied\n"
    assert json.loads(ok(nbdocker("inspect", "sinatra:copied", env=other)))[0]["Id"] == image_id
    # Our --format oci archive is one skopeo reads.
    oci = tmp_path / "ours-oci.tar"
    ok(nbdocker("save", "--format", "oci", "-o", oci, "ouruser/sinatra:v2"))
    seen = json.loads(
        subprocess.run(
            [skopeo, "inspect", f"oci-archive:{oci}"], check=True, capture_output=True, text=True
        ).stdout
    )
    assert seen["Digest"].startswith("sha256:")


@pytest.mark.skopeo
def test_loads_a_buildah_oci_archive(
    nbdocker: RunNbdocker,
    busybox_tarball: Path,
    tmp_path: Path,
    skopeo: str,
) -> None:
    import os
    import shutil

    from tests.support.real import require

    buildah = shutil.which("buildah")
    if buildah is None:
        require("buildah", "buildah not found (apt-get install buildah)")
    if os.geteuid() != 0:
        require("buildah", "buildah with a private storage root needs root here")
    # buildah names what it pulls from an OCI layout after the layout's path, which must then
    # be a valid repository name: lower case, and no "_" at an end (mkdtemp's names may have).
    store = Path("/tmp") / f"nbd-buildah-{os.getpid()}-{os.urandom(4).hex()}"
    store.mkdir()
    try:
        _buildah_round_trip(nbdocker, store, busybox_tarball, tmp_path, buildah)
    finally:
        shutil.rmtree(store, ignore_errors=True)


def _buildah_round_trip(
    nbdocker: RunNbdocker,
    nbdocker_home: Path,
    busybox_tarball: Path,
    tmp_path: Path,
    buildah: str,
) -> None:
    home = {"NBDOCKER_HOME": str(nbdocker_home)}
    image_id = ok(nbdocker("import", busybox_tarball, "src:1", env=home)).strip()
    storage = [
        "--root",
        str(tmp_path / "bh-root"),
        "--runroot",
        str(tmp_path / "bh-run"),
        "--storage-driver",
        "vfs",
    ]

    def run(*a: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([str(buildah), *storage, *a], capture_output=True, text=True)
        assert done.returncode == 0, f"buildah {a[0]}: {done.stderr}"
        return done

    pulled = run("pull", "-q", f"oci:{nbdocker_home}:docker.io/library/src:1").stdout.strip()
    out = tmp_path / "buildah.tar"
    run("push", pulled, f"oci-archive:{out}:fromb:1")
    other = {"NBDOCKER_HOME": str(tmp_path / "other")}
    assert ok(nbdocker("load", "-i", out, env=other)) == "Loaded image: fromb:1\n"
    [info] = json.loads(ok(nbdocker("inspect", "fromb:1", env=other)))
    assert (
        info["RootFS"]["Layers"]
        == json.loads(ok(nbdocker("inspect", image_id, env=home)))[0]["RootFS"]["Layers"]
    )


def _tamper(archive: Path, out: Path) -> None:
    """Flip one byte inside the first layer of a docker archive."""
    with tarfile.open(archive) as src, tarfile.open(out, "w") as dst:
        manifest = json.loads(src.extractfile("manifest.json").read())  # type: ignore[union-attr]
        victim = manifest[0]["Layers"][0]
        for m in src.getmembers():
            data = src.extractfile(m).read() if m.isreg() else None  # type: ignore[union-attr]
            if m.name == victim and data:
                pos = len(data) // 3
                data = data[:pos] + bytes([data[pos] ^ 0xFF]) + data[pos + 1 :]
            dst.addfile(m, io.BytesIO(data) if data is not None else None)


@pytest.mark.parametrize("case", ["truncated", "tampered", "rootfs tarball", "missing file"])
def test_bad_archives_are_rejected_and_change_nothing(
    nbdocker: RunNbdocker,
    nbdocker_home: Path,
    busybox_tarball: Path,
    busybox_rootfs: Path,
    tmp_path: Path,
    case: str,
) -> None:
    from tests.support.rootfs import make_rootfs_tarball

    # A different layer stays in the store (a layer already stored is not read again).
    etc = make_rootfs_tarball(busybox_rootfs / "etc", tmp_path / "etc.tar", "none")
    ok(nbdocker("import", "-m", "keep", etc, "keep:1"))
    good = tmp_path / "good.tar"
    ok(nbdocker("import", "-m", "other", busybox_tarball, "other:1"))
    ok(nbdocker("save", "-o", good, "other:1"))
    ok(nbdocker("rmi", "other:1"))
    bad = tmp_path / "bad.tar"
    if case == "truncated":
        bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
        needle = "truncated"
    elif case == "tampered":
        _tamper(good, bad)
        needle = "corrupt"
    elif case == "rootfs tarball":
        bad.write_bytes(busybox_tarball.read_bytes())
        needle = "nbdocker import"
    else:
        bad = tmp_path / "nope.tar"
        needle = "cannot open"
    before = snapshot(nbdocker_home)
    result = nbdocker("load", "-i", bad)
    assert result.returncode == 1
    err = result.stderr.decode()
    assert needle in err and err.count("\n") == 1 and "Traceback" not in err, err
    assert snapshot(nbdocker_home) == before


def test_save_of_an_unknown_image_writes_no_file(nbdocker: RunNbdocker, tmp_path: Path) -> None:
    out = tmp_path / "x.tar"
    result = nbdocker("save", "-o", out, "ghost:1")
    assert result.returncode == 1 and b"no such image: ghost:1" in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("output", "words"),
    [("missing/dir/x.tar", "does not exist"), (".", "is a directory")],
)
def test_save_to_a_bad_output_path_is_one_line(
    nbdocker: RunNbdocker, busybox_tarball: Path, tmp_path: Path, output: str, words: str
) -> None:
    ok(nbdocker("import", busybox_tarball, "bb:1"))
    before = sorted(p.name for p in tmp_path.iterdir())
    result = nbdocker("save", "-o", tmp_path / output, "bb:1")
    err = result.stderr.decode()
    assert result.returncode == 1, err
    assert len(err.strip().splitlines()) == 1 and words in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_two_processes_writing_at_once_lose_nothing(
    nbdocker: RunNbdocker, nbdocker_home: Path, busybox_tarball: Path
) -> None:
    import os
    import sys

    image_id = ok(nbdocker("import", busybox_tarball, "base:1")).strip()
    script = (
        "import sys\nfrom nbdocker.engine import Engine\n"
        "e = Engine()\n"
        "w = sys.argv[1]\n"
        f"e.import_image({str(busybox_tarball)!r}, f'imp{{w}}:1', message=w)\n"
        "for i in range(15):\n"
        f"    e.tag({image_id!r}, f'w{{w}}/t:{{i}}')\n"
    )
    env = dict(os.environ, NBDOCKER_HOME=str(nbdocker_home))
    procs = [subprocess.Popen([sys.executable, "-c", script, str(w)], env=env) for w in range(3)]
    assert [p.wait(timeout=300) for p in procs] == [0, 0, 0]
    repos = ok(nbdocker("images", "--format", "json")).splitlines()
    names = {(json.loads(r)["Repository"], json.loads(r)["Tag"]) for r in repos}
    for w in range(3):
        assert (f"imp{w}", "1") in names
        assert all((f"w{w}/t", str(i)) in names for i in range(15))
    assert len(names) == 1 + 3 + 45


@pytest.mark.docker
def test_zstd_layers_on_request_still_save_for_docker(
    nbdocker: RunNbdocker,
    nbdocker_home: Path,
    docker_engine: DockerEngine,
    busybox_tarball: Path,
) -> None:
    zstd = {"NBDOCKER_COMPRESSION": "zstd"}
    image_id = ok(nbdocker("import", busybox_tarball, "nbd/zstd:1", env=zstd)).strip()
    manifest_digest = next(
        d["digest"] for d in json.loads((nbdocker_home / "index.json").read_text())["manifests"]
    )
    manifest = json.loads(
        (nbdocker_home / "blobs" / "sha256" / manifest_digest.split(":")[1]).read_text()
    )
    [layer] = manifest["layers"]
    assert layer["mediaType"] == "application/vnd.oci.image.layer.v1.tar+zstd"
    blob = (nbdocker_home / "blobs" / "sha256" / layer["digest"].split(":")[1]).read_bytes()
    assert blob[:4] == b"\x28\xb5\x2f\xfd"
    # save to standard output, piped into docker load
    saved = nbdocker("save", "nbd/zstd:1")
    assert saved.returncode == 0, saved.stderr
    docker_engine.run("load", input=saved.stdout)
    assert (
        docker_engine.run("run", "--rm", "--network", "none", "nbd/zstd:1", "echo", "ok").stdout
        == "ok\n"
    )
    assert (
        docker_engine.run("inspect", "--format", "{{.Id}}", "nbd/zstd:1").stdout.strip() == image_id
    )
    bad = nbdocker("images", env={"NBDOCKER_COMPRESSION": "lz4"})
    assert bad.returncode == 2 and b"use gzip or zstd" in bad.stderr
