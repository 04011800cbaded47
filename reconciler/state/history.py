"""Apply history: one nbjobs_apply row per apply (applied, refused or failed) and one
nbjobs_apply_change row per change with its before and after."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, RowMapping, insert, select

from reconciler.diagnostics import NbjobsError
from reconciler.state.tables import nbjobs_apply, nbjobs_apply_change


@dataclass(frozen=True)
class ChangeRecord:
    object_type: str
    object_id: UUID | None
    object_repr: str
    field: str | None
    before: Any
    after: Any
    verdict: str | None = None


@dataclass(frozen=True)
class ApplyRecord:
    id: UUID
    started_at: datetime
    finished_at: datetime | None
    user_name: str
    host: str
    revision: str | None
    plan_digest: str | None
    sources_digest: str | None
    database: str
    outcome: str  # applied | no-changes | refused | failed
    message: str
    counts: dict[str, int] = field(default_factory=dict)
    request_id: UUID | None = None


def record_apply(connection: Connection, entry: ApplyRecord, changes: list[ChangeRecord]) -> None:
    connection.execute(insert(nbjobs_apply).values(**entry.__dict__))
    if changes:
        connection.execute(
            insert(nbjobs_apply_change),
            [{"apply_id": entry.id, "seq": seq, **change.__dict__} for seq, change in enumerate(changes, 1)],
        )


def list_applies(connection: Connection, limit: int = 50) -> list[RowMapping]:
    query = select(nbjobs_apply).order_by(nbjobs_apply.c.started_at.desc(), nbjobs_apply.c.id).limit(limit)
    return [row._mapping for row in connection.execute(query)]


def applied_as(connection: Connection, plan_digest: str) -> RowMapping | None:
    """The apply that applied the saved plan of this digest, if one did (a saved plan applies once)."""
    query = (
        select(nbjobs_apply)
        .where(nbjobs_apply.c.plan_digest == plan_digest, nbjobs_apply.c.outcome == "applied")
        .order_by(nbjobs_apply.c.started_at, nbjobs_apply.c.id)
        .limit(1)
    )
    row = connection.execute(query).first()
    return row._mapping if row is not None else None


def show_apply(connection: Connection, ident: str) -> tuple[RowMapping, list[RowMapping]]:
    """One apply by its id or a unique prefix of it (as `nbjobs history` prints them)."""
    wanted = ident.lower().replace("-", "")
    # Ids are uuid on PostgreSQL and char(32) elsewhere: match the prefix on the ids alone, in Python.
    matches = [i for i in connection.execute(select(nbjobs_apply.c.id)).scalars() if i.hex.startswith(wanted)]
    if not matches:
        raise NbjobsError(f"no apply with id {ident!r} in the history")
    if len(matches) > 1:
        raise NbjobsError(f"{ident!r} matches {len(matches)} applies; give more of the id")
    entry = connection.execute(select(nbjobs_apply).where(nbjobs_apply.c.id == matches[0])).one()._mapping
    query = (
        select(nbjobs_apply_change)
        .where(nbjobs_apply_change.c.apply_id == entry["id"])
        .order_by(nbjobs_apply_change.c.seq)
    )
    return entry, [row._mapping for row in connection.execute(query)]
