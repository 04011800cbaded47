"""The audit's I/O: read its facts (Nautobot's results, schedules, approvals and migrations, and the class
values nbjobs recorded), run the pure audit, and read the job code's files its patches need. Both front
doors call `run_audit`: `nbjobs audit` and a loop tick with `audit = true`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from sqlalchemy import Connection, inspect, select

from reconciler.audit.findings import audit
from reconciler.audit.patch import files_to_patch, with_patches
from reconciler.audit.types import AuditFacts, AuditReport, AuditSettings, RecordedClassValue
from reconciler.discovery.types import Discovery
from reconciler.manifest.types import DesiredState, PinValue
from reconciler.nautobot.audit_reads import read_audit_facts
from reconciler.nautobot.records import Snapshot
from reconciler.state.tables import nbjobs_code_value


def run_audit(
    connection: Connection,
    desired: DesiredState,
    discovery: Discovery,
    snapshot: Snapshot,
    settings: AuditSettings,
    now: datetime,
) -> AuditReport:
    """Read the facts beside `snapshot` (on the same connection, so in its transaction), audit, patch."""
    report = audit(desired, discovery, snapshot, read_facts(connection, settings), settings, now)
    return with_patches(report, discovery, read_sources(files_to_patch(report, discovery)))


def read_facts(connection: Connection, settings: AuditSettings) -> AuditFacts:
    nautobot = read_audit_facts(connection, runtime_sample=settings.runtime_sample, upgrade=settings.since_upgrade)
    if not settings.since_upgrade:
        return AuditFacts(nautobot)
    values, readable = read_class_values(connection)
    return AuditFacts(nautobot, values, readable)


def read_class_values(connection: Connection) -> tuple[tuple[RecordedClassValue, ...], bool]:
    """The class values apply recorded under overrides, and whether nbjobs' table for them exists (two
    queries: the table check and the read)."""
    if not inspect(connection).has_table(nbjobs_code_value.name):
        return (), False
    t = nbjobs_code_value
    rows = connection.execute(select(t.c.class_path, t.c.field, t.c.value, t.c.extras_level, t.c.recorded_at))
    return tuple(
        RecordedClassValue(row.class_path, row.field, _value(row.value), row.extras_level, row.recorded_at)
        for row in rows
    ), True


def read_sources(paths: Iterable[str]) -> dict[str, str]:
    """The text of each file that can be read (a module that cannot gets no patch, not an error)."""
    texts = {}
    for path in sorted(paths):
        try:
            texts[path] = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
    return texts


def _value(stored: object) -> PinValue | None:
    """A recorded value as the planner compares values: the eligible queues as a tuple, numbers as floats."""
    if isinstance(stored, list):
        return tuple(str(item) for item in stored)
    if isinstance(stored, bool | str | float):
        return stored
    return float(stored) if isinstance(stored, int) else None
