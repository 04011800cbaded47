"""Findings about overrides: what the database overrides that no manifest declares, overrides equal to the
code's value, manifest entries that pin overrides without a `why`, the same override on many jobs of one
module (move it into the code), and, after an upgrade, overrides that now hide a changed class value.

The guide's audits (nautobot-managing-jobs-guide.md, "Best-practice tips"): "Document changes", "Periodic
audits: after major upgrades, review overridden Jobs ... and consider removing unnecessary overrides",
"Limit overrides: if multiple overrides accumulate, consider adjusting defaults directly in Job code".
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from types import MappingProxyType

from reconciler.audit.context import AuditContext
from reconciler.audit.measure import json_value
from reconciler.audit.patch import python_literal
from reconciler.audit.types import Finding, FindingKind, RecordedClassValue
from reconciler.diagnostics import Location, plural
from reconciler.discovery.types import DiscoveredJob
from reconciler.fields import ALL_OVERRIDE_FLAGS, OVERRIDABLE_FIELDS, QUEUE_FIELDS
from reconciler.manifest.types import JobEntry, Pin, PinValue
from reconciler.nautobot.records import JobRecord, Snapshot
from reconciler.plan.operations import same_value
from reconciler.render.text import format_value

# Fields a module's jobs can share in the code: not the name (unique per job) nor the queues (Meta.task_queues
# sets both queue fields at once, and only as a list the planner derives them from).
MOVABLE_FIELDS = tuple(f for f in OVERRIDABLE_FIELDS if f != "name")


def findings(context: AuditContext) -> tuple[list[Finding], list[str]]:
    found = list(_database_overrides(context))
    found += _entries_without_why(context)
    found += _repeated_in_module(context)
    upgrade, notes = _hidden_new_defaults(context)
    return found + upgrade, notes


def database_value(record: JobRecord, field: str, snapshot: Snapshot) -> PinValue:
    """A field as the record stores it; the queues by name (the eligible ones sorted)."""
    if field == "default_job_queue":
        queue = snapshot.queues_by_id.get(record.default_job_queue_id)
        return queue.name if queue else ""
    if field == "job_queues":
        return tuple(sorted(snapshot.queues_by_id[i].name for i in record.job_queue_ids if i in snapshot.queues_by_id))
    return record.values.get(field)


def code_value(job: DiscoveredJob, field: str, default_queue: str) -> PinValue:
    """What Nautobot's refresh writes for the field from the class; the queues from Meta.task_queues as the
    planner derives them (spec b: the first is the default, the default queue when there are none)."""
    if field in QUEUE_FIELDS:
        names = job.task_queues or (default_queue,)
        return names[0] if field == "default_job_queue" else tuple(sorted(set(names)))
    return job.values.get(field)


def _database_overrides(context: AuditContext) -> Iterator[Finding]:
    """Each field overridden in the database that is redundant (the code's own value) or that no manifest
    pins (unmanaged drift). A field left to the UI (`ignore:`) is neither; nor is a retiring job's."""
    for record in sorted(context.snapshot.jobs, key=lambda r: r.class_path):
        if record.class_path in context.retiring:
            continue
        intent = context.resolution.intents.get(record.class_path)
        job = context.code.get(record.class_path)
        for field in ALL_OVERRIDE_FLAGS:
            if field not in record.overrides or (intent is not None and field in intent.ignored):
                continue
            value = database_value(record, field, context.snapshot)
            code = code_value(job, field, context.settings.default_queue) if job else None
            if field == "name" and job is not None and _collision_suffix(str(value), job.values.name):
                continue  # Nautobot set this flag itself when it suffixed a duplicate name
            pin = intent.pins.get(field) if intent else None
            details = {"database": json_value(value), "code": json_value(code)}
            where = f"{field} is overridden in the database to {format_value(value)}"
            if code is not None and same_value(value, code):
                if pin is not None and intent is not None and field in intent.shadowing:
                    continue  # the pin overrules another entry's: dropping it would let that one win
                yield _redundant(record, field, where, pin, context, details)
            elif pin is None:
                yield _undeclared(record, field, where, code, intent is not None, context, details)


def _redundant(
    record: JobRecord, field: str, where: str, pin: Pin | None, context: AuditContext, details: dict[str, object]
) -> Finding:
    message = f"{where}, the code's own value"
    if pin is None:
        fix = ("the next apply releases it: nothing changes" if context.managed(record) else
               "clear the override in Nautobot: nothing changes")  # fmt: skip
        return Finding(FindingKind.REDUNDANT_OVERRIDE, record.class_path, message, fix, record.class_path, field,
                       details=MappingProxyType(details))  # fmt: skip
    entry = _entry_of(context, field, pin)
    if entry is not None and entry.is_glob:
        fix = f"nothing to drop for this job alone: the glob `{entry.match}` pins it for the jobs it matches"
        pins: tuple[Location, ...] = ()
    else:
        fix = "drop the pin: the next apply clears the override, and nothing changes"
        pins = (pin.location,)
    return Finding(FindingKind.REDUNDANT_OVERRIDE, record.class_path, f"{message}, as the manifest pins it", fix,
                   record.class_path, field, pin.location, MappingProxyType(details), redundant_pins=pins)  # fmt: skip


def _undeclared(
    record: JobRecord,
    field: str,
    where: str,
    code: PinValue | None,
    managed: bool,
    context: AuditContext,
    details: dict[str, object],
) -> Finding:
    said = f"the code says {format_value(code)}" if code is not None else "the class is not in the job code read"
    intent = context.resolution.intents.get(record.class_path)
    if managed and intent is not None:
        entry = intent.entries[0]
        message = f"{where} ({said}), and the manifest entry that manages the job does not pin it"
        release = f"to the code's {format_value(code)}" if code is not None else "(its value is kept)"
        fix = f"the next apply releases it {release}; pin it in the entry at {entry} if it is wanted, with a why"
        return Finding(FindingKind.UNMANAGED_OVERRIDE, record.class_path, message, fix, record.class_path, field,
                       entry, MappingProxyType(details))  # fmt: skip
    message = f"{where} ({said}), and no manifest manages this job"
    fix = (f"declare it in a manifest (`nbjobs export --match {record.class_path}` writes the entry; add a why), "
           "or clear the override in Nautobot")  # fmt: skip
    return Finding(FindingKind.UNMANAGED_OVERRIDE, record.class_path, message, fix, record.class_path, field,
                   details=MappingProxyType(details))  # fmt: skip


def _entries_without_why(context: AuditContext) -> list[Finding]:
    """Manifest entries whose pins are overrides of some job record (they win for it: apply sets the
    override) and that say no `why`. One finding per entry, however many jobs it matches."""
    wins: dict[Location, tuple[set[str], set[str]]] = defaultdict(lambda: (set(), set()))  # entry -> fields, jobs
    owners = _pin_owners(context)
    for record in context.snapshot.jobs:
        class_path = record.class_path
        intent = context.resolution.intents.get(class_path)
        if intent is None or class_path in context.retiring:
            continue
        for field, pin in intent.pins.items():
            entry = owners.get(pin.location)
            if field in ALL_OVERRIDE_FLAGS and entry is not None and not (entry.why or "").strip():
                fields, jobs = wins[entry.location]
                fields.add(field)
                jobs.add(class_path)
    found = []
    entries = {entry.location: entry for entry in context.desired.jobs}
    for location, (fields, jobs) in sorted(wins.items()):
        entry = entries[location]
        ordered = [f for f in ALL_OVERRIDE_FLAGS if f in fields]
        on = f" on {plural(len(jobs), 'job')}" if entry.is_glob else ""
        found.append(Finding(
            FindingKind.OVERRIDE_WITHOUT_WHY, entry.match,
            f"the entry for `{entry.match}` pins {', '.join(ordered)}{on} and says no why",
            "add `why:` to the entry (a ticket, a reason): apply writes it into Nautobot's change log, so whoever "
            "finds the override later knows why it is there",
            location=location, details=MappingProxyType({"fields": ordered, "jobs": sorted(jobs)}),
            jobs=tuple(sorted(jobs)),
        ))  # fmt: skip
    return found


def _repeated_in_module(context: AuditContext) -> list[Finding]:
    """The same field overridden to the same value (not the code's) on `module_threshold` or more jobs of
    one module: a default to set in the code. Only jobs whose class is in the code read count."""
    groups: dict[tuple[str, str, PinValue], list[JobRecord]] = defaultdict(list)
    for record in context.snapshot.jobs:
        job = context.code.get(record.class_path)
        if job is None or record.class_path in context.retiring:
            continue
        for field in MOVABLE_FIELDS:
            value: PinValue = record.values.get(field)
            if field in record.overrides and not same_value(value, job.values.get(field)):
                groups[(record.module_name, field, value)].append(record)
    found = []
    for (module, field, value), records in sorted(groups.items(), key=lambda item: (item[0][0], item[0][1])):
        if len(records) < context.settings.module_threshold:
            continue
        paths = sorted(r.class_path for r in records)
        first = context.code[paths[0]]
        redundant, kept = _pins_made_redundant(context, field, set(paths))
        names = ", ".join(path.rpartition(".")[2] for path in paths)
        fix = f"set {field} = {python_literal(value)} in the Meta of each class (the patch below)"
        if redundant:
            fix += f", then drop the manifest {'pin' if len(redundant) == 1 else 'pins'} it makes redundant"
        details = {
            "module": module, "value": json_value(value), "jobs": paths,
            "code": {path: json_value(context.code[path].values.get(field)) for path in paths},
            "pins_kept": [{"location": str(location), "other_jobs": others} for location, others in kept],
        }  # fmt: skip
        found.append(Finding(
            FindingKind.REPEATED_OVERRIDE, module,
            f"{field} is overridden to {format_value(value)} on {len(paths)} jobs of module {module} ({names}), "
            "each against its code's value",
            fix, field=field, location=first.location, details=MappingProxyType(details), jobs=tuple(paths),
            value=value, redundant_pins=redundant,
        ))  # fmt: skip
    return found


def _pins_made_redundant(
    context: AuditContext, field: str, paths: set[str]
) -> tuple[tuple[Location, ...], list[tuple[Location, int]]]:
    """The manifest pins of `field` that win for `paths`: those that then pin only the code's value (every
    job they win for is among `paths`), and those still needed by other jobs (with how many)."""
    pins = {i.pins[field].location for p, i in context.resolution.intents.items() if p in paths and field in i.pins}
    others: dict[Location, int] = defaultdict(int)
    for path, intent in context.resolution.intents.items():
        pin = intent.pins.get(field)
        if pin is not None and pin.location in pins and path not in paths:
            others[pin.location] += 1
    return tuple(sorted(p for p in pins if p not in others)), sorted(others.items())


def _hidden_new_defaults(context: AuditContext) -> tuple[list[Finding], list[str]]:
    """With `since_upgrade`: each override under which the class value changed since the last upgrade
    (Django's newest migration): apply recorded the class value it saw, and the code's is now another. The
    override may be hiding a new default that was meant to reach the job."""
    if not context.settings.since_upgrade:
        return [], []
    facts = context.facts
    if not facts.nautobot.has_migrations:
        return [], ["--since-upgrade: this database has no Django migrations (the sandbox is never upgraded): "
                    "no class values compared"]  # fmt: skip
    mark = facts.nautobot.upgrade
    if mark is None:
        return [], ["--since-upgrade: Django's migration table is empty: no upgrade to compare against"]
    if not facts.class_values_readable:
        return [], ["--since-upgrade: nbjobs' own tables are not there (run `nbjobs db upgrade`): no class values "
                    "were recorded to compare with"]  # fmt: skip
    recorded = {(v.class_path, v.field): v for v in facts.class_values}
    found, unknown = [], 0
    for record in sorted(context.snapshot.jobs, key=lambda r: r.class_path):
        job = context.code.get(record.class_path)
        for field in ALL_OVERRIDE_FLAGS:
            seen = recorded.get((record.class_path, field))
            if field not in record.overrides or seen is None or seen.recorded_at >= mark.upgraded_at:
                continue
            if job is None:
                unknown += 1
                continue
            now = code_value(job, field, context.settings.default_queue)
            if seen.value is not None and not same_value(seen.value, now):
                found.append(_hidden(record, field, seen, now, context, mark.extras_level))
    notes = []
    if unknown:
        notes.append(f"--since-upgrade: {plural(unknown, 'overridden field')} of jobs whose class is not in the job "
                     "code read could not be compared")  # fmt: skip
    return found, notes


def _hidden(
    record: JobRecord, field: str, seen: RecordedClassValue, now: PinValue, context: AuditContext, level: str | None
) -> Finding:
    value = database_value(record, field, context.snapshot)
    intent = context.resolution.intents.get(record.class_path)
    pin = intent.pins.get(field) if intent and record.class_path not in context.retiring else None
    was = f"{seen.recorded_at:%Y-%m-%d}" + (f", Nautobot at {seen.extras_level}" if seen.extras_level else "")
    message = (f"the code's {field} changed from {format_value(seen.value)} (seen by apply on {was}) to "
               f"{format_value(now)} since the upgrade{f' to {level}' if level else ''}; the override "
               f"{format_value(value)} hides the new default")  # fmt: skip
    fix = ("if the new default fits, drop the " + (f"pin at {pin.location}" if pin else "override in Nautobot")
           + "; if not, keep it and say why")  # fmt: skip
    details = {"database": json_value(value), "recorded_code": json_value(seen.value), "code": json_value(now),
               "recorded_at": seen.recorded_at.isoformat(), "recorded_extras_level": seen.extras_level,
               "extras_level": level}  # fmt: skip
    return Finding(FindingKind.OVERRIDE_HIDES_NEW_DEFAULT, record.class_path, message, fix, record.class_path, field,
                   pin.location if pin else None, MappingProxyType(details))  # fmt: skip


def _pin_owners(context: AuditContext) -> dict[Location, JobEntry]:
    """The entry each pin belongs to, by the pin's location (each pin has its own)."""
    return {pin.location: entry for entry in context.desired.jobs for pin in entry.pins.values()}


def _entry_of(context: AuditContext, field: str, pin: Pin) -> JobEntry | None:
    return next((e for e in context.desired.jobs if e.pins.get(field) is pin), None)


def _collision_suffix(database_name: str, class_name: str) -> bool:
    """`Name (2)`: the suffix Nautobot's refresh gives a duplicate name, setting name_override itself."""
    return re.fullmatch(re.escape(class_name) + r" \(\d+\)", database_name) is not None
