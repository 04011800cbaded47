"""The reads of `nbjobs audit` beyond the planner's snapshot, in a constant number of queries whatever the
number of jobs, results, schedules or users: two for the results (each job's p95 and longest runtime over
its most recent finished runs, computed by the database, and each job's last run), one for the schedules,
at most five for pending approvals and who could give them (only when some wait), and two for Django's
migrations (with --since-upgrade).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, Float, and_, case, column, func, inspect, or_, select, table
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from reconciler.dbtypes import UtcDateTime
from reconciler.nautobot.audit_records import (
    JobRuns,
    NautobotAuditFacts,
    PendingStage,
    PermissionFact,
    ScheduleFact,
    UpgradeMark,
    UserFact,
)
from reconciler.nautobot.identity import MIGRATIONS_TABLE
from reconciler.nautobot.tables import (
    auth_group,
    auth_user,
    auth_user_groups,
    django_content_type,
    extras_approvaluserresponse,
    extras_approvalworkflow,
    extras_approvalworkflowstage,
    extras_approvalworkflowstagedefinition,
    extras_job,
    extras_jobresult,
    extras_scheduledjob,
    users_objectpermission,
    users_objectpermission_groups,
    users_objectpermission_object_types,
    users_objectpermission_users,
)

# Runs that ended on their own: a revoked run was stopped by someone, its duration says nothing of the job.
FINISHED_STATES = ("SUCCESS", "FAILURE")
# Object types whose permissions decide who may approve a schedule's stage (spec section f, "Who may approve").
APPROVAL_OBJECT_TYPES = ("approvalworkflowstage", "scheduledjob")

_migrations = table(MIGRATIONS_TABLE, column("app"), column("name"), column("applied", UtcDateTime()))


def read_audit_facts(connection: Connection, *, runtime_sample: int, upgrade: bool = False) -> NautobotAuditFacts:
    """Everything the audit reads of Nautobot besides the snapshot. `upgrade` also reads when Django
    last migrated (for `--since-upgrade`)."""
    runs = read_runs(connection, runtime_sample)
    schedules = read_schedules(connection)
    stages = read_pending_stages(connection)
    groups = {stage.group_id for stage in stages if stage.group_id is not None}
    users = read_possible_approvers(connection, groups) if stages else ()
    has_migrations, mark = read_upgrade(connection) if upgrade else (False, None)
    return NautobotAuditFacts(runs, schedules, stages, users, mark, has_migrations, runtime_sample)


def read_runs(connection: Connection, sample: int) -> tuple[JobRuns, ...]:
    """Per job, over its `sample` most recent finished runs: their count, p95 and longest duration,
    computed by the database (one query: window functions, which SQLite, PostgreSQL and MariaDB all have,
    rank the runs by recency, then by duration); and its last run and creation (one more query)."""
    r = extras_jobresult
    recent = (
        select(r.c.job_model_id.label("job_id"), seconds_between(r.c.date_started, r.c.date_done).label("seconds"),
               func.row_number().over(partition_by=r.c.job_model_id,
                                      order_by=(r.c.date_created.desc(), r.c.id.desc())).label("recent"))
        .where(r.c.job_model_id.is_not(None), r.c.status.in_(FINISHED_STATES), r.c.date_started.is_not(None),
               r.c.date_done.is_not(None))
        .subquery()
    )  # fmt: skip
    ranked = (
        select(recent.c.job_id, recent.c.seconds,
               func.row_number().over(partition_by=recent.c.job_id, order_by=recent.c.seconds).label("rank"),
               func.count().over(partition_by=recent.c.job_id).label("runs"))
        .where(recent.c.recent <= sample)
        .subquery()
    )  # fmt: skip
    nearest_rank = (ranked.c.runs * 95 + 99) // 100  # ceil(0.95 n), in integers on every engine
    query = select(
        ranked.c.job_id, func.max(ranked.c.runs), func.max(case((ranked.c.rank == nearest_rank, ranked.c.seconds))),
        func.max(ranked.c.seconds),
    ).group_by(ranked.c.job_id)
    measured = {job_id: (int(runs), _seconds(p95), _seconds(longest))
                for job_id, runs, p95, longest in connection.execute(query)}  # fmt: skip
    activity = (
        select(extras_job.c.id, extras_job.c.created, func.max(r.c.date_created))
        .select_from(extras_job.outerjoin(r, r.c.job_model_id == extras_job.c.id))
        .group_by(extras_job.c.id, extras_job.c.created)
    )
    return tuple(
        JobRuns(job_id, *measured.get(job_id, (0, 0.0, 0.0)), last_run=last_run, created=created)
        for job_id, created, last_run in connection.execute(activity)
    )


def _seconds(value: Any) -> float:
    """To the millisecond: SQLite's julianday arithmetic is exact to about 0.1 ms. Never negative (a
    worker's clock may be behind the one that stamped the start)."""
    return max(0.0, round(float(value or 0), 3))


class seconds_between(FunctionElement[float]):  # named as the SQL function it is
    """The seconds from one timestamp column to another, as each engine computes it: SQLite stores them
    as text (julianday parses it), MariaDB as datetime(6), PostgreSQL as timestamptz."""

    type = Float()
    inherit_cache = True
    name = "seconds_between"


@compiles(seconds_between, "sqlite")
def _sqlite_seconds(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = (compiler.process(c, **kw) for c in element.clauses)
    return f"((julianday({end}) - julianday({start})) * 86400.0)"


@compiles(seconds_between, "postgresql")
def _postgresql_seconds(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = (compiler.process(c, **kw) for c in element.clauses)
    return f"EXTRACT(EPOCH FROM ({end} - {start}))"


@compiles(seconds_between, "mysql")
@compiles(seconds_between, "mariadb")
def _mysql_seconds(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = (compiler.process(c, **kw) for c in element.clauses)
    return f"(TIMESTAMPDIFF(MICROSECOND, {start}, {end}) / 1000000.0)"


def read_schedules(connection: Connection) -> tuple[ScheduleFact, ...]:
    """The schedules beat would run (state `active` and enabled) and those awaiting approval (`pending`)."""
    s = extras_scheduledjob
    query = (
        select(s.c.id, s.c.name, s.c.task, s.c.job_model_id, s.c.interval, s.c.crontab, s.c.start_time,
               s.c.time_zone, s.c.enabled, s.c.state)
        .where(or_(and_(s.c.state == "active", s.c.enabled.is_(True)), s.c.state == "pending"))
        .order_by(s.c.name)
    )  # fmt: skip
    return tuple(
        ScheduleFact(row.id, row.name, row.task, row.job_model_id, row.interval, row.crontab, row.start_time,
                     row.time_zone, bool(row.enabled), row.state)
        for row in connection.execute(query)
    )  # fmt: skip


def read_pending_stages(connection: Connection) -> tuple[PendingStage, ...]:
    """For each pending approval of a schedule, the stage it waits on (the first Pending one by sequence)
    and who approved that stage already: two queries."""
    w, stage, definition = extras_approvalworkflow, extras_approvalworkflowstage, extras_approvalworkflowstagedefinition
    scheduled_job_type = select(django_content_type.c.id).where(
        django_content_type.c.app_label == "extras", django_content_type.c.model == "scheduledjob"
    )
    query = (
        select(w.c.object_under_review_object_id, w.c.id, stage.c.id, definition.c.name, definition.c.sequence,
               definition.c.min_approvers, definition.c.approver_group_id, auth_group.c.name)
        .select_from(
            w.join(stage, stage.c.approval_workflow_id == w.c.id)
            .outerjoin(definition, definition.c.id == stage.c.approval_workflow_stage_definition_id)
            .outerjoin(auth_group, auth_group.c.id == definition.c.approver_group_id)
        )
        .where(w.c.current_state == "Pending", stage.c.state == "Pending",
               w.c.object_under_review_content_type_id.in_(scheduled_job_type),
               w.c.object_under_review_object_id.in_(select(extras_scheduledjob.c.id)
                                                     .where(extras_scheduledjob.c.state == "pending")))
    )  # fmt: skip
    first: dict[UUID, PendingStage] = {}
    for schedule_id, workflow_id, stage_id, name, sequence, minimum, group_id, group_name in connection.execute(query):
        # A stage whose definition was deleted (SET_NULL) has no group: nobody can approve it.
        found = PendingStage(schedule_id, workflow_id, stage_id, name or "(deleted stage definition)", sequence,
                             1 if minimum is None else minimum, group_id, group_name)  # fmt: skip
        # Nautobot's active stage is the first pending one by its definition's sequence; one without a
        # definition sorts last, as NULLs do in PostgreSQL's ascending order.
        held = first.get(workflow_id)
        if held is None or _order(found) < _order(held):
            first[workflow_id] = found
    if not first:
        return ()
    response = extras_approvaluserresponse
    approved: dict[UUID, set[UUID]] = defaultdict(set)
    stage_ids = [stage.stage_id for stage in first.values()]
    for stage_id, user_id in connection.execute(
        select(response.c.approval_workflow_stage_id, response.c.user_id).where(
            response.c.state == "Approved", response.c.approval_workflow_stage_id.in_(stage_ids)
        )
    ):
        approved[stage_id].add(user_id)
    return tuple(
        replace(stage, approved_by=frozenset(approved.get(stage.stage_id, ())))
        for stage in sorted(first.values(), key=lambda stage: str(stage.schedule_id))
    )


def _order(stage: PendingStage) -> tuple[bool, int]:
    return (stage.sequence is None, stage.sequence or 0)


def read_possible_approvers(connection: Connection, group_ids: set[int]) -> tuple[UserFact, ...]:
    """Active superusers and active members of `group_ids`, with all their groups and the enabled
    permissions on approval stages and schedules assigned to them or their groups: three queries."""
    u, member = auth_user, auth_user_groups
    in_groups = select(member.c.user_id).where(member.c.group_id.in_(sorted(group_ids)))
    query = (
        select(u.c.id, u.c.username, u.c.is_superuser, member.c.group_id)
        .select_from(u.outerjoin(member, member.c.user_id == u.c.id))
        .where(u.c.is_active.is_(True), or_(u.c.is_superuser.is_(True), u.c.id.in_(in_groups)))
    )
    names: dict[UUID, tuple[str, bool]] = {}
    groups: dict[UUID, set[int]] = defaultdict(set)
    for user_id, username, superuser, group_id in connection.execute(query):
        names[user_id] = (username, bool(superuser))
        if group_id is not None:
            groups[user_id].add(group_id)
    if not names:
        return ()
    permissions = _approval_permissions(connection)
    by_user: dict[UUID, set[UUID]] = defaultdict(set)
    by_group: dict[int, set[UUID]] = defaultdict(set)
    if permissions:
        ids = sorted(permissions, key=str)
        for permission_id, user_id in connection.execute(
            select(users_objectpermission_users.c.objectpermission_id, users_objectpermission_users.c.user_id)
            .where(users_objectpermission_users.c.objectpermission_id.in_(ids))
        ):  # fmt: skip
            by_user[user_id].add(permission_id)
        for permission_id, group_id in connection.execute(
            select(users_objectpermission_groups.c.objectpermission_id, users_objectpermission_groups.c.group_id)
            .where(users_objectpermission_groups.c.objectpermission_id.in_(ids))
        ):  # fmt: skip
            by_group[group_id].add(permission_id)
    found = []
    for user_id, (username, superuser) in sorted(names.items(), key=lambda item: item[1][0]):
        held = set(by_user.get(user_id, ())).union(*(by_group.get(g, set()) for g in groups[user_id]))
        found.append(UserFact(user_id, username, superuser, frozenset(groups[user_id]),
                              tuple(sorted((permissions[p] for p in held), key=lambda p: p.name))))  # fmt: skip
    return tuple(found)


def _approval_permissions(connection: Connection) -> dict[UUID, PermissionFact]:
    """Enabled ObjectPermissions with approval stages or schedules among their object types (one query)."""
    p, types = users_objectpermission, users_objectpermission_object_types
    query = (
        select(p.c.id, p.c.name, p.c.actions, p.c.constraints, django_content_type.c.app_label,
               django_content_type.c.model)
        .select_from(p.join(types, types.c.objectpermission_id == p.c.id)
                     .join(django_content_type, django_content_type.c.id == types.c.contenttype_id))
        .where(p.c.enabled.is_(True), django_content_type.c.app_label == "extras",
               django_content_type.c.model.in_(APPROVAL_OBJECT_TYPES))
    )  # fmt: skip
    rows: dict[UUID, tuple[str, frozenset[str], object]] = {}
    object_types: dict[UUID, set[str]] = defaultdict(set)
    for permission_id, name, actions, constraints, app_label, model in connection.execute(query):
        rows[permission_id] = (name, frozenset(str(a) for a in actions or ()), constraints)
        object_types[permission_id].add(f"{app_label}.{model}")
    return {
        permission_id: PermissionFact(name, actions, frozenset(object_types[permission_id]), constraints)
        for permission_id, (name, actions, constraints) in rows.items()
    }


def read_upgrade(connection: Connection) -> tuple[bool, UpgradeMark | None]:
    """(whether django_migrations exists, when the newest migration was applied and the newest `extras`
    one): the table check and one query. The sandbox has no migrations: (False, None)."""
    if not inspect(connection).has_table(MIGRATIONS_TABLE):
        return False, None
    newest_extras = func.max(case((_migrations.c.app == "extras", _migrations.c.name)))
    row = connection.execute(select(func.max(_migrations.c.applied), newest_extras)).one()
    if row[0] is None:
        return True, None
    return True, UpgradeMark(row[0], row[1])
