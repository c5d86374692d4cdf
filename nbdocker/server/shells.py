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
from typing import TYPE_CHECKING, Any

from ..engine import Engine, RunOptions, UsageError

if TYPE_CHECKING:
    from ..engine.containers import Container
    from ..engine.oci import ImageConfig

__all__ = ["PROMPT", "ShellLauncher", "prompt_env", "shell_command"]

PROMPT = "\\u@\\h:\\w\\$ "
_SHELLS = {"sh", "bash", "ash", "dash", "zsh", "ksh", "mksh", "fish"}


def _default_argv(image_config: ImageConfig) -> list[str]:
    cfg = image_config.get("config") or {}
    return list((cfg.get("Entrypoint") or []) + (cfg.get("Cmd") or []))


def shell_command(image_config: ImageConfig) -> list[str]:
    """The shell to run in an image: its command when that is a shell, else ``/bin/sh``."""
    argv = _default_argv(image_config)
    if len(argv) == 1 and posixpath.basename(argv[0]) in _SHELLS:
        return argv
    return ["/bin/sh"]


def prompt_env(image_config: ImageConfig, argv: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """``("PS1=…",)`` when the container runs (``argv``, or the image's command) a shell other
    than bash and the image sets no PS1 of its own; else nothing."""
    run = list(argv) or _default_argv(image_config)
    env = (image_config.get("config") or {}).get("Env") or []
    if len(run) != 1 or posixpath.basename(run[0]) not in _SHELLS - {"bash"}:
        return ()
    if any(e.startswith("PS1=") for e in env):
        return ()
    return (f"PS1={PROMPT}",)


class ShellLauncher:
    """Creates shell containers and the terminals attached to them.

    ``terminals`` is jupyter_server_terminals' TerminalManager (terminado's
    ``NamedTermManager``), whose ``create(shell_command=…)`` starts a named terminal running
    that command. Terminals are started on the server's event loop (terminado reads each pty
    from the loop it was created on); the engine work before it runs on a worker thread.
    ``by_container`` remembers which terminal runs which container while it lives, so opening
    an attached container again focuses its tab instead of starting it twice.
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

    @staticmethod
    def create_container(
        engine: Engine, image: str, command: list[str] | None = None, name: str | None = None
    ) -> Container:
        """A new container from ``image`` running ``command`` (default: a shell) with a TTY
        and stdin open, not started (worker thread)."""
        config = engine.get(image).config
        argv = list(command) if command else shell_command(config)
        options = RunOptions(
            name=name or None, tty=True, interactive=True, env=prompt_env(config, argv)
        )
        return engine.create(image, argv, options)

    @staticmethod
    def attachable(engine: Engine, container: str) -> Container:
        """The container, if a terminal can start it (worker thread).

        A container running elsewhere (the CLI, a kernel) cannot be attached to — the engine
        has no attach for a process it does not own — so that, and a container made without
        ``-i -t``, are refused with a message.
        """
        c = engine.containers.get(container)
        if not (c.config.tty and c.config.stdin):
            raise UsageError(
                f"container {c.name} was not created for a terminal (-i -t); start a new shell "
                "from its image, or nbdocker start -a it"
            )
        return c

    @staticmethod
    def run_command(engine: Engine, args: list[str]) -> list[str]:
        """The terminal's command for ``nbdocker run ARGS…`` (``%docker run -it`` or ``-i`` in
        a notebook), checked first with the CLI's own grammar (worker thread): the image must
        exist and ``-i`` be given. A bare non-bash shell run with ``-t`` gets the
        ``root@<id>:/#`` prompt.

        ``-i`` without ``-t`` opens the terminal tab too, as Docker would run it there: what is
        typed goes to the container's stdin and its output comes back, but the container gets
        no TTY (no job control; ``vi`` or ``top`` complain; a shell may print no prompt).
        Ctrl-D ends its input. The terminal's own line editing still works, as it does for
        ``docker run -i`` typed in any terminal."""
        from ..cli.grammar import build_parser

        parsed = build_parser("run").parse_args(["run", *args])
        if not parsed.interactive:
            raise UsageError(
                "a terminal runs containers with -i (keep stdin open), -it for a shell with a "
                "TTY; add them"
            )
        config = engine.get(parsed.image).config
        prompt = (
            []
            if not parsed.tty or any(e.startswith("PS1=") for e in parsed.env)
            else prompt_env(config, parsed.command)
        )
        extra = [a for env in prompt for a in ("-e", env)]
        return [sys.executable, "-m", "nbdocker", "run", *extra, *args]

    def terminal_running(self, argv: list[str]) -> str:
        """A new terminal running ``argv`` (event loop)."""
        return str(self.terminals.create(shell_command=argv)["name"])

    def terminal_for(self, c: Container, *, remove: bool = False) -> str:
        """The terminal running ``c``: its live one, or a new one that starts it (event loop)."""
        live = self.live_terminal(c.id)
        if live is not None:
            return live
        if c.state == "running":
            raise UsageError(
                f"container {c.name} is already running elsewhere; wait for it to exit, or "
                "start a new shell from its image"
            )
        argv = [sys.executable, "-m", "nbdocker.server.attach"]
        if remove:
            argv.append("--rm")
        argv.append(c.id)
        model = self.terminals.create(shell_command=argv)
        name = str(model["name"])
        self.by_container[c.id] = name
        return name
