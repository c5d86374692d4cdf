"""Wiring the extension into a running jupyter_server: settings, routes, the store watcher."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jupyter_server.utils import url_path_join
from tornado.ioloop import IOLoop, PeriodicCallback

from ..engine import Engine
from .handlers import handlers, resolve_in_root
from .hub import POLL_SECONDS, Hub, StoreWatcher
from .shells import ShellLauncher
from .tasks import Task, TaskRunner

__all__ = ["LabState", "setup", "teardown"]


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
        self.watcher = StoreWatcher(Engine().home, lambda: self.hub.send({"type": "store"}))

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


def setup(serverapp: Any) -> None:
    web_app = serverapp.web_app
    root = Path(serverapp.root_dir).resolve()
    state = LabState(root, web_app.settings, IOLoop.current())
    web_app.settings["nbdocker"] = state
    prefix = url_path_join(web_app.settings["base_url"], "nbdocker", "api")
    web_app.add_handlers(".*$", handlers(prefix))
    state.poller = PeriodicCallback(state.watcher.poll, POLL_SECONDS * 1000)
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
