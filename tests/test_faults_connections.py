"""Lost connections (issue 15) on PostgreSQL and MariaDB: the server ends the apply's sessions
(pg_terminate_backend, KILL) or is restarted under it, at named points of the apply.

The apply (faults_support.Workload at 100 jobs, a retirement and a purge in 4 batches) stops itself at a
fault point (NBJOBS_FAULT_SIGNAL=STOP), the test ends its sessions or restarts the server, then lets it
go on. nbjobs must say so in one sentence (no traceback, no driver text), leave nothing half-applied,
record the failure in its history when the database is there to take it, and a retry must finish the work.
Restarts use a server of the test's own (faults_support.PrivatePostgres, PrivateMariaDB), never the
shared ones. `make test` runs the PostgreSQL session case; the rest is slow.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from common import ENGINES, clear_settings_environment, time_limit
from faults_support import (
    LOCK_TABLE,
    Databases,
    Dump,
    Finished,
    PrivateMariaDB,
    PrivatePostgres,
    PrivateServer,
    Workload,
    dump,
    finish,
    nbjobs,
    wait_stopped,
)
from sqlalchemy import URL, create_engine, text

from reconciler.cli import main
from reconciler.nautobot.connect import DatabaseTarget, create_db_engine

SERVER_ENGINES = [e for e in ("postgresql", "mariadb") if e in ENGINES]
LOST = "the connection to the database was lost (the server ended the session, or went down or restarted)"
ROLLED_BACK = (f"Error: {LOST} during the apply; its transaction was rolled back and nothing was changed. Run the "
               "apply again once the database is reachable.")  # fmt: skip
# What a user must never see: Python's or the driver's words.
DRIVER_WORDS = ("Traceback", "psycopg", "pymysql", "sqlalche", "[SQL", "terminating connection", "Lost connection",
                "server closed", "(2013", "(2006", "OperationalError", "Internal error")  # fmt: skip
HISTORY = "nbjobs_apply"


def end_sessions(url: URL) -> int:
    """End every session of the database but our own, as an administrator would; how many were ended."""
    database = url.database
    admin = create_engine(url.set(database="postgres" if url.get_backend_name() == "postgresql" else "mysql"),
                          isolation_level="AUTOCOMMIT")  # fmt: skip
    try:
        with admin.connect() as connection:
            if url.get_backend_name() == "postgresql":
                ended = connection.execute(text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d AND pid <> "
                    "pg_backend_pid()"), {"d": database}).scalars().all()  # fmt: skip
                return sum(bool(e) for e in ended)
            ids = connection.execute(text("SELECT id FROM information_schema.processlist WHERE db = :d AND id <> "
                                          "CONNECTION_ID()"), {"d": database}).scalars().all()  # fmt: skip
            for session in ids:
                connection.execute(text(f"KILL {int(session)}"))
            return len(ids)
    finally:
        admin.dispose()


def apply_interrupted(workload: Workload, url: str, point: str, interrupt: Callable[[], None]) -> Finished:
    """`nbjobs apply`, stopped at a fault point while `interrupt` runs, then let go on."""
    process = nbjobs(workload.apply_argv(url), {"NBJOBS_FAULT_POINT": point, "NBJOBS_FAULT_SIGNAL": "STOP"})
    try:
        assert wait_stopped(process), f"the apply never reached {point}: {finish(process).stderr}"
        interrupt()
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGCONT)
    return finish(process)


def assert_one_sentence(ended: Finished, expected: str) -> None:
    """Exit 1 and exactly one line on standard error (besides the purge's progress), in nbjobs' words."""
    lines = [line for line in ended.stderr.strip().splitlines() if not line.strip().startswith("purging ")]
    assert ended.returncode == 1 and len(lines) == 1, ended.stderr
    assert not [w for w in DRIVER_WORDS if w in ended.stderr], ended.stderr
    assert lines[0].startswith(expected), f"{lines[0]!r}\n does not start with\n{expected!r}"


def _dump(url: URL) -> Dump:
    engine = create_db_engine(DatabaseTarget(url, "faults"))
    try:
        return dump(engine)
    finally:
        engine.dispose()


def _without(tables: Dump, *names: str) -> Dump:
    return {k: v for k, v in tables.items() if k not in names}


def retry_finishes(workload: Workload, url: str) -> None:
    """A retry applies, and after it the manifests and the database agree (plan exits 0, no changes)."""
    again = finish(nbjobs(workload.apply_argv(url, "--quiet")))
    assert again.returncode == 0, again.stderr
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):  # in this process: nbjobs' start-up once is enough
        code = main(workload.plan_argv(url, "--detailed-exitcode"))
    assert code == 0, out.getvalue() + err.getvalue()


@contextmanager
def shared(engine_name: str, workdir: Path, workload: Workload) -> Iterator[Callable[[str], URL]]:
    """Copies of the before state on the shared server, each in a database of this test's own."""
    databases = Databases(engine_name, workdir)
    try:
        databases.create("golden")
        engine = databases.engine("golden")
        workload.build(engine)
        engine.dispose()

        def fresh(name: str) -> URL:
            databases.copy("golden", name)
            return databases.url(name)

        yield fresh
    finally:
        databases.close()


def check_session_ended(workload: Workload, url: URL, point: str) -> int:
    """The apply's sessions ended at `point` inside its transaction: one sentence, the before state, a
    failed apply in the history, and a retry that finishes. Returns the sessions ended."""
    before = _dump(url)
    ended: list[int] = []
    result = apply_interrupted(workload, url.render_as_string(hide_password=False), point,
                               lambda: ended.append(end_sessions(url)))  # fmt: skip
    assert ended[0] >= 1
    assert_one_sentence(result, ROLLED_BACK)
    after = _dump(url)
    assert _without(after, LOCK_TABLE, HISTORY) == _without(before, LOCK_TABLE, HISTORY)
    assert [(r["outcome"], r["message"]) for r in after[HISTORY]] == [("failed", LOST)]
    retry_finishes(workload, url.render_as_string(hide_password=False))
    return ended[0]


@pytest.mark.database
@pytest.mark.skipif("postgresql" not in ENGINES, reason="PostgreSQL is not among NBJOBS_TEST_ENGINES")
def test_sessions_ended_before_the_commit_roll_back_and_say_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clear_settings_environment(monkeypatch)
    workload = Workload(tmp_path, jobs=100, results=200, batch_size=50)
    with time_limit(90), shared("postgresql", tmp_path, workload) as fresh:
        check_session_ended(workload, fresh("trial"), "apply.before-commit")


@pytest.mark.slow
@pytest.mark.database
@pytest.mark.parametrize("engine_name", SERVER_ENGINES)
def test_sessions_ended_mid_apply_and_mid_purge(
    engine_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pg_terminate_backend / KILL after the second write statement, before the commit, and between two
    purge batches (the apply committed: the batches done stay, the retry purges the rest)."""
    clear_settings_environment(monkeypatch)
    workload = Workload(tmp_path, jobs=100, results=200, batch_size=50)
    with time_limit(240), shared(engine_name, tmp_path, workload) as fresh:
        ended = sum(check_session_ended(workload, fresh(f"t{i}"), point)
                    for i, point in enumerate(("apply.write:2", "apply.before-commit")))  # fmt: skip
        url = fresh("purge")
        sessions: list[int] = []
        result = apply_interrupted(workload, url.render_as_string(hide_password=False), "purge.batch:1",
                                   lambda: sessions.append(end_sessions(url)))  # fmt: skip
        assert_one_sentence(result, "Error: the apply was committed (history id ")
        assert (f"but the purge of legacy.Old stopped after 50 results of 200: {LOST}; the batches done stay purged "
                "and the rest is left for the next run") in result.stderr  # fmt: skip
        tables = _dump(url)
        assert len(tables["extras_jobresult"]) == len(tables["nbjobs_retired_result"]) == 150
        [applied] = tables[HISTORY]
        assert applied["outcome"] == "applied" and json.loads(applied["counts"])["results_purged"] == 50
        retry_finishes(workload, url.render_as_string(hide_password=False))
        assert not _dump(url)["extras_jobresult"]
        print(f"\n{engine_name}: {ended + sessions[0]} sessions ended in 3 applies")


def _private(engine_name: str) -> PrivateServer:
    return PrivatePostgres() if engine_name == "postgresql" else PrivateMariaDB()


@pytest.mark.slow
@pytest.mark.database
@pytest.mark.parametrize("engine_name", SERVER_ENGINES)
def test_a_server_restarted_or_down_mid_apply(
    engine_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A private server restarted under the apply's transaction, after a write and as it commits (the
    failure is recorded: the server is back when nbjobs writes it); stopped as it commits (nbjobs cannot
    tell whether the commit went through, says so, and can record nothing); restarted after the commit,
    before the purge."""
    clear_settings_environment(monkeypatch)
    workload = Workload(tmp_path, jobs=100, results=200, batch_size=50)
    with time_limit(300):
        server = _private(engine_name)
        try:
            for name in ("written", "committing", "down", "purging"):
                server.create_database(name)
                engine = create_db_engine(DatabaseTarget(server.url(name), "private"))
                workload.build(engine)
                engine.dispose()

            for name, point in (("written", "apply.write:2"), ("committing", "apply.before-commit")):
                url = server.url(name)
                before = _dump(url)
                result = apply_interrupted(workload, url.render_as_string(hide_password=False), point, server.restart)
                assert_one_sentence(result, ROLLED_BACK)
                after = _dump(url)
                assert _without(after, LOCK_TABLE, HISTORY) == _without(before, LOCK_TABLE, HISTORY)
                assert [(r["outcome"], r["message"]) for r in after[HISTORY]] == [("failed", LOST)]
                retry_finishes(workload, url.render_as_string(hide_password=False))

            url = server.url("down")
            before = _dump(url)
            result = apply_interrupted(workload, url.render_as_string(hide_password=False), "apply.before-commit",
                                       server.stop)  # fmt: skip
            in_doubt = (f"Error: {LOST} as the apply committed, and the database cannot be reached to check whether "
                        "the commit went through: `nbjobs history` lists apply ")  # fmt: skip
            assert_one_sentence(result, in_doubt)
            assert "either way nothing is half-applied, and running the apply again finishes the work" in result.stderr
            down = finish(nbjobs(workload.plan_argv(url.render_as_string(hide_password=False))))
            assert_one_sentence(down, "Error: database: cannot connect to the database (is the server running, and ")
            server.start()
            # It did not; and not even the failure could be recorded (the lock's holder record stays "held",
            # harmless: the lock itself went with the session, and the next apply rewrites the record).
            assert _without(_dump(url), LOCK_TABLE) == _without(before, LOCK_TABLE)
            retry_finishes(workload, url.render_as_string(hide_password=False))

            url = server.url("purging")
            result = apply_interrupted(workload, url.render_as_string(hide_password=False), "apply.committed",
                                       server.restart)  # fmt: skip
            assert_one_sentence(result, "Error: the apply was committed (history id ")
            assert re.search(
                rf"but the purge of legacy.Old stopped after 0 results( of 200)?: {re.escape(LOST)}", result.stderr
            ), result.stderr  # (of 200: when the count of what to purge was read)
            assert len(_dump(url)["extras_jobresult"]) == 200
            retry_finishes(workload, url.render_as_string(hide_password=False))
            assert not _dump(url)["extras_jobresult"]
        finally:
            server.close()
