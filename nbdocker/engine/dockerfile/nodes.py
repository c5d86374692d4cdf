"""The Dockerfile syntax tree and its BuildKit-style dump.

:class:`Node` keeps each instruction's words as written (before variable expansion), which is
what BuildKit's parser test data records; :func:`dump` prints a node in that data's format,
with :func:`go_quote` reproducing Go's ``strconv.Quote`` so the comparison can be byte exact.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

from ..lazy import lazy_dataclass

__all__ = ["Dockerfile", "Heredoc", "Node", "dump", "go_quote"]

_LEADING_TABS_RE = re.compile(r"^\t+", re.MULTILINE)


@lazy_dataclass(frozen=True)
class Heredoc:
    """A here-document attached to an instruction.

    ``content`` is the raw body, lines with their newlines, without the terminator line.
    ``expand`` is false when the delimiter was quoted (``<<"EOF"``), so ``$VAR`` stays literal.
    ``chomp`` marks ``<<-``: leading tabs are stripped from each line (see :attr:`body`).
    """

    name: str
    content: str = ""
    expand: bool = True
    chomp: bool = False
    fd: int = 0

    @property
    def body(self) -> str:
        """The content as the command or file sees it (leading tabs removed for ``<<-``)."""
        return _LEADING_TABS_RE.sub("", self.content) if self.chomp else self.content


@lazy_dataclass(frozen=True)
class Node:
    """One instruction: lower-case keyword, ``--flags`` and raw argument strings.

    ``args`` holds a nested :class:`Node` only for ``ONBUILD``. For ``ENV`` and ``LABEL`` it is
    ``name, value, separator`` triples (separator ``"="`` or ``""`` for the old ``ENV k v``
    form). ``json_form`` is true when the arguments came from a JSON array (exec form).
    Lines are 1-based and include continuation and heredoc lines.
    """

    keyword: str
    original: str = ""
    flags: tuple[str, ...] = ()
    args: tuple[str | Node, ...] = ()
    heredocs: tuple[Heredoc, ...] = ()
    start_line: int = 0
    end_line: int = 0
    json_form: bool = False


@lazy_dataclass(frozen=True)
class Dockerfile:
    """A parsed file: its directives (lower-case names), escape character and instructions."""

    directives: Mapping[str, str]
    escape: str
    instructions: tuple[Node, ...]
    path: str = "Dockerfile"


def _go_printable(ch: str) -> bool:
    if ch == " ":
        return True
    return unicodedata.category(ch)[0] in "LMNPS"


_GO_ESCAPES = {"\a": r"\a", "\b": r"\b", "\f": r"\f", "\n": r"\n", "\r": r"\r", "\t": r"\t"}
_GO_ESCAPES["\v"] = r"\v"


def go_quote(text: str) -> str:
    """Quote ``text`` exactly as Go's ``strconv.Quote`` does.

    Bytes that were not valid UTF-8 (decoded with ``surrogateescape``) come out as ``\\xHH``,
    as they would from Go, which works on the original bytes.
    """
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif 0xD800 <= code <= 0xDFFF:
            if 0xDC80 <= code <= 0xDCFF:
                out.append(f"\\x{code - 0xDC00:02x}")
            else:
                out.extend(f"\\x{b:02x}" for b in ch.encode("utf-8", "surrogatepass"))
        elif _go_printable(ch):
            out.append(ch)
        elif ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def dump(node: Node) -> str:
    """The node in BuildKit's test dump format, e.g. ``(copy ["--from=a"] "x" "/y")``."""
    parts = [node.keyword]
    if node.flags:
        parts.append("[" + " ".join(go_quote(f) for f in node.flags) + "]")
    for arg in node.args:
        parts.append(dump(arg) if isinstance(arg, Node) else go_quote(arg))
    return "(" + " ".join(parts) + ")"
