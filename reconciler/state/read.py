"""Read nbjobs' own state for the planner (empty when nbjobs' tables do not exist yet)."""

from __future__ import annotations

from types import MappingProxyType

from sqlalchemy import Connection, func, select

from reconciler.state.migrate import current_revision
from reconciler.state.tables import nbjobs_retired_result, nbjobs_tombstone
from reconciler.state.types import NbjobsState, Tombstone


def read_state(connection: Connection) -> NbjobsState:
    """Tombstones with their results still to purge, in two queries."""
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
    return NbjobsState(MappingProxyType(tombstones))
