"""Shell-word expansion for Dockerfile arguments, the way BuildKit's ``shell/lex.go`` does it.

Docker does not run a shell to expand ``$VAR`` in ``COPY``, ``ENV``, ``WORKDIR`` and friends; it
runs a small POSIX-like expander of its own. Users rely on its exact quirks (``$999aaa`` is
``aaa``, ``${X:-a b}`` keeps the space, ``'\\'`` keeps the backslash), so this module follows
that expander rather than :mod:`shlex`, and is checked against BuildKit's own data tables.

The expander is a one-pass scanner. :class:`Lexer` holds only options; every call makes a fresh
private scanner, so one lexer may be shared between threads. Errors are
:class:`ExpansionError`: they carry no file location, because the caller (which knows the
Dockerfile line) adds it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from ..errors import NbdockerError
from ..lazy import lazy_dataclass

__all__ = ["ExpansionError", "Lexer", "WordResult", "is_go_space"]

_EOF = ""
_SPECIAL_PARAMS = frozenset("@*#?-$!0")
# Code points above Latin-1 that Go's unicode.IsSpace accepts (the White_Space property).
_WIDE_SPACES = frozenset("\u1680\u2028\u2029\u202f\u205f\u3000") | frozenset(
    chr(c) for c in range(0x2000, 0x200B)
)


def is_go_space(ch: str) -> bool:
    """Whether ``ch`` is a space for Go's ``unicode.IsSpace``.

    Python's ``str.isspace`` also accepts U+001C..U+001F, which Go (and so Docker) does not;
    using it would split words where Docker does not.
    """
    return ch in "\t\n\v\f\r \x85\xa0" or ch in _WIDE_SPACES


class ExpansionError(NbdockerError):
    """A word could not be expanded (bad ``${…}``, unterminated quote, ``${X:?msg}``).

    The message has no location; the builder re-raises it as a ``DockerfileError`` for the line.
    """


@lazy_dataclass(frozen=True)
class WordResult:
    """The outcome of one expansion, with the variables it looked at.

    ``matched`` are names that were set in the environment, ``unmatched`` names that were
    looked up but unset. The build cache keys a step on what it *saw*, so both matter.
    """

    word: str
    words: tuple[str, ...]
    matched: frozenset[str]
    unmatched: frozenset[str]

    @property
    def referenced(self) -> frozenset[str]:
        """Every variable name the word referred to, set or not."""
        return self.matched | self.unmatched


@lazy_dataclass(frozen=True)
class Lexer:
    """Options of the expander; the methods do the work.

    ``escape`` is the Dockerfile escape character (``\\`` or a backtick). The flags exist for
    the heredoc detector and for heredoc bodies: ``raw_quotes`` keeps quote characters,
    ``raw_escapes`` keeps escape characters, ``skip_unset`` leaves ``$X`` in place when ``X`` is
    unset, and ``skip_quotes`` treats quotes as ordinary characters.
    """

    escape: str = "\\"
    raw_quotes: bool = False
    raw_escapes: bool = False
    skip_unset: bool = False
    skip_quotes: bool = False

    def process_word(self, word: str, env: Mapping[str, str]) -> str:
        """Expand ``word`` into one string: quotes removed, never split on spaces."""
        return self.process_word_with_matches(word, env).word

    def process_words(self, word: str, env: Mapping[str, str]) -> list[str]:
        """Expand ``word`` and split the result on unquoted whitespace (after expansion)."""
        return list(self.process_word_with_matches(word, env).words)

    def process_word_with_matches(self, word: str, env: Mapping[str, str]) -> WordResult:
        """Expand ``word``; report both forms and the variable names it referenced.

        Raises :class:`ExpansionError` on a syntax error or a failed ``${X?msg}``.
        """
        scan = _Scanner(self, word, env)
        try:
            result, words = scan.process_stop_on(_EOF, self.raw_escapes)
        except ExpansionError as exc:
            raise ExpansionError(f"failed to process {word!r}: {exc}") from None
        return WordResult(
            word=result,
            words=tuple(words),
            matched=frozenset(scan.matched),
            unmatched=frozenset(scan.unmatched),
        )


class _Words:
    """Accumulates whitespace-separated words while the result string is built."""

    def __init__(self) -> None:
        self.buf: list[str] = []
        self.words: list[str] = []
        self.in_word = False

    def add_char(self, ch: str) -> None:
        if is_go_space(ch):
            if self.in_word and any(self.buf):
                self.words.append("".join(self.buf))
                self.buf.clear()
                self.in_word = False
        else:
            self.add_raw(ch)

    def add_string(self, text: str) -> None:
        for ch in text:
            self.add_char(ch)

    def add_raw(self, text: str) -> None:
        self.buf.append(text)
        self.in_word = True

    def result(self) -> list[str]:
        if any(self.buf):
            self.words.append("".join(self.buf))
            self.buf.clear()
            self.in_word = False
        return self.words


MAX_NESTING = 64
"""How deep ``${…}`` words may nest in one another (BuildKit sets no limit; real Dockerfiles
nest two or three deep)."""


class _Scanner:
    """One expansion in progress: the text, a cursor, and the names seen so far."""

    def __init__(self, lexer: Lexer, text: str, env: Mapping[str, str]) -> None:
        self.lx = lexer
        self.text = text
        self.pos = 0
        self.env = env
        self.raw_escapes = lexer.raw_escapes
        self.matched: set[str] = set()
        self.unmatched: set[str] = set()
        self.depth = 0  # words being scanned, one inside the other

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else _EOF

    def next(self) -> str:
        ch = self.peek()
        if ch:
            self.pos += 1
        return ch

    def lookup(self, name: str) -> tuple[str, bool]:
        if name in self.env:
            self.matched.add(name)
            return self.env[name], True
        self.unmatched.add(name)
        return "", False

    def process_stop_on(self, stop: str, raw_escapes: bool) -> tuple[str, list[str]]:
        """Scan to ``stop`` (consumed) or to the end; return the text and its words.

        ``${A:-${B:-…}}`` scans each nested word by calling this again: the nesting is bounded
        (:data:`MAX_NESTING`), so no word can exhaust Python's recursion limit."""
        if self.depth >= MAX_NESTING:
            raise ExpansionError(
                f"variables nest more than {MAX_NESTING} deep (${{A:-${{B:-…}}}}); nest less"
            )
        saved, self.raw_escapes = self.raw_escapes, raw_escapes
        self.depth += 1
        try:
            return self._stop_on(stop)
        finally:
            self.raw_escapes = saved
            self.depth -= 1

    def _stop_on(self, stop: str) -> tuple[str, list[str]]:
        result: list[str] = []
        words = _Words()
        special: dict[str, Callable[[], str]] = {"$": self.dollar, "<": self.heredoc_marker}
        if not self.lx.skip_quotes:
            special["'"] = self.single_quote
            special['"'] = self.double_quote
        while (ch := self.peek()) != _EOF:
            if stop and ch == stop:
                self.next()
                return "".join(result), words.result()
            handler = special.get(ch)
            if handler is not None:
                piece = handler()
                result.append(piece)
                if ch == "$":
                    words.add_string(piece)
                else:
                    words.add_raw(piece)
                continue
            ch = self.next()
            if ch == self.lx.escape:
                if self.raw_escapes:
                    words.add_raw(ch)
                    result.append(ch)
                ch = self.next()
                if ch == _EOF:
                    break
                words.add_raw(ch)
            else:
                words.add_char(ch)
            result.append(ch)
        if stop:
            raise ExpansionError(f"unexpected end of statement while looking for matching {stop}")
        return "".join(result), words.result()

    def single_quote(self) -> str:
        # Everything up to the next ' is literal; a ' cannot be escaped inside.
        opening = self.next()
        out = [opening] if self.lx.raw_quotes else []
        while True:
            ch = self.next()
            if ch == _EOF:
                raise ExpansionError(
                    "unexpected end of statement while looking for matching single-quote"
                )
            if ch == "'":
                if self.lx.raw_quotes:
                    out.append(ch)
                return "".join(out)
            out.append(ch)

    def double_quote(self) -> str:
        # Literal except $ and the escape character, which escapes only " $ and itself.
        opening = self.next()
        out = [opening] if self.lx.raw_quotes else []
        while True:
            ch = self.peek()
            if ch == _EOF:
                raise ExpansionError(
                    "unexpected end of statement while looking for matching double-quote"
                )
            if ch == '"':
                self.next()
                if self.lx.raw_quotes:
                    out.append(ch)
                return "".join(out)
            if ch == "$":
                out.append(self.dollar())
                continue
            ch = self.next()
            if ch == self.lx.escape:
                if self.raw_escapes:
                    out.append(ch)
                following = self.peek()
                if following == _EOF:
                    continue
                if following in ('"', "$", self.lx.escape):
                    ch = self.next()
            out.append(ch)

    def heredoc_marker(self) -> str:
        # ``<<`` keeps the blanks after it so that ``<< EOF`` stays one word for the parser.
        self.next()
        if self.peek() != "<":
            return "<"
        self.next()
        spaces = []
        while self.peek() in ("\t", "\r", " "):
            spaces.append(self.next())
        return "<<" + "".join(spaces)

    def name(self) -> str:
        """Read a variable name: all digits, one special character, or letters/digits/_."""
        out: list[str] = []
        while (ch := self.peek()) != _EOF:
            if not out and ch.isdecimal():
                while self.peek() != _EOF and self.peek().isdecimal():
                    out.append(self.next())
                return "".join(out)
            if not out and ch in _SPECIAL_PARAMS:
                return self.next()
            if not (ch.isalpha() or ch.isdecimal() or ch == "_"):
                break
            out.append(self.next())
        return "".join(out)

    def dollar(self) -> str:
        self.next()
        if self.peek() != "{":
            name = self.name()
            if not name:
                return "$"
            value, found = self.lookup(name)
            if not found and self.lx.skip_unset:
                return "$" + name
            return value
        self.next()
        if self.peek() == _EOF:
            raise ExpansionError("syntax error: missing '}'")
        if self.peek() in "{}:":
            raise ExpansionError("syntax error: bad substitution")
        name = self.name()
        ch = self.next()
        if ch == "}":
            value, found = self.lookup(name)
            if not found and self.lx.skip_unset:
                return "${" + name + "}"
            return value
        if ch == "/":
            return self._substitute(name)
        modifier = ch
        null_is_unset = False
        if ch == ":":
            null_is_unset = True
            ch = self.next()
            modifier += ch
        elif ch == _EOF:
            raise ExpansionError("syntax error: missing '}'")
        elif ch not in "+-?#%":
            raise ExpansionError(f"unsupported modifier ({ch}) in substitution")
        return self._modifier(name, ch, modifier, null_is_unset)

    def _modifier(self, name: str, op: str, modifier: str, null_is_unset: bool) -> str:
        pattern_op = op in ("#", "%")
        if null_is_unset and pattern_op:
            raise ExpansionError(f"unsupported modifier ({modifier}) in substitution")
        try:
            word, _ = self.process_stop_on("}", pattern_op)
        except ExpansionError:
            if self.peek() == _EOF:
                raise ExpansionError("syntax error: missing '}'") from None
            raise
        value, found = self.lookup(name)
        if self.lx.skip_unset and not found:
            return "${" + name + modifier + word + "}"
        empty = not found or (null_is_unset and value == "")
        if op == "-":
            return word if empty else value
        if op == "+":
            return "" if empty else word
        if op == "?":
            if not found:
                raise ExpansionError(f"{name}: {word or 'is not allowed to be unset'}")
            if null_is_unset and value == "":
                raise ExpansionError(f"{name}: {word or 'is not allowed to be empty'}")
            return value
        if pattern_op:
            greedy = word.startswith(op)
            if greedy:
                word = word[1:]
            if op == "%":
                return _trim_suffix(word, value, greedy)
            return _trim_prefix(word, value, greedy)
        raise ExpansionError(f"unsupported modifier ({modifier}) in substitution")

    def _substitute(self, name: str) -> str:
        replace_all = self.peek() == "/"
        if replace_all:
            self.next()
        try:
            pattern, _ = self.process_stop_on("/", True)
        except ExpansionError:
            if self.peek() == _EOF:
                raise ExpansionError("syntax error: missing '/' in ${}") from None
            raise
        try:
            replacement, _ = self.process_stop_on("}", True)
        except ExpansionError:
            if self.peek() == _EOF:
                raise ExpansionError("syntax error: missing '}'") from None
            raise
        value, found = self.lookup(name)
        if self.lx.skip_unset and not found:
            return "${" + name + "/" + pattern + "/" + replacement + "}"
        regex = _pattern_regex(pattern, greedy=True, anchored=False)
        if replace_all:
            return _replace_all(regex, value, replacement)
        match = regex.search(value)
        if match is None:
            return value
        return value[: match.start()] + replacement + value[match.end() :]


def _pattern_regex(pattern: str, *, greedy: bool, anchored: bool) -> re.Pattern[str]:
    """Translate a shell glob (``*``, ``?``, ``\\`` escapes; no brackets) to a regex."""
    out = ["^"] if anchored else []
    star = ".*" if greedy else ".*?"
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        i += 1
        if ch == "*":
            out.append(star)
        elif ch == "?":
            out.append(".")
        elif ch == "\\":
            following = pattern[i] if i < len(pattern) else ""
            if following in ("}", "/"):
                continue  # escaped only to get it past the ${...} scanner
            if following not in ("*", "?", "\\"):
                shown = following or "EOF"
                raise ExpansionError(
                    f"invalid pattern ({pattern}) in substitution: invalid escape '\\{shown}'"
                )
            out.append(re.escape(following))
            i += 1
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out))


def _replace_all(regex: re.Pattern[str], value: str, replacement: str) -> str:
    """Replace every match like Go's ``ReplaceAllString``: an empty match right after a
    previous match is skipped (Python's ``re.sub`` would replace it too).
    """
    out: list[str] = []
    last = 0
    prev_end = -1
    pos = 0
    while pos <= len(value):
        match = regex.search(value, pos)
        if match is None:
            break
        start, end = match.span()
        if start == end and start == prev_end:
            pos = start + 1
            continue
        out.append(value[last:start])
        out.append(replacement)
        last = end
        prev_end = end
        pos = end if end > start else end + 1
    out.append(value[last:])
    return "".join(out)


def _trim_prefix(pattern: str, value: str, greedy: bool) -> str:
    match = _pattern_regex(pattern, greedy=greedy, anchored=True).search(value)
    return value[match.end() :] if match else value


def _reverse_pattern(pattern: str) -> str:
    """Reverse a glob but keep each ``\\x`` escape pair in order (``a\\*c`` → ``c\\*a``)."""
    units: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\" and i + 1 < len(pattern):
            units.append(pattern[i : i + 2])
            i += 2
        else:
            units.append(pattern[i])
            i += 1
    return "".join(reversed(units))


def _trim_suffix(pattern: str, value: str, greedy: bool) -> str:
    # A regex finds the leftmost match, so the shortest *suffix* is found on reversed text.
    return _trim_prefix(_reverse_pattern(pattern), value[::-1], greedy)[::-1]
