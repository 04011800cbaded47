"""Purging results in batches, each batch its own short transaction, so that a million rows never hold a
long lock or pass through memory at once: step 5 of a retirement, and `nbjobs purge-orphans`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from uuid import UUID

from sqlalchemy import ColumnElement, Engine, Select, Table, delete, func, select, update

from reconciler.nautobot.results import delete_results
from reconciler.nautobot.tables import extras_jobresult
from reconciler.state.tables import nbjobs_apply, nbjobs_retired_result

Progress = Callable[[str, int, int], None]


def purge_captured(engine: Engine, class_path: str, batch_size: int, progress: Progress | None = None) -> int:
    """Delete the results captured when `class_path` was deleted."""
    captured = nbjobs_retired_result.c.class_path == class_path
    ids = select(nbjobs_retired_result.c.result_id).where(captured).order_by(nbjobs_retired_result.c.result_id)
    return _in_batches(engine, ids, _count(engine, nbjobs_retired_result, captured), class_path, batch_size, progress)


def count_orphans(engine: Engine, older_than: datetime) -> int:
    return _count(engine, extras_jobresult, _orphaned(older_than))


def purge_orphans(engine: Engine, older_than: datetime, batch_size: int, progress: Progress | None = None) -> int:
    """Delete results whose job is gone and that were created before `older_than`."""
    ids = select(extras_jobresult.c.id).where(_orphaned(older_than)).order_by(extras_jobresult.c.id)
    return _in_batches(engine, ids, count_orphans(engine, older_than), "orphans", batch_size, progress)


def _orphaned(older_than: datetime) -> ColumnElement[bool]:
    return extras_jobresult.c.job_model_id.is_(None) & (extras_jobresult.c.date_created < older_than)


def _in_batches(
    engine: Engine, ids: Select[tuple[UUID]], total: int, label: str, batch_size: int, progress: Progress | None
) -> int:
    """Delete the results `ids` selects, one batch per transaction, until it selects none."""
    done = 0
    while True:
        with engine.begin() as connection:
            batch = list(connection.execute(ids.limit(batch_size)).scalars())
            if not batch:
                return done
            delete_results(connection, batch)
            connection.execute(delete(nbjobs_retired_result).where(nbjobs_retired_result.c.result_id.in_(batch)))
        done += len(batch)
        if progress:
            progress(label, done, total)


def _count(engine: Engine, table: Table, where: ColumnElement[bool]) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table).where(where)).scalar_one())


def note_purged(engine: Engine, apply_id: UUID, purged: int) -> None:
    """Add the purge, which runs after the apply's transaction, to that apply's history record."""
    with engine.begin() as connection:
        counts = connection.execute(select(nbjobs_apply.c.counts).where(nbjobs_apply.c.id == apply_id)).scalar()
        connection.execute(update(nbjobs_apply).where(nbjobs_apply.c.id == apply_id)
                           .values(counts={**(counts or {}), "results_purged": purged}))  # fmt: skip
