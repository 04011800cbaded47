"""Change-log rows (extras_objectchange) as Nautobot writes them.

`object_data` reproduces `nautobot.core.models.utils.serialize_object`: Django's JSON serializer over
the model's concrete fields (primary key left out, foreign keys as their key, M2Ms with an explicit
through table such as `job_queues` left out), `_custom_field_data` renamed to `custom_fields`, plus the
tag names; datetimes encoded as DjangoJSONEncoder does.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import Connection, RowMapping, Table, insert, select

from reconciler.nautobot.tables import (
    django_content_type,
    extras_job,
    extras_jobqueue,
    extras_objectchange,
    extras_tag,
    extras_taggeditem,
)

CHANGELOG_MAX_OBJECT_REPR = 200
CHANGE_CONTEXT_DETAIL_MAX = 400

# Field order of Nautobot 3.2.7's models (extras/models/jobs.py), after the change-logged timestamps.
_JOB_FIELDS = (
    "module_name", "job_class_name", "grouping", "name", "description", "installed", "enabled",
    "is_job_hook_receiver", "is_job_button_receiver", "has_sensitive_variables", "is_singleton",
    "console_log_default", "hidden", "dryrun_default", "read_only", "soft_time_limit", "time_limit",
    "supports_dryrun", "default_job_queue", "grouping_override", "name_override",
    "console_log_default_override", "description_override", "dryrun_default_override", "hidden_override",
    "soft_time_limit_override", "time_limit_override", "has_sensitive_variables_override",
    "job_queues_override", "default_job_queue_override", "is_singleton_override",
)  # fmt: skip
_QUEUE_FIELDS = ("name", "description", "queue_type", "tenant")


@dataclass(frozen=True)
class ChangeContext:
    """What every change-log row of one apply shares: one request id, like one Nautobot request."""

    request_id: UUID
    time: datetime
    user_id: UUID | None
    user_name: str
    detail: str
    context: str = "orm"


@dataclass(frozen=True)
class ChangedObject:
    model: str  # "job" or "jobqueue" (app_label extras)
    object_id: UUID
    action: str  # create | update | delete
    detail: str = ""  # appended to the context's detail, e.g. the manifest's `why`


def django_json_datetime(value: datetime | None) -> str | None:
    """DjangoJSONEncoder: ISO 8601, milliseconds, 'Z' for UTC."""
    if value is None:
        return None
    text = value.isoformat()
    if value.microsecond:
        text = text[:23] + text[26:]
    if text.endswith("+00:00"):
        text = text.removesuffix("+00:00") + "Z"
    return text


def content_type_ids(
    connection: Connection, models: Iterable[str], app_label: str = "extras"
) -> dict[str, int]:
    rows = connection.execute(
        select(django_content_type.c.model, django_content_type.c.id).where(
            django_content_type.c.app_label == app_label, django_content_type.c.model.in_(list(models))
        )
    )
    return {model: ct_id for model, ct_id in rows}


def write_object_changes(
    connection: Connection, changes: Sequence[ChangedObject], context: ChangeContext
) -> int:
    """Insert one extras_objectchange row per changed object, serialized as it is now in the transaction.

    Reads the objects back in a constant number of queries (one per model, one for tags) and inserts all
    rows in one statement.
    """
    if not changes:
        return 0
    content_types = content_type_ids(connection, {c.model for c in changes})
    data = {
        **_serialize(
            connection,
            extras_job,
            _JOB_FIELDS,
            [c.object_id for c in changes if c.model == "job"],
            content_types.get("job"),
        ),
        **_serialize(
            connection,
            extras_jobqueue,
            _QUEUE_FIELDS,
            [c.object_id for c in changes if c.model == "jobqueue"],
            content_types.get("jobqueue"),
        ),
    }
    rows = []
    for change in changes:
        object_data, object_repr = data[change.object_id]
        rows.append(
            {
                "id": uuid4(),
                "time": context.time,
                "user_name": context.user_name,
                "request_id": context.request_id,
                "action": change.action,
                "changed_object_id": change.object_id,
                "related_object_id": None,
                "object_repr": object_repr[:CHANGELOG_MAX_OBJECT_REPR],
                "object_data": object_data,
                "changed_object_type_id": content_types.get(change.model),
                "related_object_type_id": None,
                "user_id": context.user_id,
                "object_data_v2": None,
                "change_context": context.context,
                "change_context_detail": (context.detail + change.detail)[:CHANGE_CONTEXT_DETAIL_MAX],
            }
        )
    connection.execute(insert(extras_objectchange), rows)
    return len(rows)


def _serialize(
    connection: Connection,
    table: Table,
    field_names: Sequence[str],
    ids: list[UUID],
    content_type: int | None,
) -> dict[UUID, tuple[dict[str, Any], str]]:
    if not ids:
        return {}
    tags = _tag_names(connection, content_type, ids)
    result: dict[UUID, tuple[dict[str, Any], str]] = {}
    for row in connection.execute(select(table).where(table.c.id.in_(ids))):
        values = row._mapping
        data: dict[str, Any] = {
            "created": django_json_datetime(values["created"]),
            "last_updated": django_json_datetime(values["last_updated"]),
        }
        for name in field_names:
            column = f"{name}_id" if f"{name}_id" in values else name
            value = values[column]
            data[name] = str(value) if isinstance(value, UUID) else value
        data["custom_fields"] = values["_custom_field_data"]
        data["tags"] = tags.get(values["id"], [])
        result[values["id"]] = (data, _object_repr(table, values))
    return result


def _object_repr(table: Table, values: RowMapping) -> str:
    if table is extras_jobqueue:
        return f"{values['queue_type']}: {values['name']}"  # JobQueue.__str__
    return str(values["name"])  # Job.__str__


def _tag_names(connection: Connection, content_type: int | None, ids: list[UUID]) -> dict[UUID, list[str]]:
    if content_type is None:
        return {}
    names: dict[UUID, list[str]] = defaultdict(list)
    query = (
        select(extras_taggeditem.c.object_id, extras_tag.c.name)
        .join(extras_tag, extras_tag.c.id == extras_taggeditem.c.tag_id)
        .where(extras_taggeditem.c.content_type_id == content_type, extras_taggeditem.c.object_id.in_(ids))
        .order_by(extras_tag.c.name)
    )
    for object_id, name in connection.execute(query):
        names[object_id].append(name)
    return dict(names)
