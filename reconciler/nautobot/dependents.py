"""What hangs off jobs being retired: buttons, hooks, schedules (with owner, next run and pending
approvals) and results, read in five queries whatever their number."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from datetime import datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Connection, RowMapping, Table, func, select

from reconciler.nautobot.records import JobDependents, ReceiverRecord, ResultsSummary, ScheduleRecord
from reconciler.nautobot.tables import (
    auth_user,
    django_content_type,
    extras_approvalworkflow,
    extras_jobbutton,
    extras_jobhook,
    extras_jobresult,
    extras_scheduledjob,
)

RUNNING_STATES = ("PENDING", "RECEIVED", "STARTED", "RETRY")


def read_dependents(connection: Connection, job_ids: Collection[UUID], now: datetime) -> dict[UUID, JobDependents]:
    if not job_ids:
        return {}
    ids = list(job_ids)
    buttons = _receivers(connection, extras_jobbutton, ids)
    hooks = _receivers(connection, extras_jobhook, ids)
    schedules = _schedules(connection, ids, now)
    results = _results(connection, ids)
    return {
        job_id: JobDependents(
            tuple(buttons[job_id]),
            tuple(hooks[job_id]),
            tuple(schedules[job_id]),
            results.get(job_id, ResultsSummary()),
        )
        for job_id in ids
    }


def _receivers(connection: Connection, table: Table, ids: list[UUID]) -> dict[UUID, list[ReceiverRecord]]:
    found: dict[UUID, list[ReceiverRecord]] = defaultdict(list)
    query = select(table.c.job_id, table.c.id, table.c.name, table.c.enabled).where(table.c.job_id.in_(ids))
    for job_id, ident, name, enabled in connection.execute(query.order_by(table.c.name)):
        found[job_id].append(ReceiverRecord(ident, name, bool(enabled)))
    return found


def _schedules(connection: Connection, ids: list[UUID], now: datetime) -> dict[UUID, list[ScheduleRecord]]:
    s = extras_scheduledjob
    rows = connection.execute(
        select(s, auth_user.c.username)
        .outerjoin(auth_user, auth_user.c.id == s.c.user_id)
        .where(s.c.job_model_id.in_(ids))
        .order_by(s.c.name)
    ).all()
    pending = _pending_workflows(connection, [row.id for row in rows])
    found: dict[UUID, list[ScheduleRecord]] = defaultdict(list)
    for row in rows:
        found[row.job_model_id].append(
            ScheduleRecord(
                row.id,
                row.name,
                bool(row.enabled),
                row.state,
                row.interval,
                row.crontab,
                row.username,
                _next_run(row._mapping, now),
                tuple(pending.get(row.id, ())),
            )
        )
    return found


def _pending_workflows(connection: Connection, schedule_ids: list[UUID]) -> dict[UUID, list[UUID]]:
    if not schedule_ids:
        return {}
    w = extras_approvalworkflow
    scheduled_job_type = select(django_content_type.c.id).where(
        django_content_type.c.app_label == "extras", django_content_type.c.model == "scheduledjob"
    )
    query = select(w.c.object_under_review_object_id, w.c.id).where(
        w.c.object_under_review_content_type_id.in_(scheduled_job_type),
        w.c.object_under_review_object_id.in_(schedule_ids),
        w.c.current_state == "Pending",
    )
    found: dict[UUID, list[UUID]] = defaultdict(list)
    for schedule_id, workflow_id in connection.execute(query):
        found[schedule_id].append(workflow_id)
    return found


def _results(connection: Connection, ids: list[UUID]) -> dict[UUID, ResultsSummary]:
    r = extras_jobresult
    query = (
        select(r.c.job_model_id, r.c.status, func.count(), func.min(r.c.date_created))
        .where(r.c.job_model_id.in_(ids))
        .group_by(r.c.job_model_id, r.c.status)
    )
    running: dict[UUID, int] = defaultdict(int)
    oldest: dict[UUID, datetime] = {}
    total: dict[UUID, int] = defaultdict(int)
    for job_id, status, count, first in connection.execute(query):
        total[job_id] += count
        if status in RUNNING_STATES:
            running[job_id] += count
            oldest[job_id] = min(oldest.get(job_id, first), first)
    return {job_id: ResultsSummary(running[job_id], oldest.get(job_id), total[job_id]) for job_id in total}


def _next_run(row: RowMapping, now: datetime) -> datetime | None:
    """When beat would next start it, computed as Nautobot's ScheduledJob.schedule does (celery crontab in
    the schedule's time zone; 'future' is a one-off at start_time). None when it would not run."""
    get = row.__getitem__
    if not get("enabled") or get("state") != "active":
        return None
    start: datetime = get("start_time")
    if get("interval") == "future":
        return start if get("total_run_count") == 0 else None
    try:
        tz = ZoneInfo(get("time_zone"))
    except (ZoneInfoNotFoundError, ValueError):
        return None
    local = start.astimezone(tz)
    by_interval: dict[str, dict[str, Any]] = {
        "hourly": {"minute": local.minute},
        "daily": {"minute": local.minute, "hour": local.hour},
        "weekly": {"minute": local.minute, "hour": local.hour, "day_of_week": local.strftime("%w")},
    }
    fields = by_interval.get(get("interval"))
    if fields is None:
        parts = str(get("crontab")).split()
        if get("interval") != "custom" or len(parts) != 5:
            return None
        fields = dict(zip(("minute", "hour", "day_of_month", "month_of_year", "day_of_week"), parts, strict=True))
    after = max(now, start).astimezone(tz)
    try:
        from celery.schedules import crontab  # only where a crontab schedule is read (Celery takes 0.2 s to load)

        schedule = crontab(**fields, nowfun=lambda: after)
        begin, delta, _ = schedule.remaining_delta(after, tz=tz)
    except (ValueError, TypeError):
        return None
    next_run: datetime = begin + delta
    return next_run
