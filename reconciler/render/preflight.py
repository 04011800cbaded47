"""Queue readiness in every rendering of a plan: text lines, a Markdown table block, a JSON document."""

from __future__ import annotations

from typing import Any

from reconciler.diagnostics import plural, printable
from reconciler.preflight.types import PreflightReport, QueueReadiness, Readiness
from reconciler.render.markdown import Block, code, plain, row, table
from reconciler.render.text import Style

_MARKS = {Readiness.READY: ("ready", "green"), Readiness.NOT_READY: ("NOT READY", "red"),
          Readiness.UNKNOWN: ("unknown", "yellow")}  # fmt: skip
_LISTED = 5  # jobs named beside a queue before "and N more"


def preflight_text(report: PreflightReport, style: Style) -> str:
    lines = ["", style("Queue readiness:", "bold")]
    for queue in report.queues:
        word, colour = _MARKS[queue.readiness]
        # Queue names come from manifests and the database, details from brokers and clusters: printable.
        head = f"{printable(queue.use.name)} ({printable(queue.use.queue_type)}): {printable(queue.summary)}"
        lines.append(f"  {style(f'{word:<9}', colour)} {head}")
        lines.append(f"            jobs: {printable(_jobs(queue))}")
        lines += [
            f"            {c.name}: {printable(c.detail)}"
            for c in queue.checks
            if c.ok is not True and c.detail != queue.summary
        ]
    if not report.queues:
        lines.append("  no queue is routed to by the managed jobs")
    ready = sum(q.readiness is Readiness.READY for q in report.queues)
    lines.append(f"  {ready} of {plural(len(report.queues), 'queue')} ready.")
    return "\n".join(lines) + "\n"


def preflight_block(report: PreflightReport) -> Block:
    items = tuple(row([code(q.use.name), plain(q.use.queue_type), _MARKS[q.readiness][0], plain(q.summary),
                       plain(_jobs(q))]) for q in report.queues)  # fmt: skip
    return Block("preflight", "Queue readiness", items, lead=table(["queue", "type", "readiness", "detail", "jobs"]),
                 priority=80, unit="queues")  # fmt: skip


def preflight_document(report: PreflightReport) -> dict[str, Any]:
    return {
        "broker": report.broker,
        "cluster": report.cluster,
        "queues": [
            {"queue": q.use.name, "type": q.use.queue_type, "readiness": q.readiness.value, "summary": q.summary,
             "workers": list(q.workers), "default_for": list(q.use.default_for),
             "eligible_for": list(q.use.eligible_for),
             "checks": [{"check": c.name, "ok": c.ok, "detail": c.detail} for c in q.checks]}
            for q in report.queues
        ],
    }  # fmt: skip


def _jobs(queue: QueueReadiness) -> str:
    jobs = queue.use.jobs
    if not jobs:
        return "none yet"
    shown = ", ".join(jobs[:_LISTED])
    return shown + (f" and {len(jobs) - _LISTED} more" if len(jobs) > _LISTED else "")
