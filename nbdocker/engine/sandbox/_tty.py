"""``-t``: copy between the caller's descriptors and the container's pty master.

Runs in the helper process (not the caller), so the caller needs no threads. When stdin is a
terminal it is put in raw mode for the duration (restored on every exit path) and its window
size is copied to the pty at start and on every ``SIGWINCH``.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import select
import signal
import termios
import tty
from types import FrameType


def copy_winsize(src: int, dst: int) -> None:
    with contextlib.suppress(OSError):
        size = fcntl.ioctl(src, termios.TIOCGWINSZ, b"\0" * 8)
        fcntl.ioctl(dst, termios.TIOCSWINSZ, size)


def pump(master: int, stdin: int | None, stdout: int) -> None:
    """Copy until the pty's last slave is closed (the container's PID 1 exited)."""
    term = next((fd for fd in (stdin, stdout) if fd is not None and os.isatty(fd)), None)
    saved = None
    if term is not None:
        copy_winsize(term, master)

        def on_winch(signum: int, frame: FrameType | None) -> None:
            copy_winsize(term, master)

        signal.signal(signal.SIGWINCH, on_winch)
    if stdin is not None and os.isatty(stdin):
        saved = termios.tcgetattr(stdin)
        tty.setraw(stdin, termios.TCSANOW)  # keep what was typed ahead
    try:
        readers = [master] + ([stdin] if stdin is not None else [])
        while True:
            try:
                ready, _, _ = select.select(readers, [], [])
            except InterruptedError:
                continue
            if master in ready:
                try:
                    data = os.read(master, 65536)
                except OSError as exc:
                    if exc.errno == errno.EIO:
                        return
                    raise
                if not data:
                    return
                _write_all(stdout, data)
            if stdin is not None and stdin in ready:
                data = os.read(stdin, 65536)
                if data:
                    _write_all(master, data)
                else:
                    readers.remove(stdin)
                    with contextlib.suppress(OSError):
                        os.write(master, b"\x04")
    finally:
        if saved is not None and stdin is not None:
            termios.tcsetattr(stdin, termios.TCSADRAIN, saved)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except OSError as exc:
            if exc.errno in (errno.EIO, errno.EPIPE):
                return
            raise
        view = view[written:]
