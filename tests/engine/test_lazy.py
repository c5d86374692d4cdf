"""``@lazy_dataclass`` behaves as ``@dataclass`` once used, and costs nothing until then."""

from __future__ import annotations

import dataclasses
import pickle
import subprocess
import sys
import threading
from typing import ClassVar

import pytest

from nbdocker.engine.lazy import lazy_dataclass, realise


def _made(cls: type) -> bool:
    """Whether ``cls`` itself has been made a dataclass (a base's fields show through)."""
    return "__dataclass_fields__" in cls.__dict__


def _family() -> tuple[type, type]:
    @lazy_dataclass(frozen=True, kw_only=True)
    class Base:
        kind: ClassVar[str] = ""
        line: int = 0

    @lazy_dataclass(frozen=True)
    class Leaf(Base):
        kind: ClassVar[str] = "LEAF"
        name: str
        tags: tuple[str, ...] = ()

    return Base, Leaf


def test_first_instance_makes_a_real_frozen_dataclass() -> None:
    _, leaf = _family()
    assert not _made(leaf)  # nothing generated yet
    one = leaf("a", line=3)
    assert _made(leaf)
    assert one == leaf("a", line=3) and one != leaf("b", line=3)
    assert hash(one) == hash(leaf("a", line=3))
    assert repr(one).endswith("Leaf(line=3, name='a', tags=())")
    with pytest.raises(dataclasses.FrozenInstanceError):
        one.name = "b"  # type: ignore[misc]
    assert dataclasses.replace(one, tags=("x",)).tags == ("x",)
    assert [f.name for f in dataclasses.fields(one)] == ["line", "name", "tags"]
    with pytest.raises(TypeError):
        leaf()  # type: ignore[call-arg]  # the generated __init__'s own error


def test_realise_before_any_instance_and_plain_subclasses() -> None:
    base, leaf = _family()
    realise(base)
    assert [f.name for f in dataclasses.fields(base)] == ["line"]
    assert not _made(leaf)

    class Plain(leaf):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            super().__init__("plain", line=1)

    assert Plain().name == "plain"


def test_concurrent_first_instances() -> None:
    _, leaf = _family()
    made: list[object] = []
    threads = [threading.Thread(target=lambda: made.append(leaf("t"))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert made == [leaf("t")] * 8


def test_a_cached_build_makes_only_the_instructions_it_parses() -> None:
    """What the command line pays at start-up: importing the builder makes none of the
    instruction classes; parsing FROM + RUN makes those two (and their base)."""
    code = """
import dataclasses
import pickle
from nbdocker.engine.dockerfile import commands, parse, parse_instructions
made = lambda: sorted(
    n for n in commands.__all__ if "__dataclass_fields__" in vars(getattr(commands, n))
)
print(made())
parse_instructions(parse("FROM scratch\\nRUN true\\n"))
print(made())
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == ["[]", "['From', 'Instruction', 'Run']"]


def test_an_instance_unpickled_or_copied_before_any_other_is_a_dataclass() -> None:
    """``pickle`` and ``copy`` make objects without ``__init__``: the first instance a process
    sees may come that way, and must still compare, print and hash as a dataclass."""
    from nbdocker.engine.builder.options import BuildOptions

    sent = pickle.dumps(BuildOptions(tags=("a:1",), no_cache=True))
    code = """
import copy, pickle, sys
from nbdocker.engine.builder.options import BuildOptions
got = pickle.loads(sys.stdin.buffer.read())
twin = copy.deepcopy(got)
print(got == twin, got == BuildOptions(tags=("a:1",), no_cache=True), hash(got) == hash(twin))
print(repr(got))
"""
    out = subprocess.run(
        [sys.executable, "-c", code], input=sent, capture_output=True, check=True
    ).stdout.decode()
    same, equal, hashed = out.splitlines()[0].split()
    assert (same, equal, hashed) == ("True", "True", "True")
    assert out.splitlines()[1].startswith("BuildOptions(tags=('a:1',), dockerfile=None")


def test_first_instances_made_at_once_hash_and_compare_as_dataclasses() -> None:
    """Threads that make a class's first instances at the same moment all get complete
    dataclass instances: equal ones hash alike, so a dict built by one finds another's."""
    failures: list[str] = []

    def make(leaf: type, start: threading.Barrier, made: list[object]) -> None:
        start.wait()
        try:
            made.append(leaf("x", line=1))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            failures.append(repr(exc))

    for _ in range(40):
        _, leaf = _family()
        start = threading.Barrier(12)
        made: list[object] = []
        threads = [threading.Thread(target=make, args=(leaf, start, made)) for _ in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len({hash(m) for m in made}) == 1
        assert {m: 1 for m in made}.get(leaf("x", line=1)) == 1
    assert failures == []
