"""From inside a container: no device beyond the standard ones opens, no namespace or mount
can be made, ``/proc/sys`` and ``/sys`` are read-only, capabilities are Docker's.

As whoever runs the tests (root here: the namespaces level on this machine's kernel, and the
copy levels asked for), with the probe of :mod:`.inside`; as a throwaway user in
``test_sandbox_rootless`` and ``test_levels``. The seccomp filter itself is checked call by
call in a process of its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nbdocker.engine.sandbox import BindMount, check_support
from tests.support.real import require

from .inside import EXPECTED, PROBE, SECCOMP_ONLY, outcomes
from .support import make_layer, run_box


@pytest.fixture(scope="module")
def layer(busybox_rootfs: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    support = check_support()
    if not support.usable:
        require("namespaces", support.reason)
    return make_layer(busybox_rootfs, tmp_path_factory.mktemp("layer") / "l1")


@pytest.mark.parametrize("rootfs", ["overlay", "copy"])
def test_what_root_in_a_container_can_do(tmp_path: Path, layer: Path, rootfs: str) -> None:
    vol = tmp_path / "vol"
    vol.mkdir()
    res = run_box(
        tmp_path, layer, ("sh", "-c", PROBE), rootfs=rootfs, mounts=(BindMount(vol, "/vol"),)
    )
    assert res.rc == 0, res.err
    assert outcomes(res.out) == EXPECTED
    if os.geteuid() == 0:  # mknod itself is allowed, as in Docker; the node does not open
        assert (vol / "made-loop0").is_block_device()


def test_a_node_made_in_the_container_stays_closed_in_the_next_run(
    tmp_path: Path, layer: Path
) -> None:
    """What a committed image carries: the node is in the upper dir, and still does not open."""
    if os.geteuid() != 0:
        require("root", "only root can make device nodes")
    first = run_box(tmp_path, layer, ("mknod", "/zero", "c", "1", "5"))
    assert first.rc == 0, first.err
    again = run_box(tmp_path, layer, ("head", "-c1", "/zero"))
    assert again.rc == 1
    assert "Permission denied" in again.err


SECCOMP_CHECK = r"""
import ctypes, errno, json, os
import pyseccomp
from nbdocker.engine.sandbox._seccomp import CLONE_NAMESPACE_FLAGS, DENIED, DefaultProfile

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
numbers = {n: pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, n) for n in DENIED}
DefaultProfile().install()
results = {}
for name, nr in numbers.items():
    if nr < 0:  # not a call of this machine, or newer than libseccomp
        continue
    ctypes.set_errno(0)
    rc = libc.syscall(nr, 0, 0, 0, 0, 0, 0)
    results[name] = errno.errorcode.get(ctypes.get_errno(), "ok") if rc == -1 else "ok"
clone = pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, "clone")
for flag in CLONE_NAMESPACE_FLAGS:
    rc = libc.syscall(clone, flag | 17, 0, 0, 0, 0, 0)  # 17: SIGCHLD
    if rc == 0:
        os._exit(0)
    results[f"clone {flag:#x}"] = errno.errorcode.get(ctypes.get_errno(), "ok")
clone3 = pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, "clone3")
libc.syscall(clone3, 0, 0)
results["clone3"] = errno.errorcode.get(ctypes.get_errno(), "ok")
pid = os.fork()  # plain clone still works
if pid == 0:
    os._exit(7)
results["fork"] = str(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
results["getpid"] = "ok" if os.getpid() > 0 else "?"
print(json.dumps(results))
"""


def test_the_filter_refuses_every_call_docker_refuses() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SECCOMP_CHECK], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    assert results.pop("clone3") == "ENOSYS"
    assert results.pop("fork") == "7"
    assert results.pop("getpid") == "ok"
    assert results == dict.fromkeys(results, "EPERM")
    assert {"unshare", "setns", "mount", "keyctl", "bpf", "open_by_handle_at"} <= set(results)
    assert len([k for k in results if k.startswith("clone ")]) == 7


@pytest.mark.parametrize("level", ["chroot", "ptrace"])
def test_copy_levels_make_no_namespace_and_no_mount(
    level: str, nbdocker_home: Path, busybox_tarball: Path
) -> None:
    if os.geteuid() != 0:
        require("root", "the chroot level needs root (test_levels runs ptrace as a user)")
    base = [sys.executable, "-m", "nbdocker"]
    env = {**os.environ, "NBDOCKER_HOME": str(nbdocker_home)}
    subprocess.run([*base, "import", busybox_tarball, "bb:1"], env=env, check=True)
    argv = [*base, "run", "--rm", "--isolation", level, "bb:1", "sh", "-c", PROBE]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    seen = outcomes(done.stdout)
    assert {k: seen.get(k) for k in SECCOMP_ONLY} == SECCOMP_ONLY
