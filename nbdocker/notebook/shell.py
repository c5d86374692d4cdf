"""``%docker run -it IMAGE [COMMAND]`` in a notebook: a container with a terminal.

A cell has no terminal, so the kernel only creates the container (with a TTY and stdin open,
as ``docker create -it`` would) and returns a :class:`ShellRequest`. In JupyterLab the nbdocker
extension renders it by starting the container in a terminal tab (JupyterLab's own terminal,
through the server extension); ``exit`` ends it and the container stays for ``%commit``. Where
no extension renders it (classic front ends, nbconvert), its text says how to start it:
``nbdocker start -a -i NAME`` in any terminal.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, replace
from typing import Any

from ..cli.container_verbs import run_options
from ..engine import Engine

__all__ = ["SHELL_MIME", "ShellRequest", "create_shell"]

SHELL_MIME = "application/vnd.nbdocker.shell+json"


@dataclass(frozen=True)
class ShellRequest:
    """A container created for a terminal; displayed, it opens one (see the module doc)."""

    container: str  # ID
    name: str
    image: str
    remove: bool  # --rm: the container goes when its command exits

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        after = (
            "It is removed when its command exits."
            if self.remove
            else f"After exit: %commit {self.name} REPOSITORY[:TAG]"
        )
        text = (
            f"Container {self.name} ({self.image}) was created with a terminal. JupyterLab opens "
            f"it in a terminal tab; elsewhere run: nbdocker start -a -i {self.name}\n{after}"
        )
        data = {
            "container": self.container,
            "name": self.name,
            "image": self.image,
            "rm": self.remove,
        }
        return {SHELL_MIME: data, "text/plain": text}


def create_shell(args: argparse.Namespace) -> ShellRequest:
    """Create the container ``run -it`` asked for (not started); a shell other than bash gets
    Docker's ``root@<id>:/#`` prompt (:func:`nbdocker.server.shells.prompt_env`)."""
    from ..server.shells import prompt_env

    engine = Engine()
    options = run_options(args)
    config = engine.get(args.image).config
    extra = prompt_env(config, tuple(args.command))
    if extra:
        options = replace(options, env=(*extra, *options.env))
    container = engine.create(args.image, args.command, options)
    return ShellRequest(container.id, container.name, args.image, bool(args.rm))
