"""What a plan is made of: small frozen values that several interpreters read (apply, text, JSON)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Final
from uuid import UUID

from reconciler.diagnostics import Location
from reconciler.manifest.types import PinValue


def same_value(a: PinValue, b: PinValue) -> bool:
    """Field values compare as Nautobot stores them: 3600 and 3600.0 agree, True and 1 do not."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return float(a) == float(b)
    return a == b


class Phase(IntEnum):
    """The order operations run in: queues must exist before jobs point at them."""

    QUEUES = 0
    OVERRIDES = 1
    ENABLED = 2
    JOB_QUEUES = 3
    RETIRE = 4  # disable receivers and schedules, then delete
    CLEANUP = 5  # nbjobs' own state (tombstones)


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
    applied: PinValue | None = None  # what nbjobs last applied as this pin (history); differs: drift reverted

    @property
    def reverts_drift(self) -> bool:
        """The manifest pins what nbjobs already applied, so the database moved away from it since."""
        return self.applied is not None and self.manifest is not None and same_value(self.applied, self.manifest)


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
    applied: bool | None = None  # what nbjobs last applied (history): equal to `after`, the change reverts drift
    phase: Phase = Phase.ENABLED

    @property
    def reverts_drift(self) -> bool:
        return self.applied is not None and self.applied == self.after


@dataclass(frozen=True)
class Named:
    """A row named in a plan: its id and what people call it."""

    id: UUID
    name: str


@dataclass(frozen=True)
class DisableReceivers:
    """Retirement step 1: disable the job's buttons (if a button receiver) and hooks (if a hook
    receiver), as Nautobot's uninstall path does (Job.save(), spec section c)."""

    job: JobRef
    buttons: tuple[Named, ...]
    hooks: tuple[Named, ...]
    phase: Phase = Phase.RETIRE


@dataclass(frozen=True)
class DisableSchedules:
    """Retirement step 2 with `schedules: disable`: disable as ScheduledJob.save() does (enabled false,
    last_run_at null, active -> completed), cancel pending approvals as ApprovalWorkflow.cancel() does
    (the acting user records the cancellation), and bump extras_scheduledjobs so beat notices."""

    job: JobRef
    schedules: tuple[Named, ...]
    approvals: tuple[Named, ...]  # pending ApprovalWorkflows (named after their schedule)
    phase: Phase = Phase.RETIRE


@dataclass(frozen=True)
class DeleteJob:
    """Retirement step 4: delete the record as Django's collector would (spec section e), remember it
    in a tombstone, and (purge_results) capture its results' ids for step 5 before their link is nulled."""

    job: JobRef
    purge_results: bool
    results: int  # how many results the job has
    location: Location
    why: str | None = None
    phase: Phase = Phase.RETIRE


@dataclass(frozen=True)
class ForgetTombstone:
    """The retire entry is gone: the class path may be managed again."""

    class_path: str
    phase: Phase = Phase.CLEANUP


Operation = (
    CreateQueue
    | UpdateQueue
    | SetField
    | SetEnabled
    | DisableReceivers
    | DisableSchedules
    | DeleteJob
    | (ForgetTombstone)
)


@dataclass(frozen=True)
class Retirement:
    """Where one retirement stands, for the reviewer: the step reached, what this run does, what the
    next run will do, and what blocks it."""

    class_path: str
    location: Location
    step: int  # 1 disable, 2 schedules, 3 drain, 4 delete, 5 purge, 6 done
    this_run: tuple[str, ...]
    blockers: tuple[str, ...]
    next_run: str
    awaiting_prune: bool = False  # stopped before a deletion or purge only because prune is off

    @property
    def step_name(self) -> str:
        return RETIREMENT_STEPS[self.step]


RETIREMENT_STEPS: Final = {1: "disable", 2: "schedules", 3: "drain", 4: "delete", 5: "purge results", 6: "retired"}


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
    RETIRED = "retired"


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
    retirements: tuple[Retirement, ...] = ()
    purges: tuple[tuple[str, int], ...] = ()  # (class path, results) to purge in batches after the apply

    @property
    def is_empty(self) -> bool:
        return not self.operations and not self.purges

    def changed_jobs(self) -> tuple[JobRef, ...]:
        seen: dict[UUID, JobRef] = {}
        for op in self.operations:
            if isinstance(op, SetField | SetEnabled | DisableReceivers | DisableSchedules | DeleteJob):
                seen.setdefault(op.job.id, op.job)
        return tuple(seen.values())
