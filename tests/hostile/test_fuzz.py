"""Property-based fuzzing (Hypothesis) of what reads untrusted input: the tar reader and the
unpacker, image archives (manifest.json, index.json, manifests, configs), the Dockerfile parser
and the shell-word expander. The property is the engine's promise: whatever the input, the only
exception is an :class:`~nbdocker.engine.errors.NbdockerError` (one line for the user), and a
refused input leaves nothing behind.

Bounded and reproducible: the ``ci`` profile (tests/hostile/conftest.py, chosen when ``CI=true``
or with ``--hypothesis-profile=ci``) is derandomized, so a CI run tries the same examples every
time; each test has its own ``max_examples`` so the whole set stays well under two minutes.
Locally the ``dev`` profile draws new examples each run and keeps failures in
``.hypothesis/`` to replay them first.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nbdocker.engine import Engine
from nbdocker.engine.dockerfile import Lexer, parse, parse_instructions
from nbdocker.engine.errors import NbdockerError
from nbdocker.engine.layer import serve_unpack
from tests.hostile.corpus import (
    INDEX_TYPE,
    MANIFEST_TYPE,
    archive,
    config,
    digest,
    docker_archive,
    oci_archive,
)


def _fuzz(examples: int) -> settings:
    """Settings of one fuzz test: ``examples`` tries (the bound on its time), no deadline per
    example (the machine may be busy), and fixtures made once per test are fine here (each
    example makes its own scratch folder or store)."""
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )


# -------------------------------------------------------------------------- tar streams

_NAMES = st.lists(
    st.sampled_from(list("ab./\\\x00é") + ["..", ".wh.", ".wh..wh..opq", "d" * 40]), max_size=8
).map("".join)
_PAX_KEYS = st.sampled_from(
    ["path", "linkpath", "size", "uid", "gid", "mtime", "uname", "SCHILY.xattr.user.x", "x"]
)
_PAX_VALUES = st.one_of(
    st.sampled_from(["nan", "inf", "-1", "1e400", "1e20", "0", "99999999999999999999", ""]),
    st.integers().map(str),
    st.floats(allow_nan=True).map(repr),
    _NAMES,
)
_TYPES = st.sampled_from(
    [
        tarfile.REGTYPE,
        tarfile.DIRTYPE,
        tarfile.SYMTYPE,
        tarfile.LNKTYPE,
        tarfile.CHRTYPE,
        tarfile.FIFOTYPE,
        b"S",
        b"Z",
    ]
)


@st.composite
def _members(draw: st.DrawFn) -> bytes:
    """A tar of a few entries with hostile names, types, link targets and PAX records."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for _ in range(draw(st.integers(1, 5))):
            info = tarfile.TarInfo(draw(_NAMES) or "x")
            info.type = draw(_TYPES)
            info.linkname = draw(_NAMES)
            info.mode = draw(st.integers(0, 0o7777))
            data = draw(st.binary(max_size=20)) if info.type == tarfile.REGTYPE else b""
            info.size = len(data)
            info.pax_headers = draw(st.dictionaries(_PAX_KEYS, _PAX_VALUES, max_size=3))
            try:
                tar.addfile(info, io.BytesIO(data))
            except ValueError:  # a header tarfile itself cannot write: leave it out
                continue
    return buf.getvalue()


@st.composite
def _damaged(draw: st.DrawFn, make: st.SearchStrategy[bytes]) -> bytes:
    """Bytes of ``make`` with some overwritten and maybe cut short."""
    data = bytearray(draw(make))
    for _ in range(draw(st.integers(0, 4))):
        if data:
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data[: draw(st.integers(0, len(data)))] if draw(st.booleans()) else data)


_TARS = st.one_of(_members(), _damaged(_members()), st.binary(max_size=1200))


def _no_other_error(call: Callable[[], object]) -> None:
    try:
        call()
    except NbdockerError as exc:
        assert "\n" not in str(exc).strip(), str(exc)


@_fuzz(150)
@given(data=_TARS)
def test_import_of_any_tar(tmp_path: Path, data: bytes) -> None:
    """The tar reader and import's normalisation of a rootfs tarball."""
    engine = Engine(tmp_path / "home")
    _no_other_error(lambda: engine.import_image(io.BytesIO(data), "fuzz:1"))


@_fuzz(150)
@given(data=_TARS)
def test_unpack_of_any_layer(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    """The unpacker, through the operation a rootless unpack runs (the helper's entry)."""
    dest = tmp_path_factory.mktemp("layer")
    request = {"dest": str(dest), "opaque_xattr": "user.overlay.opaque"}
    _no_other_error(lambda: serve_unpack(request, io.BytesIO(data), io.BytesIO()))
    assert all(Path(dest) in p.parents for p in Path(dest).rglob("*"))


# -------------------------------------------------------------------------- image archives

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=8,
)


def _field_values(keys: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.sampled_from(keys), _JSON, max_size=3)


@st.composite
def _docker_archives(draw: st.DrawFn) -> bytes:
    """manifest.json and the config with fields replaced by arbitrary JSON."""
    cfg_changes = draw(_field_values(["rootfs", "config", "history", "created", "os"]))
    cfg = config(**cfg_changes)
    entry: dict[str, Any] = {
        "Config": digest(cfg)[7:] + ".json",
        "Layers": ["layer.tar"],
        "RepoTags": ["fuzz:1"],
    }
    entry.update(draw(_field_values(["Config", "Layers", "RepoTags"])))
    manifest = draw(st.one_of(st.just([entry]), _JSON))
    return docker_archive(manifest, cfg)


@st.composite
def _oci_archives(draw: st.DrawFn) -> bytes:
    """index.json, its entries and the manifest with fields replaced by arbitrary JSON."""
    entry_changes = draw(_field_values(["mediaType", "digest", "size", "annotations", "platform"]))
    index_changes = draw(_field_values(["manifests", "schemaVersion"]))
    manifest_changes = draw(_field_values(["config", "layers", "mediaType"]))
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": {"mediaType": "x", "digest": digest(config()), "size": len(config())},
        "layers": [],
        **manifest_changes,
    }
    if draw(st.booleans()):
        entry_changes.setdefault("mediaType", draw(st.sampled_from([INDEX_TYPE, MANIFEST_TYPE])))

    def index(dgst: str, size: int) -> Any:
        entry = {"mediaType": MANIFEST_TYPE, "digest": dgst, "size": size, **entry_changes}
        return {"schemaVersion": 2, "manifests": [entry], **index_changes}

    return oci_archive(index, doc)


_ARCHIVES = st.one_of(
    _docker_archives(),
    _oci_archives(),
    _damaged(_docker_archives()),
    _members(),
    st.builds(lambda m: archive([("manifest.json", m, None)]), st.binary(max_size=64)),
)


@_fuzz(150)
@given(data=_ARCHIVES)
def test_load_of_any_archive(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    """manifest.json, index.json, manifests and configs, as ``load`` reads them; what loads
    must then list, inspect and show its history like any image."""
    engine = Engine(tmp_path_factory.mktemp("home"))
    loaded: list[str] = []

    def load() -> None:
        loaded.extend(engine.load(io.BytesIO(data)))

    _no_other_error(load)
    for name in loaded:
        engine.images()
        engine.inspect(name)
        engine.history(name)


# -------------------------------------------------------------------------- Dockerfiles

_DOCKERFILE_WORDS = st.sampled_from(
    [
        "FROM",
        "RUN",
        "CMD",
        "COPY",
        "ADD",
        "ENV",
        "ARG",
        "LABEL",
        "ONBUILD",
        "HEALTHCHECK",
        "SHELL",
        "WORKDIR",
        "USER",
        "EXPOSE",
        "ENTRYPOINT",
        "VOLUME",
        "STOPSIGNAL",
        "MAINTAINER",
        "AS",
        "--from=",
        "--chown=",
        "--mount=",
        "--chmod=",
        '["a",',
        "[",
        "]",
        '"',
        "'",
        "\\",
        "<<EOF",
        "EOF",
        "$A",
        "${A:-b}",
        "${A:+${B}}",
        "=",
        "#",
        "#escape=`",
        "#syntax=x",
        "\n",
        "\\\n",
        "\t",
        "`\n",
    ]
)
_DOCKERFILES = st.one_of(
    st.lists(_DOCKERFILE_WORDS | st.text(max_size=4), max_size=30).map(" ".join),
    st.text(max_size=200),
)


@_fuzz(300)
@given(text=_DOCKERFILES)
def test_dockerfile_parser(text: str) -> None:
    """Text → syntax tree → typed instructions: DockerfileError or a result."""
    _no_other_error(lambda: parse_instructions(parse(text)))


_SHELL_WORDS = st.one_of(
    st.lists(
        st.sampled_from(
            ["$", "{", "}", ":", "-", "+", "?", "=", "#", "%", "/", "'", '"', "\\", "A", "a", " "]
        ),
        max_size=40,
    ).map("".join),
    st.text(max_size=40),
)


@_fuzz(300)
@given(word=_SHELL_WORDS, escape=st.sampled_from(["\\", "`"]))
def test_word_expander(word: str, escape: str) -> None:
    env = {"A": "x y", "B": "", "a": "*"}
    lexer = Lexer(escape)
    _no_other_error(lambda: lexer.process_words(word, env))


def test_deeply_nested_words_and_onbuild_chains_cost_no_recursion() -> None:
    """What a fuzzer rarely draws but an attacker writes: nesting thousands deep."""
    nested = "${A:-" * 3000 + "x" + "}" * 3000
    with pytest.raises(NbdockerError, match="nest more than"):
        Lexer("\\").process_word(nested, {})
    assert Lexer("\\").process_word("${A:-" * 20 + "x" + "}" * 20, {}) == "x"
    text = "FROM scratch\n" + "ONBUILD " * 3000 + "RUN x\n"
    with pytest.raises(NbdockerError, match="chaining ONBUILD"):
        parse_instructions(parse(text))
