"""The embedded sandbox: a SQLite (or any) database with Nautobot's job tables, filled the way
Nautobot's own `post_upgrade` would fill them from the job code found.

The refresh reproduces `refresh_job_models()` on the migrate path (extras/signals.py:769-822) and
`refresh_job_model_from_job_class()` (extras/utils.py:577-731): get-or-create by (module, class),
collision suffixes, overridable fields copied unless overridden, job_queues replaced unless overridden,
default queue set at creation only, and the default-queue post_save hook NOT run (historical models).
A database that nbjobs did not create is refused: the sandbox never touches a real Nautobot.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import cast
from uuid import UUID, uuid4

from sqlalchemy import Column, Connection, Engine, MetaData, String, Table, insert, inspect, select, update

from reconciler.apply import utc_now
from reconciler.diagnostics import NbjobsError
from reconciler.discovery.types import DiscoveredJob, Discovery
from reconciler.fields import ALL_OVERRIDE_FLAGS, DEFAULT_QUEUE_NAME, OVERRIDABLE_FIELDS
from reconciler.nautobot.tables import (
    auth_user,
    django_content_type,
    extras_job,
    extras_jobqueue,
    extras_jobqueueassignment,
    metadata,
)
from reconciler.nautobot.writer import insert_queue, set_job_queues
from reconciler.state.migrate import upgrade

JOB_MAX_NAME_LENGTH = 100

_marker_metadata = MetaData()
nbjobs_sandbox = Table(
    "nbjobs_sandbox",
    _marker_metadata,
    Column("key", String(50), primary_key=True),
    Column("value", String(200), nullable=False),
)

# Content types Nautobot has for the models nbjobs reads or writes (and dcim.device for buttons and hooks).
_CONTENT_TYPES = (
    ("auth", "group"), ("dcim", "device"), ("extras", "approvalworkflow"), ("extras", "contactassociation"),
    ("extras", "job"), ("extras", "jobbutton"), ("extras", "jobhook"), ("extras", "jobqueue"),
    ("extras", "jobqueueassignment"), ("extras", "jobresult"), ("extras", "note"), ("extras", "objectchange"),
    ("extras", "objectmetadata"), ("extras", "relationshipassociation"), ("extras", "scheduledjob"),
    ("extras", "staticgroupassociation"), ("extras", "tag"), ("extras", "taggeditem"), ("users", "objectpermission"),
    ("users", "user"),
)  # fmt: skip


@dataclass
class RefreshReport:
    created: list[str] = field(default_factory=list)
    refreshed: list[str] = field(default_factory=list)
    uninstalled: list[str] = field(default_factory=list)
    queues_created: list[str] = field(default_factory=list)
    database_created: bool = False


def build_sandbox(
    engine: Engine,
    discovery: Discovery,
    default_queue: str = DEFAULT_QUEUE_NAME,
    clock: Callable[[], datetime] = utc_now,
) -> RefreshReport:
    """Create the sandbox if the database is empty, then refresh its Job records from the code."""
    now = clock()
    report = RefreshReport()
    tables = set(inspect(engine).get_table_names())
    if nbjobs_sandbox.name not in tables:
        if tables:
            raise NbjobsError(
                "refusing to touch this database: it already has tables and was not created by `nbjobs sandbox` "
                "(a real Nautobot database is refreshed by `nautobot-server post_upgrade`, never by nbjobs)"
            )
        with engine.begin() as connection:
            metadata.create_all(connection)
            _marker_metadata.create_all(connection)
            _seed(connection, now)
        report.database_created = True
    upgrade(engine)  # nbjobs' own tables (history, lock), as `nbjobs db upgrade` makes them
    with engine.begin() as connection:
        _refresh(connection, discovery, default_queue, now, report)
    return report


def _seed(connection: Connection, now: datetime) -> None:
    connection.execute(insert(nbjobs_sandbox), [{"key": "created_by", "value": "nbjobs sandbox"}])
    connection.execute(insert(django_content_type), [{"app_label": a, "model": m} for a, m in _CONTENT_TYPES])
    # Migration 0118 always creates a celery queue literally named "default", whatever the setting.
    insert_queue(connection, name=DEFAULT_QUEUE_NAME, queue_type="celery", description="", now=now)
    connection.execute(
        insert(auth_user).values(
            id=uuid4(), password="!", last_login=None, is_superuser=True, username="admin", first_name="",
            last_name="", email="", is_staff=True, is_active=True, date_joined=now, config_data={},
        )
    )  # fmt: skip


class _Queues:
    """get_or_create of JobQueues by name, as the refresh does (new ones are celery queues)."""

    def __init__(self, connection: Connection, now: datetime, report: RefreshReport) -> None:
        self._connection, self._now, self._report = connection, now, report
        self._ids: dict[str, UUID] = {
            n: i for i, n in connection.execute(select(extras_jobqueue.c.id, extras_jobqueue.c.name))
        }

    def get_or_create(self, name: str) -> UUID:
        if name not in self._ids:
            self._ids[name] = insert_queue(
                self._connection, name=name, queue_type="celery", description="", now=self._now
            )
            self._report.queues_created.append(name)
        return self._ids[name]


def _refresh(
    connection: Connection, discovery: Discovery, default_queue: str, now: datetime, report: RefreshReport
) -> None:
    rows = {(r.module_name, r.job_class_name): dict(r._mapping) for r in connection.execute(select(extras_job))}
    queues = _Queues(connection, now, report)
    seen: set[UUID] = set()
    for job in discovery.jobs:
        key = (job.module_name, job.job_class_name)
        name = _unique_name(job, rows)
        default_queue_id = queues.get_or_create(job.task_queues[0] if job.task_queues else default_queue)
        row = rows.get(key)
        created = row is None
        if row is None:
            row = _new_row(job, name, default_queue_id, now)
            connection.execute(insert(extras_job).values(**row))
            rows[key] = row
        if name != job.values.name[:JOB_MAX_NAME_LENGTH]:
            row["name_override"] = True
        for field_name in OVERRIDABLE_FIELDS:
            if not row[f"{field_name}_override"]:
                row[field_name] = job.values.get(field_name)
        job_id = cast(UUID, row["id"])
        if not row["job_queues_override"]:
            wanted = {queues.get_or_create(q) for q in (job.task_queues or (default_queue,))}
            current = set(connection.execute(
                select(extras_jobqueueassignment.c.job_queue_id).where(extras_jobqueueassignment.c.job_id == job_id)
            ).scalars())  # fmt: skip
            set_job_queues(connection, job_id, wanted - current, current - wanted)
        if not created:
            row.update(installed=True, is_job_hook_receiver=job.is_job_hook_receiver,
                       is_job_button_receiver=job.is_job_button_receiver, read_only=job.read_only,
                       supports_dryrun=job.supports_dryrun)  # fmt: skip
        row["last_updated"] = now
        connection.execute(update(extras_job).where(extras_job.c.id == job_id).values(**row))
        seen.add(job_id)
        (report.created if created else report.refreshed).append(job.class_path)
    for key, row in sorted(rows.items()):
        if row["installed"] and row["id"] not in seen:
            connection.execute(
                update(extras_job).where(extras_job.c.id == row["id"]).values(installed=False, last_updated=now)
            )
            report.uninstalled.append(".".join(key))


def _unique_name(job: DiscoveredJob, rows: dict[tuple[str, str], dict[str, object]]) -> str:
    """Nautobot appends " (2)", " (3)"... while another job (not this one) has the name (utils.py:632-656)."""
    default_name = job.values.name[:JOB_MAX_NAME_LENGTH]
    others = {
        str(r["name"]) for k, r in rows.items()
        if k != (job.module_name, job.job_class_name) and str(r["name"]).startswith(default_name)
    }  # fmt: skip
    name, counter = default_name, 2
    while name in others:
        suffix = f" ({counter})"
        name = default_name[: JOB_MAX_NAME_LENGTH - len(suffix)] + suffix
        counter += 1
    return name


def _new_row(job: DiscoveredJob, name: str, default_queue_id: UUID, now: datetime) -> dict[str, object]:
    row: dict[str, object] = {
        "id": uuid4(), "created": now, "last_updated": now, "_custom_field_data": {},
        "module_name": job.module_name, "job_class_name": job.job_class_name, **job.values.as_dict(),
        "name": name, "installed": True, "enabled": job.module_name.startswith("nautobot."),
        "is_job_hook_receiver": job.is_job_hook_receiver, "is_job_button_receiver": job.is_job_button_receiver,
        "read_only": job.read_only, "supports_dryrun": job.supports_dryrun, "default_job_queue_id": default_queue_id,
    }  # fmt: skip
    row.update({f"{flag}_override": False for flag in ALL_OVERRIDE_FLAGS})
    return row
