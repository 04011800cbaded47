"""What a plan is made of: small frozen values that several interpreters read (apply, text, JSON)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum
from uuid import UUID

from reconciler.diagnostics import Location
from reconciler.manifest.types import PinValue


class Phase(IntEnum):
    """The order operations run in: queues must exist before jobs point at them."""

    QUEUES = 0
    OVERRIDES = 1
    ENABLED = 2
    JOB_QUEUES = 3


class Verdict(StrEnum):
    SET_OVERRIDE = "set override"
    RELEASE_OVERRIDE = "release override"
    REDUNDANT_PIN = "redundant pin"
    REPAIR = "repair"  # restores an invariant Nautobot itself guarantees (default queue among eligible)


@dataclass(frozen=True)
class JobRef:
    id: UUID
    class_path: str
    name: str


@dataclass(frozen=True)
class Provenance:
    """Where a field's value comes from: the code, the database (value and flag) and the manifest."""

    code: PinValue | None
    database: PinValue
    database_override: bool
    manifest: PinValue | None = None
    manifest_location: Location | None = None
    why: str | None = None


@dataclass(frozen=True)
class CreateQueue:
    name: str
    queue_type: str
    description: str
    reason: str
    location: Location | None = None
    phase: Phase = Phase.QUEUES


@dataclass(frozen=True)
class UpdateQueue:
    queue_id: UUID
    name: str
    changes: tuple[tuple[str, str, str], ...]  # (column, before, after)
    location: Location
    phase: Phase = Phase.QUEUES


@dataclass(frozen=True)
class SetField:
    """Set or release one overridable field: value and `<field>_override` flag move together.

    For `default_job_queue` the values are queue names; for `job_queues` sorted tuples of names.
    """

    job: JobRef
    field: str
    before: PinValue
    after: PinValue
    override_before: bool
    override_after: bool
    verdict: Verdict
    provenance: Provenance
    remark: str | None = None

    @property
    def phase(self) -> Phase:
        return Phase.JOB_QUEUES if self.field in ("default_job_queue", "job_queues") else Phase.OVERRIDES


@dataclass(frozen=True)
class SetEnabled:
    job: JobRef
    before: bool
    after: bool
    location: Location
    why: str | None = None
    phase: Phase = Phase.ENABLED


Operation = CreateQueue | UpdateQueue | SetField | SetEnabled


class NoteKind(StrEnum):
    REDUNDANT_PIN = "redundant-pin"
    WAITING_FOR_REFRESH = "waiting-for-refresh"
    NOT_INSTALLED = "not-installed"
    CODE_UNKNOWN = "code-unknown"
    COLLISION_SUFFIX = "collision-suffix"
    DEFAULT_QUEUE_ADDED = "default-queue-added"
    UNMANAGED = "unmanaged"
    GLOB_UNMATCHED = "glob-unmatched"
    DISCOVERY = "discovery"
    RETIRE_PENDING = "retire-not-supported"


@dataclass(frozen=True)
class Note:
    """Something the reviewer should know that is not a change."""

    kind: NoteKind
    message: str
    job: str | None = None
    location: Location | None = None


@dataclass(frozen=True)
class Plan:
    operations: tuple[Operation, ...]
    notes: tuple[Note, ...] = ()
    managed_jobs: int = 0
    database: str = ""

    @property
    def is_empty(self) -> bool:
        return not self.operations

    def changed_jobs(self) -> tuple[JobRef, ...]:
        seen: dict[UUID, JobRef] = {}
        for op in self.operations:
            if isinstance(op, SetField | SetEnabled):
                seen.setdefault(op.job.id, op.job)
        return tuple(seen.values())
