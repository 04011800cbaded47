"""Retirement: the ordered deletion workflow (DESIGN.md, issue 5), planned purely.

Each retire entry goes as far as it can in one run: 1 disable the job and its buttons and hooks;
2 schedules (block while any would still run or awaits approval, or disable them); 3 drain (wait while
results are pending or running); 4 delete the record (not while its class is still in the code, unless
forced: Nautobot's next refresh would recreate it); 5 purge its results in batches. A deleted class path
keeps a tombstone: if its code comes back, the recreated record is kept disabled until the retire
entry is removed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from uuid import UUID

from reconciler.diagnostics import Diagnostic, plural
from reconciler.discovery.types import DiscoveredJob
from reconciler.manifest.types import RetireEntry, ScheduleMode
from reconciler.nautobot.records import JobDependents, JobRecord, ScheduleRecord
from reconciler.plan.operations import (
    DeleteJob,
    DisableReceivers,
    DisableSchedules,
    ForgetTombstone,
    JobRef,
    Named,
    Note,
    NoteKind,
    Operation,
    Retirement,
    SetEnabled,
)
from reconciler.state.types import NbjobsState

# A plan deleting more than MASS_DELETE_COUNT jobs needs --allow-mass-delete; so does one deleting more than
# 1/MASS_DELETE_SHARE of the managed jobs, once MASS_DELETE_MIN_MANAGED or more are managed (retiring one job
# of three is no mass delete). The last is the setting mass_delete_min_managed.
MASS_DELETE_COUNT = 10
MASS_DELETE_SHARE = 4
MASS_DELETE_MIN_MANAGED = 20
_NAMED = 10  # retire entries a refusal names before "and N more"
AWAITING_PRUNE = "deletions and purges wait for prune (the loop heals with `prune = false`)"


@dataclass
class RetirementPlan:
    operations: list[Operation] = field(default_factory=list)
    statuses: list[Retirement] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    errors: list[Diagnostic] = field(default_factory=list)
    purges: list[tuple[str, int]] = field(default_factory=list)


def plan_retirements(
    entries: tuple[RetireEntry, ...],
    records: Mapping[str, JobRecord],
    code: Mapping[str, DiscoveredJob],
    dependents: Mapping[UUID, JobDependents],
    state: NbjobsState,
    *,
    prune: bool = True,
) -> RetirementPlan:
    """`prune=False` withholds steps 4 and 5 (delete, purge): those retirements stop there, awaiting prune."""
    result = RetirementPlan()
    for entry in entries:
        _plan_one(entry, records.get(entry.match), entry.match in code, dependents, state, result, prune)
    retiring = {entry.match for entry in entries}
    result.operations += [ForgetTombstone(path) for path in sorted(state.tombstones) if path not in retiring]
    result.notes += [
        Note(
            NoteKind.RETIRED,
            "no longer retired by the manifests: its tombstone is removed and it may be managed again",
            path,
        )
        for path in sorted(state.tombstones)
        if path not in retiring
    ]
    return result


def _plan_one(
    entry: RetireEntry,
    record: JobRecord | None,
    in_code: bool,
    dependents: Mapping[UUID, JobDependents],
    state: NbjobsState,
    result: RetirementPlan,
    prune: bool,
) -> None:
    path, where = entry.match, entry.location
    tombstone = state.tombstones.get(path)
    if record is None:
        if tombstone is None:
            if not in_code:
                problem = f"retire entry {path!r} names a job that exists neither in the job code nor in the database"
                result.errors.append(Diagnostic(where, problem + ", and nbjobs never retired it"))
            else:
                result.statuses.append(Retirement(path, where, 4, (), ("it has no record yet (Nautobot's refresh has "
                    "not created one): remove its code and there is nothing to delete",), "nothing until a record "
                    "exists"))  # fmt: skip
            return
        purge = tombstone.results_to_purge if entry.purge_results else 0
        if purge and not prune:
            result.statuses.append(Retirement(path, where, 5, (), (AWAITING_PRUNE,), "step 5 once prune is on",
                                              awaiting_prune=True))  # fmt: skip
            return
        if purge:
            result.purges.append((path, purge))
        done = f"retired on {tombstone.retired_at:%Y-%m-%d}"
        this_run = (f"purge {plural(purge, 'result')} in batches",) if purge else ()
        next_run = f"nothing ({done}; the tombstone stays until the retire entry is removed)"
        result.statuses.append(Retirement(path, where, 5 if purge else 6, this_run, (), next_run))
        return
    ref = JobRef(record.id, path, record.values.name)
    if tombstone is not None:
        # The code came back and Nautobot recreated the record: keep it off, never delete it again unasked.
        if record.enabled:
            result.operations.append(SetEnabled(ref, True, False, where, f"retired on {tombstone.retired_at:%Y-%m-%d}"))
        result.notes.append(Note(NoteKind.RETIRED, f"retired on {tombstone.retired_at:%Y-%m-%d} but its code came back "
                                 "and Nautobot recreated the record: kept disabled until the retire entry is removed",
                                 path, where))  # fmt: skip
        result.statuses.append(Retirement(path, where, 6, ("keep disabled",) if record.enabled else (), (),
                                          "keep it disabled while the retire entry stays"))  # fmt: skip
        return
    if record.is_system:
        result.errors.append(Diagnostic(where, f"{path!r} is a system job: Nautobot refuses to delete jobs whose "
                                               "module starts with 'nautobot.'"))  # fmt: skip
        return
    _walk(entry, record, ref, in_code, dependents.get(record.id, JobDependents()), result, prune)


def _walk(
    entry: RetireEntry,
    record: JobRecord,
    ref: JobRef,
    in_code: bool,
    deps: JobDependents,
    result: RetirementPlan,
    prune: bool,
) -> None:
    path, where = entry.match, entry.location
    this_run: list[str] = []

    def stop(step: int, blockers: list[str], next_run: str) -> None:
        result.statuses.append(Retirement(path, where, step, tuple(this_run), tuple(blockers), next_run))

    # 1. disable the job, and its buttons and hooks as Nautobot's uninstall path does
    if record.enabled:
        result.operations.append(SetEnabled(ref, True, False, where, entry.why))
        this_run.append("disable the job")
    buttons = tuple(Named(b.id, b.name) for b in deps.buttons if b.enabled) if record.is_job_button_receiver else ()
    hooks = tuple(Named(h.id, h.name) for h in deps.hooks if h.enabled) if record.is_job_hook_receiver else ()
    if buttons or hooks:
        result.operations.append(DisableReceivers(ref, buttons, hooks))
        this_run.append(f"disable {plural(len(buttons), 'button')} and {plural(len(hooks), 'hook')}")

    # 2. schedules
    blocking = [s for s in deps.schedules if s.blocks_retirement]
    if blocking and entry.schedules is ScheduleMode.BLOCK:
        stop(2, [_describe(s) for s in blocking],
             "step 2 again: disable or delete these schedules, or set `schedules: disable`")  # fmt: skip
        return
    to_disable = [s for s in deps.schedules if s.enabled or s.state == "pending"]
    if to_disable:
        approvals = tuple(Named(w, s.name) for s in to_disable for w in s.pending_workflows)
        result.operations.append(DisableSchedules(ref, tuple(Named(s.id, s.name) for s in to_disable), approvals))
        canceled = f" and cancel {plural(len(approvals), 'pending approval')} (needs --as USER)" if approvals else ""
        this_run.append(f"disable {plural(len(to_disable), 'schedule')}{canceled}")

    # 3. drain
    if deps.results.running:
        since = (
            f", the oldest since {deps.results.oldest_running:%Y-%m-%d %H:%M} UTC"
            if deps.results.oldest_running
            else ""
        )
        stop(3, [f"{plural(deps.results.running, 'result')} still pending or running{since}"],
             "step 3 again, once they finish (or are terminated)")  # fmt: skip
        return

    # 4. delete the record
    if in_code and not entry.force:
        stop(4, ["its class is still in the code: remove the code first (Nautobot's next refresh would recreate "
                 "the record), or set `force: true`"], "step 4 again, once the code is gone")  # fmt: skip
        return
    if not prune:
        result.statuses.append(Retirement(path, where, 4, tuple(this_run), (AWAITING_PRUNE,), "step 4 once prune is on",
                                          awaiting_prune=True))  # fmt: skip
        return
    result.operations.append(DeleteJob(ref, entry.purge_results, deps.results.total, where, entry.why))
    this_run.append("delete the record")

    # 5. purge its results (after the apply, in batches)
    if entry.purge_results and deps.results.total:
        result.purges.append((path, deps.results.total))
        this_run.append(f"purge {plural(deps.results.total, 'result')} in batches")
    stop(6, [], "nothing (the tombstone stays until the retire entry is removed)")


def _describe(schedule: ScheduleRecord) -> str:
    owner = schedule.owner or "no owner"
    if schedule.state == "pending":
        return f"schedule {schedule.name!r} (owner {owner}) awaits approval"
    when = f"next run {schedule.next_run:%Y-%m-%d %H:%M} UTC" if schedule.next_run else "no next run"
    return f"schedule {schedule.name!r} (owner {owner}) is enabled and active, {when}"


def mass_delete_errors(
    plan_ops: list[Operation], managed: int, min_managed: int = MASS_DELETE_MIN_MANAGED
) -> list[Diagnostic]:
    """More than 10 deletions, or (from `min_managed` managed jobs on) more than a quarter of those managed,
    is refused; the refusal names the retire entries that delete."""
    deletes = [op for op in plan_ops if isinstance(op, DeleteJob)]
    too_many = len(deletes) > MASS_DELETE_COUNT
    too_large_a_share = managed >= min_managed and len(deletes) * MASS_DELETE_SHARE > managed
    if not (too_many or too_large_a_share):
        return []
    where = deletes[0].location  # some delete trips a rule
    rule = (f"more than {MASS_DELETE_COUNT}" if too_many
            else f"more than a quarter of them; the share rule applies from {min_managed} managed jobs")  # fmt: skip
    named = [f"{op.job.class_path} ({op.location})" for op in deletes[:_NAMED]]
    more = f" and {len(deletes) - _NAMED} more" if len(deletes) > _NAMED else ""
    return [Diagnostic(where, f"this plan would delete {len(deletes)} of the {plural(managed, 'job')} the manifests "
                              f"manage ({rule}): pass --allow-mass-delete if that is intended; the retire entries that "
                              f"delete: {', '.join(named)}{more}")]  # fmt: skip
