"""Running a command on a pseudo-terminal, as a person at a terminal would see it."""

from __future__ import annotations

import os
import pty
import re
import subprocess
from collections.abc import Mapping, Sequence

_ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def run_on_terminal(
    argv: Sequence[str],
    env: Mapping[str, str],
    *,
    capture_stdout: bool = False,
    timeout: float = 120,
) -> tuple[int, str, bytes]:
    """Run ``argv`` with stderr — and stdout unless ``capture_stdout`` — on a terminal.

    Returns the exit status, what the terminal showed (escape sequences removed) and, with
    ``capture_stdout``, the bytes written to stdout."""
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(
        list(argv),
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE if capture_stdout else terminal,
        stderr=terminal,
    )
    os.close(terminal)
    seen = b""
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # EIO: the last writer closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    code = proc.wait(timeout=timeout)
    os.close(controller)
    out = proc.stdout.read() if proc.stdout is not None else b""
    return code, _ESCAPES.sub("", seen.decode(errors="replace")), out
