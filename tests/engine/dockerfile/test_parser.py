"""Parser tests: BuildKit's own AST cases (read from ../shared at test time) and our tables.

The conformance data is not copied into the repository. It is found beside the repository
(``<repo>/../shared/conformance/buildkit``) or at ``$NBDOCKER_CONFORMANCE_DIR``; if it is
missing, the conformance tests fail and say where they looked.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nbdocker.engine.dockerfile import Heredoc, Node, dump, go_quote, parse
from nbdocker.engine.errors import DockerfileError

ENV_DIR = "NBDOCKER_CONFORMANCE_DIR"


def conformance_dir() -> Path:
    """``$NBDOCKER_CONFORMANCE_DIR``, else ``shared/conformance/buildkit`` beside the repo."""
    override = os.environ.get(ENV_DIR)
    if override:
        return Path(override)
    repo_root = Path(__file__).resolve().parents[3]
    return repo_root.parent / "shared" / "conformance" / "buildkit"


DATA = conformance_dir()
MISSING = pytest.param(None, id="conformance-data-missing")


def _missing(where: Path) -> str:
    source = f"from ${ENV_DIR}" if os.environ.get(ENV_DIR) else "beside the repository"
    return (
        f"BuildKit conformance data not found at {where} (looked {source}); "
        f"put shared/ next to the repo or set {ENV_DIR}"
    )


def _case_dirs(kind: str) -> list[object]:
    folder = DATA / "parser" / kind
    if not folder.is_dir():
        return [MISSING]
    return [pytest.param(p, id=p.name) for p in sorted(folder.iterdir()) if p.is_dir()]


@pytest.mark.parametrize("case", _case_dirs("testfiles"))
def test_conformance_ast_dump(case: Path | None) -> None:
    if case is None:
        pytest.fail(_missing(DATA / "parser" / "testfiles"))
    dockerfile = parse((case / "Dockerfile").read_bytes(), path=str(case / "Dockerfile"))
    got = "".join(dump(node) + "\n" for node in dockerfile.instructions)
    assert got == (case / "result").read_bytes().decode("utf-8")


@pytest.mark.parametrize("case", _case_dirs("testfiles-negative"))
def test_conformance_negative(case: Path | None) -> None:
    if case is None:
        pytest.fail(_missing(DATA / "parser" / "testfiles-negative"))
    path = str(case / "Dockerfile")
    with pytest.raises(DockerfileError) as info:
        parse((case / "Dockerfile").read_bytes(), path=path)
    assert str(info.value).startswith(path + ":")


def test_conformance_case_counts() -> None:
    """Guards against a half-copied data folder passing with fewer cases."""
    if not DATA.is_dir():
        pytest.fail(_missing(DATA))
    assert len(_case_dirs("testfiles")) == 33
    assert len(_case_dirs("testfiles-negative")) == 4


# ---------------------------------------------------------------------------------------------
# go_quote: Go strconv.Quote


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("", '""'),
        ("plain", '"plain"'),
        ('a"b\\c', r'"a\"b\\c"'),
        ("\a\b\f\n\r\t\v", r'"\a\b\f\n\r\t\v"'),
        ("\x00\x1b\x7f", r'"\x00\x1b\x7f"'),
        ("♥ ☃ 한국어 é", '"♥ ☃ 한국어 é"'),
        ("\u00a0", r'"\u00a0"'),
        ("\u200b\ufeff", r'"\u200b\ufeff"'),
        ("\U000e0001", r'"\U000e0001"'),
        ("😀", '"😀"'),
        (b"a\xffb".decode("utf-8", "surrogateescape"), r'"a\xffb"'),
    ],
)
def test_go_quote(text: str, quoted: str) -> None:
    assert go_quote(text) == quoted


def test_dump_flags_and_nested() -> None:
    node = parse('ONBUILD COPY --from=a --chown="x y" src /dst\n').instructions[0]
    assert dump(node) == '(onbuild (copy ["--from=a" "--chown=x y"] "src" "/dst"))'


# ---------------------------------------------------------------------------------------------
# Directives


@pytest.mark.parametrize(
    ("source", "directives", "escape"),
    [
        ("FROM a\n", {}, "\\"),
        ("# syntax=docker/dockerfile:1\nFROM a\n", {"syntax": "docker/dockerfile:1"}, "\\"),
        ("#ESCAPE = `\nFROM a\n", {"escape": "`"}, "`"),
        ("  # escape=`\nFROM a\n", {"escape": "`"}, "`"),
        ("# check=skip=JSONArgsRecommended\nFROM a\n", {"check": "skip=JSONArgsRecommended"}, "\\"),
        (
            "# syntax=x\n# escape=`\n# check=error=true\nFROM a\n",
            {"syntax": "x", "escape": "`", "check": "error=true"},
            "`",
        ),
        ("# syntax=x  \nFROM a\n", {"syntax": "x"}, "\\"),
        # An unknown key, an ordinary comment or a blank line ends the directive block.
        ("# foo=bar\n# escape=`\nFROM a\n", {}, "\\"),
        ("# comment\n# escape=`\nFROM a\n", {}, "\\"),
        ("\n# escape=`\nFROM a\n", {}, "\\"),
        ("FROM a\n# escape=`\n", {}, "\\"),
        ("\ufeff# escape=`\nFROM a\n", {"escape": "`"}, "`"),
    ],
)
def test_directives(source: str, directives: dict[str, str], escape: str) -> None:
    dockerfile = parse(source)
    assert dict(dockerfile.directives) == directives
    assert dockerfile.escape == escape


def test_backtick_escape_changes_continuation() -> None:
    dockerfile = parse("# escape=`\nFROM a\nRUN echo C:\\dir `\n  more\n")
    assert dump(dockerfile.instructions[1]) == '(run "echo C:\\\\dir   more")'


# ---------------------------------------------------------------------------------------------
# Continuations and line numbers


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("RUN a \\\n  b\n", '(run "a   b")'),
        ("RUN a \\\n# comment\n  b\n", '(run "a   b")'),
        ("RUN a \\\n\n   \n  b\n", '(run "a   b")'),
        ("RUN a \\  \t\nb\n", '(run "a b")'),
        ("RUN a\\\\\n", '(run "a\\\\\\\\")'),
        ("RUN a \\", '(run "a")'),
        ("run lower\n", '(run "lower")'),
        ("RUN\r\n", "(run)"),
        ("RUN a\r\n", '(run "a")'),
    ],
)
def test_continuations(source: str, expected: str) -> None:
    assert dump(parse(source).instructions[0]) == expected


def test_line_numbers() -> None:
    source = (
        "# syntax=x\n"  # 1
        "\n"  # 2
        "FROM a\n"  # 3
        "RUN one \\\n"  # 4
        "  # comment\n"  # 5
        "  two\n"  # 6
        "COPY <<EOF /f\n"  # 7
        "body\n"  # 8
        "EOF\n"  # 9
        "ONBUILD RUN x\n"  # 10
    )
    nodes = parse(source).instructions
    assert [(n.keyword, n.start_line, n.end_line) for n in nodes] == [
        ("from", 3, 3),
        ("run", 4, 6),
        ("copy", 7, 9),
        ("onbuild", 10, 10),
    ]
    inner = nodes[3].args[0]
    assert isinstance(inner, Node) and inner.start_line == 10


def test_node_fields() -> None:
    node = parse('RUN --mount=type=cache,target=/x ["a", "b"]\n').instructions[0]
    assert node.keyword == "run"
    assert node.flags == ("--mount=type=cache,target=/x",)
    assert node.args == ("a", "b")
    assert node.json_form is True
    assert node.original == 'RUN --mount=type=cache,target=/x ["a", "b"]'


def test_bytes_and_invalid_utf8_survive() -> None:
    node = parse(b"LABEL a=\xff\n").instructions[0]
    assert dump(node) == '(label "a" "\\xff" "=")'


# ---------------------------------------------------------------------------------------------
# Heredocs


def _heredocs(source: str, index: int = 1) -> tuple[Heredoc, ...]:
    return parse("FROM a\n" + source).instructions[index].heredocs


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("RUN <<EOF\nEOF\n", [Heredoc("EOF")]),
        ("RUN 3<<X\nX\n", [Heredoc("X", fd=3)]),
        ("RUN <<EOF\n\tfoo\n\tbar\nEOF\n", [Heredoc("EOF", "\tfoo\n\tbar\n")]),
        ("RUN <<-EOF\n\tfoo\n\tEOF\n", [Heredoc("EOF", "\tfoo\n", chomp=True)]),
        ("RUN <<-'NO'\n\t$X\nNO\n", [Heredoc("NO", "\t$X\n", expand=False, chomp=True)]),
        ('RUN <<"EOF"\n$X\nEOF\n', [Heredoc("EOF", "$X\n", expand=False)]),
        ("RUN <<eo'f'\nx\neof\n", [Heredoc("eof", "x\n", expand=False)]),
        ("RUN <<eo\\'f\nx\neo'f\n", [Heredoc("eo'f", "x\n")]),
        ("RUN <<'one two'\nx\none two\n", [Heredoc("one two", "x\n", expand=False)]),
        ("RUN <<  EOF  > out\nx\nEOF\n", [Heredoc("EOF", "x\n")]),
        ("RUN <<$EOF\n$EOF\n", [Heredoc("$EOF")]),
        ("RUN <<EOF\n# not a comment\n\nEOF\n", [Heredoc("EOF", "# not a comment\n\n")]),
        (
            "RUN <<A cat /dev/stdin - <<B\na\nA\nb\nB\n",
            [Heredoc("A", "a\n"), Heredoc("B", "b\n")],
        ),
        (
            "RUN --mount=type=cache,target=/c <<EOF\necho hi\nEOF\n",
            [Heredoc("EOF", "echo hi\n")],
        ),
        ("COPY <<EOF /file\nhello\nEOF\n", [Heredoc("EOF", "hello\n")]),
        (
            "COPY <<a.txt <<b.txt /dest/\n1\na.txt\n2\nb.txt\n",
            [Heredoc("a.txt", "1\n"), Heredoc("b.txt", "2\n")],
        ),
        ("COPY <<X <<Y /d\nY\nX\nX\nY\n", [Heredoc("X", "Y\n"), Heredoc("Y", "X\n")]),
        ("ADD <<EOF /f\n'q' \"q\"\nEOF\n", [Heredoc("EOF", "'q' \"q\"\n")]),
        ("ONBUILD RUN <<EOF\nx\nEOF\n", [Heredoc("EOF", "x\n")]),
        # Not heredocs: quoted, exec form, or an instruction that does not take them.
        ('RUN "<<NOPE"\n', []),
        ('RUN ["<<EOF"]\n', []),
        ("USER <<EOF\n", []),
        ("RUN a<<b\n", []),
    ],
)
def test_heredocs(source: str, expected: list[Heredoc]) -> None:
    assert list(_heredocs(source)) == expected


def test_heredoc_body_chomps_tabs_only_for_dash_form() -> None:
    chomped, plain = _heredocs("RUN <<-A <<B\n\t\tx\n\t y\nA\n\tz\nB\n")
    assert chomped.body == "x\n y\n"
    assert plain.body == "\tz\n"


def test_heredoc_lines_are_consumed() -> None:
    nodes = parse("FROM a\nRUN <<EOF\nFROM b\nEOF\nUSER x\n").instructions
    assert [n.keyword for n in nodes] == ["from", "run", "user"]


# ---------------------------------------------------------------------------------------------
# Errors carry path:line


@pytest.mark.parametrize(
    ("source", "line", "fragment"),
    [
        ("", 1, "no instructions"),
        ("# only\n# comments\n", 2, "no instructions"),
        ("FROM a\nENV PATH\n", 2, "ENV must have two arguments"),
        ("FROM a\nLABEL a=b c\n", 2, "can't find ="),
        ('FROM a\n\nCMD ["a", 1]\n', 3, "strings only"),
        ("# escape=x\nFROM a\n", 1, "invalid escape"),
        ("# escape=`\n# escape=\\\nFROM a\n", 2, "only one escape parser directive"),
        ("# syntax=a\n# SYNTAX=b\nFROM a\n", 2, "only one syntax parser directive"),
        ("FROM a\nRUN <<EOF\nnever ends\n", 2, "unterminated heredoc"),
        ("FROM a\nCOPY <<A <<B /d\nA\n", 2, "unterminated heredoc 'B'"),
    ],
)
def test_parse_errors(source: str, line: int, fragment: str) -> None:
    with pytest.raises(DockerfileError) as info:
        parse(source, path="ctx/Dockerfile")
    assert str(info.value).startswith(f"ctx/Dockerfile:{line}: ")
    assert fragment in str(info.value)
    assert info.value.line == line
    assert "\n" not in str(info.value)


def test_unknown_instruction_is_left_to_instructions_layer() -> None:
    node = parse("FROM a\nFOO bar\n").instructions[1]
    assert node.keyword == "foo" and node.args == ()
