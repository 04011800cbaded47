"""`make bench` / `make bench-quick`: every speed target beside its floor, written to bench/RESULTS.md.

    .venv/bin/python bench/run.py [--quick] [--out bench/RESULTS.md] [--only SECTION,...]

--quick runs 1,000 jobs only, with the smaller fleet and purge (under 5 minutes); the full run adds
10,000 jobs and the million-result purge (under 30). Each section is one of the bench/ scripts, which
also run alone. A target that does not hold is marked MISS in the table: the run itself still succeeds,
since a benchmark reports, it does not gate (the tests guard against hangs and blow-ups instead).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from table import markdown_table


@dataclass
class Section:
    title: str
    rows: list[dict[str, str]]
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


def verdict(value: float, limit: float) -> str:
    return f"{value:.2f}x (target <= {limit:g}x: {'ok' if value <= limit else '**MISS**'})"


def whole_process(quick: bool) -> Section:
    from whole_process import measure, ratios

    rows: list[dict[str, str]] = []
    sizes = (1000,) if quick else (1000, 10000)
    per_engine: dict[tuple[str, int], dict[str, float]] = {}
    for engine in ("postgresql", "sqlite"):
        for size in sizes:
            with tempfile.TemporaryDirectory(prefix="nbjobs_bench_") as work:
                m = measure(engine, size, 3 if size <= 1000 else 1, Path(work))
            per_engine[(engine, size)] = m
            r = ratios(m)
            floor = m["read"] + m["parse"] + m["imports"]
            rows.append({
                "engine": engine, "jobs": f"{size:,}",
                "python -c pass": f"{m['bare']:.3f} s",
                "--help": f"{m['help']:.3f} s, {verdict(r['help/bare'], 5)}",
                "--version": f"{m['version']:.3f} s, {verdict(r['version/bare'], 5)}",
                "floor (read + parse + imports)": f"{m['read']:.3f} + {m['parse']:.3f} + {m['imports']:.3f} = "
                                                  f"{floor:.3f} s",
                "plan": f"{m['plan']:.3f} s, {verdict(r['plan/floor'], 2)} floor",
                "apply": f"{m['apply']:.3f} s, {verdict(r['apply/plan'], 1.5)} plan",
                "write phase": f"{m['write']:.3f} s, {verdict(r['write/write_floor'], 5)} "
                               f"{m['write_floor']:.3f} s floor",
            })  # fmt: skip
    notes = ["Medians of 3 runs at 1,000 jobs, one run at 10,000, in one process, alternating measures."]
    for engine in ("postgresql", "sqlite"):
        small, large = per_engine.get((engine, 1000)), per_engine.get((engine, 10000))
        if small and large:
            growth = (large["plan"] - large["help"]) / (small["plan"] - small["help"])
            notes.append(f"{engine}: the plan's own work (plan minus start) grows {growth:.1f}x from 1,000 to "
                         f"10,000 jobs (target <= 11x: {'ok' if growth <= 11 else 'MISS'}).")  # fmt: skip
    return Section("Whole processes against their floors", rows, notes)


SECTIONS: dict[str, Callable[[bool], Section]] = {
    "whole": whole_process,
}


def machine() -> list[str]:
    cpu = "unknown CPU"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    versions = []
    for command in (["psql", "--version"], ["mariadb", "--version"]):
        try:
            versions.append(subprocess.run(command, capture_output=True, text=True).stdout.strip())
        except OSError:
            continue
    return [f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB, {platform.platform()}",
            f"Python {platform.python_version()}; " + "; ".join(versions)]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 jobs only, the smaller fleet and purge")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("RESULTS.md"))
    parser.add_argument("--only", help="comma-separated sections: " + ", ".join(SECTIONS))
    args = parser.parse_args()
    chosen = args.only.split(",") if args.only else list(SECTIONS)
    started = time.monotonic()
    sections = []
    for name in chosen:
        began = time.monotonic()
        print(f"bench: {name} ...", file=sys.stderr, flush=True)
        section = SECTIONS[name](args.quick)
        section.seconds = time.monotonic() - began
        sections.append(section)
    lines = ["# nbjobs benchmark results", "",
             f"`{'make bench-quick' if args.quick else 'make bench'}` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
             f"{time.monotonic() - started:.0f} s in all.", "", *(f"- {line}" for line in machine()), ""]  # fmt: skip
    for section in sections:
        lines += [f"## {section.title}", "", *markdown_table(section.rows), ""]
        lines += [f"- {note}" for note in section.notes]
        lines += [f"- (this section took {section.seconds:.0f} s)", ""]
    args.out.write_text("\n".join(lines))
    print(f"bench: wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
