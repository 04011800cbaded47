"""Purging results in batches, each batch its own short transaction, so that a million rows never hold a
long lock or pass through memory at once: step 5 of a retirement, and `nbjobs purge-orphans`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from uuid import UUID

from sqlalchemy import ColumnElement, Engine, Select, Table, delete, func, select, update
from sqlalchemy.exc import SQLAlchemyError

from reconciler.diagnostics import NbjobsError, plural
from reconciler.faults import fault_point
from reconciler.nautobot.connect import database_problem, write_transaction
from reconciler.nautobot.results import delete_results
from reconciler.nautobot.tables import extras_jobresult
from reconciler.state.tables import nbjobs_apply, nbjobs_retired_result

Progress = Callable[[str, int, int], None]


class PurgeInterruptedError(NbjobsError):
    """The database failed between or during batches: the batches before stay purged, the one under
    way was rolled back, the rest is left for the next run."""

    def __init__(self, label: str, done: int, total: int | None, problem: str) -> None:
        of = f" of {total:,}" if total is not None else ""
        super().__init__(f"the purge of {label} stopped after {plural(done, 'result')}{of}: {problem}; the batches "
                         "done stay purged and the rest is left for the next run")  # fmt: skip
        self.done = done


@contextmanager
def _interrupted(label: str, done: int, total: int | None) -> Iterator[None]:
    """A database error of the purge as PurgeInterruptedError, in nbjobs' words."""
    try:
        yield
    except SQLAlchemyError as exc:
        raise PurgeInterruptedError(label, done, total, database_problem(exc)) from None


def purge_captured(engine: Engine, class_path: str, batch_size: int, progress: Progress | None = None) -> int:
    """Delete the results captured when `class_path` was deleted."""
    captured = nbjobs_retired_result.c.class_path == class_path
    ids = select(nbjobs_retired_result.c.result_id).where(captured).order_by(nbjobs_retired_result.c.result_id)
    with _interrupted(class_path, 0, None):
        total = _count(engine, nbjobs_retired_result, captured)
    return _in_batches(engine, ids, total, class_path, batch_size, progress)


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
        with _interrupted(label, done, total), write_transaction(engine) as connection:
            batch = list(connection.execute(ids.limit(batch_size)).scalars())
            if not batch:
                return done
            delete_results(connection, batch)
            connection.execute(delete(nbjobs_retired_result).where(nbjobs_retired_result.c.result_id.in_(batch)))
            fault_point("purge.before-commit")
        done += len(batch)
        fault_point("purge.batch")
        if progress:
            progress(label, done, total)


def _count(engine: Engine, table: Table, where: ColumnElement[bool]) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table).where(where)).scalar_one())


def note_purged(engine: Engine, apply_id: UUID, purged: int) -> None:
    """Add the purge, which runs after the apply's transaction, to that apply's history record."""
    with write_transaction(engine) as connection:
        counts = connection.execute(select(nbjobs_apply.c.counts).where(nbjobs_apply.c.id == apply_id)).scalar()
        connection.execute(update(nbjobs_apply).where(nbjobs_apply.c.id == apply_id)
                           .values(counts={**(counts or {}), "results_purged": purged}))  # fmt: skip
