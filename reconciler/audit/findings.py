"""The audit: a pure function of the manifests, the job code, the planner's snapshot and the audit's facts.

No I/O, no clock (`now` is a parameter), no session: the same inputs give the same findings, in the same
order (by section, then subject). Each section is a module of its own: `overrides` (what the database
overrides and what the manifests say of it), `activity` (runtimes against time limits, jobs nobody runs)
and `schedules` (schedules of jobs that cannot run, singletons that overlap, approvals nobody can give).
"""

from __future__ import annotations

from datetime import datetime
from types import MappingProxyType

from reconciler.audit import activity, overrides, schedules
from reconciler.audit.context import AuditContext
from reconciler.audit.types import AuditFacts, AuditReport, AuditSettings, Category, Finding
from reconciler.diagnostics import Severity, plural
from reconciler.discovery.types import Discovery
from reconciler.manifest.resolve import resolve
from reconciler.manifest.types import DesiredState
from reconciler.nautobot.records import Snapshot


def audit(
    desired: DesiredState,
    discovery: Discovery,
    snapshot: Snapshot,
    facts: AuditFacts,
    settings: AuditSettings,
    now: datetime,
) -> AuditReport:
    code = {job.class_path: job for job in discovery.jobs}
    context = AuditContext(
        desired=desired, snapshot=snapshot, facts=facts, settings=settings, now=now,
        resolution=resolve(desired, sorted({*code, *(job.class_path for job in snapshot.jobs)})),
        code=MappingProxyType(code), records=MappingProxyType({job.id: job for job in snapshot.jobs}),
        runs=MappingProxyType({runs.job_id: runs for runs in facts.nautobot.runs}),
        retiring=frozenset(entry.match for entry in desired.retire),
    )  # fmt: skip
    found: list[Finding] = []
    notes: list[str] = []
    for section in (overrides, activity, schedules):
        section_findings, section_notes = section.findings(context)
        found += section_findings
        notes += section_notes
    if discovery.problems:  # a class that could not be read has no code values to compare with
        notes.append(f"{plural(len(discovery.problems), 'problem')} reading the job code: the classes concerned "
                     "were left out of the comparisons (`nbjobs validate` lists them)")  # fmt: skip
    order = {category: index for index, category in enumerate(Category)}
    found.sort(key=lambda f: (order[f.category], f.subject, f.kind.value, f.field or ""))
    conflicts = tuple(d for d in context.resolution.diagnostics if d.severity is Severity.ERROR)
    return AuditReport(tuple(found), settings, snapshot.database, len(snapshot.jobs), tuple(notes), conflicts)
