"""The container's PID 1 before ``execve``: namespaces, root, identity, then the command.

It runs in a process forked by the helper right after the helper unshared the PID namespace,
so it is PID 1 there and ``execve`` keeps it so: the command itself is PID 1, as with Docker
without ``--init``. The consequences are Docker's too: a PID 1 without a handler ignores
SIGTERM/SIGINT (the helper escalates to SIGKILL after the stop timeout), cannot kill itself
with a signal, and must reap its own orphans; when it exits the kernel kills everything else in
the namespace, and the mount namespace (every mount made here) goes away with it.

Messages go to the helper over a socket (JSON lines; the pty master as SCM_RIGHTS). The socket
is close-on-exec, so EOF without an error means the command was executed.

The last step before ``execve`` installs Docker's default seccomp profile (:mod:`._seccomp`),
once every mount is made and the identity is the command's.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import struct
import termios
from pathlib import Path
from typing import NoReturn, cast

from .. import linux
from ._copy import populate
from ._exec import build_env, drop_privileges, final_exec
from ._rootfs import SetupError, assemble, pivot
from ._seccomp import DefaultProfile
from ._spec import ContainerMessage, HelperConfig, RootfsMode
from ._tty import copy_winsize
from ._users import UserLookupError, resolve_user

TIOCSPTLCK = 0x40045431
TIOCGPTN = 0x80045430


def send(sock: socket.socket, msg: ContainerMessage, fds: tuple[int, ...] = ()) -> None:
    data = (json.dumps(msg) + "\n").encode()
    if fds:
        socket.send_fds(sock, [data], list(fds))
    else:
        sock.sendall(data)


def _overlay(cfg: HelperConfig, root: Path, lowers: list[str]) -> None:
    """Mount the overlay; lower paths go through /proc/self/fd when the option gets long."""
    work = Path(cfg["work"]) / "ovl"
    work.mkdir(exist_ok=True)
    opened: list[int] = []
    lowerdir = ":".join(reversed(lowers))
    if len(lowerdir) > 3000:
        for layer in reversed(lowers):
            opened.append(os.open(layer, os.O_PATH | os.O_DIRECTORY))
        lowerdir = ":".join(f"/proc/self/fd/{fd}" for fd in opened)
    data = f"lowerdir={lowerdir},upperdir={cfg['upper']},workdir={work}"
    if cfg["rootless"]:
        data += ",userxattr"
    try:
        linux.mount("overlay", root, "overlay", linux.MS_NODEV, data)
    finally:
        for fd in opened:
            os.close(fd)


def _root(cfg: HelperConfig, sock: socket.socket) -> Path:
    root = Path(cfg["work"]) / "root"
    lowers = [*cfg["layers"], str(Path(cfg["work"]) / "init")]
    mode: RootfsMode
    if cfg["rootfs"] != "copy":
        try:
            _overlay(cfg, root, lowers)
            mode = "overlay"
        except OSError as exc:
            if cfg["rootfs"] == "overlay":
                raise SetupError(
                    f"cannot mount the overlay root file system: {exc.strerror}"
                ) from exc
            mode = "copy"
    else:
        mode = "copy"
    if mode == "copy":
        populate(root, tuple(Path(p) for p in [*lowers, cfg["upper"]]))
        linux.mount(root, root, None, linux.MS_BIND)
        linux.remount_bind(str(root), linux.MS_NODEV)  # (see _rootfs: devices)
    send(sock, {"mode": mode})
    return root


def _open_pty(root: Path, sock: socket.socket) -> int:
    master = os.open(root / "dev/pts/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))
    number = struct.unpack("i", fcntl.ioctl(master, TIOCGPTN, struct.pack("i", 0)))[0]
    send(sock, {"pty": number}, (master,))
    os.close(master)
    return int(number)


def container_main(cfg: HelperConfig, sock: socket.socket) -> NoReturn:
    """PID 1's body: set everything up, then exec. Setup failures become an ``error`` message."""
    step = "starting"
    try:
        # the helper holds the signals it forwards (see _helper); the command gets them
        signal.pthread_sigmask(signal.SIG_SETMASK, set())
        os.setsid()
        linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
        flags = linux.CLONE_NEWNS | linux.CLONE_NEWUTS | linux.CLONE_NEWIPC
        if cfg["network"] == "none":
            flags |= linux.CLONE_NEWNET
        step = "preparing the seccomp filter"
        profile = DefaultProfile()  # (libseccomp is loaded from the host's root, before pivot)
        step = "creating namespaces"
        linux.unshare(flags)
        linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)
        step = "setting up the root file system"
        root = _root(cfg, sock)
        binds = [(str(s), str(t), bool(r)) for s, t, r in cfg["mounts"]]
        proc = assemble(root, Path(cfg["work"]) / "etc", binds, cfg["devpts_gid"])
        send(sock, {"proc": proc})
        pty = _open_pty(root, sock) if cfg["tty"] else None
        step = "entering the root file system"
        pivot(root)
        socket.sethostname(cfg["hostname"])
        if cfg["network"] == "none":
            linux.loopback_up()
        step = "resolving the user"
        user = resolve_user(cfg["user"])
        env = build_env(tuple(cfg["env"]), user, cfg["hostname"], cfg["tty"])
        cwd = cfg["cwd"]
        step = f"creating the working directory {cwd}"
        os.makedirs(cwd, mode=0o755, exist_ok=True)
        if pty is not None:
            step = "attaching the terminal"
            slave = os.open(f"/dev/pts/{pty}", os.O_RDWR)
            # The command sees the caller's window size from its first instruction: the
            # helper's copy (_tty.pump) starts only once the command runs, too late for a
            # quick `stty size`.
            term = next((fd for fd in (0, 1) if (fd or cfg["stdin"]) and os.isatty(fd)), None)
            if term is not None:
                copy_winsize(term, slave)
            fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
            for fd in (0, 1, 2):
                os.dup2(slave, fd)
            os.close(slave)
        step = f"switching to user {cfg['user'] or 'root'} ({user.uid}:{user.gid})"
        drop_privileges(user)
        step = "installing the seccomp filter"
        profile.install()
    except OSError as exc:
        detail = str(exc) if exc.filename is None and ":" in str(exc) else exc.strerror
        if step.startswith("switching") and cfg["rootless"] and cfg["devpts_gid"] is None:
            detail = (
                "only container root is mapped in this rootless container; give your user "
                "a range in /etc/subuid and /etc/subgid and install newuidmap (uidmap)"
            )
        send(sock, {"error": f"{step}: {detail}"})
        os._exit(125)
    except (SetupError, UserLookupError) as exc:
        send(sock, {"error": str(exc)})
        os._exit(125)
    except BaseException as exc:  # noqa: BLE001 - PID 1 must report, never unwind into the helper
        send(sock, {"error": f"internal error: {type(exc).__name__}: {exc}"})
        os._exit(125)
    final_exec(tuple(cfg["argv"]), env, cwd)
    os._exit(127)


def read_messages(sock: socket.socket) -> tuple[list[ContainerMessage], list[int]]:
    """Everything the container process sent, until it exec'd or exited."""
    msgs: list[ContainerMessage] = []
    fds: list[int] = []
    buf = b""
    while True:
        data, got, _flags, _addr = socket.recv_fds(sock, 65536, 4)
        fds.extend(got)
        if not data:
            break
        buf += data
    for line in buf.decode().splitlines():
        if line.strip():
            msgs.append(cast(ContainerMessage, json.loads(line)))
    return msgs, fds
