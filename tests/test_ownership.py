"""Who owns what, as each apply records it (nbjobs_managed_job, nbjobs_managed_field, nbjobs_code_value):
derived purely from the manifests, the code and the snapshot (reconciler.plan.ownership), written in the
apply's transaction on SQLite, PostgreSQL and MariaDB (reconciler.apply.ownership)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from builders import code, desired, entry, loc, queue_spec, record, snapshot
from common import EXAMPLES, count_queries
from sqlalchemy import Engine, delete, insert, select, update

from reconciler.apply import ApplyOptions, PermissionDeniedError, apply, apply_saved, saved
from reconciler.apply.ownership import record_ownership
from reconciler.cli import main
from reconciler.discovery.sources import discover
from reconciler.discovery.types import Discovery
from reconciler.manifest.types import DesiredState, RetireEntry
from reconciler.nautobot.connect import DatabaseTarget
from reconciler.nautobot.snapshot import read_snapshot
from reconciler.nautobot.tables import auth_user, extras_job
from reconciler.plan.operations import JobRef, Plan, Provenance, SetField, Verdict
from reconciler.plan.ownership import ManagedJob, Management, Ownership, ownership
from reconciler.plan.planner import PlanSettings
from reconciler.sandbox import build_sandbox
from reconciler.state.tables import nbjobs_apply, nbjobs_code_value, nbjobs_managed_field, nbjobs_managed_job

NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
AUDIT = code("audits.DeviceAudit", grouping="Compliance", name="Device Audit", time_limit=1800.0)
BACKUP = code("audits.ConfigBackup", grouping="Compliance", name="Config Backup")
SYNC = code("vendor_x.sync.SyncInventory", task_queues=("default", "heavy"), has_sensitive_variables=False)
CODE = Discovery((AUDIT, BACKUP, SYNC))
HEAVY = queue_spec("heavy", "kubernetes", "Isolated workers")
MANIFEST = desired(
    entry("audits.DeviceAudit", 10, why="Long runtime, see NET-123", enabled=True, time_limit=3600.0,
          job_queues=("heavy", "default"), default_job_queue="heavy"),
    entry("audits.*", 30, why="Audits are ours", ignore=frozenset({"description", "queues"}), grouping="Audits"),
    entry("vendor_x.*", 40, enabled=False),
    queues=(HEAVY,),
)  # fmt: skip


def _clock() -> datetime:
    return NOW


def _rows(engine: Engine, table: Any) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(select(table))]


def _fields(engine: Engine, class_path: str) -> dict[str, dict[str, Any]]:
    return {r["field"]: r for r in _rows(engine, nbjobs_managed_field) if r["class_path"] == class_path}


# ---------------------------------------------------------------- the pure derivation


def test_the_winning_entry_and_each_fields_own_entry_are_recorded() -> None:
    audit = record("audits.DeviceAudit", grouping="Compliance", name="Device Audit", time_limit=1800.0)
    owned = ownership(MANIFEST, CODE, snapshot(audit, record("other.Unmanaged")), Plan(()))
    (job,) = [j for j in owned.jobs if j.class_path == "audits.DeviceAudit"]
    # The exact entry outranks the glob: it is the job's entry, even for fields only the glob mentions.
    assert (job.management, job.location, job.why) == (Management.MANAGED, loc(10, 3), "Long runtime, see NET-123")
    fields = {f.field: f for f in owned.fields if f.job_id == audit.id}
    assert list(fields) == ["enabled", "grouping", "description", "time_limit", "default_job_queue", "job_queues"]
    assert (fields["time_limit"].value, fields["time_limit"].location) == (3600.0, loc(12))
    assert fields["job_queues"].value == ("default", "heavy")  # a set in Nautobot: sorted
    # grouping comes from the glob, with the glob's why; the queues are pinned by the exact entry although
    # the glob ignores them (the higher-ranked entry decides).
    assert (fields["grouping"].value, fields["grouping"].location, fields["grouping"].why) == (
        "Audits",
        loc(31),
        "Audits are ours",
    )
    assert not fields["job_queues"].ignored and not fields["default_job_queue"].ignored
    assert (fields["description"].ignored, fields["description"].value, fields["description"].location) == (
        True, None, loc(30, 3))  # fmt: skip
    assert "other.Unmanaged" not in {j.class_path for j in owned.jobs}


def test_an_ignored_field_points_at_the_ignore_list_and_queues_cover_both_fields() -> None:
    backup = record("audits.ConfigBackup", grouping="Compliance", name="Config Backup")
    glob = replace(MANIFEST.jobs[1], ignore_location=loc(33, 5))
    owned = ownership(replace(MANIFEST, jobs=(glob,)), CODE, snapshot(backup), Plan(()))
    ignored = {f.field: f.location for f in owned.fields if f.ignored}
    assert ignored == {"description": loc(33, 5), "default_job_queue": loc(33, 5), "job_queues": loc(33, 5)}
    assert owned.jobs == (ManagedJob(backup.id, "audits.ConfigBackup", Management.MANAGED, loc(30, 3),
                                     "Audits are ours"),)  # fmt: skip


def test_code_values_are_those_under_the_overrides_the_plan_leaves() -> None:
    audit = record("audits.DeviceAudit", overrides=frozenset({"name", "time_limit"}), name="Renamed",
                   grouping="Compliance", time_limit=60.0)  # fmt: skip
    gone = record("legacy.NoCode", overrides=frozenset({"description"}), description="kept")
    ref = JobRef(audit.id, audit.class_path, "Renamed")
    applied = Plan((
        SetField(ref, "time_limit", 60.0, 1800.0, True, False, Verdict.RELEASE_OVERRIDE, _provenance()),
        SetField(ref, "job_queues", ("default",), ("default", "heavy"), False, True, Verdict.SET_OVERRIDE,
                 _provenance()),
    ))  # fmt: skip
    owned = ownership(desired(), CODE, snapshot(audit, gone), applied)
    # time_limit was released, job_queues pinned; the name stays overridden (an unmanaged job's UI edit).
    # legacy.NoCode has no class to compare with: nothing is recorded for it.
    assert {(c.class_path, c.field): c.value for c in owned.code_values} == {
        ("audits.DeviceAudit", "name"): "Device Audit",
        ("audits.DeviceAudit", "job_queues"): ("default",),
    }


def test_a_retiring_job_is_managed_by_its_retire_entry_until_deleted() -> None:
    old = record("legacy.OldImport")
    retire = RetireEntry("legacy.OldImport", loc(50, 3), why="Replaced by audits")
    owned = ownership(desired(entry("legacy.*", 60, hidden=True), retire=(retire,)), CODE, snapshot(old), Plan(()))
    assert owned.jobs == (ManagedJob(old.id, "legacy.OldImport", Management.RETIRE, loc(50, 3), "Replaced by audits"),)
    assert owned.fields == ()  # its fields are the retirement's, not pins


def _provenance() -> Provenance:
    return Provenance(None, 60.0, True)


# ---------------------------------------------------------------- written by apply, on every engine


@pytest.mark.database
def test_apply_records_ownership_in_its_transaction(db_engine: Engine) -> None:
    build_sandbox(db_engine, CODE, clock=_clock)
    with db_engine.begin() as connection:  # an admin's UI edit on a job no manifest manages
        connection.execute(update(extras_job).where(extras_job.c.job_class_name == "ConfigBackup")
                           .values(name="Backups", name_override=True))  # fmt: skip
    result = apply(db_engine, replace(MANIFEST, jobs=MANIFEST.jobs[:1] + MANIFEST.jobs[2:]), CODE, PlanSettings(),
                   ApplyOptions(revision="abc123", clock=_clock))  # fmt: skip
    assert result.outcome == "applied"
    jobs = {r["class_path"]: r for r in _rows(db_engine, nbjobs_managed_job)}
    assert set(jobs) == {"audits.DeviceAudit", "vendor_x.sync.SyncInventory"}
    audit = jobs["audits.DeviceAudit"]
    assert (audit["management"], audit["location"], audit["why"]) == ("managed", "jobs.yaml:10:3",
                                                                      "Long runtime, see NET-123")  # fmt: skip
    assert (audit["apply_id"], audit["revision"], audit["recorded_at"]) == (result.apply_id, "abc123", NOW)
    fields = _fields(db_engine, "audits.DeviceAudit")
    assert {name: (r["value"], r["location"]) for name, r in fields.items()} == {
        "enabled": (True, "jobs.yaml:11:5"),
        "time_limit": (3600.0, "jobs.yaml:12:5"),
        "job_queues": (["default", "heavy"], "jobs.yaml:13:5"),
        "default_job_queue": ("heavy", "jobs.yaml:14:5"),
    }
    assert all(r["why"] == "Long runtime, see NET-123" and r["ignored"] is False for r in fields.values())
    codes = {(r["class_path"], r["field"]): r for r in _rows(db_engine, nbjobs_code_value)}
    # The pins' class values, and the UI's override on the unmanaged job; the sandbox has no Nautobot release.
    assert {key: r["value"] for key, r in codes.items()} == {
        ("audits.DeviceAudit", "time_limit"): 1800.0,
        ("audits.DeviceAudit", "job_queues"): ["default"],
        ("audits.DeviceAudit", "default_job_queue"): "default",
        ("audits.ConfigBackup", "name"): "Config Backup",
    }
    assert {(r["extras_level"], r["apply_id"]) for r in codes.values()} == {(None, result.apply_id)}


@pytest.mark.database
def test_each_apply_rewrites_ownership_even_when_nothing_changes(db_engine: Engine) -> None:
    build_sandbox(db_engine, CODE, clock=_clock)
    first = apply(db_engine, MANIFEST, CODE, PlanSettings(), ApplyOptions(revision="r1", clock=_clock))
    assert set(_fields(db_engine, "audits.ConfigBackup")) == {"grouping", "description", "default_job_queue",
                                                               "job_queues"}  # fmt: skip
    # The manifests move (a line, a why) without any change to Nautobot: the record follows them.
    moved = desired(
        replace(MANIFEST.jobs[0], location=loc(110, 3), why="See NET-124",
                pins={k: replace(p, location=replace(p.location, line=p.location.line + 100), why="See NET-124")
                      for k, p in MANIFEST.jobs[0].pins.items()}),
        *MANIFEST.jobs[1:], queues=MANIFEST.queues,
    )  # fmt: skip
    later = NOW + timedelta(hours=1)
    second = apply(db_engine, moved, CODE, PlanSettings(), ApplyOptions(revision="r2", clock=lambda: later))
    assert second.outcome == "no-changes"
    audit = {r["class_path"]: r for r in _rows(db_engine, nbjobs_managed_job)}["audits.DeviceAudit"]
    assert (audit["location"], audit["why"], audit["revision"], audit["apply_id"], audit["recorded_at"]) == (
        "jobs.yaml:110:3", "See NET-124", "r2", second.apply_id, later)  # fmt: skip
    assert _fields(db_engine, "audits.DeviceAudit")["time_limit"]["location"] == "jobs.yaml:112:5"
    # Dropping the glob releases its pins and leaves ConfigBackup unmanaged: its rows go.
    third = apply(db_engine, desired(MANIFEST.jobs[0], queues=MANIFEST.queues), CODE, PlanSettings(),
                  ApplyOptions(revision="r3", clock=_clock))  # fmt: skip
    assert third.outcome == "applied" and first.apply_id != third.apply_id
    assert {r["class_path"] for r in _rows(db_engine, nbjobs_managed_job)} == {"audits.DeviceAudit"}
    assert {r["class_path"] for r in _rows(db_engine, nbjobs_managed_field)} == {"audits.DeviceAudit"}
    assert {r["apply_id"] for r in _rows(db_engine, nbjobs_code_value)} == {third.apply_id}


@pytest.mark.database
def test_a_refused_apply_leaves_ownership_as_the_last_apply_wrote_it(db_engine: Engine) -> None:
    build_sandbox(db_engine, CODE, clock=_clock)
    done = apply(db_engine, MANIFEST, CODE, PlanSettings(), ApplyOptions(clock=_clock))
    before = (_rows(db_engine, nbjobs_managed_job), _rows(db_engine, nbjobs_managed_field))
    with db_engine.begin() as connection:
        connection.execute(insert(auth_user).values(
            id=uuid.uuid4(), username="viewer", password="!", is_superuser=False, is_staff=False,
            is_active=True, first_name="", last_name="", email="", date_joined=NOW, config_data={},
        ))  # fmt: skip
    with pytest.raises(PermissionDeniedError):  # a user without the permissions: refused, rolled back
        apply(db_engine, desired(MANIFEST.jobs[0], queues=(HEAVY,)), CODE, PlanSettings(),
              ApplyOptions(username="viewer", clock=_clock))  # fmt: skip
    assert (_rows(db_engine, nbjobs_managed_job), _rows(db_engine, nbjobs_managed_field)) == before
    outcomes = {r["id"]: r["outcome"] for r in _rows(db_engine, nbjobs_apply)}
    assert sorted(outcomes.values()) == ["applied", "refused"] and outcomes[done.apply_id] == "applied"


@pytest.mark.database
@pytest.mark.parametrize("job_count", [40])
def test_recording_takes_the_same_statements_whatever_the_job_count(db_engine: Engine, job_count: int) -> None:
    jobs = Discovery(tuple(code(f"bulk.Job{i:03}", time_limit=float(i)) for i in range(job_count)))
    build_sandbox(db_engine, jobs, clock=_clock)
    manifest = desired(entry("bulk.*", 1, why="bulk", time_limit=7.0, ignore=frozenset({"description"})))
    apply(db_engine, manifest, jobs, PlanSettings(), ApplyOptions(clock=_clock))
    with db_engine.connect() as connection:
        applied_id = connection.execute(select(nbjobs_apply.c.id)).scalar_one()
    owned = _ownership_of(db_engine, manifest, jobs)
    with count_queries(db_engine) as statements, db_engine.begin() as connection:
        record_ownership(connection, owned, applied_id, None, NOW)
    assert len(owned.fields) == 2 * job_count and len(owned.code_values) == job_count
    writes = [s for s in statements if not s.lstrip().upper().startswith(("SELECT", "PRAGMA", "SHOW"))]
    assert len(writes) == 6, writes  # per table one delete and one executemany insert, whatever the job count
    assert len(statements) <= 9, statements  # and the two reads that tell the Nautobot release
    assert len(_rows(db_engine, nbjobs_code_value)) == job_count


def _ownership_of(engine: Engine, manifest: DesiredState, jobs: Discovery) -> Ownership:
    with engine.connect() as connection:
        return ownership(manifest, jobs, read_snapshot(connection), Plan(()))


@pytest.mark.database
def test_a_saved_plan_carries_the_ownership_it_records(
    db_engine: Engine, db_target: DatabaseTarget, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    build_sandbox(db_engine, discover(jobs_root=EXAMPLES / "jobs"))
    url = db_target.url.render_as_string(hide_password=False)
    common = ("--jobs-root", str(EXAMPLES / "jobs"), "--database-url", url)
    plan_file = tmp_path / "plan.json"
    assert main(["plan", *common, "--out", str(plan_file), str(EXAMPLES / "manifests")]) == 0
    assert main(["apply", "--yes", "--database-url", url, str(plan_file)]) == 0
    from_plan = _ownership_rows(db_engine)
    assert {r["class_path"] for r in from_plan[0]} >= {"audits.DeviceAudit", "legacy.OldImport"}
    # The same record as an apply from the manifests (which changes nothing now) writes.
    assert main(["apply", "--yes", *common, str(EXAMPLES / "manifests")]) == 0
    assert _ownership_rows(db_engine) == from_plan
    capsys.readouterr()
    # A saved plan without ownership (saved before nbjobs recorded it) leaves the record as it is.
    assert main(["plan", *common, "--out", str(plan_file), str(EXAMPLES / "manifests")]) == 0
    older = replace(saved.load(plan_file), ownership=None)
    with db_engine.begin() as connection:
        connection.execute(delete(nbjobs_managed_field))
    assert apply_saved(db_engine, older).outcome == "no-changes"
    assert _ownership_rows(db_engine)[1] == []


def _ownership_rows(engine: Engine) -> tuple[list[dict[str, Any]], ...]:
    """The three tables, without what differs from one apply to the next (its id and time)."""

    def plain(table: Any, key: tuple[str, ...]) -> list[dict[str, Any]]:
        rows = [{k: v for k, v in r.items() if k not in ("apply_id", "recorded_at")} for r in _rows(engine, table)]
        return sorted(rows, key=lambda r: tuple(str(r[k]) for k in key))

    return (plain(nbjobs_managed_job, ("job_id",)), plain(nbjobs_managed_field, ("job_id", "field")),
            plain(nbjobs_code_value, ("class_path", "field")))  # fmt: skip
