"""The plan as a JSON document: the contract CI tools read, and the body of a saved plan.

`format_version` changes only with breaking changes. Pure.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from reconciler.plan.codec import encode_location, encode_operation
from reconciler.plan.operations import Note, Plan
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
        "operations": [encode_operation(op) for op in plan.operations],
        "retirements": [
            {"job": r.class_path, "location": encode_location(r.location), "step": r.step, "step_name": r.step_name,
             "this_run": list(r.this_run), "blockers": list(r.blockers), "next_run": r.next_run}
            for r in plan.retirements
        ],
        "purges": [{"job": path, "results": count} for path, count in plan.purges],
        "notes": [_note(note) for note in plan.notes],
    }  # fmt: skip


def _note(note: Note) -> dict[str, Any]:
    return {"kind": note.kind.value, "message": note.message, "job": note.job,
            "location": encode_location(note.location)}  # fmt: skip
