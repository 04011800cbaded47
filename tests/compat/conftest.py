"""Compatibility suite against a real Nautobot 3.2.7 (slow: run by `make test-compat`, never by `make test`).

The tests here are collected only when NBJOBS_COMPAT=1 (the Makefile target sets it). A session:
1. ensures the cached Nautobot venv and the cached dump of a database migrated by Nautobot itself;
2. restores the dump into a fresh database `nbjobs_compat_<pid>_<engine>` (dropped at the end);
3. writes a nautobot_config.py whose JOBS_ROOT holds examples/jobs plus tests/compat/corpus;
4. runs `nautobot-server post_upgrade`, which creates the Job records (nautobot_database_ready);
then the fixtures below drive nbjobs' real CLI against that database step by step, each capturing what
Nautobot's ORM, REST API and UI report at that moment (see probe_orm.py). The
session is parametrized over PostgreSQL and MariaDB (each from its own cached dump; NBJOBS_COMPAT_MARIADB=0
leaves MariaDB out), so every core test runs on both.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import harness
import pytest
import records
from support import (
    ADMIN,
    APPLY_MANIFESTS,
    RELEASE_MANIFESTS,
    RUNS,
    Refresh,
    Session,
    Step,
    apply_step,
    build_jobs_root,
    nbjobs,
)

collect_ignore_glob = [] if os.environ.get("NBJOBS_COMPAT") == "1" else ["test_*.py"]


@pytest.fixture(scope="session")
def nautobot_bin() -> Path:
    return harness.ensure_venv()


@pytest.fixture(scope="session", params=harness.ENGINES)
def session(request: pytest.FixtureRequest, nautobot_bin: Path, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[Session]:  # fmt: skip
    """A fresh database restored from the engine's dump, then `nautobot-server post_upgrade` with our
    JOBS_ROOT. Every test that uses it runs on PostgreSQL and on MariaDB."""
    engine: str = request.param
    base = tmp_path_factory.mktemp(f"nautobot-{engine}")
    name = f"nbjobs_compat_{os.getpid()}_{engine}"
    started = time.monotonic()
    url, migrate_seconds = harness.restore(engine, nautobot_bin, base / "migrate", name)
    try:
        timings = {"restore": time.monotonic() - started}
        if migrate_seconds is not None:
            timings["migrate"] = migrate_seconds
        nautobot = harness.Nautobot.configure(nautobot_bin, base / "root", build_jobs_root(base / "jobs"), name,
                                              engine=engine)  # fmt: skip
        harness.flush_redis()
        started = time.monotonic()
        nautobot.server("post_upgrade")
        timings["post_upgrade"] = time.monotonic() - started
        nautobot.server("createsuperuser", "--noinput", "--username", ADMIN, "--email", "admin@example.com")
        nbjobs("db", "upgrade", "--database-url", url)  # nbjobs' own tables (apply history, lock)
        columns = records.job_columns(url)
        state = Session(nautobot, url, timings, records.read_jobs(url, columns), columns, engine)
        harness.log(f"{engine} database {name}: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
        yield state
    finally:
        harness.drop(engine, name)


@pytest.fixture(scope="session")
def first_apply(session: Session) -> Step:
    """examples/manifests + manifests/apply applied; then Nautobot's view with a live worker and API runs."""
    return apply_step(session, APPLY_MANIFESTS, RUNS)


@pytest.fixture(scope="session")
def refresh_after_apply(session: Session, first_apply: Step) -> Refresh:
    """`nautobot-server post_upgrade` after the first apply, and nbjobs' plan after it."""
    before = records.read_jobs(session.url, session.columns, include_system=True)
    queues_before = records.read_queues(session.url)
    session.nautobot.server("post_upgrade")
    after = records.read_jobs(session.url, session.columns, include_system=True)
    plan = session.nbjobs("plan", *APPLY_MANIFESTS, extra=("--detailed-exitcode",), check_codes=(0, 1, 2))
    return Refresh(before, after, queues_before, records.read_queues(session.url), plan.returncode, plan.stdout)


@pytest.fixture(scope="session")
def release(session: Session, refresh_after_apply: Refresh) -> Step:
    """manifests/release: pins dropped, so nbjobs releases those overrides."""
    return apply_step(session, RELEASE_MANIFESTS)


@pytest.fixture(scope="session")
def refresh_after_release(session: Session, release: Step) -> Refresh:
    before = records.read_jobs(session.url, session.columns, include_system=True)
    queues_before = records.read_queues(session.url)
    session.nautobot.server("post_upgrade")
    after = records.read_jobs(session.url, session.columns, include_system=True)
    plan = session.nbjobs("plan", *RELEASE_MANIFESTS, extra=("--detailed-exitcode",), check_codes=(0, 1, 2))
    return Refresh(before, after, queues_before, records.read_queues(session.url), plan.returncode, plan.stdout)
