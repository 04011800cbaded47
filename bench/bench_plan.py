"""Benchmark: queries, time and memory of plan and apply for 10 and 5,000 jobs.

    .venv/bin/python bench/bench_plan.py [--engines sqlite,postgresql] [--sizes 10,5000]

Builds a sandbox per size (synthetic job classes spread over 50 modules, three task queues), then
measures a plan (snapshot + pure planner) against a manifest that pins three fields on every job
through one glob and enables every tenth job exactly, applies it, and plans again. Prints a Markdown
table (the README quotes it). PostgreSQL runs against 127.0.0.1 in a throwaway database.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from tempfile import TemporaryDirectory
from types import MappingProxyType

from sqlalchemy import URL, Engine, create_engine, event, text
from table import print_table

from reconciler.apply import apply
from reconciler.diagnostics import Location
from reconciler.discovery.types import DiscoveredJob, Discovery, SourceKind
from reconciler.fields import FieldValues
from reconciler.manifest.types import DesiredState, JobEntry, Pin
from reconciler.nautobot.connect import DatabaseTarget, create_db_engine
from reconciler.nautobot.snapshot import read_snapshot
from reconciler.plan.planner import PlanSettings, plan
from reconciler.sandbox import build_sandbox


def synthetic_code(count: int) -> Discovery:
    jobs = []
    for i in range(count):
        module = f"bench_jobs.m{i % 50}"
        values = FieldValues(grouping=module, name=f"Bench job {i}", time_limit=float(60 + i % 600))
        jobs.append(DiscoveredJob(module, f"Job{i}", SourceKind.JOBS_ROOT, Location(f"{module}.py", i + 1, 1), values,
                                  task_queues=("default", f"q{i % 3}")))  # fmt: skip
    return Discovery(tuple(jobs))


def manifest(code: Discovery) -> DesiredState:
    at = Location("bench.yaml", 1, 1)
    glob = JobEntry("bench_jobs.*", at, MappingProxyType({
        "hidden": Pin(True, at), "time_limit": Pin(900.0, at), "description": Pin("benchmarked", at)}))  # fmt: skip
    exact = tuple(JobEntry(job.class_path, at, MappingProxyType({"enabled": Pin(True, at)})) for job in code.jobs[::10])
    return DesiredState(jobs=(glob, *exact), files=("bench.yaml",))


@contextmanager
def counting(engine: Engine) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(*args: object) -> None:
        if not str(args[2]).startswith("BEGIN"):  # transaction control, not a query
            statements.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


def measure(engine: Engine, size: int) -> dict[str, str]:
    code = synthetic_code(size)
    desired = manifest(code)
    started = time.perf_counter()
    build_sandbox(engine, code)
    sandbox_s = time.perf_counter() - started

    tracemalloc.start()
    with counting(engine) as statements, engine.connect() as connection:
        started = time.perf_counter()
        snapshot = read_snapshot(connection)
        read_s = time.perf_counter() - started
    started = time.perf_counter()
    result = plan(desired, code, snapshot, PlanSettings())
    plan_s = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    with counting(engine) as apply_statements:
        started = time.perf_counter()
        applied = apply(engine, desired, code, PlanSettings())
        apply_s = time.perf_counter() - started
    with engine.connect() as connection:
        assert plan(desired, code, read_snapshot(connection), PlanSettings()).is_empty
    return {
        "jobs": str(size),
        "plan queries": str(len(statements)),
        "snapshot": f"{read_s * 1000:.0f} ms",
        "planner": f"{plan_s * 1000:.0f} ms",
        "peak memory (plan)": f"{peak / 2**20:.1f} MiB",
        "operations": str(len(result.operations)),
        "apply": f"{apply_s:.2f} s",
        "apply queries": str(len(apply_statements)),
        "change-log rows": str(applied.object_changes),
        "sandbox build": f"{sandbox_s:.2f} s",
    }


def engines(names: list[str], workdir: Path) -> Iterator[tuple[str, Engine, object]]:
    for name in names:
        if name == "sqlite":
            yield (
                name,
                create_db_engine(DatabaseTarget(URL.create("sqlite", database=str(workdir / "b.db")), "b")),
                None,
            )
        elif name == "postgresql":
            admin = create_engine("postgresql+psycopg://postgres@127.0.0.1/postgres", isolation_level="AUTOCOMMIT")
            with admin.connect() as c:
                c.execute(text("DROP DATABASE IF EXISTS nbjobs_bench"))
                c.execute(text("CREATE DATABASE nbjobs_bench"))
            url = URL.create("postgresql+psycopg", username="postgres", host="127.0.0.1", database="nbjobs_bench")
            yield name, create_db_engine(DatabaseTarget(url, "bench")), admin


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--sizes", default="10,5000")
    args = parser.parse_args()
    rows = []
    for size in [int(s) for s in args.sizes.split(",")]:
        with TemporaryDirectory() as workdir:
            for name, engine, admin in engines(args.engines.split(","), Path(workdir)):
                rows.append({"engine": name, **measure(engine, size)})
                engine.dispose()
                if admin is not None:
                    with admin.connect() as c:  # type: ignore[attr-defined]
                        c.execute(text("DROP DATABASE nbjobs_bench"))
    print_table(rows)


if __name__ == "__main__":
    main()
