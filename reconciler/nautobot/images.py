"""Row images: the columns nbjobs reads or writes of the jobs and queues a plan touches, as plain
JSON-able values. A saved plan keeps them as its before-image; apply re-reads and compares them.

Keys: "job:<uuid>" and "queue:<name>". A job image has its scalar columns, its override flags, the
name of its default queue and the sorted names of its eligible queues; a queue image its type and
description. A queue that does not exist has the image None. Timestamps and custom-field data are
left out: an edit that touches nothing nbjobs plans does not make a plan stale.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, select

from reconciler.fields import ALL_OVERRIDE_FLAGS, OVERRIDABLE_FIELDS
from reconciler.nautobot.dependents import read_dependents
from reconciler.nautobot.tables import extras_job, extras_jobqueue, extras_jobqueueassignment

Image = dict[str, Any] | None

_JOB_COLUMNS = ("module_name", "job_class_name", "enabled", "installed", *OVERRIDABLE_FIELDS)


def job_key(job_id: UUID) -> str:
    return f"job:{job_id}"


def queue_key(name: str) -> str:
    return f"queue:{name}"


def read_images(
    connection: Connection,
    job_ids: Collection[UUID],
    queue_names: Collection[str],
    retiring: Collection[UUID] = (),
) -> dict[str, Image]:
    """Images of the given jobs and queues (three queries whatever their number), and of the dependents
    of jobs being retired ("retire:<uuid>": enabled buttons and hooks, schedules as "enabled/state",
    running and total results; five more queries)."""
    queues = {row.id: row for row in connection.execute(select(extras_jobqueue))}
    by_name = {row.name: row for row in queues.values()}
    images: dict[str, Image] = {
        queue_key(name): (
            {"queue_type": by_name[name].queue_type, "description": by_name[name].description}
            if name in by_name
            else None
        )
        for name in queue_names
    }
    images.update(_retiring_images(connection, retiring))
    if not job_ids:
        return images
    assigned: dict[UUID, list[str]] = defaultdict(list)
    query = select(extras_jobqueueassignment.c.job_id, extras_jobqueueassignment.c.job_queue_id).where(
        extras_jobqueueassignment.c.job_id.in_(list(job_ids))
    )
    for job_id, queue_id in connection.execute(query):
        assigned[job_id].append(queues[queue_id].name)
    found = {
        row.id: row._mapping for row in connection.execute(select(extras_job).where(extras_job.c.id.in_(list(job_ids))))
    }
    for job_id in job_ids:
        row = found.get(job_id)
        if row is None:
            images[job_key(job_id)] = None
            continue
        image: dict[str, Any] = {column: _plain(row[column]) for column in _JOB_COLUMNS}
        image.update({f"{flag}_override": bool(row[f"{flag}_override"]) for flag in ALL_OVERRIDE_FLAGS})
        image["default_job_queue"] = queues[row["default_job_queue_id"]].name
        image["job_queues"] = sorted(assigned.get(job_id, []))
        images[job_key(job_id)] = image
    return images


def _plain(value: Any) -> Any:
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int | float):
        return float(value)
    return value


def _retiring_images(connection: Connection, job_ids: Collection[UUID]) -> dict[str, Image]:
    if not job_ids:
        return {}
    existing = set(connection.execute(select(extras_job.c.id).where(extras_job.c.id.in_(list(job_ids)))).scalars())
    dependents = read_dependents(connection, existing, datetime.now(UTC))
    images: dict[str, Image] = {}
    for job_id in job_ids:
        deps = dependents.get(job_id)
        images[f"retire:{job_id}"] = (
            None
            if deps is None
            else {
                "buttons": sorted(b.name for b in deps.buttons if b.enabled),
                "hooks": sorted(h.name for h in deps.hooks if h.enabled),
                "schedules": {s.name: f"{'enabled' if s.enabled else 'disabled'}/{s.state}" for s in deps.schedules},
                "running": deps.results.running,
                "results": deps.results.total,
            }
        )
    return images
