"""Dockerfile parsing and ``$VAR`` expansion, compatible with BuildKit, and what configuration
instructions do to an image config (:mod:`.config`, shared by builds and ``commit``/``import -c``).

Three layers, each usable alone:

* :func:`parse` — text → :class:`Dockerfile` of :class:`Node` (raw words, line numbers,
  heredocs); :func:`dump` prints a node the way BuildKit's parser tests do;
* :func:`parse_instruction` — node → typed :class:`Instruction` (``From``, ``Run``, …) with
  flags and argument counts checked; :func:`expand_instruction` applies variables per step;
* :class:`Lexer` — the shell-word expander (``$X``, ``${X:-d}``, ``${X%%pat}``, quotes).

Every syntax problem is a :class:`~nbdocker.engine.errors.DockerfileError` (``path:line: …``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_exports

if TYPE_CHECKING:
    from .commands import SourcesAndDest
    from .config import DEFAULT_SHELL, apply_changes, apply_instruction, env_map
    from .flags import Mount, parse_duration, parse_mount
    from .instructions import (
        CHANGE_INSTRUCTIONS,
        INSTRUCTIONS,
        Add,
        Arg,
        Cmd,
        Copy,
        Entrypoint,
        Env,
        Expanded,
        Expose,
        From,
        Healthcheck,
        Instruction,
        Label,
        Maintainer,
        Onbuild,
        Run,
        Shell,
        Stopsignal,
        User,
        Volume,
        Workdir,
        expand_instruction,
        parse_change,
        parse_instruction,
        parse_instructions,
    )
    from .parser import DEFAULT_ESCAPE, Dockerfile, Heredoc, Node, dump, go_quote, parse
    from .shell import ExpansionError, Lexer, WordResult

__all__ = [
    "CHANGE_INSTRUCTIONS",
    "DEFAULT_SHELL",
    "DEFAULT_ESCAPE",
    "INSTRUCTIONS",
    "Add",
    "Arg",
    "Cmd",
    "Copy",
    "Dockerfile",
    "Entrypoint",
    "Env",
    "Expanded",
    "ExpansionError",
    "Expose",
    "From",
    "Healthcheck",
    "Heredoc",
    "Instruction",
    "Label",
    "Lexer",
    "Maintainer",
    "Mount",
    "Node",
    "Onbuild",
    "Run",
    "Shell",
    "SourcesAndDest",
    "Stopsignal",
    "User",
    "Volume",
    "WordResult",
    "Workdir",
    "apply_changes",
    "apply_instruction",
    "dump",
    "env_map",
    "expand_instruction",
    "go_quote",
    "parse",
    "parse_change",
    "parse_duration",
    "parse_instruction",
    "parse_instructions",
    "parse_mount",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "CHANGE_INSTRUCTIONS": ".instructions",
        "DEFAULT_SHELL": ".config",
        "apply_changes": ".config",
        "apply_instruction": ".config",
        "env_map": ".config",
        "DEFAULT_ESCAPE": ".parser",
        "INSTRUCTIONS": ".instructions",
        "Add": ".instructions",
        "Arg": ".instructions",
        "Cmd": ".instructions",
        "Copy": ".instructions",
        "Dockerfile": ".parser",
        "Entrypoint": ".instructions",
        "Env": ".instructions",
        "Expanded": ".instructions",
        "ExpansionError": ".shell",
        "Expose": ".instructions",
        "From": ".instructions",
        "Healthcheck": ".instructions",
        "Heredoc": ".parser",
        "Instruction": ".instructions",
        "Label": ".instructions",
        "Lexer": ".shell",
        "Maintainer": ".instructions",
        "Mount": ".flags",
        "Node": ".parser",
        "Onbuild": ".instructions",
        "Run": ".instructions",
        "Shell": ".instructions",
        "SourcesAndDest": ".commands",
        "Stopsignal": ".instructions",
        "User": ".instructions",
        "Volume": ".instructions",
        "WordResult": ".shell",
        "Workdir": ".instructions",
        "dump": ".parser",
        "expand_instruction": ".instructions",
        "go_quote": ".parser",
        "parse": ".parser",
        "parse_change": ".instructions",
        "parse_duration": ".flags",
        "parse_instruction": ".instructions",
        "parse_instructions": ".instructions",
        "parse_mount": ".flags",
    },
)
