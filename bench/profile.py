"""Profile the nbdocker side of a workload with py-spy, the way bench/run.py times it.

    python bench/profile.py copytree [runwrite …] [--out bench/profiles] [--rate 200]

Why py-spy rather than cProfile: it samples from outside without slowing Python down much,
follows the sandbox's child processes (``--subprocesses``) and, with ``--idle``, also counts
time spent waiting (on a child, a pipe, the disk), which is where wall time often goes. The
set-up and per-run reset are bench/run.py's own (``workloads.Bench``), so the profile is of
exactly the command the table measured. For each command it writes py-spy's collapsed stacks
(``<out>/<workload>-<n>-{wall,cpu}.folded``, loadable in speedscope or flamegraph.pl) and prints:

- wall time of the profiled runs (py-spy adds a little);
- wall phases: shares of the main thread's samples (idle included) per function;
- CPU: shares of busy samples of all threads, per function and per line (hot spots).
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import REPO, VENV_PYTHON, BenchError, Registry, run, unmount_below  # noqa: E402
from run import base_tarball  # noqa: E402
from workloads import Bench, Case  # noqa: E402

PY_SPY = REPO / ".venv" / "bin" / "py-spy"
_LINE = re.compile(r" \((?P<file>[^()]*):\d+\)$")


def _function(frame: str, *, line: bool = False) -> str:
    """``func (path/to/mod.py:123)`` → ``mod.py:func`` (or ``mod.py:123 func`` with `line`)."""
    match = _LINE.search(frame)
    if not match:
        return frame.strip()
    name = frame[: match.start()].strip()
    path = match.group("file")
    marker = "nbdocker/"
    short = path[path.rindex(marker) :] if marker in path else os.path.basename(path)
    if line:
        number = frame[match.start() :].rsplit(":", 1)[1].rstrip(")")
        return f"{short}:{number} {name}"
    return f"{short}:{name}"


def _stacks(folded: Path) -> Iterator[tuple[list[str], int]]:
    """(code frames outermost first, sample count) of py-spy's raw output, minus the
    ``process …`` / ``thread …`` pseudo-frames."""
    for text in folded.read_text(errors="replace").splitlines():
        stack, _, count_text = text.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        frames = [f for f in stack.split(";") if f and not f.startswith(("process ", "thread "))]
        if frames:
            yield frames, int(count_text)


def _table(counter: collections.Counter[str], total: int, top: int) -> list[str]:
    return [f"  {100 * n / total:5.1f}%  {name}" for name, n in counter.most_common(top)]


def summarise(wall: Path, cpu: Path, top: int = 14) -> str:
    """Phases of wall time and CPU hot spots from two py-spy recordings of the same command.

    - *wall phases*: of the main thread's samples in the ``--idle`` recording (it is sampled
      whether running or waiting, so a share is a share of wall time), the fraction whose
      stack holds the function;
    - *CPU hot spots*: of all samples of busy threads (recording without ``--idle``), the
      fraction whose innermost Python line is this one — a line calling into C (hashing,
      compression, a syscall) counts that C time as its own.
    """
    phases: collections.Counter[str] = collections.Counter()
    main_total = 0
    for frames, count in _stacks(wall):
        if not frames[0].startswith("<module> (nbdocker:"):
            continue  # another thread: its time overlaps the main thread's
        main_total += count
        for name in {_function(f) for f in frames}:
            phases[name] += count
    hot: collections.Counter[str] = collections.Counter()
    busy: collections.Counter[str] = collections.Counter()
    cpu_total = 0
    for frames, count in _stacks(cpu):
        cpu_total += count
        hot[_function(frames[-1], line=True)] += count
        for name in {_function(f) for f in frames}:
            busy[name] += count
    out = [f"wall phases ({main_total} main-thread samples, idle included):"]
    out += _table(phases, max(main_total, 1), top)
    out += ["", f"CPU, inclusive ({cpu_total} busy samples, all threads):"]
    out += _table(busy, max(cpu_total, 1), top)
    out += ["", "CPU hot spots (self, by line):"]
    out += _table(hot, max(cpu_total, 1), top)
    return "\n".join(out) + "\n"


def import_times(case: Case, top: int = 12) -> str:
    """``python -X importtime`` of the case's first nbdocker command: what start-up costs.

    Why: a fully cached build does almost nothing, so the CLI's wall time is mostly the
    interpreter starting and importing modules; this says which ones."""
    argv = case.commands[0]
    if Path(argv[0]).name != "nbdocker":
        return ""
    cmd = [str(VENV_PYTHON), "-X", "importtime", "-m", "nbdocker", *argv[1:]]
    start = time.perf_counter()
    result = run(cmd, env=case.env, cwd=case.cwd, timeout=case.timeout)
    seconds = time.perf_counter() - start
    rows: list[tuple[int, int, str]] = []
    for line in result.stderr.decode(errors="replace").splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        own_us, cumulative_us, module = line[12:].split("|")
        rows.append((int(cumulative_us), int(own_us), module[1:].rstrip()))  # indent = nesting
    total = sum(row[1] for row in rows)
    tops = [r for r in rows if not r[2].startswith(" ")]  # top-level imports only
    out = [f"`-X importtime` run: wall {seconds:.3f} s, imports {total / 1e6:.3f} s in total"]
    out += ["top-level imports by cumulative time:"]
    for cumulative, _, module in sorted(tops, reverse=True)[:top]:
        out.append(f"  {cumulative / 1e3:7.1f} ms  {module.strip()}")
    return "\n".join(out) + "\n"


def profile_case(case: Case, name: str, out: Path, rate: int) -> str:
    """Reset as bench/run.py does, then run each command of the case twice under py-spy:
    with ``--idle`` (wall phases) and without (CPU); each run gets its own reset."""
    report = []
    for index, argv in enumerate(case.commands, 1):
        files = {}
        seconds = {}
        for mode, flags in (("wall", ["--idle"]), ("cpu", [])):
            case.reset()
            os.sync()
            for before in case.commands[: index - 1]:  # e.g. pull before profiling run
                run(before, env=case.env, cwd=case.cwd, timeout=case.timeout)
            files[mode] = out / f"{name}-{index}-{mode}.folded"
            spy = [str(PY_SPY), "record", "--rate", str(rate), "--subprocesses", "--threads"]
            spy += [*flags, "--format", "raw", "--output", str(files[mode]), "--"]
            start = time.perf_counter()
            run([*spy, *argv], env=case.env, cwd=case.cwd, timeout=case.timeout)
            seconds[mode] = time.perf_counter() - start
        shown = " ".join(Path(a).name if "/" in a else a for a in argv)
        report.append(f"### {name}: `{shown}`")
        report.append(
            f"wall {seconds['wall']:.2f} s / {seconds['cpu']:.2f} s under py-spy "
            "(idle / busy recordings)\n"
        )
        report.append(summarise(files["wall"], files["cpu"]))
    return "\n".join(report)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("workloads", nargs="+", help="steps10-cold, steps10-cached, copytree, …")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "profiles")
    parser.add_argument("--rate", type=int, default=200, help="samples per second")
    parser.add_argument(
        "--importtime", action="store_true", help="also break down start-up imports"
    )
    args = parser.parse_args()
    if not PY_SPY.exists():
        parser.error(f"{PY_SPY} missing: .venv/bin/pip install py-spy")
    args.out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="nbdp-", dir="/tmp"))
    registry: Registry | None = None
    try:
        if {"push", "pull"} & set(args.workloads):
            registry = Registry(tmp / "registry").start()
        bench = Bench(tmp, base_tarball(), None, None, registry)
        bench.import_base()
        makers = {
            "steps10-cold": bench.steps10_cold,
            "steps10-cached": bench.steps10_cached,
            "copytree": bench.copytree,
            "runwrite": bench.runwrite,
            "commit": bench.commit,
            "push": bench.push,
            "pull": bench.pull,
            "images": bench.images,
        }
        for name in args.workloads:
            workload = makers[name]()
            text = profile_case(workload.cases[0], name, args.out, args.rate)
            if args.importtime:
                text += "\n" + import_times(workload.cases[0])
            (args.out / f"{name}.txt").write_text(text)
            print(text, flush=True)
        if "commit" in args.workloads:
            bench.cleanup_commit()
    except BenchError as exc:
        print(f"failed: {exc}", file=sys.stderr)
        return 1
    finally:
        if registry is not None:
            registry.stop()
        unmount_below(tmp)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
