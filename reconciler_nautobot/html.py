"""The App's HTML: the panel on a Job's page and the banner on its edit form. Everything written by nbjobs or
its manifests (paths, `why`, values, user names) is escaped by format_html; nothing here is marked safe raw.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from reconciler_nautobot.models import Apply, ManagedJob
from reconciler_nautobot.record import FieldRecord, JobRecord, LoopView, consequence

NOT_PRESENT = SafeString(
    "<p class='text-secondary mb-0'>nbjobs has no record in this database yet: its tables are created by "
    "<code>nbjobs db upgrade</code> and filled by the first <code>nbjobs apply</code>.</p>"
)
SHORT_ID = 12  # as `nbjobs history` shows apply ids


def panel(record: JobRecord, class_path: str, latest: ManagedJob | None = None) -> SafeString:
    """The panel's body. `latest` is any managed job's row (when this job is not managed): it tells which
    apply the "not managed" verdict dates from."""
    if not record.present:
        return NOT_PRESENT
    parts: list[SafeString] = []
    managed = record.managed
    if managed is None:
        when = _recorded(latest.apply, latest.recorded_at) if latest is not None else SafeString("no apply yet")
        parts.append(format_html(
            "<p><strong>Not managed by nbjobs</strong>: no manifest entry matches <code>{}</code> ({}). "
            "Changes made here stay.</p>", class_path, when,
        ))  # fmt: skip
    else:
        parts.append(_owner(managed))
        if managed.management == "managed":
            parts.append(_fields_table(record.fields, managed.why))
            parts.append(SafeString(
                "<p class='text-secondary small'>Every other overridable field follows the job's code: an override "
                "set here is released on the next apply.</p>"
            ))  # fmt: skip
        parts.append(format_html("<p class='mb-1'>Recorded by {}.</p>", _recorded(record.recorded_by,
                                                                                   managed.recorded_at)))  # fmt: skip
    newer = record.last_change is not None and (record.recorded_by is None or record.last_change != record.recorded_by)
    if record.last_change is not None and newer:
        parts.append(format_html("<p class='mb-1'>Last changed by {}.</p>", _apply(record.last_change)))
    parts.append(_loop(record.loop))
    return format_html_join("\n", "{}", ((part,) for part in parts))


def banner(managed: ManagedJob, fields: Iterable[FieldRecord], run_consequence: str) -> SafeString:
    """The edit form's warning: which fields the manifests hold, where to change each, and what becomes of an
    edit here (the loop's policy)."""
    pinned = [f for f in fields if not f.ignored]
    why = format_html(": <em>{}</em>", managed.why) if managed.why else ""
    items = format_html_join(
        "", "<li><code>{}</code>: change <code>{}</code> instead{}</li>",
        ((f.field, f.location or "the manifests", format_html(" ({})", f.why) if f.why and f.why != managed.why
          else "") for f in pinned),
    )  # fmt: skip
    return format_html(
        "<strong>This job is managed by nbjobs</strong> (<code>{}</code>{}). The manifests set {}; {}:"
        "<ul class='text-start d-inline-block mb-0'>{}</ul>",
        managed.location, why, _names(f.field for f in pinned), run_consequence, items,
    )  # fmt: skip


def _owner(managed: ManagedJob) -> SafeString:
    why = format_html(": <em>{}</em>", managed.why) if managed.why else ""
    if managed.management == "retire":
        return format_html("<p><strong>Being retired by nbjobs</strong> (<code>{}</code>){}</p>", managed.location, why)
    return format_html("<p><strong>Managed by nbjobs</strong> from <code>{}</code>{}</p>", managed.location, why)


def _fields_table(fields: Iterable[FieldRecord], job_why: str | None) -> SafeString:
    """A field's `why` is shown under its location where it is not the job's own (a field a glob entry sets)."""
    rows = format_html_join(
        "\n", "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td><code class='text-break'>{}</code>{}</td></tr>",
        ((f.field, _value(f), _code(f), f.location or "",
          format_html("<br><em class='small'>{}</em>", f.why) if f.why and f.why != job_why else "") for f in fields),
    )  # fmt: skip
    return format_html(
        "<table class='table table-sm table-hover nb-table-headings' id='nbjobs-fields'><thead><tr><th>Field</th>"
        "<th>Manifest</th><th>Code</th><th>Set at</th></tr></thead><tbody>{}</tbody></table>",
        rows or format_html("<tr><td colspan='4' class='text-secondary'>{}</td></tr>", "no field pinned"),
    )


def _value(field: FieldRecord) -> SafeString:
    if field.ignored:
        return SafeString("<span class='text-secondary'>left to the UI (<code>ignore:</code>)</span>")
    return format_html("{}", show(field.value))


def _code(field: FieldRecord) -> SafeString:
    if field.ignored or not field.has_code_value:
        return SafeString("<span class='text-secondary'>&mdash;</span>")
    return format_html("{}", show(field.code_value))


def _loop(loop: LoopView | None) -> SafeString:
    if loop is None:
        return format_html("<p class='mb-1 text-secondary'>{}</p>", "nbjobs' reconcile loop has not run here.")
    run = loop.run
    head = format_html(
        "<p class='mb-1'>Reconcile loop (target <code>{}</code>, policy <strong>{}</strong>): <strong>{}</strong>, "
        "checked {}.</p>", run.target, run.policy, run.state.replace("_", " "), _when(run.last_checked_at),
    )  # fmt: skip
    lines = [(format_html("drift: <code>{}</code> is {}, the manifests want {}{}", e.get("field") or "record",
                          show(e.get("actual")), show(e.get("desired")), _who(e)),) for e in loop.drift]  # fmt: skip
    lines += [(format_html("healed: <code>{}</code> {} &rarr; {}{}", e.get("field") or "record", show(e.get("actual")),
                           show(e.get("desired")), _who(e)),) for e in loop.healed]  # fmt: skip
    lines += [(format_html("pending: retirement step {}: {} (<code>{}</code>)", e.get("step"), e.get("reason"),
                           e.get("location") or ""),) for e in loop.pending]  # fmt: skip
    if not lines:
        lines = [(SafeString("no drift and no pending step for this job."),)]
    return format_html("{}<ul class='mb-0' id='nbjobs-loop'>{}</ul>", head, format_html_join("", "<li>{}</li>", lines))


def _who(entry: dict[str, Any]) -> SafeString | str:
    who = entry.get("attribution") or entry.get("changed_by")
    return format_html(" ({})", who) if who else ""


def _recorded(apply: Apply | None, at: datetime) -> SafeString:
    return _apply(apply) if apply is not None else format_html("an apply at {}", _when(at))


def _apply(apply: Apply) -> SafeString:
    revision = format_html(", manifests at <code>{}</code>", apply.revision) if apply.revision else ""
    user = format_html(" as {}", apply.user_name) if apply.user_name else ""
    return format_html("apply <code>{}</code> at {}{}{} ({})", apply.id.hex[:SHORT_ID], _when(apply.started_at),
                       revision, user, apply.outcome)  # fmt: skip


def _when(value: datetime | None) -> str:
    if value is None:
        return "never"
    return str(timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S %Z"))


def show(value: Any) -> str:
    """A stored value as the manifests write it: true/false, 3600, [a, b], text as it is."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return "[" + ", ".join(show(v) for v in value) + "]"
    if value is None:
        return "null"
    if isinstance(value, str):
        return value
    return json.dumps(value)


def _names(names: Iterable[str]) -> SafeString:
    return format_html_join(", ", "<code>{}</code>", ((name,) for name in names))


def consequence_for(loop: LoopView | None) -> str:
    return consequence(loop.run if loop else None)
