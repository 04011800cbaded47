"""Precedence of manifest entries per field: exact > longest glob prefix; equal rank must agree."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType

import pytest

from reconciler.diagnostics import Location, Severity
from reconciler.manifest.resolve import resolve
from reconciler.manifest.types import DesiredState, JobEntry, Pin, PinValue

KNOWN = (
    "audits.DeviceAudit",
    "audits.ConfigBackup",
    "vendor_x.sync.SyncInventory",
    "vendor_x.sync.PushConfig",
    "vendor_x.push.PushConfig",
    "legacy.OldImport",
)


def at(line: int) -> Location:
    return Location("jobs.yaml", line, 12)


def entry(match: str, line: int, *, ignore: tuple[str, ...] = (), **pins: PinValue) -> JobEntry:
    """An entry written at `line`; its pins on the lines below it, in keyword order."""
    return JobEntry(
        match=match,
        location=at(line),
        pins=MappingProxyType({name: Pin(v, at(line + i + 1), "why") for i, (name, v) in enumerate(pins.items())}),
        ignore=frozenset(ignore),
        ignore_location=at(line + len(pins) + 1) if ignore else None,
    )


@dataclass(frozen=True)
class Case:
    entries: tuple[JobEntry, ...]
    job: str
    pins: dict[str, PinValue]
    ignored: frozenset[str] = frozenset()
    errors: list[str] = field(default_factory=list)  # fragments, one per error diagnostic


CASES = {
    "exact beats glob": Case(
        (entry("vendor_x.*", 1, hidden=True), entry("vendor_x.sync.SyncInventory", 10, hidden=False)),
        "vendor_x.sync.SyncInventory",
        {"hidden": False},
    ),
    "exact beats glob whatever the order": Case(
        (entry("vendor_x.sync.SyncInventory", 1, hidden=False), entry("vendor_x.*", 10, hidden=True)),
        "vendor_x.sync.SyncInventory",
        {"hidden": False},
    ),
    "exact beats a glob with a longer prefix": Case(
        (entry("audits.DeviceAudit", 1, hidden=False), entry("audits.DeviceAudi?", 10, hidden=True)),
        "audits.DeviceAudit",
        {"hidden": False},
    ),
    "glob still applies where exact is silent": Case(
        (entry("vendor_x.*", 1, enabled=False, hidden=True), entry("vendor_x.sync.SyncInventory", 10, hidden=False)),
        "vendor_x.sync.SyncInventory",
        {"enabled": False, "hidden": False},
    ),
    "longer literal prefix wins": Case(
        (entry("vendor_x.*", 1, hidden=True), entry("vendor_x.sync.*", 10, hidden=False)),
        "vendor_x.sync.PushConfig",
        {"hidden": False},
    ),
    "shorter prefix applies where the longer does not match": Case(
        (entry("vendor_x.*", 1, hidden=True), entry("vendor_x.sync.*", 10, hidden=False)),
        "vendor_x.push.PushConfig",
        {"hidden": True},
    ),
    "prefix length, not wildcard count, ranks globs": Case(
        (entry("vendor_x.sync.Sync*", 1, time_limit=60.0), entry("vendor_x.s*.*", 10, time_limit=90.0)),
        "vendor_x.sync.SyncInventory",
        {"time_limit": 60.0},
    ),
    "equal rank and equal values agree": Case(
        (entry("vendor_x.sync.*", 1, hidden=True), entry("vendor_x.sync.[SP]*", 10, hidden=True)),
        "vendor_x.sync.SyncInventory",
        {"hidden": True},
    ),
    "equal rank, different values: error naming both": Case(
        (entry("vendor_x.sync.*", 1, hidden=True), entry("vendor_x.sync.[SP]*", 10, hidden=False)),
        "vendor_x.sync.SyncInventory",
        {"hidden": True},
        errors=["`vendor_x.sync.[SP]*` (at jobs.yaml:10:12) and `vendor_x.sync.*` (at jobs.yaml:1:12)"],
    ),
    "equal rank, pin against ignore: error": Case(
        (entry("vendor_x.sync.*", 1, description="x"), entry("vendor_x.sync.[SP]*", 10, ignore=("description",))),
        "vendor_x.sync.PushConfig",
        {"description": "x"},
        errors=["disagree (description: 'x' vs ignored)"],
    ),
    "equal rank, disagreeing on a field the other does not mention: fine": Case(
        (entry("vendor_x.sync.*", 1, hidden=True), entry("vendor_x.sync.[SP]*", 10, enabled=True)),
        "vendor_x.sync.SyncInventory",
        {"hidden": True, "enabled": True},
    ),
    "eligible queues in another order agree": Case(
        (
            entry("vendor_x.sync.*", 1, job_queues=("heavy", "default")),
            entry("vendor_x.sync.[SP]*", 10, job_queues=("default", "heavy")),
        ),
        "vendor_x.sync.SyncInventory",
        {"job_queues": ("heavy", "default")},
    ),
    "higher ignore beats lower pin": Case(
        (entry("audits.*", 1, description="x", hidden=True), entry("audits.DeviceAudit", 10, ignore=("description",))),
        "audits.DeviceAudit",
        {"hidden": True},
        ignored=frozenset({"description"}),
    ),
    "higher pin beats lower ignore": Case(
        (entry("audits.*", 1, ignore=("enabled",)), entry("audits.DeviceAudit", 10, enabled=True)),
        "audits.DeviceAudit",
        {"enabled": True},
    ),
    "ignore queues covers both queue fields": Case(
        (
            entry("audits.*", 1, default_job_queue="bulk", job_queues=("bulk",)),
            entry("audits.ConfigBackup", 10, ignore=("queues",)),
        ),
        "audits.ConfigBackup",
        {},
        ignored=frozenset({"default_job_queue", "job_queues"}),
    ),
    "queue fields resolve one by one": Case(
        (entry("audits.*", 1, ignore=("queues",)), entry("audits.ConfigBackup", 10, default_job_queue="heavy")),
        "audits.ConfigBackup",
        {"default_job_queue": "heavy"},
        ignored=frozenset({"job_queues"}),
    ),
    "an entry with no fields still manages the job": Case((entry("audits.DeviceAudit", 1),), "audits.DeviceAudit", {}),
}


@pytest.mark.parametrize("name", list(CASES))
def test_precedence(name: str) -> None:
    case = CASES[name]
    resolution = resolve(DesiredState(jobs=case.entries), KNOWN)
    intent = resolution.intents[case.job]
    assert {f: p.value for f, p in intent.pins.items()} == case.pins
    assert intent.ignored == case.ignored
    errors = [d for d in resolution.diagnostics if d.severity is Severity.ERROR]
    assert len(errors) == len(case.errors), errors
    for diagnostic, fragment in zip(errors, case.errors, strict=True):
        assert fragment in diagnostic.message


def test_winning_pin_keeps_its_own_location_and_why() -> None:
    exact = entry("audits.DeviceAudit", 10, time_limit=60.0)
    resolution = resolve(DesiredState(jobs=(entry("audits.*", 1, time_limit=30.0), exact)), KNOWN)
    assert resolution.intents["audits.DeviceAudit"].pins["time_limit"] == exact.pins["time_limit"]


def test_entries_are_listed_in_rank_order() -> None:
    jobs = (entry("vendor_x.*", 1), entry("vendor_x.sync.SyncInventory", 5), entry("vendor_x.sync.*", 9))
    intent = resolve(DesiredState(jobs=jobs), KNOWN).intents["vendor_x.sync.SyncInventory"]
    assert intent.entries == (at(5), at(9), at(1))


def test_a_conflict_is_reported_once_for_all_the_jobs_it_touches() -> None:
    jobs = (
        entry("vendor_x.sync.*", 1, hidden=True, enabled=False),
        entry("vendor_x.sync.[SP]*", 10, hidden=False, enabled=True),
    )
    (diagnostic,) = resolve(DesiredState(jobs=jobs), KNOWN).diagnostics
    assert diagnostic.location == at(10)
    assert diagnostic.message == (
        "`vendor_x.sync.[SP]*` (at jobs.yaml:10:12) and `vendor_x.sync.*` (at jobs.yaml:1:12) match "
        "`vendor_x.sync.PushConfig` (and 1 more) with equal precedence and disagree "
        "(enabled: false vs true; hidden: true vs false): make one pattern more specific, "
        "or add an exact entry for the job"
    )


def test_unmatched_exact_entries_and_globs() -> None:
    ghost = entry("audits.Ghost", 1, enabled=True)
    nothing = entry("nothing.*", 5, hidden=True)
    resolution = resolve(DesiredState(jobs=(ghost, nothing, entry("audits.DeviceAudit", 9))), KNOWN)
    assert resolution.unmatched_exact == (ghost,)
    assert "audits.Ghost" not in resolution.intents
    (warning,) = resolution.diagnostics
    assert (warning.severity, warning.location, warning.message) == (
        Severity.WARNING,
        at(5),
        "glob `nothing.*` matches no known job",
    )


def test_jobs_in_no_entry_are_unmanaged_and_matching_is_case_sensitive() -> None:
    resolution = resolve(DesiredState(jobs=(entry("audits.device*", 1), entry("legacy.*", 5))), KNOWN)
    assert set(resolution.intents) == {"legacy.OldImport"}
    assert [d.location for d in resolution.diagnostics] == [at(1)]


def test_character_classes_match_one_character() -> None:
    resolution = resolve(DesiredState(jobs=(entry("audits.[CD]*", 1, hidden=True),)), KNOWN)
    assert set(resolution.intents) == {"audits.DeviceAudit", "audits.ConfigBackup"}


def test_no_entries_give_no_intents() -> None:
    resolution = resolve(DesiredState(), KNOWN)
    assert (dict(resolution.intents), resolution.unmatched_exact, resolution.diagnostics) == ({}, (), ())


def test_a_pin_that_overrules_a_lower_ranked_entry_is_marked_shadowing() -> None:
    state = DesiredState(jobs=(entry("vendor_x.*", 1, hidden=True, enabled=False),
                               entry("vendor_x.sync.SyncInventory", 10, hidden=False, enabled=False)))  # fmt: skip
    intent = resolve(state, KNOWN).intents["vendor_x.sync.SyncInventory"]
    assert intent.shadowing == frozenset({"hidden"})  # enabled agrees with the glob: nothing shadowed
    assert resolve(state, KNOWN).intents["vendor_x.sync.PushConfig"].shadowing == frozenset()
