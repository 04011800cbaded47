"""Purging results in batches, each batch its own short transaction, so that a million rows never hold a
long lock or pass through memory at once: step 5 of a retirement, and `nbjobs purge-orphans`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from uuid import UUID

from sqlalchemy import Engine, delete, func, select, update

from reconciler.nautobot.results import delete_results
from reconciler.nautobot.tables import extras_jobresult
from reconciler.state.tables import nbjobs_apply, nbjobs_retired_result

Progress = Callable[[str, int, int], None]


def purge_captured(engine: Engine, class_path: str, batch_size: int, progress: Progress | None = None) -> int:
    """Delete the results captured when `class_path` was deleted, batch by batch."""
    total = _count(engine, class_path)
    done = 0
    while True:
        with engine.begin() as connection:
            ids = list(connection.execute(
                select(nbjobs_retired_result.c.result_id)
                .where(nbjobs_retired_result.c.class_path == class_path)
                .order_by(nbjobs_retired_result.c.result_id)
                .limit(batch_size)
            ).scalars())  # fmt: skip
            if not ids:
                return done
            delete_results(connection, ids)
            connection.execute(delete(nbjobs_retired_result).where(nbjobs_retired_result.c.result_id.in_(ids)))
        done += len(ids)
        if progress:
            progress(class_path, done, total)


def _count(engine: Engine, class_path: str) -> int:
    with engine.connect() as connection:
        query = select(func.count()).where(nbjobs_retired_result.c.class_path == class_path)
        return int(connection.execute(query).scalar_one())


def count_orphans(engine: Engine, older_than: datetime) -> int:
    with engine.connect() as connection:
        query = (
            select(func.count())
            .select_from(extras_jobresult)
            .where(extras_jobresult.c.job_model_id.is_(None), extras_jobresult.c.date_created < older_than)
        )
        return int(connection.execute(query).scalar_one())


def purge_orphans(engine: Engine, older_than: datetime, batch_size: int, progress: Progress | None = None) -> int:
    """Delete results whose job is gone and that are older than `older_than`, batch by batch."""
    total = count_orphans(engine, older_than)
    done = 0
    while True:
        with engine.begin() as connection:
            ids = list(connection.execute(
                select(extras_jobresult.c.id)
                .where(extras_jobresult.c.job_model_id.is_(None), extras_jobresult.c.date_created < older_than)
                .order_by(extras_jobresult.c.id)
                .limit(batch_size)
            ).scalars())  # fmt: skip
            if not ids:
                return done
            delete_results(connection, ids)
            connection.execute(delete(nbjobs_retired_result).where(nbjobs_retired_result.c.result_id.in_(ids)))
        done += len(ids)
        if progress:
            progress("orphans", done, total)


def note_purged(engine: Engine, apply_id: UUID, purged: int) -> None:
    """Add the purge, which runs after the apply's transaction, to that apply's history record."""
    with engine.begin() as connection:
        counts = connection.execute(select(nbjobs_apply.c.counts).where(nbjobs_apply.c.id == apply_id)).scalar()
        connection.execute(update(nbjobs_apply).where(nbjobs_apply.c.id == apply_id)
                           .values(counts={**(counts or {}), "results_purged": purged}))  # fmt: skip
