"""The reconcile loop on Celery, end to end with real components: `nbjobs loop` and `celery -A
reconciler.loop` started as a user would, on this machine's Redis and RabbitMQ, a real bare git
repository as the manifests remote, and real databases (a SQLite sandbox; PostgreSQL for the fleet).

Every process a test starts runs in its own session, writes its output to a file under tmp_path (the
tails are in every failure message) and is stopped (SIGTERM, then SIGKILL to its process group) when the
test ends, however it ends. Each test uses its own Redis database (7 to 12, flushed before and after).
A test that runs over TEST_SECONDS is failed by an alarm, so none can hang the suite.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import redis
from celery import Celery
from common import ENGINES, time_limit
from loop_support import Remote, build, git, job_value, jobs_root_without_legacy, ui_edit
from sqlalchemy import URL, Engine, Row, create_engine, select, text
from sqlalchemy.exc import SQLAlchemyError

from reconciler.config import LOOP_QUEUE, Settings
from reconciler.loop.app import TASK_NAME, _reconcile, make_app
from reconciler.loop.lock import LOCK_PREFIX, tick_lock
from reconciler.loop.remote import RemoteSpec, ensure_fetched, head_revision
from reconciler.loop.tick import TransientTickError, dispose_engines, run_tick
from reconciler.nautobot.connect import DatabaseTarget, create_db_engine
from reconciler.nautobot.tables import extras_job, extras_jobqueue, extras_jobqueueassignment
from reconciler.state.tables import nbjobs_apply, nbjobs_run

pytestmark = pytest.mark.database

BIN = Path(sys.executable).parent
NBJOBS = str(BIN / "nbjobs")
CELERY = str(BIN / "celery")
REDIS = "redis://127.0.0.1:6379"
RABBITMQ = "amqp://guest:guest@127.0.0.1:5672//"
PG_ADMIN = URL.create("postgresql+psycopg", username="postgres", host="127.0.0.1", port=5432, database="postgres")
AUDIT = "audits.DeviceAudit"
DESIRED_GROUPING = "Compliance / Devices"
TEST_SECONDS = 55
T = TypeVar("T")


# --- Harness: a hard per-test time limit, processes, waiting ---------------------------------------------------


@pytest.fixture(autouse=True)
def _time_limit() -> Iterator[None]:
    with time_limit(TEST_SECONDS):
        yield


class Process:
    """One command, in a session of its own, its stdout and stderr in one log file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], cwd: Path, log: Path) -> None:
        self.name = name
        self.log = log
        self._handle = log.open("wb")
        self.popen = subprocess.Popen(argv, stdout=self._handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                      env=env, cwd=cwd, start_new_session=True)  # fmt: skip

    @property
    def pid(self) -> int:
        return self.popen.pid

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def tail(self, lines: int = 25) -> str:
        return "\n".join(self.text().splitlines()[-lines:])

    def exited(self) -> int | None:
        return self.popen.poll()

    def stop(self) -> None:
        """SIGTERM (Celery's warm shutdown), then SIGKILL; the whole process group (the pool's children too)."""
        try:
            if self.popen.poll() is None:
                with suppress(ProcessLookupError):
                    os.killpg(self.pid, signal.SIGTERM)
                try:
                    self.popen.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    with suppress(ProcessLookupError):
                        os.killpg(self.pid, signal.SIGKILL)
                    self.popen.wait(timeout=10)
            with suppress(ProcessLookupError, PermissionError):  # children the leader left behind
                os.killpg(self.pid, signal.SIGKILL)
        finally:
            self._handle.close()


class Processes:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.started: list[Process] = []
        root.mkdir(parents=True, exist_ok=True)

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> Process:
        process = Process(name, argv, env, self.root, self.root / f"{name}.log")
        self.started.append(process)
        return process

    def tails(self) -> str:
        return "".join(f"\n--- {p.name} (pid {p.pid}, exit {p.exited()}) {p.log}:\n{p.tail()}\n" for p in self.started)

    def stop_all(self) -> None:
        for process in reversed(self.started):
            process.stop()


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Processes]:
    processes = Processes(tmp_path / "procs")
    try:
        yield processes
    finally:
        processes.stop_all()


def wait_for(what: str, probe: Callable[[], T | None], procs: Processes, timeout: float) -> T:
    """probe() until it returns something truthy; fails early, with the logs, when a process died."""
    deadline = time.monotonic() + timeout
    problem: str | None = None
    while True:
        try:
            value = probe()
        except SQLAlchemyError as exc:  # SQLite busy while a worker writes, a table not there yet, ...
            value, problem = None, f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
        if value:
            return value
        dead = [p for p in procs.started if p.exited() is not None]
        if dead:
            pytest.fail(f"{dead[0].name} exited ({dead[0].exited()}) while waiting for {what}{procs.tails()}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within {timeout:g} s (last problem: {problem}){procs.tails()}")
        time.sleep(0.2)


def head_of(remote: Remote) -> str:
    return git(remote.bare, "rev-parse", "main")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(**more: str) -> dict[str, str]:
    """The environment of a user's shell, without any NBJOBS_* or NAUTOBOT_* of the one running the tests."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NBJOBS_", "NAUTOBOT_"))}
    env.update(PYTHONUNBUFFERED="1", NBJOBS_JITTER="0", **more)
    return env


def redis_broker(number: int) -> Iterator[str]:
    assert 7 <= number <= 12, "the tests keep to Redis databases 7-12"
    url = f"{REDIS}/{number}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()
        client.close()


def purge_rabbitmq_queue() -> None:
    from kombu import Connection

    with Connection(RABBITMQ, connect_timeout=5) as connection:
        channel = connection.channel()
        with suppress(*connection.channel_errors):  # the queue does not exist yet
            channel.queue_purge(LOOP_QUEUE)


# --- Databases and runs -------------------------------------------------------------------------------------------


@dataclass
class Sandbox:
    """A Nautobot sandbox with the example jobs, a remote with the example manifests, a cache directory."""

    name: str
    target: DatabaseTarget
    engine: Engine
    remote: Remote
    jobs_root: Path
    cache: Path

    @property
    def url(self) -> str:
        return self.target.url.render_as_string(hide_password=False)


def make_sandbox(root: Path, target: DatabaseTarget, remote: Remote, name: str = "default") -> Sandbox:
    jobs_root = jobs_root_without_legacy(root)
    build(target, jobs_root)
    return Sandbox(name, target, create_db_engine(target), remote, jobs_root, root.parent / "cache")


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    remote = Remote(tmp_path / "git")
    remote.push_examples()
    target = DatabaseTarget(URL.create("sqlite", database=str(tmp_path / "nautobot.db")), "test sqlite")
    made = make_sandbox(tmp_path / "default", target, remote)
    try:
        yield made
    finally:
        made.engine.dispose()
        dispose_engines()


@pytest.fixture
def empty_config(tmp_path: Path) -> Path:
    path = tmp_path / "empty.toml"
    path.write_text("")
    return path


def runs(engine: Engine, target: str | None = None) -> list[Row[Any]]:
    query = select(nbjobs_run).order_by(nbjobs_run.c.started_at)
    if target is not None:
        query = query.where(nbjobs_run.c.target == target)
    with engine.connect() as connection:
        return list(connection.execute(query))


def latest(engine: Engine, target: str = "default") -> Row[Any] | None:
    found = runs(engine, target)
    return found[-1] if found else None


def latest_in(engine: Engine, state: str, target: str = "default", **where: Any) -> Row[Any] | None:
    run = latest(engine, target)
    if run is None or run.state != state or any(getattr(run, k) != v for k, v in where.items()):
        return None
    return run


def applies(engine: Engine) -> list[Row[Any]]:
    with engine.connect() as connection:
        return list(connection.execute(select(nbjobs_apply).order_by(nbjobs_apply.c.started_at)))


def nautobot_rows(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as connection:
        return {table.name: sorted((tuple(row) for row in connection.execute(select(table))), key=repr)
                for table in (extras_job, extras_jobqueue, extras_jobqueueassignment)}  # fmt: skip


def status_json(sandbox: Sandbox, cwd: Path, **env: str) -> tuple[int, dict[str, Any], str]:
    done = subprocess.run([NBJOBS, "status", "--format", "json", "--database-url", sandbox.url], cwd=cwd,
                          env=clean_env(**env), capture_output=True, text=True, timeout=30)  # fmt: skip
    try:
        return done.returncode, json.loads(done.stdout), done.stderr
    except json.JSONDecodeError:
        pytest.fail(f"nbjobs status printed no JSON (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")


def loop_argv(sandbox: Sandbox, config: Path, broker: str, *more: str) -> list[str]:
    return [NBJOBS, "loop", "--config", str(config), "--database-url", sandbox.url, "--jobs-root",
            str(sandbox.jobs_root), "--repo", sandbox.remote.url, "--interval", "2", "--broker-url", broker,
            "--cache-dir", str(sandbox.cache), "--policy", "heal", "--prune", *more]  # fmt: skip


# --- 1. nbjobs loop on Redis ----------------------------------------------------------------------------------------


@pytest.fixture
def broker7() -> Iterator[str]:
    yield from redis_broker(7)


def test_nbjobs_loop_on_redis_heals_follows_the_remote_and_reverts_a_ui_edit(
    sandbox: Sandbox, procs: Processes, broker7: str, empty_config: Path, tmp_path: Path
) -> None:
    engine = sandbox.engine
    port = free_port()
    procs.start("loop", loop_argv(sandbox, empty_config, broker7, "--metrics-port", str(port)), clean_env())

    first = wait_for("run in sync", lambda: latest_in(engine, "in_sync"), procs, 25)
    head = head_of(sandbox.remote)
    assert first.revision == head
    assert first.action == "applied" and first.policy == "heal" and first.prune, first
    assert job_value(engine, AUDIT, "grouping") == DESIRED_GROUPING

    # The metrics, from the history, on the worker's port.
    def scrape() -> str | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
                body: str = response.read().decode()
        except OSError:
            return None
        return body if 'state="in_sync"' in body else None

    metrics = wait_for("metrics page in sync", scrape, procs, 10)
    assert re.search(r'^nbjobs_reconcile_total\{outcome="in_sync",target="default"\} [1-9]', metrics, re.M), metrics
    assert re.search(r'^nbjobs_sync_info\{[^}]*state="in_sync"[^}]*\} 1\.0$', metrics, re.M), metrics
    assert f'revision="{head}"' in metrics, metrics
    for name in ("nbjobs_drifted_objects", "nbjobs_pending_operations", "nbjobs_last_success_timestamp_seconds",
                 "nbjobs_reconcile_duration_seconds_bucket"):  # fmt: skip
        assert re.search(rf'^{name}\{{[^}}]*target="default"[^}}]*\}} ', metrics, re.M), (name, metrics)
    assert re.search(r'^nbjobs_drifted_objects\{target="default"\} 0\.0$', metrics, re.M), metrics

    # A pushed commit reaches the database.
    jobs_yaml = (sandbox.remote.work / "manifests" / "jobs.yaml").read_text()
    assert "time_limit: 3600" in jobs_yaml
    sha = sandbox.remote.push({"manifests/jobs.yaml": jobs_yaml.replace("time_limit: 3600", "time_limit: 7200")})
    wait_for("time_limit 7200 in the database", lambda: job_value(engine, AUDIT, "time_limit") == 7200, procs, 15)
    pushed = wait_for("run at the pushed commit", lambda: latest_in(engine, "in_sync", revision=sha), procs, 10)
    assert pushed.action == "applied", pushed

    # A change behind nbjobs' back is reverted, and the history names who made it.
    ui_edit(engine, AUDIT, "alice", grouping="Clicked in the UI")
    wait_for("UI edit reverted", lambda: job_value(engine, AUDIT, "grouping") == DESIRED_GROUPING, procs, 15)
    # The apply commits, then its run is recorded: wait for the run too.
    healed = wait_for("run that healed the edit", lambda: _newer_in_sync(engine, pushed), procs, 10)
    assert healed.action == "applied" and healed.revision == sha, healed
    grouping = [entry for entry in healed.drift if entry["field"] == "grouping"]
    assert [(e["actual"], e["desired"], e["changed_by"], e["healed"]) for e in grouping] == [
        ("Clicked in the UI", DESIRED_GROUPING, "alice", True)
    ], healed.drift

    # `nbjobs status`, with the loop's configuration (policy and prune are settings, not read from the run).
    code, status, stderr = status_json(sandbox, tmp_path, NBJOBS_POLICY="heal", NBJOBS_PRUNE="true")
    assert code == 0, (status, stderr)
    assert {"state", "revision", "last_run_at", "policy", "drift", "pending", "errors"} <= status.keys(), status
    assert status["state"] == "in_sync" and status["revision"] == sha and status["policy"] == "heal", status
    assert status["drift"] == [] and status["pending"] == [] and status["errors"] == [], status
    assert [e["changed_by"] for e in status["healed"] if e["field"] == "grouping"] == ["alice"], status
    # In sync and nothing changes: the next ticks are idle (a heartbeat, no new run row).
    idle = re.compile(r"Task nbjobs\.reconcile\[[^]]+\] succeeded in [^{]*\{'target': 'default', 'state': 'in_sync', "
                      r"'action': 'idle'")  # fmt: skip
    wait_for("idle tick", lambda: idle.search(procs.started[0].text().partition(healed.id.hex)[2]), procs, 10)
    # Each apply is followed by one run that plans again (an apply keeps no fingerprint of its own writes).
    applied = [r for r in runs(engine) if r.action == "applied"]
    assert [r.id for r in applied] == [first.id, pushed.id, healed.id]
    assert {(r.state, r.action) for r in runs(engine) if r.action != "applied"} <= {("in_sync", "none")}


def _newer_in_sync(engine: Engine, than: Row[Any]) -> Row[Any] | None:
    run = latest_in(engine, "in_sync")
    return run if run is not None and run.id != than.id else None


# --- 2. nbjobs loop on RabbitMQ -------------------------------------------------------------------------------------


@pytest.fixture
def rabbitmq() -> Iterator[str]:
    purge_rabbitmq_queue()
    try:
        yield RABBITMQ
    finally:
        purge_rabbitmq_queue()


def test_nbjobs_loop_on_rabbitmq_reconciles(
    sandbox: Sandbox, procs: Processes, rabbitmq: str, empty_config: Path
) -> None:
    procs.start("loop", loop_argv(sandbox, empty_config, rabbitmq), clean_env())
    run = wait_for("run in sync", lambda: latest_in(sandbox.engine, "in_sync"), procs, 25)
    assert run.action == "applied" and run.revision == head_of(sandbox.remote), run
    assert job_value(sandbox.engine, AUDIT, "grouping") == DESIRED_GROUPING
    assert [a.outcome for a in applies(sandbox.engine)] == ["applied"]
    wait_for("idle tick", lambda: "'action': 'idle'" in procs.started[0].text(), procs, 10)


# --- 3. celery -A reconciler.loop worker -B, from a settings file --------------------------------------------------


@pytest.fixture
def broker8() -> Iterator[str]:
    yield from redis_broker(8)


def test_celery_worker_with_beat_from_a_settings_file_detects_and_changes_nothing(
    sandbox: Sandbox, procs: Processes, broker8: str, tmp_path: Path
) -> None:
    config = tmp_path / "nbjobs.toml"
    config.write_text(
        f"database_url = {json.dumps(sandbox.url)}\njobs_root = {json.dumps(str(sandbox.jobs_root))}\n"
        f"repo = {json.dumps(sandbox.remote.url)}\ncache_dir = {json.dumps(str(sandbox.cache))}\n"
        f'broker_url = "{broker8}"\ninterval = 2\njitter = 0\npolicy = "detect"\n'
    )
    before = nautobot_rows(sandbox.engine)
    env = clean_env(NBJOBS_CONFIG=str(config))
    del env["NBJOBS_JITTER"]  # from the file alone
    argv = [CELERY, "-A", "reconciler.loop", "worker", "-B", "-Q", LOOP_QUEUE, "--concurrency", "1", "-s",
            str(tmp_path / "beat"), "--loglevel", "INFO"]  # fmt: skip
    procs.start("worker", argv, env)
    run = wait_for("drifted run", lambda: latest_in(sandbox.engine, "drifted"), procs, 25)
    assert run.action == "none" and run.policy == "detect" and run.drift, run
    assert {(e["job"], e["field"]) for e in run.drift} >= {(AUDIT, "grouping"), (AUDIT, "enabled")}, run.drift
    assert [(p["job"], p["step"]) for p in run.pending] == [("legacy.OldImport", 4)], run.pending
    wait_for("idle tick", lambda: "'action': 'idle'" in procs.started[0].text(), procs, 10)
    assert nautobot_rows(sandbox.engine) == before
    assert applies(sandbox.engine) == []
    assert len(runs(sandbox.engine)) == 1, "detect, nothing changed: later ticks are idle"


# --- 4. Two workers and one beat never overlap on one target (PostgreSQL fleet) ------------------------------------


@pytest.fixture
def broker9() -> Iterator[str]:
    yield from redis_broker(9)


@pytest.fixture
def pg_fleet(tmp_path: Path) -> Iterator[list[Sandbox]]:
    """Three targets, each a sandbox in a PostgreSQL database of its own, all following one remote."""
    if "postgresql" not in ENGINES:
        pytest.skip("PostgreSQL is not among NBJOBS_TEST_ENGINES")
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    names = [f"nbjobs_loopc_{os.getpid()}_{i}" for i in (1, 2, 3)]
    fleet: list[Sandbox] = []
    remote = Remote(tmp_path / "git")
    remote.push_examples()
    try:
        for number, name in enumerate(names, 1):
            with admin.connect() as connection:
                connection.execute(text(f"DROP DATABASE IF EXISTS {name}"))
                connection.execute(text(f"CREATE DATABASE {name}"))
            target = DatabaseTarget(PG_ADMIN.set(database=name), f"fleet t{number}")
            fleet.append(make_sandbox(tmp_path / f"t{number}", target, remote, f"t{number}"))
        # The targets share the git cache (cache_dir is global). Its first creation by several ticks at
        # once is racy (remote._cache_repository: see the report), and this test is about the tick lock:
        # the cache is made, and the head fetched, before any worker starts.
        spec = RemoteSpec(remote.url)
        ensure_fetched(spec, fleet[0].cache, head_revision(spec, fleet[0].cache))
        yield fleet
    finally:
        for member in fleet:
            member.engine.dispose()
        dispose_engines()
        with admin.connect() as connection:
            for name in names:
                connection.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n "
                                        "AND pid <> pg_backend_pid()"), {"n": name})  # fmt: skip
                connection.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        admin.dispose()


def fleet_config(path: Path, fleet: list[Sandbox], broker: str) -> Path:
    lines = [f'broker_url = "{broker}"', "interval = 1", "jitter = 0", 'policy = "heal"', "prune = true",
             f"repo = {json.dumps(fleet[0].remote.url)}", f"cache_dir = {json.dumps(str(fleet[0].cache))}"]  # fmt: skip
    for member in fleet:
        lines += ["", "[[targets]]", f'name = "{member.name}"', f"database_url = {json.dumps(member.url)}",
                  f"jobs_root = {json.dumps(str(member.jobs_root))}"]  # fmt: skip
    path.write_text("\n".join(lines) + "\n")
    return path


# In Celery's log line the message is inside the result's repr: its quotes come escaped.
SKIPPED = re.compile(r"target \\?'(?P<target>[^'\\]+)\\?' is being reconciled by another worker \((?P<holder>[^)]*)\)")


def test_two_workers_and_one_beat_never_tick_one_target_twice_at_once(
    pg_fleet: list[Sandbox], procs: Processes, broker9: str, tmp_path: Path
) -> None:
    config = fleet_config(tmp_path / "fleet.toml", pg_fleet, broker9)
    env = clean_env(NBJOBS_CONFIG=str(config))
    began = time.monotonic()
    workers: dict[str, Process] = {}
    for name in ("w1", "w2"):
        argv = [CELERY, "-A", "reconciler.loop", "worker", "-Q", LOOP_QUEUE, "--concurrency", "1", "--hostname",
                f"{name}@%h", "--loglevel", "INFO"]  # fmt: skip
        workers[name] = procs.start(name, argv, env)
    procs.start("beat", [CELERY, "-A", "reconciler.loop", "beat", "-s", str(tmp_path / "beat"), "--loglevel", "INFO"],
                env)  # fmt: skip

    def newest() -> dict[str, Any]:
        return {member.name: latest(member.engine, member.name).id for member in pg_fleet}

    def healed_since(seen: dict[str, Any], members: list[Sandbox]) -> bool:
        """Reverted, and the run that did it recorded: an edit made before the heal's run is written
        could be taken for the state it left (see the report on tick._heal's fingerprint)."""
        return all(job_value(m.engine, AUDIT, "grouping") == DESIRED_GROUPING
                   and (run := latest_in(m.engine, "in_sync", m.name)) is not None and run.id != seen[m.name]
                   for m in members)  # fmt: skip

    wait_for("fleet in sync", lambda: all(latest_in(m.engine, "in_sync", m.name) for m in pg_fleet), procs, 25)
    synced = newest()
    for member in pg_fleet:  # one real change per target
        ui_edit(member.engine, AUDIT, "carol", grouping="Edited by carol")
    wait_for("fleet healed", lambda: healed_since(synced, pg_fleet), procs, 15)

    # t1's next full tick is held for 4 s inside the database (idle ticks never read nbjobs' schema
    # version; a full tick does, first thing): beat goes on sending t1 every second meanwhile, and the
    # worker that is not stuck must skip them, naming the holder.
    t1 = pg_fleet[0]
    healed = newest()
    with t1.engine.connect() as blocker:
        blocker.execute(text("LOCK TABLE nbjobs_alembic_version IN ACCESS EXCLUSIVE MODE"))
        ui_edit(t1.engine, AUDIT, "dave", grouping="Edited by dave")
        time.sleep(4)
        blocker.rollback()
    wait_for("t1 healed again", lambda: healed_since(healed, [t1]), procs, 15)
    holders = {
        name: {m["holder"] for m in SKIPPED.finditer(worker.text()) if m["target"] == "t1"}
        for name, worker in workers.items()
    }
    pool = {name: _pool_pids(worker.pid) for name, worker in workers.items()}  # while the workers still run
    time.sleep(max(0.0, 15 - (time.monotonic() - began)))
    procs.stop_all()
    tails = procs.tails()

    # No two runs of one target overlap in time, whichever worker ran them.
    for member in pg_fleet:
        history = runs(member.engine, member.name)
        assert history, member.name
        for earlier, later in itertools.pairwise(history):
            assert later.started_at >= earlier.finished_at, (member.name, earlier, later)
        assert not [r for r in history if r.action in ("locked", "failed")], [(r.action, r.message) for r in history]
    # The held tick ran long and healed dave's edit; the other worker skipped t1 meanwhile.
    (long_run,) = [r for r in runs(t1.engine, "t1") if r.duration_seconds >= 3]
    assert long_run.action == "applied", long_run
    assert [e["changed_by"] for e in long_run.drift if e["field"] == "grouping"] == ["dave"], long_run.drift
    skipping = [name for name, found in holders.items() if found]
    assert skipping, f"no worker skipped t1 while it was held{tails}"
    for name in skipping:
        other = "w2" if name == "w1" else "w1"
        for holder in holders[name]:
            host, pid, _token = holder.split(":")
            assert host == socket.gethostname() and int(pid) in pool[other], (name, holder, pool)
    # Both workers did work.
    for name, worker in workers.items():
        assert re.search(r"Task nbjobs\.reconcile\[[^]]+\] succeeded", worker.text()), f"{name} did nothing{tails}"
    # Nothing was applied twice: one apply per real change (the first sync, carol's edit; dave's on t1).
    for member, changes in zip(pg_fleet, (3, 2, 2), strict=True):
        outcomes = [(a.outcome, a.revision) for a in applies(member.engine)]
        head = head_of(pg_fleet[0].remote)[:12]
        assert outcomes == [("applied", head)] * changes, (member.name, outcomes)


def _pool_pids(worker_pid: int) -> set[int]:
    """The processes of a worker's session: its main process and its pool's children."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with suppress(OSError):
                if os.getpgid(int(entry.name)) == worker_pid:
                    found.add(int(entry.name))
    return found


# --- 5. The Redis tick lock ----------------------------------------------------------------------------------------


@pytest.fixture
def broker10() -> Iterator[str]:
    yield from redis_broker(10)


@pytest.fixture
def task_settings(sandbox: Sandbox, broker10: str) -> Iterator[Settings]:
    """The task's settings in this process, as a worker has them (make_app sets them)."""
    settings = Settings(database_url=sandbox.url, jobs_root=sandbox.jobs_root, repo=sandbox.remote.url,
                        cache_dir=sandbox.cache, broker_url=broker10, policy="heal", prune=True, interval=300,
                        jitter=0)  # fmt: skip
    make_app(settings)
    try:
        yield settings
    finally:
        sys.modules["reconciler.loop.app"]._settings = None  # type: ignore[attr-defined]
        dispose_engines()


def test_a_held_tick_lock_skips_the_tick_and_an_expired_one_lets_it_proceed(
    sandbox: Sandbox, task_settings: Settings, broker10: str, empty_config: Path, tmp_path: Path
) -> None:
    cli = [NBJOBS, "reconcile", "--config", str(empty_config), "--database-url", sandbox.url, "--jobs-root",
           str(sandbox.jobs_root), "--repo", sandbox.remote.url, "--cache-dir", str(sandbox.cache), "--policy", "heal",
           "--prune", "--broker-url", broker10]  # fmt: skip
    key = LOCK_PREFIX + "default"
    client = redis.Redis.from_url(broker10)
    try:
        with tick_lock(broker10, "default", 30) as token:
            assert token is not None and token.startswith(f"{socket.gethostname()}:{os.getpid()}:")
            assert client.get(key) == token.encode() and 0 < client.pttl(key) <= 30_000
            skipped = _reconcile(None, "default")
            assert skipped["action"] == "skipped" and token in skipped["message"], skipped
            done = subprocess.run(cli, cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=30)
            assert done.returncode == 0 and done.stdout == "", done  # a skipped tick is not a failure (cron)
            assert f"another worker ({token}); skipped" in done.stderr and "Traceback" not in done.stderr, done
        assert client.get(key) is None, "released on leaving the block"
        assert runs(sandbox.engine) == [], "a skipped tick records no run"

        # A worker that died holding the lock: it is never released, only its TTL frees the target.
        ghost = "ghost-host:4242:deadbeef"
        assert client.lock(key, timeout=1).acquire(blocking=False, token=ghost)
        assert ghost in _reconcile(None, "default")["message"]
        deadline = time.monotonic() + 5
        while client.exists(key) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not client.exists(key), "the 1 s TTL did not expire"
        proceeded = _reconcile(None, "default")
        assert proceeded["action"] == "applied" and proceeded["state"] == "in_sync", proceeded
        assert client.get(key) is None
        assert [(r.state, r.action) for r in runs(sandbox.engine)] == [("in_sync", "applied")]
        done = subprocess.run(cli, cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=30)
        assert done.returncode == 0 and done.stdout.startswith("default: in_sync (none)"), done  # plans once more
        done = subprocess.run(cli, cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=30)
        assert done.returncode == 0 and done.stdout.startswith("default: in_sync (idle)"), done
    finally:
        client.close()


# --- 6. A transient failure --------------------------------------------------------------------------------------


CLOSED = "postgresql+psycopg://postgres:s3cret@127.0.0.1:1/x"


@pytest.fixture
def broker11() -> Iterator[str]:
    yield from redis_broker(11)


@pytest.fixture
def unreachable(tmp_path: Path) -> Iterator[Settings]:
    remote = Remote(tmp_path / "git")
    remote.push_examples()
    try:
        yield Settings(database_url=CLOSED, repo=remote.url, cache_dir=tmp_path / "cache", jitter=0)
    finally:
        dispose_engines()


def test_an_unreachable_database_is_transient_and_says_so_in_one_sentence_without_the_password(
    unreachable: Settings, empty_config: Path, tmp_path: Path
) -> None:
    with pytest.raises(TransientTickError) as raised:
        run_tick(unreachable, unreachable.target())
    assert "127.0.0.1" in str(raised.value) and "port 1" in str(raised.value), raised.value
    assert "s3cret" not in str(raised.value)

    done = subprocess.run([NBJOBS, "reconcile", "--config", str(empty_config), "--database-url", CLOSED, "--repo",
                           str(unreachable.repo.get_secret_value()), "--cache-dir", str(unreachable.cache_dir)],
                          cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=30)  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 1, done
    assert done.stdout == "" and len(done.stderr.strip().splitlines()) == 1, done
    assert done.stderr.startswith("Error: database: ") and "(transient: the loop would retry)" in done.stderr, done
    assert "Traceback" not in output and "s3cret" not in output, done


def test_a_transient_failure_is_retried_by_the_worker(unreachable: Settings, procs: Processes, broker11: str) -> None:
    env = clean_env(NBJOBS_DATABASE_URL=CLOSED, NBJOBS_REPO=str(unreachable.repo.get_secret_value()),
                    NBJOBS_CACHE_DIR=str(unreachable.cache_dir), NBJOBS_BROKER_URL=broker11)  # fmt: skip
    worker = procs.start("worker", [CELERY, "-A", "reconciler.loop", "worker", "-Q", LOOP_QUEUE, "--concurrency", "1",
                                    "--loglevel", "INFO"], env)  # fmt: skip
    wait_for("worker ready", lambda: " ready." in worker.text(), procs, 20)
    sender = Celery("test", broker=broker11, set_as_current=False)
    try:
        task_id = sender.send_task(TASK_NAME, args=("default",), queue=LOOP_QUEUE).id
    finally:
        sender.close()
    # Raised, retried after a backoff of 0-5 s, raised again: two retries of one task.
    retried = re.compile(rf"Task {TASK_NAME}\[{task_id}\] retry: Retry in \d+s: TransientTickError\('database: ")
    wait_for("task run again after its retry", lambda: len(retried.findall(worker.text())) >= 2, procs, 20)
    log = worker.text()
    assert "s3cret" not in log and "Traceback" not in log, log
