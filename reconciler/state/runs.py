"""The reconcile loop's history: one nbjobs_run row per tick that planned.

An idle tick (nothing changed since the last run) writes no row: it bumps the newest row's heartbeat
(`last_checked_at`, `idle_ticks`) in one statement, so a loop that ticks every five minutes for a year
leaves as many rows as it had real work.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, Row, case, func, insert, select, update

from reconciler.state.tables import nbjobs_run

STATES = ("in_sync", "drifted", "pending", "error", "suspended")


@dataclass(frozen=True)
class RunRecord:
    id: UUID
    target: str
    started_at: datetime
    finished_at: datetime
    duration_seconds: float
    host: str
    revision: str | None
    policy: str
    prune: bool
    state: str  # one of STATES
    observed: str  # in_sync | drifted | pending | error: what the run saw, whatever it did
    action: str  # none | applied | denied-by-window | suspended | locked | failed
    message: str = ""
    rows_fingerprint: str | None = None
    code_fingerprint: str | None = None
    permanent_error: bool = False
    drift: list[dict[str, Any]] = field(default_factory=list)
    pending: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    preflight: dict[str, Any] | None = None
    audit: dict[str, Any] | None = None  # the audit's JSON document, when the loop audits
    apply_id: UUID | None = None
    last_checked_at: datetime | None = None  # defaults to finished_at
    idle_ticks: int = 0
    interval_seconds: float | None = None


def record_run(connection: Connection, run: RunRecord) -> None:
    values = dict(run.__dict__)
    values["last_checked_at"] = run.last_checked_at or run.finished_at
    connection.execute(insert(nbjobs_run).values(**values))


# What the idle check compares: not the drift, pending and errors, whose JSON can be large and would be
# decoded on every idle tick for nothing.
_HEAD_COLUMNS = [c for c in nbjobs_run.c if c.name not in ("drift", "pending", "errors", "preflight", "audit")]


def last_run(connection: Connection, target: str) -> RunRecord | None:
    """The newest run of `target`, in one query, without its drift, pending, errors, preflight and audit."""
    query = (
        select(*_HEAD_COLUMNS)
        .where(nbjobs_run.c.target == target)
        .order_by(nbjobs_run.c.started_at.desc(), nbjobs_run.c.id)
        .limit(1)
    )
    row = connection.execute(query).first()
    return _record(row) if row is not None else None


def heartbeat(connection: Connection, run_id: UUID, now: datetime) -> None:
    """An idle tick: the last run still stands, checked again now (one statement)."""
    connection.execute(
        update(nbjobs_run)
        .where(nbjobs_run.c.id == run_id)
        .values(last_checked_at=now, idle_ticks=nbjobs_run.c.idle_ticks + 1)
    )


def recent_runs(connection: Connection, target: str | None = None, limit: int = 20) -> list[RunRecord]:
    query = select(nbjobs_run).order_by(nbjobs_run.c.started_at.desc(), nbjobs_run.c.id).limit(limit)
    if target is not None:
        query = query.where(nbjobs_run.c.target == target)
    return [_record(row) for row in connection.execute(query)]


def last_runs(connection: Connection) -> dict[str, RunRecord]:
    """The newest run of every target, in one query."""
    newest = (
        select(nbjobs_run.c.target, func.max(nbjobs_run.c.started_at).label("started_at"))
        .group_by(nbjobs_run.c.target)
        .subquery()
    )
    query = select(nbjobs_run).join(
        newest, (nbjobs_run.c.target == newest.c.target) & (nbjobs_run.c.started_at == newest.c.started_at)
    )
    return {row.target: _record(row) for row in connection.execute(query)}


def last_success(connection: Connection, target: str) -> datetime | None:
    """When a tick last ended without error: idle ticks count (they bump last_checked_at)."""
    query = select(func.max(nbjobs_run.c.last_checked_at)).where(
        nbjobs_run.c.target == target, nbjobs_run.c.state.in_(("in_sync", "pending", "drifted", "suspended"))
    )
    value: datetime | None = connection.execute(query).scalar()
    return value


@dataclass(frozen=True)
class RunTotals:
    """Aggregates for the metrics: per target and outcome, the run count, idle ticks, and durations
    bucketed as a Prometheus histogram (cumulative `le` counts)."""

    target: str
    state: str
    runs: int
    idle_ticks: int
    duration_sum: float
    buckets: tuple[int, ...]


def run_totals(connection: Connection, bounds: Sequence[float]) -> list[RunTotals]:
    """One query, whatever the history's size: the database does the counting."""
    columns = [
        nbjobs_run.c.target,
        nbjobs_run.c.state,
        func.count(),
        func.coalesce(func.sum(nbjobs_run.c.idle_ticks), 0),
        func.coalesce(func.sum(nbjobs_run.c.duration_seconds), 0.0),
        *(func.sum(case((nbjobs_run.c.duration_seconds <= bound, 1), else_=0)) for bound in bounds),
    ]
    query = select(*columns).group_by(nbjobs_run.c.target, nbjobs_run.c.state)
    return [
        RunTotals(
            str(row[0]), str(row[1]), int(row[2]), int(row[3]), float(row[4]), tuple(int(v or 0) for v in row[5:])
        )
        for row in connection.execute(query)
    ]


def _record(row: Row[Any]) -> RunRecord:
    data = dict(row._mapping)
    return RunRecord(**data)
