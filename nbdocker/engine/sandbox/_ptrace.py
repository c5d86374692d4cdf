"""The ``ptrace`` level's step: PRoot's fake root over the root copy, fakeroot inside it.

For an ordinary user who can neither mount nor make a user namespace (uid 1000 in a container
with the runtime's default seccomp profile: JupyterHub on Kubernetes, Binder, Codespaces).
``proot -0`` (Debian's ``proot``) traces the step and rewrites the paths of its system calls
into the root copy, so the step sees the image as ``/`` and itself as root; ``/proc``, ``/dev``,
``/sys``, the generated ``/etc`` files and the volumes are bound in. PRoot alone answers
``chown`` with a success it does not keep, so Debian's ``fakeroot`` runs inside it
(``LD_PRELOAD``, its ``faked`` daemon outside): loaded with the owners, types and modes the
image has (so ``ls -l``, ``sed -i`` and ``useradd`` see ``_apt`` and ``shadow``), it records
what the step's programs chown, chmod and mknod, and that record is applied to the copy before
its diff is taken. Programs linked statically (busybox) or with another C library bypass
fakeroot; their ``chown`` calls still reach :mod:`._chowns` (seccomp user notifications), which
keeps those owners too. What they cannot have is fakeroot's view (they see every file as
root's) and device nodes (``mknod``); a step in an image fakeroot cannot run in says so.

A seccomp filter (:mod:`._seccomp`) first hides the system calls PRoot 5.1 cannot translate;
Docker's default profile (same module) applies to PRoot and the step, ``ptrace`` excepted.
What this level does not isolate: the step sees the host's processes (and can signal those of
the same user), network, hostname and IPC, and ptrace costs time on every system call.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..layer import emulated
from . import _chowns, _seccomp
from ._exec import build_env
from ._rootfs import ETC_FILES, SetupError, secure_join
from ._step import FAKEROOT_DIR, inodes, own_new_entries, wait_step
from ._users import resolve_user

if TYPE_CHECKING:
    from ._spec import CopyRootConfig

FAKEROOT_MOUNT = "/" + FAKEROOT_DIR


def _seed(root: Path, out: Path) -> None:
    """fakeroot's database for the root copy: every entry whose owner, type or mode on disk
    is not what the image says (``dev=…,ino=…,mode=…,uid=…,gid=…,nlink=…,rdev=…``)."""
    with open(out, "w") as f:
        for _path, st, fake in emulated.emulated_entries(root):
            f.write(
                f"dev={st.st_dev:x},ino={st.st_ino},mode={fake.st_mode:o},uid={fake.st_uid},"
                f"gid={fake.st_gid},nlink={st.st_nlink},rdev={fake.st_rdev}\n"
            )


class _Faked:
    """fakeroot's daemon for one step: started loaded with the image's attributes, stopped
    with everything the step's programs told it saved in ``saved``."""

    def __init__(self, faked: str, library_dir: str, seed: Path, saved: Path) -> None:
        self.library = f"{library_dir}/libfakeroot-sysv.so"
        self.seed, self.saved = seed, saved
        with open(seed, "rb") as f:
            done = subprocess.run(
                [faked, "--load", "--save-file", str(saved)],
                stdin=f,
                capture_output=True,
                text=True,
                check=False,
                timeout=30,
            )
        key, _, pid = done.stdout.strip().partition(":")
        if done.returncode != 0 or not key or not pid.isdigit():
            raise RuntimeError(f"fakeroot's faked did not start: {done.stderr.strip()}")
        self.key, self.pid = key, int(pid)

    def _drain(self) -> None:
        """Wait until faked has handled every message the step sent.

        libfakeroot sends chown, chmod and mknod records without waiting for an answer, and
        faked's SIGTERM handler saves its database at once, dropping what is still queued. A
        stat through the same queue is answered only after everything sent before it: one
        from a program preloaded with the host's libfakeroot is that barrier (faked's answer
        for the seed file, which it does not know, is root; the disk's, the caller)."""
        probe = "import os, sys; sys.stdout.write(str(os.lstat(sys.argv[1]).st_uid))"
        env = {"LD_PRELOAD": self.library, "FAKEROOTKEY": self.key, "PATH": "/usr/bin:/bin"}
        done = subprocess.run(
            [sys.executable, "-I", "-S", "-c", probe, str(self.seed)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        if done.returncode != 0 or done.stdout != "0":
            why = done.stderr.strip().splitlines()[-1:] or ["faked did not answer"]
            raise RuntimeError(f"fakeroot's record of the step could not be read: {why[0]}")

    def stop(self) -> None:
        """Drain, then TERM: faked writes its database and exits (it may take a few)."""
        try:
            self._drain()
        finally:
            deadline = time.monotonic() + 30
            while not _gone(self.pid) and time.monotonic() < deadline:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGTERM)
                time.sleep(0.02)


def _gone(pid: int) -> bool:
    """Whether ``pid`` has exited: the daemon is our child (this helper is a subreaper),
    so it is reaped here; a zombie would still show in /proc."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == pid
    except ChildProcessError:
        return not Path(f"/proc/{pid}").exists()


_Records = dict[tuple[int, int], tuple[int, int, int, int]]


def _apply_saved(root: Path, saved: Path, seeded: Path, owners: bool) -> _Records:
    """Apply what fakeroot recorded (modes, device types, and with ``owners`` owners) to the
    root copy. Where :mod:`._chowns` catches every chown, its record of the owners is the one
    kept: it has the calls' own arguments, while fakeroot fills in an id left unchanged (-1)
    from the file as it finds it on disk, where the caller's own ids stand for root.

    Returns fakeroot's whole record by inode (mode, uid, gid, rdev), lines equal to the seed
    included: a chown to the owner a file already had leaves its line as seeded, and is still
    what the call meant."""
    try:
        lines = saved.read_text().splitlines()
    except FileNotFoundError:
        return {}
    before = set(seeded.read_text().splitlines()) if seeded.exists() else set()
    everything: _Records = {}
    records: _Records = {}
    for line in lines:
        fields = dict(part.split("=", 1) for part in line.split(",") if "=" in part)
        try:
            key = (int(fields["dev"], 16), int(fields["ino"]))
            everything[key] = (
                int(fields["mode"], 8),
                int(fields["uid"]),
                int(fields["gid"]),
                int(fields["rdev"]),
            )
        except (KeyError, ValueError):
            continue
        if line not in before:
            records[key] = everything[key]
    if not records:
        return everything
    for path, st in emulated.real_entries(root):
        record = records.get((st.st_dev, st.st_ino))
        if record is not None:
            _apply(path, st, *record, owners=owners)
    return everything


def _apply(
    path: Path, st: os.stat_result, mode: int, uid: int, gid: int, rdev: int, *, owners: bool
) -> None:
    if stat.S_ISLNK(st.st_mode):
        if owners:
            os.lchown(path, uid, gid)
        return
    if stat.S_IFMT(mode) != stat.S_IFMT(st.st_mode) and stat.S_ISREG(st.st_mode):
        if st.st_size == 0 and (stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode)):
            emulated.real("setxattr")(
                path,
                emulated.MODE_XATTR,
                f"{mode:o} {rdev} {stat.S_IMODE(st.st_mode):o}".encode(),
                follow_symlinks=False,
            )
    else:
        os.chmod(path, stat.S_IMODE(mode))
    if owners:
        os.lchown(path, uid, gid)


_GLIBC_NEEDED = b"GLIBC_2.34"  # the newest symbol version Debian 12's libfakeroot uses
_LIBC_PLACES = ("lib/x86_64-linux-gnu", "lib/aarch64-linux-gnu", "lib64", "lib", "usr/lib")


def fakeroot_fits(root: Path) -> str:
    """'' when fakeroot's library can run in this image, else why not: it needs ``/bin/sh``
    (to set ``LD_PRELOAD`` inside the root only) and a glibc at least as new as the host's
    build of it needs."""
    try:
        shell = secure_join(root, "/bin/sh")
    except Exception:  # noqa: BLE001 - a link loop: no usable shell
        return "the image has no /bin/sh"
    if not os.path.exists(shell):
        return "the image has no /bin/sh"
    for place in _LIBC_PLACES:
        try:
            libc = secure_join(root, f"/{place}/libc.so.6")
            with open(libc, "rb") as f:
                if _GLIBC_NEEDED in f.read():
                    return ""
        except OSError:
            continue
    return f"the image has no glibc with {_GLIBC_NEEDED.decode()} (another C library, or older)"


class _Chowned:
    """The owners the step's chown calls asked for, by inode (renames keep them).

    PRoot's fake root turns a chown to the step's own ids (root, or its ``USER``) into one to
    the ids nbdocker runs as, so that the kernel lets it pass; a chown to exactly those ids
    arrives the same way. Where fakeroot saw the call (the caller had its library loaded), its
    record says which was meant (its whole record: a chown to the owner a file already had leaves
    its line as seeded). Otherwise: a non-root step can only give a file to itself; a root step
    that "gives" a root-owned file to root changes nothing, so the call is taken as meant for
    the ids nbdocker runs as when the file was root's, and as root when it was not — and the
    step's output says so, naming the files (``ambiguous``)."""

    def __init__(self, step_uid: int, step_gid: int) -> None:
        self.step = (step_uid, step_gid)
        self.mine = (os.getuid(), os.getgid())
        # inode -> per id (uid, gid): (the id now, whether a call gave it, the id before it)
        self.by_inode: dict[tuple[int, int], list[tuple[int, bool, int]]] = {}
        self.faked: set[tuple[int, int]] = set()  # inodes chowned through fakeroot
        self.ambiguous: list[str] = []

    def __call__(self, path: Path, uid: int, gid: int, follow: bool, faked: bool) -> None:
        st = emulated.real("stat")(path, follow_symlinks=follow)
        key = (st.st_dev, st.st_ino)
        known = self.by_inode.get(key)
        if known is None:
            now = os.stat(path, follow_symlinks=follow)
            known = [(now.st_uid, False, now.st_uid), (now.st_gid, False, now.st_gid)]
        for i, value in enumerate((uid, gid)):
            if value != -1:
                known[i] = (value, True, known[i][0])
        self.by_inode[key] = known
        if faked:
            self.faked.add(key)

    def _resolve(
        self, i: int, state: tuple[int, bool, int], seen: tuple[int, int, int, int] | None
    ) -> tuple[int, bool]:
        """Component ``i`` (0 uid, 1 gid) of the owner to keep, and whether it was a guess."""
        wanted, given, before = state
        if not given or wanted != self.mine[i]:
            return wanted, False
        if seen is not None:
            return seen[1 + i], False
        if self.step[i] != 0:
            return self.step[i], False
        return (self.mine[i] if before == 0 else 0), True

    def apply(self, root: Path, fakeroot: _Records) -> None:
        if not self.by_inode:
            return
        for path, st in emulated.real_entries(root):
            key = (st.st_dev, st.st_ino)
            known = self.by_inode.get(key)
            if known is not None:
                seen = fakeroot.get(key) if key in self.faked else None
                new_uid, guessed_uid = self._resolve(0, known[0], seen)
                new_gid, guessed_gid = self._resolve(1, known[1], seen)
                os.lchown(path, new_uid, new_gid)
                if guessed_uid or guessed_gid:
                    self.ambiguous.append("/" + str(path.relative_to(root)))

    def warning(self) -> str:
        """What the step's output says about the guesses, or ''."""
        if not self.ambiguous:
            return ""
        shown = ", ".join(sorted(self.ambiguous)[:5])
        more = f" and {len(self.ambiguous) - 5} more" if len(self.ambiguous) > 5 else ""
        uid, gid = self.mine
        return (
            f"isolation ptrace: a program fakeroot cannot see chowned {shown}{more} to "
            f"{uid}:{gid} (or its uid or gid), the ids nbdocker runs as, which is also how "
            "PRoot passes a chown to root: kept as those ids where the file was root's, "
            "as root where it was not"
        )


def _lookup(root: Path, argv0: str, path_env: str) -> str | None:
    """``argv0`` as the step would find it in its ``PATH`` (a path inside the root)."""
    if "/" in argv0:
        return argv0
    for directory in path_env.split(":") if path_env else []:
        guest = f"{directory.rstrip('/') or ''}/{argv0}"
        try:
            st = emulated.real("stat")(secure_join(root, guest))
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and st.st_mode & 0o111:
            return guest
    return None


def _binds(cfg: CopyRootConfig, etc: Path, fakeroot_lib: str | None) -> list[str]:
    out = ["-b", "/proc", "-b", "/dev", "-b", "/sys"]
    for name in ETC_FILES:
        out += ["-b", f"{etc / name}:/etc/{name}"]
    for source, target, _readonly in cfg["mounts"]:
        out += ["-b", f"{source}:{target}"]
    if fakeroot_lib:
        out += ["-b", f"{fakeroot_lib}:{FAKEROOT_MOUNT}"]
    return out


def _warn(message: str) -> None:
    """A line in the step's output (stderr), as Docker prints a step's warnings."""
    sys.stderr.write(f"WARNING: {message}\n")
    sys.stderr.flush()


def run_step(
    cfg: CopyRootConfig, root: Path, scratch: Path, on_start: Callable[[int], None]
) -> int:
    scratch.mkdir(parents=True, exist_ok=True)
    user = resolve_user(cfg["user"], root)
    env = build_env(tuple(cfg["env"]), user, cfg["hostname"], False)
    program = _lookup(root, cfg["argv"][0], env.get("PATH", ""))
    if program is None:
        sys.stderr.write(f'exec: "{cfg["argv"][0]}": executable file not found in $PATH\n')
        sys.stderr.flush()
        return 127
    before = inodes(root)
    fakeroot = cfg.get("fakeroot")
    why_not = fakeroot_fits(root) if fakeroot else "fakeroot is not installed"
    if why_not:
        fakeroot = None
        kept = "their chowns are kept" if _chowns.supported() else "nor the owners they set"
        _warn(
            f"isolation ptrace: fakeroot cannot run here ({why_not}): this step's programs see "
            f"every file as root's, and device nodes they make are not kept ({kept})"
        )
    faked = None
    seed, saved = scratch / "fakeroot.seed", scratch / "fakeroot.saved"
    command = [program, *cfg["argv"][1:]]
    if fakeroot:
        _seed(root, seed)
        faked = _Faked(fakeroot[0], fakeroot[1], seed, saved)
        env["FAKEROOTKEY"] = faked.key
        env["FAKED_MODE"] = "unknown-is-root"  # as the fakeroot command sets it
        for kind in ("UID", "EUID", "SUID", "FUID"):
            env[f"FAKEROOT{kind}"] = str(user.uid)
        for kind in ("GID", "EGID", "SGID", "FGID"):
            env[f"FAKEROOT{kind}"] = str(user.gid)
        # Preloaded by the image's /bin/sh, not given to PRoot: the host's loader would try
        # to preload the guest path into PRoot itself.
        command = [
            "/bin/sh",
            "-c",
            'LD_PRELOAD="$1"; export LD_PRELOAD; shift; exec "$@"',
            "nbdocker-fakeroot",
            f"{FAKEROOT_MOUNT}/libfakeroot-sysv.so",
            *command,
        ]
    identity = ["-0"] if user.uid == 0 and user.gid == 0 else ["-i", f"{user.uid}:{user.gid}"]
    if cfg["proot"] is None:
        raise SetupError("PRoot is not installed (apt-get install proot)")
    argv = [
        cfg["proot"],
        *identity,
        "-r",
        str(root),
        "-w",
        cfg["cwd"],
        *_binds(cfg, Path(cfg["work"]) / "etc", fakeroot[1] if fakeroot else None),
        *command,
    ]
    with contextlib.suppress(OSError):
        os.makedirs(secure_join(root, cfg["cwd"]), mode=0o755, exist_ok=True)
    ours, theirs = socket.socketpair()
    profile = _seccomp.DefaultProfile()

    def prepare() -> None:  # in the child, before PRoot: this helper has no threads
        _seccomp.hide_untranslated_calls()
        if _chowns.supported():
            _chowns.install_listener(theirs)
        profile.install()

    tracker = None
    chowned = _Chowned(user.uid, user.gid)
    try:
        proc = subprocess.Popen(
            argv,
            env={**env, "PROOT_TMP_DIR": str(scratch)},
            start_new_session=True,
            preexec_fn=prepare,
        )
        theirs.close()
        if _chowns.supported():
            _msg, fds, _flags, _addr = socket.recv_fds(ours, 1, 1)
            bound = ["/proc", "/dev", "/sys", *(f"/etc/{n}" for n in ETC_FILES), FAKEROOT_MOUNT]
            bound += [target for _source, target, _ro in cfg["mounts"]]
            tracker = _chowns.ChownTracker(fds[0], root, bound, chowned)
        on_start(proc.pid)
        code = wait_step(proc.pid, cfg["stop_timeout"], tracker)
        proc.returncode = code
    finally:
        ours.close()
        if tracker is not None:
            tracker.close()
        if faked is not None:
            faked.stop()
    recorded = _apply_saved(root, saved, seed, owners=tracker is None) if fakeroot else {}
    chowned.apply(root, recorded)
    if chowned.warning():
        _warn(chowned.warning())
    if user.uid or user.gid:
        own_new_entries(root, before, user.uid, user.gid)
    return code


def main() -> None:
    """``probe PROOT PROGRAM``: exit 0 when PRoot runs ``PROGRAM`` under the seccomp filter."""
    if sys.argv[1] != "probe":
        raise SystemExit(f"unknown command {sys.argv[1]!r}")
    proot, program = sys.argv[2], sys.argv[3]
    if not _seccomp.supported():
        raise SystemExit(f"no seccomp table for {os.uname().machine}")
    done = subprocess.run(
        [proot, "-0", program],
        preexec_fn=_seccomp.hide_untranslated_calls,
        capture_output=True,
        text=True,
        check=False,
        timeout=20,
    )
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        raise SystemExit(lines[-1] if lines else f"exit status {done.returncode}")
