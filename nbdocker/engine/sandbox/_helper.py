"""The helper process between the caller and the container (``interpreter.helper_argv``).

Why a separate process: the caller may be a threaded Jupyter kernel, where ``fork`` without
``exec`` is unsafe and ``unshare`` would change the caller itself. The helper is a fresh,
single-threaded interpreter that (rootless) enters a new user namespace and waits for the caller
to write its id maps, unshares the PID namespace, forks the container's PID 1, forwards
signals to it (SIGKILL after the stop timeout), pumps the pty for ``-t``, and afterwards, in
copy mode, computes the upper dir and removes its scratch files. It talks to the caller with
JSON lines: ``userns`` (please map me), ``started``, then ``exit`` or ``error``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys
from pathlib import Path
from types import FrameType
from typing import IO, cast

from .. import linux, trees
from ..layer.view import LowerView
from ._container import container_main, read_messages
from ._copy import compute_upper
from ._rootfs import ETC_FILES, build_init_layer
from ._spec import HelperConfig, HelperMessage, RootfsMode
from ._tty import pump


def _prepare(cfg: HelperConfig) -> None:
    """Fresh scratch dirs: generated /etc files and the init layer of mountpoints."""
    work = Path(cfg["work"])
    for name in ("init", "etc", "root", "ovl", "upper.new"):
        trees.remove_tree(work / name)
    (work / "root").mkdir()
    etc = work / "etc"
    etc.mkdir()
    for name in ETC_FILES:
        (etc / name).write_text(cfg["etc"][name])
    (work / "init").mkdir(mode=0o755)
    view = LowerView(tuple(Path(p) for p in cfg["layers"]))
    dirs = ["proc", "sys", "dev"]
    files = [f"etc/{name}" for name in ETC_FILES]
    for source, target, _ro in cfg["mounts"]:
        (dirs if os.path.isdir(source) else files).append(target)
    build_init_layer(work / "init", view, dirs, files)


def _cleanup(cfg: HelperConfig) -> None:
    work = Path(cfg["work"])
    for name in ("init", "etc", "root", "ovl", "upper.new"):
        with contextlib.suppress(OSError):
            trees.remove_tree(work / name)


_HELD = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)  # as FORWARDED in _run


class _Forwarder:
    """Signal handlers: forward to the container; SIGKILL it when the stop timeout expires."""

    def __init__(self, pid: int, timeout: float) -> None:
        self.pid, self.timeout, self.armed = pid, timeout, False
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
            signal.signal(sig, self.forward)
        signal.signal(signal.SIGALRM, self.kill)

    def forward(self, signum: int, frame: FrameType | None) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signum)
        if not self.armed:
            self.armed = True
            signal.setitimer(signal.ITIMER_REAL, max(self.timeout, 0.001))

    def kill(self, signum: int, frame: FrameType | None) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)


def _helper(cfg: HelperConfig, status: IO[str], ctl: IO[str]) -> int:
    def tell(msg: HelperMessage) -> None:
        status.write(json.dumps(msg) + "\n")
        status.flush()

    if cfg["rootless"]:
        linux.unshare(linux.CLONE_NEWUSER)
        tell({"userns": os.getpid()})
        answer = ctl.readline().strip()
        if answer != "go":
            raise RuntimeError(answer or "the caller did not map the user namespace")
    _prepare(cfg)
    linux.unshare(linux.CLONE_NEWPID)
    parent_sock, child_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    pid = os.fork()
    if pid == 0:
        parent_sock.close()
        container_main(cfg, child_sock)
    child_sock.close()
    _Forwarder(pid, cfg["stop_timeout"])
    # The caller started this helper with its signals held (interpreter.helper_argv): one that
    # came meanwhile is delivered now, to the container.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _HELD)
    msgs, fds = read_messages(parent_sock)
    parent_sock.close()
    mode: RootfsMode = next((m["mode"] for m in msgs if "mode" in m), "overlay")
    proc = next((m["proc"] for m in msgs if "proc" in m), "fresh")
    error = next((m["error"] for m in msgs if "error" in m), None)
    if error is None:
        tell({"started": {"rootfs": mode, "pid": pid, "proc": proc}})
        if cfg["tty"] and fds:
            pump(fds[0], 0 if cfg["stdin"] else None, 1)
    for fd in fds:
        os.close(fd)
    _, wstatus = os.waitpid(pid, 0)
    signal.setitimer(signal.ITIMER_REAL, 0)
    if error is not None:
        tell({"error": error})
        return 125
    if mode == "copy":
        work = Path(cfg["work"])
        lowers = (*[Path(p) for p in cfg["layers"]], work / "init")
        compute_upper(work / "root", lowers, Path(cfg["upper"]), work)
    return (
        os.waitstatus_to_exitcode(wstatus) if os.WIFEXITED(wstatus) else 128 + os.WTERMSIG(wstatus)
    )


def main() -> None:
    """Entry point: ``argv`` = caller pid, config fd, status fd, control fd."""
    caller, cfg_fd, status_fd, ctl_fd = (int(a) for a in sys.argv[1:5])
    linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != caller:
        os._exit(1)
    with os.fdopen(cfg_fd) as f:
        cfg = cast(HelperConfig, json.load(f))
    status = os.fdopen(status_fd, "w")
    ctl = os.fdopen(ctl_fd)
    try:
        code = _helper(cfg, status, ctl)
        if code != 125:
            status.write(json.dumps({"exit": code}) + "\n")
    except Exception as exc:  # noqa: BLE001 - reported to the caller as one line
        status.write(json.dumps({"error": str(exc) or type(exc).__name__}) + "\n")
        code = 125
    finally:
        with contextlib.suppress(Exception):
            _cleanup(cfg)
    status.flush()
    os._exit(code & 0xFF)
