"""Dockerfile text → syntax tree, with the same line rules as BuildKit's parser.

The tree is deliberately shallow: one :class:`Node` per instruction holding the raw argument
strings, before any variable expansion. Typing and validating the instructions is the job of
:mod:`.instructions`; this module (with :mod:`.line_parsers`) only decides what the *words*
are, so that every Dockerfile Docker accepts parses here the same way (checked byte for byte
against BuildKit's AST dumps).

Things a reader needs to know, all inherited from Docker:

* parser directives (``# escape=``, ``# syntax=``, ``# check=``) count only in the unbroken
  run of ``# key=value`` lines at the top;
* a trailing escape character joins the next line, and comment or blank lines inside such a
  continuation are dropped;
* ``RUN``, ``COPY`` and ``ADD`` (also under ``ONBUILD``) may carry heredocs (``<<EOF``), whose
  bodies follow the instruction line.

Every error is a :class:`~nbdocker.engine.errors.DockerfileError` naming ``path:line``.
"""

from __future__ import annotations

import re
from dataclasses import replace
from types import MappingProxyType

from ..errors import DockerfileError
from .line_parsers import ParseError, lstrip, node_from_line
from .nodes import Dockerfile, Heredoc, Node, dump, go_quote
from .shell import ExpansionError, Lexer

__all__ = [
    "DEFAULT_ESCAPE",
    "Dockerfile",
    "Heredoc",
    "Node",
    "dump",
    "go_quote",
    "parse",
    "parse_heredoc_word",
]

DEFAULT_ESCAPE = "\\"
_DIRECTIVES = ("syntax", "escape", "check")
# Go's regexp ``\s`` and ``\d`` are ASCII only; spelled out so Unicode classes don't leak in.
_GO_S = "[\t\n\f\r ]"
_DIRECTIVE_RE = re.compile(f"([a-zA-Z][a-zA-Z0-9]*){_GO_S}*={_GO_S}*(.+?){_GO_S}*")
_HEREDOC_RE = re.compile(f"([0-9]*)<<(-?){_GO_S}*([^<]*)")
_HEREDOC_KEYWORDS = frozenset({"run", "copy", "add"})


def _trim_newline(text: str) -> str:
    return text.rstrip("\r\n")


def _is_comment(line: str) -> bool:
    return lstrip(line).startswith("#")


def _split_lines(text: str) -> list[str]:
    """Split on ``\\n`` only, keeping it (other line breaks are ordinary characters here)."""
    parts = text.split("\n")
    lines = [p + "\n" for p in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def _heredoc_target(node: Node) -> Node:
    if node.keyword == "onbuild" and node.args and isinstance(node.args[0], Node):
        return node.args[0]
    return node


def _can_have_heredoc(node: Node) -> bool:
    target = _heredoc_target(node)
    return target.keyword in _HEREDOC_KEYWORDS and not target.json_form


_HEREDOC_WORDS = Lexer("\\", raw_quotes=True, raw_escapes=True, skip_unset=True)
_HEREDOC_NAME = Lexer("\\", skip_unset=True)
_HEREDOC_NAME_RAW = Lexer("\\", raw_quotes=True, skip_unset=True)


def parse_heredoc_word(word: str) -> Heredoc | None:
    """The heredoc a word such as ``<<EOF``, ``<<-"EOF"`` or ``2<<X`` introduces, or None.

    A delimiter with any quoted part turns expansion of the body off, as in a shell.
    """
    match = _HEREDOC_RE.fullmatch(word)
    if match is None or not match.group(3):
        return None
    fd_text, dash, rest = match.groups()
    try:
        words = _HEREDOC_NAME.process_words(rest, {})
        raw = _HEREDOC_NAME_RAW.process_words(rest, {})
    except ExpansionError as exc:
        raise ParseError(f"bad heredoc delimiter {rest!r}: {exc.args[0]}") from None
    if len(words) != 1 or len(raw) != 1:
        return None

    def quotes(text: str) -> int:
        return text.count("'") + text.count('"')

    return Heredoc(
        name=words[0],
        expand=quotes(words[0]) == quotes(raw[0]),
        chomp=dash == "-",
        fd=int(fd_text) if fd_text else 0,
    )


def _heredocs_in_line(line: str) -> list[Heredoc]:
    try:
        words = _HEREDOC_WORDS.process_words(line, {})
    except ExpansionError:
        return []  # an unbalanced quote: BuildKit then finds no heredoc either
    found = []
    for word in words:
        heredoc = parse_heredoc_word(word)
        if heredoc is not None:
            found.append(heredoc)
    return found


# ---------------------------------------------------------------------------------------------
# The line loop


class _Directives:
    """Recognises directives in the leading run of ``# key=value`` comment lines."""

    def __init__(self) -> None:
        self.done = False
        self.values: dict[str, str] = {}

    def feed(self, line: str) -> tuple[str, str] | None:
        if self.done:
            return None
        if not line.startswith("#"):
            self.done = True
            return None
        match = _DIRECTIVE_RE.fullmatch(lstrip(line[1:]))
        if match is None or match.group(1).lower() not in _DIRECTIVES:
            self.done = True
            return None
        key = match.group(1).lower()
        if key in self.values:
            raise ParseError(
                f"only one {key} parser directive can be used; remove the repeated '# {key}=' line"
            )
        self.values[key] = match.group(2)
        return key, match.group(2)


class _Parser:
    def __init__(self, text: str, path: str) -> None:
        self.lines = _split_lines(text)
        self.path = path
        self.index = 0
        self.line_no = 0
        self.escape = DEFAULT_ESCAPE
        self.directives = _Directives()
        self.continuation = self._continuation_re(DEFAULT_ESCAPE)

    @staticmethod
    def _continuation_re(escape: str) -> re.Pattern[str]:
        e = re.escape(escape)
        return re.compile(f"([^{e}]){e}[ \t]*\\Z|^{e}[ \t]*\\Z")

    def error(self, message: str, line: int) -> DockerfileError:
        return DockerfileError(message, self.path, line)

    def process(self, raw: str, strip_left: bool) -> str:
        """Trim a line, look for a directive in it, and blank it if it is a comment."""
        text = _trim_newline(raw)
        if strip_left:
            text = lstrip(text)
        try:
            directive = self.directives.feed(text)
        except ParseError as exc:
            raise self.error(str(exc), self.line_no + 1) from None
        if directive is not None and directive[0] == "escape":
            if directive[1] not in ("`", "\\"):
                raise self.error(
                    f"invalid escape token {directive[1]!r}; use '# escape=\\' or '# escape=`'",
                    self.line_no + 1,
                )
            self.escape = directive[1]
            self.continuation = self._continuation_re(self.escape)
        return "" if _is_comment(text) else text

    def trim_continuation(self, text: str) -> tuple[str, bool]:
        match = self.continuation.search(text)
        if match is None:
            return text, True
        return text[: match.start()] + (match.group(1) or ""), False

    def next_raw(self) -> str | None:
        if self.index >= len(self.lines):
            return None
        raw = self.lines[self.index]
        self.index += 1
        return raw

    def run(self) -> Dockerfile:
        nodes: list[Node] = []
        while (raw := self.next_raw()) is not None:
            if self.line_no == 0 and raw.startswith("\ufeff"):
                raw = raw[1:]
            text = self.process(raw, strip_left=True)
            self.line_no += 1
            start = self.line_no
            text, done = self.trim_continuation(text)
            if done and not text:
                continue
            parts = [text]
            while not done and (raw := self.next_raw()) is not None:
                text = self.process(raw, strip_left=False)
                self.line_no += 1
                if _is_comment(raw) or not lstrip(_trim_newline(text)):
                    continue  # comments and blank lines inside a continuation are dropped
                text, done = self.trim_continuation(text)
                parts.append(text)
            nodes.append(self.instruction("".join(parts), start))
        if not nodes:
            raise DockerfileError(
                "the file has no instructions; a Dockerfile needs at least a FROM line",
                self.path,
                max(self.line_no, 1),
            )
        return Dockerfile(
            directives=MappingProxyType(dict(self.directives.values)),
            escape=self.escape,
            instructions=tuple(nodes),
            path=self.path,
        )

    def instruction(self, line: str, start: int) -> Node:
        try:
            node = node_from_line(line, self.escape)
            heredocs = _heredocs_in_line(line) if _can_have_heredoc(node) and "<<" in line else []
        except ParseError as exc:
            raise self.error(str(exc), start) from None
        bodies = []
        for heredoc in heredocs:
            content: list[str] = []
            while True:
                raw = self.next_raw()
                if raw is None:
                    raise self.error(
                        f"unterminated heredoc {heredoc.name!r}; "
                        f"end it with a line that is exactly {heredoc.name}",
                        start,
                    )
                self.line_no += 1
                candidate = _trim_newline(raw)
                if heredoc.chomp:
                    candidate = candidate.lstrip("\t")
                if candidate == heredoc.name:
                    break
                content.append(raw)
            bodies.append(
                Heredoc(heredoc.name, "".join(content), heredoc.expand, heredoc.chomp, heredoc.fd)
            )
        end = self.line_no
        inner = _heredoc_target(node)
        if inner is not node:
            # ONBUILD: the trigger shares the lines and heredocs of the ONBUILD line.
            inner = replace(inner, heredocs=tuple(bodies), start_line=start, end_line=end)
            node = replace(node, args=(inner, *node.args[1:]))
        return replace(node, heredocs=tuple(bodies), start_line=start, end_line=end)


def parse(source: str | bytes, path: str = "Dockerfile") -> Dockerfile:
    """Parse Dockerfile text (bytes are read as UTF-8; bad bytes survive as escapes).

    Raises :class:`~nbdocker.engine.errors.DockerfileError` (``path:line: message``) for a
    syntax error, a repeated or invalid directive, an unterminated heredoc, or a file with no
    instructions. Unknown instruction keywords are *not* an error here (as in BuildKit); they
    are reported by :func:`~nbdocker.engine.dockerfile.instructions.parse_instruction`.
    """
    text = source.decode("utf-8", "surrogateescape") if isinstance(source, bytes) else source
    return _Parser(text, path).run()
