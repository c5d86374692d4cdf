"""The command-line grammar: a command line gets the sub-parsers of its verb's group only, and
each group says which verbs it adds."""

from __future__ import annotations

import argparse

import pytest

from nbdocker.cli.grammar import VERB_GROUPS, build_parser
from nbdocker.engine.errors import UsageError


def _verbs(parser: argparse.ArgumentParser) -> list[str]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return list(action.choices)
    raise AssertionError("no sub-parsers")


def test_each_group_names_the_verbs_it_adds() -> None:
    assert _verbs(build_parser()) == [verb for group in VERB_GROUPS for verb in group.VERBS]
    for group in VERB_GROUPS:
        for verb in group.VERBS:
            assert _verbs(build_parser(verb)) == list(group.VERBS)


def test_help_and_unknown_words_get_every_verb() -> None:
    every = _verbs(build_parser())
    assert _verbs(build_parser("--help")) == _verbs(build_parser("bild")) == every
    args = build_parser("build").parse_args(["build", "-t", "x:1", "."])
    assert (args.verb, args.tag, args.context) == ("build", ["x:1"], ".")


def test_build_help_states_its_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser("build").parse_args(["build", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "the status of the RUN command that failed" in help_text
    assert "1 for any other failure; 2 for a usage error" in help_text


@pytest.mark.parametrize(
    ("words", "pause"),
    [
        ([], True),
        (["--pause"], True),
        (["-p"], True),
        (["--pause=false"], False),
        (["-p=false"], False),
        (["-p=0"], False),
        (["--pause=True"], True),
        (["--no-pause"], False),
    ],
)
def test_commit_pause_takes_dockers_boolean_forms(words: list[str], pause: bool) -> None:
    """``-p`` never takes the next word as its value: ``commit -p c1`` commits ``c1``."""
    args = build_parser("commit").parse_args(["commit", *words, "c1", "snap:1"])
    assert (args.pause, args.container, args.reference) == (pause, "c1", "snap:1")


def test_a_boolean_flag_with_another_value_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match='invalid boolean value "maybe" for -p: give true or'):
        build_parser("commit").parse_args(["commit", "-p=maybe", "c1"])
