"""nbjobs' own state written with a retirement, in the apply's transaction (it spans Nautobot's tables
and nbjobs' own, so it lives here rather than in either source)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import Connection, delete, insert, literal, select

from reconciler.nautobot.tables import extras_jobresult
from reconciler.plan.operations import JobRef
from reconciler.state.tables import nbjobs_retired_result, nbjobs_tombstone


def capture_results(connection: Connection, job_id: UUID, class_path: str) -> None:
    """Remember the job's result ids before the delete nulls their link (INSERT ... SELECT: no row
    passes through Python, however many there are)."""
    rows = select(extras_jobresult.c.id, literal(class_path)).where(extras_jobresult.c.job_model_id == job_id)
    connection.execute(insert(nbjobs_retired_result).from_select(["result_id", "class_path"], rows))


def record_tombstone(
    connection: Connection, job: JobRef, now: datetime, revision: str | None, apply_id: UUID | None
) -> None:
    connection.execute(delete(nbjobs_tombstone).where(nbjobs_tombstone.c.class_path == job.class_path))
    tombstone = {"class_path": job.class_path, "job_id": job.id, "job_name": job.name, "retired_at": now}
    connection.execute(insert(nbjobs_tombstone).values(**tombstone, revision=revision, apply_id=apply_id))


def forget_tombstone(connection: Connection, class_path: str) -> None:
    """The retire entry is gone: the path may be managed again, and its results are no longer nbjobs'
    to purge (`nbjobs purge-orphans` still can)."""
    connection.execute(delete(nbjobs_tombstone).where(nbjobs_tombstone.c.class_path == class_path))
    connection.execute(delete(nbjobs_retired_result).where(nbjobs_retired_result.c.class_path == class_path))
