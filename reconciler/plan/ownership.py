"""Who owns what once a plan is applied: the managed jobs, each pinned or ignored field with the manifest
entry that decided it, and the class value under every override. Pure: no I/O.

This is what an apply records in nbjobs_managed_job, nbjobs_managed_field and nbjobs_code_value (for
Nautobot's UI, the nbjobs App, and `nbjobs audit`). It is derived as the planner derives its plan, from
the same resolution of the manifests, and describes the database as the plan leaves it: the snapshot
the plan was made from, with the plan's own writes (overrides set and released, jobs deleted) laid over
it. An apply checks that the database then reads as planned, so the two agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from uuid import UUID

from reconciler.diagnostics import Location
from reconciler.discovery.types import DiscoveredJob, Discovery
from reconciler.fields import OVERRIDABLE_FIELDS, QUEUE_FIELDS
from reconciler.manifest.resolve import resolve
from reconciler.manifest.types import IGNORE_ENABLED, IGNORE_QUEUES, DesiredState, JobEntry, JobIntent, PinValue
from reconciler.nautobot.records import JobRecord, Snapshot
from reconciler.plan.codec import DecodeError, decode_location, decode_value, encode_value
from reconciler.plan.operations import DeleteJob, Plan, SetField
from reconciler.plan.planner import PlanSettings, code_queues

# The fields a manifest can pin or leave to the UI, in the order the plan shows them.
OWNED_FIELDS = (IGNORE_ENABLED, *OVERRIDABLE_FIELDS, "default_job_queue", "job_queues")


class Management(StrEnum):
    MANAGED = "managed"  # matched by `jobs:`
    RETIRE = "retire"  # named under `retire:`, its record not deleted yet


@dataclass(frozen=True)
class ManagedJob:
    job_id: UUID
    class_path: str
    management: Management
    location: Location  # the winning entry: the highest-ranked `jobs:` entry that matches, or the retire entry
    why: str | None


@dataclass(frozen=True)
class ManagedField:
    """A field a manifest pins (`value`) or leaves to the UI (`ignored`, no value)."""

    job_id: UUID
    class_path: str
    field: str
    value: PinValue | None  # job_queues: the names, sorted
    ignored: bool
    location: Location
    why: str | None


@dataclass(frozen=True)
class CodeValue:
    """What the job's code would write into a field that is overridden in the database."""

    class_path: str
    field: str
    value: PinValue


@dataclass(frozen=True)
class Ownership:
    jobs: tuple[ManagedJob, ...] = ()
    fields: tuple[ManagedField, ...] = ()
    code_values: tuple[CodeValue, ...] = ()


def ownership(
    desired: DesiredState,
    discovery: Discovery,
    snapshot: Snapshot,
    applied: Plan,
    settings: PlanSettings | None = None,
) -> Ownership:
    """Ownership once `applied` (planned from `snapshot`) is written. Jobs without a record own nothing
    (there is no row to point at yet); a job the plan deletes is gone."""
    settings = settings or PlanSettings()
    code = {job.class_path: job for job in discovery.jobs}
    deleted = {op.job.id for op in applied.operations if isinstance(op, DeleteJob)}
    records = {job.class_path: job for job in snapshot.jobs if job.id not in deleted}
    resolution = resolve(desired, sorted(code.keys() | {job.class_path for job in snapshot.jobs}))
    retiring = {entry.match: entry for entry in desired.retire}
    by_location = {entry.location: entry for entry in desired.jobs}

    jobs: list[ManagedJob] = []
    fields: list[ManagedField] = []
    for class_path, record in sorted(records.items()):
        retire = retiring.get(class_path)
        if retire is not None:
            jobs.append(ManagedJob(record.id, class_path, Management.RETIRE, retire.location, retire.why))
            continue
        intent = resolution.intents.get(class_path)
        if intent is None:
            continue
        winner = by_location[intent.entries[0]]
        jobs.append(ManagedJob(record.id, class_path, Management.MANAGED, winner.location, winner.why))
        fields += _fields(record, intent, [by_location[where] for where in intent.entries])
    overridden = _overrides_after(records.values(), applied)
    code_values = [
        CodeValue(class_path, field, value)
        for class_path, names in sorted(overridden.items())
        if (job := code.get(class_path)) is not None
        for field, value in _class_values(job, settings).items()
        if field in names
    ]
    return Ownership(tuple(jobs), tuple(fields), tuple(code_values))


def _fields(record: JobRecord, intent: JobIntent, entries: list[JobEntry]) -> list[ManagedField]:
    """The pinned fields with their pin, the ignored ones with the entry that ignores them (the first of
    the ranked entries to mention the field is the one that decided it)."""
    owned: list[ManagedField] = []
    for name in OWNED_FIELDS:
        pin = intent.pins.get(name)
        if pin is not None:
            value = tuple(sorted(set(pin.value))) if isinstance(pin.value, tuple) else pin.value
            owned.append(ManagedField(record.id, record.class_path, name, value, False, pin.location, pin.why))
        elif name in intent.ignored:
            entry = next(e for e in entries if name not in e.pins and _ignores(e, name))
            where = entry.ignore_location or entry.location
            owned.append(ManagedField(record.id, record.class_path, name, None, True, where, entry.why))
    return owned


def _ignores(entry: JobEntry, name: str) -> bool:
    return name in entry.ignore or (name in QUEUE_FIELDS and IGNORE_QUEUES in entry.ignore)


def _overrides_after(records: Iterable[JobRecord], applied: Plan) -> Mapping[str, frozenset[str]]:
    """The names of the fields overridden per class path once the plan's writes are in."""
    flags = {record.id: set(record.overrides) for record in records}
    paths = {record.id: record.class_path for record in records}
    for op in applied.operations:
        if isinstance(op, SetField) and op.job.id in flags:
            (flags[op.job.id].add if op.override_after else flags[op.job.id].discard)(op.field)
    return {paths[job_id]: frozenset(names) for job_id, names in flags.items() if names}


def _class_values(job: DiscoveredJob, settings: PlanSettings) -> dict[str, PinValue]:
    """What Nautobot's refresh writes from the class: the ten scalars and the queues (Meta.task_queues)."""
    default, eligible = code_queues(job, settings)
    return {**job.values.as_dict(), "default_job_queue": default, "job_queues": eligible}


def encode_ownership(owned: Ownership) -> dict[str, Any]:
    """A JSON-able form, for saved plans (reconciler.apply.saved): `decode_ownership` reads it back exactly."""
    return {
        "jobs": [[str(j.job_id), j.class_path, j.management.value, str(j.location), j.why] for j in owned.jobs],
        "fields": [
            [str(f.job_id), f.class_path, f.field, encode_value(f.value), f.ignored, str(f.location), f.why]
            for f in owned.fields
        ],
        "code_values": [[c.class_path, c.field, encode_value(c.value)] for c in owned.code_values],
    }


def decode_ownership(data: Any) -> Ownership:
    """Raises DecodeError (or KeyError, TypeError) on anything `encode_ownership` did not write."""
    if not isinstance(data, dict):
        raise DecodeError(f"not ownership: {data!r}")
    try:
        return Ownership(
            tuple(ManagedJob(UUID(i), str(p), Management(m), _location(w), _text(y)) for i, p, m, w, y in data["jobs"]),
            tuple(
                ManagedField(UUID(i), str(p), str(f), decode_value(v), bool(g), _location(w), _text(y))
                for i, p, f, v, g, w, y in data["fields"]
            ),
            tuple(CodeValue(str(p), str(f), _value(v)) for p, f, v in data["code_values"]),
        )
    except ValueError as exc:  # a bad id or management
        raise DecodeError(f"not ownership: {exc}") from None


def _location(text: Any) -> Location:
    return decode_location(str(text)) or Location(str(text))


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _value(value: Any) -> PinValue:
    decoded = decode_value(value)
    if decoded is None:
        raise DecodeError("a code value is never null")
    return decoded
