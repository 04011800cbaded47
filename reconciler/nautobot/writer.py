"""Row-level writes to Nautobot's job tables, supplying every NOT NULL column itself (spec G1).

Knows nothing of plans: the apply layer decides what to write, this module writes it as Django would.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import Connection, delete, insert, select, update

from reconciler.nautobot.tables import auth_user, extras_job, extras_jobqueue, extras_jobqueueassignment


def insert_queue(
    connection: Connection, *, name: str, queue_type: str, description: str, now: datetime
) -> UUID:
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
    return queue_id


def update_queue(connection: Connection, queue_id: UUID, values: Mapping[str, Any], now: datetime) -> None:
    connection.execute(
        update(extras_jobqueue).where(extras_jobqueue.c.id == queue_id).values(**values, last_updated=now)
    )


def update_job(connection: Connection, job_id: UUID, values: Mapping[str, Any], now: datetime) -> None:
    """One UPDATE per job: values and their override flags move together; last_updated as auto_now."""
    connection.execute(update(extras_job).where(extras_job.c.id == job_id).values(**values, last_updated=now))


def set_job_queues(
    connection: Connection, job_id: UUID, add: Collection[UUID], remove: Collection[UUID]
) -> None:
    """Change the job_queues M2M through extras_jobqueueassignment (each row needs its own uuid)."""
    if remove:
        connection.execute(
            delete(extras_jobqueueassignment).where(
                extras_jobqueueassignment.c.job_id == job_id,
                extras_jobqueueassignment.c.job_queue_id.in_(list(remove)),
            )
        )
    if add:
        connection.execute(
            insert(extras_jobqueueassignment),
            [{"id": uuid4(), "job_id": job_id, "job_queue_id": queue_id} for queue_id in sorted(add)],
        )


def queue_ids_by_name(connection: Connection) -> dict[str, UUID]:
    return {
        name: queue_id
        for queue_id, name in connection.execute(select(extras_jobqueue.c.id, extras_jobqueue.c.name))
    }


def find_user(connection: Connection, username: str) -> tuple[UUID, str, bool] | None:
    """(id, username, is_active) of a Nautobot user, or None."""
    row = connection.execute(
        select(auth_user.c.id, auth_user.c.username, auth_user.c.is_active).where(
            auth_user.c.username == username
        )
    ).first()
    return (row.id, row.username, bool(row.is_active)) if row else None
