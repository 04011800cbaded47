"""Whole processes, as users run them, side by side with their floors, in one run on the same data.

    .venv/bin/python bench/whole_process.py [--engines postgresql,sqlite] [--sizes 1000,10000] [--runs 3]

Per engine and size: the workload of bench/workload.py is written as files, a sandbox is built from it
with `nbjobs sandbox`, and then, alternating in one process (medians of --runs; one run at 10,000 jobs):

- bare: `python -c pass`; imports: `python -c "import sqlalchemy, pydantic, yaml"` (the import floor);
- help, version: `nbjobs --help`, `nbjobs --version`;
- read: one SELECT each of extras_job, extras_jobqueueassignment, extras_jobqueue (the driver alone);
- parse: reading and `ast.parse` of the 50 modules;
- plan: `nbjobs plan` as a whole process; its floor is read + parse + imports;
- apply: `nbjobs apply --yes` on a fresh copy of the sandbox (PostgreSQL: a template copy; SQLite: a
  file copy), and its write phase (the time apply spends in reconciler.apply.writes.execute, from an
  in-process apply on another fresh copy);
- write floor: one transaction, on a fresh copy, of bulk UPDATEs of the same columns for the same rows
  plus an executemany INSERT of the change-log rows nbjobs wrote (read back from its own apply).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import io
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workload import write_jobs, write_manifest

BIN = Path(sys.executable).parent
NBJOBS = str(BIN / "nbjobs")
PYTHON = sys.executable
ADMIN_DSN = "host=127.0.0.1 user=postgres dbname=postgres"


@dataclass
class Database:
    """One engine's sandbox and the fresh copies the applies run on."""

    engine: str
    work: Path
    name: str
    copies: int = 0

    @property
    def url(self) -> str:
        return self.url_of(self.name)

    def url_of(self, name: str) -> str:
        if self.engine == "sqlite":
            return f"sqlite:///{self.work / (name + '.db')}"
        return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"

    def create(self) -> None:
        if self.engine == "postgresql":
            admin(f"DROP DATABASE IF EXISTS {self.name}", f"CREATE DATABASE {self.name}")

    def fresh(self) -> str:
        self.copies += 1
        copy = f"{self.name}_c{self.copies}"
        if self.engine == "sqlite":
            shutil.copyfile(self.work / f"{self.name}.db", self.work / f"{copy}.db")
        else:
            admin(f"DROP DATABASE IF EXISTS {copy}", f"CREATE DATABASE {copy} TEMPLATE {self.name}")
        return copy

    def drop(self, name: str) -> None:
        if self.engine == "sqlite":
            (self.work / f"{name}.db").unlink(missing_ok=True)
        else:
            admin(f"DROP DATABASE IF EXISTS {name}")

    @contextmanager
    def dbapi(self, name: str) -> Iterator[Any]:
        if self.engine == "sqlite":
            connection: Any = sqlite3.connect(self.work / f"{name}.db")
        else:
            import psycopg

            connection = psycopg.connect(f"host=127.0.0.1 user=postgres dbname={name}")
        try:
            yield connection
            connection.commit()
        finally:
            connection.close()


def admin(*statements: str) -> None:
    import psycopg

    with psycopg.connect(ADMIN_DSN, autocommit=True) as connection:
        for statement in statements:
            connection.execute(statement)


def run(*argv: str, cwd: Path, expect: tuple[int, ...] = (0,)) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, cwd=cwd)
    if result.returncode not in expect:
        raise SystemExit(f"{' '.join(argv[:3])} exited {result.returncode}: {result.stderr[-1500:]}")


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def measure(engine: str, jobs: int, runs: int, work: Path) -> dict[str, float]:
    code = work / "jobs"
    modules = write_jobs(code, jobs)
    manifests = write_manifest(work / "manifests", jobs).parent
    db = Database(engine, work, f"nbjobs_bench_wp_{jobs}")
    db.create()
    run(NBJOBS, "sandbox", "--jobs-root", str(code), "--database-url", db.url, cwd=work)
    run(NBJOBS, "db", "upgrade", "--database-url", db.url, cwd=work)
    common = ["--jobs-root", str(code), "--database-url"]

    def read() -> None:
        with db.dbapi(db.name) as connection:
            for table in ("extras_job", "extras_jobqueueassignment", "extras_jobqueue"):
                connection.execute(f"SELECT * FROM {table}").fetchall()

    def parse() -> None:
        for path in modules:
            ast.parse(path.read_text())

    def plan() -> None:
        run(NBJOBS, "plan", str(manifests), *common, db.url, cwd=work)

    def apply() -> float:
        copy = db.fresh()
        try:
            return timed(lambda: run(NBJOBS, "apply", "--yes", str(manifests), *common, db.url_of(copy), cwd=work))
        finally:
            db.drop(copy)

    samples: dict[str, list[float]] = {}
    for _ in range(runs):
        for key, action in (
            ("bare", lambda: run(PYTHON, "-c", "pass", cwd=work)),
            ("imports", lambda: run(PYTHON, "-c", "import sqlalchemy, pydantic, yaml", cwd=work)),
            ("help", lambda: run(NBJOBS, "--help", cwd=work)),
            ("version", lambda: run(NBJOBS, "--version", cwd=work)),
            ("read", read),
            ("parse", parse),
            ("plan", plan),
        ):
            samples.setdefault(key, []).append(timed(action))
        samples.setdefault("apply", []).append(apply())
        write, floor = write_phase(db, manifests, code)
        samples.setdefault("write", []).append(write)
        samples.setdefault("write_floor", []).append(floor)
    medians = {key: statistics.median(values) for key, values in samples.items()}
    db.drop(db.name)
    return medians


def write_phase(db: Database, manifests: Path, code: Path) -> tuple[float, float]:
    """The seconds apply spends writing (in process, on a fresh copy), and the floor for the same writes."""
    import reconciler.apply as apply_module
    from reconciler.cli import main

    copy = db.fresh()
    spent: list[float] = []
    original = apply_module.execute

    def execute(*args: Any, **kwargs: Any) -> int:
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent.append(time.perf_counter() - started)

    apply_module.execute = execute  # type: ignore[assignment]
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            status = main(["apply", "--yes", str(manifests), "--jobs-root", str(code), "--database-url",
                       db.url_of(copy)])  # fmt: skip
    finally:
        apply_module.execute = original
    assert status == 0, status
    with db.dbapi(copy) as connection:
        changes = connection.execute("SELECT * FROM extras_objectchange").fetchall()
        columns = [c[0] for c in connection.execute("SELECT * FROM extras_objectchange").description]
        jobs = connection.execute(
            "SELECT id, grouping, grouping_override, time_limit, time_limit_override, dryrun_default, "
            "dryrun_default_override, enabled FROM extras_job WHERE module_name LIKE 'perf_m%'"
        ).fetchall()
    db.drop(copy)
    return sum(spent), write_floor(db, jobs, columns, changes)


def write_floor(db: Database, jobs: list[Any], columns: list[str], changes: list[Any]) -> float:
    copy = db.fresh()
    marker = "?" if db.engine == "sqlite" else "%s"
    enabled = [(row[0],) for row in jobs if row[7]]
    if db.engine == "postgresql":  # JSON columns come back decoded: send them as JSON again
        from psycopg.types.json import Json

        changes = [tuple(Json(v) if isinstance(v, dict | list) else v for v in row) for row in changes]
    insert = f"INSERT INTO extras_objectchange ({', '.join(columns)}) VALUES ({', '.join([marker] * len(columns))})"
    try:
        with db.dbapi(copy) as connection:
            started = time.perf_counter()
            cursor = connection.cursor()
            cursor.execute(
                "UPDATE extras_job SET grouping='Perf / All', grouping_override=true, time_limit=900, "
                "time_limit_override=true, dryrun_default=true, dryrun_default_override=true "
                "WHERE module_name LIKE 'perf_m%'"
            )
            cursor.executemany(f"UPDATE extras_job SET enabled=true WHERE id={marker}", enabled)
            cursor.executemany(insert, changes)
            connection.commit()
            return time.perf_counter() - started
    finally:
        db.drop(copy)


def ratios(m: dict[str, float]) -> dict[str, float]:
    floor = m["read"] + m["parse"] + m["imports"]
    return {
        "help/bare": m["help"] / m["bare"],
        "version/bare": m["version"] / m["bare"],
        "plan/floor": m["plan"] / floor,
        "apply/plan": m["apply"] / m["plan"],
        "write/write_floor": m["write"] / m["write_floor"],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--engines", default="postgresql,sqlite")
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    import tempfile

    for engine in args.engines.split(","):
        for size in (int(s) for s in args.sizes.split(",")):
            with tempfile.TemporaryDirectory(prefix="nbjobs_wp_") as work:
                m = measure(engine, size, args.runs if size <= 1000 else 1, Path(work))
            print(engine, size, {k: round(v, 3) for k, v in m.items()}, {k: round(v, 2) for k, v in ratios(m).items()})


if __name__ == "__main__":
    main()
