"""Sandbox refresh, snapshot and apply against real databases: SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from builders import code, desired, entry, queue_spec
from common import count_queries
from sqlalchemy import URL, Engine, func, select, text
from sqlalchemy.exc import IntegrityError

from reconciler.apply import ApplyOptions, StalePlanError, apply
from reconciler.diagnostics import NbjobsError
from reconciler.discovery.types import Discovery
from reconciler.nautobot.connect import DatabaseTarget, create_db_engine
from reconciler.nautobot.snapshot import read_snapshot
from reconciler.nautobot.tables import (
    django_content_type,
    extras_job,
    extras_jobqueue,
    extras_jobqueueassignment,
    extras_objectchange,
)
from reconciler.plan.planner import PlanSettings, plan
from reconciler.sandbox import build_sandbox

NOW = datetime(2026, 11, 28, 12, 0, 0, 123456, tzinfo=UTC)
AUDIT = code("audits.DeviceAudit", grouping="Compliance", name="Device Audit", time_limit=1800.0)
BACKUP = code("audits.ConfigBackup", grouping="Compliance", name="Config Backup")
SYNC = code("vendor_x.sync.SyncInventory", task_queues=("default", "heavy"), has_sensitive_variables=False)
CODE = Discovery((AUDIT, BACKUP, SYNC))


def _clock() -> datetime:
    return NOW


def _jobs(engine: Engine) -> dict[str, dict[str, object]]:
    with engine.connect() as connection:
        return {f"{r.module_name}.{r.job_class_name}": dict(r._mapping) for r in connection.execute(select(extras_job))}


def _queues_of(engine: Engine, class_path: str) -> set[str]:
    module, _, cls = class_path.rpartition(".")
    query = (
        select(extras_jobqueue.c.name)
        .join(extras_jobqueueassignment, extras_jobqueueassignment.c.job_queue_id == extras_jobqueue.c.id)
        .join(extras_job, extras_job.c.id == extras_jobqueueassignment.c.job_id)
        .where(extras_job.c.module_name == module, extras_job.c.job_class_name == cls)
    )
    with engine.connect() as connection:
        return set(connection.execute(query).scalars())


@pytest.mark.database
def test_sandbox_creates_records_as_nautobots_refresh_does(db_engine: Engine) -> None:
    report = build_sandbox(db_engine, CODE, clock=_clock)
    assert report.database_created
    assert sorted(report.created) == sorted(j.class_path for j in CODE.jobs)
    assert report.queues_created == ["heavy"]  # auto-created as a celery queue, like get_or_create
    jobs = _jobs(db_engine)
    audit = jobs["audits.DeviceAudit"]
    assert (audit["name"], audit["grouping"], audit["time_limit"], audit["enabled"]) == ("Device Audit", "Compliance",
                                                                                       1800.0, False)  # fmt: skip
    assert audit["has_sensitive_variables"] is True and audit["installed"] is True
    assert not any(v for k, v in audit.items() if k.endswith("_override"))
    assert audit["created"] == NOW and audit["_custom_field_data"] == {}
    assert _queues_of(db_engine, "vendor_x.sync.SyncInventory") == {"default", "heavy"}


@pytest.mark.database
def test_sandbox_refresh_follows_code_changes_and_keeps_overrides(db_engine: Engine) -> None:
    build_sandbox(db_engine, CODE, clock=_clock)
    with db_engine.begin() as connection:
        connection.execute(extras_job.update().where(extras_job.c.job_class_name == "DeviceAudit")
                           .values(description="pinned", description_override=True, enabled=True))  # fmt: skip
    changed = code("audits.DeviceAudit", grouping="Compliance", name="Device Audit", time_limit=900.0,
                   description="from code")  # fmt: skip
    duplicate = code("other.Dup", name="Config Backup")
    report = build_sandbox(db_engine, Discovery((changed, BACKUP, duplicate)), clock=_clock)
    assert not report.database_created
    assert report.uninstalled == ["vendor_x.sync.SyncInventory"]
    jobs = _jobs(db_engine)
    audit = jobs["audits.DeviceAudit"]
    assert (audit["time_limit"], audit["description"], audit["enabled"]) == (900.0, "pinned", True)
    assert (jobs["other.Dup"]["name"], jobs["other.Dup"]["name_override"]) == ("Config Backup (2)", True)
    assert jobs["vendor_x.sync.SyncInventory"]["installed"] is False


@pytest.mark.database
def test_sandbox_refuses_a_database_it_did_not_create(db_engine: Engine) -> None:
    with db_engine.begin() as connection:
        extras_jobqueue.create(connection)
    with pytest.raises(NbjobsError, match="was not created by `nbjobs sandbox`"):
        build_sandbox(db_engine, CODE)
    with db_engine.begin() as connection:
        extras_jobqueue.drop(connection)


MANIFEST = desired(
    entry("audits.DeviceAudit", 1, why="Long runtime, see NET-123", enabled=True, time_limit=3600.0,
          grouping="Audits", default_job_queue="heavy", job_queues=("heavy", "default")),
    entry("audits.ConfigBackup", 20, enabled=True),
    queues=(queue_spec("heavy", "kubernetes", "Isolated workers"), queue_spec("bulk", "celery", "", 5)),
)  # fmt: skip


@pytest.mark.database
def test_apply_writes_what_was_planned_with_a_change_log_and_converges(
    db_engine: Engine, db_target: DatabaseTarget
) -> None:
    build_sandbox(db_engine, CODE, clock=_clock)
    result = apply(
        db_engine, MANIFEST, CODE, PlanSettings(), ApplyOptions(username="admin", revision="abc123", clock=_clock)
    )
    assert result.object_changes == 4  # 2 jobs updated, queue "heavy" updated (celery->kubernetes), "bulk" created
    jobs = _jobs(db_engine)
    audit = jobs["audits.DeviceAudit"]
    assert (audit["enabled"], audit["time_limit"], audit["time_limit_override"]) == (True, 3600.0, True)
    assert (audit["grouping"], audit["grouping_override"]) == ("Audits", True)
    assert audit["default_job_queue_override"] and audit["job_queues_override"]
    assert audit["last_updated"] == NOW
    assert _queues_of(db_engine, "audits.DeviceAudit") == {"heavy", "default"}
    assert jobs["audits.ConfigBackup"]["enabled"] is True

    with db_engine.connect() as connection:
        changes = [dict(r._mapping) for r in connection.execute(select(extras_objectchange))]
        job_ct = connection.execute(
            select(django_content_type.c.id).where(django_content_type.c.model == "job")
        ).scalar()
        heavy = connection.execute(select(extras_jobqueue).where(extras_jobqueue.c.name == "heavy")).one()
    assert heavy.queue_type == "kubernetes" and heavy.description == "Isolated workers"
    assert {c["action"] for c in changes} == {"update", "create"}
    assert len({c["request_id"] for c in changes}) == 1
    assert all(c["change_context"] == "orm" and c["user_name"] == "admin" and c["user_id"] for c in changes)
    (audit_change,) = [c for c in changes if c["changed_object_id"] == audit["id"]]
    assert audit_change["changed_object_type_id"] == job_ct
    assert audit_change["object_repr"] == "Device Audit"
    assert audit_change["change_context_detail"] == "nbjobs 0.1.0; manifests at abc123; why: Long runtime, see NET-123"
    data = audit_change["object_data"]
    assert isinstance(data, dict)
    assert (data["time_limit"], data["time_limit_override"], data["enabled"]) == (3600.0, True, True)
    assert data["default_job_queue"] == str(heavy.id)
    assert data["custom_fields"] == {} and data["tags"] == []
    assert data["last_updated"] == "2026-11-28T12:00:00.123Z"
    assert "job_queues" not in data  # an M2M with its own through table: Django's serializer leaves it out
    assert data["soft_time_limit"] == 0 and isinstance(data["soft_time_limit"], int)  # class value, not overridden
    v2 = audit_change["object_data_v2"]
    assert v2["url"] == f"/api/extras/jobs/{audit['id']}/" and v2["display"] == "Device Audit"
    assert v2["natural_slug"] == f"audits_deviceaudit_{str(audit['id'])[:4]}"
    assert v2["task_queues"] == ["default", "heavy"] and v2["task_queues_override"] is True
    assert [q["display"] for q in v2["job_queues"]] == ["celery: default (0 workers)", "kubernetes: heavy"]
    assert v2["default_job_queue"]["name"] == "heavy" and v2["soft_time_limit"] == 0.0
    assert v2["last_updated"] == "2026-11-28T12:00:00.123456Z"
    (heavy_change,) = [c for c in changes if c["changed_object_id"] == heavy.id]
    assert (heavy_change["action"], heavy_change["object_repr"]) == ("update", "kubernetes: heavy")
    assert heavy_change["object_data"]["queue_type"] == "kubernetes"

    with db_engine.connect() as connection:
        again = plan(MANIFEST, CODE, read_snapshot(connection), PlanSettings())
    assert again.is_empty


@pytest.mark.database
def test_releasing_an_override_writes_the_class_value(db_engine: Engine) -> None:
    build_sandbox(db_engine, CODE, clock=_clock)
    apply(db_engine, MANIFEST, CODE, PlanSettings(), ApplyOptions(clock=_clock))
    released = desired(entry("audits.DeviceAudit", 1, enabled=True), queues=MANIFEST.queues)
    result = apply(db_engine, released, CODE, PlanSettings(), ApplyOptions(clock=_clock))
    assert result.object_changes == 2  # the job, and queue "heavy" whose assignment went away
    audit = _jobs(db_engine)["audits.DeviceAudit"]
    assert (audit["time_limit"], audit["time_limit_override"]) == (1800.0, False)
    assert (audit["grouping"], audit["grouping_override"]) == ("Compliance", False)
    assert not audit["job_queues_override"] and not audit["default_job_queue_override"]
    assert _queues_of(db_engine, "audits.DeviceAudit") == {"default"}
    with db_engine.connect() as connection:
        users = set(connection.execute(select(extras_objectchange.c.user_name, extras_objectchange.c.user_id)))
    assert users == {("Undefined", None)}  # no --as: Nautobot's own marker for a change without a user
    limits = {(type(c["object_data"]["time_limit"]), c["object_data"]["time_limit"]) for c in _changes(db_engine)
              if c["object_data"].get("job_class_name") == "DeviceAudit"}  # fmt: skip
    assert limits == {(float, 3600.0), (int, 1800)}  # pinned: the stored float; released: the class's int


def _changes(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        return [dict(r._mapping) for r in connection.execute(select(extras_objectchange))]


@pytest.mark.database
def test_nothing_is_half_applied(db_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    build_sandbox(db_engine, CODE, clock=_clock)
    before = _jobs(db_engine)
    calls = []

    def failing_object_changes(*args: object, **kwargs: object) -> None:
        calls.append(args)
        raise RuntimeError("disk full")  # after queues, jobs and assignments were written

    monkeypatch.setattr("reconciler.apply.writes.write_object_changes", failing_object_changes)
    with pytest.raises(RuntimeError):
        apply(db_engine, MANIFEST, CODE, PlanSettings(), ApplyOptions(clock=_clock))
    assert len(calls) == 1
    assert _jobs(db_engine) == before
    assert _queues_of(db_engine, "audits.DeviceAudit") == {"default"}
    with db_engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(extras_objectchange)).scalar() == 0
        assert connection.execute(select(func.count()).select_from(extras_jobqueue)).scalar() == 2


@pytest.mark.database
def test_a_plan_that_moved_is_refused(db_engine: Engine) -> None:
    build_sandbox(db_engine, CODE, clock=_clock)
    with db_engine.connect() as connection:
        shown = plan(MANIFEST, CODE, read_snapshot(connection), PlanSettings())
    with db_engine.begin() as connection:
        connection.execute(
            extras_job.update().where(extras_job.c.job_class_name == "ConfigBackup").values(enabled=True)
        )
    with pytest.raises(StalePlanError):
        apply(db_engine, MANIFEST, CODE, PlanSettings(), ApplyOptions(clock=_clock), expected=shown)
    assert _jobs(db_engine)["audits.DeviceAudit"]["enabled"] is False


@pytest.mark.database
def test_unknown_user_is_refused_before_writing(db_engine: Engine) -> None:
    build_sandbox(db_engine, CODE, clock=_clock)
    with pytest.raises(NbjobsError, match="'nobody' does not exist"):
        apply(db_engine, MANIFEST, CODE, PlanSettings(), ApplyOptions(username="nobody", clock=_clock))
    assert _jobs(db_engine)["audits.DeviceAudit"]["enabled"] is False


@pytest.mark.database
@pytest.mark.parametrize("job_count", [10, 300])
def test_snapshot_takes_three_queries_whatever_the_job_count(db_engine: Engine, job_count: int) -> None:
    many = Discovery(tuple(code(f"bulk_jobs.Job{i}", task_queues=("default", f"q{i % 7}")) for i in range(job_count)))
    build_sandbox(db_engine, many, clock=_clock)
    with db_engine.connect() as connection, count_queries(db_engine) as statements:
        snapshot = read_snapshot(connection)
    assert len(snapshot.jobs) == job_count
    assert len(statements) == 3


@pytest.mark.database
def test_values_round_trip_as_django_stores_them(db_engine: Engine, db_target: DatabaseTarget) -> None:
    build_sandbox(db_engine, CODE, clock=_clock)
    with db_engine.connect() as connection:
        raw = connection.execute(text("SELECT id, _custom_field_data, enabled FROM extras_job")).first()
    assert raw is not None
    if db_engine.dialect.name == "postgresql":
        assert str(raw[0]).count("-") == 4  # native uuid
    else:
        assert isinstance(raw[0], str) and len(raw[0]) == 32 and "-" not in raw[0]  # char(32) hex, as Django
    if db_engine.dialect.name in ("mysql", "mariadb"):
        assert raw[2] in (0, 1)  # tinyint(1)
    with db_engine.connect() as connection:
        assert connection.execute(select(extras_job.c._custom_field_data)).scalars().first() == {}


def test_sqlite_sandbox_enforces_foreign_keys(tmp_path: Path) -> None:
    engine = create_db_engine(DatabaseTarget(URL.create("sqlite", database=str(tmp_path / "fk.db")), "test"))
    build_sandbox(engine, CODE, clock=_clock)
    orphan = {"id": uuid.uuid4(), "job_id": uuid.uuid4(), "job_queue_id": uuid.uuid4()}
    with pytest.raises(IntegrityError, match="FOREIGN KEY"), engine.begin() as connection:
        connection.execute(extras_jobqueueassignment.insert().values(**orphan))
    engine.dispose()


@pytest.mark.database
def test_the_migrations_create_exactly_the_tables_the_code_reads(db_engine: Engine) -> None:
    """Alembic is the only thing that creates nbjobs' tables; reconciler/state/tables.py is what the code
    reads and writes through. The two must describe the same schema on every engine."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from reconciler.state.migrate import upgrade
    from reconciler.state.tables import VERSION_TABLE, metadata

    upgrade(db_engine)
    with db_engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        differences = [d for d in compare_metadata(context, metadata)
                       if not (d[0] == "remove_table" and not d[1].name.startswith("nbjobs_"))
                       and not (d[0] == "remove_table" and d[1].name == VERSION_TABLE)]  # fmt: skip
    assert differences == []


def test_the_head_nbjobs_checks_for_is_alembics_head() -> None:
    """Planning reads the head from the migrations' file names, so as not to load Alembic: it must be the
    head Alembic computes from their revision links."""
    from reconciler.state.migrate import alembic_head, head_revision

    assert head_revision() == alembic_head()
