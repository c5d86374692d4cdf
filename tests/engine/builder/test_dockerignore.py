"""``.dockerignore`` rules, table-driven from Docker's documented examples and moby's tests."""

from __future__ import annotations

import pytest

from nbdocker.engine.builder.dockerignore import (
    IgnoreRules,
    PatternError,
    parse_dockerignore,
)

# (patterns, path, excluded?)
CASES = [
    # docs.docker.com "Dockerignore file" example
    (["*/temp*"], "somedir/temporary.txt", True),
    (["*/temp*"], "somedir/temp", True),
    (["*/temp*"], "temp.txt", False),
    (["*/*/temp*"], "somedir/subdir/temporary.txt", True),
    (["*/*/temp*"], "somedir/temporary.txt", False),
    (["temp?"], "tempa", True),
    (["temp?"], "tempab", False),
    (["temp?"], "temp/", False),
    (["**/*.go"], "a/b/c.go", True),
    (["**/*.go"], "c.go", True),
    (["*.md", "!README.md"], "README.md", False),
    (["*.md", "!README.md"], "CHANGES.md", True),
    (["*.md", "!README*.md", "README-secret.md"], "README-secret.md", True),
    (["*.md", "!README*.md", "README-secret.md"], "README-public.md", False),
    (["*.md", "README-secret.md", "!README*.md"], "README-secret.md", False),
    # a directory excludes what is below it; exceptions re-include
    (["dir"], "dir/file", True),
    (["dir"], "dir/sub/file", True),
    (["dir", "!dir/keep"], "dir/keep", False),
    (["dir", "!dir/keep"], "dir/other", True),
    (["dir/"], "dir/file", True),
    # leading / and ./ are cleaned away
    (["/abs"], "abs", True),
    (["./dot"], "dot", True),
    (["a/../b"], "b", True),
    # ** forms
    (["**"], "anything/at/all", True),
    (["a/**"], "a/b/c", True),
    (["a/**"], "b/a", False),
    (["a/**/b"], "a/b", True),
    (["a/**/b"], "a/x/y/b", True),
    (["**/b"], "x/b/c", True),  # parent matches
    # character classes and escapes
    (["[a-c].txt"], "b.txt", True),
    (["[a-c].txt"], "d.txt", False),
    (["[^a].txt"], "a.txt", False),
    (["[^a].txt"], "b.txt", True),
    (["\\*.txt"], "*.txt", True),
    (["\\*.txt"], "a.txt", False),
    # regex specials are literal
    (["a+b(c).txt"], "a+b(c).txt", True),
    (["a.txt"], "abtxt", False),
    # * never crosses /
    (["*.txt"], "sub/a.txt", False),
    (["*"], "sub/a.txt", True),  # via its parent
]


@pytest.mark.parametrize(("patterns", "path", "excluded"), CASES)
def test_matching(patterns: list[str], path: str, excluded: bool) -> None:
    rules = IgnoreRules.from_patterns(parse_dockerignore("\n".join(patterns)))
    assert rules.excluded(path.rstrip("/")) is excluded


@pytest.mark.parametrize(
    ("text", "patterns"),
    [
        ("# comment\n*.o\n\n   \n", ["*.o"]),
        ("  spaced.txt  \n", ["spaced.txt"]),
        (" # not a comment\n", ["# not a comment"]),
        ("! keep\n", ["!keep"]),
        ("/root/file\n", ["root/file"]),
        ("./x/../y/\n", ["y"]),
        ("\ufeffbom\n", ["bom"]),
        ("!/abs\n", ["!abs"]),
    ],
)
def test_reading(text: str, patterns: list[str]) -> None:
    assert parse_dockerignore(text) == patterns


def test_walk_into_needs_an_exception_under_the_dir() -> None:
    rules = IgnoreRules.from_patterns(["dir", "!dir/keep", "other", "!**/x"])
    assert rules.walk_into("dir")
    assert not rules.walk_into("other")  # Docker's prefix rule: "**/x" does not start "other/"


@pytest.mark.parametrize("bad", ["!", "[a", "a[", "[]"])
def test_bad_patterns(bad: str) -> None:
    with pytest.raises(PatternError):
        IgnoreRules.from_patterns([bad])
