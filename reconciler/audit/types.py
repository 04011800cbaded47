"""What an audit finds, and what it is told: plain frozen values, read by the renderers and the loop."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final

from reconciler.diagnostics import Diagnostic, Location
from reconciler.fields import DEFAULT_QUEUE_NAME
from reconciler.manifest.types import PinValue
from reconciler.nautobot.audit_records import NautobotAuditFacts


class Category(StrEnum):
    """The sections of a report, in the order it shows them."""

    OVERRIDES = "overrides"
    CODE = "code"
    RUNTIMES = "runtimes"
    SCHEDULES = "schedules"
    USAGE = "usage"


class FindingKind(StrEnum):
    UNMANAGED_OVERRIDE = "unmanaged-override"  # overridden in the database, pinned by no manifest
    REDUNDANT_OVERRIDE = "redundant-override"  # overridden to the code's own value
    OVERRIDE_WITHOUT_WHY = "override-without-why"  # a manifest entry pins overrides and says no why
    REPEATED_OVERRIDE = "repeated-override"  # the same override on many jobs of one module: move it into the code
    OVERRIDE_HIDES_NEW_DEFAULT = "override-hides-new-default"  # the class value changed under it (an upgrade)
    RUNTIME_OVER_LIMIT = "runtime-over-limit"  # a run took as long as its time limit allows, or longer
    RUNTIME_NEAR_LIMIT = "runtime-near-limit"  # p95 of its runs near its time limit
    SCHEDULE_UNRUNNABLE = "schedule-unrunnable"  # a schedule of a disabled, uninstalled or deleted job
    SINGLETON_OVERLAP = "singleton-overlap"  # a singleton's schedules fire more often than it runs
    APPROVAL_WITHOUT_APPROVER = "approval-without-approver"  # a pending approval nobody can give
    IDLE_JOB = "idle-job"  # enabled, not run for `unused_days`


# Each kind's section and how a count of it reads (singular, plural): the closing line and the Markdown
# summary say "3 findings: 2 redundant overrides, 1 idle job".
KINDS: Final[Mapping[FindingKind, tuple[Category, str, str]]] = MappingProxyType({
    FindingKind.UNMANAGED_OVERRIDE: (Category.OVERRIDES, "override no manifest declares",
                                     "overrides no manifest declares"),
    FindingKind.REDUNDANT_OVERRIDE: (Category.OVERRIDES, "redundant override", "redundant overrides"),
    FindingKind.OVERRIDE_WITHOUT_WHY: (Category.OVERRIDES, "entry pinning overrides without a why",
                                       "entries pinning overrides without a why"),
    FindingKind.REPEATED_OVERRIDE: (Category.CODE, "override repeated across a module",
                                    "overrides repeated across a module"),
    FindingKind.OVERRIDE_HIDES_NEW_DEFAULT: (Category.CODE, "override hiding a new default",
                                             "overrides hiding a new default"),
    FindingKind.RUNTIME_OVER_LIMIT: (Category.RUNTIMES, "job over its time limit", "jobs over their time limits"),
    FindingKind.RUNTIME_NEAR_LIMIT: (Category.RUNTIMES, "job near its time limit", "jobs near their time limits"),
    FindingKind.SCHEDULE_UNRUNNABLE: (Category.SCHEDULES, "schedule of a job that cannot run",
                                      "schedules of jobs that cannot run"),
    FindingKind.SINGLETON_OVERLAP: (Category.SCHEDULES, "singleton job scheduled faster than it runs",
                                    "singleton jobs scheduled faster than they run"),
    FindingKind.APPROVAL_WITHOUT_APPROVER: (Category.SCHEDULES, "approval nobody can give",
                                            "approvals nobody can give"),
    FindingKind.IDLE_JOB: (Category.USAGE, "idle job", "idle jobs"),
})  # fmt: skip

CATEGORY_TITLES: Final[Mapping[Category, str]] = MappingProxyType({
    Category.OVERRIDES: "Overrides",
    Category.CODE: "Overrides and the job code",
    Category.RUNTIMES: "Runtimes and time limits",
    Category.SCHEDULES: "Schedules and approvals",
    Category.USAGE: "Jobs nobody runs",
})  # fmt: skip


@dataclass(frozen=True)
class Finding:
    """One thing the audit asks someone to look at, with what to do about it.

    `subject` names what it is about (a class path, a schedule, a manifest entry, a module); `location` is
    where to act (a manifest pin or entry, or a class in the code). `details` holds the measured values for
    the JSON report (JSON values only). A repeated override carries a unified diff of the job code (`patch`,
    once `patch.with_patches` has read the module's source) and the manifest pins the change makes redundant."""

    kind: FindingKind
    subject: str
    message: str
    suggestion: str
    job: str | None = None
    field: str | None = None
    location: Location | None = None
    details: Mapping[str, Any] = dataclasses.field(default_factory=lambda: MappingProxyType({}))
    jobs: tuple[str, ...] = ()  # every job it concerns, when more than one (an entry's, a module's)
    value: PinValue | None = None  # a repeated override: the value to move into the code
    patch: str | None = None
    redundant_pins: tuple[Location, ...] = ()

    @property
    def category(self) -> Category:
        return KINDS[self.kind][0]


@dataclass(frozen=True)
class AuditSettings:
    """What the audit is told. `unused_days` and `module_threshold` are settings (audit_unused_days,
    audit_module_threshold); the Celery limits are what Nautobot uses for a job whose limit is 0 (its
    CELERY_TASK_SOFT_TIME_LIMIT and CELERY_TASK_TIME_LIMIT, 300 and 600 s unless changed)."""

    unused_days: int = 90
    module_threshold: int = 3
    since_upgrade: bool = False
    near_limit: float = 0.8  # a p95 runtime at this share of the limit is "near" it
    runtime_sample: int = 500  # finished runs per job (the most recent) the runtimes are measured over
    celery_soft_time_limit: float = 300.0
    celery_time_limit: float = 600.0
    default_queue: str = DEFAULT_QUEUE_NAME


@dataclass(frozen=True)
class RecordedClassValue:
    """A class value apply saw for a field overridden in the database (nbjobs_code_value)."""

    class_path: str
    field: str
    value: PinValue | None
    extras_level: str | None
    recorded_at: datetime


@dataclass(frozen=True)
class AuditFacts:
    """What the audit reads besides the planner's snapshot: Nautobot's results, schedules, approvals and
    migrations, and the class values nbjobs recorded (`class_values_readable` is False when nbjobs' own
    tables are not there yet)."""

    nautobot: NautobotAuditFacts = dataclasses.field(default_factory=NautobotAuditFacts)
    class_values: tuple[RecordedClassValue, ...] = ()
    class_values_readable: bool = True


@dataclass(frozen=True)
class AuditReport:
    findings: tuple[Finding, ...]
    settings: AuditSettings
    database: str = ""
    jobs: int = 0  # job records audited
    notes: tuple[str, ...] = ()
    # Entries of equal rank that disagree (which the planner refuses): what manages a job is then unknown.
    conflicts: tuple[Diagnostic, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not self.findings

    def counts(self) -> dict[str, int]:
        """Findings per kind, every kind present (zeros too): the same keys every time."""
        found = {kind.value: 0 for kind in FindingKind}
        for finding in self.findings:
            found[finding.kind.value] += 1
        return found
