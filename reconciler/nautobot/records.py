"""A complete, immutable snapshot of the Nautobot rows the planner needs.

Plain frozen values, free of SQLAlchemy, so the planner can consume them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from uuid import UUID

from reconciler.fields import FieldValues


@dataclass(frozen=True)
class QueueRecord:
    id: UUID
    name: str
    queue_type: str
    description: str


@dataclass(frozen=True)
class JobRecord:
    """One extras_job row. `overrides` holds the names of the fields whose `<field>_override` is true
    (names from reconciler.fields.ALL_OVERRIDE_FLAGS)."""

    id: UUID
    module_name: str
    job_class_name: str
    values: FieldValues
    overrides: frozenset[str]
    enabled: bool
    installed: bool
    default_job_queue_id: UUID
    job_queue_ids: frozenset[UUID]
    read_only: bool = False
    supports_dryrun: bool = False
    is_job_hook_receiver: bool = False
    is_job_button_receiver: bool = False

    @property
    def class_path(self) -> str:
        return f"{self.module_name}.{self.job_class_name}"

    @property
    def is_system(self) -> bool:
        return self.module_name.startswith("nautobot.")


@dataclass(frozen=True)
class Snapshot:
    """Queues and jobs as read in one consistent transaction."""

    queues: tuple[QueueRecord, ...] = ()
    jobs: tuple[JobRecord, ...] = ()
    database: str = ""  # a display name of the database, password masked
    queues_by_id: Mapping[UUID, QueueRecord] = field(default_factory=lambda: MappingProxyType({}))
    dependents: Mapping[UUID, JobDependents] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        object.__setattr__(self, "queues_by_id", MappingProxyType({q.id: q for q in self.queues}))

    def queue_named(self, name: str) -> QueueRecord | None:
        return next((q for q in self.queues if q.name == name), None)


# What hangs off a job being retired (read only for retire targets; see reconciler.nautobot.dependents).


@dataclass(frozen=True)
class ReceiverRecord:
    """A JobButton or JobHook."""

    id: UUID
    name: str
    enabled: bool


@dataclass(frozen=True)
class ScheduleRecord:
    id: UUID
    name: str
    enabled: bool
    state: str  # active | pending | denied | canceled | completed | errored
    interval: str
    crontab: str
    owner: str | None
    next_run: datetime | None
    pending_workflows: tuple[UUID, ...] = ()

    @property
    def blocks_retirement(self) -> bool:
        """Beat would still run it, or an approval could still start it (spec section f)."""
        return (self.enabled and self.state == "active") or self.state == "pending"


@dataclass(frozen=True)
class ResultsSummary:
    running: int = 0  # PENDING, RECEIVED, STARTED or RETRY
    oldest_running: datetime | None = None
    total: int = 0


@dataclass(frozen=True)
class JobDependents:
    buttons: tuple[ReceiverRecord, ...] = ()
    hooks: tuple[ReceiverRecord, ...] = ()
    schedules: tuple[ScheduleRecord, ...] = ()
    results: ResultsSummary = ResultsSummary()
