"""An audit report as a person reads it in a terminal, as the JSON document CI tools read, and as Markdown
for a pull-request comment or an issue: the same findings, in the same order, in the house style of the
plan (reconciler.render): text through `printable`, Markdown through the comment's own escaping.
"""

from __future__ import annotations

import re
from dataclasses import asdict
from typing import Any

from reconciler.audit.types import CATEGORY_TITLES, KINDS, AuditReport, Category, Finding
from reconciler.diagnostics import plural, printable
from reconciler.plan.codec import encode_location
from reconciler.render.markdown import Block, Comment, bullets, code, compose, plain
from reconciler.render.text import Style

FORMAT_VERSION = 1
AUDIT_MARKER = "<!-- nbjobs:audit -->"


def closing_line(report: AuditReport) -> str:
    """`Audit: 3 findings in 7 jobs: 2 redundant overrides, 1 idle job.`, or `Audit: no findings in 7 jobs.`"""
    audited = plural(report.jobs, "job")
    if report.is_empty:
        return f"Audit: no findings in {audited}."
    return f"Audit: {plural(len(report.findings), 'finding')} in {audited}: {_counted(report)}."


def render_text(report: AuditReport, *, style: Style, header: str = "") -> str:
    lines = [header] if header else []
    if report.is_empty:
        lines.append(style("No findings.", "bold") + " Nothing the audit checks needs a look.")
    for category in Category:
        shown = [f for f in report.findings if f.category is category]
        if not shown:
            continue
        lines += ["", style(f"{CATEGORY_TITLES[category]}:", "bold")]
        for finding in shown:
            lines += _text_lines(finding, style)
    if report.notes:
        lines += ["", style("Notes:", "bold"), *(f"  - {printable(note)}" for note in report.notes)]
    lines += ["", style(closing_line(report), "bold") if not report.is_empty else closing_line(report)]
    return "\n".join(lines) + "\n"


def _text_lines(finding: Finding, style: Style) -> list[str]:
    field = f" {finding.field}" if finding.field and finding.job else ""
    head = style(f"  ! {printable(finding.subject)}{field}", "yellow")
    lines = [f"{head}  [{finding.kind}]", f"      {printable(finding.message)}"]
    if finding.location is not None:
        lines.append(f"      at: {finding.location}")
    lines.append(f"      fix: {printable(finding.suggestion)}")
    if finding.patch:
        lines.append("      patch:")
        lines += [f"        {printable(line)}" for line in finding.patch.splitlines()]
    if finding.redundant_pins:
        lines.append("      then redundant: " + ", ".join(str(p) for p in finding.redundant_pins))
    for kept in finding.details.get("pins_kept", ()):
        lines.append(f"      still needed: {printable(kept['location'])} (it also pins "
                     f"{plural(kept['other_jobs'], 'other job')})")  # fmt: skip
    return lines


def audit_document(report: AuditReport, *, revision: str | None = None) -> dict[str, Any]:
    """`nbjobs audit --format json`: the same keys every time; `format_version` changes only when a key
    changes meaning (keys are only ever added)."""
    return {
        "format_version": FORMAT_VERSION,
        "database": report.database,
        "revision": revision,
        "jobs": report.jobs,
        "settings": asdict(report.settings),
        "summary": {"findings": len(report.findings), "by_kind": report.counts()},
        "findings": [finding_document(f) for f in report.findings],
        "notes": list(report.notes),
    }


def finding_document(finding: Finding) -> dict[str, Any]:
    return {
        "kind": finding.kind.value,
        "category": finding.category.value,
        "subject": finding.subject,
        "job": finding.job,
        "field": finding.field,
        "message": finding.message,
        "suggestion": finding.suggestion,
        "location": encode_location(finding.location),
        "jobs": list(finding.jobs),
        "details": dict(finding.details),
        "patch": finding.patch,
        "redundant_pins": [str(p) for p in finding.redundant_pins],
    }


def render_markdown(report: AuditReport, *, revision: str | None = None) -> str:
    """A comment: the summary, then one block per section (the least important cut first when it would
    exceed a comment's size), each finding a bullet with its fix, a repeated override's patch folded."""
    against = f"Against {code(report.database, table=False)}" if report.database else ""
    at = f", manifests at {code(revision, table=False)}" if revision else ""
    head = ["### nbjobs audit", f"**{plain(closing_line(report))}**", *([against + at + "."] if against else [])]
    blocks = []
    for priority, category in zip(range(90, 0, -10), Category, strict=False):
        shown = [f for f in report.findings if f.category is category]
        if shown:
            title = f"{CATEGORY_TITLES[category]} ({len(shown)})"
            blocks.append(Block(category.value, title, bullets([_markdown_item(f) for f in shown]), priority=priority,
                                unit="findings"))  # fmt: skip
    if report.notes:
        blocks.append(Block("notes", "Notes", bullets([plain(n) for n in report.notes]), priority=5, unit="notes"))
    return compose(Comment(tuple(head), tuple(blocks), marker=AUDIT_MARKER))


def _markdown_item(finding: Finding) -> str:
    field = f" {code(finding.field, table=False)}" if finding.field and finding.job else ""
    where = f" At {code(str(finding.location), table=False)}." if finding.location else ""
    text = (f"**{code(finding.subject, table=False)}**{field} ({finding.kind.value}): {plain(finding.message)}.{where}"
            f" Fix: {plain(finding.suggestion)}.")  # fmt: skip
    if finding.redundant_pins:
        pins = ", ".join(code(str(p), table=False) for p in finding.redundant_pins)
        text += f" Then redundant: {pins}."
    if finding.patch:
        fence = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", finding.patch)), default=0))
        body = "".join(f"  {printable(line)}\n" for line in finding.patch.splitlines())
        text += f"\n\n  <details><summary>Patch</summary>\n\n  {fence}diff\n{body}  {fence}\n\n  </details>"
    return text


def _counted(report: AuditReport) -> str:
    counts = report.counts()
    return ", ".join(plural(counts[kind.value], singular, many) for kind, (_, singular, many) in KINDS.items()
                     if counts[kind.value])  # fmt: skip
