"""Isolation levels on this machine: every level builds the same image.

The machine running the tests allows every level to root (namespaces, chroot, ptrace) and
namespaces and ptrace to an ordinary user, so a level can be asked for explicitly and its result
compared with the namespaces build of the same Dockerfile: after every layer the image holds
the same paths, types, modes, owners and link targets. (``tests/levels/`` runs them where they
are chosen by themselves: inside containers with Docker's default security.)
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from nbdocker.engine.layer.emulated import MODE_XATTR, XATTR_PREFIX, decode_owner, encode_owner
from nbdocker.engine.layer.view import LowerView
from tests.support.real import require
from tests.support.terminal import run_on_terminal
from tests.support.trees import view_differences, views_after_each_layer
from tests.support.users import User, as_user, drop_user, importable_copy, make_user

from .inside import PROBE, SECCOMP_ONLY, outcomes

DOCKERFILE = """\
FROM debian:bookworm
RUN useradd -m app && mkdir -m 0750 /data && chown app:app /data && rm -r /var/cache/apt \\
    && mknod /dev-copy c 1 3 && chmod 4755 /usr/bin/env && chgrp shadow /etc/hostname \\
    && ln -s /data /data-link && chown -h app /data-link
USER app
RUN touch /home/app/made && mkdir /home/app/sub && chmod 0700 /home/app/sub
USER root
RUN rm /home/app/.bashrc && chown -R 7:7 /home/app/sub && rm -r /etc/apt/sources.list.d \\
    && mkdir /etc/apt/sources.list.d
"""


def test_owner_record_is_the_rootlesscontainers_protobuf() -> None:
    assert encode_owner(0, 0) == b""
    assert encode_owner(1000, 42) == b"\x08\xe8\x07\x10\x2a"  # uid=1000, gid=42
    assert decode_owner(b"\x08\xe8\x07\x10\x2a") == (1000, 42)
    assert decode_owner(b"\x10\x05") == (0, 5)  # a zero field is left out
    assert decode_owner(encode_owner(65534, 4294967295)) == (65534, 4294967295)


def test_the_engine_reads_layers_in_the_forms_the_copy_levels_keep(tmp_path: Path) -> None:
    """What the kernel refused kept as records: a whiteout as an empty file, a ``trusted.*``
    opaque mark in a ``user.*`` attribute. The engine's own look-ups (``WORKDIR`` creates a
    directory the image lacks) see them as the sandbox does."""
    lower, upper = tmp_path / "l0", tmp_path / "l1"
    (lower / "srv" / "x").mkdir(parents=True)
    (lower / "opt" / "old").mkdir(parents=True)
    upper.mkdir()
    (upper / "srv").touch()
    os.setxattr(upper / "srv", MODE_XATTR, b"20000 0 600")  # a 0:0 character device
    (upper / "opt").mkdir()
    os.setxattr(upper / "opt", XATTR_PREFIX + "trusted.overlay.opaque", b"y")
    (upper / "opt" / "new").mkdir()
    view = LowerView((lower, upper))
    assert view.lookup("srv") is None
    assert view.lookup("srv/x") is None
    assert view.lookup("opt/old") is None
    assert view.lookup("opt") == upper / "opt"
    assert sorted(view.listdir("")) == ["opt"]
    assert sorted(view.listdir("opt")) == ["new"]


def test_the_live_build_display_names_a_weaker_level(
    nbdocker_home: Path, busybox_tarball: Path, tmp_path: Path
) -> None:
    if os.geteuid() != 0:
        require("root", "the chroot level needs root")
    env = dict(os.environ, NBDOCKER_HOME=str(nbdocker_home), COLUMNS="120", TERM="xterm")
    base = [sys.executable, "-m", "nbdocker"]
    subprocess.run([*base, "import", busybox_tarball, "bb:1"], env=env, check=True)
    (tmp_path / "Dockerfile").write_text("FROM bb:1\nRUN touch /made\n")
    code, text, _ = run_on_terminal(
        [*base, "build", "--isolation", "chroot", "-t", "live:1", str(tmp_path)], env
    )
    assert code == 0, text
    assert "Isolation: chroot (no PID, mount or network isolation" in text, text


def _nbdocker(home: Path, *args: object, user: User | None = None, path: str = "") -> str:
    argv = [sys.executable, "-m", "nbdocker", *map(str, args)]
    env = {**os.environ, "NBDOCKER_HOME": str(home)}
    cwd = None
    if user is not None:
        argv = [*as_user(user.name), "env", f"NBDOCKER_HOME={home}", f"PYTHONPATH={path}"]
        argv += [user.python, "-m", "nbdocker", *map(str, args)]
        cwd = user.home  # (not the checkout: ``-m`` would import nbdocker from there, not ``path``)
    done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=cwd, timeout=1800)
    assert done.returncode == 0, f"{args[:3]}: {done.stderr[-3000:]}{done.stdout[-2000:]}"
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def debian_tarball() -> Iterator[Path]:
    """Debian's minbase (mmdebstrap, cached), in a folder the throwaway user can read (pytest's
    base temp is root's alone)."""
    from nbdocker.notebook.rootfs import debian_rootfs

    if shutil.which("mmdebstrap") is None:
        require("mmdebstrap", "apt-get install mmdebstrap")
    if os.geteuid() != 0:
        require("root", "the levels are compared as root and as a throwaway user")
    folder = Path(tempfile.mkdtemp(prefix="nbd-debian-", dir="/tmp"))
    try:
        folder.chmod(0o755)
        copy = folder / "debian.tar"
        shutil.copyfile(debian_rootfs(), copy)
        copy.chmod(0o644)
        yield copy
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def context() -> Iterator[Path]:
    """The build context, where the throwaway user can read it."""
    ctx = Path(tempfile.mkdtemp(prefix="nbd-ctx-", dir="/tmp"))
    try:
        ctx.chmod(0o755)
        (ctx / "Dockerfile").write_text(DOCKERFILE)
        (ctx / "Dockerfile").chmod(0o644)
        yield ctx
    finally:
        shutil.rmtree(ctx, ignore_errors=True)


@pytest.fixture(scope="module")
def reference(
    debian_tarball: Path, context: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    home = tmp_path_factory.mktemp("ref-home")
    _nbdocker(home, "import", debian_tarball, "debian:bookworm")
    _nbdocker(home, "build", "--isolation", "namespaces", "-t", "ref:1", context)
    out = home / "ref.tar"
    _nbdocker(home, "save", "-o", out, "ref:1")
    return out


@pytest.fixture(scope="module")
def plain_user() -> Iterator[tuple[User, str]]:
    user = make_user(with_subids=False)
    copy = Path(tempfile.mkdtemp(prefix="nbd-importable-", dir="/tmp"))
    try:
        os.chmod(copy, 0o755)
        yield user, importable_copy(copy)
    finally:
        drop_user(user)
        shutil.rmtree(copy, ignore_errors=True)


@pytest.mark.parametrize("level", ["chroot", "ptrace"])
def test_root_levels_build_the_namespaces_layers(
    level: str, debian_tarball: Path, context: Path, reference: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    _nbdocker(home, "import", debian_tarball, "debian:bookworm")
    shown = _nbdocker(home, "build", "--isolation", level, "-t", "lvl:1", context)
    assert f" ---> Isolation: {level} (" in shown
    _nbdocker(home, "save", "-o", tmp_path / "out.tar", "lvl:1")
    _same_views(tmp_path / "out.tar", reference)
    again = _nbdocker(home, "build", "--isolation", level, "-t", "lvl:1", context)
    assert again.count("Using cache") == 5


def test_ptrace_as_an_ordinary_user_builds_the_namespaces_layers(
    plain_user: tuple[User, str], debian_tarball: Path, context: Path, reference: Path
) -> None:
    user, path = plain_user
    home = user.home / "store"
    _nbdocker(home, "import", debian_tarball, "debian:bookworm", user=user, path=path)
    _nbdocker(home, "build", "--isolation", "ptrace", "-t", "lvl:1", context, user=user, path=path)
    saved = user.home / "out.tar"
    _nbdocker(home, "save", "-o", saved, "lvl:1", user=user, path=path)
    _same_views(saved, reference)
    # A container made at that level runs, changes and commits at it too.
    _nbdocker(
        home,
        "run",
        "--name",
        "c1",
        "lvl:1",
        "sh",
        "-c",
        "chown 7 /data && rm /data-link",
        user=user,
        path=path,
    )
    diff = _nbdocker(home, "diff", "c1", user=user, path=path)
    assert diff.splitlines() == ["C /data", "D /data-link"]
    _nbdocker(home, "commit", "c1", "lvl:2", user=user, path=path)
    out = _nbdocker(
        home, "run", "--rm", "lvl:2", "stat", "-c", "%u:%g %a", "/data", user=user, path=path
    )
    assert out.splitlines()[-1] == "7:1000 750"


def test_asking_for_a_level_this_user_cannot_have(plain_user: tuple[User, str]) -> None:
    user, path = plain_user
    argv = [*as_user(user.name), "env", f"NBDOCKER_HOME={user.home}/s", f"PYTHONPATH={path}"]
    argv += [user.python, "-m", "nbdocker", "run", "--rm", "--isolation", "chroot", "x", "true"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "Error: isolation chroot is not available here: needs root; "
        "use --isolation auto to take the strongest one that is"
    )


def _same_views(saved: Path, reference: Path) -> None:
    """After every layer the image holds the same files, modes and owners as the reference."""
    got, want = views_after_each_layer(saved), views_after_each_layer(reference)
    assert len(got) == len(want)
    for index, (mine, theirs) in enumerate(zip(got, want, strict=True)):
        if mine != theirs:  # (not a bare assert: pytest would diff thousands of entries)
            pytest.fail(f"after layer {index}: {view_differences(mine, theirs)}")


def test_ptrace_keeps_owners_static_programs_set(
    plain_user: tuple[User, str], busybox_tarball: Path
) -> None:
    """busybox is linked statically (fakeroot cannot see it): its chown calls are still kept."""
    user, path = plain_user
    user_ids = (user.uid, user.gid)
    ids = f"{user.uid}:{user.gid}"
    home = user.home / "bb-store"
    tarball = user.home / "busybox.tar.gz"
    shutil.copyfile(busybox_tarball, tarball)
    os.chown(tarball, user.uid, user.gid)
    _nbdocker(home, "import", tarball, "bb:1", user=user, path=path)
    shown = _nbdocker(
        home,
        "run",
        "--name",
        "c1",
        "--isolation",
        "ptrace",
        "bb:1",
        "sh",
        "-c",
        "mkdir /x && chown 5:7 /x && cd /x && touch f && chown 11:12 f "
        f"&& ln -s f /x/link && chown -h 3:4 /x/link && touch mine && chown {ids} mine "
        f"&& chown {ids} f",
        user=user,
        path=path,
    )
    assert "fakeroot cannot run here (the image has no glibc" in shown
    # A chown to the ids nbdocker runs as looks like one to root under PRoot: it is taken as
    # meant where the file was root's, and the output says so.
    assert f"chowned /x/f, /x/mine to {ids} (or its uid or gid)" in shown
    exported = subprocess.run(
        [
            *as_user(user.name),
            "env",
            f"NBDOCKER_HOME={home}",
            f"PYTHONPATH={path}",
            user.python,
            "-m",
            "nbdocker",
            "export",
            "c1",
        ],
        capture_output=True,
        check=True,
        timeout=300,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(exported)) as tar:
        owners = {m.name: (m.uid, m.gid) for m in tar.getmembers() if m.name.startswith("x")}
    assert owners == {"x": (5, 7), "x/f": (0, 0), "x/link": (3, 4), "x/mine": user_ids}


def test_ptrace_as_an_ordinary_user_makes_no_namespace_and_no_mount(
    plain_user: tuple[User, str], busybox_tarball: Path
) -> None:
    """The seccomp filter at the ptrace level (what ``test_inside`` checks as root): an
    ordinary user could otherwise make a user namespace, be root in it and mount."""
    user, path = plain_user
    home = user.home / "probe-store"
    tarball = user.home / "busybox-probe.tar.gz"
    shutil.copyfile(busybox_tarball, tarball)
    os.chown(tarball, user.uid, user.gid)
    _nbdocker(home, "import", tarball, "bb:1", user=user, path=path)
    shown = _nbdocker(
        home,
        "run",
        "--rm",
        "--isolation",
        "ptrace",
        "bb:1",
        "sh",
        "-c",
        PROBE,
        user=user,
        path=path,
    )
    seen = outcomes(shown)
    assert {k: seen.get(k) for k in SECCOMP_ONLY} == SECCOMP_ONLY
