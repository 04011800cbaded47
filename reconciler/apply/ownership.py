"""Write who owns what (reconciler.plan.ownership) into nbjobs' tables, in the apply's transaction.

The three tables are rewritten whole by every apply from manifests: they describe the last apply, not a
history (nbjobs_apply_change is the history). A constant number of statements whatever the job count:
the Nautobot release (two reads), then per table one delete and one executemany insert.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, delete, insert

from reconciler.diagnostics import Location
from reconciler.manifest.types import PinValue
from reconciler.nautobot.identity import identify
from reconciler.plan.ownership import Ownership
from reconciler.state.tables import nbjobs_code_value, nbjobs_managed_field, nbjobs_managed_job

_LOCATION_WIDTH = 400  # String(400), nbjobs_managed_job.location and nbjobs_managed_field.location


def record_ownership(
    connection: Connection, owned: Ownership, apply_id: UUID, revision: str | None, now: datetime
) -> None:
    level = identify(connection, "").level  # the Nautobot extras migration the code values were seen under
    stamp = {"apply_id": apply_id, "recorded_at": now}
    jobs = [
        {"job_id": job.job_id, "class_path": job.class_path, "management": job.management.value,
         "location": _location(job.location), "why": job.why, "revision": revision, **stamp}
        for job in owned.jobs
    ]  # fmt: skip
    fields = [
        {"job_id": f.job_id, "field": f.field, "class_path": f.class_path, "value": _json(f.value),
         "ignored": f.ignored, "location": _location(f.location), "why": f.why, "revision": revision, **stamp}
        for f in owned.fields
    ]  # fmt: skip
    code_values = [
        {"class_path": c.class_path, "field": c.field, "value": _json(c.value), "extras_level": level, **stamp}
        for c in owned.code_values
    ]
    for table, rows in ((nbjobs_managed_field, fields), (nbjobs_managed_job, jobs), (nbjobs_code_value, code_values)):
        connection.execute(delete(table))
        if rows:
            connection.execute(insert(table), rows)


def _location(location: Location) -> str:
    """file:line:column; a path too long for the column keeps its end (the file name and the line)."""
    text = str(location)
    return text if len(text) <= _LOCATION_WIDTH else "…" + text[-(_LOCATION_WIDTH - 1) :]


def _json(value: PinValue | None) -> Any:
    return list(value) if isinstance(value, tuple) else value
