"""The tutorial's Dockerfile built at each isolation level, side by side (and by Docker); and the
tutorial notebook as root on this machine and as uid 1000 in a default container.

    .venv/bin/python bench/levels.py [--runs N] [--no-notebook] [--update-readme]   (as root)

Builds the tutorial's Dockerfile (``apt-get install ruby ruby-sinatra``, ``ADD``, a ``useradd``
and ``chown``, ``USER``) with ``--no-cache`` after an untimed ``import`` of the Debian base:

- by Docker's classic builder (a private dockerd, ``--network host``), for scale;
- on this machine as root, at each level asked for (``--isolation namespaces|chroot|ptrace``);
- inside ``docker run`` with Docker's default security (the private engine and offline test
  image of ``tests/support``), where each situation picks its level itself: root (chroot),
  uid 1000 (ptrace), uid 1000 with ``seccomp=unconfined`` (ptrace: the kernel refuses the
  sub-id range there).

Then (unless ``--no-notebook``) the tutorial notebook, executed by nbclient from its first cell
to its last, as root on this machine (namespaces) and as uid 1000 in a default container
(ptrace). One measurement at a time: nothing else of this script runs meanwhile.

Every build fetches the same packages from Debian's mirror, so the network is part of every
number alike. Writes ``bench/levels.md`` (medians, ratios against the namespaces level and
against Docker) and ``bench/levels.json`` (the samples); ``--update-readme`` also puts the table
into README.md between its ``levels-bench`` markers.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from workloads import machine  # noqa: E402

from tests.levels.test_in_containers import APP, DOCKERFILE, NOTEBOOK, RUN_NOTEBOOK  # noqa: E402
from tests.support.dockerd import DockerEngine  # noqa: E402
from tests.support.registry import Registry  # noqa: E402
from tests.support.testimage import TestImage, build  # noqa: E402

NBDOCKER = [sys.executable, "-m", "nbdocker"]


def _shared(root: Path, debian: Path) -> None:
    """What every run reads: the Debian base, the build context, the notebook."""
    ctx = root / "ctx"
    (ctx / "myApp").mkdir(parents=True)
    (ctx / "Dockerfile").write_text(DOCKERFILE)
    (ctx / "myApp" / "app.rb").write_text(APP)
    shutil.copyfile(debian, root / "debian.tar")
    shutil.copyfile(REPO / "notebooks" / NOTEBOOK, root / "notebook.ipynb")
    (root / "run_notebook.py").write_text(RUN_NOTEBOOK)
    for path in [root, *root.rglob("*")]:
        path.chmod(0o777 if path.is_dir() else 0o644)


def host_build(level: str, shared: Path) -> float:
    home = Path(tempfile.mkdtemp(prefix="nbd-levels-"))
    env = {**os.environ, "NBDOCKER_HOME": str(home)}
    try:
        subprocess.run(
            [*NBDOCKER, "import", shared / "debian.tar", "debian:bookworm"],
            env=env,
            check=True,
            capture_output=True,
        )
        start = time.monotonic()
        subprocess.run(
            [*NBDOCKER, "build", "--no-cache", "--isolation", level, "-t", "t:1", shared / "ctx"],
            env=env,
            check=True,
            capture_output=True,
        )
        return time.monotonic() - start
    finally:
        shutil.rmtree(home, ignore_errors=True)


def host_notebook(shared: Path, rootfs_cache: Path, registry: str) -> float:
    out = Path(tempfile.mkdtemp(prefix="nbd-levels-nb-"))
    env = {
        **os.environ,
        "NBDOCKER_HOME": str(out / "store"),
        "NBDOCKER_ROOTFS_CACHE": str(rootfs_cache),
        "NBDOCKER_TUTORIAL_REGISTRY": f"{registry}/host",
    }
    try:
        shutil.copyfile(shared / "notebook.ipynb", out / "tutorial.ipynb")
        subprocess.run(
            [sys.executable, "-c", RUN_NOTEBOOK, str(out / "tutorial.ipynb"), str(out)],
            env=env,
            check=True,
            capture_output=True,
        )
        return float((out / "notebook-seconds.txt").read_text())
    finally:
        shutil.rmtree(out, ignore_errors=True)


SCRIPT = """
export NBDOCKER_HOME="$HOME/store"
nbdocker import /shared/debian.tar debian:bookworm >/dev/null
level=$(nbdocker info | sed -n 's/^Isolation: //p')
start=$(date +%s.%N)
nbdocker build --no-cache -t t:1 /shared/ctx >/dev/null
end=$(date +%s.%N)
echo "$level $start $end"
"""

NOTEBOOK_SCRIPT = """
export NBDOCKER_HOME="$HOME/store"
cp /shared/notebook.ipynb "$HOME/tutorial.ipynb"
mkdir -p "$HOME/out"
python3 /shared/run_notebook.py "$HOME/tutorial.ipynb" "$HOME/out"
cat "$HOME/out/notebook-seconds.txt"
"""


def _in_container(
    image: TestImage,
    script: str,
    user: str,
    unconfined: bool,
    volumes: Mapping[str, str],
    env: Mapping[str, str] = {},
) -> str:
    done = image.run(script, user=user, seccomp_unconfined=unconfined, volumes=volumes, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{user}: {done.stderr[-2000:]}")
    return done.stdout


def docker_build(engine: DockerEngine, shared: Path) -> float:
    """Docker's classic builder, the same Dockerfile, ``--no-cache``, the host's network."""
    start = time.monotonic()
    engine.run(
        "build", "--no-cache", "--network", "host", "-t", "t:1", shared / "ctx", timeout=3600
    )
    return time.monotonic() - start


NAMESPACES = "tutorial build, host root, --isolation namespaces"
DOCKER = "tutorial build, host, docker build (classic builder)"
NOTEBOOK_NAMESPACES = "notebook, host root, namespaces"


def render(
    samples: Mapping[str, list[float]],
    command: str,
    started: str,
    minutes: float,
    runs: int,
    info: Mapping[str, str],
) -> str:
    """The results file: how it was measured, then one row per measurement with its ratios."""

    def median(key: str) -> float:
        return statistics.median(samples[key]) if key in samples else math.nan

    def ratio(value: float, against: float) -> str:
        return "—" if math.isnan(against) else f"{value / against:.2f}×"

    shown = ", ".join(f"{k} {v}" for k, v in info.items() if k != "buildah")
    lines = [
        "# Isolation levels: the tutorial build",
        "",
        f"Command: `{command}` — started {started}, took {minutes:.0f} min, {runs} run(s) each.",
        "",
        f"Machine: {shown}. Each build is `--no-cache` after an untimed import of the same "
        "Debian base and fetches the same packages from Debian's mirror (the network is part of "
        "every number alike). Ratios are of medians.",
        "",
        "| what, where | level | median (min–max) | vs namespaces | vs docker |",
        "|---|---|---|---|---|",
    ]
    for key, values in samples.items():
        what, _, level = key.rpartition(", ")
        if key == DOCKER:
            what, level = key, "—"
        value = statistics.median(values)
        notebook = key.startswith("notebook")
        base = median(NOTEBOOK_NAMESPACES if notebook else NAMESPACES)
        lines.append(
            f"| {what} | {level} | {value:.0f} s ({min(values):.0f}–{max(values):.0f}) "
            f"| {ratio(value, base)} | {ratio(value, math.nan if notebook else median(DOCKER))} |"
        )
    return "\n".join(lines) + "\n"


def update_readme(readme: Path, results: str) -> None:
    """Replace what sits between README.md's ``levels-bench`` markers with the table."""
    text = readme.read_text()
    begin, end = "<!-- levels-bench -->\n", "<!-- /levels-bench -->\n"
    head, _, tail = text.partition(begin)
    _, _, tail = tail.partition(end)
    if not tail:
        raise SystemExit("README.md has no levels-bench markers")
    body = results.split("\n", 2)[2]  # without the results file's own title
    readme.write_text(head + begin + body + end + tail)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--no-notebook", action="store_true")
    parser.add_argument("--update-readme", action="store_true")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "levels.md")
    args = parser.parse_args()
    if os.geteuid() != 0:
        parser.error("run as root: the private dockerd and the host's chroot level need it")
    from nbdocker.notebook.rootfs import debian_rootfs

    command = "python bench/levels.py " + shlex.join(sys.argv[1:])
    started, began = time.strftime("%Y-%m-%d %H:%M"), time.monotonic()
    info = machine()  # (the revision measured, the load when it started)
    debian = debian_rootfs()
    shared = Path(tempfile.mkdtemp(prefix="nbd-levels-shared-", dir="/tmp"))
    _shared(shared, debian)
    samples: dict[str, list[float]] = {}
    engine = DockerEngine(tempfile.mkdtemp(prefix="nbd-", dir="/tmp"))
    registry = Registry(Path(tempfile.mkdtemp(prefix="nbd-registry-", dir="/tmp")))
    engine.start()
    registry.start()

    def note(key: str, seconds: float) -> None:
        samples.setdefault(key, []).append(seconds)
        print(f"{key}: {seconds:.1f} s", file=sys.stderr)

    try:
        image = build(engine)
        engine.run("import", shared / "debian.tar", "debian:bookworm", timeout=900)
        volumes = {str(shared): "/shared", str(debian.parent): "/shared-rootfs:ro"}
        env = {"NBDOCKER_ROOTFS_CACHE": "/shared-rootfs"}
        for _ in range(args.runs):
            note(DOCKER, docker_build(engine, shared))
            for level in ("namespaces", "chroot", "ptrace"):
                note(f"tutorial build, host root, --isolation {level}", host_build(level, shared))
            for name, user, unconfined in (
                ("container root", "root", False),
                ("container uid 1000", "jovyan", False),
                ("container uid 1000 seccomp=unconfined", "jovyan", True),
            ):
                out = _in_container(image, SCRIPT, user, unconfined, volumes)
                level, start, end = out.split()[-3:]
                note(f"tutorial build, {name}, auto: {level}", float(end) - float(start))
            if not args.no_notebook:
                seconds = host_notebook(shared, debian.parent, registry.host)
                note(NOTEBOOK_NAMESPACES, seconds)
                env["NBDOCKER_TUTORIAL_REGISTRY"] = f"{registry.host}/container"
                out = _in_container(image, NOTEBOOK_SCRIPT, "jovyan", False, volumes, env)
                note("notebook, container uid 1000, auto: ptrace", float(out.split()[-1]))
    finally:
        registry.stop()
        engine.stop()
        shutil.rmtree(shared, ignore_errors=True)
    text = render(samples, command, started, (time.monotonic() - began) / 60, args.runs, info)
    args.out.write_text(text)
    args.out.with_suffix(".json").write_text(
        json.dumps({"command": command, "samples": samples}, indent=2) + "\n"
    )
    if args.update_readme:
        update_readme(REPO / "README.md", text)
    print(text)


if __name__ == "__main__":
    main()
