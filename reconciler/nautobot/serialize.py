"""Objects serialized for the change log exactly as Nautobot 3.2.7 does (verified on a live instance).

- `object_data`: `nautobot.core.models.utils.serialize_object`, i.e. Django's JSON serializer over the
  concrete fields (no primary key; foreign keys as their key; `job_queues` left out because its
  through table is explicit), `_custom_field_data` renamed `custom_fields`, tag names; datetimes as
  DjangoJSONEncoder writes them (milliseconds, "Z"). Time limits whose override flag is off are the
  job class's ints, as Nautobot's save path re-derives them; overridden ones are the stored floats.
- `object_data_v2`: the REST serializer at depth 1 with no request: relative URLs, `display`,
  `natural_slug` (python-slugify, as Nautobot), nested queues; datetimes with microseconds and "Z".
  A celery queue's `display` carries Nautobot's live worker count, which a database writer cannot see:
  nbjobs writes "(0 workers)", what Nautobot itself writes when no worker answers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from slugify import slugify

JOB_FIELDS = (
    "module_name",
    "job_class_name",
    "grouping",
    "name",
    "description",
    "installed",
    "enabled",
    "is_job_hook_receiver",
    "is_job_button_receiver",
    "has_sensitive_variables",
    "is_singleton",
    "console_log_default",
    "hidden",
    "dryrun_default",
    "read_only",
    "soft_time_limit",
    "time_limit",
    "supports_dryrun",
    "default_job_queue",
    "grouping_override",
    "name_override",
    "console_log_default_override",
    "description_override",
    "dryrun_default_override",
    "hidden_override",
    "soft_time_limit_override",
    "time_limit_override",
    "has_sensitive_variables_override",
    "job_queues_override",
    "default_job_queue_override",
    "is_singleton_override",
)  # fmt: skip  (Nautobot's field order, extras/models/jobs.py)
QUEUE_FIELDS = ("name", "description", "queue_type", "tenant")
_TIME_LIMITS = ("soft_time_limit", "time_limit")

Row = Mapping[Any, Any]  # a SQLAlchemy RowMapping


def django_json_datetime(value: datetime | None) -> str | None:
    """DjangoJSONEncoder: ISO 8601 cut to milliseconds, "Z" for UTC."""
    if value is None:
        return None
    text = value.isoformat()
    if value.microsecond:
        text = text[:23] + text[26:]
    return text.removesuffix("+00:00") + "Z" if text.endswith("+00:00") else text


def drf_datetime(value: datetime | None) -> str | None:
    """Django REST framework: ISO 8601 with microseconds, "Z" for UTC."""
    if value is None:
        return None
    text = value.isoformat()
    return text.removesuffix("+00:00") + "Z" if text.endswith("+00:00") else text


def natural_slug(*values: str, pk: UUID) -> str:
    return "_".join(slugify(value) for value in (*values, str(pk)[:4]))


def _column(row: Row, name: str) -> Any:
    value = row[f"{name}_id"] if f"{name}_id" in row else row[name]
    return str(value) if isinstance(value, UUID) else value


def job_object_data(job: Row, tags: list[str], *, class_ints: bool = True) -> dict[str, Any]:
    """`class_ints`: an edit (Job.clean() re-derives fields without an override from the class) writes the
    class's int time limits; a delete serializes the stored floats."""
    data: dict[str, Any] = {
        "created": django_json_datetime(job["created"]),
        "last_updated": django_json_datetime(job["last_updated"]),
    }
    for name in JOB_FIELDS:
        data[name] = _column(job, name)
    for name in _TIME_LIMITS:
        if class_ints and not job[f"{name}_override"] and float(job[name]).is_integer():
            data[name] = int(job[name])
    data["custom_fields"] = job["_custom_field_data"]
    data["tags"] = tags
    return data


def queue_object_data(queue: Row, tags: list[str]) -> dict[str, Any]:
    data: dict[str, Any] = {
        "created": django_json_datetime(queue["created"]),
        "last_updated": django_json_datetime(queue["last_updated"]),
    }
    for name in QUEUE_FIELDS:
        data[name] = _column(queue, name)
    data["custom_fields"] = queue["_custom_field_data"]
    data["tags"] = tags
    return data


def queue_display(queue: Row) -> str:
    if queue["queue_type"] != "celery":
        return f"{queue['queue_type']}: {queue['name']}"
    return f"celery: {queue['name']} (0 workers)"


def queue_object_data_v2(queue: Row, tags: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    queue_id = queue["id"]
    data: dict[str, Any] = {
        "id": str(queue_id),
        "object_type": "extras.jobqueue",
        "display": queue_display(queue),
        "url": f"/api/extras/job-queues/{queue_id}/",
        "natural_slug": natural_slug(queue["name"], pk=queue_id),
        "name": queue["name"],
        "description": queue["description"],
        "queue_type": queue["queue_type"],
        "tenant": _nested_tenant(queue["tenant_id"]),
        "created": drf_datetime(queue["created"]),
        "last_updated": drf_datetime(queue["last_updated"]),
        "notes_url": f"/api/extras/job-queues/{queue_id}/notes/",
        "custom_fields": queue["_custom_field_data"],
    }  # fmt: skip
    if tags is not None:
        data["tags"] = tags
    return data


def _nested_tenant(tenant_id: UUID | None) -> dict[str, str] | None:
    # Not observed on a live instance (no queue had a tenant): the minimal nested form of a related object.
    if tenant_id is None:
        return None
    return {"id": str(tenant_id), "object_type": "tenancy.tenant", "url": f"/api/tenancy/tenants/{tenant_id}/"}


def tag_object_data_v2(tag: Row) -> dict[str, Any]:
    tag_id = tag["id"]
    return {
        "id": str(tag_id), "object_type": "extras.tag", "display": tag["name"], "url": f"/api/extras/tags/{tag_id}/",
        "natural_slug": natural_slug(tag["name"], pk=tag_id), "name": tag["name"], "color": tag["color"],
        "description": tag["description"], "created": drf_datetime(tag["created"]),
        "last_updated": drf_datetime(tag["last_updated"]), "notes_url": f"/api/extras/tags/{tag_id}/notes/",
        "custom_fields": tag["_custom_field_data"],
    }  # fmt: skip


def job_object_data_v2(
    job: Row, queues: Mapping[UUID, Row], assigned: list[UUID], tags: list[dict[str, Any]]
) -> dict[str, Any]:
    job_id = job["id"]
    eligible = sorted((queues[q] for q in assigned), key=lambda q: str(q["name"]))
    data: dict[str, Any] = {
        "id": str(job_id),
        "object_type": "extras.job",
        "display": job["name"],
        "url": f"/api/extras/jobs/{job_id}/",
        "natural_slug": natural_slug(job["module_name"], job["job_class_name"], pk=job_id),
        "task_queues": [q["name"] for q in eligible],
        "task_queues_override": bool(job["job_queues_override"]),
    }
    for name in JOB_FIELDS:
        value = _column(job, name)
        data[name] = float(value) if name in _TIME_LIMITS else value
    data["default_job_queue"] = queue_object_data_v2(queues[job["default_job_queue_id"]])
    data["job_queues"] = [queue_object_data_v2(q) for q in eligible]
    data["created"] = drf_datetime(job["created"])
    data["last_updated"] = drf_datetime(job["last_updated"])
    data["tags"] = tags
    data["notes_url"] = f"/api/extras/jobs/{job_id}/notes/"
    data["custom_fields"] = job["_custom_field_data"]
    return data


# Nautobot's JSONArrayField serializes to a JSON string (core/models/fields.py, value_to_string).
_JSON_ARRAY_FIELDS = frozenset({("extras_objectmetadata", "scoped_fields")})

# Foreign keys whose target tables nbjobs does not mirror: Django still names the field without "_id".
_UNMIRRORED_FKS = frozenset({"tenant_id", "clocked_id", "solar_id", "contact_id", "team_id", "role_id", "status_id",
                             "dynamic_group_id", "relationship_id", "metadata_type_id", "tag_id"})  # fmt: skip


def row_object_data(
    table: Any, row: Row, *, m2m: Mapping[str, list[Any]] | None = None, tags: list[str] | None = None
) -> dict[str, Any]:
    """serialize_object for any model: Django's serializer over the row (no primary key, foreign keys as
    their key under the field's name, datetimes as DjangoJSONEncoder), M2Ms with auto-created through
    tables as lists of keys, `_custom_field_data` as `custom_fields`, and tag names if taggable."""
    data: dict[str, Any] = {}
    for column in table.columns:
        name = column.name
        if name == "id" or name.startswith("_"):  # serialize_object drops private fields
            continue
        value = row[name]
        if (table.name, name) in _JSON_ARRAY_FIELDS:
            value = json.dumps(value, ensure_ascii=False)  # JSONArrayField.value_to_string
        key = name[:-3] if name.endswith("_id") and (column.foreign_keys or name in _UNMIRRORED_FKS) else name
        if isinstance(value, datetime):
            value = django_json_datetime(value)
        elif isinstance(value, UUID):
            value = str(value)
        data[key] = value
    data.update({name: [str(v) if isinstance(v, UUID) else v for v in values] for name, values in (m2m or {}).items()})
    if "_custom_field_data" in table.columns:
        data["custom_fields"] = row["_custom_field_data"]
    if tags is not None:
        data["tags"] = tags
    return data
