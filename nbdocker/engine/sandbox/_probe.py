"""What the kernel and the runtime let this process do, tried for real (run as a helper).

Reading sysctls and capability sets is not enough to know: a container runtime's seccomp
profile, an AppArmor profile or a masked ``/proc`` each refuse something different. So this
helper, a fresh single-threaded interpreter, tries exactly what each isolation level needs and
prints one JSON object:

- ``namespaces``: (rootless: a user namespace with the caller mapped to root, then) mount and PID
  namespaces, a tmpfs mount, then a fresh ``proc`` in the new PID namespace, else a recursive
  bind of the existing ``/proc``. ``""`` when all that works, else why not;
  ``proc`` is ``"fresh"`` or ``"bound"``;
- ``chroot``: root only: ``chroot(2)`` into an empty directory;
- ``subids``: rootless with a sub-id range: ``""`` when newuidmap maps it, else why not;
- ``namespaces.overlay``: ``""`` when an overlay (upper dir on the store's file system)
  mounts there, else why not (the copy fallback is used);

Stdlib only: loaded as a bare package, like the sandbox helper.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import subprocess
import sys
import tempfile

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_NOSUID_NODEV_NOEXEC = 2 | 4 | 8

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_char_p]


def _why(what: str) -> str:
    err = ctypes.get_errno()
    return f"{what}: {os.strerror(err)}"


def _mount(source: str | None, target: str, fstype: str | None, flags: int) -> bool:
    enc = [None if v is None else v.encode() for v in (source, target, fstype)]
    return bool(_libc.mount(enc[0], enc[1], enc[2], flags, None) == 0)


def _overlay(scratch: str, rootless: bool) -> str:
    """'' when an overlay with its upper dir on the store's file system mounts, else why not."""
    dirs = [os.path.join(scratch, name) for name in ("lower", "upper", "work", "merged")]
    for path in dirs:
        os.mkdir(path)
    data = f"lowerdir={dirs[0]},upperdir={dirs[1]},workdir={dirs[2]}"
    if rootless:
        data += ",userxattr"
    ok = _libc.mount(b"overlay", dirs[3].encode(), b"overlay", 0, data.encode()) == 0
    if ok:
        _libc.umount2(dirs[3].encode(), 2)
        return ""
    return _why("mounting an overlay")


def _namespaces(scratch: str) -> dict[str, str]:
    """Runs in a forked child (it changes its own namespaces)."""
    uid, gid = os.getuid(), os.getgid()
    if os.geteuid() != 0:
        if _libc.unshare(CLONE_NEWUSER) != 0:
            return {"why": _why("creating a user namespace")}
        try:
            with open("/proc/self/setgroups", "w") as f:
                f.write("deny")
            with open("/proc/self/uid_map", "w") as f:
                f.write(f"0 {uid} 1")
            with open("/proc/self/gid_map", "w") as f:
                f.write(f"0 {gid} 1")
        except OSError as exc:
            return {"why": f"mapping the user namespace: {exc.strerror}"}
    if _libc.unshare(CLONE_NEWNS | CLONE_NEWPID) != 0:
        return {"why": _why("creating mount and PID namespaces")}
    if not _mount(None, "/", None, MS_REC | MS_PRIVATE):
        return {"why": _why("making the mounts private")}
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # PID 1 of the new PID namespace
        os.close(read_fd)
        try:
            overlay = _overlay(scratch, uid != 0)
        except OSError as exc:
            overlay = f"preparing an overlay: {exc.strerror}"
        result: dict[str, str] = {"overlay": overlay}
        if not _mount("tmpfs", scratch, "tmpfs", MS_NOSUID_NODEV_NOEXEC):
            result = {"why": _why("mounting a tmpfs")}
        else:
            os.mkdir(os.path.join(scratch, "proc"))
            target = os.path.join(scratch, "proc")
            if _mount("proc", target, "proc", MS_NOSUID_NODEV_NOEXEC):
                result["proc"] = "fresh"
            else:
                refused = _why("mounting a fresh proc")
                if _mount("/proc", target, None, MS_BIND | MS_REC):
                    result.update(proc="bound", note=refused)
                else:
                    result = {"why": f"{refused}, and {_why('binding /proc')}"}
        os.write(write_fd, json.dumps(result).encode())
        os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as f:
        data = f.read()
    os.waitpid(pid, 0)
    return json.loads(data) if data else {"why": "the namespace probe died"}


def _in_child(fn: object, *args: str) -> dict[str, str]:
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        try:
            result = fn(*args)  # type: ignore[operator]
        except Exception as exc:  # noqa: BLE001 - reported as the reason
            result = {"why": f"{type(exc).__name__}: {exc}"}
        os.write(write_fd, json.dumps(result).encode())
        os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as f:
        data = f.read()
    os.waitpid(pid, 0)
    return json.loads(data) if data else {"why": "the probe died"}


def _chroot(scratch: str) -> dict[str, str]:
    try:
        os.chroot(scratch)
    except OSError as exc:
        return {"why": f"chroot: {exc.strerror}"}
    return {}


def _subid_map(ranges: list[str]) -> str:
    """'' when newuidmap/newgidmap can map ``ranges`` (uid start, count, gid start, count) into
    a new user namespace, else why not (in a container without CAP_SYS_ADMIN the kernel refuses
    them: the opener of a child namespace's map needs that capability)."""
    ready_r, ready_w = os.pipe()
    done_r, done_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(ready_r)
        os.close(done_w)
        ok = _libc.unshare(CLONE_NEWUSER) == 0
        os.write(ready_w, b"u" if ok else b"x")
        os.read(done_r, 1)
        os._exit(0)
    os.close(ready_w)
    os.close(done_r)
    why = ""
    try:
        if os.read(ready_r, 1) != b"u":
            return "creating a user namespace was refused"
        uid_start, uid_count, gid_start, gid_count = ranges
        for tool, own, start, count in (
            ("newuidmap", os.getuid(), uid_start, uid_count),
            ("newgidmap", os.getgid(), gid_start, gid_count),
        ):
            argv = [tool, str(pid), "0", str(own), "1", "1", start, count]
            done = subprocess.run(argv, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                why = f"{tool} failed: {done.stderr.strip() or done.returncode}"
                break
    finally:
        os.write(done_w, b"g")
        os.close(done_w)
        os.close(ready_r)
        os.waitpid(pid, 0)
    return why


def main() -> None:
    """``argv``: a directory on the store's file system (created if missing), then the
    caller's sub-id ranges (uid start, count, gid start, count) when it has some."""
    where = sys.argv[1]
    os.makedirs(where, exist_ok=True)
    scratch = tempfile.mkdtemp(prefix=".probe-", dir=where)
    try:
        namespaces = _in_child(_namespaces, scratch)
        out: dict[str, object] = {"namespaces": namespaces}
        if os.geteuid() == 0:
            out["chroot"] = _in_child(_chroot, scratch)
        elif len(sys.argv) == 6 and "why" not in namespaces:
            out["subids"] = _subid_map(sys.argv[2:6])
    finally:
        # (overlayfs leaves its work dir with mode 000: make everything removable first)
        for dirpath, dirnames, _files in os.walk(scratch):
            for name in dirnames:
                with contextlib.suppress(OSError):
                    os.chmod(os.path.join(dirpath, name), 0o700)
        shutil.rmtree(scratch, ignore_errors=True)
    sys.stdout.write(json.dumps(out) + "\n")
