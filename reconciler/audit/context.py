"""What every section of the audit reads: the inputs, and the lookups built from them once."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from reconciler.audit.types import AuditFacts, AuditSettings
from reconciler.discovery.types import DiscoveredJob
from reconciler.manifest.types import DesiredState, Resolution
from reconciler.nautobot.audit_records import JobRuns
from reconciler.nautobot.records import JobRecord, Snapshot


@dataclass(frozen=True)
class AuditContext:
    """The inputs, and the lookups every section needs."""

    desired: DesiredState
    snapshot: Snapshot
    facts: AuditFacts
    settings: AuditSettings
    now: datetime
    resolution: Resolution
    code: Mapping[str, DiscoveredJob]  # by class path
    records: Mapping[UUID, JobRecord]  # by id
    runs: Mapping[UUID, JobRuns]  # by job id
    retiring: frozenset[str]  # class paths of retire entries: their overrides and schedules are on the way out

    def managed(self, record: JobRecord) -> bool:
        return record.class_path in self.resolution.intents and record.class_path not in self.retiring
