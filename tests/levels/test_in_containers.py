"""nbdocker where notebooks run: inside ``docker run`` with Docker's default security settings.

Three situations, each picking its own isolation level automatically:

- as root (no CAP_SYS_ADMIN, no user namespaces)            → ``chroot``
- as uid 1000 (the notebook user)                             → ``ptrace``
- as uid 1000 with ``--security-opt seccomp=unconfined``      → ``ptrace`` too: user namespaces
  work (with the host's /proc bound, a fresh one being refused), but without CAP_SYS_ADMIN the
  kernel refuses the user's sub-id range, and container root alone cannot hold Debian's
  ``_apt`` or a ``USER``; asked for, ``namespaces`` runs images owned by root.

In each, the tutorial's path: ``nbdocker info``; import busybox, ``run`` + change + ``commit``;
import Debian and build the tutorial's Dockerfile (``RUN apt-get install`` over the host's
network, ``ADD``, ``useradd``/``chown``, ``USER``), rebuild from the cache, ``push`` to the
test registry; then, outside, ``docker pull`` + ``docker run`` of the result. The layers built
in every situation hold the same files, modes and owners as the same build on the host at the
namespaces level.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import RunNbdocker
from tests.support.dockerd import DockerEngine
from tests.support.real import require
from tests.support.registry import Registry
from tests.support.testimage import TestImage, build
from tests.support.trees import view_differences, views_after_each_layer

pytestmark = [pytest.mark.docker]

DOCKERFILE = """\
# This is a comment
FROM debian:bookworm
MAINTAINER Docker Newbee <newbee@docker.com>
RUN apt-get -qq update && DEBIAN_FRONTEND=noninteractive apt-get -qqy install \\
    --no-install-recommends ruby ruby-sinatra >/dev/null
# put my local web site in myApp folder to /var/www
ADD myApp /var/www
RUN useradd -m app && chown -R app:app /var/www && mkdir -m 0750 /data && chown app:app /data
USER app
RUN touch /home/app/made-by-app
EXPOSE 4567
CMD ["ruby", "/var/www/app.rb", "-o", "0.0.0.0"]
"""
APP = 'require "sinatra"\nget("/") { "Hello from nbdocker" }\n'

SITUATIONS = {
    # name: (user, seccomp unconfined, expected level, expected note in info)
    "root": ("root", False, "chroot"),
    "uid1000": ("jovyan", False, "ptrace"),
    "uid1000-unconfined": ("jovyan", True, "ptrace"),
}


@pytest.fixture(scope="module")
def test_image(docker_engine: DockerEngine) -> TestImage:
    if shutil.which("mmdebstrap") is None:
        require("mmdebstrap", "apt-get install mmdebstrap")
    try:
        return build(docker_engine)
    except RuntimeError as exc:
        require("the nbdocker test image", str(exc))


@pytest.fixture(scope="module")
def shared(
    tmp_path_factory: pytest.TempPathFactory, busybox_tarball: Path, debian_tarball: Path
) -> Path:
    """What every container gets at /shared: the base tarballs and the build context."""
    root = tmp_path_factory.mktemp("shared")
    shutil.copyfile(busybox_tarball, root / "busybox.tar.gz")
    try:
        os.link(debian_tarball, root / "debian.tar")
    except OSError:
        shutil.copyfile(debian_tarball, root / "debian.tar")
    ctx = root / "ctx"
    (ctx / "myApp").mkdir(parents=True)
    (ctx / "Dockerfile").write_text(DOCKERFILE)
    (ctx / "myApp" / "app.rb").write_text(APP)
    for path in [root, *root.rglob("*")]:
        path.chmod(0o777 if path.is_dir() else 0o644)
    return root


@pytest.fixture(scope="module")
def debian_tarball() -> Path:
    from nbdocker.notebook.rootfs import debian_rootfs

    if shutil.which("mmdebstrap") is None:
        require("mmdebstrap", "apt-get install mmdebstrap")
    return debian_rootfs()


SCRIPT = """
export NBDOCKER_HOME="$HOME/store"
out=/shared/out-{name}
mkdir -p "$out"
nbdocker info > "$out/info.txt"
nbdocker import /shared/busybox.tar.gz busybox:1
nbdocker run --name c1 busybox:1 sh -c 'echo gem > /json && rm /bin/ls && mkdir /made'
nbdocker diff c1 > "$out/diff.txt"
nbdocker commit -m "Added json gem" -a "Docker Newbee" c1 ouruser/busybox:v2
nbdocker run --rm ouruser/busybox:v2 sh -c 'cat /json; ls /bin/ls 2>&1 || true' > "$out/run.txt"
nbdocker import /shared/debian.tar debian:bookworm
cp -r /shared/ctx "$HOME/ctx"
start=$(date +%s.%N)
nbdocker build --progress plain -t ouruser/sinatra:v2 "$HOME/ctx" > "$out/build1.txt" 2>&1
end=$(date +%s.%N)
echo "$start $end" > "$out/build-seconds.txt"
nbdocker build --progress plain -t ouruser/sinatra:v2 "$HOME/ctx" > "$out/build2.txt" 2>&1
nbdocker save -o "$out/image.tar" ouruser/sinatra:v2
nbdocker tag ouruser/sinatra:v2 {registry}/levels/{name}:v2
nbdocker push {registry}/levels/{name}:v2 > "$out/push.txt"
"""


@pytest.fixture(scope="module")
def host_build(
    shared: Path, tmp_path_factory: pytest.TempPathFactory, nbdocker_module: RunNbdocker
) -> Path:
    """The same build on the host at the namespaces level: the reference trees."""
    out = tmp_path_factory.mktemp("host-build") / "image.tar"
    assert nbdocker_module("import", shared / "debian.tar", "debian:bookworm").returncode == 0
    done = nbdocker_module("build", "--isolation", "namespaces", "-t", "ref:1", shared / "ctx")
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    assert nbdocker_module("save", "-o", out, "ref:1").returncode == 0
    return out


@pytest.fixture(scope="module")
def nbdocker_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunNbdocker]:
    import subprocess
    import sys

    home = tmp_path_factory.mktemp("host-home")

    def run(*args: object, **kw: object) -> subprocess.CompletedProcess[bytes]:
        env = {**os.environ, "NBDOCKER_HOME": str(home)}
        return subprocess.run(
            [sys.executable, "-m", "nbdocker", *map(str, args)],
            capture_output=True,
            env=env,
            check=False,
            timeout=1800,
        )

    yield run  # type: ignore[misc]


@pytest.mark.parametrize("name", list(SITUATIONS))
def test_tutorial_inside_a_default_container(
    name: str,
    test_image: TestImage,
    shared: Path,
    open_registry: Registry,
    docker_engine: DockerEngine,
    host_build: Path,
) -> None:
    user, unconfined, level = SITUATIONS[name]
    script = SCRIPT.format(name=name, registry=open_registry.host)
    done = test_image.run(
        script, user=user, seccomp_unconfined=unconfined, volumes={str(shared): "/shared"}
    )
    out = shared / f"out-{name}"
    assert done.returncode == 0, (
        done.stdout[-2000:] + done.stderr[-3000:] + _tail(out / "build1.txt")
    )

    info = (out / "info.txt").read_text()
    assert f"Isolation: {level}\n" in info, info
    if unconfined:
        assert " namespaces: unavailable: the sub-id range cannot be mapped here" in info, info
    else:
        assert " namespaces: unavailable: " in info, info

    assert (out / "diff.txt").read_text().splitlines() == [
        "C /bin",
        "D /bin/ls",
        "A /json",
        "A /made",
    ]
    ran = (out / "run.txt").read_text().splitlines()
    assert ran[0] == "gem" and "No such file" in ran[1]

    build1 = (out / "build1.txt").read_text()
    assert "Successfully tagged ouruser/sinatra:v2" in build1
    build2 = (out / "build2.txt").read_text()
    assert build2.count("Using cache") == 8, build2

    # Pulled and run by Docker, outside.
    ref = f"{open_registry.host}/levels/{name}:v2"
    docker_engine.run("pull", ref)
    shown = docker_engine.run(
        "run",
        "--rm",
        "--network",
        "none",
        ref,
        "sh",
        "-c",
        "id -un; cat /var/www/app.rb; stat -c '%U:%G %a %n' /data /var/www /home/app/made-by-app"
        " /var/lib/apt/lists/partial /etc/shadow; ruby -e 'puts 6*7'",
    ).stdout.splitlines()
    assert shown[0] == "app"
    assert "\n".join(shown[1:3]) + "\n" == APP
    assert shown[3:] == [
        "app:app 750 /data",
        "app:app 755 /var/www",
        "app:app 644 /home/app/made-by-app",
        "_apt:root 700 /var/lib/apt/lists/partial",
        "root:shadow 640 /etc/shadow",
        "42",
    ]

    # The same files, modes and owners as the namespaces build on the host, layer by layer.
    mine, reference = views_after_each_layer(out / "image.tar"), views_after_each_layer(host_build)
    assert len(mine) == len(reference)
    for index, (got, want) in enumerate(zip(mine, reference, strict=True)):
        if got != want:  # (not a bare assert: pytest would diff thousands of entries)
            pytest.fail(f"after layer {index}: {view_differences(got, want)}")


def _tail(path: Path) -> str:
    try:
        return "\n" + "\n".join(path.read_text().splitlines()[-30:])
    except OSError:
        return ""


def test_namespaces_with_a_bound_proc_when_user_namespaces_are_allowed(
    test_image: TestImage, shared: Path
) -> None:
    """Level 2: a user namespace in a container whose /proc the runtime masks (a fresh proc is
    refused): the host's /proc is bound, and the command is PID 1 of its own namespace."""
    done = test_image.run(
        "export NBDOCKER_HOME=$HOME/s NBDOCKER_ISOLATION=namespaces\n"
        "nbdocker info | grep '^Isolation: '\n"
        "nbdocker import /shared/busybox.tar.gz busybox:1 >/dev/null\n"
        "nbdocker run --rm busybox:1 sh -c 'echo pid $$; test -r /proc/self/status && echo proc'",
        user="jovyan",
        seccomp_unconfined=True,
        volumes={str(shared): "/shared"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.splitlines() == ["Isolation: namespaces", "pid 1", "proc"]


def test_asking_for_an_unavailable_level_says_why(test_image: TestImage) -> None:
    done = test_image.run(
        "NBDOCKER_HOME=$HOME/s nbdocker run --rm --isolation namespaces busybox true",
        user="jovyan",
    )
    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("Error: isolation namespaces is not available here: "), line
    assert "user namespace" in line


NOTEBOOK = "creating-images.en.ipynb"
NOTEBOOK_IMAGES = ("training/sinatra:latest", "ouruser/sinatra:v2", "ouruser/sinatra:v3")
RUN_NOTEBOOK = """
import os, sys, time, nbformat
from nbclient import NotebookClient
name, out = sys.argv[1], sys.argv[2]
nb = nbformat.read(name, as_version=4)
start = time.monotonic()
NotebookClient(nb, timeout=1800, kernel_name="python3",
               resources={"metadata": {"path": os.path.dirname(name)}}).execute()
open(os.path.join(out, "seconds.txt"), "w").write(f"{time.monotonic() - start:.1f}\\n")
nbformat.write(nb, os.path.join(out, "executed.ipynb"))
"""


def _save_images(run: object, out: Path) -> None:
    for ref in NOTEBOOK_IMAGES:
        run("save", "-o", out / (ref.replace("/", "_").replace(":", "_") + ".tar"), ref)  # type: ignore[operator]


@pytest.fixture(scope="module")
def notebook_on_host(
    tmp_path_factory: pytest.TempPathFactory, debian_tarball: Path, open_registry: Registry
) -> Path:
    """The tutorial notebook executed on this machine as root (namespaces): the reference."""
    import subprocess
    import sys

    out = tmp_path_factory.mktemp("notebook-host")
    home = tmp_path_factory.mktemp("notebook-host-home")
    env = {
        **os.environ,
        "NBDOCKER_HOME": str(home),
        "NBDOCKER_ROOTFS_CACHE": str(debian_tarball.parent),
        "NBDOCKER_TUTORIAL_REGISTRY": open_registry.host,
        "NBDOCKER_ISOLATION": "namespaces",
    }
    notebook = Path(__file__).resolve().parents[2] / "notebooks" / NOTEBOOK
    copy = out / NOTEBOOK
    shutil.copyfile(notebook, copy)
    done = subprocess.run(
        [sys.executable, "-c", RUN_NOTEBOOK, str(copy), str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    assert done.returncode == 0, done.stderr[-4000:]

    def run(*args: object) -> None:
        argv = [sys.executable, "-m", "nbdocker", *map(str, args)]
        subprocess.run(argv, env=env, check=True, capture_output=True, timeout=600)

    _save_images(run, out)
    return out


def test_tutorial_notebook_as_uid_1000_in_a_default_container(
    test_image: TestImage,
    shared: Path,
    debian_tarball: Path,
    open_registry: Registry,
    notebook_on_host: Path,
) -> None:
    out = shared / "out-notebook"
    out.mkdir(mode=0o777)
    out.chmod(0o777)
    notebook = Path(__file__).resolve().parents[2] / "notebooks" / NOTEBOOK
    shutil.copyfile(notebook, shared / NOTEBOOK)
    (shared / NOTEBOOK).chmod(0o644)
    (shared / "run_notebook.py").write_text(RUN_NOTEBOOK)
    script = f"""
export NBDOCKER_HOME="$HOME/nbstore"
cp /shared/{NOTEBOOK} "$HOME/"
python3 /shared/run_notebook.py "$HOME/{NOTEBOOK}" /shared/out-notebook
nbdocker info > /shared/out-notebook/info.txt
""" + "".join(
        f"nbdocker save -o /shared/out-notebook/{ref.replace('/', '_').replace(':', '_')}.tar "
        f"{ref}\n"
        for ref in NOTEBOOK_IMAGES
    )
    done = test_image.run(
        script,
        user="jovyan",
        volumes={
            str(shared): "/shared",
            str(debian_tarball.parent): "/shared-rootfs:ro",
        },
        env={
            "NBDOCKER_ROOTFS_CACHE": "/shared-rootfs",
            "NBDOCKER_TUTORIAL_REGISTRY": open_registry.host,
        },
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    assert "Isolation: ptrace\n" in (out / "info.txt").read_text()
    for ref in NOTEBOOK_IMAGES:
        name = ref.replace("/", "_").replace(":", "_") + ".tar"
        mine = views_after_each_layer(out / name)
        reference = views_after_each_layer(notebook_on_host / name)
        assert len(mine) == len(reference), ref
        for index, (got, want) in enumerate(zip(mine, reference, strict=True)):
            if got != want:  # (not a bare assert: pytest would diff thousands of entries)
                pytest.fail(f"{ref} after layer {index}: {view_differences(got, want)}")
