"""Row-level writes to Nautobot's job tables, supplying every NOT NULL column itself (spec G1).

Knows nothing of plans: the apply layer decides what to write, this module writes it as Django would.
Each statement (or executemany batch) is followed by the fault point `apply.write` (reconciler.faults):
the crash tests kill an apply there, one statement at a time.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import Connection, bindparam, delete, insert, select, update

from reconciler.faults import fault_point
from reconciler.nautobot.tables import extras_job, extras_jobqueue, extras_jobqueueassignment


def insert_queue(connection: Connection, *, name: str, queue_type: str, description: str, now: datetime) -> UUID:
    queue_id = uuid4()
    connection.execute(
        insert(extras_jobqueue).values(
            id=queue_id,
            created=now,
            last_updated=now,
            _custom_field_data={},
            name=name,
            description=description,
            queue_type=queue_type,
            tenant_id=None,
        )
    )
    fault_point("apply.write")
    return queue_id


def update_queue(connection: Connection, queue_id: UUID, values: Mapping[str, Any], now: datetime) -> None:
    connection.execute(
        update(extras_jobqueue).where(extras_jobqueue.c.id == queue_id).values(**values, last_updated=now)
    )
    fault_point("apply.write")


def update_jobs(connection: Connection, changes: Mapping[UUID, Mapping[str, Any]], now: datetime) -> None:
    """Update many jobs: values and their override flags move together; last_updated as auto_now.

    Jobs whose changes touch the same columns share one executemany statement, so a plan over
    thousands of jobs costs a handful of statements from Python, not one per job.
    """
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for job_id, values in changes.items():
        by_columns[tuple(sorted(values))].append({**{f"v_{k}": v for k, v in values.items()}, "v_id": job_id})
    for columns, rows in by_columns.items():
        statement = (
            update(extras_job)
            .where(extras_job.c.id == bindparam("v_id"))
            .values({**{column: bindparam(f"v_{column}") for column in columns}, "last_updated": now})
        )
        connection.execute(statement, rows)
        fault_point("apply.write")


def change_job_queues(connection: Connection, add: Collection[tuple[UUID, UUID]],
                      remove: Collection[tuple[UUID, UUID]]) -> None:  # fmt: skip
    """Change job_queues M2Ms through extras_jobqueueassignment; (job id, queue id) pairs, each new row
    with its own uuid (Django supplies it; the table has no default)."""
    if remove:
        statement = delete(extras_jobqueueassignment).where(
            extras_jobqueueassignment.c.job_id == bindparam("j"),
            extras_jobqueueassignment.c.job_queue_id == bindparam("q"),
        )
        connection.execute(statement, [{"j": job_id, "q": queue_id} for job_id, queue_id in sorted(remove)])
        fault_point("apply.write")
    if add:
        connection.execute(
            insert(extras_jobqueueassignment),
            [{"id": uuid4(), "job_id": job_id, "job_queue_id": queue_id} for job_id, queue_id in sorted(add)],
        )
        fault_point("apply.write")


def set_job_queues(connection: Connection, job_id: UUID, add: Collection[UUID], remove: Collection[UUID]) -> None:
    change_job_queues(connection, [(job_id, q) for q in add], [(job_id, q) for q in remove])


def queue_ids_by_name(connection: Connection) -> dict[str, UUID]:
    return {
        name: queue_id for queue_id, name in connection.execute(select(extras_jobqueue.c.id, extras_jobqueue.c.name))
    }
