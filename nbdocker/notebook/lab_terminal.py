"""``%docker run -it`` in JupyterLab: the shell opens in a terminal tab.

A cell has no terminal. :class:`~nbdocker.notebook.magics.NbdockerMagics` calls its
``open_terminal`` hook, when set, with the ``nbdocker run -it …`` command line, and prints how to
get a shell when the hook is unset or declines. This module sets the hook when the kernel's front
end is JupyterLab with nbdocker's extension:

1. ``%load_ext nbdocker`` opens a comm to the target :data:`TARGET` saying ``hello``. nbdocker's
   lab extension registers that target on every kernel it talks to and answers
   ``{"terminals": true}``; the answer arrives once the loading cell has finished, and sets the
   hook. Other front ends (nbclient, nbconvert, a classic notebook, a terminal IPython) do not
   answer, so the hint stays what they get.
2. The hook opens a comm carrying ``{"run": [ARGS…]}`` (the arguments after ``nbdocker run``);
   the lab extension asks the server extension for a terminal running ``nbdocker run ARGS…``
   and opens its tab: the CLI creates and starts the container on that terminal, ``exit`` ends
   it, and the container stays for ``%commit`` (unless ``--rm``) — Docker's ``run -it``.
   ``-i`` without ``-t`` opens the tab too, the container's stdin and output on it but no TTY
   in the container, as ``docker run -i`` typed in a terminal (Ctrl-D ends its input).
"""

from __future__ import annotations

import shlex
from typing import Any

from .translations import tr

__all__ = ["TARGET", "connect"]

TARGET = "nbdocker.lab"


def connect(shell: Any, magics: Any) -> None:
    """Ask the kernel's front end whether it opens terminals; when it says so, set
    ``magics.open_terminal``. Does nothing outside a kernel."""
    if getattr(shell, "kernel", None) is None:
        return
    from comm import create_comm

    hello = create_comm(target_name=TARGET, data={"hello": 1})

    def answered(msg: dict[str, Any]) -> None:
        data = (msg.get("content") or {}).get("data") or {}
        if data.get("terminals"):
            magics.open_terminal = open_in_jupyterlab

    hello.on_msg(answered)


def open_in_jupyterlab(command: list[str]) -> bool:
    """Ask JupyterLab to open a terminal running ``command`` (``nbdocker run …``)."""
    from comm import create_comm

    from ..cli.grammar import build_parser

    args = command[2:] if command[:2] == ["nbdocker", "run"] else command
    request = create_comm(target_name=TARGET, data={"run": args})
    request.close()
    if build_parser("run").parse_args(["run", *args]).tty:
        print(
            tr(
                "The shell opens in a JupyterLab terminal tab: {command}",
                command=shlex.join(command),
            )
        )
    else:
        print(
            tr(
                "The container's input and output open in a JupyterLab terminal tab, with no "
                "TTY (-i without -t: no prompt or job control; add -t for a shell): {command}",
                command=shlex.join(command),
            )
        )
    return True
