"""Rootless: the same core cases run as a throwaway unprivileged user (created here as root).

The user gets an /etc/subuid and /etc/subgid range, so container uids 1..65536 map to it
(files of ``app`` or ``_apt`` work); a second user without a range checks the root-only map.
Both users and their ranges are removed afterwards. A machine that cannot run rootless
containers fails these tests with the kernel's reason under ``NBDOCKER_REQUIRE_REAL=1``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.real import require
from tests.support.users import User, as_user, drop_user, importable_copy, make_user

from .inside import EXPECTED, PROBE, outcomes
from .support import RUNNER, make_layer, parse_runner, runner_cmd, upper_listing


@pytest.fixture(scope="module")
def code() -> Iterator[Path]:
    """nbdocker and the runner where the throwaway users can read them (the checkout may be
    in a private folder), with the sandbox's one dependency, pyseccomp (one module, beside
    the runner: on its ``sys.path``)."""
    import pyseccomp

    copy = Path(tempfile.mkdtemp(prefix="nbd-runner-", dir="/tmp"))
    try:
        os.chmod(copy, 0o755)
        extra = (RUNNER, Path(pyseccomp.__file__))
        importable_copy(copy, with_dependencies=False, extra=extra)
        yield copy
    finally:
        shutil.rmtree(copy, ignore_errors=True)


@pytest.fixture(scope="module")
def subid_user(code: Path) -> Iterator[User]:
    user = make_user(with_subids=True)
    user.code = code
    try:
        yield user
    finally:
        drop_user(user)


@pytest.fixture(scope="module")
def plain_user(code: Path) -> Iterator[User]:
    user = make_user(with_subids=False)
    user.code = code
    try:
        yield user
    finally:
        drop_user(user)


def _layer_for(user: User, busybox_rootfs: Path) -> Path:
    """The test layer, owned by the user (as a rootless unpack makes it)."""
    layer = user.home / "layer"
    if not layer.exists():
        make_layer(busybox_rootfs, layer)
        subprocess.run(["chown", "-R", "-h", f"{user.uid}:{user.gid}", str(layer)], check=True)
        if user.subuid is not None:  # container uid 100 ("_apt") = first sub-uid + 99
            os.chown(layer / "data/keep", user.subuid + 99, user.subuid + 99)
            os.chown(layer / "home/app", user.subuid + 999, user.subuid + 999)
    return layer


def _run_as(who: User, layer: Path, argv: list[str], rootfs: str, **spec: Any) -> dict[str, Any]:
    case = Path(tempfile.mkdtemp(dir=who.home))
    os.chown(case, who.uid, who.gid)
    job = {
        "spec": {
            "layers": [str(layer)],
            "upper": str(case / "upper"),
            "work": str(case / "work"),
            "argv": argv,
            **spec,
        },
        "rootfs": rootfs,
        "out": str(case),
    }
    # The namespaces level as such: a user without a sub-id range would be given ptrace.
    env = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": str(who.home),
        "NBDOCKER_ISOLATION": "namespaces",
    }
    proc = subprocess.run(
        [*as_user(who.name), *runner_cmd(job, who.python, who.code)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    result = parse_runner(proc)
    assert "rc" in result or "error" in result, f"runner failed: {proc.stderr}"
    error = result.get("error", "")
    if "cannot run a rootless container" in error:
        require("rootless containers", error)
    result["out"] = (case / "stdout").read_text()
    result["err"] = (case / "stderr").read_text()
    result["upper"] = case / "upper"
    result["work"] = case / "work"
    return result


CORE = [
    (["sh", "-c", "echo $$"], {}, "1"),
    (["id", "-u"], {}, "0"),
    (["sh", "-c", "exit 3"], {}, None),
    (["hostname"], {"hostname": "feedfacecafe"}, "feedfacecafe"),
    (["sh", "-c", "ip -o link | cut -d' ' -f2"], {"network": "none"}, "lo:"),
    (["sh", "-c", "grep ^CapEff /proc/self/status"], {}, "CapEff:\t00000000a80425fb"),
    (["sh", "-c", "grep NoNewPrivs /proc/self/status"], {}, "NoNewPrivs:\t1"),
    (["sh", "-c", "echo x > /proc/sys/kernel/domainname || echo refused"], {}, "refused"),
    (["sh", "-c", "touch /sys/x 2>/dev/null || echo refused"], {}, "refused"),
    (["pwd"], {"cwd": "/made/here"}, "/made/here"),
]


@pytest.mark.parametrize("rootfs", ["overlay", "copy"])
@pytest.mark.parametrize(("argv", "spec", "expected"), CORE)
def test_core_cases(
    subid_user: User,
    busybox_rootfs: Path,
    rootfs: str,
    argv: list[str],
    spec: dict[str, Any],
    expected: str | None,
) -> None:
    layer = _layer_for(subid_user, busybox_rootfs)
    res = _run_as(subid_user, layer, argv, rootfs, **spec)
    assert "error" not in res, res
    assert res["started"] == {"rootfs": rootfs, "rootless": True, "subids": True}
    if expected is None:
        assert res["rc"] == 3
    else:
        assert (res["rc"], res["out"].strip()) == (0, expected), res["err"]


@pytest.mark.parametrize("rootfs", ["overlay", "copy"])
def test_exit_127_and_126(subid_user: User, busybox_rootfs: Path, rootfs: str) -> None:
    layer = _layer_for(subid_user, busybox_rootfs)
    res = _run_as(subid_user, layer, ["nope"], rootfs)
    assert res["rc"] == 127
    assert 'exec: "nope": executable file not found in $PATH' in res["err"]
    assert _run_as(subid_user, layer, ["/bin/notexec"], rootfs)["rc"] == 126


@pytest.mark.parametrize("rootfs", ["overlay", "copy"])
def test_subordinate_ids(subid_user: User, busybox_rootfs: Path, rootfs: str) -> None:
    layer = _layer_for(subid_user, busybox_rootfs)
    script = "stat -c %u /data/keep; touch /home/app/x"
    res = _run_as(subid_user, layer, ["sh", "-c", script], rootfs, user="app")
    assert res["rc"] == 0, res["err"]
    assert res["out"].split()[:1] == ["100"]
    assert subid_user.subuid is not None
    assert os.lstat(res["upper"] / "home/app/x").st_uid == subid_user.subuid + 999


@pytest.mark.parametrize("rootfs", ["overlay", "copy"])
def test_upper_dir(subid_user: User, busybox_rootfs: Path, rootfs: str) -> None:
    layer = _layer_for(subid_user, busybox_rootfs)
    script = (
        "echo n > /new; rm /etc/gone; rm -rf /data/sub; mkdir /data/sub; cat /etc/hosts >/dev/null"
    )
    res = _run_as(subid_user, layer, ["sh", "-c", script], rootfs)
    assert res["rc"] == 0, res["err"]
    listing = upper_listing(res["upper"])
    assert listing["new"] == "file"
    assert listing["etc/gone"] == "whiteout"
    expect_sub = {"overlay": ("data/sub", "opaque-dir"), "copy": ("data/sub/f", "whiteout")}
    key, kind = expect_sub[rootfs]
    assert listing[key] == kind
    assert "etc/hosts" not in listing
    assert os.listdir(res["work"]) == []  # scratch removed (no root-owned overlay workdir left)
    assert not [
        line
        for line in Path("/proc/self/mountinfo").read_text().splitlines()
        if str(subid_user.home) in line
    ]


def test_root_only_map(plain_user: User, busybox_rootfs: Path) -> None:
    layer = _layer_for(plain_user, busybox_rootfs)
    res = _run_as(plain_user, layer, ["sh", "-c", "id -u; grep -c . /proc/self/uid_map"], "overlay")
    assert res["started"] == {"rootfs": "overlay", "rootless": True, "subids": False}, res
    assert (res["rc"], res["out"].split()) == (0, ["0", "1"]), res["err"]
    res = _run_as(plain_user, layer, ["id"], "overlay", user="app")
    assert "only container root is mapped" in res["error"]


@pytest.mark.parametrize("rootfs", ["overlay", "copy"])
def test_what_root_in_a_rootless_container_can_do(
    subid_user: User, busybox_rootfs: Path, rootfs: str
) -> None:
    """As in ``test_inside``: here ``mknod`` itself fails (a user namespace cannot make
    devices), and the seccomp filter is what stops a nested user namespace."""
    layer = _layer_for(subid_user, busybox_rootfs)
    vol = Path(tempfile.mkdtemp(dir=subid_user.home))
    os.chown(vol, subid_user.uid, subid_user.gid)
    res = _run_as(
        subid_user, layer, ["sh", "-c", PROBE], rootfs, mounts=[[str(vol), "/vol", False]]
    )
    assert "error" not in res, res
    assert res["rc"] == 0, res["err"]
    assert outcomes(res["out"]) == EXPECTED
