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
def kernel(home: Path, cwd: Path, lang: str = "C.UTF-8") -> Iterator[Any]:
    """A kernel on the store ``home``, in the locale ``lang`` (English unless told)."""
    from jupyter_client.manager import start_new_kernel

    env = {k: v for k, v in os.environ.items() if k not in ("LANGUAGE", "LC_ALL", "LC_MESSAGES")}
    env.update(NBDOCKER_HOME=str(home), LANG=lang)
    km, kc = start_new_kernel(kernel_name="python3", cwd=str(cwd), env=env)
    try:
        yield km, kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def execute(
    kc: Any, code: str, timeout: float = 120, on_output: Any = None, cell_id: str | None = None
) -> dict[str, Any]:
    """Run ``code`` (as the cell ``cell_id``, as JupyterLab sends it); return {"reply": content,
    "outputs": [iopub messages of the cell]}."""
    if cell_id is None:
        msg_id = kc.execute(code)
    else:
        content = {
            "code": code,
            "silent": False,
            "store_history": True,
            "user_expressions": {},
            "allow_stdin": False,
            "stop_on_error": True,
        }
        msg = kc.session.msg("execute_request", content, metadata={"cellId": cell_id})
        kc.shell_channel.send(msg)
        msg_id = msg["header"]["msg_id"]
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
    while True:  # skip replies to earlier requests (start_new_kernel's kernel_info, …)
        reply = kc.get_shell_msg(timeout=timeout)
        if reply["parent_header"].get("msg_id") == msg_id:
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


def final_outputs(outputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The cell's outputs as a notebook keeps them: each ``update_display_data`` replaces the
    data of the earlier output with the same display ID (as JupyterLab and nbclient do)."""
    kept: list[dict[str, Any]] = []
    by_id: dict[str, list[dict[str, Any]]] = {}
    for msg in outputs:
        kind, content = msg["msg_type"], msg["content"]
        display_id = (content.get("transient") or {}).get("display_id")
        if kind == "update_display_data":
            for out in by_id.get(display_id, []):
                out["data"] = content["data"]
            continue
        out = {"output_type": kind, **content}
        kept.append(out)
        if display_id:
            by_id.setdefault(display_id, []).append(out)
    return kept


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
