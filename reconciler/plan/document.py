"""The plan as a JSON document: the contract CI tools read, and the body of a saved plan.

`format_version` changes only with breaking changes: keys are only ever added. Each operation carries a
`reason_code` (codec.reason_codes); `resource_drift`, as Terraform's, lists apart from the planned changes
the managed values whose database value differs from what the manifests pin. Pure.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from reconciler.plan.codec import encode_location, encode_operation, encode_value, reason_codes
from reconciler.plan.operations import Note, Plan, SetEnabled, SetField, UpdateQueue
from reconciler.plan.permissions import required_permissions
from reconciler.plan.summary import Summary

FORMAT_VERSION = 1


def plan_document(plan: Plan, *, revision: str | None = None) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "database": plan.database,
        "revision": revision,
        "summary": asdict(Summary.of(plan)),
        "managed_jobs": plan.managed_jobs,
        "permissions": [{"permission": r.permission, "object": r.label} for r in required_permissions(plan)],
        "operations": [{**encode_operation(op), "reason_code": reason}
                       for op, reason in zip(plan.operations, reason_codes(plan), strict=True)],
        "resource_drift": resource_drift(plan),
        "retirements": [
            {"job": r.class_path, "location": encode_location(r.location), "step": r.step, "step_name": r.step_name,
             "this_run": list(r.this_run), "blockers": list(r.blockers), "next_run": r.next_run}
            for r in plan.retirements
        ],
        "purges": [{"job": path, "results": count, "reason_code": "retirement-step-5"} for path, count in plan.purges],
        "notes": [_note(note) for note in plan.notes],
    }  # fmt: skip


def resource_drift(plan: Plan) -> list[dict[str, Any]]:
    """Managed values whose database value differs from what the manifests pin: job fields and enabled
    flags, declared queues' columns (a flag alone, a release or a repair is a planned change, not drift).
    `changed_since_apply` is true where nbjobs had applied that very pin (so the database moved, not the
    manifest), false where the pin is new or changed, null where nbjobs keeps no history for it (queues)."""
    drift: list[dict[str, Any]] = []
    for op, reason in zip(plan.operations, reason_codes(plan), strict=True):
        if isinstance(op, SetField) and op.provenance.manifest is not None and op.before != op.after:
            drift.append({"object": "job", "job": op.job.class_path, "field": op.field,
                          "database": encode_value(op.before), "database_override": op.override_before,
                          "manifest": encode_value(op.after), "changed_since_apply": op.provenance.reverts_drift,
                          "location": encode_location(op.provenance.manifest_location)})  # fmt: skip
        elif isinstance(op, SetEnabled) and reason in ("enabled", "disabled", "drift-reverted"):
            drift.append({"object": "job", "job": op.job.class_path, "field": "enabled", "database": op.before,
                          "database_override": None, "manifest": op.after, "changed_since_apply": op.reverts_drift,
                          "location": encode_location(op.location)})  # fmt: skip
        elif isinstance(op, UpdateQueue):
            drift += [{"object": "queue", "queue": op.name, "field": column, "database": before,
                       "database_override": None, "manifest": after, "changed_since_apply": None,
                       "location": encode_location(op.location)}
                      for column, before, after in op.changes]  # fmt: skip
    return drift


def _note(note: Note) -> dict[str, Any]:
    return {"kind": note.kind.value, "message": note.message, "job": note.job,
            "location": encode_location(note.location)}  # fmt: skip
