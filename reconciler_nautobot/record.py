"""What nbjobs' record says about one Job, read in a handful of queries (the panel, the banner, the API).

nbjobs writes the record at each apply (who owns what) and at each run of its reconcile loop (drift and
pending retirement steps); this module only reads it. A database where `nbjobs db upgrade` never ran has
none of the tables: everything here then answers "no record" instead of failing the page.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.db import DatabaseError, connection, transaction

from reconciler_nautobot.models import Apply, CodeValue, ManagedField, ManagedJob, Run

logger = logging.getLogger(__name__)

TABLES = ("nbjobs_managed_job", "nbjobs_managed_field", "nbjobs_code_value", "nbjobs_apply", "nbjobs_run")
_present = False  # once the tables exist they stay (nbjobs never drops them); until then, look each time


def record_present() -> bool:
    """Whether nbjobs' tables are in Nautobot's database (one query until they are, none after)."""
    global _present
    if not _present:
        try:
            _present = set(TABLES) <= set(connection.introspection.table_names())
        except DatabaseError:
            logger.exception("nbjobs: cannot list the database's tables")
    return _present


@dataclass(frozen=True)
class FieldRecord:
    """A field of a managed job: pinned to `value` at `location`, or left to the UI (`ignored`)."""

    field: str
    value: Any
    ignored: bool
    location: str | None
    why: str | None
    code_value: Any = None  # what the job's code would write, when nbjobs recorded it under the override
    has_code_value: bool = False


@dataclass(frozen=True)
class LoopView:
    """The newest run of nbjobs' reconcile loop, and what it said about one job."""

    run: Run
    drift: tuple[dict[str, Any], ...] = ()  # the job's fields that differed and were not healed
    healed: tuple[dict[str, Any], ...] = ()  # ... that the run put back
    pending: tuple[dict[str, Any], ...] = ()  # the job's retirement step waiting, and why

    @property
    def policy(self) -> str:
        return str(self.run.policy)


@dataclass(frozen=True)
class JobRecord:
    """Everything the panel shows for one job."""

    present: bool  # nbjobs' tables exist
    managed: ManagedJob | None = None
    fields: tuple[FieldRecord, ...] = ()
    recorded_by: Apply | None = None  # the apply that recorded this ownership
    last_change: Apply | None = None  # the newest apply that changed this job
    loop: LoopView | None = None

    @property
    def pinned(self) -> tuple[FieldRecord, ...]:
        return tuple(f for f in self.fields if not f.ignored)

    @property
    def ignored(self) -> tuple[FieldRecord, ...]:
        return tuple(f for f in self.fields if f.ignored)


def job_record(job_id: UUID, class_path: str) -> JobRecord:
    """The record of one job: at most six queries (ownership, fields, class values, two applies, the run)."""
    if not record_present():
        return JobRecord(present=False)
    try:
        with transaction.atomic():  # a savepoint: a failed read leaves the page's transaction usable
            return _read(job_id, class_path)
    except DatabaseError:
        logger.exception("nbjobs: cannot read the record of job %s", class_path)
        return JobRecord(present=False)


def _read(job_id: UUID, class_path: str) -> JobRecord:
    managed = ManagedJob.objects.select_related("apply").filter(job_id=job_id).first()
    loop = loop_view(class_path)
    last_change = (
        Apply.objects.filter(changes__object_type="job", changes__object_id=job_id, outcome="applied")
        .order_by("-started_at")
        .first()
    )
    if managed is None:
        return JobRecord(present=True, last_change=last_change, loop=loop)
    code = {c.field: c.value for c in CodeValue.objects.filter(class_path=class_path)}
    fields = tuple(
        FieldRecord(f.field, f.value, f.ignored, f.location, f.why, code.get(f.field), f.field in code)
        for f in _in_plan_order(ManagedField.objects.filter(job_id=job_id))
    )
    return JobRecord(True, managed, fields, managed.apply, last_change, loop)


# The order the plan shows a job's fields in (reconciler.plan.ownership.OWNED_FIELDS).
FIELD_ORDER = (
    "enabled",
    "grouping",
    "name",
    "description",
    "console_log_default",
    "dryrun_default",
    "hidden",
    "soft_time_limit",
    "time_limit",
    "has_sensitive_variables",
    "is_singleton",
    "default_job_queue",
    "job_queues",
)


def _in_plan_order(rows: Iterable[ManagedField]) -> list[ManagedField]:
    rank = {name: index for index, name in enumerate(FIELD_ORDER)}
    return sorted(rows, key=lambda row: (rank.get(row.field, len(rank)), row.field))


def newest_run() -> Run | None:
    if not record_present():
        return None
    try:
        with transaction.atomic():
            run: Run | None = Run.objects.order_by("-started_at").first()
            return run
    except DatabaseError:
        logger.exception("nbjobs: cannot read the reconcile loop's runs")
        return None


def loop_view(class_path: str) -> LoopView | None:
    run = newest_run()
    if run is None:
        return None
    mine = [entry for entry in run.drift or () if isinstance(entry, dict) and entry.get("job") == class_path]
    return LoopView(
        run,
        drift=tuple(e for e in mine if not e.get("healed")),
        healed=tuple(e for e in mine if e.get("healed")),
        pending=tuple(e for e in run.pending or () if isinstance(e, dict) and e.get("job") == class_path),
    )


def managed_jobs() -> dict[UUID, ManagedJob]:
    """Every managed job by its id, in one query (the Jobs list's column and filter)."""
    if not record_present():
        return {}
    try:
        with transaction.atomic():
            return {job.job_id: job for job in ManagedJob.objects.all()}
    except DatabaseError:
        logger.exception("nbjobs: cannot read the managed jobs")
        return {}


def consequence(run: Run | None) -> str:
    """What becomes of a change made in the UI to a managed field, as the loop's policy decides."""
    if run is None:
        return "a change here will be reverted by the next `nbjobs apply`"
    if run.state == "suspended":
        later = ", and reverted once it resumes" if run.policy == "heal" else ""
        return f"the reconcile loop is suspended: a change here will be reported as drift{later}"
    if run.policy == "heal":
        return "a change here will be reverted on the next reconcile"
    return "a change here will be reported as drift on the next reconcile"


__all__ = [
    "FIELD_ORDER",
    "FieldRecord",
    "JobRecord",
    "LoopView",
    "consequence",
    "job_record",
    "loop_view",
    "managed_jobs",
    "newest_run",
    "record_present",
]
