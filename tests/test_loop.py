"""The reconcile loop's tick on every engine: drift detected and attributed, healed, idle ticks within
three statements, pushed commits applied, broken commits recorded once, deletions pending until prune.

The remote is a real bare git repository; the database a real sandbox on SQLite, PostgreSQL and
MariaDB. The Celery side (worker, beat, locks, the fleet) is in test_loop_celery.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from common import count_queries
from loop_support import Remote, build, job_value, jobs_root_without_legacy, settings_for, ui_edit
from sqlalchemy import func, select, text
from sqlalchemy.exc import NoResultFound

from reconciler.config import Policy, Settings
from reconciler.loop.tick import TickOutcome, dispose_engines, engine_for, run_tick
from reconciler.nautobot.connect import DatabaseTarget
from reconciler.state.tables import nbjobs_apply, nbjobs_run

pytestmark = pytest.mark.database

BAD_MANIFEST = """apiVersion: nbjobs/v1
kind: Jobs
jobs:
  - match: audits.DeviceAudit
    enabled: maybe
"""


@pytest.fixture
def loop(db_target: DatabaseTarget, tmp_path: Path) -> Iterator[tuple[Settings, Remote]]:
    remote = Remote(tmp_path / "git")
    remote.push_examples()
    jobs_root = jobs_root_without_legacy(tmp_path)
    build(db_target, jobs_root)
    yield settings_for(db_target, remote, jobs_root, tmp_path / "cache"), remote
    dispose_engines()


def tick(settings: Settings) -> TickOutcome:
    return run_tick(settings, settings.target())


def _runs(settings: Settings) -> int:
    with engine_for(settings.target()).connect() as connection:
        return int(connection.execute(select(func.count()).select_from(nbjobs_run)).scalar_one())


def _applies(settings: Settings) -> int:
    with engine_for(settings.target()).connect() as connection:
        query = select(func.count()).select_from(nbjobs_apply).where(nbjobs_apply.c.outcome == "applied")
        return int(connection.execute(query).scalar_one())


def test_detect_records_drift_and_changes_nothing(loop: tuple[Settings, Remote]) -> None:
    settings, _ = loop
    engine = engine_for(settings.target())
    before = job_value(engine, "audits.DeviceAudit", "grouping")
    outcome = tick(settings)
    assert outcome.state == "drifted" and outcome.action == "none"
    fields = {(d["job"], d["field"]) for d in outcome.drift}
    assert ("audits.DeviceAudit", "grouping") in fields and ("audits.DeviceAudit", "enabled") in fields
    grouping = next(d for d in outcome.drift if d["job"] == "audits.DeviceAudit" and d["field"] == "grouping")
    assert grouping["desired"] == "Compliance / Devices" and grouping["actual"] == before
    assert job_value(engine, "audits.DeviceAudit", "grouping") == before
    assert _applies(settings) == 0
    # The retirement waits at step 4 as pending (its code is gone; prune is off), not applied.
    assert [(p["job"], p["step"]) for p in outcome.pending] == [("legacy.OldImport", 4)]


def test_idle_tick_issues_at_most_three_statements(loop: tuple[Settings, Remote]) -> None:
    settings, _ = loop
    first = tick(settings)
    assert first.action == "none"
    engine = engine_for(settings.target())
    with count_queries(engine) as statements:
        second = tick(settings)
    assert second.idle and second.state == "drifted"
    assert len(statements) <= 3, statements
    assert _runs(settings) == 1  # an idle tick writes no run, it bumps the heartbeat
    with engine.connect() as connection:
        assert connection.execute(select(nbjobs_run.c.idle_ticks)).scalar_one() == 1


def test_heal_applies_then_goes_idle_and_keeps_deletions_pending(loop: tuple[Settings, Remote]) -> None:
    settings, _ = loop
    heal = settings.model_copy(update={"policy": Policy.HEAL})
    engine = engine_for(heal.target())
    outcome = tick(heal)
    assert outcome.action == "applied" and outcome.state == "pending", outcome
    assert job_value(engine, "audits.DeviceAudit", "grouping") == "Compliance / Devices"
    assert job_value(engine, "legacy.OldImport", "enabled") is False or not job_value(
        engine, "legacy.OldImport", "enabled"
    )
    # Pending under heal always plans again, and still does not delete without prune.
    again = tick(heal)
    assert again.state == "pending" and again.action == "none"
    assert job_value(engine, "legacy.OldImport", "module_name") == "legacy"
    pruned = tick(heal.model_copy(update={"prune": True}))
    assert pruned.action == "applied" and pruned.state == "in_sync"
    with pytest.raises(NoResultFound):
        job_value(engine, "legacy.OldImport", "module_name")
    # After an apply the next tick plans once more (it keeps no fingerprint of its own writes), then idles.
    settled = tick(heal.model_copy(update={"prune": True}))
    assert settled.action == "none" and settled.state == "in_sync"
    assert tick(heal.model_copy(update={"prune": True})).idle


def test_a_change_behind_nbjobs_back_is_reported_with_its_author_then_reverted(
    loop: tuple[Settings, Remote],
) -> None:
    settings, _ = loop
    heal = settings.model_copy(update={"policy": Policy.HEAL, "prune": True})
    engine = engine_for(heal.target())
    assert tick(heal).state == "in_sync"
    ui_edit(engine, "audits.DeviceAudit", "alice", grouping="Clicked in the UI")
    detected = tick(settings.model_copy(update={"prune": True}))
    assert detected.state == "drifted"
    (entry,) = [d for d in detected.drift if d["field"] == "grouping"]
    assert entry["actual"] == "Clicked in the UI" and entry["desired"] == "Compliance / Devices"
    assert entry["changed_by"] == "alice" and "in the UI by alice" in entry["attribution"]
    healed = tick(heal)
    assert healed.action == "applied" and healed.state == "in_sync"
    assert job_value(engine, "audits.DeviceAudit", "grouping") == "Compliance / Devices"
    assert [d["changed_by"] for d in healed.drift if d["field"] == "grouping"] == ["alice"]


def test_a_pushed_commit_is_applied_on_the_next_tick(loop: tuple[Settings, Remote]) -> None:
    settings, remote = loop
    heal = settings.model_copy(update={"policy": Policy.HEAL, "prune": True})
    engine = engine_for(heal.target())
    assert tick(heal).state == "in_sync"
    assert tick(heal).action == "none"  # the tick after an apply plans once more
    assert tick(heal).idle
    text = (remote.work / "manifests" / "jobs.yaml").read_text().replace("time_limit: 3600", "time_limit: 7200")
    sha = remote.push({"manifests/jobs.yaml": text}, "longer audits")
    outcome = tick(heal)
    assert outcome.revision == sha and outcome.action == "applied" and outcome.state == "in_sync"
    assert job_value(engine, "audits.DeviceAudit", "time_limit") == 7200


def test_a_broken_commit_is_recorded_once_with_its_location_and_changes_nothing(
    loop: tuple[Settings, Remote],
) -> None:
    settings, remote = loop
    heal = settings.model_copy(update={"policy": Policy.HEAL, "prune": True})
    engine = engine_for(heal.target())
    assert tick(heal).state == "in_sync"
    applies = _applies(heal)
    sha = remote.push({"manifests/broken.yaml": BAD_MANIFEST}, "a typo")
    outcome = tick(heal)
    assert outcome.state == "error" and outcome.action == "failed"
    (error,) = outcome.errors
    assert error["location"] == f"manifests/broken.yaml@{sha[:12]}:5:14" and not error["transient"]
    assert _applies(heal) == applies
    runs = _runs(heal)
    ui_edit(engine, "audits.DeviceAudit", "bob", grouping="Meanwhile")  # rows change, the revision does not
    again = tick(heal)
    assert again.idle and again.state == "error"
    assert _runs(heal) == runs  # recorded once
    assert job_value(engine, "audits.DeviceAudit", "grouping") == "Meanwhile"  # never applied from a broken commit
    remote.push({"manifests/broken.yaml": None}, "fix the typo")
    fixed = tick(heal)
    assert fixed.action == "applied" and fixed.state == "in_sync"


def test_suspend_reports_and_acts_on_nothing(loop: tuple[Settings, Remote]) -> None:
    settings, _ = loop
    suspended = settings.model_copy(update={"policy": Policy.HEAL, "suspend": True})
    outcome = tick(suspended)
    assert outcome.state == "suspended" and outcome.action == "suspended" and outcome.drift
    assert _applies(suspended) == 0


def test_a_deny_window_keeps_heal_from_applying(loop: tuple[Settings, Remote]) -> None:
    settings, _ = loop
    window = {"kind": "deny", "schedule": "* * * * *", "duration": "2m"}
    denied = Settings(**{**settings.model_dump(), "policy": "heal", "windows": [window]})
    outcome = tick(denied)
    assert outcome.action == "denied-by-window" and outcome.state == "drifted"
    assert "deny" in outcome.message
    assert _applies(denied) == 0


def test_a_code_change_invalidates_the_idle_shortcut(loop: tuple[Settings, Remote]) -> None:
    settings, _ = loop
    assert tick(settings).action == "none"
    assert tick(settings).idle
    job_file = settings.target().jobs_root / "audits.py"  # type: ignore[operator]
    job_file.write_text(job_file.read_text() + "\n# touched\n")
    assert not tick(settings).idle


def test_a_hundred_ticks_leave_no_processes_files_or_memory_behind(
    loop: tuple[Settings, Remote], db_target: DatabaseTarget
) -> None:
    if not db_target.is_sqlite:
        pytest.skip("one engine is enough: the processes and files are git's and the database driver's pool")
    settings, remote = loop
    process = psutil.Process()
    tick(settings)  # warm: the engine's pool, the cache clone, imports
    files, memory = process.num_fds(), process.memory_info().rss
    before = {child.pid for child in process.children(recursive=True)}  # other fixtures' servers
    for number in range(100):
        if number % 25 == 0:  # a new commit now and then, so some ticks fetch, read and plan in full
            remote.push({"manifests/extra.yaml": f"apiVersion: nbjobs/v1\nkind: Jobs\n# round {number}\n"})
        assert tick(settings).state != "error"
    assert [c for c in process.children(recursive=True) if c.pid not in before] == []
    assert process.num_fds() <= files + 2
    assert process.memory_info().rss - memory < 40 * 2**20


def test_missing_nbjobs_tables_are_a_permanent_error_that_says_to_upgrade(loop: tuple[Settings, Remote]) -> None:
    """Not `no such table: nbjobs_run` retried for ever: retrying cannot help until `nbjobs db upgrade`."""
    settings, _ = loop
    with engine_for(settings.target()).begin() as connection:
        connection.execute(text("DROP TABLE nbjobs_run"))
        connection.execute(text("DROP TABLE nbjobs_alembic_version"))
    outcome = tick(settings)  # returns: a TransientTickError would have been raised
    assert outcome.state == "error"
    (error,) = outcome.errors
    assert "run `nbjobs db upgrade`" in error["message"] and not error["transient"]
