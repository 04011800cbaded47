"""Which rows a plan touches, what they must look like after it, and what moved. Pure."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from reconciler.plan.operations import (
    CreateQueue,
    DeleteJob,
    DisableReceivers,
    DisableSchedules,
    Plan,
    SetEnabled,
    SetField,
    UpdateQueue,
)

Image = dict[str, Any] | None


@dataclass(frozen=True)
class Touched:
    job_ids: frozenset[UUID]
    queue_names: frozenset[str]
    retiring: frozenset[UUID] = frozenset()  # jobs whose dependents (buttons, hooks, schedules, results) matter


_RETIREMENT = (DisableReceivers, DisableSchedules, DeleteJob)


def touched(plan: Plan) -> Touched:
    """Every job the plan changes and every queue it creates, changes or points a job at."""
    jobs: set[UUID] = set()
    queues: set[str] = set()
    retiring: set[UUID] = set()
    for op in plan.operations:
        if isinstance(op, CreateQueue | UpdateQueue):
            queues.add(op.name)
        elif isinstance(op, SetEnabled | DisableReceivers | DisableSchedules | DeleteJob):
            jobs.add(op.job.id)
            if isinstance(op, _RETIREMENT):
                retiring.add(op.job.id)
        elif isinstance(op, SetField):
            jobs.add(op.job.id)
            if op.field == "default_job_queue":
                queues.update((str(op.before), str(op.after)))
            elif op.field == "job_queues":
                queues.update(
                    str(name) for value in (op.before, op.after) if isinstance(value, tuple) for name in value
                )
    return Touched(frozenset(jobs), frozenset(queues), frozenset(retiring))


def expected_after(before: dict[str, Image], plan: Plan) -> dict[str, Image]:
    """The images the touched rows must have once the plan is applied."""
    after = copy.deepcopy(before)
    for op in plan.operations:
        if isinstance(op, CreateQueue):
            after[f"queue:{op.name}"] = {"queue_type": op.queue_type, "description": op.description}
        elif isinstance(op, UpdateQueue):
            image = after[f"queue:{op.name}"]
            assert image is not None
            image.update({column: value for column, _, value in op.changes})
        elif isinstance(op, SetEnabled):
            _job(after, op.job.id)["enabled"] = op.after
        elif isinstance(op, SetField):
            job = _job(after, op.job.id)
            job[op.field] = sorted(op.after) if isinstance(op.after, tuple) else op.after
            job[f"{op.field}_override"] = op.override_after
        elif isinstance(op, DisableReceivers):
            deps = _retiring(after, op.job.id)
            deps["buttons"] = sorted(set(deps["buttons"]) - {b.name for b in op.buttons})
            deps["hooks"] = sorted(set(deps["hooks"]) - {h.name for h in op.hooks})
        elif isinstance(op, DisableSchedules):
            schedules = _retiring(after, op.job.id)["schedules"]
            for schedule in op.schedules:
                # ScheduledJob.save(): disabled and active -> completed; a canceled approval -> canceled
                state = schedules[schedule.name].split("/")[1]
                schedules[schedule.name] = "disabled/" + {"active": "completed", "pending": "canceled"}.get(
                    state, state
                )
        elif isinstance(op, DeleteJob):
            after[f"job:{op.job.id}"] = None
            after[f"retire:{op.job.id}"] = None
    return after


def _job(images: dict[str, Image], job_id: UUID) -> dict[str, Any]:
    image = images[f"job:{job_id}"]
    assert image is not None, "a plan changes only jobs that exist"
    return image


def _retiring(images: dict[str, Image], job_id: UUID) -> dict[str, Any]:
    image = images[f"retire:{job_id}"]
    assert image is not None, "a retirement plan reads its job's dependents"
    return image


@dataclass(frozen=True)
class Moved:
    """One field of one row that differs from what was expected."""

    key: str
    label: str
    field: str
    expected: Any
    found: Any

    def __str__(self) -> str:
        return f"{self.label}: {self.field} was {_yaml(self.expected)}, is now {_yaml(self.found)}"


def moved(expected: dict[str, Image], found: dict[str, Image], labels: dict[str, str]) -> list[Moved]:
    changes: list[Moved] = []
    for key in sorted(expected, key=lambda k: (labels.get(k, k), k)):
        was, now = expected[key], found.get(key)
        label = labels.get(key, key)
        if was is None or now is None:
            if was != now:
                changes.append(Moved(key, label, "existence", "absent" if was is None else "present",
                                     "absent" if now is None else "present"))  # fmt: skip
            continue
        changes += [Moved(key, label, field, was.get(field), now.get(field))
                    for field in sorted(was.keys() | now.keys()) if was.get(field) != now.get(field)]  # fmt: skip
    return changes


def labels(plan: Plan) -> dict[str, str]:
    """Human names of the touched rows, for messages."""
    names: dict[str, str] = {}
    for op in plan.operations:
        if isinstance(op, SetField | SetEnabled | DisableReceivers | DisableSchedules | DeleteJob):
            names[f"job:{op.job.id}"] = f"job {op.job.class_path}"
            names[f"retire:{op.job.id}"] = f"job {op.job.class_path} (its buttons, hooks, schedules, results)"
        elif isinstance(op, CreateQueue | UpdateQueue):
            names[f"queue:{op.name}"] = f"queue {op.name!r}"
    return names


def _yaml(value: Any) -> str:
    """YAML's spelling (true, null, "text"), as the plans print values."""
    return json.dumps(list(value) if isinstance(value, tuple) else value, default=str, ensure_ascii=False)
