"""Who changed a job behind nbjobs' back, from the change log Nautobot writes (extras_objectchange).

Nautobot records every save made through its UI, REST API or ORM with the user and the time. For a
drifted field the newest change by anyone but nbjobs that left the field at the value found now is the
one to name ("changed in the UI by alice at 10:42"); failing that, the newest change by anyone but nbjobs.
nbjobs' own rows are known by their change-context detail (`nbjobs <version>...`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, select

from reconciler.nautobot.changelog import content_type_ids
from reconciler.nautobot.tables import extras_objectchange

_NBJOBS_DETAIL = "nbjobs "
_CONTEXTS = {"web": "in the UI", "api": "through the REST API", "orm": "through the ORM", "job": "by a job"}


@dataclass(frozen=True)
class Change:
    """One change-log row of a job, as much of it as attribution needs."""

    time: datetime
    user_name: str
    context: str  # Nautobot's change_context: web, api, orm, job, ...
    object_data: Mapping[str, Any]

    def describe(self) -> str:
        how = _CONTEXTS.get(self.context, f"({self.context})")
        return f"changed {how} by {self.user_name} at {self.time:%Y-%m-%d %H:%M} UTC"


def job_changes(connection: Connection, job_ids: Collection[UUID], limit_per_job: int = 20) -> dict[UUID, list[Change]]:
    """The newest changes of each job not written by nbjobs, newest first, in two queries (content type,
    change log) whatever the number of jobs."""
    if not job_ids:
        return {}
    content_type = content_type_ids(connection, ["job"]).get("job")
    if content_type is None:
        return {}
    table = extras_objectchange
    query = (
        select(
            table.c.changed_object_id,
            table.c.time,
            table.c.user_name,
            table.c.change_context,
            table.c.change_context_detail,
            table.c.object_data,
        )
        .where(table.c.changed_object_type_id == content_type, table.c.changed_object_id.in_(list(job_ids)))
        .order_by(table.c.time.desc())
    )
    found: dict[UUID, list[Change]] = defaultdict(list)
    for job_id, time, user_name, context, detail, data in connection.execute(query):
        if (detail or "").startswith(_NBJOBS_DETAIL) or len(found[job_id]) >= limit_per_job:
            continue
        found[job_id].append(Change(time, user_name, context, data if isinstance(data, dict) else {}))
    return dict(found)


def attribute(changes: list[Change], column: str, actual: Any) -> Change | None:
    """The change that most likely set `column` to `actual`: the newest that shows that value, else the
    newest change at all."""
    for change in changes:
        if column in change.object_data and _same(change.object_data[column], actual):
            return change
    return changes[0] if changes else None


def _same(logged: Any, actual: Any) -> bool:
    if isinstance(actual, float) and isinstance(logged, int | float):
        return float(logged) == actual
    return bool(logged == actual)
