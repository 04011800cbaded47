"""Benchmark: purging a retired job's 1,000,000 results in batches, against plain batched DELETEs.

    .venv/bin/python bench/bench_purge.py [--engines sqlite,postgresql] [--results 1000000] [--batch-size 1000]
    .venv/bin/python bench/bench_purge.py --quick            # 20,000 results (make bench-quick)

The speed issue's target: nbjobs purges at least a third of the rate of plain batched SQL DELETEs of the
same rows, with a peak memory under 200 MB and no batch over one second.

A sandbox with two jobs is built, and one of them, legacy.Old, is given N results, each with a log entry
and a console entry, as Nautobot's tables hold them (extras_joblogentry and extras_jobconsoleentry rows
referencing extras_jobresult). Seeding runs inside the database: one template row is written through
SQLAlchemy and copied N times by INSERT ... SELECT over generate_series (PostgreSQL) or a recursive CTE
(SQLite), with fresh random ids; PostgreSQL is then VACUUM ANALYZEd, as a live database would be. Then,
each in a process of its own, on its own copy of the seeded database (CREATE DATABASE ... TEMPLATE, or a
file copy):

- **plain**: the floor. Batches of the same size, each one transaction of the driver alone (psycopg or
  sqlite3, no SQLAlchemy): SELECT the next batch of the job's result ids (PostgreSQL: the ids after the
  last batch's, in order; SQLite: any of them, LIMIT alone: each engine's fastest plain form), DELETE
  their log entries, console entries and file proxies, DELETE the results, COMMIT;
- **nbjobs**: an in-process apply (reconciler.apply.apply) of a manifest that retires legacy.Old with
  `purge_results: true`: it deletes the job (capturing its result ids by INSERT ... SELECT, in the
  apply's transaction), then purges them in batches, each its own transaction. Timed whole (the rate
  compared with the floor) and per batch (from the purge's start, then between progress callbacks).

Memory is the purging process's peak resident set (getrusage ru_maxrss, the whole process: interpreter
and imports included). PostgreSQL runs against 127.0.0.1 in the throwaway databases nbjobs_bench_purge*.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory
from types import MappingProxyType
from typing import Any

from sqlalchemy import URL, Engine, create_engine, func, insert, select, text
from table import print_table, verdict

import reconciler.apply as apply_module
from reconciler.apply import ApplyOptions, apply
from reconciler.diagnostics import Location
from reconciler.discovery.types import DiscoveredJob, Discovery, SourceKind
from reconciler.fields import FieldValues
from reconciler.manifest.types import DesiredState, JobEntry, Pin, RetireEntry
from reconciler.nautobot.connect import DatabaseTarget, create_db_engine
from reconciler.nautobot.tables import extras_job, extras_jobconsoleentry, extras_joblogentry, extras_jobresult
from reconciler.plan.planner import PlanSettings
from reconciler.sandbox import build_sandbox

DATABASE = "nbjobs_bench_purge"
PG_ADMIN = URL.create("postgresql+psycopg", username="postgres", host="127.0.0.1", port=5432, database="postgres")
# The speed issue's target: a third of the floor's rate, under 200 MB, no batch over a second.
RATE_SHARE, PEAK_MB, BATCH_SECONDS = 1 / 3, 200, 1.0
AT = Location("bench.yaml", 1, 1)
CODE = Discovery((
    DiscoveredJob("legacy", "Old", SourceKind.JOBS_ROOT, AT, FieldValues(grouping="legacy", name="Old")),
    DiscoveredJob("legacy", "Keep", SourceKind.JOBS_ROOT, AT, FieldValues(grouping="legacy", name="Keep")),
))  # fmt: skip
# The jobs of legacy that stay: Old's code is gone, and the manifest retires it with its results.
DESIRED = DesiredState(
    jobs=(JobEntry("legacy.Keep", AT, MappingProxyType({"enabled": Pin(True, AT)})),),
    retire=(RetireEntry("legacy.Old", AT, purge_results=True, force=True),),
    files=("bench.yaml",),
)


class Databases:
    """The seeded database of one engine and its copies, by suffix."""

    def __init__(self, engine_name: str, workdir: Path) -> None:
        if engine_name not in ("sqlite", "postgresql"):
            raise SystemExit(f"unknown engine {engine_name!r}: sqlite or postgresql")
        self.engine_name, self.workdir = engine_name, workdir
        self.admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT") if engine_name == "postgresql" else None
        self.made: list[str] = []

    def url(self, suffix: str = "") -> URL:
        if self.admin is None:
            return URL.create("sqlite", database=str(self.workdir / f"{DATABASE}{suffix}.db"))
        return PG_ADMIN.set(database=DATABASE + suffix)

    def create(self) -> None:
        self.made.append("")
        if self.admin is not None:
            self._sql(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)", f"CREATE DATABASE {DATABASE}")

    def copy(self, suffix: str) -> URL:
        self.made.append(suffix)
        if self.admin is None:
            shutil.copyfile(self.workdir / f"{DATABASE}.db", self.workdir / f"{DATABASE}{suffix}.db")
        else:
            self._sql(f"DROP DATABASE IF EXISTS {DATABASE}{suffix} WITH (FORCE)",
                      f"CREATE DATABASE {DATABASE}{suffix} TEMPLATE {DATABASE}")  # fmt: skip
        return self.url(suffix)

    def drop(self, suffix: str) -> None:
        if self.admin is None:
            (self.workdir / f"{DATABASE}{suffix}.db").unlink(missing_ok=True)
        else:
            self._sql(f"DROP DATABASE IF EXISTS {DATABASE}{suffix} WITH (FORCE)")

    def drop_all(self) -> None:
        for suffix in reversed(self.made):
            self.drop(suffix)
        if self.admin is not None:
            self.admin.dispose()

    def _sql(self, *statements: str) -> None:
        assert self.admin is not None
        with self.admin.connect() as connection:
            for statement in statements:
                connection.execute(text(statement))


def seed(engine: Engine, results: int) -> None:
    """legacy.Old's `results` results, a log entry and a console entry each: one template row of each
    table written through SQLAlchemy (so every column is encoded as the engine stores it), copied inside
    the database with fresh random ids."""
    now = datetime.now(UTC)
    result_id, log_id, console_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    with engine.begin() as c:
        job_id = c.execute(select(extras_job.c.id).where(extras_job.c.job_class_name == "Old")).scalar_one()
        c.execute(insert(extras_jobresult).values(
            id=result_id, name="old", date_created=now, status="SUCCESS", _custom_field_data={}, job_model_id=job_id,
            task_args=[], task_kwargs={}, celery_kwargs={}, cancel_type="", canceled_by_user_name=""))  # fmt: skip
        c.execute(insert(extras_joblogentry).values(
            id=log_id, job_result_id=result_id, log_level="info", grouping="main", message="x", created=now,
            log_object="", absolute_url=""))  # fmt: skip
        c.execute(insert(extras_jobconsoleentry).values(
            id=console_id, job_result_id=result_id, timestamp=now, output_type="output", text="x"))  # fmt: skip
    postgresql = engine.dialect.name == "postgresql"
    new_id = "gen_random_uuid()" if postgresql else "lower(hex(randomblob(16)))"
    template = {"r": result_id, "l": log_id, "c": console_id}
    if not postgresql:  # SQLAlchemy's Uuid on SQLite: 32 hex digits, no dashes
        template = {k: v.hex for k, v in template.items()}
    numbers = f"generate_series(1, {results - 1}) AS n(i)" if postgresql else "n"
    counting = f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {results - 1}) "
    counter = "" if postgresql else counting

    def copied(table: Any, overrides: dict[str, str], source: str, where: str, prefix: str = "") -> str:
        """INSERT INTO table SELECT its columns from `t` (some overridden) FROM source WHERE where."""
        names = [c.name for c in table.c]
        values = [overrides.get(name, f"t.{name}") for name in names]
        into = f"{prefix}INSERT INTO {table.name} ({', '.join(names)})"
        return f"{into} SELECT {', '.join(values)} FROM {source} WHERE {where}"

    with engine.begin() as c:
        if results > 1:
            statement = copied(extras_jobresult, {"id": new_id}, f"{numbers}, extras_jobresult t", "t.id = :r", counter)
            c.execute(text(statement), {"r": template["r"]})
        for table, key in ((extras_joblogentry, "l"), (extras_jobconsoleentry, "c")):
            statement = copied(table, {"id": new_id, "job_result_id": "r.id"}, f"extras_jobresult r, {table.name} t",
                               "t.id = :t AND r.id <> :r")  # fmt: skip
            c.execute(text(statement), {"t": template[key], "r": template["r"]})
    if postgresql:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text("VACUUM ANALYZE"))


def counts(url: URL) -> tuple[int, int, int]:
    engine = create_db_engine(DatabaseTarget(url, "bench"))
    try:
        with engine.connect() as c:
            return tuple(  # type: ignore[return-value]
                int(c.execute(select(func.count()).select_from(t)).scalar_one())
                for t in (extras_jobresult, extras_joblogentry, extras_jobconsoleentry)
            )
    finally:
        engine.dispose()


# --- The two purges, each run in a process of its own (`--child`) ------------------------------------------------


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def purge_nbjobs(url: URL, batch_size: int) -> dict[str, Any]:
    """nbjobs' apply of the retirement, with the purge timed whole and per batch."""
    engine = create_db_engine(DatabaseTarget(url, "bench"))
    marks: list[float] = []
    original = apply_module.purge_captured

    def timed_purge(*args: Any, **kwargs: Any) -> int:
        marks.append(time.perf_counter())
        return original(*args, **kwargs)

    apply_module.purge_captured = timed_purge  # type: ignore[assignment]
    with engine.connect():
        pass  # connected before the clock starts, as the floor's connection is
    before = peak_mb()
    started = time.perf_counter()
    try:
        options = ApplyOptions(batch_size=batch_size, progress=lambda _p, _d, _t: marks.append(time.perf_counter()))
        result = apply(engine, DESIRED, Discovery(CODE.jobs[1:]), PlanSettings(allow_mass_delete=True), options)
    finally:
        apply_module.purge_captured = original
    elapsed = time.perf_counter() - started
    engine.dispose()
    batches = [b - a for a, b in itertools.pairwise(marks)]
    return {"purged": result.purged, "seconds": elapsed, "purge_seconds": marks[-1] - marks[0] if marks else 0.0,
            "before_purge_seconds": (marks[0] - started) if marks else elapsed, "batches": batches,
            "peak_mb": peak_mb(), "baseline_mb": before}  # fmt: skip


def purge_plain(url: URL, batch_size: int) -> dict[str, Any]:
    """The floor: the driver alone, one transaction per batch of the job's results, each batch found the
    fastest plain way on its engine. PostgreSQL: the next ids after the last batch's (keyset, along the
    primary key); SQLite: any ids of the job (LIMIT alone, along the job_model_id index: SQLite removes
    index entries at once, and sorting them instead would make each batch read every row left)."""
    postgresql = url.get_backend_name() == "postgresql"
    if postgresql:
        import psycopg

        connection: Any = psycopg.connect(f"host={url.host} port={url.port} user={url.username} dbname={url.database}")
        first = "SELECT id FROM extras_jobresult WHERE job_model_id = %s ORDER BY id LIMIT %s"
        after = "SELECT id FROM extras_jobresult WHERE job_model_id = %s AND id > %s ORDER BY id LIMIT %s"

        def where(column: str, ids: list[Any]) -> tuple[str, tuple[Any, ...]]:
            return f"{column} = ANY(%s)", (ids,)
    else:
        connection = sqlite3.connect(str(url.database), isolation_level=None)
        connection.execute("PRAGMA foreign_keys=ON")  # as nbjobs' SQLite connections enforce them
        first = after = "SELECT id FROM extras_jobresult WHERE job_model_id = ? LIMIT ?"

        def where(column: str, ids: list[Any]) -> tuple[str, tuple[Any, ...]]:
            return f"{column} IN ({', '.join('?' * len(ids))})", tuple(ids)

    before = peak_mb()
    started = time.perf_counter()
    (job_id,) = connection.execute("SELECT id FROM extras_job WHERE job_class_name = 'Old'").fetchone()
    if not postgresql:
        connection.execute("BEGIN")
    batches, done, last = [], 0, None
    while True:
        began = time.perf_counter()
        if last is None or not postgresql:
            query, params = first, (job_id, batch_size)
        else:
            query, params = after, (job_id, last, batch_size)
        ids = [row[0] for row in connection.execute(query, params).fetchall()]
        if not ids:
            connection.commit() if postgresql else connection.execute("COMMIT")
            break
        for table in ("extras_joblogentry", "extras_jobconsoleentry", "extras_fileproxy"):
            clause, values = where("job_result_id", ids)
            connection.execute(f"DELETE FROM {table} WHERE {clause}", values)
        clause, values = where("id", ids)
        connection.execute(f"DELETE FROM extras_jobresult WHERE {clause}", values)
        if postgresql:
            connection.commit()
        else:
            connection.execute("COMMIT")
            connection.execute("BEGIN")
        done, last = done + len(ids), ids[-1]
        batches.append(time.perf_counter() - began)
    elapsed = time.perf_counter() - started
    connection.close()
    return {"purged": done, "seconds": elapsed, "purge_seconds": elapsed, "before_purge_seconds": 0.0,
            "batches": batches, "peak_mb": peak_mb(), "baseline_mb": before}  # fmt: skip


CHILD_MARKER = "NBJOBS_BENCH_PURGE="


def in_child(kind: str, url: URL, batch_size: int) -> dict[str, Any]:
    """`kind` ('nbjobs' or 'plain') in a fresh Python process, so that its peak memory is its own."""
    argv = [sys.executable, __file__, "--child", kind, "--child-url", url.render_as_string(hide_password=False),
            "--batch-size", str(batch_size)]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NBJOBS_", "NAUTOBOT_"))}
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    for line in done.stdout.splitlines():
        if line.startswith(CHILD_MARKER):
            found: dict[str, Any] = json.loads(line[len(CHILD_MARKER) :])
            return found
    raise SystemExit(f"the {kind} purge exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")


# --- The measure -------------------------------------------------------------------------------------------------


@contextmanager
def seeded(engine_name: str, results: int) -> Iterator[tuple[Databases, float]]:
    with TemporaryDirectory(prefix="nbjobs-bench-purge-") as workdir:
        databases = Databases(engine_name, Path(workdir))
        try:
            databases.create()
            engine = create_db_engine(DatabaseTarget(databases.url(), "bench"))
            build_sandbox(engine, CODE)
            started = time.perf_counter()
            seed(engine, results)
            seed_s = time.perf_counter() - started
            engine.dispose()
            yield databases, seed_s
        finally:
            databases.drop_all()


def measure(engine_name: str, results: int, batch_size: int) -> tuple[dict[str, Any], dict[str, Any], float]:
    with seeded(engine_name, results) as (databases, seed_s):
        assert counts(databases.url()) == (results, results, results)
        plain = in_child("plain", databases.copy("_plain"), batch_size)
        databases.drop("_plain")
        nbjobs = in_child("nbjobs", databases.url(), batch_size)
        assert counts(databases.url()) == (0, 0, 0), counts(databases.url())
    assert plain["purged"] == nbjobs["purged"] == results, (plain["purged"], nbjobs["purged"])
    return plain, nbjobs, seed_s


def purge_rows(engines: tuple[str, ...] = ("sqlite", "postgresql"), results: int = 1_000_000,
               batch_size: int = 1000) -> list[dict[str, str]]:  # fmt: skip
    """The speed target's row per engine: nbjobs' purge rate against the floor's, its peak memory, its
    slowest batch."""
    rows = []
    for engine_name in engines:
        plain, nbjobs, seed_s = measure(engine_name, results, batch_size)
        rows.append(purge_row(engine_name, results, batch_size, plain, nbjobs, seed_s))
    return rows


def purge_row(engine: str, results: int, batch_size: int, plain: dict[str, Any], nbjobs: dict[str, Any],
              seed_s: float) -> dict[str, str]:  # fmt: skip
    rate, floor = results / nbjobs["seconds"], results / plain["seconds"]
    slowest, slowest_plain = max(nbjobs["batches"]), max(plain["batches"])
    met = rate >= RATE_SHARE * floor and nbjobs["peak_mb"] < PEAK_MB and slowest <= BATCH_SECONDS
    purge_rate = results / nbjobs["purge_seconds"] if nbjobs["purge_seconds"] else 0.0
    measured = (f"{rate:,.0f} results/s = {rate / floor:.2f} of plain DELETEs ({floor:,.0f}/s); peak "
                f"{nbjobs['peak_mb']:.0f} MB; slowest batch {slowest:.2f} s")  # fmt: skip
    detail = (f"nbjobs: apply {nbjobs['seconds']:.1f} s ({nbjobs['before_purge_seconds']:.1f} s before the first "
              f"batch: plan, capture, delete), batches {purge_rate:,.0f} results/s, {len(nbjobs['batches'])} "
              f"batches, RSS {nbjobs['baseline_mb']:.0f} MB before; plain: {plain['seconds']:.1f} s, slowest "
              f"batch {slowest_plain:.2f} s, peak {plain['peak_mb']:.0f} MB; seeding {seed_s:.0f} s")  # fmt: skip
    return {
        "target": "purge",
        "engine": engine,
        "measure": f"{results:,} results (a log and a console entry each), batches of {batch_size}",
        "measured": measured,
        "target value": f">= 1/3 of plain, < {PEAK_MB} MB, no batch over {BATCH_SECONDS:g} s",
        "met": verdict(met),
        "detail": detail,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--results", type=int, help="results to purge (default 1,000,000; 20,000 with --quick)")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="20,000 results (make bench-quick)")
    parser.add_argument("--child", choices=("nbjobs", "plain"), help=argparse.SUPPRESS)
    parser.add_argument("--child-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        from sqlalchemy.engine import make_url

        purge = purge_nbjobs if args.child == "nbjobs" else purge_plain
        print(CHILD_MARKER + json.dumps(purge(make_url(args.child_url), args.batch_size)))
        return
    results = args.results or (20_000 if args.quick else 1_000_000)
    print_table(purge_rows(tuple(args.engines.split(",")), results, args.batch_size))


if __name__ == "__main__":
    main()
