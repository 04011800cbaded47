"""The plan as JSON: the contract CI tools read. `format_version` changes only with breaking changes."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from reconciler.diagnostics import Location
from reconciler.plan.operations import CreateQueue, Operation, Plan, SetEnabled, SetField, UpdateQueue
from reconciler.render.summary import Summary

FORMAT_VERSION = 1

_TYPES = {CreateQueue: "create_queue", UpdateQueue: "update_queue", SetField: "set_field", SetEnabled: "set_enabled"}


def plan_document(plan: Plan, *, revision: str | None = None) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "database": plan.database,
        "revision": revision,
        "summary": asdict(Summary.of(plan)),
        "managed_jobs": plan.managed_jobs,
        "operations": [_operation(op) for op in plan.operations],
        "notes": [_plain(asdict(note)) for note in plan.notes],
    }


def render_json(plan: Plan, *, revision: str | None = None) -> str:
    return json.dumps(plan_document(plan, revision=revision), indent=2, sort_keys=False) + "\n"


def _operation(op: Operation) -> dict[str, Any]:
    data = _plain(asdict(op))
    data.pop("phase", None)
    return {"type": _TYPES[type(op)], **data}


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"file", "line", "column"}:
            return str(Location(**value))
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)  # UUIDs, enums
