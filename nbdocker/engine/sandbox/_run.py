"""``run()``: start the helper, map its user namespace, forward signals, return the exit code."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import termios
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any, Literal, cast

from ..interpreter import helper_argv
from ..userns.ids import SubIds, map_ids, subids
from ._errors import SandboxError
from ._levels import current, fakeroot_paths, proot_path
from ._spec import CopyRootConfig, HelperConfig, HelperMessage, SandboxSpec, Started
from ._support import check_support, forced_rootfs, require

_HELPER_MODULE = "nbdocker.engine.sandbox._helper"
_COPYROOT_MODULE = "nbdocker.engine.sandbox._copyroot"  # the chroot and ptrace levels' helper
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _validate(spec: SandboxSpec) -> None:
    if not spec.argv:
        raise SandboxError("cannot run the container: no command given; pass a command or CMD")
    for layer in spec.layers:
        if not layer.is_dir():
            raise SandboxError(f"cannot run the container: layer {layer} is missing; pull again")
    if not spec.cwd.startswith("/"):
        raise SandboxError(
            f"cannot run the container: working directory {spec.cwd!r} "
            "is not absolute; use an absolute path"
        )
    for m in spec.mounts:
        if not m.target.startswith("/"):
            raise SandboxError(
                f"invalid mount {m.source}:{m.target}: the target must be an absolute path"
            )
        if not m.source.exists():
            raise SandboxError(
                f"invalid mount {m.source}:{m.target}: the source does not exist; create it first"
            )


def _etc_files(spec: SandboxSpec, hostname: str) -> dict[str, str]:
    hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
    resolv = ""
    if spec.network == "host":
        with contextlib.suppress(OSError):
            hosts = Path("/etc/hosts").read_text()
        with contextlib.suppress(OSError):
            resolv = Path("/etc/resolv.conf").read_text()
    else:
        hosts += f"127.0.0.1\t{hostname}\n"
    return {"hosts": hosts, "hostname": hostname + "\n", "resolv.conf": resolv}


def run(
    spec: SandboxSpec,
    stdin: int | None = None,
    stdout: int | None = None,
    stderr: int | None = None,
    *,
    on_start: Callable[[Started], None] | None = None,
    stop_timeout: float = 10.0,
    rootfs: Literal["auto", "overlay", "copy"] = "auto",
) -> int:
    """Run ``spec.argv`` in a new container; return its exit code (128+N if killed by signal N).

    ``stdin`` is only read with ``spec.stdin`` or ``spec.tty`` (else the command gets
    /dev/null); ``None`` means the caller's own descriptor. SIGINT, SIGTERM and SIGHUP sent to
    the caller while it waits (main thread only) go to the container; a command that ignores
    them is killed ``stop_timeout`` seconds later. ``rootfs`` (or ``NBDOCKER_SANDBOX_ROOTFS``)
    forces overlay or the copy fallback. Raises :class:`SandboxError` when the container cannot
    be started. On return no process of the container and none of its mounts remain.
    """
    _validate(spec)
    isolation = current(spec.work)
    if isolation.level != "namespaces":
        return _spawn(
            _copyroot_config(spec, isolation.level, stop_timeout),
            spec,
            stdin,
            stdout,
            stderr,
            on_start,
            None,
            module=_COPYROOT_MODULE,
            level=isolation.level,
        )
    support = check_support()
    require(support)
    rootless = not support.root
    ids = subids() if rootless and not isolation.root_only else None
    hostname = spec.hostname or (socket.gethostname() if spec.network == "host" else "localhost")
    spec.work.mkdir(parents=True, exist_ok=True)
    spec.upper.mkdir(parents=True, exist_ok=True)
    cfg: HelperConfig = {
        "layers": [str(p.resolve()) for p in spec.layers],
        "upper": str(spec.upper.resolve()),
        "work": str(spec.work.resolve()),
        "argv": list(spec.argv),
        "env": list(spec.env),
        "cwd": spec.cwd,
        "user": spec.user,
        "hostname": hostname,
        "network": spec.network,
        "mounts": [(str(m.source.resolve()), m.target, m.readonly) for m in spec.mounts],
        "tty": spec.tty,
        "stdin": spec.stdin,
        "rootless": rootless,
        "rootfs": rootfs if rootfs != "auto" else (forced_rootfs() or "auto"),
        "stop_timeout": stop_timeout,
        "devpts_gid": 5 if (not rootless or ids is not None) else None,
        "etc": _etc_files(spec, hostname),
    }
    return _spawn(cfg, spec, stdin, stdout, stderr, on_start, ids)


def _copyroot_config(spec: SandboxSpec, level: str, stop_timeout: float) -> CopyRootConfig:
    """The helper's configuration at the ``chroot`` and ``ptrace`` levels."""
    if spec.network == "none":
        raise SandboxError(
            f"--network none needs a network namespace, which the {level} isolation level "
            "cannot make; its steps use the host's network"
        )
    hostname = spec.hostname or socket.gethostname()
    spec.work.mkdir(parents=True, exist_ok=True)
    spec.upper.mkdir(parents=True, exist_ok=True)
    return {
        "level": level,
        "layers": [str(p.resolve()) for p in spec.layers],
        "upper": str(spec.upper.resolve()),
        "work": str(spec.work.resolve()),
        "argv": list(spec.argv),
        "env": list(spec.env),
        "cwd": spec.cwd,
        "user": spec.user,
        "hostname": hostname,
        "mounts": [(str(m.source.resolve()), m.target, m.readonly) for m in spec.mounts],
        "stop_timeout": stop_timeout,
        "etc": _etc_files(spec, hostname),
        "proot": proot_path(),
        "trash": str(spec.trash) if spec.trash else None,
        "kept": str(spec.kept_roots) if spec.kept_roots else None,
        "keep": spec.keep_root,
        "fakeroot": fakeroot_paths() if level == "ptrace" else None,
    }


def _spawn(
    cfg: HelperConfig | CopyRootConfig,
    spec: SandboxSpec,
    stdin: int | None,
    stdout: int | None,
    stderr: int | None,
    on_start: Callable[[Started], None] | None,
    ids: SubIds | None,
    *,
    module: str = _HELPER_MODULE,
    level: str = "namespaces",
) -> int:
    # The config goes in an anonymous file, not a pipe: a pipe holds 64 KiB, and a config may
    # be larger (a long -e value, an image of many layers) before the helper reads any of it.
    cfg_r = os.memfd_create("nbdocker-sandbox-config")
    os.write(cfg_r, json.dumps(cfg).encode())  # a memfd takes a whole write at once
    os.lseek(cfg_r, 0, os.SEEK_SET)
    status_r, status_w = os.pipe()
    ctl_r, ctl_w = os.pipe()
    devnull = None
    if not (spec.stdin or spec.tty):
        devnull = os.open(os.devnull, os.O_RDONLY)
        stdin = devnull
    saved_tty = None
    in_fd = 0 if stdin is None else stdin
    if spec.tty and os.isatty(in_fd):
        saved_tty = termios.tcgetattr(in_fd)
    fds = (str(os.getpid()), str(cfg_r), str(status_w), str(ctl_r))
    argv = helper_argv(module, *fds, hold_signals=FORWARDED)
    try:
        proc = subprocess.Popen(
            argv,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            pass_fds=(cfg_r, status_w, ctl_r),
            close_fds=True,
        )
    finally:
        for fd in (cfg_r, status_w, ctl_r):
            os.close(fd)
        if devnull is not None:
            os.close(devnull)
    previous = _forward_signals(proc.pid)
    result: int | None = None
    error = ""
    try:
        with os.fdopen(status_r) as status, os.fdopen(ctl_w, "w") as ctl:
            for line in status:
                msg = cast(HelperMessage, json.loads(line))
                if "userns" in msg:
                    why = map_ids(proc.pid, ids)
                    ctl.write("go\n" if not why else why + "\n")
                    ctl.flush()
                elif "started" in msg and on_start is not None:
                    info = msg["started"]
                    on_start(
                        Started(
                            info["rootfs"],
                            bool(cfg.get("rootless", os.geteuid() != 0)),
                            ids is not None,
                            info["pid"],
                            level,
                            info.get("proc", "fresh"),
                        )
                    )
                elif "exit" in msg:
                    result = int(msg["exit"])
                elif "error" in msg:
                    error = str(msg["error"])
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        _restore_signals(previous)
        if saved_tty is not None:
            with contextlib.suppress(termios.error):
                termios.tcsetattr(in_fd, termios.TCSADRAIN, saved_tty)
    if error:
        raise SandboxError(f"cannot start the container: {error}")
    if result is None:
        raise SandboxError(
            f"the sandbox helper died unexpectedly (status {proc.returncode}); see its stderr"
        )
    return result


_Handler = Callable[[int, FrameType | None], Any] | int | None


def _forward_signals(pid: int) -> dict[int, _Handler]:
    if threading.current_thread() is not threading.main_thread():
        return {}

    def forward(signum: int, frame: FrameType | None) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)

    return {sig: signal.signal(sig, forward) for sig in FORWARDED}


def _restore_signals(previous: dict[int, _Handler]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
