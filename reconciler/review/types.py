"""What a review of a change finds: plain frozen values that the text, JSON and Markdown renderers read."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from reconciler.diagnostics import Diagnostic, Location, plural
from reconciler.plan.operations import Plan

# A value of the desired state or of the code, as JSON would hold it. None means "absent".
Value = str | bool | int | float | tuple[str, ...] | None


class Section(StrEnum):
    """The parts of the desired state, in the order manifests write them."""

    QUEUES = "queues"
    JOBS = "jobs"
    RETIRE = "retire"

    @property
    def noun(self) -> str:
        return {"queues": "queue", "jobs": "job", "retire": "retire"}[self.value]


class Change(StrEnum):
    ADDED = "added"
    REMOVED = "removed"
    CHANGED = "changed"

    @property
    def sign(self) -> str:
        return {"added": "+", "removed": "-", "changed": "~"}[self.value]


@dataclass(frozen=True)
class FieldChange:
    """One field of an entry or a job class: `before` at the base, `after` at the head (None: absent)."""

    field: str
    before: Value
    after: Value
    location: Location | None = None  # where the head writes it (the base, when the head no longer does)


@dataclass(frozen=True)
class EntryChange:
    """A manifest entry (queue, `jobs:` item or `retire:` item, keyed by name or match) that the change
    adds, removes or changes. An added entry lists its fields as `after`, a removed one as `before`."""

    section: Section
    key: str
    change: Change
    fields: tuple[FieldChange, ...]
    location: Location | None = None


@dataclass(frozen=True)
class CodeChange:
    """A Job class the change adds to or removes from the code, or whose class values it changes."""

    class_path: str
    change: Change
    fields: tuple[FieldChange, ...] = ()
    location: Location | None = None


@dataclass(frozen=True)
class Side:
    """One end of the comparison: a commit, or the working tree (`revision` is then HEAD's, `dirty`
    lists the uncommitted files among the sources)."""

    label: str
    revision: str | None
    worktree: bool = False
    dirty: tuple[str, ...] = ()

    @property
    def recorded(self) -> str | None:
        """The revision as the change log records it: `+dirty` when the working tree has edits."""
        if self.revision is None:
            return None
        return f"{self.revision[:12]}+dirty" if self.dirty else self.revision[:12]


@dataclass(frozen=True)
class Review:
    """What a change (base -> head) does: to the desired state, to the code and, when a database was
    given, there (the head's plan, or the errors that stop it)."""

    base: Side
    head: Side
    desired: tuple[EntryChange, ...]
    code: tuple[CodeChange, ...]
    notes: tuple[str, ...] = ()
    plan: Plan | None = None
    plan_errors: tuple[Diagnostic, ...] = ()
    database: str | None = None

    @property
    def is_empty(self) -> bool:
        """No change to the desired state or the code, and nothing to do in the database."""
        return not self.desired and not self.code and (self.plan is None or self.plan.is_empty)


@dataclass(frozen=True)
class Counts:
    added: int
    removed: int
    changed: int

    @classmethod
    def of(cls, changes: Sequence[EntryChange] | Sequence[CodeChange]) -> Counts:
        kinds = [c.change for c in changes]
        return cls(kinds.count(Change.ADDED), kinds.count(Change.REMOVED), kinds.count(Change.CHANGED))

    def phrase(self, noun: str) -> str:
        """`1 entry added, 0 removed, 4 changed`: `noun` is the singular (`entry`, `job`)."""
        return f"{plural(self.added, noun)} added, {self.removed} removed, {self.changed} changed"
