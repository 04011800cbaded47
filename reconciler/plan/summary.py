"""Counts shared by every rendering of a plan."""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.plan.operations import CreateQueue, DeleteJob, Plan, SetEnabled, SetField, UpdateQueue, Verdict


@dataclass(frozen=True)
class Summary:
    queues_created: int
    queues_updated: int
    jobs_changed: int
    overrides_set: int
    overrides_released: int
    enabled: int
    disabled: int
    jobs_deleted: int = 0
    results_to_purge: int = 0

    @classmethod
    def of(cls, plan: Plan) -> Summary:
        ops = plan.operations
        fields = [op for op in ops if isinstance(op, SetField)]
        toggles = [op for op in ops if isinstance(op, SetEnabled)]
        return cls(
            queues_created=sum(isinstance(op, CreateQueue) for op in ops),
            queues_updated=sum(isinstance(op, UpdateQueue) for op in ops),
            jobs_changed=len(plan.changed_jobs()),
            overrides_set=sum(op.verdict in (Verdict.SET_OVERRIDE, Verdict.REDUNDANT_PIN) for op in fields),
            overrides_released=sum(op.verdict is Verdict.RELEASE_OVERRIDE for op in fields),
            enabled=sum(op.after for op in toggles),
            disabled=sum(not op.after for op in toggles),
            jobs_deleted=sum(isinstance(op, DeleteJob) for op in ops),
            results_to_purge=sum(count for _, count in plan.purges),
        )

    def line(self) -> str:
        return (
            f"Plan: {self.queues_created} queue(s) to create, {self.queues_updated} to update; "
            f"{self.jobs_changed} job(s) to change: {self.overrides_set} override(s) set, "
            f"{self.overrides_released} released, {self.enabled} enabled, {self.disabled} disabled"
            + (f"; {self.jobs_deleted} to delete" if self.jobs_deleted else "")
            + (f"; {self.results_to_purge} result(s) to purge" if self.results_to_purge else "")
            + "."
        )
