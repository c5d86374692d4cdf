"""Dockerfile parsing and ``$VAR`` expansion, compatible with BuildKit.

Three layers, each usable alone:

* :func:`parse` — text → :class:`Dockerfile` of :class:`Node` (raw words, line numbers,
  heredocs); :func:`dump` prints a node the way BuildKit's parser tests do;
* :func:`parse_instruction` — node → typed :class:`Instruction` (``From``, ``Run``, …) with
  flags and argument counts checked; :func:`expand_instruction` applies variables per step;
* :class:`Lexer` — the shell-word expander (``$X``, ``${X:-d}``, ``${X%%pat}``, quotes).

Every syntax problem is a :class:`~nbdocker.engine.errors.DockerfileError` (``path:line: …``).
"""

from __future__ import annotations

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
    "Stopsignal",
    "User",
    "Volume",
    "WordResult",
    "Workdir",
    "dump",
    "expand_instruction",
    "go_quote",
    "parse",
    "parse_change",
    "parse_duration",
    "parse_instruction",
    "parse_instructions",
    "parse_mount",
]
