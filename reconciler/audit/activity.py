"""Findings from the results: jobs whose runs exceed or near their time limits, and enabled jobs nobody runs.

Runtimes are measured over each job's most recent finished runs (`runtime_sample`; SUCCESS and FAILURE,
from date_started to date_done): their p95 and their maximum, against the limits the job runs under: its
own `soft_time_limit`/`time_limit`, or Celery's global ones where those are 0 (spec b). The guide: "If Jobs
consistently exceed default time limits, consider separate queues instead of global limit increases."
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from types import MappingProxyType

from reconciler.audit.context import AuditContext
from reconciler.audit.measure import duration
from reconciler.audit.types import Finding, FindingKind
from reconciler.diagnostics import plural
from reconciler.nautobot.records import JobRecord


def findings(context: AuditContext) -> tuple[list[Finding], list[str]]:
    return [*_runtimes(context), *_idle(context)], []


def limits(record: JobRecord, context: AuditContext) -> tuple[float, float, bool]:
    """(soft, hard, whether either is Celery's global default): the limits a run of the job gets."""
    soft, hard = record.values.soft_time_limit, record.values.time_limit
    settings = context.settings
    return soft or settings.celery_soft_time_limit, hard or settings.celery_time_limit, not soft or not hard


def _runtimes(context: AuditContext) -> Iterator[Finding]:
    for record in sorted(context.snapshot.jobs, key=lambda r: r.class_path):
        runs = context.runs.get(record.id)
        if runs is None or not runs.runs or record.class_path in context.retiring:
            continue
        soft, hard, celery = limits(record, context)
        limit = min(soft, hard)  # the first limit a run meets
        p95, longest = runs.p95, runs.longest
        if longest >= hard:
            kind = FindingKind.RUNTIME_OVER_LIMIT
            state = f"its longest run took {duration(longest)}, all its time limit ({duration(hard)}) allows"
        elif longest >= soft:
            kind = FindingKind.RUNTIME_OVER_LIMIT
            state = f"its longest run took {duration(longest)}, past its soft time limit ({duration(soft)})"
        elif p95 >= context.settings.near_limit * limit:
            kind = FindingKind.RUNTIME_NEAR_LIMIT
            which = "soft time limit" if limit == soft else "time limit"
            state = f"its runs come near its {which} ({duration(limit)})"
        else:
            continue
        measured = (f"p95 {duration(p95)}, longest {duration(longest)} over its last "
                    f"{plural(runs.runs, 'finished run')}")  # fmt: skip
        source = " (Celery's global default, the job sets none)" if celery else ""
        queue = context.snapshot.queues_by_id.get(record.default_job_queue_id)
        if queue is None or queue.name == context.settings.default_queue:
            fix = ("give it a queue of its own (a manifest's `queues: {default: ...}`, with workers sized for it) and "
                   "its own limits there, rather than raising Celery's global time limits for every job")  # fmt: skip
        else:
            fix = (f"raise its own soft_time_limit and time_limit (it already runs on queue {queue.name!r}), rather "
                   "than Celery's global limits")  # fmt: skip
        details = {"p95_seconds": p95, "max_seconds": longest, "runs": runs.runs, "soft_time_limit": soft,
                   "time_limit": hard, "celery_default": celery, "queue": queue.name if queue else None}  # fmt: skip
        message = f"{state}: {measured}; limits {duration(soft)} soft, {duration(hard)} hard{source}"
        yield Finding(kind, record.class_path, message, fix, record.class_path, details=MappingProxyType(details))


def _idle(context: AuditContext) -> Iterator[Finding]:
    """Enabled, installed jobs not run for `unused_days`: never run and created before that (or at an
    unknown time), or last run before that. Nautobot's system jobs (enabled from their creation) are left out."""
    days = context.settings.unused_days
    cutoff = context.now - timedelta(days=days)
    for record in sorted(context.snapshot.jobs, key=lambda r: r.class_path):
        if not record.enabled or not record.installed or record.is_system or record.class_path in context.retiring:
            continue
        runs = context.runs.get(record.id)
        last, created = (runs.last_run, runs.created) if runs else (None, None)
        if last is not None:
            if last >= cutoff:
                continue
            message = (f"enabled, and last run {(context.now - last).days} days ago ({last:%Y-%m-%d}); the audit "
                       f"calls a job idle after {days} days")  # fmt: skip
        elif created is not None and created >= cutoff:
            continue
        else:
            since = (f"since its record was created {(context.now - created).days} days ago" if created else
                     "(its record has no creation time)")  # fmt: skip
            message = f"enabled, and never run {since}; the audit calls a job idle after {days} days"
        yield Finding(FindingKind.IDLE_JOB, record.class_path, message,
                      "disable it (`enabled: false`) or retire it (a `retire:` entry); if it is kept for rare use, "
                      "say so in its entry's why", record.class_path,
                      details=MappingProxyType({"last_run": last.isoformat() if last else None,
                                                "created": created.isoformat() if created else None,
                                                "unused_days": days}))  # fmt: skip
