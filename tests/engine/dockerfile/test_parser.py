"""Parser tests: the syntax tree of each instruction form, directives, continuations, heredocs
and errors, as tables of our own. (BuildKit's own cases run as an extra in
``test_buildkit_conformance.py`` when ``$NBDOCKER_CONFORMANCE_DIR`` gives their data.)"""

from __future__ import annotations

import pytest

from nbdocker.engine.dockerfile import Heredoc, Node, dump, go_quote, parse
from nbdocker.engine.errors import DockerfileError

# ---------------------------------------------------------------------------------------------
# The syntax tree of each instruction form, in BuildKit's dump notation (one node per argument,
# Go-quoted; flags in brackets; JSON arrays decoded; ONBUILD nested)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("FROM debian:bookworm AS build\n", '(from "debian:bookworm" "AS" "build")'),
        ("FROM --platform=linux/amd64 busybox\n", '(from ["--platform=linux/amd64"] "busybox")'),
        ("EXPOSE 80/tcp\t443  8080\n", '(expose "80/tcp" "443" "8080")'),
        # Shell form: the rest of the line, continuation joined with its indentation kept.
        (
            "RUN apt-get update && \\\n    apt-get install -y ruby\n",
            '(run "apt-get update &&     apt-get install -y ruby")',
        ),
        ('ENTRYPOINT /bin/sh -c   "a   b"\n', '(entrypoint "/bin/sh -c   \\"a   b\\"")'),
        # Exec form: a JSON array of strings, decoded.
        ('RUN ["echo", "a\\/b", "\\u0041"]\n', '(run "echo" "a/b" "A")'),
        ('CMD ["sh", "-c", "echo \\"hi\\""]\n', '(cmd "sh" "-c" "echo \\"hi\\"")'),
        ('CMD ["nul\\u0000byte", "♥"]\n', '(cmd "nul\\x00byte" "♥")'),
        ("CMD []\n", "(cmd)"),
        ('SHELL ["/bin/bash", "-c"]\n', '(shell "/bin/bash" "-c")'),
        # Not JSON after all: the whole rest of the line, as written.
        ("RUN ['single', 'quotes']\n", "(run \"['single', 'quotes']\")"),
        ('RUN ["unterminated"\n', '(run "[\\"unterminated\\"")'),
        ('RUN [ "a", "b" ] "after"\n', '(run "[ \\"a\\", \\"b\\" ] \\"after\\"")'),
        # COPY, ADD, VOLUME: JSON, else words.
        ('COPY --chown=1:1 ["a b", "c"]\n', '(copy ["--chown=1:1"] "a b" "c")'),
        ("COPY\ta.txt\tb.txt  /dest/\n", '(copy "a.txt" "b.txt" "/dest/")'),
        ("ADD http://example.com/x.tgz /tmp/\n", '(add "http://example.com/x.tgz" "/tmp/")'),
        ('VOLUME ["/data", "/logs"]\n', '(volume "/data" "/logs")'),
        ("VOLUME /var/lib /var/log\n", '(volume "/var/lib" "/var/log")'),
        # ENV and LABEL: name, value, separator triples; values keep their quotes.
        (
            'ENV A=1 B="two words" C=three\\ words\n',
            '(env "A" "1" "=" "B" "\\"two words\\"" "=" "C" "three\\\\ words" "=")',
        ),
        ("ENV OLD value with   spaces\n", '(env "OLD" "value with   spaces" "")'),
        (
            'LABEL "com.example.key"="v" other=\'q\'\n',
            '(label "\\"com.example.key\\"" "\\"v\\"" "=" "other" "\'q\'" "=")',
        ),
        ('ARG NAME="a b" OTHER\n', '(arg "NAME=\\"a b\\"" "OTHER")'),
        # One node: the rest of the line.
        ("USER app:staff\n", '(user "app:staff")'),
        ("WORKDIR /path with space\n", '(workdir "/path with space")'),
        (
            "MAINTAINER Docker Newbee <newbee@docker.com>\n",
            '(maintainer "Docker Newbee <newbee@docker.com>")',
        ),
        ("STOPSIGNAL SIGTERM\n", '(stopsignal "SIGTERM")'),
        (
            "HEALTHCHECK --interval=5s --retries=3 CMD curl -f http://localhost/\n",
            '(healthcheck ["--interval=5s" "--retries=3"] "CMD" "curl -f http://localhost/")',
        ),
        ("HEALTHCHECK NONE\n", '(healthcheck "NONE")'),
        ("HEALTHCHECK\n", "(healthcheck)"),
        ("ONBUILD ADD . /app/src\n", '(onbuild (add "." "/app/src"))'),
        ('ONBUILD RUN ["make"]\n', '(onbuild (run "make"))'),
        # A lone -- ends the flags and is dropped.
        (
            "RUN --mount=type=cache,target=/c -- pip install x\n",
            '(run ["--mount=type=cache,target=/c"] "pip install x")',
        ),
        # Comment and blank lines inside a continuation are dropped; EOF may end one.
        ('RUN echo "a \\\n  # note\n\n  b"\n', '(run "echo \\"a   b\\"")'),
        ("RUN echo tail \\", '(run "echo tail")'),
        ("RUN echo \\\\\n", '(run "echo \\\\\\\\")'),
    ],
)
def test_ast_dump(source: str, expected: str) -> None:
    assert [dump(n) for n in parse(source).instructions] == [expected]


def test_ast_dump_of_a_whole_file() -> None:
    source = (
        "# syntax=docker/dockerfile:1\n"
        "# This is a comment\n"
        "FROM ubuntu:14.04\n"
        "MAINTAINER Docker Newbee <newbee@docker.com>\n"
        "\n"
        "RUN apt-get -qq update\n"
        "RUN apt-get -qqy install ruby ruby-dev\n"
        "RUN gem install sinatra\n"
        "ADD myApp /var/www\n"
        "EXPOSE 80\n"
        'CMD ["/usr/sbin/apachectl", "-D", "FOREGROUND"]\n'
    )
    assert [dump(n) for n in parse(source).instructions] == [
        '(from "ubuntu:14.04")',
        '(maintainer "Docker Newbee <newbee@docker.com>")',
        '(run "apt-get -qq update")',
        '(run "apt-get -qqy install ruby ruby-dev")',
        '(run "gem install sinatra")',
        '(add "myApp" "/var/www")',
        '(expose "80")',
        '(cmd "/usr/sbin/apachectl" "-D" "FOREGROUND")',
    ]


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
        ('FROM a\nCMD [ "echo", [ "nested" ] ]\n', 2, "strings only"),
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
