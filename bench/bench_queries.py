"""Benchmark: the statements of a whole `nbjobs plan`, at 1,000 and at 10,000 jobs.

    .venv/bin/python bench/bench_queries.py [--engines sqlite,postgresql] [--sizes 1000,10000] [--quick]

The speed issue's target: a plan's query count does not grow with jobs (3 reads of Nautobot's tables; a
version check and nbjobs' own state add a fixed few, not one per job). Per engine and size, the workload
of bench/workload.py is written as files (job classes in 50 modules, the manifest that pins three fields
by a glob and enables every tenth job), a sandbox is built from what discovery finds there, and
`nbjobs plan` runs in this process as the command line runs it (`reconciler.cli.main`, its output
discarded) while a `before_cursor_execute` listener on every Engine records each statement SQLAlchemy
sends. (The dialect's own start-up queries on a first connection, and SQLite's PRAGMAs on connect, go
through the driver directly and are not counted; BEGIN is transaction control, not a query.)

The row lists the statements by kind: verb and the first table it names. `--quick` counts at 100 and
1,000 jobs. PostgreSQL runs against 127.0.0.1 in the throwaway database nbjobs_bench_queries.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from tempfile import TemporaryDirectory

from bench_loop import clear_environment
from sqlalchemy import URL, Engine, create_engine, event, text
from table import print_table, verdict
from workload import write_jobs, write_manifest

from reconciler.cli import main as nbjobs
from reconciler.discovery.sources import discover
from reconciler.nautobot.connect import DatabaseTarget, create_db_engine
from reconciler.sandbox import build_sandbox

DATABASE = "nbjobs_bench_queries"
PG_ADMIN = URL.create("postgresql+psycopg", username="postgres", host="127.0.0.1", port=5432, database="postgres")
TABLE = re.compile(r'\b(?:FROM|INTO|UPDATE|JOIN)\s+"?(\w+)', re.IGNORECASE)


def kind(statement: str) -> str:
    """`SELECT extras_job`: the statement's verb and the first table it names (`SELECT -` for none)."""
    verb = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else "?"
    found = TABLE.search(statement)
    return f"{verb} {found.group(1) if found else '-'}"


@contextmanager
def every_statement() -> Iterator[list[str]]:
    """Every statement any Engine sends through a cursor in the block (transaction control left out)."""
    statements: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK")):
            statements.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(Engine, "before_cursor_execute", record)


@contextmanager
def database(engine_name: str, workdir: Path) -> Iterator[URL]:
    if engine_name == "sqlite":
        yield URL.create("sqlite", database=str(workdir / f"{DATABASE}.db"))
        return
    if engine_name != "postgresql":
        raise SystemExit(f"unknown engine {engine_name!r}: sqlite or postgresql")
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as c:
            c.execute(text(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"))
            c.execute(text(f"CREATE DATABASE {DATABASE}"))
        yield PG_ADMIN.set(database=DATABASE)
    finally:
        with admin.connect() as c:
            c.execute(text(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"))
        admin.dispose()


def plan_statements(engine_name: str, jobs: int) -> list[str]:
    """The statements of one `nbjobs plan` of the workload at `jobs` jobs (after one untimed plan)."""
    with TemporaryDirectory(prefix="nbjobs-bench-queries-") as work, database(engine_name, Path(work)) as url:
        code = Path(work) / "jobs"
        write_jobs(code, jobs)
        manifests = write_manifest(Path(work) / "manifests", jobs).parent
        engine = create_db_engine(DatabaseTarget(url, "bench"))
        build_sandbox(engine, discover(jobs_root=code))
        engine.dispose()
        argv = ["plan", str(manifests), "--jobs-root", str(code), "--database-url",
                url.render_as_string(hide_password=False), "--detailed-exitcode"]  # fmt: skip
        for _ in range(2):  # the first warms nothing the second needs, but shows the count is stable
            with every_statement() as statements, contextlib.redirect_stdout(io.StringIO()) as out:
                status = nbjobs(argv)
            assert status == 2, f"nbjobs plan exited {status}, not 2 (changes):\n{out.getvalue()[-2000:]}"
        return statements


def query_rows(engines: tuple[str, ...] = ("sqlite", "postgresql"),
               sizes: tuple[int, ...] = (1000, 10_000)) -> list[dict[str, str]]:  # fmt: skip
    """The speed target's row per engine: the statement count at each size, equal at all of them."""
    clear_environment()
    rows = []
    for engine_name in engines:
        by_size = {jobs: plan_statements(engine_name, jobs) for jobs in sizes}
        counts = {jobs: len(found) for jobs, found in by_size.items()}
        kinds = Counter(kind(s) for s in by_size[max(sizes)])
        same = len(set(counts.values())) == 1 and all(Counter(kind(s) for s in f) == kinds for f in by_size.values())
        nautobot = sum(n for k, n in kinds.items() if k.split(" ")[1].startswith(("extras_", "django_", "auth_")))
        rows.append({
            "target": "plan queries",
            "engine": engine_name,
            "measure": f"statements of a whole `nbjobs plan` at {' and '.join(f'{j:,}' for j in sizes)} jobs",
            "measured": ", ".join(f"{n} at {j:,}" for j, n in counts.items()) + f" ({nautobot} of Nautobot's tables)",
            "target value": "the same count at every size",
            "met": verdict(same),
            "detail": "by kind: " + ", ".join(f"{k} x{n}" if n > 1 else k for k, n in sorted(kinds.items())),
        })  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--sizes", help="job counts, comma-separated (default 1000,10000; 100,1000 with --quick)")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    sizes = args.sizes or ("100,1000" if args.quick else "1000,10000")
    print_table(query_rows(tuple(args.engines.split(",")), tuple(int(s) for s in sizes.split(","))))


if __name__ == "__main__":
    main()
