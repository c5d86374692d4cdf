"""A real ipykernel for tests: start it with a given NBDOCKER_HOME, run cells, interrupt."""

from __future__ import annotations

import os
import queue
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def kernel(home: Path, cwd: Path) -> Iterator[Any]:
    from jupyter_client.manager import start_new_kernel

    env = dict(os.environ, NBDOCKER_HOME=str(home))
    km, kc = start_new_kernel(kernel_name="python3", cwd=str(cwd), env=env)
    try:
        yield km, kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def execute(kc: Any, code: str, timeout: float = 120, on_output: Any = None) -> dict[str, Any]:
    """Run ``code``; return {"reply": content, "outputs": [iopub messages of the cell]}."""
    msg_id = kc.execute(code)
    outputs: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    idle = False
    while not idle:
        try:
            msg = kc.get_iopub_msg(timeout=max(deadline - time.monotonic(), 0.1))
        except queue.Empty:
            raise TimeoutError(f"no output within {timeout}s: {code[:60]!r}") from None
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind = msg["msg_type"]
        if on_output is not None:
            on_output(msg)  # every message, widget state updates (comm_msg) too
        if kind == "status" and msg["content"]["execution_state"] == "idle":
            idle = True
        elif kind in ("stream", "display_data", "update_display_data", "execute_result", "error"):
            outputs.append(msg)
    reply = kc.get_shell_msg(timeout=timeout)
    return {"reply": reply["content"], "outputs": outputs}


def text_of(outputs: list[dict[str, Any]]) -> str:
    parts = []
    for msg in outputs:
        c = msg["content"]
        if msg["msg_type"] == "stream":
            parts.append(c["text"])
        elif msg["msg_type"] == "error":
            parts.append("\n".join(c["traceback"]))
        elif "data" in c:
            parts.append(c["data"].get("text/plain", ""))
    return "".join(parts)
