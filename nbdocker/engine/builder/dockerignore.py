"""Docker's ``.dockerignore`` rules, exactly as the docker CLI applies them (stdlib only).

Why exact: the set of files a build can ``COPY`` decides the image, and a user moving between
``docker build`` and nbdocker must get the same files. The rules (moby ``patternmatcher`` and the
CLI's context walk):

- one pattern a line; a line *starting* with ``#`` is a comment; surrounding blanks are trimmed;
  a leading ``!`` makes an exception (re-include); patterns are cleaned like Go's
  ``filepath.Clean`` and a leading ``/`` is dropped, so ``/a``, ``./a`` and ``a/`` are ``a``;
- a pattern is Go ``filepath.Match`` syntax (``*``, ``?``, ``[…]``, ``\\`` escapes) matched
  against the whole path relative to the context, plus ``**`` for any number of directories;
- a path is excluded when it, or one of its parent directories, matches; patterns apply in
  order and the last one that matches wins;
- an excluded directory is still walked when an exception pattern *starts with* its path
  (``!dir/keep``), so its re-included files are sent — but not the directory entry itself.

Failure guarantee: a malformed pattern raises :class:`PatternError` when the file is read,
never later during a build.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable
from dataclasses import field

from ..lazy import lazy_dataclass

__all__ = [
    "IgnoreRules",
    "Pattern",
    "PatternError",
    "clean_pattern",
    "compile_glob",
    "parse_dockerignore",
]

_BOM = "\ufeff"
_REGEX_SPECIAL = set(".+()|{}$^")


class PatternError(ValueError):
    """A ``.dockerignore`` pattern Docker would refuse (``syntax error in pattern``)."""


def clean_pattern(pattern: str) -> str:
    """Go's ``filepath.Clean`` (which ``posixpath.normpath`` equals but for ``//x`` and ``""``)."""
    if not pattern:
        return "."
    cleaned = posixpath.normpath(pattern)
    if cleaned.startswith("//"):
        cleaned = "/" + cleaned.lstrip("/")
    return cleaned


def _compile(pattern: str) -> re.Pattern[str]:
    """Translate one cleaned pattern to a regular expression, the way moby's patternmatcher
    does (``*`` and ``?`` never cross ``/``; ``**`` crosses any number of them)."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        i += 1
        if ch == "*":
            if i < n and pattern[i] == "*":
                i += 1
                if i < n and pattern[i] == "/":
                    i += 1  # "**/" is "**"
                out.append(".*" if i >= n else "(.*/)?")
            else:
                out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "\\":
            out.append(re.escape(pattern[i]) if i < n else "\\\\")
            i += 1 if i < n else 0
        elif ch == "[":
            end = _class_end(pattern, i)
            if end < 0:
                raise PatternError(f"syntax error in pattern {pattern!r}")
            body = pattern[i:end]
            negate = body.startswith("^")
            body = body[1:] if negate else body
            if not body:
                raise PatternError(f"syntax error in pattern {pattern!r}")
            out.append("[" + ("^" if negate else "") + _class_body(body) + "]")
            i = end + 1
        elif ch in _REGEX_SPECIAL:
            out.append("\\" + ch)
        else:
            out.append(re.escape(ch))
    try:
        return re.compile("".join(out), re.DOTALL)
    except re.error as exc:
        raise PatternError(f"syntax error in pattern {pattern!r}: {exc}") from None


def _class_end(pattern: str, start: int) -> int:
    i = start
    if i < len(pattern) and pattern[i] == "^":
        i += 1
    while i < len(pattern):
        if pattern[i] == "\\":
            i += 2
            continue
        if pattern[i] == "]":
            return i
        i += 1
    return -1


def _class_body(body: str) -> str:
    out = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            out.append(re.escape(body[i + 1]))
            i += 2
            continue
        out.append(ch if ch == "-" else re.escape(ch))
        i += 1
    return "".join(out)


def compile_glob(name: str) -> re.Pattern[str]:
    """One path component of a Go ``filepath.Match`` pattern as a regular expression (for
    COPY's wildcards). Raises :class:`PatternError`."""
    return _compile(name)


@lazy_dataclass(frozen=True)
class Pattern:
    """One cleaned pattern; ``exclusion`` is true for a ``!`` exception."""

    text: str
    exclusion: bool
    regex: re.Pattern[str] = field(compare=False, repr=False)

    @classmethod
    def parse(cls, raw: str) -> Pattern:
        exclusion = raw.startswith("!")
        text = raw[1:] if exclusion else raw
        if exclusion and not text:
            raise PatternError('illegal exclusion pattern: "!"')
        text = clean_pattern(text)
        return cls(text, exclusion, _compile(text))

    def matches(self, path: str) -> bool:
        return self.regex.fullmatch(path) is not None


def parse_dockerignore(text: str) -> list[str]:
    """The patterns of a ``.dockerignore`` file, cleaned as the docker CLI reads them."""
    patterns: list[str] = []
    for number, line in enumerate(text.splitlines()):
        if number == 0:
            line = line.removeprefix(_BOM)
        if line.startswith("#"):
            continue
        line = line.strip()
        if not line:
            continue
        invert = line.startswith("!")
        if invert:
            line = line[1:].strip()
        if line:
            line = clean_pattern(line)
            if len(line) > 1 and line.startswith("/"):
                line = line[1:]
        patterns.append("!" + line if invert else line)
    return patterns


@lazy_dataclass(frozen=True)
class IgnoreRules:
    """Compiled patterns answering "is this context path left out of the build?"."""

    patterns: tuple[Pattern, ...] = ()

    @classmethod
    def from_patterns(cls, patterns: Iterable[str]) -> IgnoreRules:
        """Raises :class:`PatternError` for a malformed pattern."""
        return cls(tuple(Pattern.parse(p) for p in patterns))

    @classmethod
    def from_text(cls, text: str) -> IgnoreRules:
        return cls.from_patterns(parse_dockerignore(text))

    @property
    def has_exceptions(self) -> bool:
        return any(p.exclusion for p in self.patterns)

    def excluded(self, rel: str) -> bool:
        """Whether ``rel`` (slash-separated, relative to the context) is excluded: it or a
        parent directory matches, the last matching pattern deciding."""
        matched = False
        parent = posixpath.dirname(rel)
        parents = parent.split("/") if parent else []
        for pattern in self.patterns:
            if pattern.exclusion != matched:
                continue  # cannot change the outcome
            hit = pattern.matches(rel)
            if not hit:
                for depth in range(1, len(parents) + 1):
                    if pattern.matches("/".join(parents[:depth])):
                        hit = True
                        break
            if hit:
                matched = not pattern.exclusion
        return matched

    def walk_into(self, rel_dir: str) -> bool:
        """Whether the CLI still walks the excluded directory ``rel_dir``: some exception
        pattern starts with ``rel_dir/``, so files below it may be re-included."""
        prefix = rel_dir + "/"
        return any(p.exclusion and (p.text + "/").startswith(prefix) for p in self.patterns)
