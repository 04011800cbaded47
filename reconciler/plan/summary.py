"""The counts of a plan, defined once: every rendering of a plan, apply's closing line and the history
use these, so they always agree.

- **Objects** are the queues and jobs a plan touches, counted once each however many of their fields
  change: `created` (queues), `changed` (queues and jobs that stay), `deleted` (jobs retired at step 4).
  A job's buttons, hooks and schedules that a retirement disables are part of that job's change.
- **Operations** are the plan's operations: one per field (with its override flag), enabled flag, queue
  created or updated, retirement step and tombstone removed.
"""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.diagnostics import plural
from reconciler.plan.operations import (
    CreateQueue,
    DeleteJob,
    ForgetTombstone,
    Plan,
    SetEnabled,
    SetField,
    UpdateQueue,
    Verdict,
)

# `plural` lives with the diagnostics (the bottom layer) so that every layer words its counts the same way;
# it is imported from here too, beside the counts that use it.
__all__ = ["Summary", "plural"]


@dataclass(frozen=True)
class Summary:
    queues_created: int
    queues_updated: int
    jobs_changed: int  # every job the plan touches, the deleted ones included
    overrides_set: int
    overrides_released: int
    enabled: int
    disabled: int
    jobs_deleted: int = 0
    results_to_purge: int = 0
    # The one count of a plan (see the module's docstring): objects = created + changed + deleted.
    created: int = 0
    changed: int = 0
    deleted: int = 0
    objects: int = 0
    operations: int = 0
    tombstones_removed: int = 0

    @classmethod
    def of(cls, plan: Plan) -> Summary:
        ops = plan.operations
        fields = [op for op in ops if isinstance(op, SetField)]
        toggles = [op for op in ops if isinstance(op, SetEnabled)]
        queues_created = sum(isinstance(op, CreateQueue) for op in ops)
        queues_updated = sum(isinstance(op, UpdateQueue) for op in ops)
        jobs = len(plan.changed_jobs())
        deleted = len({op.job.id for op in ops if isinstance(op, DeleteJob)})
        changed = queues_updated + jobs - deleted
        return cls(
            queues_created=queues_created,
            queues_updated=queues_updated,
            jobs_changed=jobs,
            overrides_set=sum(op.verdict in (Verdict.SET_OVERRIDE, Verdict.REDUNDANT_PIN) for op in fields),
            overrides_released=sum(op.verdict is Verdict.RELEASE_OVERRIDE for op in fields),
            enabled=sum(op.after for op in toggles),
            disabled=sum(not op.after for op in toggles),
            jobs_deleted=deleted,
            results_to_purge=sum(count for _, count in plan.purges),
            created=queues_created,
            changed=changed,
            deleted=deleted,
            objects=queues_created + changed + deleted,
            operations=len(ops),
            tombstones_removed=sum(isinstance(op, ForgetTombstone) for op in ops),
        )

    @classmethod
    def from_counts(cls, counts: dict[str, int]) -> Summary:
        """A summary recorded in the history, including those recorded before `objects` and `operations`
        existed (their `jobs_changed` counted the deleted jobs too; their operations are unknown: -1)."""
        if "objects" in counts:
            return cls(**{k: int(v) for k, v in counts.items() if k in cls.__dataclass_fields__})
        base = {k: int(counts.get(k, 0)) for k in ("queues_created", "queues_updated", "jobs_changed",
                                                     "overrides_set", "overrides_released", "enabled", "disabled",
                                                     "jobs_deleted", "results_to_purge")}  # fmt: skip
        changed = base["queues_updated"] + base["jobs_changed"] - base["jobs_deleted"]
        created, deleted = base["queues_created"], base["jobs_deleted"]
        return cls(**base, created=created, changed=changed, deleted=deleted, objects=created + changed + deleted,
                   operations=-1)  # fmt: skip

    def counts(self) -> str:
        """`1 to create, 7 to change, 1 to delete (2 queues, 7 jobs) in 21 operations`: the count every
        output shows (`to` as the plan words it; apply and the history word it `created`...)."""
        return self.objects_line("to create", "to change", "to delete")

    def objects_line(self, create: str, change: str, delete: str) -> str:
        queues = self.queues_created + self.queues_updated
        kinds = [plural(n, noun) for n, noun in ((queues, "queue"), (self.objects - queues, "job")) if n]
        line = f"{self.created} {create}, {self.changed} {change}, {self.deleted} {delete}"
        line += f" ({', '.join(kinds)})" if kinds else ""
        return line + (f" in {plural(self.operations, 'operation')}" if self.operations >= 0 else "")

    def details(self) -> str:
        """What the operations do, naming only what happens: `12 overrides set, 5 jobs enabled`."""
        parts = [
            (self.overrides_set, "override", " set"),
            (self.overrides_released, "override", " released"),
            (self.enabled, "job", " enabled"),
            (self.disabled, "job", " disabled"),
            (self.tombstones_removed, "tombstone", " removed"),
            (self.results_to_purge, "result", " to purge"),
        ]
        return ", ".join(plural(count, noun) + verb for count, noun, verb in parts if count)

    def line(self) -> str:
        """The plan's closing line, as Terraform's `Plan: 1 to add, 2 to change, 0 to destroy.`"""
        details = self.details()
        return f"Plan: {self.counts()}" + (f": {details}" if details else "") + "."
