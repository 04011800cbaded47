"""Benchmark: the reconcile loop's tick at 1,000 jobs: idle, full in detect, full in heal.

    .venv/bin/python bench/bench_loop.py [--engines sqlite,postgresql] [--jobs 1000]
    .venv/bin/python bench/bench_loop.py --idle [--jobs 10000] [--quick]   # the speed target alone

`--idle` measures only the speed issue's target (`idle_rows`, which `make bench` calls): the idle tick
at 10,000 jobs (1,000 with --quick), in detect with every job drifted and in sync after one heal, median
of 20, against at most 3 statements and 50 ms.

The job code of bench_plan.synthetic_code (spread over 50 modules, three task queues) is written out as
a JOBS_ROOT in a temporary directory, a sandbox is built from what discovery finds there, and a manifest
that pins three fields on every job through one glob is pushed to a bare git remote beside it. Then:

- **idle**: `run_tick` when nothing changed since the last run, median of 20: in detect with every job
  drifted (the last run records 3,000 drifted fields), and in sync (the last run records none);
- **detect**: a full tick after a new commit (ls-remote, fingerprints, fetch, manifests, discovery,
  plan, drift attribution, the run row), median of 5;
- **heal**: a full tick that applies the plan (3 fields on every job), each on a fresh copy of the
  sandbox as built, median of 3.

Statements are counted with bench_plan's listener (SQLite's explicit BEGIN is transaction control, not
a query; its COMMIT goes through the driver, not a cursor). The split column says where the median
run's time goes, from timers around the steps `reconciler.loop.tick` calls. PostgreSQL runs against
127.0.0.1 in the throwaway databases nbjobs_bench_loop and nbjobs_bench_loop_heal.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from bench_plan import counting, synthetic_code
from sqlalchemy import URL, Engine, create_engine, text
from table import print_table, verdict

import reconciler.loop.tick as tick_module
from reconciler.config import Policy, Settings
from reconciler.discovery.sources import discover
from reconciler.discovery.types import Discovery
from reconciler.loop.tick import TickOutcome, dispose_engines, engine_for, run_tick
from reconciler.nautobot.connect import DatabaseTarget, create_db_engine
from reconciler.sandbox import build_sandbox

DATABASE = "nbjobs_bench_loop"
IDLE_STATEMENTS, IDLE_SECONDS = 3, 0.050  # the speed issue's idle tick: at most 3 queries and 50 ms
ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
MANIFEST = """apiVersion: nbjobs/v1
kind: Jobs
jobs:
  - match: bench_jobs.*
    hidden: true
    time_limit: 900
    description: benchmarked
    why: bench_loop.py, commit {n}
"""
# What the split column reports, by the name the tick module calls; the rest of a tick is "other".
STEPS = {
    "head_revision": "ls-remote",
    "code_fingerprint": "code fingerprint",
    "rows_fingerprint": "rows fingerprint",
    "last_run": "last run",
    "heartbeat": "heartbeat",
    "ensure_fetched": "fetch",
    "read_manifests": "manifests",
    "discover": "discovery",
    "read_actual": "snapshot",
    "plan": "plan",
    "_drift": "drift",
    "apply": "apply",
    "record_run": "run row",
}


def git(cwd: Path, *args: str) -> str:
    environment = {"GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.net", "HOME": str(cwd),
                   "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.net",
                   "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "GIT_CONFIG_NOSYSTEM": "1"}  # fmt: skip
    done = subprocess.run(["git", *args], cwd=cwd, env=environment, check=True, capture_output=True, text=True)
    return done.stdout.strip()


class Remote:
    """A bare repository (what the loop fetches) and a clone that commits the manifest and pushes it."""

    def __init__(self, root: Path) -> None:
        self.url, self.work, self.commits = str(root / "remote.git"), root / "work", 0
        git(root, "init", "--bare", "-q", "-b", "main", self.url)
        git(root, "init", "-q", "-b", "main", str(self.work))
        git(self.work, "remote", "add", "origin", self.url)

    def push(self) -> None:
        """A new commit on main: the same desired state, so only the revision changes."""
        self.commits += 1
        (self.work / "manifests").mkdir(exist_ok=True)
        (self.work / "manifests" / "jobs.yaml").write_text(MANIFEST.format(n=self.commits))
        git(self.work, "add", "-A")
        git(self.work, "commit", "-q", "-m", f"commit {self.commits}")
        git(self.work, "push", "-q", "origin", "main")


def write_jobs_root(code: Discovery, root: Path) -> Path:
    """bench_plan's synthetic jobs as source files: package bench_jobs, one submodule per module, each
    registering its own classes (so their module_name is the submodule, as bench_plan's are)."""
    modules: dict[str, list[str]] = defaultdict(list)
    for job in code.jobs:
        values = job.values
        modules[job.module_name].append(
            f"class {job.job_class_name}(Job):\n    class Meta:\n        name = {values.name!r}\n"
            f"        time_limit = {int(values.time_limit)}\n        task_queues = {list(job.task_queues)!r}\n"
        )  # fmt: skip
    package = root / "bench_jobs"
    package.mkdir(parents=True)
    names = sorted((m.rpartition(".")[2] for m in modules), key=lambda n: int(n[1:]))
    (package / "__init__.py").write_text("".join(f"from . import {n}  # noqa: F401\n" for n in names))
    for module, classes in modules.items():
        registered = ", ".join(c.split("(", 1)[0].removeprefix("class ") for c in classes)
        body = "\n\n".join(classes)
        (package / f"{module.rpartition('.')[2]}.py").write_text(
            f"from nautobot.apps.jobs import Job, register_jobs\n\nname = {module!r}\n\n\n{body}\n\n"
            f"register_jobs({registered})\n"
        )
    found = discover(jobs_root=root)
    shape = [(j.class_path, j.values, j.task_queues) for j in found.jobs]
    assert sorted(shape) == sorted((j.class_path, j.values, j.task_queues) for j in code.jobs), found.problems
    return root


@contextmanager
def timed_steps() -> Iterator[dict[str, float]]:
    """Seconds spent in each step the tick module calls, summed over the block."""
    spent: dict[str, float] = defaultdict(float)
    originals = {name: getattr(tick_module, name) for name in STEPS}

    def timer(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[STEPS[name]] += time.perf_counter() - started

        return timed

    for name, function in originals.items():
        setattr(tick_module, name, timer(name, function))
    try:
        yield spent
    finally:
        for name, function in originals.items():
            setattr(tick_module, name, function)


Runs = tuple[list[float], list[int], list[dict[str, float]]]


def measure_ticks(prepare: Callable[[], Settings], count: int, expect: Callable[[TickOutcome], bool]) -> Runs:
    """`count` ticks, each of the settings `prepare()` returns (untimed): seconds, statements, steps.
    The target's engine is connected before the clock starts, as a long-running worker's is."""
    seconds, statements, steps = [], [], []
    for _ in range(count):
        settings = prepare()
        target = settings.target()
        engine = engine_for(target)
        with engine.connect():
            pass
        with counting(engine) as sent, timed_steps() as spent:
            started = time.perf_counter()
            outcome = run_tick(settings, target)
            elapsed = time.perf_counter() - started
        assert expect(outcome), outcome
        seconds.append(elapsed)
        statements.append(len(sent))
        spent["other"] = elapsed - sum(spent.values())
        steps.append(dict(spent))
    return seconds, statements, steps


def row(engine: str, measure: str, runs: Runs) -> dict[str, str]:
    seconds, statements, steps = runs
    names = list(dict.fromkeys(name for spent in steps for name in spent))
    medians = {name: statistics.median(spent.get(name, 0.0) for spent in steps) for name in names}
    shown = sorted(((v, n) for n, v in medians.items() if v >= 0.0005 or n == "ls-remote"), reverse=True)
    return {
        "engine": engine,
        "measure": measure,
        "median (s)": f"{statistics.median(seconds):.4f}",
        "statements": "/".join(str(n) for n in sorted(set(statements))),
        "where the time goes (median ms)": ", ".join(f"{n} {v * 1000:.0f}" for v, n in shown),
    }


class Databases:
    """The sandbox database of one engine, and fresh copies of it as built."""

    def __init__(self, engine_name: str, workdir: Path) -> None:
        self.workdir = workdir
        self.admin: Engine | None = None
        if engine_name == "postgresql":
            self.admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
            self._sql(f"DROP DATABASE IF EXISTS {DATABASE}_heal WITH (FORCE)")
            self._sql(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
            self._sql(f"CREATE DATABASE {DATABASE}")
        elif engine_name != "sqlite":
            raise SystemExit(f"unknown engine {engine_name!r}: sqlite or postgresql")

    def url(self, suffix: str = "") -> URL:
        if self.admin is None:
            return URL.create("sqlite", database=str(self.workdir / f"{DATABASE}{suffix}.db"))
        return URL.create("postgresql+psycopg", username="postgres", host="127.0.0.1", port=5432,
                          database=DATABASE + suffix)  # fmt: skip

    def fresh_copy(self) -> URL:
        """`_heal`: a copy of the database as it is now (no engine may hold a connection to it)."""
        dispose_engines()
        if self.admin is None:
            shutil.copyfile(self.workdir / f"{DATABASE}.db", self.workdir / f"{DATABASE}_heal.db")
        else:
            self._sql(f"DROP DATABASE IF EXISTS {DATABASE}_heal WITH (FORCE)")
            self._sql(f"CREATE DATABASE {DATABASE}_heal TEMPLATE {DATABASE}")
        return self.url("_heal")

    def drop(self) -> None:
        dispose_engines()
        if self.admin is not None:
            self._sql(f"DROP DATABASE IF EXISTS {DATABASE}_heal WITH (FORCE)")
            self._sql(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
            self.admin.dispose()

    def _sql(self, statement: str) -> None:
        assert self.admin is not None
        with self.admin.connect() as connection:
            connection.execute(text(statement))


class Bench:
    """One engine's sandbox of `jobs` synthetic jobs as JOBS_ROOT, the manifest remote, and settings."""

    def __init__(self, engine_name: str, jobs: int, workdir: Path) -> None:
        self.jobs, self.workdir = jobs, workdir
        self.jobs_root = write_jobs_root(synthetic_code(jobs), workdir / "jobs")
        self.remote = Remote(workdir)
        self.remote.push()
        self.databases = Databases(engine_name, workdir)
        engine = create_db_engine(DatabaseTarget(self.databases.url(), "bench"))
        started = time.perf_counter()
        build_sandbox(engine, discover(jobs_root=self.jobs_root))
        self.sandbox_s = time.perf_counter() - started
        engine.dispose()

    def settings(self, url: URL, policy: Policy) -> Settings:
        values: dict[str, Any] = {"database_url": url.render_as_string(hide_password=False),
                                  "jobs_root": self.jobs_root, "repo": self.remote.url, "policy": policy,
                                  "cache_dir": self.workdir / "cache", "interval": 300, "jitter": 0}  # fmt: skip
        return Settings(**values)

    def drifted(self, outcome: TickOutcome) -> bool:
        return outcome.state == "drifted" and len(outcome.drift) == 3 * self.jobs and not outcome.idle

    def healed_all(self, outcome: TickOutcome) -> bool:
        return outcome.action == "applied" and outcome.state == "in_sync" and len(outcome.drift) == 3 * self.jobs


@contextmanager
def bench(engine_name: str, jobs: int) -> Iterator[Bench]:
    """A Bench in a temporary directory; its databases and files are gone afterwards, however it ends."""
    clear_environment()
    with TemporaryDirectory(prefix="nbjobs-bench-loop-") as workdir:
        made = Bench(engine_name, jobs, Path(workdir))
        try:
            yield made
        finally:
            made.databases.drop()


def measure(engine_name: str, jobs: int) -> list[dict[str, str]]:
    """The README's table: idle ticks (detect, in sync), a full detect tick and a full heal tick."""
    with bench(engine_name, jobs) as b:
        # Heal first, while the database is still as built: each tick on a fresh copy of it.
        heal = measure_ticks(lambda: b.settings(b.databases.fresh_copy(), Policy.HEAL), 3, b.healed_all)
        # The last healed copy, after one more full tick that finds nothing: a last run without drift.
        healed = b.settings(b.databases.url("_heal"), Policy.HEAL)
        b.remote.push()
        assert not run_tick(healed, healed.target()).drift
        in_sync = measure_ticks(lambda: healed, 20, lambda o: o.idle and o.state == "in_sync")
        dispose_engines()

        detect = b.settings(b.databases.url(), Policy.DETECT)

        def pushed() -> Settings:
            b.remote.push()
            return detect

        measure_ticks(lambda: detect, 1, b.drifted)  # warm-up: the cache clone, the first run row
        full = measure_ticks(pushed, 5, b.drifted)
        idle = measure_ticks(lambda: detect, 20, lambda o: o.idle)
        dispose_engines()
    print(f"{engine_name}: sandbox of {jobs} jobs built in {b.sandbox_s:.1f} s")
    return [
        row(engine_name, f"idle tick ({jobs} jobs, detect, {3 * jobs} drifted fields, median of 20)", idle),
        row(engine_name, f"idle tick ({jobs} jobs, in sync, median of 20)", in_sync),
        row(engine_name, f"full tick, detect ({jobs} jobs, new commit, median of 5)", full),
        row(engine_name, f"full tick, heal ({3 * jobs} fields on {jobs} jobs, fresh copy, median of 3)", heal),
    ]


def idle_rows(engines: tuple[str, ...] = ("sqlite", "postgresql"), jobs: int = 10_000,
              count: int = 20) -> list[dict[str, str]]:  # fmt: skip
    """The speed target: the idle tick at `jobs` jobs, at most 3 statements and 50 ms (median of `count`),
    in detect with every job drifted, and in sync after one heal. One row per engine and state."""
    rows = []
    for engine_name in engines:
        drifted, in_sync = idle_ticks(engine_name, jobs, count)
        for state, runs in ((f"detect, {3 * jobs:,} drifted fields", drifted), ("in sync", in_sync)):
            rows.append(idle_row(engine_name, f"idle tick ({jobs:,} jobs, {state}, median of {count})", runs))
    return rows


def idle_ticks(engine_name: str, jobs: int, count: int) -> tuple[Runs, Runs]:
    """`count` idle ticks in detect after a run that found every job drifted, then `count` in sync."""
    with bench(engine_name, jobs) as b:
        detect = b.settings(b.databases.url(), Policy.DETECT)
        measure_ticks(lambda: detect, 1, b.drifted)  # the first run row (and the cache clone)
        drifted = measure_ticks(lambda: detect, count, lambda o: o.idle and o.state == "drifted")
        heal = b.settings(b.databases.url(), Policy.HEAL)
        measure_ticks(lambda: heal, 1, b.healed_all)
        # The heal leaves no rows fingerprint (tick._heal says why): the next tick plans, and finds nothing.
        measure_ticks(lambda: heal, 1, lambda o: o.action == "none" and o.state == "in_sync")
        in_sync = measure_ticks(lambda: heal, count, lambda o: o.idle and o.state == "in_sync")
        dispose_engines()
    return drifted, in_sync


def idle_row(engine: str, measure: str, runs: Runs) -> dict[str, str]:
    seconds, statements, _steps = runs
    median, most = statistics.median(seconds), max(statements)
    detail = row(engine, measure, runs)["where the time goes (median ms)"]
    return {
        "target": "idle tick",
        "engine": engine,
        "measure": measure,
        "measured": f"{median * 1000:.1f} ms, {'/'.join(str(n) for n in sorted(set(statements)))} statements",
        "target value": f"<= {IDLE_SECONDS * 1000:.0f} ms, <= {IDLE_STATEMENTS} statements",
        "met": verdict(median <= IDLE_SECONDS and most <= IDLE_STATEMENTS),
        "detail": f"where the time goes (median ms): {detail}",
    }


def clear_environment() -> None:
    """The settings are this benchmark's alone: no NBJOBS_* or NAUTOBOT_* of the caller's shell."""
    for name in [n for n in os.environ if n.startswith(("NBJOBS_", "NAUTOBOT_"))]:
        del os.environ[name]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--jobs", type=int, help="jobs in the sandbox (default 1000; with --idle 10000)")
    parser.add_argument("--idle", action="store_true", help="only the speed target: the idle tick")
    parser.add_argument("--quick", action="store_true", help="with --idle: 1,000 jobs (make bench-quick)")
    args = parser.parse_args()
    engines = tuple(args.engines.split(","))
    if args.idle:
        rows = idle_rows(engines, args.jobs or (1000 if args.quick else 10_000))
    else:
        rows = [found for name in engines for found in measure(name, args.jobs or 1000)]
    print(f"\n{os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.system()} {platform.release()}\n")
    print_table(rows)


if __name__ == "__main__":
    main()
