"""Writes of the retirement workflow, as Nautobot's own code paths make them (spec sections c, e, f).

- Disabling buttons, hooks and schedules reproduces the saves of Job.save() on uninstall and of
  ScheduledJob.save() (enabled false, last_run_at null, active -> completed, date_changed).
- Cancelling a pending approval reproduces ApprovalWorkflow.cancel(): a Canceled response by the acting
  user on the active stage, pending stages Canceled, the workflow Canceled, the schedule canceled.
- Deleting a job reproduces Django's collector: assignments, buttons and hooks (with their content-type
  rows), the generic rows of each deleted object (tags, notes, contact and static-group associations,
  relationship associations, object metadata, data compliance where installed), results' and
  schedules' job links nulled (SET_NULL), then the job. Children go first: MySQL checks foreign keys
  at once.
Every write to extras_scheduledjob bumps extras_scheduledjobs so beat notices (spec a10).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import Connection, MetaData, Table, delete, insert, inspect, or_, select, update

from reconciler.nautobot.changelog import ChangedObject, content_type_ids, tag_rows
from reconciler.nautobot.serialize import job_object_data, job_object_data_v2, row_object_data, tag_object_data_v2
from reconciler.nautobot.tables import (
    extras_approvaluserresponse,
    extras_approvalworkflow,
    extras_approvalworkflowdefinition,
    extras_approvalworkflowstage,
    extras_approvalworkflowstagedefinition,
    extras_contactassociation,
    extras_job,
    extras_jobbutton,
    extras_jobbutton_content_types,
    extras_jobhook,
    extras_jobhook_content_types,
    extras_jobqueue,
    extras_jobqueueassignment,
    extras_jobresult,
    extras_note,
    extras_objectmetadata,
    extras_relationshipassociation,
    extras_scheduledjob,
    extras_scheduledjobs,
    extras_staticgroupassociation,
    extras_taggeditem,
)

# (table, content-type column, object-id column, change-logged?) of every generic relation a deleted
# Job, JobButton or JobHook takes with it.
_GENERIC = (
    (extras_taggeditem, "content_type_id", "object_id", False),
    (extras_note, "assigned_object_type_id", "assigned_object_id", True),
    (extras_contactassociation, "associated_object_type_id", "associated_object_id", True),
    (extras_staticgroupassociation, "associated_object_type_id", "associated_object_id", True),
    (extras_objectmetadata, "assigned_object_type_id", "assigned_object_id", True),
)
_DATA_COMPLIANCE = "data_validation_datacompliance"  # only where Nautobot's data validation app is installed


def disable_receivers(connection: Connection, table: Table, ids: Collection[UUID], now: datetime) -> None:
    if ids:
        connection.execute(update(table).where(table.c.id.in_(list(ids))).values(enabled=False, last_updated=now))


def disable_schedules(connection: Connection, ids: Collection[UUID], now: datetime) -> None:
    """ScheduledJob.save() with enabled False: last_run_at cleared, an active schedule completed."""
    if not ids:
        return
    s = extras_scheduledjob
    for state in ("active", None):  # two statements: the state moves only from active
        query = update(s).where(s.c.id.in_(list(ids)), s.c.enabled.is_(True))
        query = query.where(s.c.state == "active") if state else query.where(s.c.state != "active")
        values: dict[str, Any] = {"enabled": False, "last_run_at": None, "date_changed": now}
        connection.execute(query.values(**values, **({"state": "completed"} if state else {})))
    bump_beat(connection, now)


@dataclass(frozen=True)
class CanceledWorkflow:
    id: UUID
    object_repr: str


def cancel_approvals(
    connection: Connection, workflow_ids: Collection[UUID], user_id: UUID, comments: str, now: datetime
) -> list[CanceledWorkflow]:
    """ApprovalWorkflow.cancel(user, comments) for each pending workflow, then on_workflow_canceled()."""
    canceled = []
    w, st, sd = extras_approvalworkflow, extras_approvalworkflowstage, extras_approvalworkflowstagedefinition
    for workflow in connection.execute(select(w).where(w.c.id.in_(list(workflow_ids)), w.c.current_state == "Pending")):
        active_stage = connection.execute(
            select(st.c.id)
            .outerjoin(sd, sd.c.id == st.c.approval_workflow_stage_definition_id)
            .where(st.c.approval_workflow_id == workflow.id, st.c.state != "Approved")
            .order_by(sd.c.sequence)
            .limit(1)
        ).scalar()
        if active_stage is not None:
            _record_response(connection, active_stage, user_id, comments, now)
        connection.execute(update(st).where(st.c.approval_workflow_id == workflow.id, st.c.state == "Pending")
                           .values(state="Canceled", decision_date=now))  # fmt: skip
        connection.execute(update(w).where(w.c.id == workflow.id)
                           .values(current_state="Canceled", decision_date=now, last_updated=now))  # fmt: skip
        schedule = extras_scheduledjob.c.id == workflow.object_under_review_object_id
        connection.execute(update(extras_scheduledjob).where(schedule).values(
            decision_date=now, state="canceled", enabled=False, last_run_at=None, date_changed=now))  # fmt: skip
        canceled.append(CanceledWorkflow(workflow.id, _workflow_repr(connection, workflow._mapping, "Canceled")))
    bump_beat(connection, now)
    return canceled


def _record_response(connection: Connection, stage_id: UUID, user_id: UUID, comments: str, now: datetime) -> None:
    r = extras_approvaluserresponse
    existing = connection.execute(
        select(r.c.id).where(r.c.approval_workflow_stage_id == stage_id, r.c.user_id == user_id)
    ).scalar()
    values = {"state": "Canceled", "last_updated": now, **({"comments": comments} if comments else {})}
    if existing is None:
        connection.execute(insert(r).values(id=uuid4(), approval_workflow_stage_id=stage_id, user_id=user_id,
                                            comments=comments, state="Canceled", last_updated=now))  # fmt: skip
    else:
        connection.execute(update(r).where(r.c.id == existing).values(**values))


def _workflow_repr(connection: Connection, workflow: Any, state: str) -> str:
    """ApprovalWorkflow.__str__: "<definition>: <object under review> (<state>)"."""
    definition = connection.execute(
        select(extras_approvalworkflowdefinition.c.name).where(
            extras_approvalworkflowdefinition.c.id == workflow["approval_workflow_definition_id"]
        )
    ).scalar()
    schedule = connection.execute(
        select(extras_scheduledjob.c.name, extras_scheduledjob.c.interval).where(
            extras_scheduledjob.c.id == workflow["object_under_review_object_id"]
        )
    ).one()
    return f"{definition or 'Deleted workflow'}: {schedule.name}: {schedule.interval} ({state})"  # ScheduledJob.__str__


def bump_beat(connection: Connection, now: datetime) -> None:
    """Upsert extras_scheduledjobs(ident=1): celery beat reloads schedules when it moves."""
    marker = extras_scheduledjobs
    if connection.execute(update(marker).where(marker.c.ident == 1).values(last_update=now)).rowcount == 0:
        connection.execute(insert(marker).values(ident=1, last_update=now))


def delete_job(connection: Connection, job_id: UUID, request: str) -> list[ChangedObject]:
    """Delete a job and what Django's collector deletes with it; return the change-log entries of the
    change-logged objects deleted (the job, its buttons and hooks, and their change-logged generic rows),
    serialized as they were."""
    types = content_type_ids(connection, ["job", "jobbutton", "jobhook", "note", "contactassociation",
                                          "staticgroupassociation", "objectmetadata", "tag"])  # fmt: skip
    job = connection.execute(select(extras_job).where(extras_job.c.id == job_id)).one()._mapping
    buttons = [
        r._mapping for r in connection.execute(select(extras_jobbutton).where(extras_jobbutton.c.job_id == job_id))
    ]
    hooks = [r._mapping for r in connection.execute(select(extras_jobhook).where(extras_jobhook.c.job_id == job_id))]
    owners = [("job", job_id)] + [("jobbutton", b["id"]) for b in buttons] + [("jobhook", h["id"]) for h in hooks]
    names = {job_id: str(job["name"]), **{r["id"]: str(r["name"]) for r in (*buttons, *hooks)}}
    logged = _generic_rows(connection, owners, types, names, request)
    logged.append(
        ChangedObject("job", job_id, "delete", request=request, serialized=_job_serialized(connection, job, types))
    )
    logged += [_receiver_entry(connection, "jobbutton", b, request) for b in buttons]
    logged += [_receiver_entry(connection, "jobhook", h, request) for h in hooks]  # JobHook has no tags

    _delete_generic(connection, owners, types)
    for through, key, rows in ((extras_jobbutton_content_types, "jobbutton_id", buttons),
                               (extras_jobhook_content_types, "jobhook_id", hooks)):  # fmt: skip
        if rows:
            connection.execute(delete(through).where(through.c[key].in_([r["id"] for r in rows])))
    connection.execute(delete(extras_jobbutton).where(extras_jobbutton.c.job_id == job_id))
    connection.execute(delete(extras_jobhook).where(extras_jobhook.c.job_id == job_id))
    connection.execute(delete(extras_jobqueueassignment).where(extras_jobqueueassignment.c.job_id == job_id))
    connection.execute(
        update(extras_jobresult).where(extras_jobresult.c.job_model_id == job_id).values(job_model_id=None)
    )
    connection.execute(update(extras_scheduledjob).where(extras_scheduledjob.c.job_model_id == job_id)
                       .values(job_model_id=None))  # fmt: skip
    connection.execute(delete(extras_job).where(extras_job.c.id == job_id))
    return logged


def _owner_filter(table: Table, type_column: str, id_column: str, owners: Iterable[tuple[str, UUID]],
                  types: dict[str, int]) -> Any:  # fmt: skip
    return or_(*(
        (table.c[type_column] == types[model]) & (table.c[id_column] == object_id)
        for model, object_id in owners if model in types
    ))  # fmt: skip


def _generic_rows(
    connection: Connection, owners: list[tuple[str, UUID]], types: dict[str, int], names: dict[UUID, str], request: str
) -> list[ChangedObject]:
    """Change-log entries of the change-logged generic rows deleted with the owners, labelled as their
    __str__ labels them. A dynamic group's cached members (static-group rows of a group that is not
    static) are deleted too, but Nautobot logs no change for them."""
    entries = []
    for table, type_column, id_column, logged in _GENERIC:
        if not logged:
            continue
        query = select(table).where(_owner_filter(table, type_column, id_column, owners, types))
        rows = [row._mapping for row in connection.execute(query)]
        related = _related_names(connection, table, rows)
        for m in rows:
            group_type = related.get(("group_type", m["dynamic_group_id"])) if "dynamic_group_id" in m else None
            if table is extras_staticgroupassociation and group_type not in (None, "static"):
                continue
            owner = names.get(m[id_column], str(m[id_column]))
            serialized = (row_object_data(table, m), None, _generic_repr(table, m, owner, related))
            entries.append(ChangedObject(table.name.removeprefix("extras_"), m["id"], "delete", request=request,
                                         serialized=serialized))  # fmt: skip
    return entries


# The unmirrored tables whose names the generic rows' __str__ uses, read by reflection where they exist
# (a sandbox has none of them: the ids stand in).
_RELATED = {
    "contact_id": ("extras_contact", "name"),
    "team_id": ("extras_team", "name"),
    "metadata_type_id": ("extras_metadatatype", "name"),
    "dynamic_group_id": ("extras_dynamicgroup", "name"),
}


def _related_names(connection: Connection, table: Table, rows: list[Any]) -> dict[tuple[str, UUID], str]:
    names: dict[tuple[str, UUID], str] = {}
    inspector = inspect(connection)
    for column, (related, label) in _RELATED.items():
        ids = {row[column] for row in rows if column in table.columns and row[column] is not None}
        if not ids or not inspector.has_table(related):
            continue
        target = Table(related, MetaData(), autoload_with=connection)
        extra = [c for c in ("group_type", "data_type") if c in target.columns]
        query = select(target.c.id, target.c[label], *(target.c[c] for c in extra)).where(target.c.id.in_(list(ids)))
        for found in connection.execute(query):
            names[(column, found.id)] = str(found[1])
            names.update({(c, found.id): str(found._mapping[c]) for c in extra})
    return names


def _generic_repr(table: Table, row: Any, owner: str, related: dict[tuple[str, UUID], str]) -> str:
    """__str__ of Note, ContactAssociation, StaticGroupAssociation and ObjectMetadata (extras/models)."""

    def name(column: str) -> str:
        return related.get((column, row[column]), str(row[column]))

    if table is extras_note:
        return f"{owner} - {row['created'].isoformat() if row['created'] else None}"
    if table is extras_staticgroupassociation:
        return f"{owner} as a member of {name('dynamic_group_id')}"
    if table is extras_contactassociation:
        if row["contact_id"] is not None:
            return f"Contact {name('contact_id')} for {owner}"
        return f"Team contact {name('team_id')} for {owner}"
    if table is extras_objectmetadata:
        text = f"{name('metadata_type_id')} - {owner}"
        if related.get(("data_type", row["metadata_type_id"])) == "contact-or-team":
            text += f" - {name('contact_id') if row['contact_id'] else name('team_id')}"
        return text
    return f"{table.name.removeprefix('extras_')} of {owner}"


def _delete_generic(connection: Connection, owners: list[tuple[str, UUID]], types: dict[str, int]) -> None:
    for table, type_column, id_column, _ in _GENERIC:
        connection.execute(delete(table).where(_owner_filter(table, type_column, id_column, owners, types)))
    r = extras_relationshipassociation
    connection.execute(delete(r).where(or_(
        _owner_filter(r, "source_type_id", "source_id", owners, types),
        _owner_filter(r, "destination_type_id", "destination_id", owners, types),
    )))  # fmt: skip
    if inspect(connection).has_table(_DATA_COMPLIANCE):
        compliance = Table(_DATA_COMPLIANCE, MetaData(), autoload_with=connection)
        connection.execute(
            delete(compliance).where(_owner_filter(compliance, "content_type_id", "object_id", owners, types))
        )


def _job_serialized(
    connection: Connection, job: Any, types: dict[str, int]
) -> tuple[dict[str, Any], dict[str, Any], str]:
    """The job as Nautobot's delete serializes it: the stored values (nothing re-derived from the class)."""
    queues = {r.id: r._mapping for r in connection.execute(select(extras_jobqueue))}
    assigned = list(connection.execute(select(extras_jobqueueassignment.c.job_queue_id)
                                       .where(extras_jobqueueassignment.c.job_id == job["id"])).scalars())  # fmt: skip
    tags = tag_rows(connection, types, [job["id"]]).get(job["id"], [])
    data = job_object_data(job, [str(t["name"]) for t in tags], class_ints=False)
    data_v2 = job_object_data_v2(job, queues, assigned, [tag_object_data_v2(t) for t in tags])
    return data, data_v2, str(job["name"])


def _receiver_entry(connection: Connection, model: str, row: Any, request: str) -> ChangedObject:
    through, key = (extras_jobbutton_content_types, "jobbutton_id") if model == "jobbutton" else (
        extras_jobhook_content_types, "jobhook_id")  # fmt: skip
    content_types = list(connection.execute(select(through.c.contenttype_id).where(through.c[key] == row["id"])
                                            .order_by(through.c.contenttype_id)).scalars())  # fmt: skip
    table = extras_jobbutton if model == "jobbutton" else extras_jobhook
    data = row_object_data(table, row, m2m={"content_types": content_types})
    return ChangedObject(model, row["id"], "delete", request=request, serialized=(data, None, str(row["name"])))
