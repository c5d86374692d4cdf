"""Variable expansion of typed instructions, applied by the builder per step.

Which ``ARG``/``ENV`` values a step sees depends on the build, so expansion happens late, one
instruction at a time, and reports the names it referenced: the build cache keys a step on
exactly those. Only the fields Docker expands are touched; commands are left to the shell.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from ..errors import DockerfileError
from ..lazy import lazy_dataclass
from .commands import (
    Arg,
    Copy,
    Env,
    Expose,
    From,
    Instruction,
    Label,
    Run,
    SourcesAndDest,
    Stopsignal,
    User,
    Volume,
    Workdir,
)
from .flags import FlagError, parse_mount
from .nodes import Heredoc
from .shell import ExpansionError, Lexer

__all__ = ["Expanded", "expand_instruction"]


@lazy_dataclass(frozen=True)
class Expanded:
    """An instruction with its variables expanded, and the names it referenced."""

    instruction: Instruction
    referenced: frozenset[str]


class _Expander:
    def __init__(self, escape: str, env: Mapping[str, str]) -> None:
        self.lexer = Lexer(escape)
        self.heredoc_lexer = Lexer("\\", skip_quotes=True)
        self.env = env
        self.seen: set[str] = set()

    def word(self, text: str) -> str:
        result = self.lexer.process_word_with_matches(text, self.env)
        self.seen |= result.referenced
        return result.word

    def optional(self, text: str | None) -> str | None:
        return None if text is None else self.word(text)

    def words(self, texts: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(self.word(t) for t in texts)

    def split(self, texts: tuple[str, ...]) -> tuple[str, ...]:
        out: list[str] = []
        for text in texts:
            result = self.lexer.process_word_with_matches(text, self.env)
            self.seen |= result.referenced
            out.extend(result.words)
        return tuple(out)

    def heredocs(self, docs: tuple[Heredoc, ...]) -> tuple[Heredoc, ...]:
        out = []
        for doc in docs:
            if doc.expand:
                result = self.heredoc_lexer.process_word_with_matches(doc.body, self.env)
                self.seen |= result.referenced
                doc = Heredoc(doc.name, result.word, doc.expand, False, doc.fd)
            out.append(doc)
        return tuple(out)

    def expand(self, ins: Instruction) -> Instruction:
        r = dataclasses.replace
        if isinstance(ins, From):
            return r(ins, base=self.word(ins.base), platform=self.optional(ins.platform))
        if isinstance(ins, (Env, Label)):
            return r(ins, pairs=tuple((self.word(k), self.word(v)) for k, v in ins.pairs))
        if isinstance(ins, Arg):
            return r(ins, pairs=tuple((self.word(k), self.optional(v)) for k, v in ins.pairs))
        if isinstance(ins, SourcesAndDest):
            own: dict[str, str | None] = (
                {"from_": self.optional(ins.from_)}
                if isinstance(ins, Copy)
                else {"checksum": self.optional(ins.checksum)}
            )
            return r(
                ins,
                sources=self.words(ins.sources),
                dest=self.word(ins.dest),
                chown=self.optional(ins.chown),
                chmod=self.optional(ins.chmod),
                heredocs=self.heredocs(ins.heredocs),
                **own,
            )
        if isinstance(ins, Expose):
            return r(ins, ports=self.split(ins.ports))
        if isinstance(ins, Volume):
            return r(ins, paths=self.words(ins.paths))
        if isinstance(ins, User):
            return r(ins, user=self.word(ins.user))
        if isinstance(ins, Workdir):
            return r(ins, path=self.word(ins.path))
        if isinstance(ins, Stopsignal):
            return r(ins, signal=self.word(ins.signal))
        if isinstance(ins, Run) and ins.mounts:
            return r(ins, mounts=tuple(parse_mount(m.spec, self.word) for m in ins.mounts))
        return ins  # RUN/CMD/ENTRYPOINT/SHELL/HEALTHCHECK go to the shell unexpanded


def expand_instruction(
    instruction: Instruction,
    env: Mapping[str, str],
    *,
    escape: str = "\\",
    path: str = "Dockerfile",
) -> Expanded:
    """Expand ``$VAR`` in the fields Docker expands for this instruction.

    ADD, ARG, COPY, ENV, EXPOSE, FROM, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR and
    ``RUN --mount`` values are expanded (``COPY``/``ADD`` heredoc bodies too, unless their
    delimiter was quoted); commands are left to the shell. ``escape`` is the file's escape
    character. Raises ``DockerfileError`` at the instruction's line on a bad expansion.
    """
    expander = _Expander(escape, env)
    try:
        expanded = expander.expand(instruction)
    except (ExpansionError, FlagError) as exc:
        raise DockerfileError(str(exc), path, instruction.line) from None
    return Expanded(expanded, frozenset(expander.seen))
