"""Read nbjobs' own state for the planner (empty when nbjobs' tables do not exist yet)."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, func, select

from reconciler.state.migrate import current_revision
from reconciler.state.tables import nbjobs_apply, nbjobs_apply_change, nbjobs_retired_result, nbjobs_tombstone
from reconciler.state.types import AppliedValue, NbjobsState, Tombstone


def read_state(connection: Connection) -> NbjobsState:
    """Tombstones with their results still to purge, and the values nbjobs last applied, in three queries."""
    if current_revision(connection) is None:
        return NbjobsState()
    query = select(nbjobs_retired_result.c.class_path, func.count()).group_by(nbjobs_retired_result.c.class_path)
    pending: dict[str, int] = {str(path): int(count) for path, count in connection.execute(query)}
    tombstones = {
        row.class_path: Tombstone(
            row.class_path, row.job_id, row.job_name, row.retired_at, row.revision, int(pending.get(row.class_path, 0))
        )
        for row in connection.execute(select(nbjobs_tombstone))
    }
    return NbjobsState(MappingProxyType(tombstones), MappingProxyType(_applied(connection)))


def _applied(connection: Connection) -> dict[tuple[UUID, str], AppliedValue]:
    change = nbjobs_apply_change.c
    newest = (
        select(func.max(change.id))
        .join(nbjobs_apply, nbjobs_apply.c.id == change.apply_id)
        .where(nbjobs_apply.c.outcome == "applied", change.object_type == "job", change.field.is_not(None))
        .group_by(change.object_id, change.field)
    )
    rows = connection.execute(select(change.object_id, change.field, change.after).where(change.id.in_(newest)))
    applied: dict[tuple[UUID, str], AppliedValue] = {}
    for object_id, field_name, after in rows:
        value = _pinned(after)
        if object_id is not None and value is not None:
            applied[(object_id, str(field_name))] = value
    return applied


def _pinned(after: Any) -> AppliedValue | None:
    """The value a change left pinned: `enabled` is recorded as the bool, a field as {value, override}
    (a released field, override false, is pinned by nothing)."""
    if isinstance(after, bool):
        return after
    if not isinstance(after, dict) or after.get("override") is not True:
        return None
    value = after.get("value")
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    if isinstance(value, bool | str | float):
        return value
    return float(value) if isinstance(value, int) else None
