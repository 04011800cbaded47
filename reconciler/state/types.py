"""nbjobs' own state as the planner sees it: plain frozen values."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from uuid import UUID


@dataclass(frozen=True)
class Tombstone:
    """A retired job: deleted by nbjobs, remembered so that returning code stays disabled."""

    class_path: str
    job_id: UUID
    job_name: str
    retired_at: datetime
    revision: str | None = None
    results_to_purge: int = 0


# A value nbjobs applied: a field's pinned value (a sorted tuple of queue names for job_queues) or a flag.
AppliedValue = str | bool | float | tuple[str, ...]


@dataclass(frozen=True)
class NbjobsState:
    tombstones: Mapping[str, Tombstone] = field(default_factory=lambda: MappingProxyType({}))
    # The newest value nbjobs applied per (job id, field) where that change left the field pinned
    # (`enabled` included): a database value that differs from it was changed outside nbjobs since.
    applied: Mapping[tuple[UUID, str], AppliedValue] = field(default_factory=lambda: MappingProxyType({}))
