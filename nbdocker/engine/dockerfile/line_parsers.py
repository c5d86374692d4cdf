"""Per-instruction argument splitting: one instruction line → keyword, flags, words.

Each Dockerfile instruction has its own word rules (JSON or shell form for ``RUN``, name/value
triples for ``ENV``, whitespace lists for ``EXPOSE``…). They follow BuildKit's
``line_parsers.go`` exactly, because the resulting words are what users' Dockerfiles mean.
Whitespace is Go's ``unicode.IsSpace``, not Python's ``str.isspace``.
"""

from __future__ import annotations

import json
import re
from typing import NoReturn

from .nodes import Node, go_quote
from .shell import is_go_space

__all__ = ["WHITESPACE_RE", "ParseError", "lstrip", "node_from_line", "strip"]

WHITESPACE_RE = re.compile("[\t\v\f\r ]+")


class ParseError(Exception):
    """A message without a location; the parser adds ``path:line``."""


def lstrip(text: str) -> str:
    i = 0
    while i < len(text) and is_go_space(text[i]):
        i += 1
    return text[i:]


def strip(text: str) -> str:
    text = lstrip(text)
    end = len(text)
    while end and is_go_space(text[end - 1]):
        end -= 1
    return text[:end]


def _parse_words(rest: str, escape: str) -> list[str]:
    """Split on whitespace, respecting quotes but keeping quotes and escapes in the words."""
    words: list[str] = []
    buf: list[str] = []
    blank_ok = False
    quote = ""
    in_word = False
    i = 0
    n = len(rest)
    while i < n:
        ch = rest[i]
        if not in_word and not quote:
            if is_go_space(ch):
                i += 1
                continue
            in_word = True
        if quote:
            if ch == quote:
                quote = ""
            elif ch == escape and quote != "'":
                if i + 1 == n:
                    quote = ""
                    i += 1
                    continue
                buf.append(ch)
                i += 1
                ch = rest[i]
            buf.append(ch)
            i += 1
            continue
        if is_go_space(ch):
            if blank_ok or buf:
                words.append("".join(buf))
            buf = []
            blank_ok = False
            in_word = False
            i += 1
            continue
        if ch in ("'", '"'):
            quote = ch
            blank_ok = True
        if ch == escape:
            if i + 1 == n:
                i += 1
                continue
            buf.append(ch)
            i += 1
            ch = rest[i]
        buf.append(ch)
        i += 1
    if (in_word or quote) and (blank_ok or buf):
        words.append("".join(buf))
    return words


def _split_ws(rest: str) -> tuple[str, ...]:
    return tuple(WHITESPACE_RE.split(rest)) if rest else ()


def _parse_json(rest: str) -> tuple[str, ...] | None:
    """The strings of a JSON array, or None if ``rest`` is not valid JSON array text.

    A valid array holding anything but strings is an error, as in Docker.
    """
    rest = lstrip(rest)
    if not rest.startswith("["):
        return None

    def reject_constant(name: str) -> NoReturn:
        raise ValueError(name)  # NaN/Infinity are not JSON

    try:
        value = json.loads(rest, parse_constant=reject_constant)
    except ValueError:
        return None
    if not isinstance(value, list):
        return None
    if not all(isinstance(item, str) for item in value):
        raise ParseError(
            "when using JSON array syntax, arrays must be comprised of strings only; "
            'quote every element, e.g. ["echo", "hi"]'
        )
    return tuple(value)


def _maybe_json(rest: str) -> tuple[tuple[str, ...], bool]:
    if not rest:
        return (), False
    parsed = _parse_json(rest)
    if parsed is not None:
        return parsed, True
    return (rest,), False


def _maybe_json_list(rest: str) -> tuple[tuple[str, ...], bool]:
    parsed = _parse_json(rest)
    if parsed is not None:
        return parsed, True
    return _split_ws(rest), False


def _name_values(rest: str, keyword: str, escape: str) -> tuple[str, ...]:
    words = _parse_words(rest, escape)
    if not words:
        return ()
    if "=" not in words[0]:
        parts = WHITESPACE_RE.split(rest, maxsplit=1)
        if len(parts) < 2:
            raise ParseError(
                f"{keyword} must have two arguments; write {keyword} name=value "
                f"(or {keyword} name value)"
            )
        return (parts[0], parts[1], "")
    out: list[str] = []
    for word in words:
        if "=" not in word:
            raise ParseError(
                f"syntax error - can't find = in {go_quote(word)}; "
                f"{keyword} arguments must be of the form name=value"
            )
        name, value = word.split("=", 1)
        out += [name, value, "="]
    return tuple(out)


def _healthcheck(rest: str) -> tuple[tuple[str, ...], bool]:
    sep = 0
    while sep < len(rest) and not is_go_space(rest[sep]):
        sep += 1
    if sep == 0:
        return (), False
    nxt = sep
    while nxt < len(rest) and is_go_space(rest[nxt]):
        nxt += 1
    cmd, json_form = _maybe_json(rest[nxt:])
    return (rest[:sep], *cmd), json_form


def _extract_flags(line: str, escape: str) -> tuple[str, tuple[str, ...]]:
    """Take leading ``--flag`` words off ``line``; return the rest and the flags.

    Quotes in a flag are removed (``--label="a b"`` → ``--label=a b``); a lone ``--`` ends the
    flags and is dropped.
    """
    words: list[str] = []
    buf: list[str] = []
    quote = ""
    blank_ok = False
    in_word = False
    i = 0
    n = len(line)
    while i <= n:
        if not in_word and not quote:
            if i == n:
                break
            ch = line[i]
            if is_go_space(ch):
                i += 1
                continue
            if not line.startswith("--", i):
                return line[i:], tuple(words)
            in_word = True
        if i == n:
            word = "".join(buf)
            if word != "--" and (blank_ok or word):
                words.append(word)
            break
        ch = line[i]
        if quote:
            if ch == quote:
                quote = ""
                i += 1
                continue
            if ch == escape:
                if i + 1 == n:
                    quote = ""
                    i += 1
                    continue
                i += 1
                ch = line[i]
            buf.append(ch)
            i += 1
            continue
        if is_go_space(ch):
            word = "".join(buf)
            in_word = False
            if word == "--":
                return line[i:], tuple(words)
            if blank_ok or word:
                words.append(word)
            buf = []
            blank_ok = False
            i += 1
            continue
        if ch in ("'", '"'):
            quote = ch
            blank_ok = True
            i += 1
            continue
        if ch == escape:
            if i + 1 == n:
                i += 1
                continue
            i += 1
            ch = line[i]
        buf.append(ch)
        i += 1
    return "", tuple(words)


def node_from_line(line: str, escape: str) -> Node:
    """Split an instruction line into keyword, flags and arguments (no heredoc bodies yet).

    ``ONBUILD`` wraps the instruction after it: a chain of them (refused later, as Docker does)
    is unwrapped in a loop, so no length of chain costs recursion."""
    wrappers: list[tuple[str, str, tuple[str, ...]]] = []  # the ONBUILDs around, outermost first
    while True:
        cmdline = WHITESPACE_RE.split(strip(line), maxsplit=1)
        keyword = cmdline[0]
        flags: tuple[str, ...] = ()
        rest = ""
        if len(cmdline) == 2:
            rest, flags = _extract_flags(cmdline[1], escape)
            rest = strip(rest)
        kw = keyword.lower()
        if kw != "onbuild" or not rest:
            break
        wrappers.append((line, kw, flags))
        line = rest
    args: tuple[str | Node, ...] = ()
    json_form = False
    if kw in ("run", "cmd", "entrypoint", "shell"):
        args, json_form = _maybe_json(rest)
    elif kw in ("add", "copy", "volume"):
        args, json_form = _maybe_json_list(rest)
    elif kw in ("from", "expose"):
        args = _split_ws(rest)
    elif kw in ("env", "label"):
        args = _name_values(rest, kw.upper(), escape)
    elif kw == "arg":
        args = tuple(_parse_words(rest, escape))
    elif kw in ("user", "workdir", "maintainer", "stopsignal"):
        args = (rest,) if rest else ()
    elif kw == "healthcheck":
        args, json_form = _healthcheck(rest)
    # Unknown keywords keep no arguments; instructions.parse_instruction reports them.
    node = Node(keyword=kw, original=line, flags=flags, args=args, json_form=json_form)
    for original, wrapper, wrapper_flags in reversed(wrappers):
        node = Node(keyword=wrapper, original=original, flags=wrapper_flags, args=(node,))
    return node
