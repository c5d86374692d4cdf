"""nbdocker where notebooks run: inside ``docker run`` with Docker's default security settings.

Three situations, each picking its own isolation level automatically:

- as root (no CAP_SYS_ADMIN, no user namespaces)            → ``chroot``
- as uid 1000 (the notebook user)                             → ``ptrace``
- as uid 1000 with ``--security-opt seccomp=unconfined``      → ``ptrace`` too: user namespaces
  work (with the host's /proc bound, a fresh one being refused), but without CAP_SYS_ADMIN the
  kernel refuses the user's sub-id range, and container root alone cannot hold Debian's
  ``_apt`` or a ``USER``; asked for, ``namespaces`` runs images owned by root.

Each situation is one container running one script (what costs is done once: the test image,
each Debian build, the notebook), all of them at the same time as the reference builds on this
machine (root, namespaces). Every situation runs ``nbdocker info`` and the busybox path: import,
``run`` + change (a ``chown`` by a static program) + ``commit``, a Dockerfile build with ``ADD``,
``USER``, ``chown``, ``chmod``, a symlink's owner, deletions and ``WORKDIR``, a cached rebuild
and ``push``. Then one Debian build with its level's own cost: as root the tutorial's Dockerfile
(``RUN apt-get install`` over the host's network, ``ADD``, ``useradd``/``chown``, ``USER``); as
uid 1000 the tutorial notebook itself, executed by nbclient, then a Dockerfile of users and owners
(``useradd``, ``chown``, ``USER``: Debian's programs, seen through fakeroot); unconfined, that
Dockerfile alone. Outside, Docker pulls and runs what each pushed, and every image holds, layer by
layer, the same files, modes and owners as the same build on this machine at the namespaces level.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.dockerd import DockerEngine
from tests.support.real import require
from tests.support.registry import Registry
from tests.support.testimage import TestImage, build
from tests.support.trees import view_differences, views_after_each_layer

pytestmark = [pytest.mark.docker, pytest.mark.timeout(3600)]

REPO = Path(__file__).resolve().parents[2]

# The tutorial's Dockerfile (its ``gem install sinatra`` made Debian's package). Its first step
# is the notebook's (``APT_STEP``), so that on this machine the reference build takes it from the
# cache of the reference notebook run instead of running apt-get once more.
APT_STEP = (
    "RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
    "--no-install-recommends ruby ruby-sinatra >/dev/null"
)
DOCKERFILE = f"""\
# This is a comment
FROM debian:bookworm
{APT_STEP}
MAINTAINER Docker Newbee <newbee@docker.com>
# put my local web site in myApp folder to /var/www
ADD myApp /var/www
RUN useradd -m app && chown -R app:app /var/www && mkdir -m 0750 /data && chown app:app /data
USER app
RUN touch /home/app/made-by-app
EXPOSE 4567
CMD ["ruby", "/var/www/app.rb", "-o", "0.0.0.0"]
"""
APP = 'require "sinatra"\nget("/") { "Hello from nbdocker" }\n'

# Users and owners set by Debian's own programs (glibc: fakeroot sees them at ptrace).
USERS_DOCKERFILE = """\
FROM debian:bookworm
ADD myApp /var/www
RUN useradd -m app && chown -R app:app /var/www && mkdir -m 0750 /data && chown app:app /data \\
    && chgrp shadow /etc/hostname && chmod 4755 /usr/bin/env
USER app
RUN touch /home/app/made-by-app && mkdir /home/app/sub && chmod 0700 /home/app/sub
USER root
RUN rm /home/app/.bashrc && chown -R 7:7 /home/app/sub && ln -s /data /data-link \\
    && chown -h app /data-link
WORKDIR /srv/app
CMD ["sh", "-c", "id -un; stat -c '%u:%g %a %n' /data /var/www /home/app/sub /etc/shadow"]
"""

# The same path on busybox: every program is static (no fakeroot at ptrace; chowns still kept).
BUSYBOX_DOCKERFILE = """\
FROM busybox:1
ADD site /var/www
RUN echo app:x:1000:1000::/home/app:/bin/sh >> /etc/passwd && echo app:x:1000: >> /etc/group \\
    && mkdir -p /home/app && chown app:app /home/app && chown -R app:app /var/www \\
    && mkdir -m 0750 /data && chown app:app /data && chown 5:7 /var/www/index.html && rm /bin/vi
USER app
RUN touch /home/app/made && mkdir /home/app/sub && chmod 0700 /home/app/sub
USER root
RUN ln -s /data /data-link && chown -h 3:4 /data-link && rm -r /var/www/old
WORKDIR /srv/deep/dir
CMD ["sh", "-c", "stat -c '%u:%g %a %n' /data /data-link /var/www/index.html /srv/deep/dir"]
"""

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
open(os.path.join(out, "notebook-seconds.txt"), "w").write(f"{time.monotonic() - start:.1f}\\n")
nbformat.write(nb, os.path.join(out, "executed.ipynb"))
"""


def _file_name(ref: str) -> str:
    return ref.replace("/", "_").replace(":", "_") + ".tar"


# ---------------------------------------------------------------- the scripts

COMMON = """
out=/shared/out/$NAME
mkdir -p "$out"
export NBDOCKER_HOME="$HOME/store"
nbdocker info > "$out/info.txt"
nbdocker import /shared/busybox.tar.gz busybox:1 >/dev/null
nbdocker run --name c1 busybox:1 sh -c 'echo gem > /json && rm /bin/ls && mkdir /made \\
    && chown 5:7 /made'
nbdocker diff c1 > "$out/diff.txt"
nbdocker commit -m "Added json gem" -a "Docker Newbee" c1 ouruser/busybox:v2 >/dev/null
nbdocker run --rm ouruser/busybox:v2 sh -c 'cat /json; ls /bin/ls 2>&1 || true' > "$out/run.txt"
nbdocker save -o "$out/busybox-v2.tar" ouruser/busybox:v2
nbdocker build --progress plain -t ouruser/site:bb /shared/bb-ctx > "$out/bb-build1.txt" 2>&1
nbdocker build --progress plain -t ouruser/site:bb /shared/bb-ctx > "$out/bb-build2.txt" 2>&1
nbdocker save -o "$out/bb.tar" ouruser/site:bb
nbdocker tag ouruser/site:bb "$REGISTRY/$NAME/site:bb"
nbdocker push "$REGISTRY/$NAME/site:bb" > "$out/bb-push.txt"
"""

TUTORIAL = """
nbdocker import /shared/debian.tar debian:bookworm >/dev/null
start=$(date +%s.%N)
nbdocker build --progress plain -t ouruser/sinatra:v2 /shared/ctx > "$out/build1.txt" 2>&1
echo "$start $(date +%s.%N)" > "$out/build-seconds.txt"
nbdocker build --progress plain -t ouruser/sinatra:v2 /shared/ctx > "$out/build2.txt" 2>&1
nbdocker save -o "$out/debian.tar" ouruser/sinatra:v2
nbdocker tag ouruser/sinatra:v2 "$REGISTRY/$NAME/sinatra:v2"
nbdocker push "$REGISTRY/$NAME/sinatra:v2" > "$out/push.txt"
"""

USERS = """
nbdocker build --progress plain -t ouruser/users:1 /shared/users-ctx > "$out/users-build.txt" 2>&1
nbdocker save -o "$out/users.tar" ouruser/users:1
nbdocker tag ouruser/users:1 "$REGISTRY/$NAME/users:1"
nbdocker push "$REGISTRY/$NAME/users:1" > "$out/users-push.txt"
"""

NOTEBOOK_RUN = """
status=0
nbdocker run --rm --isolation namespaces busybox:1 true 2> "$out/asked.txt" || status=$?
echo "$status" > "$out/asked-status.txt"
export NBDOCKER_HOME="$HOME/nbstore"
cp /shared/notebook.ipynb "$HOME/tutorial.ipynb"
NBDOCKER_TUTORIAL_REGISTRY="$REGISTRY/$NAME-notebook" \\
    python3 /shared/run_notebook.py "$HOME/tutorial.ipynb" "$out"
""" + "".join(f'nbdocker save -o "$out/{_file_name(ref)}" {ref}\n' for ref in NOTEBOOK_IMAGES)

UNCONFINED = """
nbdocker import /shared/debian.tar debian:bookworm >/dev/null
NBDOCKER_ISOLATION=namespaces nbdocker info > "$out/ns-info.txt"
NBDOCKER_ISOLATION=namespaces nbdocker run --rm busybox:1 \\
    sh -c 'echo pid $$; test -r /proc/self/status && echo proc' > "$out/ns-run.txt"
"""


@dataclass(frozen=True)
class Situation:
    user: str
    unconfined: bool
    level: str
    script: str


SITUATIONS = {
    "root": Situation("root", False, "chroot", COMMON + TUTORIAL),
    "uid1000": Situation("jovyan", False, "ptrace", COMMON + NOTEBOOK_RUN + USERS),
    "uid1000-unconfined": Situation("jovyan", True, "ptrace", COMMON + UNCONFINED + USERS),
}


# ---------------------------------------------------------------- running it all at once


class Runs:
    """Everything the tests look at, started at once: the test image and then one container
    per situation, and the reference builds on this machine. ``result(name)`` waits for one."""

    def __init__(self, shared: Path, registry: Registry, engine: DockerEngine) -> None:
        self.shared, self.registry, self.engine = shared, registry, engine
        self.pool = ThreadPoolExecutor(max_workers=6, thread_name_prefix="levels")
        self.jobs: dict[str, Future[object]] = {}

    def start(self, name: str, job: Callable[[], object]) -> None:
        self.jobs[name] = self.pool.submit(job)

    def result(self, name: str) -> object:
        return self.jobs[name].result()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def _nbdocker_host(home: Path, *args: object, env: dict[str, str] | None = None) -> str:
    """nbdocker on this machine as root, at the namespaces level."""
    full = {**os.environ, "NBDOCKER_HOME": str(home), "NBDOCKER_ISOLATION": "namespaces"}
    full.update(env or {})
    done = subprocess.run(
        [sys.executable, "-m", "nbdocker", *map(str, args)],
        capture_output=True,
        text=True,
        env=full,
        timeout=1800,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(f"host nbdocker {args[:2]}: {done.stderr[-3000:]}")
    return done.stdout


def _host_builds(shared: Path, out: Path) -> Path:
    """The reference images of the busybox path and the users build, on this machine."""
    home = out / "store"
    _nbdocker_host(home, "import", shared / "busybox.tar.gz", "busybox:1")
    change = "echo gem > /json && rm /bin/ls && mkdir /made && chown 5:7 /made"
    _nbdocker_host(home, "run", "--name", "c1", "busybox:1", "sh", "-c", change)
    _nbdocker_host(home, "commit", "c1", "ouruser/busybox:v2")
    _nbdocker_host(home, "save", "-o", out / "busybox-v2.tar", "ouruser/busybox:v2")
    _nbdocker_host(home, "build", "-t", "ouruser/site:bb", shared / "bb-ctx")
    _nbdocker_host(home, "save", "-o", out / "bb.tar", "ouruser/site:bb")
    _nbdocker_host(home, "import", shared / "debian.tar", "debian:bookworm")
    _nbdocker_host(home, "build", "-t", "ouruser/users:1", shared / "users-ctx")
    _nbdocker_host(home, "save", "-o", out / "users.tar", "ouruser/users:1")
    return out


def _host_notebook(shared: Path, out: Path, rootfs_cache: Path, registry: str) -> Path:
    """The tutorial notebook executed on this machine as root (namespaces), then the tutorial's
    Dockerfile built in its store (its apt-get step cached): the references of both."""
    home = out / "store"
    out.mkdir(parents=True)
    notebook = (shared / "notebook.ipynb").read_text()
    assert APT_STEP.replace('"', '\\"') in notebook, "the notebook's apt-get step changed"
    env = {
        **os.environ,
        "NBDOCKER_HOME": str(home),
        "NBDOCKER_ROOTFS_CACHE": str(rootfs_cache),
        "NBDOCKER_TUTORIAL_REGISTRY": f"{registry}/host-notebook",
        "NBDOCKER_ISOLATION": "namespaces",
    }
    copy = out / "tutorial.ipynb"
    shutil.copyfile(shared / "notebook.ipynb", copy)
    done = subprocess.run(
        [sys.executable, "-c", RUN_NOTEBOOK, str(copy), str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=3000,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(f"the notebook on this machine: {done.stderr[-4000:]}")
    for ref in NOTEBOOK_IMAGES:
        _nbdocker_host(home, "save", "-o", out / _file_name(ref), ref)
    built = _nbdocker_host(home, "build", "-t", "ouruser/sinatra:tutorial", shared / "ctx")
    assert built.count("Using cache") == 1, built  # the notebook's apt-get step
    _nbdocker_host(home, "save", "-o", out / "debian.tar", "ouruser/sinatra:tutorial")
    return out


def _in_container(
    runs: Runs, image: Future[object], name: str, rootfs_cache: Path
) -> Callable[[], object]:
    """The job of situation ``name``: its script in a new container of the test image."""
    situation = SITUATIONS[name]

    def job() -> subprocess.CompletedProcess[str]:
        test_image = image.result()
        assert isinstance(test_image, TestImage)
        return test_image.run(
            situation.script,
            user=situation.user,
            seccomp_unconfined=situation.unconfined,
            volumes={str(runs.shared): "/shared", str(rootfs_cache): "/shared-rootfs:ro"},
            env={
                "NAME": name,
                "REGISTRY": runs.registry.host,
                "NBDOCKER_ROOTFS_CACHE": "/shared-rootfs",
            },
        )

    return job


def _write_contexts(shared: Path, busybox_tarball: Path, debian_tarball: Path) -> None:
    shutil.copyfile(busybox_tarball, shared / "busybox.tar.gz")
    try:
        os.link(debian_tarball, shared / "debian.tar")
    except OSError:
        shutil.copyfile(debian_tarball, shared / "debian.tar")
    for name, dockerfile in (("ctx", DOCKERFILE), ("users-ctx", USERS_DOCKERFILE)):
        ctx = shared / name
        (ctx / "myApp").mkdir(parents=True)
        (ctx / "Dockerfile").write_text(dockerfile)
        (ctx / "myApp" / "app.rb").write_text(APP)
    bb = shared / "bb-ctx"
    (bb / "site" / "old").mkdir(parents=True)
    (bb / "Dockerfile").write_text(BUSYBOX_DOCKERFILE)
    (bb / "site" / "index.html").write_text("<h1>Hello from nbdocker</h1>\n")
    (bb / "site" / "old" / "page.html").write_text("gone\n")
    shutil.copyfile(REPO / "notebooks" / NOTEBOOK, shared / "notebook.ipynb")
    (shared / "run_notebook.py").write_text(RUN_NOTEBOOK)
    (shared / "out").mkdir()
    for path in [shared, *shared.rglob("*")]:
        if path.is_dir():
            path.chmod(0o777)
        elif not path.samefile(debian_tarball):
            path.chmod(0o644)


@pytest.fixture(scope="module")
def debian_tarball() -> Path:
    from nbdocker.notebook.rootfs import debian_rootfs

    if shutil.which("mmdebstrap") is None:
        require("mmdebstrap", "apt-get install mmdebstrap")
    return debian_rootfs()


@pytest.fixture(scope="module")
def runs(
    docker_engine: DockerEngine,
    open_registry: Registry,
    busybox_tarball: Path,
    debian_tarball: Path,
) -> Iterator[Runs]:
    if shutil.which("mmdebstrap") is None:
        require("mmdebstrap", "apt-get install mmdebstrap")
    shared = Path(tempfile.mkdtemp(prefix="nbd-levels-", dir="/tmp"))
    host = Path(tempfile.mkdtemp(prefix="nbd-levels-host-", dir="/tmp"))
    _write_contexts(shared, busybox_tarball, debian_tarball)
    cache = debian_tarball.parent
    all_runs = Runs(shared, open_registry, docker_engine)
    try:
        all_runs.start("image", lambda: build(docker_engine))
        for name in SITUATIONS:
            all_runs.start(name, _in_container(all_runs, all_runs.jobs["image"], name, cache))
        all_runs.start("host-builds", lambda: _host_builds(shared, host / "builds"))
        all_runs.start(
            "host-notebook",
            lambda: _host_notebook(shared, host / "notebook", cache, open_registry.host),
        )
        yield all_runs
    finally:
        all_runs.close()
        shutil.rmtree(shared, ignore_errors=True)
        shutil.rmtree(host, ignore_errors=True)


# ---------------------------------------------------------------- what the tests look at


def _situation(runs: Runs, name: str) -> Path:
    """The output folder of a situation whose script ran to its end."""
    try:
        runs.result("image")
    except RuntimeError as exc:
        require("the nbdocker test image", str(exc))
    done = runs.result(name)
    assert isinstance(done, subprocess.CompletedProcess)
    out = runs.shared / "out" / name
    assert done.returncode == 0, (
        done.stdout[-2000:] + done.stderr[-3000:] + _tails(out, "build1.txt", "users-build.txt")
    )
    return out


def _tails(out: Path, *names: str) -> str:
    shown = ""
    for name in names:
        try:
            shown += f"\n--- {name}\n" + "\n".join((out / name).read_text().splitlines()[-30:])
        except OSError:
            continue
    return shown


def _same_views(mine: Path, reference: Path, what: str) -> None:
    """After every layer the image holds the same files, modes and owners as the reference."""
    got, want = views_after_each_layer(mine), views_after_each_layer(reference)
    assert len(got) == len(want), what
    for index, (a, b) in enumerate(zip(got, want, strict=True)):
        if a != b:  # (not a bare assert: pytest would diff thousands of entries)
            pytest.fail(f"{what} after layer {index}: {view_differences(a, b)}")


def _pulled_and_run(runs: Runs, ref: str, *command: str) -> list[str]:
    """``docker pull`` + ``docker run`` of ``ref`` outside (Docker's own engine)."""
    runs.engine.run("pull", ref, timeout=900)
    shown = runs.engine.run("run", "--rm", "--network", "none", ref, *command)
    return shown.stdout.splitlines()


@pytest.mark.parametrize("name", list(SITUATIONS))
def test_info_names_the_level(runs: Runs, name: str) -> None:
    out = _situation(runs, name)
    info = (out / "info.txt").read_text()
    assert f"Isolation: {SITUATIONS[name].level}\n" in info, info
    if SITUATIONS[name].unconfined:
        assert " namespaces: unavailable: the sub-id range cannot be mapped here" in info, info
    else:
        assert " namespaces: unavailable: " in info, info
    if SITUATIONS[name].level == "ptrace":
        assert " chroot: unavailable: needs root" in info, info


@pytest.mark.parametrize("name", list(SITUATIONS))
def test_busybox_run_commit_build_push(runs: Runs, name: str) -> None:
    out = _situation(runs, name)
    assert (out / "diff.txt").read_text().splitlines() == [
        "C /bin",
        "D /bin/ls",
        "A /json",
        "A /made",
    ]
    ran = (out / "run.txt").read_text().splitlines()
    assert ran[0] == "gem" and "No such file" in ran[1], ran
    level = SITUATIONS[name].level
    reference = runs.result("host-builds")
    assert isinstance(reference, Path)
    _same_views(out / "busybox-v2.tar", reference / "busybox-v2.tar", f"a commit at {level}")
    assert f" ---> Isolation: {level} (" in (out / "bb-build1.txt").read_text()
    again = (out / "bb-build2.txt").read_text()
    assert again.count("Using cache") == 8, again
    _same_views(out / "bb.tar", reference / "bb.tar", f"busybox build at {level}")
    shown = _pulled_and_run(runs, f"{runs.registry.host}/{name}/site:bb")
    assert shown == [
        "1000:1000 750 /data",
        "3:4 777 /data-link",
        "5:7 644 /var/www/index.html",
        "0:0 755 /srv/deep/dir",
    ]


def test_tutorial_build_as_root_in_a_default_container(runs: Runs) -> None:
    """``chroot``: the tutorial's Dockerfile with ``apt-get install``, rebuilt from the cache."""
    out = _situation(runs, "root")
    build1 = (out / "build1.txt").read_text()
    assert "Successfully tagged ouruser/sinatra:v2" in build1
    assert (out / "build2.txt").read_text().count("Using cache") == 8
    reference = runs.result("host-notebook")
    assert isinstance(reference, Path)
    _same_views(out / "debian.tar", reference / "debian.tar", "the tutorial's build at chroot")
    shown = _pulled_and_run(
        runs,
        f"{runs.registry.host}/root/sinatra:v2",
        "sh",
        "-c",
        "id -un; cat /var/www/app.rb; stat -c '%U:%G %a %n' /data /var/www "
        "/home/app/made-by-app /var/lib/apt/lists/partial /etc/shadow; ruby -e 'puts 6*7'",
    )
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


def test_tutorial_notebook_as_uid_1000_in_a_default_container(runs: Runs) -> None:
    """The tutorial notebook, executed by nbclient as uid 1000 (``ptrace``), runs without
    errors and makes the images the same notebook makes on a root machine."""
    out = _situation(runs, "uid1000")
    assert (out / "executed.ipynb").exists()
    reference = runs.result("host-notebook")
    assert isinstance(reference, Path)
    for ref in NOTEBOOK_IMAGES:
        _same_views(out / _file_name(ref), reference / _file_name(ref), f"{ref} at ptrace")
    shown = _pulled_and_run(
        runs,
        f"{runs.registry.host}/uid1000-notebook/ouruser/sinatra:v2",
        "ruby",
        "-rjson",
        "-e",
        "puts JSON.generate([6 * 7])",
    )
    assert shown == ["[42]"]


@pytest.mark.parametrize("name", ["uid1000", "uid1000-unconfined"])
def test_users_and_owners_set_by_debian_programs(runs: Runs, name: str) -> None:
    """``useradd``, ``chown``, ``chmod``, ``USER`` through fakeroot at ``ptrace``."""
    out = _situation(runs, name)
    reference = runs.result("host-builds")
    assert isinstance(reference, Path)
    _same_views(out / "users.tar", reference / "users.tar", f"the users build as {name}")
    shown = _pulled_and_run(runs, f"{runs.registry.host}/{name}/users:1")
    assert shown == [
        "root",
        "1000:1000 750 /data",
        "1000:1000 755 /var/www",
        "7:7 700 /home/app/sub",
        "0:42 640 /etc/shadow",
    ]


def test_asking_for_an_unavailable_level_says_why(runs: Runs) -> None:
    out = _situation(runs, "uid1000")
    assert (out / "asked-status.txt").read_text().strip() == "1"
    [line] = (out / "asked.txt").read_text().strip().splitlines()
    assert line.startswith("Error: isolation namespaces is not available here: "), line
    assert "user namespace" in line


def test_namespaces_with_a_bound_proc_when_user_namespaces_are_allowed(runs: Runs) -> None:
    """Level 2, asked for: a user namespace in a container whose /proc the runtime masks (a
    fresh proc is refused): the host's /proc is bound, and the command is PID 1 of its own
    namespace; only container root is mapped."""
    out = _situation(runs, "uid1000-unconfined")
    assert "Isolation: namespaces\n" in (out / "ns-info.txt").read_text()
    assert (out / "ns-run.txt").read_text().splitlines() == ["pid 1", "proc"]
