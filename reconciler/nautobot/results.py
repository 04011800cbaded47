"""Deleting JobResults as Django's collector does: their log entries, console entries and file proxies
first (CASCADE), then the results. (Nautobot's pre_delete signal also removes a file proxy's file from
its storage backend; a database writer cannot reach that storage: the files stay.)"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import Connection, delete

from reconciler.nautobot.tables import extras_fileproxy, extras_jobconsoleentry, extras_joblogentry, extras_jobresult


def delete_results(connection: Connection, ids: Sequence[UUID]) -> None:
    for child in (extras_joblogentry, extras_jobconsoleentry, extras_fileproxy):
        connection.execute(delete(child).where(child.c.job_result_id.in_(list(ids))))
    connection.execute(delete(extras_jobresult).where(extras_jobresult.c.id.in_(list(ids))))
