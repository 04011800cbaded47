"""Which queues the desired state routes jobs to, once the plan is applied (pure): what preflight checks.

Every managed job (matched by a manifest entry, not being retired) counts with its queues as they
will be: the plan's new default and eligible queues where it changes them, the database's otherwise.
Queues the manifests declare count even when no job uses them yet.
"""

from __future__ import annotations

from collections import defaultdict

from reconciler.manifest.resolve import resolve
from reconciler.manifest.types import DesiredState
from reconciler.nautobot.records import Snapshot
from reconciler.plan.operations import CreateQueue, Plan, SetField
from reconciler.preflight.types import QueueUse


def queue_uses(desired: DesiredState, snapshot: Snapshot, plan: Plan) -> tuple[QueueUse, ...]:
    retiring = {entry.match for entry in desired.retire}
    managed = set(resolve(desired, [job.class_path for job in snapshot.jobs]).intents) - retiring
    changed: dict[tuple[str, str], object] = {
        (op.job.class_path, op.field): op.after
        for op in plan.operations
        if isinstance(op, SetField) and op.field in ("default_job_queue", "job_queues")
    }
    types = {queue.name: queue.queue_type for queue in snapshot.queues}
    types.update({spec.name: spec.queue_type.value for spec in desired.queues})
    types.update({op.name: op.queue_type for op in plan.operations if isinstance(op, CreateQueue)})
    default_for: dict[str, list[str]] = defaultdict(list)
    eligible_for: dict[str, list[str]] = defaultdict(list)
    for job in snapshot.jobs:
        if job.class_path not in managed or not job.installed:
            continue
        current_default = snapshot.queues_by_id.get(job.default_job_queue_id)
        default = changed.get((job.class_path, "default_job_queue"), current_default.name if current_default else None)
        current = tuple(sorted(q.name for i in job.job_queue_ids if (q := snapshot.queues_by_id.get(i))))
        eligible = changed.get((job.class_path, "job_queues"), current)
        if isinstance(default, str):
            default_for[default].append(job.class_path)
        for name in eligible if isinstance(eligible, tuple) else ():
            eligible_for[str(name)].append(job.class_path)
    names = sorted(set(default_for) | set(eligible_for) | {spec.name for spec in desired.queues})
    return tuple(QueueUse(name, types.get(name, "celery"), tuple(default_for[name]), tuple(eligible_for[name]))
                 for name in names)  # fmt: skip
