"""Benchmark: purging 200,000 results of a retired job in batches, with bounded memory.

    .venv/bin/python bench/bench_purge.py [--engines sqlite,postgresql] [--results 200000] [--batch-size 1000]

Builds a sandbox with one job holding N results (each with a log entry and a console entry), retires
it with `purge_results: true` (the ids are captured server-side by INSERT ... SELECT), then measures
the purge: wall time, transactions, and Python's peak traced memory, which must not grow with N.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
import uuid
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory
from types import MappingProxyType

from sqlalchemy import URL, Engine, create_engine, func, insert, select, text
from table import print_table

from reconciler.apply import ApplyOptions, apply
from reconciler.diagnostics import Location
from reconciler.discovery.types import DiscoveredJob, Discovery, SourceKind
from reconciler.fields import FieldValues
from reconciler.manifest.types import DesiredState, JobEntry, Pin, RetireEntry
from reconciler.nautobot.connect import DatabaseTarget, create_db_engine
from reconciler.nautobot.tables import extras_job, extras_jobconsoleentry, extras_joblogentry, extras_jobresult
from reconciler.plan.planner import PlanSettings
from reconciler.sandbox import build_sandbox

CHUNK = 10_000


def seed(engine: Engine, results: int) -> None:
    now = datetime.now(UTC)
    with engine.begin() as c:
        job_id = c.execute(select(extras_job.c.id).where(extras_job.c.job_class_name == "Old")).scalar_one()
    for start in range(0, results, CHUNK):
        ids = [uuid.uuid4() for _ in range(min(CHUNK, results - start))]
        with engine.begin() as c:
            c.execute(insert(extras_jobresult), [
                {"id": i, "name": "old", "date_created": now, "status": "SUCCESS", "_custom_field_data": {},
                 "job_model_id": job_id, "task_args": [], "task_kwargs": {}, "celery_kwargs": {}, "cancel_type": "",
                 "canceled_by_user_name": ""} for i in ids])  # fmt: skip
            c.execute(insert(extras_joblogentry), [
                {"id": uuid.uuid4(), "job_result_id": i, "log_level": "info", "grouping": "main", "message": "x",
                 "created": now, "log_object": "", "absolute_url": ""} for i in ids])  # fmt: skip
            c.execute(insert(extras_jobconsoleentry), [
                {"id": uuid.uuid4(), "job_result_id": i, "timestamp": now, "output_type": "output", "text": "x"}
                for i in ids])  # fmt: skip


def measure(engine: Engine, results: int, batch_size: int) -> dict[str, str]:
    at = Location("bench.yaml", 1, 1)
    code = Discovery((
        DiscoveredJob("legacy", "Old", SourceKind.JOBS_ROOT, at, FieldValues(grouping="legacy", name="Old")),
        DiscoveredJob("legacy", "Keep", SourceKind.JOBS_ROOT, at, FieldValues(grouping="legacy", name="Keep")),
    ))  # fmt: skip
    build_sandbox(engine, code)
    started = time.perf_counter()
    seed(engine, results)
    seed_s = time.perf_counter() - started
    desired = DesiredState(
        jobs=(JobEntry("legacy.Keep", at, MappingProxyType({"enabled": Pin(True, at)})),),
        retire=(RetireEntry("legacy.Old", at, purge_results=True, force=True),),
        files=("bench.yaml",),
    )
    batches: list[int] = []
    tracemalloc.start()
    started = time.perf_counter()
    result = apply(engine, desired, Discovery(code.jobs[1:]), PlanSettings(allow_mass_delete=True),
                   ApplyOptions(batch_size=batch_size, progress=lambda _p, done, _t: batches.append(done)))  # fmt: skip
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    with engine.connect() as c:
        left = c.execute(select(func.count()).select_from(extras_jobresult)).scalar_one()
        logs = c.execute(select(func.count()).select_from(extras_joblogentry)).scalar_one()
    assert result.purged == results and left == 0 and logs == 0
    return {
        "results": f"{results:,}",
        "batch size": str(batch_size),
        "batches (transactions)": str(len(batches)),
        "apply incl. purge": f"{elapsed:.1f} s",
        "results/s": f"{results / elapsed:,.0f}",
        "peak traced memory": f"{peak / 2**20:.1f} MiB",
        "seeding": f"{seed_s:.1f} s",
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--results", type=int, default=200_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    args = parser.parse_args()
    rows = []
    for name in args.engines.split(","):
        with TemporaryDirectory() as workdir:
            if name == "sqlite":
                url = URL.create("sqlite", database=str(Path(workdir) / "purge.db"))
                admin = None
            else:
                admin = create_engine("postgresql+psycopg://postgres@127.0.0.1/postgres", isolation_level="AUTOCOMMIT")
                with admin.connect() as c:
                    c.execute(text("DROP DATABASE IF EXISTS nbjobs_bench_purge"))
                    c.execute(text("CREATE DATABASE nbjobs_bench_purge"))
                url = URL.create("postgresql+psycopg", username="postgres", host="127.0.0.1",
                                 database="nbjobs_bench_purge")  # fmt: skip
            engine = create_db_engine(DatabaseTarget(url, "bench"))
            rows.append({"engine": name, **measure(engine, args.results, args.batch_size)})
            engine.dispose()
            if admin is not None:
                with admin.connect() as c:
                    c.execute(text("DROP DATABASE nbjobs_bench_purge"))
    print_table(rows)


if __name__ == "__main__":
    main()
