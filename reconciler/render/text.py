"""The plan as a person reads it in a terminal, in the manner of Terraform: one block per object, a
line per field with where each value comes from, and a summary line."""

from __future__ import annotations

import json
from collections.abc import Callable

from reconciler.diagnostics import printable
from reconciler.manifest.types import PinValue
from reconciler.plan.operations import (
    CreateQueue,
    DeleteJob,
    DisableReceivers,
    DisableSchedules,
    Note,
    Plan,
    Provenance,
    Retirement,
    SetEnabled,
    SetField,
    UpdateQueue,
)
from reconciler.plan.permissions import required_permissions
from reconciler.plan.summary import Summary, plural

Style = Callable[[str, str], str]

_COLOURS = {"green": "32", "yellow": "33", "red": "31", "bold": "1", "dim": "2"}


def ansi(text: str, colour: str) -> str:
    return f"\033[{_COLOURS[colour]}m{text}\033[0m"


def plain(text: str, _colour: str) -> str:
    return text


def render_text(plan: Plan, *, style: Style = plain, header: str = "") -> str:
    """Terraform's signs: `+` creates, `~` changes, `-` deletes; a line only for what changes.

    Every text that comes from a manifest, the code or the database is shown through `printable` (or
    quoted by `format_value`): none can start a line of its own or act on the terminal."""
    lines: list[str] = [header] if header else []
    if plan.is_empty:
        lines.append(style("No changes.", "bold") + " The database matches the manifests and the code.")
    for op in plan.operations:
        if isinstance(op, CreateQueue):
            where = f"  ({op.location})" if op.location else ""
            created = style(f"  + queue {printable(op.name)} ({op.queue_type})", "green")
            lines.append(f"{created}  {printable(op.reason)}{where}")
            if op.description:
                lines.append(f"      + description: {format_value(op.description)}")
        elif isinstance(op, UpdateQueue):
            lines.append(style(f"  ~ queue {printable(op.name)}", "yellow") + f"  ({op.location})")
            lines += [f"      ~ {column}: {format_value(before)} -> {format_value(after)}"
                      for column, before, after in op.changes]  # fmt: skip
    for job_ops in _by_job(plan):
        first = job_ops[0]
        deleted = any(isinstance(op, DeleteJob) for op in job_ops)
        sign, colour = ("-", "red") if deleted else ("~", "yellow")
        lines.append(style(f"  {sign} job {printable(first.job.class_path)}", colour)
                     + f"  ({format_value(first.job.name)})")  # fmt: skip
        for op in job_ops:
            lines += _job_lines(op, style)
        whys = dict.fromkeys(w for op in job_ops if (w := _why(op)))
        lines += [f"      why: {printable(why)}" for why in whys]
    lines += _retirement_lines(plan, style)
    lines += _permission_lines(plan, style)
    if plan.notes:
        lines.append("")
        lines.append(style("Notes:", "bold"))
        lines += [_note_line(note) for note in plan.notes]
    lines.append("")
    lines.append(style(closing_line(plan), "bold") if not plan.is_empty else closing_line(plan))
    return "\n".join(lines) + "\n"


def closing_line(plan: Plan) -> str:
    """The plan's last line: its count (`Plan: 1 to create, ...`), or how many managed jobs are in sync.
    Alone, it is what `plan --quiet` prints."""
    return Summary.of(plan).line() if not plan.is_empty else f"{plural(plan.managed_jobs, 'managed job')} in sync."


def _permission_lines(plan: Plan, style: Style) -> list[str]:
    """What a user needs to apply this plan as themselves (--as), grouped by permission."""
    grouped: dict[str, list[str]] = {}
    for requirement in required_permissions(plan):
        grouped.setdefault(requirement.permission, []).append(requirement.label)
    if not grouped:
        return []
    lines = ["", style("Permissions needed to apply as a Nautobot user (--as):", "bold")]
    for permission, objects in grouped.items():
        objects.sort()
        shown = printable(", ".join(objects[:3])) + (f" and {len(objects) - 3} more" if len(objects) > 3 else "")
        lines.append(f"  - {permission}: {shown}")
    return lines


JobOp = SetField | SetEnabled | DisableReceivers | DisableSchedules | DeleteJob


def _by_job(plan: Plan) -> list[list[JobOp]]:
    """A reader wants one block per job (operations run in phases: queues, overrides, enabled...)."""
    blocks: dict[str, list[JobOp]] = {}
    for op in plan.operations:
        if isinstance(op, JobOp):
            blocks.setdefault(op.job.class_path, []).append(op)
    return [blocks[path] for path in sorted(blocks)]


def _retirement_lines(plan: Plan, style: Style) -> list[str]:
    """Where the retirements that move this run, or are held up, stand: the step reached, what blocks it,
    what the next run does. What a retirement changes is listed once, in its job's block above; one that is
    done and does nothing is left out."""
    shown = [r for r in plan.retirements if _retirement_moves(r)]
    if not shown:
        return []
    lines = ["", style("Retirements:", "bold")]
    for r in shown:
        lines.append(f"  {printable(r.class_path)}: step {r.step} ({r.step_name})  ({r.location})")
        lines += [style(f"      blocked: {printable(blocker)}", "red") for blocker in r.blockers]
        if r.step < 6:
            lines.append(f"      next run: {printable(r.next_run)}")
    return lines


def _retirement_moves(r: Retirement) -> bool:
    return bool(r.this_run or r.blockers or r.awaiting_prune)


def results_phrase(results: int, purge: bool) -> str:
    """What becomes of a deleted job's results."""
    if not results:
        return "it has no results"
    return f"its {plural(results, 'result')} " + ("purged in batches after the apply" if purge else
                                                  "kept, their job link nulled")  # fmt: skip


def _job_lines(op: JobOp, style: Style) -> list[str]:
    if isinstance(op, DeleteJob):
        return [style("      - delete the record", "red")
                + f", with its buttons and hooks ({results_phrase(op.results, op.purge_results)})"]  # fmt: skip
    if isinstance(op, DisableReceivers):
        names = printable(", ".join(r.name for r in (*op.buttons, *op.hooks)))
        return [style("      ~ disable buttons and hooks:", "red") + f" {names}"]
    if isinstance(op, DisableSchedules):
        approvals = printable(", ".join(a.name for a in op.approvals))
        canceled = f"; cancel the approval of {approvals}" if op.approvals else ""
        schedules = printable(", ".join(s.name for s in op.schedules))
        return [style("      ~ disable schedules:", "red") + f" {schedules}{canceled}"]
    if isinstance(op, SetEnabled):
        colour = "green" if op.after else "red"
        change = f"{format_value(op.before)} -> {format_value(op.after)}"
        drifted = "; changed outside nbjobs since it applied this" if op.reverts_drift else ""
        return [f"      ~ {style('enabled', colour)}: {change}   manifest ({op.location}){drifted}"]
    if op.before == op.after:  # only the flag moves: show the column that changes, not `false -> false`
        stays = f"{op.field} stays {format_value(op.after)}"
        line = (f"      ~ {op.field}_override: {format_value(op.override_before)} -> "
                f"{format_value(op.override_after)}   [{op.verdict}: {stays}]")  # fmt: skip
    else:
        flag = _flag_change(op.override_before, op.override_after)
        line = f"      ~ {op.field}: {format_value(op.before)} -> {format_value(op.after)}   [{op.verdict}{flag}]"
    lines = [line, "          " + _provenance(op.provenance)]
    if op.remark:
        lines.append(f"          note: {printable(op.remark)}")
    return lines


def _why(op: JobOp) -> str | None:
    if isinstance(op, SetField):
        return op.provenance.why
    return op.why if isinstance(op, SetEnabled | DeleteJob) else None


def _flag_change(before: bool, after: bool) -> str:
    if before == after:
        return ""
    return ", override flag set" if after else ", override flag cleared"


def _provenance(p: Provenance) -> str:
    code = "unknown" if p.code is None else format_value(p.code)
    db = f"{format_value(p.database)} ({'overridden' if p.database_override else 'from code'})"
    parts = [f"code {code}", f"database {db}"]
    if p.manifest is not None:
        parts.append(f"manifest {format_value(p.manifest)} ({p.manifest_location})")
    if p.reverts_drift:
        parts.append("changed outside nbjobs since it applied this")
    return " | ".join(parts)


def _note_line(note: Note) -> str:
    subject = f"{printable(note.job)}: " if note.job else ""
    where = f" ({note.location})" if note.location else ""
    return f"  - [{note.kind}] {subject}{printable(note.message)}{where}"


def format_value(value: PinValue | None) -> str:
    """A field value as plans print it, in YAML's spelling: lists in brackets, true/false, null, whole
    numbers without .0, strings double-quoted."""
    if value is None:
        return "null"
    if isinstance(value, tuple):
        return "[" + printable(", ".join(value)) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    # JSON's quoting escapes the C0 controls; printable the rest (DEL, C1's CSI, bidi overrides).
    return printable(json.dumps(value, ensure_ascii=False)) if isinstance(value, str) else str(value)
