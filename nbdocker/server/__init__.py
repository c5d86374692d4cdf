"""The Jupyter server extension behind nbdocker's JupyterLab extension.

``pip install nbdocker`` enables it (``etc/jupyter/jupyter_server_config.d/nbdocker.json``). It
serves, under the server's base URL and behind Jupyter's own authentication and XSRF rules:

- ``nbdocker/api/…`` — REST endpoints over :class:`nbdocker.engine.Engine`: images, history and
  layers, tag, remove, push, containers, commit, diff, shells (a JupyterLab terminal attached to
  a new container's TTY) and builds of Dockerfiles in the server's file tree
  (:mod:`.handlers`);
- ``nbdocker/api/events`` — a websocket of live events: the store changed (any process — a
  kernel, the CLI — built, pulled, imported, committed, removed…), the builds and transfers
  running on the store in any process with their progress (the status bar), and the logs of
  the builds and pushes this server runs (:mod:`.events`).

The engine does the work; this package only translates HTTP to engine calls and engine events
to JSON. It is the only part of nbdocker that imports jupyter_server.
"""

from __future__ import annotations

from typing import Any

__all__ = ["load_jupyter_server_extension"]


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "nbdocker.server"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    from .app import setup

    setup(serverapp)


def _unload_jupyter_server_extension(serverapp: Any) -> None:
    from .app import teardown

    teardown(serverapp)


load_jupyter_server_extension = _load_jupyter_server_extension
