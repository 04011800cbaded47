"""Benchmark: static discovery against its floor, `ast.parse` of the same files, at 1,000 and 10,000 jobs.

    .venv/bin/python bench/bench_discovery.py [--sizes 1000,10000] [--shapes workload,rich] [--runs 5]
    .venv/bin/python bench/bench_discovery.py --profile [--sizes 1000] [--shapes workload]

For each shape of job code (bench/discovery_data.py: `workload` is the speed issue's workload, `rich`
is job code with a shared base class, imports, variables and real run methods) and size, the files are
written to a temporary JOBS_ROOT (50 modules) and then, alternating in one process (medians of --runs):

- parse: reading and `ast.parse` of every module file (the floor: discovery cannot do less);
- discover: `discover(jobs_root=...)`, which parses, checks with `compile()` and replays the imports and
  class bodies statically.

The ratio is given for wall time and for CPU time (process_time), which other work on a shared machine
disturbs less.

The target (issue 16) is discover/parse <= 3. `--profile` prints, instead of the table, cProfile's
summary of one discovery: the calls of `compile` (ast.parse counts as one too), `ast.walk`,
`ast.iter_child_nodes` and the functions taking most time.
"""

from __future__ import annotations

import argparse
import ast
import cProfile
import io
import platform
import pstats
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from tempfile import TemporaryDirectory

from discovery_data import MODULES, SHAPES, write_shape
from table import print_table

from reconciler.discovery.sources import discover


def parse_all(files: list[Path]) -> None:
    for path in files:
        ast.parse(path.read_bytes(), filename=str(path))


def timed(action: Callable[[], object]) -> tuple[float, float]:
    """Wall and CPU seconds of one run (CPU time is what a loaded, shared machine disturbs least)."""
    wall, cpu = time.perf_counter(), time.process_time()
    action()
    return time.perf_counter() - wall, time.process_time() - cpu


def check(root: Path, jobs: int) -> None:
    """Every written class is discovered, with no problem: a fast discovery that misses jobs is no result."""
    found = discover(jobs_root=root)
    assert len(found.jobs) == jobs and not found.problems, (len(found.jobs), found.problems[:3])


def measure(shape: str, jobs: int, runs: int) -> dict[str, str]:
    with TemporaryDirectory(prefix="nbjobs-bench-discovery-") as directory:
        root = Path(directory)
        files = write_shape(shape, root, jobs)
        check(root, jobs)
        parse_runs, discover_runs = [], []
        for _ in range(runs):  # alternating, so that both see the same machine load
            parse_runs.append(timed(lambda: parse_all(files)))
            discover_runs.append(timed(lambda: discover(jobs_root=root)))
        size_kb = sum(path.stat().st_size for path in files) / 1024
    parse_wall, parse_cpu = (statistics.median(run[i] for run in parse_runs) for i in (0, 1))
    discover_wall, discover_cpu = (statistics.median(run[i] for run in discover_runs) for i in (0, 1))
    return {
        "shape": shape,
        "jobs": f"{jobs:,}",
        "files": f"{len(files)} ({size_kb:,.0f} KiB)",
        "parse": f"{parse_wall * 1000:,.0f} ms",
        "discover": f"{discover_wall * 1000:,.0f} ms",
        "discover/parse": f"{discover_wall / parse_wall:.2f}",
        "discover/parse (CPU)": f"{discover_cpu / parse_cpu:.2f}",
    }


def profile(shape: str, jobs: int) -> None:
    with TemporaryDirectory(prefix="nbjobs-bench-discovery-") as directory:
        root = Path(directory)
        write_shape(shape, root, jobs)
        profiler = cProfile.Profile()
        started = time.perf_counter()
        profiler.enable()
        discover(jobs_root=root)
        profiler.disable()
        elapsed = time.perf_counter() - started
    stats = pstats.Stats(profiler)
    counts = {"compile": 0, "walk": 0, "iter_child_nodes": 0, "parse": 0}
    for (filename, _line, function), (_cc, calls, *_rest) in stats.stats.items():  # type: ignore[attr-defined]
        if function == "<built-in method builtins.compile>":
            counts["compile"] += calls
        elif filename.endswith("ast.py") and function in counts:
            counts[function] += calls
    print(f"## {shape}, {jobs:,} jobs in {MODULES} modules: discovery {elapsed:.2f} s under cProfile")
    print(", ".join(f"{name}: {count:,} calls" for name, count in counts.items()))
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(15)
    print(out.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--shapes", default=",".join(SHAPES))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    shapes = args.shapes.split(",")
    if args.profile:
        for shape in shapes:
            for size in sizes:
                profile(shape, size)
        return
    print(f"Python {platform.python_version()} on {platform.machine()}, medians of {args.runs} runs\n")
    print_table([measure(shape, size, args.runs) for shape in shapes for size in sizes])


if __name__ == "__main__":
    main()
