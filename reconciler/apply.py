"""Carry a plan out in one transaction, exactly as Nautobot itself would have written it.

The snapshot, the plan and the writes share one transaction: what is written is what was planned
against, and after writing the plan is computed again inside the same transaction; anything but an
empty plan rolls everything back. Nothing is ever half-applied.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID, uuid4

from sqlalchemy import Connection, Engine

from reconciler import __version__
from reconciler.diagnostics import NbjobsError
from reconciler.discovery.types import Discovery
from reconciler.manifest.types import DesiredState
from reconciler.nautobot.changelog import ChangeContext, ChangedObject, write_object_changes
from reconciler.nautobot.snapshot import read_snapshot
from reconciler.nautobot.writer import (
    change_job_queues,
    find_user,
    insert_queue,
    queue_ids_by_name,
    update_jobs,
    update_queue,
)
from reconciler.plan.operations import CreateQueue, Plan, SetEnabled, SetField, UpdateQueue
from reconciler.plan.planner import PlanSettings, plan


class StalePlanError(NbjobsError):
    """The database moved between showing a plan and applying it."""


@dataclass(frozen=True)
class ApplyResult:
    plan: Plan
    object_changes: int


def utc_now() -> datetime:
    return datetime.now(UTC)


def apply(
    engine: Engine,
    desired: DesiredState,
    discovery: Discovery,
    settings: PlanSettings,
    *,
    database: str = "",
    username: str | None = None,
    revision: str | None = None,
    expected: Plan | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> ApplyResult:
    """Plan and write in one transaction. With `expected`, refuse unless the plan is exactly that one."""
    with engine.begin() as connection:
        current = plan(desired, discovery, read_snapshot(connection, database), settings)
        if expected is not None and current.operations != expected.operations:
            raise StalePlanError("the database changed since the plan was shown; nothing was applied, plan again")
        if current.is_empty:
            return ApplyResult(current, 0)
        context = _change_context(connection, username, revision)
        written = execute(connection, current, context, clock)
        after = plan(desired, discovery, read_snapshot(connection, database), settings)
        if not after.is_empty:
            raise NbjobsError(
                f"internal error: {len(after.operations)} change(s) remain after applying; everything was rolled back"
            )
    return ApplyResult(current, written)


def _change_context(connection: Connection, username: str | None, revision: str | None) -> ChangeContext:
    user_id: UUID | None = None
    user_name = ""
    if username:
        user = find_user(connection, username)
        if user is None:
            raise NbjobsError(f"Nautobot user {username!r} does not exist; nothing was applied")
        user_id, user_name, active = user
        if not active:
            raise NbjobsError(f"Nautobot user {username!r} is inactive; nothing was applied")
    detail = f"nbjobs {__version__}; manifests at {revision}" if revision else f"nbjobs {__version__}"
    return ChangeContext(request_id=uuid4(), user_id=user_id, user_name=user_name, detail=detail)


def execute(
    connection: Connection, plan_: Plan, context: ChangeContext, clock: Callable[[], datetime] = utc_now
) -> int:
    """Write every operation of the plan; return the number of change-log rows written.

    Rows get `last_updated` from one clock read; the change-log rows get a second, later one, as in
    Nautobot, where ObjectChange.time follows the save it records.
    """
    now = clock()
    changed: list[ChangedObject] = []
    for op in plan_.operations:
        if isinstance(op, CreateQueue):
            queue_id = insert_queue(
                connection, name=op.name, queue_type=op.queue_type, description=op.description, now=now
            )
            changed.append(ChangedObject("jobqueue", queue_id, "create"))
        elif isinstance(op, UpdateQueue):
            update_queue(connection, op.queue_id, {column: after for column, _, after in op.changes}, now)
            changed.append(ChangedObject("jobqueue", op.queue_id, "update"))

    queue_ids = queue_ids_by_name(connection)
    values: dict[UUID, dict[str, object]] = defaultdict(dict)
    whys: dict[UUID, list[str]] = defaultdict(list)
    add: set[tuple[UUID, UUID]] = set()
    remove: set[tuple[UUID, UUID]] = set()
    for op in plan_.operations:
        if isinstance(op, SetEnabled):
            values[op.job.id]["enabled"] = op.after
            whys[op.job.id] += [op.why] if op.why else []
        elif isinstance(op, SetField):
            job_values = values[op.job.id]
            whys[op.job.id] += [op.provenance.why] if op.provenance.why else []
            job_values[f"{op.field}_override"] = op.override_after
            if op.field == "default_job_queue":
                job_values["default_job_queue_id"] = queue_ids[str(op.after)]
            elif op.field == "job_queues":
                before, after = set(_names(op.before)), set(_names(op.after))
                add |= {(op.job.id, queue_ids[name]) for name in after - before}
                remove |= {(op.job.id, queue_ids[name]) for name in before - after}
            else:
                job_values[op.field] = op.after
    # Remove assignments before the update: MySQL checks foreign keys immediately, others at commit.
    change_job_queues(connection, add=(), remove=remove)
    update_jobs(connection, values, now)
    change_job_queues(connection, add=add, remove=())
    for job_id in values:
        reasons = "; ".join(dict.fromkeys(whys[job_id]))
        changed.append(ChangedObject("job", job_id, "update", f"; why: {reasons}" if reasons else ""))
    # Nautobot's m2m_changed handler logs both sides of a job_queues change: the queue is updated too.
    changed += [ChangedObject("jobqueue", queue_id, "update") for queue_id in sorted({q for _, q in add | remove})]
    return write_object_changes(connection, changed, context, time=clock())


def _names(value: object) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, tuple) else ()
