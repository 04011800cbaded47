"""The Nautobot permissions a plan needs, and whether a user holds them. Pure.

Nautobot's model (spec section h): an enabled ObjectPermission assigned to the user or to one of the
user's groups grants its `actions` on its object types, optionally limited by `constraints` (a dict
of ORM lookups, or a list of such dicts OR'ed). Superusers hold every permission; inactive users none.
For a change, the object must match the constraints before and after it (Nautobot's edit views check
both). Only exact lookups (`field`, `field__exact`) and `field__in` on the object's own columns are
evaluated here; any other constraint (`$user`, related fields, other lookups) counts as not granted:
nbjobs never guesses in favour of a write.
"""

from __future__ import annotations

from collections.abc import Mapping
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

Attributes = Mapping[str, Any] | None


@dataclass(frozen=True, order=True)
class Requirement:
    """One permission on one object. `key` names the object's row image ("job:<id>", "queue:<name>")."""

    permission: str  # e.g. extras.change_job
    key: str
    label: str

    @property
    def object_type(self) -> str:
        app_label, _, codename = self.permission.partition(".")
        return f"{app_label}.{codename.partition('_')[2]}"

    @property
    def action(self) -> str:
        return self.permission.partition(".")[2].partition("_")[0]


@dataclass(frozen=True)
class Grant:
    name: str
    actions: frozenset[str]
    object_types: frozenset[str]  # "app_label.model"
    constraints: Any = None  # None, a dict, or a list of dicts


@dataclass(frozen=True)
class UserGrants:
    username: str
    is_active: bool
    is_superuser: bool
    grants: tuple[Grant, ...] = ()


@dataclass(frozen=True)
class Denial:
    requirement: Requirement
    reason: str

    def __str__(self) -> str:
        return f"{self.requirement.permission} on {self.requirement.label}: {self.reason}"


def required_permissions(plan: Plan) -> tuple[Requirement, ...]:
    needed: set[Requirement] = set()
    for class_path, _ in plan.purges:
        needed.add(Requirement("extras.delete_jobresult", f"results:{class_path}", f"the results of {class_path}"))
    for op in plan.operations:
        if isinstance(op, DeleteJob):
            needed.add(Requirement("extras.delete_job", f"job:{op.job.id}", f"job {op.job.class_path}"))
        elif isinstance(op, DisableReceivers):
            needed.update(Requirement("extras.change_jobbutton", f"jobbutton:{b.id}", f"button {b.name!r}")
                          for b in op.buttons)  # fmt: skip
            needed.update(Requirement("extras.change_jobhook", f"jobhook:{h.id}", f"hook {h.name!r}") for h in op.hooks)
        elif isinstance(op, DisableSchedules):
            needed.update(Requirement("extras.change_scheduledjob", f"scheduledjob:{s.id}", f"schedule {s.name!r}")
                          for s in op.schedules)  # fmt: skip
            needed.update(Requirement("extras.change_approvalworkflow", f"approvalworkflow:{a.id}",
                                      f"the approval of schedule {a.name!r}") for a in op.approvals)  # fmt: skip
        elif isinstance(op, CreateQueue):
            needed.add(Requirement("extras.add_jobqueue", f"queue:{op.name}", f"queue {op.name!r}"))
        elif isinstance(op, UpdateQueue):
            needed.add(Requirement("extras.change_jobqueue", f"queue:{op.name}", f"queue {op.name!r}"))
        elif isinstance(op, SetField | SetEnabled):
            needed.add(Requirement("extras.change_job", f"job:{op.job.id}", f"job {op.job.class_path}"))
            if isinstance(op, SetField) and op.field in ("default_job_queue", "job_queues"):
                # The edit form offers only the queues the user may view ("permissions on specific queues").
                names = op.after if isinstance(op.after, tuple) else (str(op.after),)
                needed.update(Requirement("extras.view_jobqueue", f"queue:{n}", f"queue {n!r}") for n in names)
    return tuple(sorted(needed))


def denials(
    requirements: tuple[Requirement, ...],
    user: UserGrants,
    before: Mapping[str, Attributes],
    after: Mapping[str, Attributes],
) -> list[Denial]:
    """What the user lacks; `before`/`after` are the objects' row images around the plan."""
    if not user.is_active:
        return [Denial(r, f"user {user.username!r} is inactive") for r in requirements]
    if user.is_superuser:
        return []
    missing = []
    for requirement in requirements:
        grants = [
            g for g in user.grants if requirement.action in g.actions and requirement.object_type in g.object_types
        ]
        if not grants:
            missing.append(Denial(requirement, "no enabled permission grants it"))
            continue
        # An added object is checked as it will be, a deleted one as it was, a changed one both ways.
        states = []
        if requirement.action != "delete":
            states.append(_object(requirement.key, after.get(requirement.key)))
        if requirement.action != "add":
            states.append(_object(requirement.key, before.get(requirement.key)))
        if not any(all(_allows(g.constraints, state) for state in states) for g in grants):
            names = ", ".join(sorted(g.name for g in grants))
            missing.append(Denial(requirement, f"the constraints of {names} do not (provably) cover it"))
    return missing


def _object(key: str, image: Attributes) -> Attributes:
    if image is None:
        return None
    kind, _, ident = key.partition(":")
    return {**image, "id": ident} if kind == "job" else {**image, "name": ident}


def _allows(constraints: Any, obj: Attributes) -> bool:
    if constraints is None or constraints == {} or constraints == []:
        return True
    if obj is None:
        return False
    alternatives = constraints if isinstance(constraints, list) else [constraints]
    return any(isinstance(alt, dict) and all(_lookup(obj, k, v) for k, v in alt.items()) for alt in alternatives)


def _lookup(obj: Mapping[str, Any], lookup: str, expected: Any) -> bool:
    field, _, operator = lookup.partition("__")
    if field not in obj or "__" in operator or (isinstance(expected, str) and expected.startswith("$")):
        return False
    value = obj[field]
    if operator in ("", "exact"):
        return _equal(value, expected)
    if operator == "in" and isinstance(expected, list):
        return any(_equal(value, item) for item in expected)
    return False


def _equal(value: Any, expected: Any) -> bool:
    if isinstance(value, bool) or isinstance(expected, bool):
        return value is expected
    if isinstance(value, str) and isinstance(expected, str):
        try:
            return UUID(value) == UUID(expected)
        except ValueError:
            return value == expected
    return bool(value == expected)
