"""A review (`nbjobs diff`) as text, as JSON (`format_version` 1) and as Markdown for a comment."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from reconciler.diagnostics import plural, printable
from reconciler.plan.document import plan_document
from reconciler.plan.summary import Summary
from reconciler.render import markdown as md
from reconciler.render.text import Style, format_value, plain, render_text
from reconciler.review.types import Change, CodeChange, Counts, EntryChange, FieldChange, Review, Side, Value

FORMAT_VERSION = 1
DIFF_MARKER = "<!-- nbjobs:diff -->"


def summary_line(review: Review) -> str:
    desired = Counts.of(review.desired).phrase("entry")
    code = Counts.of(review.code).phrase("job")
    return f"Diff: desired state {desired}; job code {code}."


# -- Text ------------------------------------------------------------------------------------------------


def render_diff_text(review: Review, *, style: Style = plain) -> str:
    ends = f"nbjobs diff: base {printable(review.base.label)} -> head {printable(review.head.label)}"
    lines = [style(ends, "bold")]
    if review.notes:
        lines += ["", style("Notes:", "bold"), *(f"  - {printable(note)}" for note in review.notes)]
    lines += ["", style("Desired state (manifests):", "bold")]
    lines += [line for change in review.desired for line in _entry_lines(change, style)] or ["  No changes."]
    lines += ["", style("Job code:", "bold")]
    lines += [line for change in review.code for line in _code_lines(change, style)] or ["  No changes."]
    if review.plan_errors:
        lines += ["", style(f"The head cannot be planned against {review.database}:", "red")]
        lines += [f"  {diagnostic}" for diagnostic in review.plan_errors]
    elif review.plan is not None:
        header = style(f"What the head would do in {review.database}:", "bold") + "\n"
        lines += ["", render_text(review.plan, style=style, header=header).rstrip("\n")]
    else:
        lines += ["", "No database: the head was not planned (give --database-url to see what it would do)."]
    lines += ["", style(summary_line(review), "bold")]
    return "\n".join(lines) + "\n"


_COLOURS = {Change.ADDED: "green", Change.REMOVED: "red", Change.CHANGED: "yellow"}


def _entry_lines(change: EntryChange, style: Style) -> list[str]:
    where = f"  ({change.location})" if change.location else ""
    lines = [style(f"  {change.change.sign} {change.section.noun} {printable(change.key)}", _COLOURS[change.change])
             + where]  # fmt: skip
    lines += [_field_line(f, change.change) for f in change.fields]
    return lines


def _code_lines(change: CodeChange, style: Style) -> list[str]:
    where = f"  ({change.location})" if change.location else ""
    lines = [style(f"  {change.change.sign} {printable(change.class_path)}", _COLOURS[change.change]) + where]
    lines += [_field_line(f, change.change) for f in change.fields]
    return lines


def _field_line(field: FieldChange, change: Change) -> str:
    name = printable(field.field)
    if change is Change.ADDED:
        text = f"{name}: {_fmt(field.after)}"
    elif change is Change.REMOVED:
        text = f"{name}: {_fmt(field.before)}"
    else:
        text = f"{name}: {_fmt(field.before)} -> {_fmt(field.after)}"
    where = f"   ({field.location})" if field.location and change is Change.CHANGED else ""
    return f"      {text}{where}"


def _fmt(value: Value) -> str:
    return "(absent)" if value is None else format_value(value)


# -- JSON ------------------------------------------------------------------------------------------------


def diff_document(review: Review) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "kind": "diff",
        "base": _side(review.base),
        "head": _side(review.head),
        "summary": {
            "desired": asdict(Counts.of(review.desired)),
            "code": asdict(Counts.of(review.code)),
            "plan": asdict(Summary.of(review.plan)) if review.plan is not None else None,
        },
        "desired": [
            {
                "section": str(c.section),
                "key": c.key,
                "change": str(c.change),
                "location": _location(c.location),
                "fields": [_field(f) for f in c.fields],
            }
            for c in review.desired
        ],
        "code": [
            {
                "class_path": c.class_path,
                "change": str(c.change),
                "location": _location(c.location),
                "fields": [_field(f) for f in c.fields],
            }
            for c in review.code
        ],
        "notes": list(review.notes),
        "database": review.database,
        "plan": plan_document(review.plan, revision=review.head.recorded) if review.plan is not None else None,
        "plan_errors": [str(d) for d in review.plan_errors],
    }


def render_diff_json(review: Review) -> str:
    return json.dumps(diff_document(review), indent=2) + "\n"


def _side(side: Side) -> dict[str, Any]:
    return {"label": side.label, "revision": side.revision, "worktree": side.worktree, "dirty": list(side.dirty)}


def _field(field: FieldChange) -> dict[str, Any]:
    return {
        "field": field.field,
        "before": list(field.before) if isinstance(field.before, tuple) else field.before,
        "after": list(field.after) if isinstance(field.after, tuple) else field.after,
        "location": _location(field.location),
    }


def _location(location: object) -> str | None:
    return None if location is None else str(location)


# -- Markdown --------------------------------------------------------------------------------------------


def render_diff_markdown(review: Review, *, limit: int = md.COMMENT_LIMIT) -> str:
    """The review as a comment: the summary, the two ends and the database, then what the head would
    do there (destructive changes first), the desired-state and code changes, and the notes."""
    desired = Counts.of(review.desired)
    code = Counts.of(review.code)
    counts = f"**Desired state:** {desired.phrase('entry')} · **Job code:** {code.phrase('job')}"
    if review.plan is not None:
        counts += " · " + md.summary_line(review.plan)
    elif review.plan_errors:
        counts += f" · **The head cannot be planned: {plural(len(review.plan_errors), 'error')}.**"
    ends = f"Base {md.code(review.base.label, table=False)} → head {md.code(review.head.label, table=False)}."
    if review.database is not None:
        recorded = f" with manifests at {md.code(review.head.recorded, table=False)}" if review.head.recorded else ""
        ends += f" Planned against {md.code(review.database, table=False)}{recorded}."
    else:
        ends += " No database given: the head was not planned."
    blocks: list[md.Block] = []
    if review.plan_errors:
        errors = md.bullets([md.code(str(d), table=False, limit=400) for d in review.plan_errors])
        blocks.append(md.Block("plan-errors", f"The head cannot be planned ({len(errors)})", errors, priority=110,
                               unit="errors"))  # fmt: skip
    plan_blocks: tuple[md.Block, ...] = ()
    if review.plan is not None:
        plan_blocks = md.plan_blocks(review.plan, md.PlanContext(review.head.recorded, title_prefix="Database: "))
    blocks += [b for b in plan_blocks if b.key == "destructive"]
    blocks += [_desired_block(review), _code_block(review)]
    blocks += [b for b in plan_blocks if b.key != "destructive"]
    if review.notes:
        blocks.append(md.Block("diff-notes", f"Notes on the comparison ({len(review.notes)})",
                               md.bullets([md.plain(n) for n in review.notes]), priority=15, unit="notes"))  # fmt: skip
    head = ("### nbjobs diff", counts, ends)
    return md.compose(md.Comment(head, tuple(blocks), marker=DIFF_MARKER), limit)


def _desired_block(review: Review) -> md.Block:
    rows = []
    for change in review.desired:
        first = f"{change.change} {change.section.noun} {md.code(change.key)}"
        where = md.code(str(change.location)) if change.location else ""
        if not change.fields:
            rows.append(md.row([first, "", "", "", where]))
        for index, field in enumerate(change.fields):
            place = md.code(str(field.location)) if field.location else where
            rows.append(md.row([first if index == 0 else "", md.code(field.field), _md(field.before), _md(field.after),
                                place]))  # fmt: skip
    return md.Block("desired", f"Desired state ({plural(len(review.desired), 'entry')})", tuple(rows),
                    lead=md.table(["Entry", "Field", "Base", "Head", "Where"]), priority=90, unit="rows",
                    fold=len(rows) > 3 * md.FOLD_ITEMS)  # fmt: skip


def _code_block(review: Review) -> md.Block:
    rows = []
    for change in review.code:
        details = ", ".join(f"{md.code(f.field)}: {_md(f.before)} → {_md(f.after)}" for f in change.fields)
        where = md.code(str(change.location)) if change.location else ""
        rows.append(md.row([md.code(change.class_path), str(change.change), details, where]))
    return md.Block("code", f"Job code ({plural(len(review.code), 'job')})", tuple(rows),
                    lead=md.table(["Job class", "Change", "Class values", "Where"]), priority=85, unit="rows",
                    fold=len(rows) > 2 * md.FOLD_ITEMS)  # fmt: skip


def _md(value: Value) -> str:
    return "" if value is None else md.value(value)
