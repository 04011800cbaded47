"""Change-log rows (extras_objectchange) as Nautobot writes them.

One row per changed object per apply, all sharing one request id (Nautobot merges repeated saves of an
object within one change context into one row). Objects are serialized as they stand at the end of the
transaction (reconciler.nautobot.serialize), read back in a constant number of queries.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import Connection, RowMapping, insert, select

from reconciler.nautobot.serialize import (
    job_object_data,
    job_object_data_v2,
    queue_object_data,
    queue_object_data_v2,
    row_object_data,
    tag_object_data_v2,
)
from reconciler.nautobot.tables import (
    django_content_type,
    extras_approvalworkflow,
    extras_job,
    extras_jobbutton,
    extras_jobbutton_content_types,
    extras_jobhook,
    extras_jobhook_content_types,
    extras_jobqueue,
    extras_jobqueueassignment,
    extras_objectchange,
    extras_tag,
    extras_taggeditem,
)

CHANGELOG_MAX_OBJECT_REPR = 200
CHANGE_CONTEXT_DETAIL_MAX = 400
NO_USER_NAME = "Undefined"  # what Nautobot records when a change has no user (change_logging.py:164-168)


@dataclass(frozen=True)
class ChangeContext:
    """What every change-log row of one apply shares: one request id, like one Nautobot request."""

    request_id: UUID
    user_id: UUID | None
    user_name: str
    detail: str
    context: str = "orm"


Serialized = tuple[dict[str, Any], dict[str, Any] | None, str]  # object_data, object_data_v2, object_repr

# Other models whose updates are logged, serialized generically after the write (object_data_v2 is left
# empty for them: nbjobs reproduces the REST representation of jobs and queues only).
_GENERIC = {"jobbutton": extras_jobbutton, "jobhook": extras_jobhook, "approvalworkflow": extras_approvalworkflow}
_M2M = {
    "jobbutton": (extras_jobbutton_content_types, "jobbutton_id"),
    "jobhook": (extras_jobhook_content_types, "jobhook_id"),
}


@dataclass(frozen=True)
class ChangedObject:
    model: str  # the model name under app_label extras: job, jobqueue, jobbutton, jobhook, note...
    object_id: UUID
    action: str  # create | update | delete
    detail: str = ""  # appended to the context's detail, e.g. the manifest's `why`
    request: str = ""  # rows with the same label share one request id ("" = the apply's own)
    serialized: Serialized | None = None  # given for deleted objects, serialized before the delete
    object_repr: str | None = None  # for generic models whose __str__ needs related rows


def content_type_ids(connection: Connection, models: Iterable[str], app_label: str = "extras") -> dict[str, int]:
    rows = connection.execute(
        select(django_content_type.c.model, django_content_type.c.id).where(
            django_content_type.c.app_label == app_label, django_content_type.c.model.in_(list(models))
        )
    )
    return {model: ct_id for model, ct_id in rows}


def write_object_changes(
    connection: Connection, changes: Sequence[ChangedObject], context: ChangeContext, time: datetime
) -> int:
    """Insert one extras_objectchange row per changed object (the first action given for an object wins,
    as Nautobot keeps `create` when the created object is saved again in the same request)."""
    merged: dict[tuple[str, str, UUID], ChangedObject] = {}
    for change in changes:
        merged.setdefault((change.request, change.model, change.object_id), change)
    if not merged:
        return 0
    content_types = content_type_ids(connection, {"job", "jobqueue", "tag", *(c.model for c in merged.values())})
    snapshot = _Objects.read(connection, content_types, [c for c in merged.values() if c.serialized is None])
    requests = {"": context.request_id}
    rows = []
    for change in merged.values():
        object_data, object_data_v2, object_repr = change.serialized or snapshot.serialize(change)
        rows.append(
            {
                "id": uuid4(),
                "time": time,
                "user_name": context.user_name or NO_USER_NAME,
                "request_id": requests.setdefault(change.request, uuid4()),
                "action": change.action,
                "changed_object_id": change.object_id,
                "related_object_id": None,
                "object_repr": object_repr[:CHANGELOG_MAX_OBJECT_REPR],
                "object_data": object_data,
                "changed_object_type_id": content_types.get(change.model),
                "related_object_type_id": None,
                "user_id": context.user_id,
                "object_data_v2": object_data_v2,
                "change_context": context.context,
                "change_context_detail": (context.detail + change.detail)[:CHANGE_CONTEXT_DETAIL_MAX],
            }
        )
    connection.execute(insert(extras_objectchange), rows)
    return len(rows)


@dataclass(frozen=True)
class _Objects:
    """The changed jobs and queues with what their serializations need, read in five queries."""

    jobs: dict[UUID, RowMapping]
    queues: dict[UUID, RowMapping]
    assigned: dict[UUID, list[UUID]]
    tags: dict[UUID, list[RowMapping]]
    generic: dict[UUID, tuple[str, RowMapping]]
    m2m: dict[UUID, list[int]]

    @classmethod
    def read(cls, connection: Connection, content_types: dict[str, int], changes: Iterable[ChangedObject]) -> _Objects:
        ids = {model: [c.object_id for c in changes if c.model == model] for model in ("job", "jobqueue")}
        jobs = {r.id: r._mapping for r in connection.execute(select(extras_job).where(extras_job.c.id.in_(ids["job"])))}
        queues = {r.id: r._mapping for r in connection.execute(select(extras_jobqueue))}
        assigned: dict[UUID, list[UUID]] = defaultdict(list)
        if jobs:
            query = select(extras_jobqueueassignment.c.job_id, extras_jobqueueassignment.c.job_queue_id).where(
                extras_jobqueueassignment.c.job_id.in_(list(jobs))
            )
            for job_id, queue_id in connection.execute(query):
                assigned[job_id].append(queue_id)
        generic: dict[UUID, tuple[str, RowMapping]] = {}
        m2m: dict[UUID, list[int]] = defaultdict(list)
        for model, table in _GENERIC.items():
            wanted = [c.object_id for c in changes if c.model == model]
            if not wanted:
                continue
            generic.update(
                (r.id, (model, r._mapping)) for r in connection.execute(select(table).where(table.c.id.in_(wanted)))
            )
            if model in _M2M:
                through, key = _M2M[model]
                query = select(through.c[key], through.c.contenttype_id).where(through.c[key].in_(wanted))
                for object_id, content_type in connection.execute(query.order_by(through.c.contenttype_id)):
                    m2m[object_id].append(content_type)
        tagged = ids["job"] + ids["jobqueue"]
        return cls(jobs, queues, dict(assigned), tag_rows(connection, content_types, tagged), generic, dict(m2m))

    def serialize(self, change: ChangedObject) -> Serialized:
        tags = self.tags.get(change.object_id, [])
        names = [str(t["name"]) for t in tags]
        nested = [tag_object_data_v2(t) for t in tags]
        if change.model in _GENERIC:
            model, row = self.generic[change.object_id]
            m2m = {"content_types": self.m2m.get(change.object_id, [])} if model in _M2M else None
            data = row_object_data(_GENERIC[model], row, m2m=m2m)  # none of these models is taggable
            return data, None, change.object_repr or str(row.get("name", change.object_id))
        if change.model == "job":
            job = self.jobs[change.object_id]
            data_v2 = job_object_data_v2(job, self.queues, self.assigned.get(job["id"], []), nested)
            return job_object_data(job, names), data_v2, str(job["name"])  # Job.__str__
        queue = self.queues[change.object_id]
        return queue_object_data(queue, names), queue_object_data_v2(queue, nested), \
            f"{queue['queue_type']}: {queue['name']}"  # JobQueue.__str__  # fmt: skip


def tag_rows(connection: Connection, content_types: dict[str, int], ids: list[UUID]) -> dict[UUID, list[RowMapping]]:
    """Tag rows per object, sorted by name (tags are generic: content type + object id)."""
    types = [content_types[m] for m in ("job", "jobqueue") if m in content_types]
    if not ids or not types:
        return {}
    query = (
        select(extras_taggeditem.c.object_id, extras_tag)
        .join(extras_tag, extras_tag.c.id == extras_taggeditem.c.tag_id)
        .where(extras_taggeditem.c.content_type_id.in_(types), extras_taggeditem.c.object_id.in_(ids))
        .order_by(extras_tag.c.name)
    )
    tags: dict[UUID, list[RowMapping]] = defaultdict(list)
    for row in connection.execute(query):
        tags[row.object_id].append(row._mapping)
    return dict(tags)
