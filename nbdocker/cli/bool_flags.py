"""Docker's boolean flags: ``--pause``, ``--pause=false``, ``-p=false``, and ``--no-pause``.

Docker's flag library takes a boolean flag alone (true) or with ``=value`` (``true``,
``false``, ``1``, ``0``, ``t``, ``f`` in any case), never with the value as the next word, so
``commit -p mycontainer`` keeps ``mycontainer`` as the container. argparse has no such action:
:class:`DockerBool` takes no value, and :meth:`DockerBool.rewrite` (which the verb parser
calls on every word) turns ``--flag=value`` into ``--flag`` or ``--no-flag`` first.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from ..engine.errors import UsageError

__all__ = ["DockerBool"]

_TRUE = ("1", "t", "true")
_FALSE = ("0", "f", "false")


class DockerBool(argparse.Action):
    """A boolean flag as Docker has it (see the module docstring); ``--no-<name>`` too."""

    def __init__(
        self,
        option_strings: Sequence[str],
        dest: str,
        default: bool = True,
        help: str | None = None,
        **kwargs: Any,
    ) -> None:
        negative = [f"--no-{o[2:]}" for o in option_strings if o.startswith("--")]
        self.negative = negative[0]
        super().__init__([*option_strings, *negative], dest, nargs=0, default=default, help=help)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        setattr(namespace, self.dest, option_string not in (None, self.negative))

    @staticmethod
    def rewrite(parser: argparse.ArgumentParser, word: str) -> str:
        """``word`` with a DockerBool's ``=value`` turned into the flag or its negative."""
        name, sep, value = word.partition("=")
        if not sep or not name.startswith("-"):
            return word
        action = parser._option_string_actions.get(name)  # noqa: SLF001 - argparse's own table
        if not isinstance(action, DockerBool) or name == action.negative:
            return word
        if value.lower() in _TRUE:
            return name
        if value.lower() in _FALSE:
            return action.negative
        raise UsageError(
            f'{parser.prog}: invalid boolean value "{value}" for {name}: give true or false'
        )
