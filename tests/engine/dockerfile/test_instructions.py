"""Typed instructions: each instruction's fields, flag checking, error messages, ``-c`` changes
and per-step variable expansion."""

from __future__ import annotations

import dataclasses

import pytest

from nbdocker.engine.dockerfile import (
    Add,
    Arg,
    Cmd,
    Copy,
    Entrypoint,
    Env,
    Expose,
    From,
    Healthcheck,
    Heredoc,
    Instruction,
    Label,
    Maintainer,
    Mount,
    Onbuild,
    Run,
    Shell,
    Stopsignal,
    User,
    Volume,
    Workdir,
    expand_instruction,
    parse,
    parse_change,
    parse_duration,
    parse_instruction,
    parse_instructions,
    parse_mount,
)
from nbdocker.engine.errors import DockerfileError

PATH = "app/Dockerfile"


def one(text: str) -> Instruction:
    """The typed form of the single instruction in ``text`` (placed on line 2, after FROM)."""
    node = parse("FROM scratch\n" + text, PATH).instructions[1]
    instruction = parse_instruction(node, PATH)
    assert instruction.line == 2
    return instruction


def fields(instruction: Instruction) -> Instruction:
    """Drop location fields so tables can compare with plain constructors."""
    return dataclasses.replace(instruction, line=0, original="")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("FROM debian:bookworm", From("debian:bookworm")),
        ("FROM debian AS Build", From("debian", "build")),
        ("FROM --platform=linux/arm64 debian as b-1.x", From("debian", "b-1.x", "linux/arm64")),
        ("RUN make all", Run("make all")),
        ('RUN ["make", "all"]', Run(("make", "all"), json_form=True)),
        ("RUN --network=none true", Run("true", network="none")),
        (
            "RUN <<EOF\necho hi\nEOF",
            Run("<<EOF", heredocs=(Heredoc("EOF", "echo hi\n"),)),
        ),
        ("CMD echo hi", Cmd("echo hi")),
        ('CMD ["a", "b"]', Cmd(("a", "b"), json_form=True)),
        ("CMD []", Cmd((), json_form=True)),
        ("ENTRYPOINT /bin/app -v", Entrypoint("/bin/app -v")),
        ("ENTRYPOINT", Entrypoint(())),
        ('SHELL ["/bin/bash", "-euc"]', Shell(("/bin/bash", "-euc"))),
        ("ENV A=1 B=two\\ words", Env((("A", "1"), ("B", "two\\ words")))),
        ("ENV PATH /usr/bin:$PATH", Env((("PATH", "/usr/bin:$PATH"),))),
        ('LABEL version="1.0" "a b"=c', Label((("version", '"1.0"'), ('"a b"', "c")))),
        ("MAINTAINER Jane <j@example.org>", Maintainer("Jane <j@example.org>")),
        ("EXPOSE 80 443/tcp", Expose(("80", "443/tcp"))),
        (
            "ADD --chown=1:2 --chmod=644 --checksum=sha256:ab --keep-git-dir --link a b /d/",
            Add(("a", "b"), "/d/", "1:2", "644", "sha256:ab", keep_git_dir=True, link=True),
        ),
        ("ADD --keep-git-dir=false u /d", Add(("u",), "/d")),
        ('ADD ["a b", "/d"]', Add(("a b",), "/d")),
        (
            "COPY --from=build --chown=app --chmod=755 --link bin /usr/bin/",
            Copy(("bin",), "/usr/bin/", "build", "app", "755", link=True),
        ),
        (
            "COPY <<a.txt x <<b.txt /dest/\n1\na.txt\n2\nb.txt",
            Copy(("x",), "/dest/", heredocs=(Heredoc("a.txt", "1\n"), Heredoc("b.txt", "2\n"))),
        ),
        (
            "COPY <<-EOF /f\n\tindented\nEOF",
            Copy((), "/f", heredocs=(Heredoc("EOF", "\tindented\n", chomp=True),)),
        ),
        ("VOLUME /a /b", Volume(("/a", "/b"))),
        ('VOLUME ["/data"]', Volume(("/data",))),
        ("USER app:app", User("app:app")),
        ("WORKDIR /srv/my app", Workdir("/srv/my app")),
        ('ARG A B=1 C= D="x y"', Arg((("A", None), ("B", "1"), ("C", ""), ("D", '"x y"')))),
        ("ONBUILD RUN make", Onbuild("RUN make")),
        ("onbuild  copy . /src", Onbuild("copy . /src")),
        ("ONBUILD RUN <<EOF\nx\nEOF", Onbuild("RUN <<EOF\nx\nEOF")),
        ("STOPSIGNAL SIGINT", Stopsignal("SIGINT")),
        ("HEALTHCHECK NONE", Healthcheck(None)),
        (
            "HEALTHCHECK --interval=30s --timeout=1m30s --start-period=500ms "
            "--start-interval=2s --retries=3 CMD curl -f http://localhost/",
            Healthcheck(
                ("CMD-SHELL", "curl -f http://localhost/"),
                30 * 10**9,
                90 * 10**9,
                500 * 10**6,
                2 * 10**9,
                3,
            ),
        ),
        ('HEALTHCHECK CMD ["true"]', Healthcheck(("CMD", "true"))),
        ("HEALTHCHECK --interval=0s CMD x", Healthcheck(("CMD-SHELL", "x"))),
    ],
)
def test_instructions(text: str, expected: Instruction) -> None:
    assert fields(one(text)) == expected


def test_location_fields() -> None:
    instruction = one("RUN a \\\n  b")
    assert instruction.line == 2
    assert instruction.original == "RUN a   b"
    assert instruction.keyword == "RUN"


def test_copy_heredoc_body_chomped() -> None:
    copy = one("COPY <<-EOF /f\n\tindented\nEOF")
    assert isinstance(copy, Copy)
    assert copy.heredocs[0].body == "indented\n"


def test_parse_instructions_whole_file() -> None:
    types = [type(i) for i in parse_instructions(parse("ARG V=1\nFROM a:$V\nRUN x\n"))]
    assert types == [Arg, From, Run]


# ---------------------------------------------------------------------------------------------
# RUN --mount


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("type=cache,target=/x", Mount("cache", "/x", sharing="shared")),
        (
            "type=cache,target=/x,id=apt,sharing=locked,uid=1,gid=2,mode=0755",
            Mount("cache", "/x", id="apt", sharing="locked", uid=1, gid=2, mode=0o755),
        ),
        ("target=/src", Mount("bind", "/src", readonly=True)),
        ("type=bind,source=a,dst=/b,from=build,rw", Mount("bind", "/b", "a", "build")),
        ("type=bind,src=a,destination=/b,readwrite=true", Mount("bind", "/b", "a")),
        ("type=tmpfs,target=/t", Mount("tmpfs", "/t")),
        ("type=tmpfs,target=/t,ro", Mount("tmpfs", "/t", readonly=True)),
        ("type=secret,id=tok,required", Mount("secret", id="tok", readonly=True, required=True)),
        ("type=ssh", Mount("ssh", readonly=True)),
        ('type=bind,target=/a,"source=x,y"', Mount("bind", "/a", "x,y", readonly=True)),
        ("type=cache,target=$DIR", Mount("cache", "$DIR", sharing="shared")),
    ],
)
def test_parse_mount(spec: str, expected: Mount) -> None:
    assert dataclasses.replace(parse_mount(spec), spec="") == expected


def test_run_mounts_and_network() -> None:
    run = one("RUN --mount=type=cache,target=/c --mount=type=tmpfs,target=/t --network=host x")
    assert isinstance(run, Run)
    assert [m.type for m in run.mounts] == ["cache", "tmpfs"]
    assert run.mounts[0].spec == "type=cache,target=/c"
    assert run.network == "host"


@pytest.mark.parametrize(
    ("text", "nanoseconds"),
    [("0", 0), ("1ns", 1), ("1.5s", 1_500_000_000), ("1h2m3s", 3_723_000_000_000)],
)
def test_parse_duration(text: str, nanoseconds: int) -> None:
    assert parse_duration(text) == nanoseconds


# ---------------------------------------------------------------------------------------------
# Errors: path:line prefix, what is wrong, how to fix it


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("FROM", "FROM needs an image"),
        ("FROM a b", "FROM takes an image"),
        ("FROM a AS 9lives", "invalid stage name '9lives'"),
        ("FRM debian", "unknown instruction FRM; did you mean FROM?"),
        ("XYZZY now", "unknown instruction XYZZY; valid ones: ADD"),
        ("ONBUILD FOO x", "unknown instruction FOO"),
        ("RUN --foo=bar x", "unknown flag --foo for RUN; allowed flags: --mount, --network"),
        ("RUN --mount type=cache x", "missing a value on flag --mount"),
        ("RUN --network=bridge x", "invalid network mode 'bridge'"),
        ("RUN --network=none --network=host x", "duplicate flag --network"),
        ("RUN --mount=type=cache x", "needs target=PATH"),
        ("RUN --mount=type=nfs,target=/x x", "unsupported mount type 'nfs'"),
        ("RUN --mount=type=cache,target=/x,sharing=all x", "unsupported sharing value 'all'"),
        ("RUN --mount=type=bind,target=/x,sharing=locked x", "only for cache mounts"),
        ("RUN --mount=type=bind,target=/x,uid=1 x", "uid is not allowed for bind"),
        ("RUN --mount=type=cache,target=/x,bogus=1 x", "unexpected --mount key 'bogus'"),
        ("RUN --mount=type=cache,target=/x,bogus=$V x", "unexpected --mount key 'bogus'"),
        ("RUN --mount=type=cache,target=/x,nokey x", "must be a key=value pair"),
        ("RUN --mount=type=cache,target=/x,ro=maybe x", "invalid value for mount option ro"),
        ("RUN --mount=type=bind,target=/x,from=$S x", "doesn't support variables"),
        ("RUN", "RUN requires a command"),
        ("CMD", "CMD requires a command"),
        ("CMD --x=1 a", "unknown flag --x for CMD; allowed flags: none"),
        ("COPY a", "COPY requires a source and a destination"),
        ("COPY --chown a b", "missing a value on flag --chown"),
        ("COPY --link=maybe a b", "expecting true or false for flag --link"),
        ("COPY --link= a b", "missing a value on flag --link"),
        ("COPY --exclude=x a b", "unknown flag --exclude for COPY"),
        ("COPY a <<EOF\nEOF", "cannot accept a heredoc as the destination"),
        ("ADD --from=x a b", "unknown flag --from for ADD"),
        ("ENV", "ENV requires at least one argument"),
        ("ENV =x", "ENV names can not be blank"),
        ("LABEL", "LABEL requires at least one argument"),
        ("ARG", "ARG requires at least one argument"),
        ("ARG =x", "ARG names can not be blank"),
        ("EXPOSE", "EXPOSE requires at least one port"),
        ("USER", "USER requires exactly one argument"),
        ("WORKDIR", "WORKDIR requires exactly one argument"),
        ("MAINTAINER", "MAINTAINER requires exactly one argument"),
        ("STOPSIGNAL", "STOPSIGNAL requires exactly one argument"),
        ("VOLUME", "VOLUME requires at least one argument"),
        ('VOLUME ["/a", " "]', "VOLUME paths can not be empty"),
        ("SHELL /bin/sh -c", "SHELL requires the JSON form"),
        ("SHELL []", "SHELL requires at least one argument"),
        ("ONBUILD", "ONBUILD requires an instruction"),
        ("ONBUILD ONBUILD RUN x", "ONBUILD ONBUILD"),
        ("ONBUILD FROM x", "FROM isn't allowed as an ONBUILD trigger"),
        ("ONBUILD MAINTAINER x", "MAINTAINER isn't allowed as an ONBUILD trigger"),
        ("HEALTHCHECK", "HEALTHCHECK requires an argument"),
        ("HEALTHCHECK CMD", "missing command after HEALTHCHECK CMD"),
        ("HEALTHCHECK NONE x", "HEALTHCHECK NONE takes no arguments"),
        ("HEALTHCHECK CONNECT TCP 7000", "unknown HEALTHCHECK type 'CONNECT'"),
        ("HEALTHCHECK --interval=1us CMD x", "cannot be less than 1ms"),
        ("HEALTHCHECK --interval=soon CMD x", "invalid duration 'soon'"),
        ("HEALTHCHECK --retries=-1 CMD x", "cannot be negative"),
        ("HEALTHCHECK --retries=two CMD x", "must be a whole number"),
        ("HEALTHCHECK --port=1 CMD x", "unknown flag --port for HEALTHCHECK"),
    ],
)
def test_errors(text: str, fragment: str) -> None:
    with pytest.raises(DockerfileError) as info:
        one(text)
    message = str(info.value)
    assert message.startswith(f"{PATH}:2: "), message
    assert fragment in message
    assert "\n" not in message
    assert info.value.path == PATH and info.value.line == 2


def test_error_line_is_instruction_start() -> None:
    dockerfile = parse("FROM a\n\n# c\nRUN \\\n  --bogus x\n", PATH)
    with pytest.raises(DockerfileError, match=r"^app/Dockerfile:4: unknown flag --bogus"):
        parse_instructions(dockerfile)


# ---------------------------------------------------------------------------------------------
# docker commit / import --change


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('CMD ["/bin/sh"]', Cmd(("/bin/sh",), json_form=True)),
        ("ENTRYPOINT top -b", Entrypoint("top -b")),
        ("ENV A=1", Env((("A", "1"),))),
        ("EXPOSE 8080", Expose(("8080",))),
        ("LABEL a=b", Label((("a", "b"),))),
        ("ONBUILD RUN x", Onbuild("RUN x")),
        ("USER nobody", User("nobody")),
        ("WORKDIR /w", Workdir("/w")),
        ("VOLUME /v", Volume(("/v",))),
        ("STOPSIGNAL 9", Stopsignal("9")),
        ("  env   B 2  ", Env((("B", "2"),))),
    ],
)
def test_parse_change(text: str, expected: Instruction) -> None:
    assert fields(parse_change(text)) == expected


@pytest.mark.parametrize("keyword", ["RUN", "COPY", "ADD", "FROM", "ARG", "SHELL", "HEALTHCHECK"])
def test_parse_change_rejects_build_steps(keyword: str) -> None:
    with pytest.raises(DockerfileError) as info:
        parse_change(f"{keyword} x y")
    assert str(info.value) == (
        f"--change:1: commit/import -c does not support {keyword}; allowed: CMD, ENTRYPOINT, "
        "ENV, EXPOSE, LABEL, ONBUILD, USER, WORKDIR, VOLUME, STOPSIGNAL"
    )


def test_parse_change_errors() -> None:
    with pytest.raises(DockerfileError, match=r"^--change:1: ENV must have two arguments"):
        parse_change("ENV PATH")
    with pytest.raises(DockerfileError, match="exactly one instruction"):
        parse_change("ENV A=1\nUSER x")


# ---------------------------------------------------------------------------------------------
# Expansion per step

ENV = {"BASE": "debian", "TAG": "12", "DIR": "/srv", "PORTS": "80 443", "U": "app", "X": "x"}


@pytest.mark.parametrize(
    ("text", "expected", "referenced"),
    [
        ("FROM ${BASE}:${TAG:-latest}", From("debian:12"), {"BASE", "TAG"}),
        ("FROM --platform=$P a", From("a", platform=""), {"P"}),
        ('ENV A=$DIR/a B="$U x" $X=1', Env((("A", "/srv/a"), ("B", "app x"), ("x", "1"))), None),
        ("ENV OLD $DIR two", Env((("OLD", "/srv two"),)), {"DIR"}),
        ("LABEL a=${U}", Label((("a", "app"),)), {"U"}),
        ("ARG A=$DIR B", Arg((("A", "/srv"), ("B", None))), {"DIR"}),
        ("EXPOSE $PORTS 22", Expose(("80", "443", "22")), {"PORTS"}),
        ("VOLUME $DIR/data", Volume(("/srv/data",)), {"DIR"}),
        ("USER $U", User("app"), {"U"}),
        ("WORKDIR $DIR/${U}", Workdir("/srv/app"), {"DIR", "U"}),
        ("STOPSIGNAL ${SIG:-TERM}", Stopsignal("TERM"), {"SIG"}),
        (
            "COPY --from=$U --chown=$U:$U --chmod=$M $DIR/a* $DIR/",
            Copy(("/srv/a*",), "/srv/", "app", "app:app", ""),
            {"U", "M", "DIR"},
        ),
        (
            "ADD --checksum=$X $DIR/a /b",
            Add(("/srv/a",), "/b", checksum="x"),
            {"X", "DIR"},
        ),
        ("RUN echo $DIR", Run("echo $DIR"), set()),
        ("CMD echo $DIR", Cmd("echo $DIR"), set()),
    ],
)
def test_expand(text: str, expected: Instruction, referenced: set[str] | None) -> None:
    result = expand_instruction(one(text), ENV)
    assert fields(result.instruction) == expected
    if referenced is not None:
        assert result.referenced == referenced


def test_expand_keeps_location() -> None:
    result = expand_instruction(one("USER $U"), ENV)
    assert result.instruction.line == 2 and result.instruction.original == "USER $U"


def test_expand_copy_heredoc_bodies() -> None:
    copy = one("COPY <<A <<'B' /d/\n\t'$X' \"$X\" \\$X\nA\n$X\nB")
    expanded = expand_instruction(copy, ENV).instruction
    assert isinstance(expanded, Copy)
    assert [h.content for h in expanded.heredocs] == ["\t'x' \"x\" $X\n", "$X\n"]


def test_expand_run_mounts() -> None:
    run = one("RUN --mount=type=$T,target=$DIR/c,id=${U} x")
    expanded = expand_instruction(run, {**ENV, "T": "cache"})
    assert isinstance(expanded.instruction, Run)
    mount = expanded.instruction.mounts[0]
    assert (mount.type, mount.target, mount.id, mount.sharing) == (
        "cache",
        "/srv/c",
        "app",
        "shared",
    )
    assert expanded.referenced == {"T", "DIR", "U"}


def test_expand_mount_numbers_after_expansion() -> None:
    run = one("RUN --mount=type=cache,target=/c,uid=$UID,mode=$MODE x")
    assert isinstance(run, Run) and run.mounts[0].uid is None
    expanded = expand_instruction(run, {"UID": "1000", "MODE": "0700"}).instruction
    assert isinstance(expanded, Run)
    assert (expanded.mounts[0].uid, expanded.mounts[0].mode) == (1000, 0o700)


def test_expand_with_backtick_escape() -> None:
    dockerfile = parse("# escape=`\nFROM a\nWORKDIR C:\\$U`$X\n")
    workdir = parse_instructions(dockerfile)[1]
    expanded = expand_instruction(workdir, ENV, escape=dockerfile.escape).instruction
    assert isinstance(expanded, Workdir) and expanded.path == "C:\\app$X"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("WORKDIR ${DIR", "missing '}'"),
        ("USER ${NOPE:?set NOPE}", "NOPE: set NOPE"),
        ("RUN --mount=type=$BAD,target=/x x", "unsupported mount type 'oops'"),
    ],
)
def test_expand_errors_carry_location(text: str, fragment: str) -> None:
    with pytest.raises(DockerfileError) as info:
        expand_instruction(one(text), {**ENV, "BAD": "oops"}, path=PATH)
    assert str(info.value).startswith(f"{PATH}:2: ")
    assert fragment in str(info.value)
