"""Desired state as the manifests declare it, and as it resolves onto concrete Job class paths.

Plain frozen values, free of YAML and pydantic, so the planner can consume them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from reconciler.diagnostics import Diagnostic, Location
from reconciler.fields import Scalar

GLOB_CHARACTERS = frozenset("*?[")

# Names accepted under `ignore:`: any overridable scalar field, plus these.
IGNORE_ENABLED = "enabled"
IGNORE_QUEUES = "queues"  # both default_job_queue and job_queues


class QueueType(StrEnum):
    CELERY = "celery"
    KUBERNETES = "kubernetes"


class ScheduleMode(StrEnum):
    BLOCK = "block"
    DISABLE = "disable"


PinValue = Scalar | tuple[str, ...]


@dataclass(frozen=True)
class Pin:
    """A value the manifests pin, where it was written, and the entry's `why`."""

    value: PinValue
    location: Location
    why: str | None = None


@dataclass(frozen=True)
class QueueSpec:
    """A JobQueue row the manifests manage."""

    name: str
    queue_type: QueueType
    description: str
    location: Location


@dataclass(frozen=True)
class JobEntry:
    """One item of `jobs:`. Only keys present in the YAML appear in `pins`.

    `pins` keys are overridable scalar names (reconciler.fields.OVERRIDABLE_FIELDS), `enabled`,
    `default_job_queue` (str) and `job_queues` (tuple of names, from `queues.eligible`).
    """

    match: str
    location: Location
    pins: Mapping[str, Pin] = field(default_factory=lambda: MappingProxyType({}))
    ignore: frozenset[str] = frozenset()
    ignore_location: Location | None = None
    why: str | None = None

    @property
    def is_glob(self) -> bool:
        return any(c in GLOB_CHARACTERS for c in self.match)

    @property
    def literal_prefix(self) -> str:
        """The part of the pattern before its first glob character (precedence among globs)."""
        for index, char in enumerate(self.match):
            if char in GLOB_CHARACTERS:
                return self.match[:index]
        return self.match


@dataclass(frozen=True)
class RetireEntry:
    match: str
    location: Location
    schedules: ScheduleMode = ScheduleMode.BLOCK
    purge_results: bool = False
    force: bool = False
    why: str | None = None


@dataclass(frozen=True)
class DesiredState:
    """All manifests merged. `files` lists the manifest files read, in the order read."""

    queues: tuple[QueueSpec, ...] = ()
    jobs: tuple[JobEntry, ...] = ()
    retire: tuple[RetireEntry, ...] = ()
    files: tuple[str, ...] = ()
    allow_no_managed_jobs: bool = False  # a manifest says explicitly that no job is to stay managed


@dataclass(frozen=True)
class JobIntent:
    """What the manifests want for one concrete Job, after precedence (exact > longest glob prefix).

    `pins` has the winning pin per field (same keys as JobEntry.pins); `ignored` the fields left to
    the UI. `entries` are the locations of every entry that matched the job. `shadowing` names the
    winning fields under which a lower-ranked entry says something else: such a pin matters even when
    it equals the code's value (dropping it would let the other entry win).
    """

    class_path: str
    entries: tuple[Location, ...]
    pins: Mapping[str, Pin] = field(default_factory=lambda: MappingProxyType({}))
    ignored: frozenset[str] = frozenset()
    shadowing: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Resolution:
    """Manifest entries resolved against a set of known class paths.

    `unmatched_exact` are exact entries naming no known class path (an error for a plan, which knows
    code and database; only a warning for `validate`, which cannot see the database).
    `diagnostics` has the conflicts (errors) and globs that match nothing (warnings).
    """

    intents: Mapping[str, JobIntent]
    unmatched_exact: tuple[JobEntry, ...] = ()
    diagnostics: tuple[Diagnostic, ...] = ()
