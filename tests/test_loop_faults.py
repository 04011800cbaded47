"""The reconcile loop under faults, with real components: the git remote gone, the database down (a
private PostgreSQL cluster stopped as a crash would, and stopped in the middle of an apply), the broker
down (a private redis-server killed while `nbjobs loop` runs), and a worker killed mid-tick (SIGKILL while
it holds the tick lock and an uncommitted apply).

Each time: the failure is said in one line without a password, nothing is half-applied, the next tick
after the fault completes, nothing is applied twice, and `nbjobs status` says what happened. These tests
use only Redis databases 3 and 4, on redis-servers of their own.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from common import clear_settings_environment, time_limit
from loop_support import Remote, build, job_value, jobs_root_without_legacy, ui_edit
from private_servers import PrivatePostgres, private_postgres, private_redis
from sqlalchemy import Engine, func, select
from test_loop_celery import NBJOBS, Processes, clean_env, latest_in, runs, wait_for

from reconciler.cli import main
from reconciler.config import Policy, Settings
from reconciler.loop.lock import LOCK_PREFIX, RUNNING_SUFFIX
from reconciler.loop.tick import TransientTickError, dispose_engines, engine_for, run_tick
from reconciler.nautobot.connect import DatabaseTarget, create_db_engine
from reconciler.state.tables import nbjobs_apply

pytestmark = pytest.mark.database

PASSWORD = "Fq7-lo0p-S3cret"
AUDIT = "audits.DeviceAudit"
DESIRED_GROUPING = "Compliance / Devices"


@pytest.fixture(autouse=True)
def _time_limit() -> Iterator[None]:
    with time_limit(110):
        yield


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Processes]:
    processes = Processes(tmp_path / "procs")
    try:
        yield processes
    finally:
        processes.stop_all()


def applied(engine: Engine) -> int:
    with engine.connect() as connection:
        query = select(func.count()).select_from(nbjobs_apply).where(nbjobs_apply.c.outcome == "applied")
        return int(connection.execute(query).scalar_one())


def status(capsys: pytest.CaptureFixture[str], database: str, *more: str) -> tuple[int, str, str]:
    """`nbjobs status` through the CLI's main, as a user would run it between ticks."""
    code = main(["status", "--database-url", database, *more])
    out, err = capsys.readouterr()
    dispose_engines()
    assert "Traceback" not in out + err and "Internal error" not in err and PASSWORD not in out + err, (out, err)
    return code, out, err


def status_json(capsys: pytest.CaptureFixture[str], database: str) -> dict[str, Any]:
    code, out, _ = status(capsys, database, "--format", "json")
    document: dict[str, Any] = json.loads(out)
    assert code == {"in_sync": 0, "error": 1}.get(document["state"], 2), (code, document)
    return document


@pytest.fixture
def settings_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clear_settings_environment(monkeypatch)
    monkeypatch.chdir(tmp_path)


# --- The git remote unreachable ---------------------------------------------------------------------------------


@pytest.fixture
def sqlite_loop(tmp_path: Path, settings_environment: None) -> Iterator[tuple[Settings, Remote, str]]:
    remote = Remote(tmp_path / "git")
    remote.push_examples()
    jobs_root = jobs_root_without_legacy(tmp_path)
    database = f"sqlite:///{tmp_path / 'nautobot.db'}"
    build(DatabaseTarget(_url(database), "test"), jobs_root)
    settings = Settings(database_url=database, jobs_root=jobs_root, repo=remote.url, cache_dir=tmp_path / "cache",
                        policy=Policy.HEAL, prune=True, interval=300, jitter=0)  # fmt: skip
    yield settings, remote, database
    dispose_engines()


def _url(database: str) -> Any:
    from sqlalchemy import make_url

    return make_url(database)


def test_an_unreachable_remote_is_recorded_as_transient_and_the_next_tick_completes(
    sqlite_loop: tuple[Settings, Remote, str], capsys: pytest.CaptureFixture[str]
) -> None:
    settings, remote, database = sqlite_loop
    engine = engine_for(settings.target())
    assert run_tick(settings, settings.target()).action == "applied"
    assert applied(engine) == 1
    text = (remote.work / "manifests" / "jobs.yaml").read_text().replace("time_limit: 3600", "time_limit: 7200")
    sha = remote.push({"manifests/jobs.yaml": text}, "longer audits")
    moved = remote.bare.with_name("remote-away.git")
    remote.bare.rename(moved)  # the git server is gone
    try:
        with pytest.raises(TransientTickError) as raised:
            run_tick(settings, settings.target())
        assert "cannot list the branches of" in str(raised.value), raised.value
        document = status_json(capsys, database)
        assert document["state"] == "error" and document["errors"][0]["transient"], document
        assert "cannot list the branches of" in document["last_error"], document
        code, out, _ = status(capsys, database)
        assert code == 1 and "  transient: cannot list the branches of" in out, out
        assert job_value(engine, AUDIT, "time_limit") == 3600 and applied(engine) == 1  # nothing half-applied
    finally:
        moved.rename(remote.bare)
    outcome = run_tick(settings, settings.target())  # the remote is back: the next tick completes
    assert outcome.action == "applied" and outcome.revision == sha and outcome.state == "in_sync", outcome
    assert job_value(engine, AUDIT, "time_limit") == 7200 and applied(engine) == 2
    assert run_tick(settings, settings.target()).action == "none"  # plans once more after an apply, applies nothing
    assert applied(engine) == 2
    assert status_json(capsys, database)["state"] == "in_sync"


# --- The database down --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def postgres() -> Iterator[PrivatePostgres]:
    """A cluster these tests stop and start, shared by the module (each test has a database of its own)."""
    with private_postgres(PASSWORD) as server:
        yield server


@pytest.fixture
def pg_loop(
    postgres: PrivatePostgres, tmp_path: Path, settings_environment: None
) -> Iterator[tuple[Settings, Remote, str]]:
    remote = Remote(tmp_path / "git")
    remote.push_examples()
    jobs_root = jobs_root_without_legacy(tmp_path)
    url = postgres.create_database()
    build(DatabaseTarget(url, "private postgres"), jobs_root)
    database = url.render_as_string(hide_password=False)
    settings = Settings(database_url=database, jobs_root=jobs_root, repo=remote.url, cache_dir=tmp_path / "cache",
                        policy=Policy.HEAL, prune=True, interval=300, jitter=0)  # fmt: skip
    yield settings, remote, database
    dispose_engines()


def test_a_database_that_goes_down_between_ticks(
    pg_loop: tuple[Settings, Remote, str], postgres: PrivatePostgres, capsys: pytest.CaptureFixture[str]
) -> None:
    settings, _, database = pg_loop
    engine = engine_for(settings.target())
    assert run_tick(settings, settings.target()).action == "applied"
    ui_edit(engine, AUDIT, "alice", grouping="Clicked in the UI")
    postgres.stop()  # a crash: the pool's connections are cut too
    for _ in range(2):  # every tick meanwhile fails, as a transient error the task retries
        with pytest.raises(TransientTickError) as raised:
            run_tick(settings, settings.target())
        assert str(raised.value).startswith("database: ") and PASSWORD not in str(raised.value), raised.value
    code, _, err = status(capsys, database)
    assert code == 1 and err.startswith("Error: database: ") and len(err.splitlines()) == 1, err
    postgres.start()
    # The first tick after the restart completes: the pool's dead connections are not reused.
    outcome = run_tick(settings, settings.target())
    assert outcome.action == "applied" and outcome.state == "in_sync", outcome
    assert [d["changed_by"] for d in outcome.drift if d["field"] == "grouping"] == ["alice"]
    assert job_value(engine, AUDIT, "grouping") == DESIRED_GROUPING and applied(engine) == 2
    document = status_json(capsys, database)
    assert document["state"] == "in_sync" and document["action"] == "applied" and not document["overdue"], document
    # A restart no tick saw (the pool holds connections the restart cut): the next tick completes all the same.
    assert run_tick(settings, settings.target()).action == "none"
    postgres.stop()
    postgres.start()
    engine.dispose()  # this test's own reads, on the tick's engine of before (status disposed the tick's)
    other = create_db_engine(DatabaseTarget(engine.url, "the UI"))
    try:
        ui_edit(other, AUDIT, "bob", grouping="Edited by bob")
    finally:
        other.dispose()
    outcome = run_tick(settings, settings.target())
    assert outcome.action == "applied" and applied(engine) == 3, outcome


def test_a_database_that_dies_in_the_middle_of_an_apply(
    pg_loop: tuple[Settings, Remote, str], postgres: PrivatePostgres, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """`nbjobs reconcile` is stopped just before its apply commits (a fault point), the server crashes,
    the tick resumes: it fails in one line, nothing of it is applied, and the next tick applies it once."""
    settings, remote, database = pg_loop
    (tmp_path / "empty.toml").write_text("")
    argv = [NBJOBS, "reconcile", "--config", str(tmp_path / "empty.toml"), "--database-url", database, "--jobs-root",
            str(settings.target().jobs_root), "--repo", remote.url, "--cache-dir", str(tmp_path / "cache"),
            "--policy", "heal", "--prune"]  # fmt: skip
    env = clean_env(NBJOBS_FAULT_POINT="apply.before-commit", NBJOBS_FAULT_SIGNAL="STOP", NBJOBS_DEBUG="1")
    tick = subprocess.Popen(argv, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_stopped(tick.pid, 60)
        postgres.stop()
        os.kill(tick.pid, signal.SIGCONT)
        out, err = tick.communicate(timeout=60)
    finally:
        if tick.poll() is None:
            tick.kill()
            tick.wait()
    assert tick.returncode == 1, (out, err)
    assert out == "" and len(err.splitlines()) == 1 and "(transient: the loop would retry)" in err, err
    assert PASSWORD not in err and "Traceback" not in err, err
    postgres.start()
    engine = engine_for(settings.target())
    assert applied(engine) == 0 and job_value(engine, AUDIT, "grouping") != DESIRED_GROUPING  # nothing half-applied
    outcome = run_tick(settings, settings.target())
    assert outcome.action == "applied" and outcome.state == "in_sync", outcome
    assert applied(engine) == 1 and job_value(engine, AUDIT, "grouping") == DESIRED_GROUPING
    assert status_json(capsys, database)["state"] == "in_sync"


def _wait_stopped(pid: int, seconds: float) -> None:
    """Until process `pid` is stopped (SIGSTOP at its fault point)."""
    deadline = time.monotonic() + seconds
    while _state(pid) != "T":
        assert time.monotonic() < deadline, f"process {pid} did not reach its fault point within {seconds} s"
        time.sleep(0.05)


def _state(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


# --- The broker down, and a worker killed mid-tick (nbjobs loop, Celery) -------------------------------------------


def _loop_argv(settings: Settings, remote: Remote, database: str, config: Path, broker: str, *more: str) -> list[str]:
    return [NBJOBS, "loop", "--config", str(config), "--database-url", database, "--jobs-root",
            str(settings.target().jobs_root), "--repo", remote.url, "--interval", "1", "--broker-url", broker,
            "--cache-dir", str(settings.cache_dir), "--policy", "heal", "--prune", *more]  # fmt: skip


@pytest.mark.slow
def test_the_broker_down_and_back(
    sqlite_loop: tuple[Settings, Remote, str], procs: Processes, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """The loop's Redis is killed: the loop keeps running and retrying (its log masks the password),
    status says the target is overdue; Redis comes back: the loop resumes and applies the commit pushed
    meanwhile, once."""
    settings, remote, database = sqlite_loop
    engine = engine_for(settings.target())
    config = tmp_path / "empty.toml"
    config.write_text("")
    monkeypatch.setenv("NBJOBS_JITTER", "0")  # status with the loop's settings (the loop records its interval only)
    with private_redis(tmp_path / "redis", password=PASSWORD) as redis:
        loop = procs.start("loop", _loop_argv(settings, remote, database, config, redis.url(3)), clean_env())
        first = wait_for("run in sync", lambda: latest_in(engine, "in_sync"), procs, 40)
        assert first.action == "applied" and applied(engine) == 1
        redis.stop()
        text = (remote.work / "manifests" / "jobs.yaml").read_text().replace("time_limit: 3600", "time_limit: 7200")
        sha = remote.push({"manifests/jobs.yaml": text}, "pushed while the broker is down")
        wait_for("the loop retrying its broker", lambda: "Cannot connect to redis://:**@127.0.0.1" in loop.text(),
                 procs, 20)  # fmt: skip
        time.sleep(3)  # two intervals and more without a tick
        assert loop.exited() is None, loop.tail()
        document = status_json(capsys, database)
        assert document["overdue"] and document["state"] == "in_sync", document
        _, out, _ = status(capsys, database)
        assert "  overdue: no tick has checked this target since" in out, out
        assert job_value(engine, AUDIT, "time_limit") == 3600
        redis.start()  # the same port: the loop reconnects by itself
        pushed = wait_for("run at the pushed commit", lambda: latest_in(engine, "in_sync", revision=sha), procs, 60)
    assert pushed.action == "applied" and job_value(engine, AUDIT, "time_limit") == 7200, pushed
    assert applied(engine) == 2, "one apply per change"
    assert PASSWORD not in loop.text()
    document = status_json(capsys, database)
    assert not document["overdue"] and document["revision"] == sha, document


@pytest.mark.slow
def test_a_worker_killed_mid_tick(
    sqlite_loop: tuple[Settings, Remote, str], procs: Processes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The worker's pool process is stopped just before its apply commits, holding the tick lock, and
    SIGKILLed there. Its lock frees the target only when its TTL runs out (ticks meanwhile are skipped,
    naming the dead holder); then a tick applies the change, once, and its run says the tick before it
    died."""
    settings, remote, database = sqlite_loop
    engine = engine_for(settings.target())
    config = tmp_path / "empty.toml"
    config.write_text("")
    ttl = 6
    with private_redis(tmp_path / "redis") as redis:
        broker = redis.url(4)
        env = clean_env(NBJOBS_FAULT_POINT="apply.before-commit", NBJOBS_FAULT_SIGNAL="STOP", NBJOBS_LOCK_TTL=str(ttl))
        loop = procs.start("loop", _loop_argv(settings, remote, database, config, broker), env)
        victim = wait_for("a pool process stopped before its commit", lambda: _stopped_in(loop.pid), procs, 40)
        import redis as redis_client

        client = redis_client.Redis.from_url(broker)
        try:
            holder = client.get(LOCK_PREFIX + "default")
            assert holder is not None and f":{victim}:" in holder.decode(), holder
            os.kill(victim, signal.SIGKILL)
            killed_at = time.monotonic()
            wait_for("a tick skipped for the dead holder", lambda: f":{victim}:" in loop.text().split("SIGKILL", 1)[-1]
                     and "is being reconciled by another worker" in loop.text(), procs, 20)  # fmt: skip
            assert applied(engine) == 0, "the killed apply left nothing"
            # After the TTL, a new pool process takes the target and reaches the commit: let it go on.
            resumed = wait_for("the next tick at its commit", lambda: _stopped_in(loop.pid, not_pid=victim), procs, 40)
            assert time.monotonic() - killed_at >= ttl - 1.5, "the lock was taken before its TTL ran out"
            os.kill(resumed, signal.SIGCONT)
            run = wait_for("run in sync", lambda: latest_in(engine, "in_sync"), procs, 30)
            assert not client.exists(LOCK_PREFIX + "default" + RUNNING_SUFFIX) or client.get(
                LOCK_PREFIX + "default" + RUNNING_SUFFIX) != holder  # fmt: skip
        finally:
            client.close()
    assert run.action == "applied", run
    assert f":{victim}:" in run.message and "did not finish: its worker died mid-tick" in run.message, run.message
    assert applied(engine) == 1 and job_value(engine, AUDIT, "grouping") == DESIRED_GROUPING
    assert [r.action for r in runs(engine)] == ["applied"], "the killed tick recorded nothing, the next one once"
    document = status_json(capsys, database)
    assert document["state"] == "in_sync" and "its worker died mid-tick" in document["message"], document
    code, out, _ = status(capsys, database)
    assert code == 0 and "did not finish: its worker died mid-tick" in out, out


def _stopped_in(group: int, not_pid: int | None = None) -> int | None:
    """A stopped process (state T) of process group `group`, other than `not_pid`."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == not_pid:
            continue
        try:
            if os.getpgid(int(entry.name)) == group and _state(int(entry.name)) == "T":
                return int(entry.name)
        except OSError:
            continue
    return None
