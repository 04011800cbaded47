"""Findings about schedules: schedules of jobs that cannot run, singleton jobs scheduled more often than they
run, and schedules awaiting an approval that no user can give.

What runs (spec f): beat runs a schedule that is `active` and enabled, at the times its interval gives
(hourly, daily and weekly from its start time in its time zone; `custom` by its crontab; `future` once);
the worker refuses a run of a disabled job; a singleton's run that starts while another holds the lock
fails. Who may approve a stage: a member of its approver group with extras.change_approvalworkflowstage,
extras.view_approvalworkflowstage and extras.change_scheduledjob; a superuser may, through the UI, in any
case (views.py: `is_superuser or` a member of the group).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from reconciler.audit.context import AuditContext
from reconciler.audit.measure import duration
from reconciler.audit.types import Finding, FindingKind
from reconciler.diagnostics import plural
from reconciler.nautobot.audit_records import PendingStage, ScheduleFact, UserFact
from reconciler.plan.permissions import Grant, Requirement, UserGrants, denials

# How far ahead a schedule's fire times are followed to find its shortest gap: a week and a day covers a
# weekly schedule twice; at most this many fires per schedule (a schedule every minute is judged by them).
HORIZON = timedelta(days=8)
MAX_FIRES = 500
APPROVER_PERMISSIONS = ("extras.change_approvalworkflowstage", "extras.view_approvalworkflowstage",
                        "extras.change_scheduledjob")  # fmt: skip


def findings(context: AuditContext) -> tuple[list[Finding], list[str]]:
    return [*_unrunnable(context), *_singleton_overlaps(context), *_unapprovable(context)], []


def fire_times(schedule: ScheduleFact, now: datetime) -> list[datetime]:
    """When beat starts the schedule from `now` on, within HORIZON (in UTC): as Nautobot's
    ScheduledJob.schedule builds it (spec f). Empty when it would not fire, or its crontab is invalid."""
    start = schedule.start_time
    if schedule.interval == "future":
        return [start] if start >= now else []
    try:
        zone = ZoneInfo(schedule.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        return []
    local = start.astimezone(zone)
    expression = {
        "hourly": f"{local.minute} * * * *",
        "daily": f"{local.minute} {local.hour} * * *",
        "weekly": f"{local.minute} {local.hour} * * {local.strftime('%w')}",
        "custom": schedule.crontab,
    }.get(schedule.interval)
    if expression is None or (schedule.interval == "custom" and len(expression.split()) != 5):
        return []
    begin = max(now, start).astimezone(zone)
    fires: list[datetime] = []
    try:
        times = croniter(expression, begin - timedelta(microseconds=1))  # a fire at `begin` itself counts
        while len(fires) < MAX_FIRES:
            fire: datetime = times.get_next(datetime)
            if fire > begin + HORIZON:
                break
            fires.append(fire.astimezone(UTC))
    except ValueError:  # croniter's errors: a crontab it cannot read, or one that never fires
        return fires
    return fires


def shortest_gap(fires: Sequence[datetime]) -> timedelta | None:
    ordered = sorted(fires)
    gaps = [b - a for a, b in itertools.pairwise(ordered)]
    return min(gaps) if gaps else None


def _unrunnable(context: AuditContext) -> Iterator[Finding]:
    """Schedules that would run (or await approval) for a job that is disabled, not installed, or gone."""
    for schedule in context.facts.nautobot.schedules:
        record = context.records.get(schedule.job_id) if schedule.job_id else None
        if record is not None and record.enabled and record.installed:
            continue
        if record is None:
            why = f"its job record is gone (it ran {schedule.task})"
            fix = "delete the schedule: no job is there to run"
        else:
            state = ("disabled: the worker refuses every run" if not record.enabled else
                     "not installed (its code is gone): every run fails")  # fmt: skip
            why = f"its job {record.class_path} is {state}"
            fix = ("enable the job, or disable or delete the schedule" if record.installed else
                   "restore the job's code, or delete the schedule (a `retire:` entry with `schedules: disable` "
                   "takes the job and its schedules out in order)")  # fmt: skip
            if record.class_path in context.retiring:
                continue  # its retirement deals with its schedules
        what = "awaits approval" if schedule.state == "pending" else f"runs {_interval(schedule)}"
        yield Finding(FindingKind.SCHEDULE_UNRUNNABLE, schedule.name, f"schedule {schedule.name!r} {what}, but {why}",
                      fix, record.class_path if record else None,
                      details=MappingProxyType({"schedule": schedule.name, "state": schedule.state,
                                                "interval": schedule.interval, "task": schedule.task,
                                                "job_enabled": record.enabled if record else None,
                                                "job_installed": record.installed if record else None}))  # fmt: skip


def _singleton_overlaps(context: AuditContext) -> Iterator[Finding]:
    """Singleton jobs whose schedules (together) fire again sooner than their longest run lasted."""
    by_job: dict[UUID, list[ScheduleFact]] = defaultdict(list)
    for schedule in context.facts.nautobot.schedules:
        if schedule.job_id is not None and schedule.state == "active" and schedule.enabled:
            by_job[schedule.job_id].append(schedule)
    for job_id, schedules in sorted(by_job.items(), key=lambda item: item[1][0].name):
        record = context.records.get(job_id)
        runs = context.runs.get(job_id)
        if record is None or not record.values.is_singleton or runs is None or not runs.runs:
            continue
        gap = shortest_gap([fire for s in schedules for fire in fire_times(s, context.now)])
        longest, p95 = runs.longest, runs.p95
        if gap is None or longest <= gap.total_seconds():
            continue
        names = ", ".join(repr(s.name) for s in schedules)
        fire = "fires" if len(schedules) == 1 else "fire"
        yield Finding(
            FindingKind.SINGLETON_OVERLAP, record.class_path,
            f"a singleton job whose runs take up to {duration(longest)} (p95 {duration(p95)}), but its "
            f"{'schedule' if len(schedules) == 1 else 'schedules'} {names} {fire} as often as every "
            f"{duration(gap.total_seconds())}: a run that starts while the last one still runs finds the singleton "
            "lock and fails",
            "space the schedule out beyond the job's runtime (or make the job faster); is_singleton refuses a "
            "second run rather than queueing it", record.class_path,
            details=MappingProxyType({"schedules": [s.name for s in schedules], "shortest_gap_seconds":
                                      gap.total_seconds(), "max_seconds": longest, "p95_seconds": p95}),
        )  # fmt: skip


def _unapprovable(context: AuditContext) -> Iterator[Finding]:
    """Pending approvals whose current stage cannot get the approvals it still needs from anyone."""
    schedules = {s.id: s for s in context.facts.nautobot.schedules}
    users = context.facts.nautobot.users
    for stage in context.facts.nautobot.pending_stages:
        schedule = schedules.get(stage.schedule_id)
        needed = stage.min_approvers - len(stage.approved_by)
        if schedule is None or needed <= 0:
            continue
        able = [u for u in users if u.id not in stage.approved_by and _can_approve(u, stage)]
        if len(able) >= needed:
            continue
        record = context.records.get(schedule.job_id) if schedule.job_id else None
        if record is not None and record.class_path in context.retiring:
            continue  # its retirement cancels the approval
        members = [u for u in users if stage.group_id is not None and stage.group_id in u.groups]
        if stage.group_id is None:
            reason = "its stage definition was deleted, so no group can approve it"
        elif not members:
            reason = f"group {stage.group_name!r} has no active member"
        else:
            reason = (f"of the {plural(len(members), 'active member')} of group {stage.group_name!r}, "
                      f"{_enough(able, needed)} {' and '.join(APPROVER_PERMISSIONS)} without constraints")  # fmt: skip
        superusers = "" if any(u.is_superuser for u in users) else ", and there is no active superuser"
        yield Finding(
            FindingKind.APPROVAL_WITHOUT_APPROVER, schedule.name,
            f"schedule {schedule.name!r} awaits approval at stage {stage.name!r} ({plural(needed, 'approval')} "
            f"still needed), but {reason}{superusers}: it never runs",
            f"give a member of {stage.group_name!r} those permissions (or add such a user to the group), or cancel "
            "the approval" if stage.group_id is not None else "cancel the approval and schedule the job again",
            record.class_path if record else None,
            details=MappingProxyType({"schedule": schedule.name, "stage": stage.name, "group": stage.group_name,
                                      "needed": needed, "able": [u.username for u in able],
                                      "members": [u.username for u in members]}),
        )  # fmt: skip


def _enough(able: list[UserFact], needed: int) -> str:
    if not able:
        return "none holds"
    return f"only {plural(len(able), 'holds', 'hold')}" if needed > len(able) else "too few hold"


def _can_approve(user: UserFact, stage: PendingStage) -> bool:
    """A superuser (the UI lets one approve any stage), or a member of the stage's group holding every
    approver permission; a permission limited by constraints does not count (nbjobs cannot evaluate them
    against a stage here, and never guesses in favour)."""
    if user.is_superuser:
        return True
    if stage.group_id is None or stage.group_id not in user.groups:
        return False
    grants = UserGrants(user.username, True, False, tuple(
        Grant(p.name, p.actions, p.object_types, p.constraints) for p in user.permissions
    ))  # fmt: skip
    wanted = tuple(Requirement(name, f"approval:{stage.stage_id}", f"stage {stage.name!r}")
                   for name in APPROVER_PERMISSIONS)  # fmt: skip
    return not denials(wanted, grants, {}, {})


def _interval(schedule: ScheduleFact) -> str:
    if schedule.interval == "custom":
        return f"on crontab {schedule.crontab!r}"
    return "once" if schedule.interval == "future" else schedule.interval
