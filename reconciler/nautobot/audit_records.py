"""What `nbjobs audit` reads of Nautobot besides the planner's snapshot: runtimes and last runs from the
results, the schedules that would run, the approvals they wait for and who could give them, and when
Django last migrated. Plain frozen values, free of SQLAlchemy, so the audit's findings stay pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID


@dataclass(frozen=True)
class JobRuns:
    """One job's runs: over its most recent finished runs (at most the sample the read was asked for), how
    many there were, their p95 (nearest rank) and longest duration in seconds; when it last ran (any run);
    and when its record was created."""

    job_id: UUID
    runs: int = 0
    p95: float = 0.0
    longest: float = 0.0
    last_run: datetime | None = None
    created: datetime | None = None


@dataclass(frozen=True)
class ScheduleFact:
    """A schedule beat would run (`active` and enabled) or one awaiting approval (`pending`)."""

    id: UUID
    name: str
    task: str  # the job's class path, as Nautobot stores it
    job_id: UUID | None  # null once the job record is gone (SET_NULL)
    interval: str  # future | hourly | daily | weekly | custom
    crontab: str
    start_time: datetime
    time_zone: str
    enabled: bool
    state: str


@dataclass(frozen=True)
class PendingStage:
    """The stage a pending approval of a schedule waits on: the first Pending stage by sequence.

    `group_id` is None when the stage's definition was deleted (nobody's group can approve it then);
    `approved_by` are the users who approved this stage already."""

    schedule_id: UUID
    workflow_id: UUID
    stage_id: UUID
    name: str
    sequence: int | None  # None when the stage's definition was deleted
    min_approvers: int
    group_id: int | None
    group_name: str | None
    approved_by: frozenset[UUID] = frozenset()


@dataclass(frozen=True)
class PermissionFact:
    """An enabled ObjectPermission on approval stages or schedules, as Nautobot evaluates it (spec h)."""

    name: str
    actions: frozenset[str]
    object_types: frozenset[str]  # "app_label.model"
    constraints: Any = None


@dataclass(frozen=True)
class UserFact:
    """An active user who might approve: a superuser, or a member of an approver group, with the
    permissions assigned to them directly or through their groups."""

    id: UUID
    username: str
    is_superuser: bool
    groups: frozenset[int] = frozenset()
    permissions: tuple[PermissionFact, ...] = ()


@dataclass(frozen=True)
class UpgradeMark:
    """When Django last migrated this database, and the newest `extras` migration (Nautobot's level)."""

    upgraded_at: datetime
    extras_level: str | None


@dataclass(frozen=True)
class NautobotAuditFacts:
    runs: tuple[JobRuns, ...] = ()
    schedules: tuple[ScheduleFact, ...] = ()
    pending_stages: tuple[PendingStage, ...] = ()
    users: tuple[UserFact, ...] = ()
    upgrade: UpgradeMark | None = None
    has_migrations: bool = False  # django_migrations exists (the sandbox has none)
    runtime_sample: int = 0  # how many finished runs per job the durations were read from, at most
