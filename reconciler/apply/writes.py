"""Write a plan's operations as Nautobot itself would have written them, with their change log."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID, uuid4

from sqlalchemy import Connection

from reconciler import __version__
from reconciler.apply.state import capture_results, forget_tombstone, record_tombstone
from reconciler.diagnostics import NbjobsError, plural
from reconciler.faults import fault_point
from reconciler.nautobot.changelog import ChangeContext, ChangedObject, write_object_changes
from reconciler.nautobot.permissions import UserRecord
from reconciler.nautobot.retirement import cancel_approvals, delete_job, disable_receivers, disable_schedules
from reconciler.nautobot.tables import extras_jobbutton, extras_jobhook
from reconciler.nautobot.writer import (
    change_job_queues,
    insert_queue,
    queue_ids_by_name,
    update_jobs,
    update_queue,
)
from reconciler.plan.operations import (
    CreateQueue,
    DeleteJob,
    DisableReceivers,
    DisableSchedules,
    ForgetTombstone,
    Plan,
    SetEnabled,
    SetField,
    UpdateQueue,
)


def utc_now() -> datetime:
    return datetime.now(UTC)


def change_context(user: UserRecord | None, revision: str | None) -> ChangeContext:
    detail = f"nbjobs {__version__}; manifests at {revision}" if revision else f"nbjobs {__version__}"
    return ChangeContext(
        request_id=uuid4(),
        user_id=user.id if user else None,
        user_name=user.username if user else "",
        detail=detail,
    )


@dataclass(frozen=True)
class Provenance:
    """What the writes of one apply are filed under in nbjobs' own state."""

    apply_id: UUID | None = None
    revision: str | None = None


def execute(
    connection: Connection,
    plan_: Plan,
    context: ChangeContext,
    clock: Callable[[], datetime] = utc_now,
    provenance: Provenance | None = None,
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
    changed += _retire(connection, plan_, context, now, provenance or Provenance())
    written = write_object_changes(connection, changed, context, time=clock())
    fault_point("apply.write")
    return written


def _retire(
    connection: Connection, plan_: Plan, context: ChangeContext, now: datetime, provenance: Provenance
) -> list[ChangedObject]:
    """Retirement steps, after the jobs were disabled. A deletion is its own request in the change log,
    as it is in Nautobot's UI: the job it deletes may have been disabled in the same run."""
    changed: list[ChangedObject] = []
    for op in plan_.operations:
        if isinstance(op, DisableReceivers):
            disable_receivers(connection, extras_jobbutton, [b.id for b in op.buttons], now)
            disable_receivers(connection, extras_jobhook, [h.id for h in op.hooks], now)
            changed += [ChangedObject("jobbutton", b.id, "update") for b in op.buttons]
            changed += [ChangedObject("jobhook", h.id, "update") for h in op.hooks]
        elif isinstance(op, DisableSchedules):
            disable_schedules(connection, [s.id for s in op.schedules], now)
            if op.approvals:
                if context.user_id is None:
                    raise NbjobsError(
                        f"retiring {op.job.class_path} cancels {plural(len(op.approvals), 'pending approval')}: "
                        "Nautobot records who cancels one, so apply with --as USERNAME; nothing was applied"
                    )
                canceled = cancel_approvals(connection, [a.id for a in op.approvals], context.user_id,
                                            "Retired by nbjobs", now)  # fmt: skip
                changed += [
                    ChangedObject("approvalworkflow", w.id, "update", object_repr=w.object_repr) for w in canceled
                ]
        elif isinstance(op, DeleteJob):
            if op.purge_results:
                capture_results(connection, op.job.id, op.job.class_path)
            changed += delete_job(connection, op.job.id, request=f"delete {op.job.class_path}")
            record_tombstone(connection, op.job, now, provenance.revision, provenance.apply_id)
        elif isinstance(op, ForgetTombstone):
            forget_tombstone(connection, op.class_path)
        else:
            continue
        fault_point("apply.write")  # after each retirement step written (reconciler.faults)
    return changed


def _names(value: object) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, tuple) else ()
