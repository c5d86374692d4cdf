"""nbdocker side by side with the Docker engine's builder and buildah.

    python bench/run.py [--workloads steps10,copytree,…] [--runs N] [--out bench/results.md]

Starts its own dockerd (private socket and data root in a temp dir) and registry, makes each
workload's inputs, then runs nbdocker and the other tools ALTERNATING (A B A B …) — so a slow
phase of the machine hits both — and writes a table of medians, nbdocker/other ratios against
the issue's targets, and nbdocker's peak memory. Everything it starts is stopped and its temp
dir deleted at exit (``finally``); the host's Docker state is never touched.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (  # noqa: E402
    BUILDAH,
    DOCKER,
    REPO,
    BenchError,
    Buildah,
    DockerEngine,
    Registry,
    Sample,
    Stats,
    run,
    run_timed,
    unmount_below,
)
from workloads import Bench, InProcessResult, Workload, machine  # noqa: E402

WORKLOADS = ("steps10", "copytree", "runwrite", "commit", "push", "pull", "images")
BASE_CACHE = Path.home() / ".cache" / "nbdocker-bench" / "bookworm-minbase.tar"
MEMORY_TARGET_MIB = 150.0
INPROCESS_TARGET_MS = 20.0
SLOW_RUNS = 3


@dataclass(frozen=True)
class Row:
    """One line of the table: nbdocker against one other tool on one workload."""

    workload: str
    other: str
    nbd: Stats
    them: Stats | None
    target: float | None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        return None if self.them is None else self.nbd.median / self.them.median

    @property
    def met(self) -> bool | None:
        if self.target is None or self.ratio is None:
            return None
        return self.ratio <= self.target


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def base_tarball() -> Path:
    """The Debian minbase rootfs, made once with mmdebstrap and cached outside the repo."""
    if not BASE_CACHE.exists():
        BASE_CACHE.parent.mkdir(parents=True, exist_ok=True)
        partial = BASE_CACHE.with_suffix(".partial.tar")
        log(f"mmdebstrap → {BASE_CACHE} (once)")
        run(
            [
                "mmdebstrap",
                "--variant=minbase",
                "--format=tar",
                "bookworm",
                str(partial),
                "http://deb.debian.org/debian",
            ],
            timeout=900,
        )
        partial.rename(BASE_CACHE)
    return BASE_CACHE


def measure(workload: Workload, runs: int) -> list[Row]:
    """Run the workload's cases alternating, `runs` times each; one Row per other tool."""
    samples: dict[str, list[Sample]] = {case.tool: [] for case in workload.cases}
    for index in range(runs):
        for case in workload.cases:
            case.reset()
            os.sync()  # the previous run's dirty pages must not be flushed on this run's clock
            sample = run_timed(case.commands, env=case.env, cwd=case.cwd, timeout=case.timeout)
            samples[case.tool].append(sample)
            log(
                f"  {workload.name} #{index + 1} {case.tool}: {sample.seconds:.3f} s, "
                f"{sample.max_rss_mib:.0f} MiB"
            )
    nbd = Stats.of(samples["nbdocker"])
    others = [case.tool for case in workload.cases if case.tool != "nbdocker"]
    if not others:
        return [Row(workload.name, "—", nbd, None, None, workload.note)]
    return [
        Row(
            workload.name,
            tool,
            nbd,
            Stats.of(samples[tool]),
            workload.targets.get(tool),
            workload.note,
        )
        for tool in others
    ]


# ---------------------------------------------------------------------- report


def _fmt_stats(stats: Stats | None) -> str:
    if stats is None:
        return "—"
    if stats.high < 1:  # sub-second rows in milliseconds: two decimals of a second hide a ratio
        return f"{stats.median * 1000:.0f} ms ({stats.low * 1000:.0f}–{stats.high * 1000:.0f})"
    return f"{stats.median:.2f} s ({stats.low:.2f}–{stats.high:.2f})"


def _mark(ok: bool | None) -> str:
    return "" if ok is None else (" ✓" if ok else " ✗")


def render(
    rows: list[Row],
    inprocess: InProcessResult | None,
    command: str,
    info: dict[str, str],
    started: str,
    elapsed: float,
    runs: int,
    slow_runs: int,
) -> str:
    lines = [
        "| workload | nbdocker median (min–max) | vs | other median (min–max) | "
        "nbdocker/other | target | nbdocker peak MiB |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        ratio = "—" if row.ratio is None else f"{row.ratio:.2f}×"
        target = "—" if row.target is None else f"≤ {row.target:g}×{_mark(row.met)}"
        mem_ok = row.nbd.peak_mib <= MEMORY_TARGET_MIB
        lines.append(
            f"| {row.workload} | {_fmt_stats(row.nbd)} | {row.other} | "
            f"{_fmt_stats(row.them)} | {ratio} | {target} | "
            f"{row.nbd.peak_mib:.0f}{_mark(mem_ok)} |"
        )
    if inprocess is not None:
        times = inprocess.times_ms
        median = statistics.median(times)
        ok = median <= INPROCESS_TARGET_MS
        lines.append(
            f"| steps10 cached (in-process `Engine().build`) | {median:.1f} ms "
            f"({min(times):.1f}–{max(times):.1f}) | — | — | — | "
            f"≤ {INPROCESS_TARGET_MS:g} ms{_mark(ok)} | "
            f"{inprocess.peak_mib:.0f}{_mark(inprocess.peak_mib <= MEMORY_TARGET_MIB)} |"
        )
    notes = sorted({f"- {row.workload}: {row.note}" for row in rows if row.note})
    body = [
        "# Benchmark results",
        "",
        f"Command: `{command}` — started {started}, took {elapsed / 60:.1f} min.",
        "",
        "Machine: "
        + ", ".join(f"{key} {value}" for key, value in info.items())
        + ". Each run is a fresh process timed from outside; tools alternate run by run. "
        f"Runs: {runs} per tool for the quick workloads, {slow_runs} for "
        "copytree/runwrite/commit/push/pull. "
        "Ratios are of medians; targets are the issue's; ✗ marks a miss. Peak MiB is the "
        "ru_maxrss of nbdocker's process and the processes it waited for (its RUN commands "
        "included); for docker only the client would be measured, so it is not shown. Rows "
        "against a tool without a target are for context.",
        "",
        *lines,
        "",
        *notes,
        "- steps10 cold: `build --no-cache` of FROM + ten `RUN echo … > /fN`; cached: the same "
        "build again with a warm cache.",
        "- copytree: `COPY . /app` of 20,000 small files + 20 × 10 MiB; runwrite: one RUN "
        "writing 256 MiB as 32,768 files of 8 KiB; commit: only the `commit` of a container "
        "that wrote that; push: a ~500 MB image to an empty registry; images: listing 500.",
        "",
    ]
    return "\n".join(body)


def update_readme(readme: Path, results: str) -> None:
    """Replace (or append) the README's last section, "## Benchmarks", with the table."""
    text = readme.read_text()
    marker = "\n## Benchmarks\n"
    head = text.split(marker)[0].rstrip("\n")
    table = results.split("\n", 2)[2]  # drop the results file's own title
    section = (
        f"{marker}\n"
        "`bench/run.py` runs nbdocker, the Docker engine's classic builder (a private dockerd) "
        "and buildah on the same workloads and compares medians; `bench/profile.py` profiles "
        "nbdocker's side with py-spy and `bench/PROFILE.md` says where its time goes and what "
        "made it faster. Docker's own times vary a lot on this machine's disk (its pull took "
        "5–10 s on the same day), so read a ratio together with both ranges. Latest results "
        "(`bench/results.md`):\n\n" + table
    )
    readme.write_text(head + "\n" + section.rstrip("\n") + "\n")


# ---------------------------------------------------------------------- services


@contextlib.contextmanager
def services(tmp: Path, want_docker: bool, want_buildah: bool, want_registry: bool) -> Iterator[
    tuple[DockerEngine | None, Buildah | None, Registry | None]
]:  # fmt: skip
    """Start what the chosen workloads need; stop all of it whatever happens."""
    docker: DockerEngine | None = None
    buildah: Buildah | None = None
    registry: Registry | None = None
    try:
        if want_docker and os.access(DOCKER, os.X_OK):
            log("starting a private dockerd")
            docker = DockerEngine(tmp / "docker").start()
        elif want_docker:
            log(f"{DOCKER} not found: docker columns are skipped")
        if want_buildah and os.access(BUILDAH, os.X_OK):
            buildah = Buildah(tmp / "buildah")
        if want_registry:
            registry = Registry(tmp / "registry").start()
        yield docker, buildah, registry
    finally:
        if registry is not None:
            registry.stop()
        if buildah is not None:
            buildah.close()
        if docker is not None:
            docker.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1].strip())
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--runs", type=int, default=5, help="runs per tool (default 5)")
    parser.add_argument(
        "--slow-runs",
        type=int,
        default=None,
        help=f"runs for copytree/runwrite/commit/push/pull (default min(runs, {SLOW_RUNS}))",
    )
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results.md")
    parser.add_argument(
        "--update-readme", action="store_true", help="also rewrite README.md's Benchmarks section"
    )
    args = parser.parse_args(argv)
    chosen = [w.strip() for w in args.workloads.split(",") if w.strip()]
    unknown = sorted(set(chosen) - set(WORKLOADS))
    if unknown:
        parser.error(f"unknown workloads {unknown}; choose from {','.join(WORKLOADS)}")
    if os.geteuid() != 0:
        parser.error("run as root: the private dockerd and buildah's overlay storage need it")
    slow_runs = args.slow_runs if args.slow_runs is not None else min(args.runs, SLOW_RUNS)
    command = "python bench/run.py " + shlex.join(
        argv if argv is not None else sys.argv[1:]
    )  # fmt: skip
    command = command.rstrip()
    started = time.strftime("%Y-%m-%d %H:%M")
    began = time.monotonic()

    info = machine()
    rows: list[Row] = []
    inprocess: InProcessResult | None = None
    raw: dict[str, object] = {}
    tmp = Path(tempfile.mkdtemp(prefix="nbdb-", dir="/tmp"))  # short: docker's socket paths
    try:
        base = base_tarball()
        need_registry = bool({"push", "pull"} & set(chosen))
        with services(tmp, True, True, need_registry) as (docker, buildah, registry):
            bench = Bench(tmp, base, docker, buildah, registry)
            log("importing the Debian base into each tool")
            bench.import_base()
            for name in WORKLOADS:  # a fixed order: pull and images empty docker's store
                if name not in chosen:
                    continue
                makers = {
                    "steps10": [bench.steps10_cold, bench.steps10_cached],
                    "copytree": [bench.copytree],
                    "runwrite": [bench.runwrite],
                    "commit": [bench.commit],
                    "push": [bench.push],
                    "pull": [bench.pull],
                    "images": [bench.images],
                }[name]
                for make in makers:
                    log(f"{name}: preparing")
                    workload = make()
                    runs = slow_runs if workload.slow else args.runs
                    new = measure(workload, runs)
                    rows.extend(new)
                    raw[workload.name] = [asdict(r) for r in new]
                if name == "steps10":
                    log("steps10: in-process cached rebuilds")
                    inprocess = bench.steps10_inprocess(max(args.runs, 10))
                    raw["steps10 in-process"] = asdict(inprocess)
                if name == "commit":
                    bench.cleanup_commit()
    except BenchError as exc:
        log(f"failed: {exc}")
        return 1
    finally:
        unmount_below(tmp)
        shutil.rmtree(tmp, ignore_errors=True)

    elapsed = time.monotonic() - began
    text = render(rows, inprocess, command, info, started, elapsed, args.runs, slow_runs)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    args.out.with_suffix(".json").write_text(
        json.dumps({"command": command, "machine": info, "results": raw}, indent=2) + "\n"
    )
    if args.update_readme:
        update_readme(REPO / "README.md", text)
    print(text)
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
    sys.exit(130)
