"""Word-expander tests: BuildKit's envVarTest/wordsTest tables (read at test time, harness
rules as in shared/conformance/buildkit/README.md) and tables for what those files lack."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nbdocker.engine.dockerfile import ExpansionError, Lexer

ENV_DIR = "NBDOCKER_CONFORMANCE_DIR"


def conformance_dir() -> Path:
    """``$NBDOCKER_CONFORMANCE_DIR``, else ``shared/conformance/buildkit`` beside the repo."""
    override = os.environ.get(ENV_DIR)
    if override:
        return Path(override)
    repo_root = Path(__file__).resolve().parents[3]
    return repo_root.parent / "shared" / "conformance" / "buildkit"


SHELL_DIR = conformance_dir() / "shell"
ENV_VAR_ENV = {"PWD": "/home", "SHELL": "bash", "KOREAN": "한국어", "NULL": ""}


def _missing(where: Path) -> str:
    source = f"from ${ENV_DIR}" if os.environ.get(ENV_DIR) else "beside the repository"
    return (
        f"BuildKit conformance data not found at {where} (looked {source}); "
        f"put shared/ next to the repo or set {ENV_DIR}"
    )


def _read_lines(name: str) -> list[str] | None:
    path = SHELL_DIR / name
    if not path.is_file():
        return None
    # Bytes → UTF-8 with no newline translation: trailing blanks and the last line matter.
    lines = path.read_bytes().decode("utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def _env_var_cases() -> list[object]:
    lines = _read_lines("envVarTest")
    if lines is None:
        return [pytest.param(None, id="conformance-data-missing")]
    cases: list[object] = []
    for number, line in enumerate(lines, 1):
        if line.startswith("#"):
            continue
        line = line.strip()
        if not line:
            continue
        fields = [field.strip() for field in line.split("|")]
        if len(fields) != 3 or fields[0] not in ("A", "U", "W"):
            cases.append(pytest.param(("harness", line, ""), id=f"line{number}-malformed"))
            continue
        platform, word, expected = fields
        if platform == "W":
            continue  # Windows-only semantics; we build Linux images
        cases.append(pytest.param((platform, word, expected), id=f"line{number}:{word}"))
    return cases


def _words_cases() -> list[object]:
    lines = _read_lines("wordsTest")
    if lines is None:
        return [pytest.param(None, id="conformance-data-missing")]
    env: dict[str, str] = {}
    cases: list[object] = []
    for number, line in enumerate(lines, 1):
        if line.startswith("#"):
            continue
        if line.startswith("ENV "):
            name, _, value = line[3:].lstrip(" ").partition("=")
            env[name] = value
            continue
        if line.count("|") != 1:
            cases.append(pytest.param(("", [], {}), id=f"line{number}-malformed"))
            continue
        word, expected = line.split("|")
        case = (word.strip(), expected.lstrip(" ").split(","), dict(env))
        cases.append(pytest.param(case, id=f"line{number}:{word.strip()}"))
    return cases


@pytest.mark.parametrize("case", _env_var_cases())
def test_conformance_env_var(case: tuple[str, str, str] | None) -> None:
    if case is None:
        pytest.fail(_missing(SHELL_DIR / "envVarTest"))
    platform, word, expected = case
    assert platform != "harness", f"malformed envVarTest line: {word!r}"
    lexer = Lexer("\\")
    if expected == "error":
        with pytest.raises(ExpansionError):
            lexer.process_word(word, ENV_VAR_ENV)
    else:
        assert lexer.process_word(word, ENV_VAR_ENV) == expected


@pytest.mark.parametrize("case", _words_cases())
def test_conformance_words(case: tuple[str, list[str], dict[str, str]] | None) -> None:
    if case is None:
        pytest.fail(_missing(SHELL_DIR / "wordsTest"))
    word, expected, env = case
    assert expected, "malformed wordsTest line"
    try:
        got = Lexer("\\").process_words(word, env)
    except ExpansionError:
        got = ["error"]
    assert got == expected


def test_conformance_case_counts() -> None:
    if not SHELL_DIR.is_dir():
        pytest.fail(_missing(SHELL_DIR))
    assert len(_env_var_cases()) == 228
    assert len(_words_cases()) == 24


# ---------------------------------------------------------------------------------------------
# Pattern removal and substitution (not covered by the data files)


@pytest.mark.parametrize(
    ("word", "env", "expected"),
    [
        ("${F#*/}", {"F": "a/b/c"}, "b/c"),
        ("${F##*/}", {"F": "a/b/c"}, "c"),
        ("${F%/*}", {"F": "a/b/c"}, "a/b"),
        ("${F%%/*}", {"F": "a/b/c"}, "a"),
        ("${F%.*}", {"F": "x.tar.gz"}, "x.tar"),
        ("${F%%.*}", {"F": "x.tar.gz"}, "x"),
        ("${F#?}", {"F": "abc"}, "bc"),
        ("${F#x}", {"F": "abc"}, "abc"),
        ("${F#}", {"F": "abc"}, "abc"),
        ("${F#*}", {"F": "abc"}, "abc"),
        ("${F##*}", {"F": "abc"}, ""),
        ("${F#\\*}", {"F": "*x"}, "x"),
        ("${F%\\**\\*}", {"F": "a**b*"}, "a*"),
        ("${F%%\\**\\*}", {"F": "a**b*"}, "a"),
        ("${F#$P}", {"F": "xxy", "P": "x"}, "xy"),
        ("${F#.[]}", {"F": ".[]z"}, "z"),
        ("${U#a}", {}, ""),
        ("${F/a/b}", {"F": "banana"}, "bbnana"),
        ("${F//a/b}", {"F": "banana"}, "bbnbnb"),
        ("${F//an/}", {"F": "banana"}, "ba"),
        ("${F/n*/X}", {"F": "banana"}, "baX"),
        ("${F/?a/X}", {"F": "banana"}, "Xnana"),
        ("${F//\\//-}", {"F": "/a/b"}, "-a-b"),
        ("${F/$E/x}", {"F": "ab", "E": ""}, "xab"),
        ("${F///}", {"F": "ab"}, "ab"),
        ("${F//*/x}", {"F": "abc"}, "x"),
        ("${F/http:\\/\\//https://}", {"F": "http://h"}, "https://h"),
        ("${U/a/b}", {}, ""),
        ("pre-${F%%-*}-post", {"F": "1.2-3"}, "pre-1.2-post"),
    ],
)
def test_patterns(word: str, env: dict[str, str], expected: str) -> None:
    assert Lexer().process_word(word, env) == expected


@pytest.mark.parametrize(
    "word",
    ["${F:#x}", "${F:%%x}", "${F//x}", "${F//}", "${F#\\q}", "${F/a", "${F#a", "${F=x}"],
)
def test_pattern_errors(word: str) -> None:
    with pytest.raises(ExpansionError):
        Lexer().process_word(word, {"F": "abc"})


# ---------------------------------------------------------------------------------------------
# Defaults, errors, tracking, options


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("${SET-d} ${EMPTY-d} ${UNSET-d}", "x  d"),
        ("${SET:-d} ${EMPTY:-d} ${UNSET:-d}", "x d d"),
        ("${SET+a} ${EMPTY+a} ${UNSET+a}", "a a "),
        ("${SET:+a} ${EMPTY:+a} ${UNSET:+a}", "a  "),
        ("${SET?m}${EMPTY?m}", "x"),
        ("${UNSET:-${SET:+in}}", "in"),
        ("'$SET' \"$SET\" \\$SET", "$SET x $SET"),
    ],
)
def test_defaults(word: str, expected: str) -> None:
    assert Lexer().process_word(word, {"SET": "x", "EMPTY": ""}) == expected


@pytest.mark.parametrize(
    ("word", "message"),
    [
        ("${UNSET?need it}", "UNSET: need it"),
        ("${UNSET?}", "UNSET: is not allowed to be unset"),
        ("${EMPTY:?}", "EMPTY: is not allowed to be empty"),
        ("${EMPTY:?set EMPTY}", "EMPTY: set EMPTY"),
        ("'open", "single-quote"),
        ('"open', "double-quote"),
        ("${X", "missing '}'"),
        ("${}", "bad substitution"),
        ("${X:=a}", "unsupported modifier"),
    ],
)
def test_error_messages(word: str, message: str) -> None:
    with pytest.raises(ExpansionError) as info:
        Lexer().process_word(word, {"EMPTY": ""})
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_matches_report_referenced_names() -> None:
    result = Lexer().process_word_with_matches(
        "${A:-x} $B ${C:+y} ${D#z} '$E' \\$F", {"A": "1", "D": "zz"}
    )
    assert result.word == "1   z $E $F"
    assert result.matched == {"A", "D"}
    assert result.unmatched == {"B", "C"}
    assert result.referenced == {"A", "B", "C", "D"}


def test_process_words_splits_after_expansion() -> None:
    env = {"V": " a  b "}
    assert Lexer().process_words("x${V}y \"${V}\" 'q r'", env) == [
        "x",
        "a",
        "b",
        "y",
        " a  b ",
        "q r",
    ]
    assert Lexer().process_words("   ", env) == []
    assert Lexer().process_words('""', env) == []


def test_backtick_escape() -> None:
    lexer = Lexer("`")
    assert lexer.process_word("C:\\dir `$X `` a", {"X": "no"}) == "C:\\dir $X ` a"
    assert lexer.process_word('"`"q"', {}) == '"q'


def test_skip_unset_leaves_unset_variables() -> None:
    lexer = Lexer(skip_unset=True)
    assert lexer.process_word("$A ${B} ${C:-d} $S", {"S": "s"}) == "$A ${B} ${C:-d} s"


def test_raw_quotes_and_escapes() -> None:
    lexer = Lexer(raw_quotes=True, raw_escapes=True)
    assert lexer.process_word("'a' \"b\" \\c", {}) == "'a' \"b\" \\c"


def test_skip_quotes_for_heredoc_bodies() -> None:
    lexer = Lexer(skip_quotes=True)
    assert lexer.process_word("say '$X' \"$X\"\n", {"X": "hi"}) == "say 'hi' \"hi\"\n"


def test_lexer_is_reusable_and_stateless() -> None:
    lexer = Lexer()
    assert lexer.process_word("$A", {"A": "1"}) == "1"
    assert lexer.process_word_with_matches("$B", {}).unmatched == {"B"}
    assert lexer.process_word_with_matches("x", {}).referenced == frozenset()
