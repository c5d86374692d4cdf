"""Wiring the extension into a running jupyter_server: settings, routes, the store watcher."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from jupyter_server.utils import url_path_join
from tornado.ioloop import IOLoop, PeriodicCallback

from ..engine import Engine
from .handlers import handlers, resolve_in_root
from .hub import POLL_SECONDS, ActivityWatcher, Hub, StoreWatcher
from .shells import ShellLauncher
from .tasks import Task, TaskRunner

__all__ = ["LabState", "setup", "teardown", "where"]


class LabState:
    """What the handlers share: the hub of event sockets, the task runner, the shell launcher
    and the server's root folder (where the lab's file paths start)."""

    def __init__(self, root: Path, settings: dict[str, Any], loop: IOLoop) -> None:
        self.root = root
        self.hub = Hub()
        self.loop = loop
        self.tasks = TaskRunner(self._publish_task)
        self._settings = settings
        self._shells: ShellLauncher | None = None
        self.poller: PeriodicCallback | None = None
        home = Engine().home
        self.watcher = StoreWatcher(home, lambda: self.hub.send({"type": "store"}))
        self.activity: list[dict[str, Any]] = []  # as last sent, with where each runs
        self._activity_serial = 0
        self.activity_watcher = ActivityWatcher(
            home, lambda records: self.loop.add_callback(self._send_activity, records)
        )

    def poll(self) -> None:
        self.watcher.poll()
        self.activity_watcher.poll()

    async def _send_activity(self, records: list[dict[str, Any]]) -> None:
        """Name where each piece of work runs, then send the list to every socket — unless a
        newer list came while the kernels were looked up (it is sent instead; never the older
        one after it)."""
        self._activity_serial += 1
        serial = self._activity_serial
        kernels = await self._notebooks_by_pid() if records else {}
        if serial != self._activity_serial:
            return
        self.activity = [{**r, "where": where(r, kernels)} for r in records]
        self.hub.send({"type": "activity", "activity": self.activity})

    async def _notebooks_by_pid(self) -> dict[int, str]:
        """The path of the notebook (or console) each local kernel process serves."""
        kernels = self._settings.get("kernel_manager")
        sessions = self._settings.get("session_manager")
        if kernels is None or sessions is None:
            return {}
        pids: dict[str, int] = {}
        for kernel_id in kernels.list_kernel_ids():
            pid = getattr(getattr(kernels.get_kernel(kernel_id), "provisioner", None), "pid", None)
            if isinstance(pid, int):
                pids[kernel_id] = pid
        out: dict[int, str] = {}
        for session in await sessions.list_sessions():
            pid = pids.get((session.get("kernel") or {}).get("id", ""))
            if pid is not None:
                out[pid] = str(session.get("path") or session.get("name") or "")
        return out

    def _publish_task(self, task: Task) -> None:
        """From any thread: send the task's state on the event loop."""
        self.loop.add_callback(lambda: self.hub.send({"type": "task", "task": task.to_json()}))

    @property
    def shells(self) -> ShellLauncher | None:
        """The shell launcher, on jupyter_server_terminals' manager (None without terminals);
        looked up when first used, as that extension may load after this one."""
        if self._shells is None:
            terminals = self._settings.get("terminal_manager")
            if terminals is not None:
                self._shells = ShellLauncher(terminals)
        return self._shells

    def resolve(self, path: str) -> Path:
        return resolve_in_root(self.root, path)


def where(record: dict[str, Any], notebooks: dict[int, str]) -> str:
    """Where a piece of work runs, as the status bar says it: a notebook's path, ``JupyterLab``
    (this server's own builds and pushes), ``nbdocker CLI``, ``a kernel``, else its PID."""
    pid = record.get("pid")
    if pid in notebooks:
        return notebooks[pid]
    if pid == os.getpid():
        return "JupyterLab"
    program = str(record.get("program") or "")
    if program == "nbdocker":
        return "nbdocker CLI"
    if program.startswith("ipykernel"):
        return "a kernel"
    return f"process {pid}"


def setup(serverapp: Any) -> None:
    web_app = serverapp.web_app
    root = Path(serverapp.root_dir).resolve()
    state = LabState(root, web_app.settings, IOLoop.current())
    web_app.settings["nbdocker"] = state
    prefix = url_path_join(web_app.settings["base_url"], "nbdocker", "api")
    web_app.add_handlers(".*$", handlers(prefix))
    state.poller = PeriodicCallback(state.poll, POLL_SECONDS * 1000)
    state.poller.start()
    serverapp.log.info("nbdocker: serving %s (store %s)", prefix, state.watcher.home)


def teardown(serverapp: Any) -> None:
    """The server stops: no more polling; queued tasks are dropped (a running build finishes,
    as an interrupted one would name nothing anyway)."""
    state: LabState | None = serverapp.web_app.settings.get("nbdocker")
    if state is None:
        return
    if state.poller is not None:
        state.poller.stop()
    state.tasks.shutdown()
