"""The workloads of the issue, each as nbdocker and the other tools doing the same job.

Every workload generates its own inputs under the run's temp dir (nothing large is committed)
and does its untimed set-up when it is first asked for, so ``--workloads`` only pays for what
it runs. A :class:`Case` is one tool's way of doing the job: a ``reset`` (untimed, before every
run: what makes "cold" cold) and the timed commands.
"""

from __future__ import annotations

import io
import json
import os
import random
import shutil
import subprocess
import tarfile
import textwrap
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from harness import (
    DOCKER,
    NBDOCKER,
    REPO,
    VENV_PYTHON,
    BenchError,
    Buildah,
    DockerEngine,
    Registry,
    run,
)

BASE = "bench/debian:bookworm"
WRITE_256M = "mkdir /data && head -c 268435456 /dev/urandom | split -b 8192 -a 5 - /data/f"
# ~330 MB of random data in six files: with the ~170 MB base, an image of about 500 MB.
WRITE_330M = (
    "mkdir /blob && for i in 1 2 3 4 5 6; do head -c 55000000 /dev/urandom > /blob/r$i; done"
)
IMAGES_COUNT = 500


def _noop() -> None:
    pass


@dataclass
class Case:
    """One tool's way of running a workload. ``env`` may be changed by ``reset`` (a fresh
    store for pull)."""

    tool: str
    commands: list[list[str]]
    env: dict[str, str]
    cwd: Path | None = None
    reset: Callable[[], None] = _noop
    timeout: float = 600.0


@dataclass
class Workload:
    """A row group of the report: nbdocker's case first, then the others; ``targets`` maps a
    tool to the largest nbdocker/tool ratio the issue accepts."""

    name: str
    cases: list[Case]
    slow: bool = False
    targets: dict[str, float] = field(default_factory=dict)
    note: str = ""


@dataclass
class InProcessResult:
    """The notebook path: one process, warmed up, building the same Dockerfile again."""

    times_ms: list[float]
    peak_mib: float


class Bench:
    """The state shared by the workloads: temp dir, stores, daemons, the base image."""

    def __init__(
        self,
        tmp: Path,
        base_tar: Path,
        docker: DockerEngine | None,
        buildah: Buildah | None,
        registry: Registry | None,
    ) -> None:
        self.tmp = tmp
        self.base_tar = base_tar
        self.docker = docker
        self.buildah = buildah
        self.registry = registry
        self.nbd_home = tmp / "nbdocker"
        self.nbd_env = dict(os.environ, NBDOCKER_HOME=str(self.nbd_home))
        self.nbd_env.pop("NBDOCKER_COMPRESSION", None)  # the default (gzip) is what users get
        # A user's Python caches bytecode; without it every CLI run recompiles the modules it
        # has no .pyc for (~50 ms here), which is not what users see.
        self.nbd_env.pop("PYTHONDONTWRITEBYTECODE", None)
        self._docker_pushed_base = False

    # ------------------------------------------------------------------ tools

    def nbd(self, *args: str) -> list[str]:
        return [str(NBDOCKER), *args]

    def dk(self, *args: str) -> list[str]:
        return [DOCKER, *args]

    @property
    def dk_env(self) -> dict[str, str]:
        assert self.docker is not None
        return self.docker.env

    def bh(self, *args: str) -> list[str]:
        assert self.buildah is not None
        return [*self.buildah.argv, *args]

    def nbd_run(self, *args: str, timeout: float = 600, check: bool = True) -> None:
        run(self.nbd(*args), env=self.nbd_env, timeout=timeout, check=check)

    def dk_run(self, *args: str, timeout: float = 600, check: bool = True) -> None:
        run(self.dk(*args), env=self.dk_env, timeout=timeout, check=check)

    def bh_run(self, *args: str, timeout: float = 600, check: bool = True) -> None:
        assert self.buildah is not None
        run(self.bh(*args), env=self.buildah.env, timeout=timeout, check=check)

    # ------------------------------------------------------------------ set-up

    def import_base(self) -> None:
        """The Debian base in every tool, the tutorial's way (``import``); buildah gets
        nbdocker's ``save`` of it. One ``run`` unpacks it in nbdocker, as docker's import and
        buildah's pull already did, so no workload pays for that."""
        self.nbd_run("import", str(self.base_tar), BASE, timeout=300)
        self.nbd_run("run", "--rm", "--network", "host", BASE, "true", timeout=300)
        if self.docker is not None:
            self.ensure_docker_base()
        if self.buildah is not None:
            archive = self.tmp / "base-save.tar"
            self.nbd_run("save", "-o", str(archive), BASE, timeout=300)
            self.buildah.load_base(archive, BASE)
            archive.unlink()

    def ensure_docker_base(self) -> None:
        """Import the base into docker unless it is there (pull and images empty the store)."""
        assert self.docker is not None
        probe = run(self.dk("image", "inspect", BASE), env=self.dk_env, check=False)
        if probe.returncode != 0:
            self.dk_run("import", str(self.base_tar), BASE, timeout=300)

    def docker_wipe(self) -> None:
        """Remove every image, container and cache entry of the private engine."""
        assert self.docker is not None
        ids = run(self.dk("ps", "-aq"), env=self.dk_env).stdout.decode().split()
        if ids:
            self.dk_run("rm", "-f", *ids)
        ids = run(self.dk("images", "-aq"), env=self.dk_env).stdout.decode().split()
        if ids:
            self.dk_run("rmi", "-f", *sorted(set(ids)), check=False)
        self.dk_run("system", "prune", "-af", check=False)

    def dockerfile_dir(self, name: str, dockerfile: str) -> Path:
        directory = self.tmp / name
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "Dockerfile").write_text(dockerfile)
        return directory

    def rmi_resets(self, tag: str) -> dict[str, Callable[[], None]]:
        """Per-tool resets that drop the previous run's image, so stores do not grow."""

        def nbd() -> None:
            self.nbd_run("rmi", "-f", tag, check=False)

        def dk() -> None:
            self.dk_run("rmi", "-f", tag, check=False)
            self.dk_run("image", "prune", "-f", check=False)

        def bh() -> None:
            self.bh_run("rmi", "-f", tag, check=False)
            self.bh_run("rmi", "--prune", check=False)

        return {"nbdocker": nbd, "docker": dk, "buildah": bh}

    def build_cases(
        self, directory: Path, tag: str, *, no_cache: bool, tools: tuple[str, ...]
    ) -> list[Case]:
        """``build`` of `directory` in each available tool of `tools` (nbdocker first)."""
        flag = ["--no-cache"] if no_cache else []
        resets = self.rmi_resets(tag) if no_cache else {}
        cases = [
            Case(
                "nbdocker",
                [self.nbd("build", *flag, "--network", "host", "-t", tag, ".")],
                self.nbd_env,
                directory,
                resets.get("nbdocker", _noop),
            )
        ]
        if "docker" in tools and self.docker is not None:
            cases.append(
                Case(
                    "docker",
                    [self.dk("build", *flag, "--network", "host", "-t", tag, ".")],
                    self.dk_env,
                    directory,
                    resets.get("docker", _noop),
                )
            )
        if "buildah" in tools and self.buildah is not None:
            layers = ["--layers"] if not no_cache else []
            cases.append(
                Case(
                    "buildah",
                    [self.bh("bud", "--isolation", "chroot", *flag, *layers, "-t", tag, ".")],
                    self.buildah.env,
                    directory,
                    resets.get("buildah", _noop),
                )
            )
        return cases

    # ------------------------------------------------------------------ workloads

    def steps10_dir(self) -> Path:
        lines = [f"FROM {BASE}"] + [f"RUN echo step {i} > /f{i}" for i in range(1, 11)]
        return self.dockerfile_dir("steps10", "\n".join(lines) + "\n")

    def steps10_cold(self) -> Workload:
        cases = self.build_cases(
            self.steps10_dir(), "bench/steps10:cold", no_cache=True, tools=("docker", "buildah")
        )
        return Workload("steps10 cold", cases, targets={"docker": 0.5})

    def steps10_cached(self) -> Workload:
        """A warm cache: one untimed build first, then each run rebuilds everything cached."""
        directory = self.steps10_dir()
        cases = self.build_cases(
            directory, "bench/steps10:cached", no_cache=False, tools=("docker", "buildah")
        )
        for case in cases:
            run(case.commands[0], env=case.env, cwd=directory, timeout=300)
        return Workload("steps10 cached (CLI)", cases, targets={"docker": 1.0})

    def steps10_inprocess(self, runs: int) -> InProcessResult:
        """``Engine().build`` in one process: warm-up, then `runs` timed cached rebuilds."""
        directory = self.steps10_dir()
        snippet = textwrap.dedent(
            """
            import json, resource, sys, time
            from nbdocker.engine import Engine
            from nbdocker.engine.engine import BuildOptions

            engine = Engine()
            options = BuildOptions(tags=("bench/steps10:inprocess",), network="host")
            engine.build(sys.argv[1], options)  # warm-up (and fills the cache)
            times = []
            for _ in range(int(sys.argv[2])):
                start = time.perf_counter()
                engine.build(sys.argv[1], options)
                times.append((time.perf_counter() - start) * 1000)
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(json.dumps({"times_ms": times, "peak_mib": peak}))
            """
        )
        out = run(
            [str(VENV_PYTHON), "-c", snippet, str(directory), str(runs)],
            env=self.nbd_env,
            timeout=300,
        )
        data = json.loads(out.stdout.decode().strip().splitlines()[-1])
        return InProcessResult(data["times_ms"], data["peak_mib"])

    def copytree(self) -> Workload:
        """``COPY . /app`` of 20,000 small files (64 B–1 KiB, 40 dirs) and 20 × 10 MiB."""
        directory = self.tmp / "copytree"
        if not directory.exists():
            rng = random.Random(20000)
            for i in range(20000):
                sub = directory / "small" / f"d{i // 500:03d}"
                sub.mkdir(parents=True, exist_ok=True)
                (sub / f"f{i:05d}.txt").write_bytes(rng.randbytes(64 + i % 1000))
            (directory / "big").mkdir()
            for i in range(20):
                (directory / "big" / f"b{i:02d}.bin").write_bytes(os.urandom(10 << 20))
            (directory / "Dockerfile").write_text(f"FROM {BASE}\nCOPY . /app\n")
        cases = self.build_cases(
            directory, "bench/copytree", no_cache=True, tools=("buildah", "docker")
        )
        return Workload("copytree", cases, slow=True, targets={"buildah": 0.25})

    def runwrite(self) -> Workload:
        directory = self.dockerfile_dir("runwrite", f"FROM {BASE}\nRUN {WRITE_256M}\n")
        cases = self.build_cases(
            directory, "bench/runwrite", no_cache=True, tools=("docker", "buildah")
        )
        return Workload("runwrite", cases, slow=True, targets={"docker": 0.5})

    def commit(self) -> Workload:
        """Untimed: a container writes 256 MiB as 32,768 files; timed: only ``commit``."""
        name, tag = "bench-commit", "bench/commit:1"

        def nbd_reset() -> None:
            self.nbd_run("rm", "-f", name, check=False)
            self.nbd_run("rmi", "-f", tag, check=False)
            self.nbd_run("run", "--network", "host", "--name", name, BASE, "sh", "-c", WRITE_256M)

        def dk_reset() -> None:
            self.dk_run("rm", "-f", name, check=False)
            self.dk_run("rmi", "-f", tag, check=False)
            self.dk_run("run", "--network", "host", "--name", name, BASE, "sh", "-c", WRITE_256M)

        cases = [Case("nbdocker", [self.nbd("commit", name, tag)], self.nbd_env, reset=nbd_reset)]
        if self.docker is not None:
            self.ensure_docker_base()
            cases.append(
                Case("docker", [self.dk("commit", name, tag)], self.dk_env, reset=dk_reset)
            )
        return Workload("commit", cases, slow=True, targets={"docker": 0.5})

    def cleanup_commit(self) -> None:
        self.nbd_run("rm", "-f", "bench-commit", check=False)
        if self.docker is not None:
            self.dk_run("rm", "-f", "bench-commit", check=False)

    def wipe_registry(self) -> None:
        """An empty registry: stop it, delete its storage, start it again on the same port
        (no blob-descriptor cache is configured, but a restart rules out any)."""
        assert self.registry is not None
        self.registry.stop()
        shutil.rmtree(self.registry.directory / "data", ignore_errors=True)
        self.registry.start()

    def big_image(self, tag_nbd: str, tag_dk: str) -> None:
        """The ~500 MB image (base + 330 MB of random data), built once in each tool."""
        directory = self.dockerfile_dir("big", f"FROM {BASE}\nRUN {WRITE_330M}\n")
        run(self.nbd("build", "--network", "host", "-t", tag_nbd, "."), env=self.nbd_env,
            cwd=directory)  # fmt: skip
        if self.docker is not None:
            self.ensure_docker_base()
            run(self.dk("build", "--network", "host", "-t", tag_dk, "."), env=self.dk_env,
                cwd=directory)  # fmt: skip

    def push(self) -> Workload:
        assert self.registry is not None
        host = self.registry.host
        nbd_ref, dk_ref = f"{host}/bench/push-nbdocker:big", f"{host}/bench/push-docker:big"
        self.big_image(nbd_ref, dk_ref)
        cases = [
            Case("nbdocker", [self.nbd("push", nbd_ref)], self.nbd_env, reset=self.wipe_registry)
        ]
        if self.docker is not None:
            cases.append(
                Case("docker", [self.dk("push", dk_ref)], self.dk_env, reset=self.wipe_registry)
            )
        return Workload("push", cases, slow=True, targets={"docker": 0.25})

    def pull(self) -> Workload:
        """Both tools pull the same image (nbdocker pushed it) into an empty store, ready to
        run: nbdocker's timing includes the first ``run --rm IMG true`` (as root its layers
        unpack during the pull, as docker's do; rootless they would unpack at that run).

        Each nbdocker run gets a new empty store, and the old ones are deleted with the run's
        temp dir, not just before the next run: on this machine's ext4 (no journal), a new file
        costs about half a millisecond when the inodes freed in the last minute are skipped,
        and deleting the ~9,000 entries of the previous run right before pulling again set the
        pull's time. Users pull into stores they have not just emptied."""
        assert self.registry is not None
        ref = f"{self.registry.host}/bench/pull:big"
        self.big_image(ref, f"{self.registry.host}/bench/unused:big")
        self.wipe_registry()
        self.nbd_run("push", ref)
        stores = self.tmp / "nbdocker-pull"
        stores.mkdir(exist_ok=True)
        nbd_case = Case(
            "nbdocker",
            [self.nbd("pull", ref), self.nbd("run", "--rm", "--network", "host", ref, "true")],
            dict(self.nbd_env),
        )

        def nbd_reset() -> None:
            home = stores / f"run-{len(list(stores.iterdir()))}"
            home.mkdir()
            nbd_case.env["NBDOCKER_HOME"] = str(home)

        nbd_case.reset = nbd_reset
        cases = [nbd_case]
        if self.docker is not None:
            cases.append(
                Case("docker", [self.dk("pull", ref)], self.dk_env, reset=self.docker_wipe)
            )
        return Workload(
            "pull",
            cases,
            slow=True,
            targets={"docker": 0.5},
            note="nbdocker: pull + run --rm IMG true (the first run: as root, layers unpack "
            "during pull, as in docker), each into a new empty store",
        )

    def images(self) -> Workload:
        """500 distinct tiny images in an otherwise empty store of each tool."""
        tars = self.tmp / "tiny"
        tars.mkdir(exist_ok=True)
        for i in range(IMAGES_COUNT):
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w") as tf:
                data = f"image {i}\n".encode()
                info = tarfile.TarInfo("id")
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
            (tars / f"{i:03d}.tar").write_bytes(buf.getvalue())
        home = self.tmp / "nbdocker-images"
        snippet = textwrap.dedent(
            """
            import sys
            from pathlib import Path
            from nbdocker.engine import Engine

            engine = Engine()
            for tar in sorted(Path(sys.argv[1]).iterdir()):
                engine.import_image(str(tar), f"bench/img{tar.stem}:latest")
            """
        )
        env = dict(self.nbd_env, NBDOCKER_HOME=str(home))
        run([str(VENV_PYTHON), "-c", snippet, str(tars)], env=env, timeout=600)
        cases = [Case("nbdocker", [self.nbd("images")], env)]
        if self.docker is not None:
            self.docker_wipe()
            docker_env = self.dk_env

            def one(i: int) -> None:
                tar = tars / f"{i:03d}.tar"
                run(self.dk("import", str(tar), f"bench/img{i:03d}:latest"), env=docker_env)

            with ThreadPoolExecutor(4) as pool:
                list(pool.map(one, range(IMAGES_COUNT)))
            count = len(run(self.dk("images", "-q"), env=docker_env).stdout.split())
            if count != IMAGES_COUNT:
                raise BenchError(f"docker has {count} images, expected {IMAGES_COUNT}")
            cases.append(Case("docker", [self.dk("images")], docker_env))
        return Workload("images (500)", cases)


def _revision() -> str:
    """The commit measured, and whether the engine's working tree differed from it (other
    engineers edit it while benchmarks run)."""

    def git(*args: str) -> str:
        result = subprocess.run(
            ["git", "-C", str(REPO), *args], capture_output=True, text=True, timeout=30
        )
        return result.stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = [line for line in git("status", "--porcelain", "nbdocker").splitlines() if line]
    return f"{head}" + (f" + {len(dirty)} uncommitted files in nbdocker/" if dirty else "")


def machine() -> dict[str, str]:
    """What the numbers were measured on."""

    def out(*argv: str) -> str:
        try:
            result = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return "n/a"
        return (result.stdout or result.stderr).strip().splitlines()[0] if result.stdout else "n/a"

    mem_kib = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    return {
        "nproc": str(os.cpu_count()),
        "memory": f"{mem_kib / 1024 / 1024:.0f} GiB",
        "kernel": os.uname().release,
        "docker": out(DOCKER, "--version").removeprefix("Docker version "),
        "buildah": out("buildah", "--version").removeprefix("buildah version "),
        "python": out(str(VENV_PYTHON), "--version"),
        "nbdocker": _revision(),
        # The machine may be shared (other test suites): say how busy it was at the start.
        "load average at start": " ".join(f"{x:.1f}" for x in os.getloadavg()),
    }
