"""SIGKILL at a random point of a command, and what the store must look like afterwards.

Shared by ``tests/engine/test_crashes.py`` (a few trials in CI) and ``bench/crashes.py`` (hundreds
of trials). A :class:`CrashLab` prepares one store with earlier images (an import, a build, a
commit, a load), then each :meth:`CrashLab.trial` starts one command — build, commit, load, push
or pull — as a CLI process in its own process group, kills the group with SIGKILL after a random
delay within the command's usual length, and checks what a user relies on:

- every earlier image is still listed with the same ID and still saves (all its blobs present
  and sound);
- ``fsck`` finds at most problems that ``fsck --repair`` puts right, and after the repair
  ``fsck`` is clean;
- the killed command, run again, succeeds.

:func:`worker` is one of several processes building, loading, tagging, removing and pruning on
one store at once (``tests/engine/test_crashes.py``'s concurrency test).
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from nbdocker.engine import Engine, ImageNotFound

OPERATIONS = ("build", "commit", "load", "push", "pull")
REGISTRY_OPERATIONS = ("push", "pull")


@dataclass
class Trial:
    operation: str
    delay: float  # seconds after the start when the kill was sent
    finished_first: bool  # the command had ended before the kill
    problems: list[str] = field(default_factory=list)  # what fsck found after the kill
    failures: list[str] = field(default_factory=list)  # what broke a guarantee (empty: passed)


@dataclass
class CrashLab:
    """One store (``home``) and the inputs of the commands killed in it."""

    home: Path
    work: Path
    busybox_tarball: Path
    registry_host: str | None = None  # for push and pull
    earlier: dict[str, str] = field(default_factory=dict)  # reference → image ID
    durations: dict[str, float] = field(default_factory=dict)  # operation → seconds, measured

    def cli(
        self, *args: str | os.PathLike[str], timeout: float = 300
    ) -> subprocess.CompletedProcess[bytes]:
        env = {**os.environ, "NBDOCKER_HOME": str(self.home)}
        return subprocess.run(
            [sys.executable, "-m", "nbdocker", *map(os.fspath, args)],
            env=env,
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=timeout,
            check=False,
        )

    def must(self, *args: str | os.PathLike[str]) -> str:
        result = self.cli(*args)
        if result.returncode != 0:
            raise AssertionError(f"nbdocker {args}: {result.stderr.decode()}")
        return result.stdout.decode()

    def prepare(self, measure: bool = True) -> None:
        """The earlier images every trial must leave intact, and each command's inputs; with
        ``measure``, how long each command takes (trials kill within that time)."""
        self.work.mkdir(parents=True, exist_ok=True)
        self.must("import", "-c", 'CMD ["/bin/sh"]', self.busybox_tarball, "base:1")
        ctx = self.work / "ctx"
        ctx.mkdir(exist_ok=True)
        (ctx / "data").write_bytes(os.urandom(200_000))
        (ctx / "Dockerfile").write_text(
            "FROM base:1\nCOPY data /data\nARG N=0\n"
            "RUN echo $N > /n && head -c 3000000 /dev/urandom > /big\n"
            "RUN cat /data /data > /twice\n"
        )
        self.must("build", "-q", "-t", "built:1", ctx)
        self.must("run", "--name", "changed", "base:1", "sh", "-c", "seq 1 200000 > /numbers")
        self.must("commit", "changed", "committed:1")
        other = CrashLab(self.work / "other-home", self.work / "other", self.busybox_tarball)
        other.must("import", "-c", "ENV FROM_ARCHIVE=1", self.busybox_tarball, "archived:1")
        (self.work / "big").write_bytes(os.urandom(2_000_000))
        volume = f"{self.work}:/in:ro"
        other.must("run", "--name", "w", "-v", volume, "archived:1", "cp", "/in/big", "/b")
        other.must("commit", "w", "archived:1")
        other.must("save", "-o", self.work / "archive.tar", "archived:1")
        if self.registry_host is not None:
            self.must("tag", "built:1", f"{self.registry_host}/crash/pulled:1")
            self.must("push", f"{self.registry_host}/crash/pulled:1")
            self.must("rmi", f"{self.registry_host}/crash/pulled:1")
        engine = Engine(self.home)
        self.earlier = {r.repository + ":" + r.tag: r.id for r in engine.images()}
        for operation in self.operations() if measure else ():
            self.set_up(operation, 0)
            started = time.monotonic()
            self.must(*self.command(operation, 0))
            self.durations[operation] = time.monotonic() - started
            self.reset(operation)

    def operations(self) -> Sequence[str]:
        if self.registry_host is None:
            return [o for o in OPERATIONS if o not in REGISTRY_OPERATIONS]
        return OPERATIONS

    def command(self, operation: str, n: int) -> list[str]:
        if operation == "build":
            return ["build", "--build-arg", f"N={n}", "-t", "victim:1", str(self.work / "ctx")]
        if operation == "commit":
            return ["commit", "changed", "victim:1"]
        if operation == "load":
            return ["load", "-i", str(self.work / "archive.tar")]
        if operation == "push":
            return ["push", f"{self.registry_host}/crash/pushed{n}:1"]
        if operation == "pull":
            return ["pull", f"{self.registry_host}/crash/pulled:1"]
        raise ValueError(operation)

    def reset(self, operation: str) -> None:
        """Undo what a completed command did, so the next trial starts from the same store."""
        names = ["victim:1", "archived:1", f"{self.registry_host}/crash/pulled:1"]
        names += [
            f"{r.repository}:{r.tag}"
            for r in Engine(self.home).images()
            if "/crash/pushed" in r.repository
        ]
        engine = Engine(self.home)
        for name in names:
            with contextlib.suppress(ImageNotFound):
                engine.remove([name])

    def set_up(self, operation: str, n: int) -> None:
        if operation == "push":
            Engine(self.home).tag("built:1", f"{self.registry_host}/crash/pushed{n}:1")

    def trial(self, operation: str, n: int, rng: random.Random) -> Trial:
        self.set_up(operation, n)
        delay = rng.uniform(0.05, max(0.1, self.durations.get(operation, 1.0)))
        env = {**os.environ, "NBDOCKER_HOME": str(self.home)}
        process = subprocess.Popen(
            [sys.executable, "-m", "nbdocker", *self.command(operation, n)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        time.sleep(delay)
        finished = process.poll() is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        result = Trial(operation, delay, finished)
        self.check(result)
        if not result.failures:
            again = self.cli(*self.command(operation, n))
            if again.returncode != 0:
                result.failures.append(f"run again, it failed: {again.stderr.decode().strip()}")
        self.reset(operation)
        return result

    def check(self, result: Trial) -> None:
        engine = Engine(self.home)
        listed = {r.repository + ":" + r.tag: r.id for r in engine.images()}
        for ref, image_id in self.earlier.items():
            if listed.get(ref) != image_id:
                result.failures.append(f"{ref} is now {listed.get(ref)}, was {image_id}")
                continue
            try:
                engine.save([ref], io.BytesIO())
            except Exception as exc:  # noqa: BLE001 - any failure is the finding
                result.failures.append(f"{ref} no longer saves: {exc}")
        found = engine.fsck()
        result.problems = [p.text for p in found.problems]
        if found.problems:
            repaired = engine.fsck(repair=True)
            result.failures += [
                f"fsck --repair left: {p.text}: {p.outcome}"
                for p in repaired.problems
                if not p.repaired
            ]
            after = engine.fsck()
            result.failures += [f"fsck after the repair: {p.text}" for p in after.problems]


def worker(home: str, number: int, rounds: int, ctx: str, archive: str, registry: str) -> None:
    """Round after round on the store at ``home``: build (steps shared with the other workers'
    builds, then one of its own), load the shared archive, pull an image from ``registry`` (all
    workers the same one), tag, remove the previous round's tags; worker 0 also removes what
    the others load and pull, and prunes. Raises on the first command that fails."""
    lab = CrashLab(Path(home), Path(ctx).parent, Path())
    for n in range(rounds):
        tag = f"w{number}/img:{n}"
        lab.must("build", "-q", "--build-arg", f"N={number}-{n}", "-t", tag, ctx)
        lab.must("load", "-i", archive)
        lab.must("pull", f"{registry}/crash/pulled:1")
        lab.must("tag", tag, f"w{number}/copy:{n}")
        if n:
            lab.must("rmi", f"w{number}/img:{n - 1}", f"w{number}/copy:{n - 1}")
        if number == 0:
            lab.must("image", "prune", "-f")
            lab.must("builder", "prune", "-f")
            lab.cli("rmi", "archived:1", f"{registry}/crash/pulled:1")


if __name__ == "__main__":
    home, number, rounds, ctx, archive, registry = sys.argv[1:7]
    worker(home, int(number), int(rounds), ctx, archive, registry)
