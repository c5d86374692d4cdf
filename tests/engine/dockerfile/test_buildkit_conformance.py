"""BuildKit's own parser and word-expander cases, run as an extra check when given their data.

The data is not part of this project: ``$NBDOCKER_CONFORMANCE_DIR`` names a folder laid out as
BuildKit's (``parser/testfiles/<case>/{Dockerfile,result}``, ``parser/testfiles-negative/``,
``shell/envVarTest``, ``shell/wordsTest``). Without the variable this module is not collected
(see ``conftest.py``); with it every case must run and pass, and a folder that is missing or
incomplete fails the run. ``.ci/run`` sets the variable when the data sits beside the checkout.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nbdocker.engine.dockerfile import ExpansionError, Lexer, dump, parse
from nbdocker.engine.errors import DockerfileError

ENV_DIR = "NBDOCKER_CONFORMANCE_DIR"
DATA = Path(os.environ.get(ENV_DIR, "")).resolve()
SHELL_ENV = {"PWD": "/home", "SHELL": "bash", "KOREAN": "한국어", "NULL": ""}


def _case_dirs(kind: str) -> list[Path]:
    folder = DATA / "parser" / kind
    return sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def _lines(name: str) -> list[str]:
    path = DATA / "shell" / name
    if not path.is_file():
        return []
    # Bytes → UTF-8 with no newline translation: trailing blanks and the last line matter.
    lines = path.read_bytes().decode("utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def _env_var_cases() -> list[tuple[int, str, str, str]]:
    cases = []
    for number, line in enumerate(_lines("envVarTest"), 1):
        if line.startswith("#") or not line.strip():
            continue
        fields = [field.strip() for field in line.strip().split("|")]
        if len(fields) != 3 or fields[0] not in ("A", "U", "W"):
            cases.append((number, "malformed", line, ""))
        elif fields[0] != "W":  # Windows-only semantics; we build Linux images
            cases.append((number, *fields))
    return cases


def _words_cases() -> list[tuple[int, str, list[str], dict[str, str]]]:
    env: dict[str, str] = {}
    cases = []
    for number, line in enumerate(_lines("wordsTest"), 1):
        if line.startswith("#"):
            continue
        if line.startswith("ENV "):
            name, _, value = line[3:].lstrip(" ").partition("=")
            env[name] = value
            continue
        word, sep, expected = line.partition("|")
        words = expected.lstrip(" ").split(",") if sep and "|" not in expected else []
        cases.append((number, word.strip(), words, dict(env)))
    return cases


def test_the_data_is_all_there() -> None:
    """A wrong path or a half-copied folder must fail, not pass with fewer cases."""
    assert DATA.is_dir(), f"{ENV_DIR}={DATA}: no such folder; point it at BuildKit's test data"
    assert len(_case_dirs("testfiles")) == 33, f"{DATA}/parser/testfiles: expected 33 cases"
    assert len(_case_dirs("testfiles-negative")) == 4
    assert len(_env_var_cases()) == 228, f"{DATA}/shell/envVarTest: expected 228 cases"
    assert len(_words_cases()) == 24, f"{DATA}/shell/wordsTest: expected 24 cases"


@pytest.mark.parametrize("case", _case_dirs("testfiles"), ids=lambda p: p.name)
def test_ast_dump(case: Path) -> None:
    dockerfile = parse((case / "Dockerfile").read_bytes(), path=str(case / "Dockerfile"))
    got = "".join(dump(node) + "\n" for node in dockerfile.instructions)
    assert got == (case / "result").read_bytes().decode("utf-8")


@pytest.mark.parametrize("case", _case_dirs("testfiles-negative"), ids=lambda p: p.name)
def test_negative(case: Path) -> None:
    path = str(case / "Dockerfile")
    with pytest.raises(DockerfileError) as info:
        parse((case / "Dockerfile").read_bytes(), path=path)
    assert str(info.value).startswith(path + ":")


@pytest.mark.parametrize("case", _env_var_cases(), ids=lambda c: f"line{c[0]}")
def test_env_var(case: tuple[int, str, str, str]) -> None:
    number, platform, word, expected = case
    assert platform != "malformed", f"envVarTest line {number} is malformed: {word!r}"
    lexer = Lexer("\\")
    if expected == "error":
        with pytest.raises(ExpansionError):
            lexer.process_word(word, SHELL_ENV)
    else:
        assert lexer.process_word(word, SHELL_ENV) == expected


@pytest.mark.parametrize("case", _words_cases(), ids=lambda c: f"line{c[0]}")
def test_words(case: tuple[int, str, list[str], dict[str, str]]) -> None:
    number, word, expected, env = case
    assert expected, f"wordsTest line {number} is malformed"
    try:
        got = Lexer("\\").process_words(word, env)
    except ExpansionError:
        got = ["error"]
    assert got == expected
