"""What changed between two desired states, and between two scans of the code: pure functions.

Each side is flattened to a plain document (section -> key -> field -> value) and DeepDiff finds the
differences; they are then gathered per entry and per field, with the values of both sides.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from deepdiff import DeepDiff

from reconciler.diagnostics import Location
from reconciler.discovery.types import DiscoveredJob, Discovery
from reconciler.fields import OVERRIDABLE_FIELDS
from reconciler.manifest.types import DesiredState, JobEntry, PinValue
from reconciler.review.types import Change, CodeChange, EntryChange, FieldChange, Section, Value

# Manifest spelling of the queue pins (JobEntry.pins uses Nautobot's column names).
_PIN_NAMES = {"default_job_queue": "queues.default", "job_queues": "queues.eligible"}
_JOB_FIELDS = ("enabled", *OVERRIDABLE_FIELDS, "default_job_queue", "job_queues")

Document = dict[str, dict[str, dict[str, Value]]]
Places = dict[tuple[str, str], tuple[Location, dict[str, Location]]]


def desired_delta(base: DesiredState, head: DesiredState) -> tuple[EntryChange, ...]:
    """Entries added, removed and changed (field by field) from `base` to `head`. Moving an entry to
    another file or reordering entries is no change: entries are keyed by queue name or `match`."""
    (before, base_places), (after, head_places) = _desired(base), _desired(head)
    changes = []
    for (section, key), change in _changed_keys(before, after):
        old, new = before[section].get(key, {}), after[section].get(key, {})
        places = head_places if change is not Change.REMOVED else base_places
        fields = tuple(
            FieldChange(
                name, old.get(name), new.get(name), _field_location(name, (section, key), head_places, base_places)
            )
            for name in _field_order(old, new)
            if not _same(old.get(name), new.get(name))
        )
        changes.append(EntryChange(Section(section), key, change, fields, places[(section, key)][0]))
    order = {section: index for index, section in enumerate(Section)}
    return tuple(sorted(changes, key=lambda c: (order[c.section], c.key)))


def code_delta(base: Discovery, head: Discovery) -> tuple[CodeChange, ...]:
    """Job classes added to or removed from the code, and those whose class values changed."""
    old = {job.class_path: job for job in base.jobs}
    new = {job.class_path: job for job in head.jobs}
    before = {"jobs": {path: _class_values(job) for path, job in old.items()}}
    after = {"jobs": {path: _class_values(job) for path, job in new.items()}}
    changes = []
    for (_, path), change in _changed_keys(before, after):
        job = new.get(path) or old[path]
        fields: tuple[FieldChange, ...] = ()
        if change is Change.CHANGED:
            a, b = before["jobs"][path], after["jobs"][path]
            fields = tuple(
                FieldChange(n, a.get(n), b.get(n)) for n in _field_order(a, b) if not _same(a.get(n), b.get(n))
            )
        changes.append(CodeChange(path, change, fields, job.location))
    return tuple(sorted(changes, key=lambda c: c.class_path))


def _changed_keys(before: Mapping[str, Any], after: Mapping[str, Any]) -> Iterable[tuple[tuple[str, str], Change]]:
    diff = DeepDiff(before, after, view="tree", ignore_numeric_type_changes=True)
    found: dict[tuple[str, str], Change] = {}
    rescan: set[str] = set()
    for report, levels in diff.items():
        for level in levels:
            path = level.path(output_format="list")
            if len(path) < 2:  # a whole section appeared, went, or was empty on one side
                rescan.update([str(path[0])] if path else [*before, *after])
                continue
            key = (str(path[0]), str(path[1]))
            if len(path) == 2 and report == "dictionary_item_added":
                found[key] = Change.ADDED
            elif len(path) == 2 and report == "dictionary_item_removed":
                found[key] = Change.REMOVED
            else:
                found.setdefault(key, Change.CHANGED)
    for section in rescan:
        old, new = before.get(section) or {}, after.get(section) or {}
        for name in {*old, *new}:
            if name not in old:
                found[(section, name)] = Change.ADDED
            elif name not in new:
                found[(section, name)] = Change.REMOVED
            elif DeepDiff(old[name], new[name], ignore_numeric_type_changes=True):
                found[(section, name)] = Change.CHANGED
    return found.items()


def _desired(state: DesiredState) -> tuple[Document, Places]:
    document: Document = {section.value: {} for section in Section}
    places: Places = {}
    for queue in state.queues:
        document["queues"][queue.name] = {"type": queue.queue_type.value, "description": queue.description}
        places[("queues", queue.name)] = (queue.location, {})
    for job in state.jobs:
        document["jobs"][job.match] = _job_fields(job)
        places[("jobs", job.match)] = (job.location, _job_locations(job))
    for retire in state.retire:
        document["retire"][retire.match] = {
            "schedules": retire.schedules.value,
            "purge_results": retire.purge_results,
            "force": retire.force,
            **({"why": retire.why} if retire.why is not None else {}),
        }
        places[("retire", retire.match)] = (retire.location, {})
    return document, places


def _job_fields(job: JobEntry) -> dict[str, Value]:
    fields: dict[str, Value] = {}
    for name in _JOB_FIELDS:
        pin = job.pins.get(name)
        if pin is not None:
            fields[_PIN_NAMES.get(name, name)] = _value(pin.value, sort=name == "job_queues")
    if job.ignore:
        fields["ignore"] = tuple(sorted(job.ignore))
    if job.why is not None:
        fields["why"] = job.why
    return fields


def _job_locations(job: JobEntry) -> dict[str, Location]:
    locations = {_PIN_NAMES.get(name, name): pin.location for name, pin in job.pins.items()}
    if job.ignore_location is not None:
        locations["ignore"] = job.ignore_location
    return locations


def _field_location(name: str, key: tuple[str, str], head: Places, base: Places) -> Location | None:
    for places in (head, base):
        fields = places[key][1] if key in places else {}
        if name in fields:
            return fields[name]
    return None


def _class_values(job: DiscoveredJob) -> dict[str, Value]:
    values: dict[str, Value] = dict(job.values.as_dict())
    values["task_queues"] = tuple(job.task_queues)
    for flag in ("read_only", "supports_dryrun", "is_job_hook_receiver", "is_job_button_receiver"):
        values[flag] = bool(getattr(job, flag))
    return values


def _value(value: PinValue, *, sort: bool = False) -> Value:
    if isinstance(value, tuple):
        return tuple(sorted(value)) if sort else tuple(value)
    return value


_RANK = {
    name: index
    for index, name in enumerate(
        ("type", "description", "enabled", *OVERRIDABLE_FIELDS, "queues.default", "queues.eligible", "ignore",
         "schedules", "purge_results", "force", "why")
    )
}  # fmt: skip


def _field_order(old: Mapping[str, Value], new: Mapping[str, Value]) -> list[str]:
    return sorted({*old, *new}, key=lambda name: (_RANK.get(name, len(_RANK)), name))


def _same(a: Value, b: Value) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return float(a) == float(b)
    return a == b
