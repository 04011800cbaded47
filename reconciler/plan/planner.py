"""The pure planner: (desired, discovered, actual) -> Plan. No I/O, no clock, no session.

For every managed job and field it knows the code value, the database value with its override flag,
and the manifest value, and decides which wins (DESIGN.md): a pin sets an override (value and flag
together); a field overridden in the database but no longer pinned is released to the class value,
as Nautobot's refresh would write it; a field in `ignore:` is left to the UI.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from uuid import UUID

from reconciler.diagnostics import Diagnostic, InputError, Location, Severity, did_you_mean, plural
from reconciler.discovery.types import DiscoveredJob, Discovery
from reconciler.fields import DEFAULT_QUEUE_NAME, OVERRIDABLE_FIELDS
from reconciler.manifest.resolve import resolve
from reconciler.manifest.types import IGNORE_ENABLED, IGNORE_QUEUES, DesiredState, JobIntent, Pin, PinValue
from reconciler.nautobot.records import JobRecord, Snapshot
from reconciler.plan.operations import (
    CreateQueue,
    ForgetTombstone,
    JobRef,
    Note,
    NoteKind,
    Operation,
    Plan,
    Provenance,
    SetEnabled,
    SetField,
    UpdateQueue,
    Verdict,
    same_value,
)
from reconciler.plan.retire import MASS_DELETE_MIN_MANAGED, mass_delete_errors, plan_retirements
from reconciler.state.types import AppliedValue, NbjobsState


class PlanningError(InputError):
    """The three sources cannot be reconciled (a job or queue that exists nowhere, a name clash...)."""


@dataclass(frozen=True)
class PlanSettings:
    default_queue: str = DEFAULT_QUEUE_NAME  # Nautobot's CELERY_TASK_DEFAULT_QUEUE
    allow_mass_delete: bool = False
    # The mass-delete guard's share rule (more than a quarter) applies from this many managed jobs.
    mass_delete_min_managed: int = MASS_DELETE_MIN_MANAGED
    # False: retirement steps 4-5 (delete, purge) wait as pending (the loop's `heal` without `prune`).
    prune: bool = True


def plan(
    desired: DesiredState,
    discovery: Discovery,
    snapshot: Snapshot,
    settings: PlanSettings | None = None,
    state: NbjobsState | None = None,
) -> Plan:
    settings = settings or PlanSettings()
    state = state or NbjobsState()
    code = {job.class_path: job for job in discovery.jobs}
    records = {job.class_path: job for job in snapshot.jobs}
    known_jobs = sorted(code.keys() | records.keys())
    resolution = resolve(desired, known_jobs)
    # A job being retired is managed by its retire entry alone, whatever globs of `jobs:` match it.
    retiring = {entry.match for entry in desired.retire}
    intents = {path: intent for path, intent in resolution.intents.items() if path not in retiring}

    errors = [d for d in resolution.diagnostics if d.severity is Severity.ERROR]
    errors += [
        Diagnostic(entry.location, f"job {entry.match!r} exists neither in the job code nor in the database"
                   + _suggest(entry.match, known_jobs))
        for entry in resolution.unmatched_exact
    ]  # fmt: skip
    notes = [
        Note(NoteKind.GLOB_UNMATCHED, d.message, location=d.location)
        for d in resolution.diagnostics
        if d.severity is Severity.WARNING
    ]
    notes += [Note(NoteKind.DISCOVERY, d.message, location=d.location) for d in discovery.problems]

    queue_ops, known_queues = _plan_queues(desired, discovery, snapshot, settings)
    context = _Context(snapshot, settings, frozenset(known_queues))
    job_ops: list[Operation] = []
    for class_path in sorted(records):
        intent = intents.get(class_path)
        if intent is None:
            continue
        ops, job_notes, job_errors = _plan_job(records[class_path], code.get(class_path), intent, context)
        job_ops += _with_applied(ops, state.applied)
        notes += job_notes
        errors += job_errors

    retirement = plan_retirements(desired.retire, records, code, snapshot.dependents, state, prune=settings.prune)
    job_ops += retirement.operations
    notes += retirement.notes
    errors += retirement.errors
    managed = sum(1 for path in records if path in intents or path in retiring)
    if not settings.allow_mass_delete:
        errors += mass_delete_errors(retirement.operations, managed, settings.mass_delete_min_managed)
    errors += _nothing_left_managed(desired, records, intents)
    errors += _name_clashes(records, job_ops, intents)
    if errors:
        raise PlanningError(errors)

    notes += _waiting_for_refresh(code, records, intents)
    unmanaged = [p for p in records if p not in intents and p not in retiring]
    if unmanaged:
        notes.append(
            Note(
                NoteKind.UNMANAGED,
                f"{plural(len(unmanaged), 'job')} left as found, matched by no manifest entry "
                "(`nbjobs get --unmanaged` shows which)",
            )
        )
    operations = tuple(sorted(queue_ops, key=lambda op: op.name)) + tuple(sorted(job_ops, key=_job_op_order))
    return Plan(
        operations=operations,
        notes=tuple(notes),
        managed_jobs=managed,
        database=snapshot.database,
        retirements=tuple(retirement.statuses),
        purges=tuple(retirement.purges),
    )


def _with_applied(ops: list[Operation], applied: Mapping[tuple[UUID, str], AppliedValue]) -> list[Operation]:
    """Each pinned change learns what nbjobs last applied there, so a revert of drift shows as one."""
    annotated: list[Operation] = []
    for op in ops:
        if isinstance(op, SetField) and op.provenance.manifest is not None:
            value = applied.get((op.job.id, op.field))
            op = op if value is None else replace(op, provenance=replace(op.provenance, applied=value))
        elif isinstance(op, SetEnabled):
            flag = applied.get((op.job.id, "enabled"))
            op = replace(op, applied=flag) if isinstance(flag, bool) else op
        annotated.append(op)
    return annotated


def _nothing_left_managed(
    desired: DesiredState, records: Mapping[str, JobRecord], intents: Mapping[str, JobIntent]
) -> list[Diagnostic]:
    """Manifests that would leave no job managed are refused, unless a manifest says so (issue 5)."""
    if intents or desired.allow_no_managed_jobs or not any(not r.is_system for r in records.values()):
        return []
    where = Location(desired.files[0]) if desired.files else Location("<manifests>")
    return [Diagnostic(where, "these manifests would leave no job managed at all; if that is intended, say so with "
                              "`allow_no_managed_jobs: true` in a manifest")]  # fmt: skip


def _job_op_order(op: Operation) -> tuple[int, str, int]:
    if isinstance(op, ForgetTombstone):
        return (op.phase, op.class_path, 0)
    assert not isinstance(op, CreateQueue | UpdateQueue)
    field_rank = _FIELD_RANK.get(op.field, 0) if isinstance(op, SetField) else 0
    return (op.phase, op.job.class_path, field_rank)


_FIELD_RANK = {name: i for i, name in enumerate((*OVERRIDABLE_FIELDS, "default_job_queue", "job_queues"))}


def _plan_queues(
    desired: DesiredState, discovery: Discovery, snapshot: Snapshot, settings: PlanSettings
) -> tuple[list[CreateQueue | UpdateQueue], set[str]]:
    """Manifest queues are created or updated; queues that only the code names are created as celery
    queues, as Nautobot's refresh would (spec c), so a released job_queues can point at them."""
    ops: list[CreateQueue | UpdateQueue] = []
    existing = {q.name: q for q in snapshot.queues}
    for spec in desired.queues:
        current = existing.get(spec.name)
        if current is None:
            ops.append(
                CreateQueue(spec.name, spec.queue_type.value, spec.description, "declared in manifests", spec.location)
            )
            continue
        changes = tuple(
            (column, before, after)
            for column, before, after in (
                ("queue_type", current.queue_type, spec.queue_type.value),
                ("description", current.description, spec.description),
            )
            if before != after
        )
        if changes:
            ops.append(UpdateQueue(current.id, spec.name, changes, spec.location))
    known = set(existing) | {spec.name for spec in desired.queues}
    for job in discovery.jobs:
        for name in code_queues(job, settings)[1]:
            if name not in known:
                known.add(name)
                ops.append(CreateQueue(name, "celery", "", f"named in task_queues of {job.class_path}", job.location))
    return ops, known


def code_queues(job: DiscoveredJob, settings: PlanSettings) -> tuple[str, tuple[str, ...]]:
    """(default, eligible) as Nautobot's refresh derives them from Meta.task_queues (spec b)."""
    names = job.task_queues or (settings.default_queue,)
    return names[0], tuple(sorted(set(names)))


@dataclass(frozen=True)
class _Context:
    """What every job's planning shares."""

    snapshot: Snapshot
    settings: PlanSettings
    known_queues: frozenset[str]


def _plan_job(
    record: JobRecord, code: DiscoveredJob | None, intent: JobIntent, context: _Context
) -> tuple[list[Operation], list[Note], list[Diagnostic]]:
    ref = JobRef(record.id, record.class_path, record.values.name)
    ops: list[Operation] = []
    notes: list[Note] = []
    errors: list[Diagnostic] = []
    if not record.installed:
        notes.append(Note(NoteKind.NOT_INSTALLED, "record is not installed (its code is gone)", record.class_path))

    for field in OVERRIDABLE_FIELDS:
        op, note = _plan_scalar(ref, record, code, intent, field)
        ops += [op] if op else []
        notes += [note] if note else []

    enabled = intent.pins.get(IGNORE_ENABLED)
    if enabled is not None and IGNORE_ENABLED not in intent.ignored and enabled.value != record.enabled:
        ops.append(SetEnabled(ref, record.enabled, bool(enabled.value), enabled.location, enabled.why))

    queue_ops, queue_notes, queue_errors = _plan_queue_fields(ref, record, code, intent, context)
    return ops + queue_ops, notes + queue_notes, errors + queue_errors


def _plan_scalar(
    ref: JobRef, record: JobRecord, code: DiscoveredJob | None, intent: JobIntent, field: str
) -> tuple[SetField | None, Note | None]:
    if field in intent.ignored:
        return None, None
    db_value = record.values.get(field)
    db_flag = field in record.overrides
    code_value = code.values.get(field) if code else None
    pin = intent.pins.get(field)
    if pin is not None:
        provenance = Provenance(code_value, db_value, db_flag, pin.value, pin.location, pin.why)
        redundant = code_value is not None and same_value(pin.value, code_value) and field not in intent.shadowing
        note = (
            Note(
                NoteKind.REDUNDANT_PIN,
                f"{field} pins {json.dumps(list(pin.value) if isinstance(pin.value, tuple) else pin.value)}, "
                "the code's own value: drop the pin",
                ref.class_path,
                pin.location,
            )
            if redundant
            else None
        )
        if same_value(db_value, pin.value) and db_flag:
            return None, note
        verdict = Verdict.REDUNDANT_PIN if redundant else Verdict.SET_OVERRIDE
        return SetField(ref, field, db_value, pin.value, db_flag, True, verdict, provenance), note
    if not db_flag:
        return None, None
    provenance = Provenance(code_value, db_value, db_flag)
    if field == "name" and code is not None and _is_collision_suffix(str(db_value), code.values.name):
        # Nautobot set this flag itself when it suffixed a duplicate name; releasing it would clash.
        return None, Note(
            NoteKind.COLLISION_SUFFIX, f"name {db_value!r} keeps Nautobot's collision suffix", ref.class_path
        )
    if code_value is None:
        remark = "class value unknown (job not in the scanned code): value kept, Nautobot's next refresh sets it"
        return SetField(ref, field, db_value, db_value, True, False, Verdict.RELEASE_OVERRIDE, provenance, remark), None
    return SetField(ref, field, db_value, code_value, True, False, Verdict.RELEASE_OVERRIDE, provenance), None


def _plan_queue_fields(
    ref: JobRef, record: JobRecord, code: DiscoveredJob | None, intent: JobIntent, context: _Context
) -> tuple[list[Operation], list[Note], list[Diagnostic]]:
    ignored_all = IGNORE_QUEUES in intent.ignored
    by_id = context.snapshot.queues_by_id
    db_default = by_id[record.default_job_queue_id].name
    db_eligible = tuple(sorted(by_id[q].name for q in record.job_queue_ids))
    code_default, code_eligible = code_queues(code, context.settings) if code else (None, None)
    errors = [
        Diagnostic(
            pin.location,
            f"queue {name!r} exists nowhere: declare it under queues: or create it in Nautobot"
            + _suggest(name, context.known_queues),
        )
        for field in ("default_job_queue", "job_queues")
        if (pin := intent.pins.get(field)) is not None
        for name in (pin.value if isinstance(pin.value, tuple) else (str(pin.value),))
        if name not in context.known_queues
    ]
    if errors:
        return [], [], errors

    default = _target(
        intent,
        "default_job_queue",
        ignored_all,
        db_default,
        "default_job_queue" in record.overrides,
        code_default,
    )
    eligible = _target(intent, "job_queues", ignored_all, db_eligible, "job_queues" in record.overrides, code_eligible)
    notes: list[Note] = []
    eligible_value = tuple(sorted(set(eligible.value) if isinstance(eligible.value, tuple) else ()))
    if default.value not in eligible_value:
        # Nautobot's post_save hook always adds the default queue to job_queues (spec c).
        eligible_value = tuple(sorted({*eligible_value, str(default.value)}))
        if eligible.pin is not None:
            notes.append(
                Note(
                    NoteKind.DEFAULT_QUEUE_ADDED,
                    f"default queue {default.value!r} added to the eligible queues, as Nautobot does",
                    ref.class_path,
                    eligible.pin.location,
                )
            )
    targets = (
        (
            "default_job_queue",
            db_default,
            code_default,
            default.value,
            default.flag,
            default.pin,
            default.verdict,
        ),
        (
            "job_queues",
            db_eligible,
            code_eligible,
            eligible_value,
            eligible.flag,
            eligible.pin,
            eligible.verdict,
        ),
    )
    ops: list[Operation] = []
    for field, before, code_value, after, flag, pin, verdict in targets:
        db_flag = field in record.overrides
        if same_value(before, after) and db_flag == flag:
            continue
        provenance = Provenance(
            code_value,
            before,
            db_flag,
            pin.value if pin else None,
            pin.location if pin else None,
            pin.why if pin else None,
        )
        remark = None
        if verdict is None:
            verdict, remark = (
                Verdict.REPAIR,
                "default queue added to the eligible queues, as Nautobot guarantees",
            )
        ops.append(SetField(ref, field, before, after, db_flag, flag, verdict, provenance, remark))
    return ops, notes, []


@dataclass(frozen=True)
class _QueueTarget:
    value: PinValue
    flag: bool
    verdict: Verdict | None  # None: the database value stands
    pin: Pin | None = None


def _target(
    intent: JobIntent,
    field: str,
    ignored_all: bool,
    db_value: PinValue,
    db_flag: bool,
    code_value: PinValue | None,
) -> _QueueTarget:
    pin = intent.pins.get(field)
    if ignored_all or field in intent.ignored:
        return _QueueTarget(db_value, db_flag, None)
    if pin is not None:
        value = tuple(sorted(set(pin.value))) if isinstance(pin.value, tuple) else pin.value
        redundant = code_value is not None and same_value(value, code_value) and field not in intent.shadowing
        return _QueueTarget(value, True, Verdict.REDUNDANT_PIN if redundant else Verdict.SET_OVERRIDE, pin)
    if db_flag:
        return _QueueTarget(code_value if code_value is not None else db_value, False, Verdict.RELEASE_OVERRIDE, None)
    return _QueueTarget(db_value, False, None)


def _is_collision_suffix(db_name: str, class_name: str) -> bool:
    return re.fullmatch(re.escape(class_name) + r" \(\d+\)", db_name) is not None


def _name_clashes(
    records: Mapping[str, JobRecord], ops: Iterable[Operation], intents: Mapping[str, JobIntent]
) -> list[Diagnostic]:
    """extras_job.name is UNIQUE: a plan that would give two jobs one name is refused up front."""
    final = {path: record.values.name for path, record in records.items()}
    for op in ops:
        if isinstance(op, SetField) and op.field == "name":
            final[op.job.class_path] = str(op.after)
    owners: dict[str, list[str]] = {}
    for path, name in final.items():
        owners.setdefault(name, []).append(path)
    errors = []
    for name, paths in sorted(owners.items()):
        if len(paths) > 1:
            pin = next((intents[p].pins["name"] for p in paths if p in intents and "name" in intents[p].pins), None)
            location = pin.location if pin else Location("<database>")
            errors.append(
                Diagnostic(
                    location,
                    f"jobs {', '.join(sorted(paths))} would all be named {name!r}; Job names are unique in Nautobot",
                )
            )
    return errors


def _waiting_for_refresh(
    code: Mapping[str, DiscoveredJob], records: Mapping[str, JobRecord], intents: Mapping[str, JobIntent]
) -> list[Note]:
    return [
        Note(
            NoteKind.WAITING_FOR_REFRESH,
            "in the code but has no Job record yet: run `nautobot-server post_upgrade` (or sync the Git "
            "repository) to create it" + (", then plan again" if path in intents else ""),
            path,
            job.location,
        )
        for path, job in sorted(code.items())
        if path not in records
    ]


def _suggest(name: str, known: Iterable[str]) -> str:
    """`; did you mean 'x'?` for a misspelt job or queue name, or nothing."""
    found = did_you_mean(name, known)
    return f"; {found}" if found else ""
