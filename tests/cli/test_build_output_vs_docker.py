"""``nbdocker build`` prints and exits what the Docker engine's classic builder does.

Each case builds the same Dockerfiles, with the same arguments, in nbdocker and in a private
dockerd (``DOCKER_BUILDKIT=0``), and compares the exit status and the printed lines once IDs
are normalised: every 12-digit ID becomes ``<n>``, numbered by first appearance, so the
comparison still sees which lines name the same container or image (a ``Removing intermediate
container`` names the container the step ran in; a cached rebuild ends with the first build's
ID). The one deliberate difference, "Sending build context to the engine" for "to Docker
daemon" (there is none), is normalised away with the blank line Docker's client prints after it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import RunNbdocker
from tests.support.dockerd import DockerEngine

pytestmark = pytest.mark.docker

BASE = "nbdtest/base:1"
_ID = re.compile(r"\b[0-9a-f]{12}\b")
_CONTEXT = re.compile(r"^Sending build context to (Docker daemon|the engine)\s+\S+$")


def normalise(stdout: str) -> list[str]:
    """The lines of a classic build output, IDs numbered by first appearance, the context line
    the same for both."""
    names: dict[str, str] = {}

    def name(match: re.Match[str]) -> str:
        return names.setdefault(match.group(0), f"<{len(names) + 1}>")

    lines: list[str] = []
    after_context = False
    for line in stdout.splitlines():
        if _CONTEXT.match(line):
            lines.append("Sending build context")
            after_context = True
            continue
        if after_context and not line:
            continue  # Docker's client ends its context progress with an empty line
        after_context = False
        lines.append(_ID.sub(name, line))
    return lines


@dataclass(frozen=True)
class Built:
    status: int
    lines: list[str]
    stderr: str


class SideBySide:
    """Runs each build in nbdocker and in Docker, from the same context directory."""

    def __init__(self, nbdocker: RunNbdocker, docker: DockerEngine, root: Path) -> None:
        self.nbdocker = nbdocker
        self.docker = docker
        self.root = root

    def context(self, name: str, dockerfile: str, **files: str) -> Path:
        ctx = self.root / name
        ctx.mkdir()
        (ctx / "Dockerfile").write_text(dockerfile)
        for path, content in files.items():
            (ctx / path).write_text(content)
        return ctx

    def build(self, ctx: Path, *flags: str) -> tuple[Built, Built]:
        """(nbdocker's, Docker's) result of ``build FLAGS CTX``."""
        ours = self.nbdocker("build", *flags, ctx)
        theirs = self.docker.run(
            "build", "--network", "host", *flags, ctx, check=False, env={"DOCKER_BUILDKIT": "0"}
        )
        return (
            Built(ours.returncode, normalise(ours.stdout.decode()), ours.stderr.decode()),
            Built(theirs.returncode, normalise(theirs.stdout), theirs.stderr),
        )

    def same(self, ctx: Path, *flags: str) -> Built:
        """Build in both; assert the same exit status and lines; return Docker's result."""
        ours, theirs = self.build(ctx, *flags)
        assert ours.lines == theirs.lines, (
            f"nbdocker (exit {ours.status}):\n" + "\n".join(ours.lines) + "\n" + ours.stderr
        )
        assert ours.status == theirs.status, ours.stderr
        return theirs


@pytest.fixture
def both(
    nbdocker: RunNbdocker,
    docker_engine: DockerEngine,
    busybox_tarball: Path,
    tmp_path: Path,
) -> SideBySide:
    """The busybox base as nbdtest/base:1 in nbdocker's store and in Docker's."""
    imported = nbdocker("import", "-c", 'CMD ["/bin/sh"]', busybox_tarball, BASE)
    assert imported.returncode == 0, imported.stderr.decode()
    docker_engine.run("import", "-c", 'CMD ["/bin/sh"]', busybox_tarball, BASE)
    return SideBySide(nbdocker, docker_engine, tmp_path)


# -- 1. the exit status of a failed build -------------------------------------------------------


@pytest.mark.parametrize(
    ("step", "status"),
    [
        ("RUN exit 7", 7),
        ("RUN echo 'E: Unable to locate package nosuch' && exit 100", 100),  # a failed apt-get
        ('RUN ["/bin/sh", "-c", "exit 3"]', 3),
        ("RUN false", 1),
    ],
)
def test_a_failed_run_exits_with_its_commands_status(
    both: SideBySide, step: str, status: int
) -> None:
    ctx = both.context("fails", f"FROM {BASE}\nRUN echo before\n{step}\nRUN echo never\n")
    ours, theirs = both.build(ctx, "--no-cache", "-t", "parity/fails:1")
    assert theirs.status == status
    assert ours.status == theirs.status, ours.stderr
    assert ours.lines == theirs.lines
    # Docker's one line, within ours (which says where: Dockerfile:3)
    assert ours.stderr.splitlines()[-1] == f"Error: Dockerfile:3: {theirs.stderr.strip()}"
    assert both.nbdocker("inspect", "parity/fails:1").returncode == 1  # nothing tagged


def test_any_other_failure_exits_1_as_docker(both: SideBySide) -> None:
    ctx = both.context("missing", f"FROM {BASE}\nENV A=1\nCOPY missing.txt /\n")
    both.same(ctx, "--no-cache")


def test_a_missing_dockerfile_exits_1_as_docker(both: SideBySide) -> None:
    ctx = both.context("no-dockerfile", "", **{"page.txt": "hello\n"})
    (ctx / "Dockerfile").unlink()
    ours, theirs = both.build(ctx)
    assert theirs.status == 1, theirs.stderr
    assert ours.status == theirs.status, ours.stderr
    assert "cannot find the Dockerfile" in ours.stderr
    assert len(ours.stderr.splitlines()) == 1, ours.stderr


# -- 2. ARGs before FROM are steps --------------------------------------------------------------


def test_args_before_from_are_numbered_steps(both: SideBySide) -> None:
    ctx = both.context(
        "args",
        f'ARG BASE={BASE}\nARG GREETING=hello\nFROM $BASE\nARG GREETING\nRUN echo "$GREETING"\n',
    )
    first = both.same(ctx, "--no-cache")
    assert first.lines[1:5] == [
        f"Step 1/5 : ARG BASE={BASE}",
        "Step 2/5 : ARG GREETING=hello",
        "Step 3/5 : FROM $BASE",
        " ---> <1>",
    ]
    assert "hello" in first.lines
    again = both.same(ctx)
    assert again.lines.count(" ---> Using cache") == 2
    # a build arg changes the value, not the steps
    both.same(ctx, "--build-arg", "GREETING=bonjour")


def test_args_before_from_count_before_every_stage(both: SideBySide) -> None:
    ctx = both.context(
        "stages",
        f"ARG BASE={BASE}\nFROM $BASE AS build\nRUN echo built > /out\n"
        "FROM $BASE\nCOPY --from=build /out /out\nCMD cat /out\n",
    )
    first = both.same(ctx, "--no-cache")
    assert first.lines[1] == f"Step 1/6 : ARG BASE={BASE}"
    assert "Step 4/6 : FROM $BASE" in first.lines


# -- 3. ONBUILD triggers ------------------------------------------------------------------------


def test_onbuild_triggers_run_inside_the_from_step(both: SideBySide) -> None:
    parent = both.context(
        "parent",
        f"FROM {BASE}\nONBUILD RUN echo triggered > /trigger && echo from the trigger\n"
        "ONBUILD ENV TRIGGERED=1\n",
    )
    both.same(parent, "--no-cache", "-t", "parity/parent:1")
    one = both.context("one-trigger", f"FROM {BASE}\nONBUILD RUN echo only one\n")
    both.same(one, "--no-cache", "-t", "parity/one-trigger:1")

    child = both.context("child", "FROM parity/parent:1\nRUN cat /trigger\nCMD env\n")
    first = both.same(child, "--no-cache")
    assert first.lines[1:4] == [
        "Step 1/3 : FROM parity/parent:1",
        "# Executing 2 build triggers",
        " ---> Running in <1>",
    ]
    assert first.lines.count("Step 1/3 : FROM parity/parent:1") == 1
    cached = both.same(child)
    assert cached.lines[2:5] == ["# Executing 2 build triggers"] + [" ---> Using cache"] * 2

    single = both.context("child-of-one", "FROM parity/one-trigger:1\n")
    assert "# Executing 1 build trigger" in both.same(single, "--no-cache").lines


# -- 4. config steps "run in" a container too ----------------------------------------------------

EVERY_KIND_OF_STEP = f"""\
FROM {BASE}
MAINTAINER someone <a@b.c>
ENV A=1 B="two words"
LABEL a=1 "b c"="d e"
EXPOSE 80 53/udp
ARG WHO=world
VOLUME /data
WORKDIR /srv
WORKDIR /made/by/workdir
USER nobody
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=5s CMD true
SHELL ["/bin/sh", "-c"]
ONBUILD RUN echo child
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["echo hi"]
COPY file.txt /srv/
ADD file.txt /srv/added.txt
RUN echo "$WHO" && id -u
"""


def test_config_steps_print_their_intermediate_container(both: SideBySide) -> None:
    ctx = both.context("every", EVERY_KIND_OF_STEP, **{"file.txt": "content\n"})
    first = both.same(ctx, "--no-cache", "-t", "parity/every:1")
    running = [n for n, line in enumerate(first.lines) if line.startswith(" ---> Running in ")]
    # every step but FROM, COPY and ADD: 19 steps, 16 containers
    assert len(running) == 16
    for n in running:  # removed before the step's image is printed
        container = first.lines[n].removeprefix(" ---> Running in ")
        assert f"Removing intermediate container {container}" in first.lines[n + 1 : n + 4]
    cached = both.same(ctx, "-t", "parity/every:1")
    assert not any("Running in" in line for line in cached.lines)
