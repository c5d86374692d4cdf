"""Word-expander tests: quoting, escapes, parameters, defaults and errors, then splitting into
words, as tables of our own. (BuildKit's envVarTest and wordsTest run as an extra in
``test_buildkit_conformance.py`` when ``$NBDOCKER_CONFORMANCE_DIR`` gives their data.)"""

from __future__ import annotations

import pytest

from nbdocker.engine.dockerfile import ExpansionError, Lexer

# ---------------------------------------------------------------------------------------------
# One word: variables expanded, quotes removed, escapes processed, never split

WORD_ENV = {"HOME": "/root", "NAME": "값", "EMPTY": ""}


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("plain", "plain"),
        ("a\\ b", "a b"),
        ("'single $HOME'", "single $HOME"),
        ('"double $HOME"', "double /root"),
        # In double quotes only \", \$ and \\ are escapes; other backslashes stay.
        ('"esc \\" \\$ \\\\ \\a"', 'esc " $ \\ \\a'),
        ("\\'x\\'", "'x'"),
        ("\\\\", "\\"),
        ("it''s", "its"),
        ("\"a\"'b'c", "abc"),
        ("'$HOME'\"$HOME\"", "$HOME/root"),
        ("\\$HOME", "$HOME"),
        ("end\\", "end"),
        # Names: the longest run of name characters; non-ASCII letters count.
        ("$HOME/x", "/root/x"),
        ("${HOME}x", "/rootx"),
        ("$HOMEx", ""),
        ("$NAME", "값"),
        ("${NAME}!", "값!"),
        ("$이름", ""),
        ("$home", ""),
        # A $ that starts no name stays literal.
        ("$", "$"),
        ("cost$", "cost$"),
        ("a$.b", "a$.b"),
        ("a$/b", "a$/b"),
        # Positional and special parameters are ordinary unset variables here.
        ("$1", ""),
        ("${1}", ""),
        ("$123abc", "abc"),
        ("$@x", "x"),
        ("$$", ""),
        ("$#$*$?$!$-", ""),
        # Defaults and alternatives.
        ("${EMPTY:-e}", "e"),
        ("${EMPTY-e}", ""),
        ("${UNSET:+p}", ""),
        ("${HOME:+p}", "p"),
        ('"${UNSET:-a b}"', "a b"),
        ("${EMPTY?}", ""),
        ("${HOME?msg}", "/root"),
    ],
)
def test_word(word: str, expected: str) -> None:
    assert Lexer("\\").process_word(word, WORD_ENV) == expected


@pytest.mark.parametrize(
    "word",
    [
        "'open",
        '"open',
        '"escaped close\\"',
        "${}",
        "${.}",
        "${:}",
        "${HOME",
        "${HOME:x}",
        "${HOME:=d}",
        "${UNSET?}",
        "${EMPTY:?}",
    ],
)
def test_word_errors(word: str) -> None:
    with pytest.raises(ExpansionError):
        Lexer("\\").process_word(word, WORD_ENV)


# ---------------------------------------------------------------------------------------------
# Words: expanded first, then split on unquoted whitespace (also whitespace a variable brought)

WORDS_ENV = {"SPACE": "a  b", "TRAIL": "x ", "EMPTY": ""}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("one two", ["one", "two"]),
        ("  lead and trail  ", ["lead", "and", "trail"]),
        ("x${SPACE}y", ["xa", "by"]),
        ('"x${SPACE}y"', ["xa  by"]),
        ("'a  b' c", ["a  b", "c"]),
        ("pre${EMPTY}post", ["prepost"]),
        ("${EMPTY}", []),
        ("${TRAIL}z", ["x", "z"]),
        ('"a"b"c" d', ["abc", "d"]),
        ("a\\ b c", ["a b", "c"]),
        ("${UNSET:-d e}", ["d", "e"]),
    ],
)
def test_words(text: str, expected: list[str]) -> None:
    assert Lexer("\\").process_words(text, WORDS_ENV) == expected


def test_words_error() -> None:
    with pytest.raises(ExpansionError):
        Lexer("\\").process_words('"open', WORDS_ENV)


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
