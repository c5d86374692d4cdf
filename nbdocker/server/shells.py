"""Shells in containers, each in a JupyterLab terminal (``docker run -t -i`` made real).

A shell is a new container created with a TTY and stdin open, then started by a Jupyter
terminal whose process is :mod:`.attach`: the terminal's pty becomes the container's terminal
through the engine's own ``-t`` support, so JupyterLab's terminal widget is the console — no
second terminal emulator. ``exit`` ends the container's command, the process, and the terminal
tab; the container stays (state ``exited``) for ``commit``.

Which shell: the image's command when it is a shell (``bash``, ``sh``…), else ``/bin/sh``. A
``/bin/sh`` that is not bash prints ``/ #`` by default; the container gets
``PS1=\\u@\\h:\\w\\$`` (unless the image sets PS1) so every shell shows Docker's familiar
``root@<container id>:/#``. Like any ``-e``, that variable is the container's: a commit keeps it
(``docker commit`` keeps ``docker run -e`` the same way). Bash on Debian sets its own prompt.
"""

from __future__ import annotations

import posixpath
import sys
from typing import Any

from ..engine import Engine, RunOptions, UsageError

__all__ = ["PROMPT", "ShellLauncher", "shell_command"]

PROMPT = "\\u@\\h:\\w\\$ "
_SHELLS = {"sh", "bash", "ash", "dash", "zsh", "ksh", "mksh", "fish"}


def shell_command(image_config: dict[str, Any]) -> tuple[list[str], tuple[str, ...]]:
    """(argv, extra env) for an interactive shell in an image with config ``image_config``."""
    cfg = image_config.get("config") or {}
    argv = list((cfg.get("Entrypoint") or []) + (cfg.get("Cmd") or []))
    if not (len(argv) == 1 and posixpath.basename(argv[0]) in _SHELLS):
        argv = ["/bin/sh"]
    env = cfg.get("Env") or []
    extra: tuple[str, ...] = ()
    if posixpath.basename(argv[0]) != "bash" and not any(e.startswith("PS1=") for e in env):
        extra = (f"PS1={PROMPT}",)
    return argv, extra


class ShellLauncher:
    """Creates shell containers and the terminals attached to them.

    ``terminals`` is jupyter_server_terminals' TerminalManager (terminado's
    ``NamedTermManager``), whose ``create(shell_command=…)`` starts a named terminal running
    that command. ``self.by_container`` remembers which terminal runs which container while it
    lives, so opening an attached container again focuses its tab instead of a second start.
    """

    def __init__(self, terminals: Any) -> None:
        self.terminals = terminals
        self.by_container: dict[str, str] = {}

    def live_terminal(self, container_id: str) -> str | None:
        name = self.by_container.get(container_id)
        if name is not None and name in self.terminals.terminals:
            return name
        self.by_container.pop(container_id, None)
        return None

    def new_shell(
        self, engine: Engine, image: str, command: list[str] | None = None, name: str | None = None
    ) -> tuple[str, Any]:
        """A new container from ``image`` running ``command`` (default: a shell) on a TTY, and
        the terminal attached to it: (terminal name, container)."""
        config = engine.get(image).config
        argv, env = shell_command(config)
        if command:
            argv = list(command)
        options = RunOptions(name=name or None, tty=True, interactive=True, env=env)
        container = engine.create(image, argv, options)
        return self.attach(engine, container.id), container

    def attach(self, engine: Engine, container: str, *, remove: bool = False) -> str:
        """The terminal running ``container``: its live one, or a new one that starts it.

        A running container started elsewhere (the CLI, a kernel) cannot be attached to — the
        engine has no attach for a process it does not own — and is refused with a message.
        """
        c = engine.containers.get(container)
        live = self.live_terminal(c.id)
        if live is not None:
            return live
        if c.state == "running":
            raise UsageError(
                f"container {c.name} is already running elsewhere; wait for it to exit, or "
                "start a new shell from its image"
            )
        if not (c.config.tty and c.config.stdin):
            raise UsageError(
                f"container {c.name} was not created for a terminal (-i -t); start a new shell "
                "from its image, or nbdocker start -a it"
            )
        argv = [sys.executable, "-m", "nbdocker.server.attach"]
        if remove:
            argv.append("--rm")
        argv.append(c.id)
        model = self.terminals.create(shell_command=argv)
        name = str(model["name"])
        self.by_container[c.id] = name
        return name
