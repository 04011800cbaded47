"""Read everything the planner needs in a constant number of queries (three), whatever the job count."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from datetime import UTC, datetime
from types import MappingProxyType
from uuid import UUID

from sqlalchemy import Connection, RowMapping, select

from reconciler.fields import ALL_OVERRIDE_FLAGS, FieldValues
from reconciler.nautobot.dependents import read_dependents
from reconciler.nautobot.records import JobRecord, QueueRecord, Snapshot
from reconciler.nautobot.tables import extras_job, extras_jobqueue, extras_jobqueueassignment


def read_snapshot(
    connection: Connection, database: str = "", dependents_of: Collection[str] = (), now: datetime | None = None
) -> Snapshot:
    """One consistent read; call inside the transaction that will also write, when applying.

    `dependents_of` names the jobs (class paths) being retired: their buttons, hooks, schedules and
    results are read too (five more queries), with `now` for their next runs.
    """
    queues = tuple(
        QueueRecord(id=row.id, name=row.name, queue_type=row.queue_type, description=row.description)
        for row in connection.execute(
            select(
                extras_jobqueue.c.id,
                extras_jobqueue.c.name,
                extras_jobqueue.c.queue_type,
                extras_jobqueue.c.description,
            ).order_by(extras_jobqueue.c.name)
        )
    )
    assigned: dict[UUID, set[UUID]] = defaultdict(set)
    for job_id, queue_id in connection.execute(
        select(extras_jobqueueassignment.c.job_id, extras_jobqueueassignment.c.job_queue_id)
    ):
        assigned[job_id].add(queue_id)
    jobs = tuple(
        _job_record(row._mapping, frozenset(assigned.get(row.id, ())))
        for row in connection.execute(
            select(extras_job).order_by(extras_job.c.module_name, extras_job.c.job_class_name)
        )
    )
    if not dependents_of:
        return Snapshot(queues=queues, jobs=jobs, database=database)
    now = now or datetime.now(UTC)
    wanted = {job.id for job in jobs if job.class_path in set(dependents_of)}
    dependents = MappingProxyType(read_dependents(connection, wanted, now))
    return Snapshot(queues=queues, jobs=jobs, database=database, dependents=dependents)


def _job_record(row: RowMapping, queue_ids: frozenset[UUID]) -> JobRecord:
    get = row.__getitem__
    values = FieldValues(
        grouping=get("grouping"),
        name=get("name"),
        description=get("description"),
        console_log_default=bool(get("console_log_default")),
        dryrun_default=bool(get("dryrun_default")),
        hidden=bool(get("hidden")),
        soft_time_limit=float(get("soft_time_limit")),
        time_limit=float(get("time_limit")),
        has_sensitive_variables=bool(get("has_sensitive_variables")),
        is_singleton=bool(get("is_singleton")),
    )
    return JobRecord(
        id=get("id"),
        module_name=get("module_name"),
        job_class_name=get("job_class_name"),
        values=values,
        overrides=frozenset(f for f in ALL_OVERRIDE_FLAGS if get(f"{f}_override")),
        enabled=bool(get("enabled")),
        installed=bool(get("installed")),
        default_job_queue_id=get("default_job_queue_id"),
        job_queue_ids=queue_ids,
        read_only=bool(get("read_only")),
        supports_dryrun=bool(get("supports_dryrun")),
        is_job_hook_receiver=bool(get("is_job_hook_receiver")),
        is_job_button_receiver=bool(get("is_job_button_receiver")),
    )
