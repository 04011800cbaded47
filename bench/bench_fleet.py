"""Benchmark: a fleet of 50 targets, each with changes to apply, swept by real Celery workers.

    .venv/bin/python bench/bench_fleet.py [--engines sqlite] [--targets 50] [--jobs 200] [--rounds 3] [--quick]

The speed issue's target: one `nbjobs.reconcile` task per target, taken by a pool of two worker
processes (`celery -A reconciler.loop worker --concurrency 2`), sweeps the fleet in at most 0.7x the time
one worker process takes (`--concurrency 1`), and no target is ticked twice. Celery spreads the work;
nbjobs adds no scheduler.

Setup, untimed: the job code of bench/workload.py (`--jobs` per target, 50 modules) as one JOBS_ROOT
the targets share, its manifest (three fields pinned on every job by a glob, every tenth job enabled)
pushed to one bare git remote, and a sandbox built from that code as a template: each target is its own
copy of it (a SQLite file, or a PostgreSQL database made with CREATE DATABASE ... TEMPLATE). A settings
file names them as `[[targets]]` (policy heal, the loop's broker on Redis database 5; 6 with --redis-db).
The shared git cache is made, and the head fetched, before any worker starts: its first creation by
several ticks at once is racy (see tests/test_loop_celery.py, pg_fleet).

Each sweep runs on fresh copies of every target: the worker is started and waited for (its `ready.`
line), then one task per target is sent with the app's `send_task` and the clock starts. The sweep ends
at the latest `finished_at` of the targets' applied run rows (nbjobs_run), each target having exactly
one run (no target ticked twice) and one apply. The worker's log says which pool process ran each task.
Sweeps alternate, one process then two, `--rounds` times (3; a burst of other load on the machine then
hits both kinds alike), and the row takes the median of each kind.

PostgreSQL note: every worker process keeps one engine (a connection pool) per target for its life
(tick.engine_for), and a heal tick leaves two connections in it, so a fleet on one server holds about two
idle connections per target; the bench refuses to start when the server has fewer free connections than
that (max_connections, 100 by default, is shared). The default engine is therefore SQLite.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import redis
from bench_loop import clear_environment, git
from sqlalchemy import URL, Engine, create_engine, select, text
from table import print_table, verdict
from workload import write_jobs, write_manifest

from reconciler.config import LOOP_QUEUE, load_settings
from reconciler.discovery.sources import discover
from reconciler.loop.app import TASK_NAME, make_app
from reconciler.loop.remote import RemoteSpec, ensure_fetched, head_revision
from reconciler.loop.tick import dispose_engines, run_tick
from reconciler.nautobot.connect import DatabaseTarget, create_db_engine
from reconciler.sandbox import build_sandbox
from reconciler.state.tables import nbjobs_apply, nbjobs_run

CELERY = str(Path(sys.executable).parent / "celery")
REDIS = "redis://127.0.0.1:6379"
REDIS_DBS = (5, 6)  # the only Redis databases this benchmark may use
PG_ADMIN = URL.create("postgresql+psycopg", username="postgres", host="127.0.0.1", port=5432, database="postgres")
PREFIX = "nbjobs_bench_fleet"
RATIO = 0.7  # the speed issue's target: two worker processes in at most 0.7x the time of one
SWEEP_SECONDS = 900  # a sweep that takes longer has hung
# Celery's INFO line for a finished task, naming the pool process that ran it.
FAILED = re.compile(r"Task nbjobs\.reconcile\[[^]]+\] (?:raised|retry)")
SUCCEEDED = re.compile(r"INFO/(?P<process>[\w-]+)\] Task nbjobs\.reconcile\[[^]]+\] succeeded in (?P<s>[\d.]+)s")


class Fleet:
    """The template sandbox and the targets, copies of it, on one engine; the remote; the settings file."""

    def __init__(self, engine_name: str, targets: int, jobs: int, workdir: Path, redis_db: int) -> None:
        if engine_name not in ("sqlite", "postgresql"):
            raise SystemExit(f"unknown engine {engine_name!r}: sqlite or postgresql")
        self.engine_name, self.jobs, self.workdir = engine_name, jobs, workdir
        self.names = [f"t{i:02d}" for i in range(1, targets + 1)]
        self.broker = f"{REDIS}/{redis_db}"
        self.admin: Engine | None = None
        if engine_name == "postgresql":
            self.admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
            self._check_connections(targets)
        self.jobs_root = workdir / "jobs"
        write_jobs(self.jobs_root, jobs)
        self.remote = push_manifest(workdir, jobs)
        self.cache = workdir / "cache"
        self._create("tpl")
        engine = create_db_engine(DatabaseTarget(self.url("tpl"), "bench fleet template"))
        build_sandbox(engine, discover(jobs_root=self.jobs_root))
        engine.dispose()
        self.config = self._write_config()
        self.settings = load_settings(given_file=self.config).settings

    def url(self, name: str) -> URL:
        if self.admin is None:
            return URL.create("sqlite", database=str(self.workdir / f"{name}.db"))
        return PG_ADMIN.set(database=f"{PREFIX}_{name}")

    def reset(self) -> None:
        """Every target a fresh copy of the template, as built (no run, nothing applied)."""
        dispose_engines()
        for name in self.names:
            if self.admin is None:
                shutil.copyfile(self.workdir / "tpl.db", self.workdir / f"{name}.db")
            else:
                self._sql(f"DROP DATABASE IF EXISTS {PREFIX}_{name} WITH (FORCE)")
                self._sql(f"CREATE DATABASE {PREFIX}_{name} TEMPLATE {PREFIX}_tpl")

    def prime_cache(self) -> None:
        """The shared git cache made and the head fetched before any worker starts (first creation is racy)."""
        spec = RemoteSpec(self.remote)
        ensure_fetched(spec, self.cache, head_revision(spec, self.cache))

    def one_tick(self) -> float:
        """One tick in this process, on a scratch copy: it must apply (the fleet's tasks do the same)."""
        self.reset()
        settings = self.settings
        started = time.perf_counter()
        outcome = run_tick(settings, settings.target(self.names[0]))
        elapsed = time.perf_counter() - started
        assert outcome.action == "applied" and outcome.state == "in_sync", outcome
        dispose_engines()
        return elapsed

    def runs(self) -> dict[str, list[Any]]:
        """Each target's run rows and apply rows."""
        found: dict[str, list[Any]] = {}
        for name in self.names:
            engine = create_db_engine(DatabaseTarget(self.url(name), f"bench fleet {name}"))
            try:
                with engine.connect() as connection:
                    runs = list(connection.execute(select(nbjobs_run).where(nbjobs_run.c.target == name)))
                    applies = list(connection.execute(select(nbjobs_apply.c.id)))
                found[name] = [runs, applies]
            finally:
                engine.dispose()
        return found

    def connections_held(self) -> int | None:
        """PostgreSQL: the connections to the targets open now (the worker's pools, idle); None on SQLite."""
        if self.admin is None:
            return None
        with self.admin.connect() as connection:
            query = text("SELECT count(*) FROM pg_stat_activity WHERE datname LIKE :prefix")
            return int(connection.execute(query, {"prefix": f"{PREFIX}_t%"}).scalar_one())

    def drop(self) -> None:
        dispose_engines()
        if self.admin is not None:
            for name in ["tpl", *self.names]:
                self._sql(f"DROP DATABASE IF EXISTS {PREFIX}_{name} WITH (FORCE)")
            self.admin.dispose()

    def _create(self, name: str) -> None:
        if self.admin is not None:
            self._sql(f"DROP DATABASE IF EXISTS {PREFIX}_{name} WITH (FORCE)")
            self._sql(f"CREATE DATABASE {PREFIX}_{name}")

    def _check_connections(self, targets: int) -> None:
        with self.admin.connect() as connection:  # type: ignore[union-attr]
            limit = int(connection.execute(text("SHOW max_connections")).scalar_one())
            used = int(connection.execute(text("SELECT count(*) FROM pg_stat_activity")).scalar_one())
        needed = 2 * targets + 10  # measured: two pooled connections per target (a tick's and its apply's)
        if limit - used < needed:
            raise SystemExit(f"PostgreSQL has {limit - used} free connections of {limit}; a fleet of {targets} "
                             f"holds about {needed} (two per target, kept in each target's pool): use --engines sqlite "
                             "or fewer --targets")  # fmt: skip

    def _sql(self, statement: str) -> None:
        assert self.admin is not None
        with self.admin.connect() as connection:
            connection.execute(text(statement))

    def _write_config(self) -> Path:
        lines = [f"broker_url = {json.dumps(self.broker)}", "interval = 300", "jitter = 0", 'policy = "heal"',
                 f"repo = {json.dumps(self.remote)}", f"cache_dir = {json.dumps(str(self.cache))}",
                 f"jobs_root = {json.dumps(str(self.jobs_root))}"]  # fmt: skip
        for name in self.names:
            url = self.url(name).render_as_string(hide_password=False)
            lines += ["", "[[targets]]", f'name = "{name}"', f"database_url = {json.dumps(url)}"]
        path = self.workdir / "fleet.toml"
        path.write_text("\n".join(lines) + "\n")
        return path


def push_manifest(root: Path, jobs: int) -> str:
    """A bare remote holding bench/workload.py's manifest under manifests/, on main."""
    bare, work = root / "remote.git", root / "work"
    git(root, "init", "--bare", "-q", "-b", "main", str(bare))
    git(root, "init", "-q", "-b", "main", str(work))
    write_manifest(work / "manifests", jobs)
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "the workload's manifest")
    git(work, "remote", "add", "origin", str(bare))
    git(work, "push", "-q", "origin", "main")
    return str(bare)


@contextmanager
def worker(fleet: Fleet, concurrency: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`celery -A reconciler.loop worker` as a user starts it, in a session of its own; stopped after
    (SIGTERM, Celery's warm shutdown, then SIGKILL to the whole process group)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NBJOBS_", "NAUTOBOT_"))}
    env.update(NBJOBS_CONFIG=str(fleet.config), PYTHONUNBUFFERED="1")
    argv = [CELERY, "-A", "reconciler.loop", "worker", "-Q", LOOP_QUEUE, "--concurrency", str(concurrency),
            "--hostname", f"nbjobs-bench-fleet-{os.getpid()}@%h", "--loglevel", "INFO", "--without-gossip",
            "--without-mingle"]  # fmt: skip
    with log.open("wb") as handle:
        process = subprocess.Popen(argv, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                   cwd=fleet.workdir, start_new_session=True)  # fmt: skip
    try:
        wait(lambda: " ready." in log.read_text(errors="replace"), process, log, 120, "the worker's ready line")
        yield process
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        with suppress(ProcessLookupError, PermissionError):  # pool children the main process left behind
            os.killpg(process.pid, signal.SIGKILL)


def wait(done: Any, process: subprocess.Popen[bytes], log: Path, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        if process.poll() is not None:
            raise SystemExit(f"the worker exited ({process.returncode}) before {what}:\n{tail(log)}")
        if time.monotonic() > deadline:
            raise SystemExit(f"no {what} within {seconds:.0f} s:\n{tail(log)}")
        time.sleep(0.25)


def swept(log: Path, tasks: int) -> bool:
    """Every task succeeded, by the worker's log; a task that raised ends the benchmark at once."""
    text_ = log.read_text(errors="replace")
    if FAILED.search(text_):
        raise SystemExit(f"a reconcile task failed:\n{tail(log)}")
    return len(SUCCEEDED.findall(text_)) >= tasks


def tail(log: Path, lines: int = 30) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def sweep(fleet: Fleet, concurrency: int) -> dict[str, Any]:
    """Fresh targets, a worker of `concurrency` processes, one task per target: seconds until the last
    target's run row is written, runs per target, and tasks per pool process."""
    fleet.reset()
    client = redis.Redis.from_url(fleet.broker)
    client.flushdb()
    log = fleet.workdir / f"worker-c{concurrency}.log"
    try:
        with worker(fleet, concurrency, log) as process:
            app = make_app(fleet.settings)
            sent_at = datetime.now(UTC)
            for name in fleet.names:
                app.send_task(TASK_NAME, args=(name,), queue=LOOP_QUEUE)
            wait(lambda: swept(log, len(fleet.names)), process, log, SWEEP_SECONDS,
                 f"{len(fleet.names)} succeeded tasks")  # fmt: skip
            app.close()
            held = fleet.connections_held()
    finally:
        client.flushdb()
        client.close()
    found = fleet.runs()
    results = [m for m in SUCCEEDED.finditer(log.read_text(errors="replace"))]
    runs = {name: len(rows) for name, (rows, _applies) in found.items()}
    applied = {name: [(r.action, r.state) for r in rows] for name, (rows, _a) in found.items()}
    wrong = {name: outcome for name, outcome in applied.items() if outcome != [("applied", "in_sync")]}
    applies = {name: len(a) for name, (_rows, a) in found.items()}
    finished = max(row.finished_at for rows, _a in found.values() for row in rows)
    durations = [row.duration_seconds for rows, _a in found.values() for row in rows]
    return {
        "seconds": (finished - sent_at).total_seconds(),
        "connections": held,
        "twice": sorted(name for name, count in runs.items() if count != 1),
        "not applied": wrong,
        "applies": sorted(name for name, count in applies.items() if count != 1),
        "per process": dict(sorted(Counter(m["process"] for m in results).items())),
        "tick median": statistics.median(durations),
        "first ticks": [float(m["s"]) for m in {m["process"]: m for m in reversed(results)}.values()],
    }


def fleet_rows(engines: tuple[str, ...] = ("sqlite",), targets: int = 50, jobs: int = 200, redis_db: int = 5,
               rounds: int = 3) -> list[dict[str, str]]:  # fmt: skip
    """The speed target's row per engine: one worker process vs a pool of two over the same fleet, each
    the median of `rounds` sweeps."""
    if redis_db not in REDIS_DBS:
        raise SystemExit(f"this benchmark uses Redis databases {REDIS_DBS} only")
    clear_environment()
    rows = []
    for engine_name in engines:
        with TemporaryDirectory(prefix="nbjobs-bench-fleet-") as workdir:
            fleet = Fleet(engine_name, targets, jobs, Path(workdir), redis_db)
            try:
                fleet.prime_cache()
                in_process = fleet.one_tick()
                sweeps: dict[int, list[dict[str, Any]]] = {1: [], 2: []}
                for _ in range(rounds):  # alternating, so that a burst of other load hits both alike
                    for concurrency in (1, 2):
                        sweeps[concurrency].append(sweep(fleet, concurrency))
            finally:
                fleet.drop()
        rows.append(fleet_row(engine_name, targets, jobs, in_process, sweeps[1], sweeps[2]))
    return rows


def median_sweep(sweeps: list[dict[str, Any]]) -> dict[str, Any]:
    """The sweep of median time, with the problems of every sweep."""
    chosen = dict(sorted(sweeps, key=lambda s: s["seconds"])[len(sweeps) // 2])
    for key in ("twice", "applies"):
        chosen[key] = sorted({name for s in sweeps for name in s[key]})
    chosen["not applied"] = {k: v for s in sweeps for k, v in s["not applied"].items()}
    chosen["all seconds"] = [s["seconds"] for s in sweeps]
    return chosen


def fleet_row(engine: str, targets: int, jobs: int, in_process: float, ones: list[dict[str, Any]],
              twos: list[dict[str, Any]]) -> dict[str, str]:  # fmt: skip
    one, two = median_sweep(ones), median_sweep(twos)
    ratio = two["seconds"] / one["seconds"]
    problems = []
    for label, sweep_ in (("1 process", one), ("2 processes", two)):
        if sweep_["twice"]:
            problems.append(f"{label}: ticked other than once: {', '.join(sweep_['twice'])}")
        if sweep_["not applied"]:
            problems.append(f"{label}: not applied and in sync: {sweep_['not applied']}")
        if sweep_["applies"]:
            problems.append(f"{label}: applied other than once: {', '.join(sweep_['applies'])}")
    split = "/".join(str(n) for n in two["per process"].values())
    once = "no" if problems else "yes"
    firsts = "/".join(f"{s:.2f}" for s in two["first ticks"])
    held = "" if one["connections"] is None else (f"; connections held after the sweep: {one['connections']} "
                                                   f"(1 process), {two['connections']} (2)")  # fmt: skip
    measured = f"1 process {one['seconds']:.1f} s, 2 processes {two['seconds']:.1f} s: ratio {ratio:.2f}"
    sweeps = "; sweeps (s): " + ", ".join(f"{a:.1f}/{b:.1f}" for a, b in zip(one["all seconds"], two["all seconds"],
                                                                           strict=True))  # fmt: skip
    detail = (f"median tick {one['tick median']:.2f} s (1 process), {two['tick median']:.2f} s (2); tasks per pool "
              f"process {split}; first task of each {firsts} s; one tick in process {in_process:.2f} s")  # fmt: skip
    return {
        "target": "fleet",
        "engine": engine,
        "measure": f"{targets} targets x {jobs} jobs, one task each, policy heal, median of {len(ones)} sweeps",
        "measured": f"{measured}; each target ticked once: {once}",
        "target value": f"ratio <= {RATIO}, no target ticked twice",
        "met": verdict(ratio <= RATIO and not problems),
        "detail": "; ".join([detail + held + sweeps, *problems]),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--engines", default="sqlite", help="sqlite and/or postgresql (comma-separated)")
    parser.add_argument("--targets", type=int, help="targets in the fleet (default 50; 10 with --quick)")
    parser.add_argument("--jobs", type=int, help="jobs per target (default 200; 100 with --quick)")
    parser.add_argument("--redis-db", type=int, default=5, choices=REDIS_DBS)
    parser.add_argument("--rounds", type=int, help="sweeps of each kind, alternating (default 3; 1 with --quick)")
    parser.add_argument("--quick", action="store_true", help="10 targets of 100 jobs, one round (make bench-quick)")
    args = parser.parse_args()
    targets = args.targets or (10 if args.quick else 50)
    jobs = args.jobs or (100 if args.quick else 200)
    rounds = args.rounds or (1 if args.quick else 3)
    print_table(fleet_rows(tuple(args.engines.split(",")), targets, jobs, args.redis_db, rounds))


if __name__ == "__main__":
    main()
