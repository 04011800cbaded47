"""Operations to and from JSON-able values: what the JSON plan shows and what a saved plan is read back
from. Pure; round-trips exactly (decode(encode(op)) == op)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any
from uuid import UUID

from reconciler.diagnostics import Location
from reconciler.manifest.types import PinValue
from reconciler.plan.operations import (
    CreateQueue,
    DeleteJob,
    DisableReceivers,
    DisableSchedules,
    ForgetTombstone,
    JobRef,
    Named,
    Operation,
    Plan,
    Provenance,
    Retirement,
    SetEnabled,
    SetField,
    UpdateQueue,
    Verdict,
)

OPERATION_TYPES: dict[type, str] = {
    CreateQueue: "create_queue",
    UpdateQueue: "update_queue",
    SetField: "set_field",
    SetEnabled: "set_enabled",
    DisableReceivers: "disable_receivers",
    DisableSchedules: "disable_schedules",
    DeleteJob: "delete_job",
    ForgetTombstone: "forget_tombstone",
}
_BY_NAME = {name: kind for kind, name in OPERATION_TYPES.items()}


class DecodeError(ValueError):
    """A saved operation that is not one nbjobs wrote."""


def encode_location(location: Location | None) -> str | None:
    return None if location is None else str(location)


def decode_location(text: str | None) -> Location | None:
    if text is None:
        return None
    parts = text.rsplit(":", 2)
    if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
        return Location(parts[0], int(parts[1]), int(parts[2]))
    if len(parts) >= 2 and parts[-1].isdigit():
        return Location(text.rsplit(":", 1)[0], int(parts[-1]))
    return Location(text)


def encode_value(value: PinValue | None) -> Any:
    return list(value) if isinstance(value, tuple) else value


def decode_value(value: Any) -> PinValue | None:
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    if value is None or isinstance(value, str | bool | float):
        return value
    if isinstance(value, int):
        return float(value)
    raise DecodeError(f"not a field value: {value!r}")


# Why each operation is in the plan, as a code CI tools can match on (the JSON plan's `reason_code`).
REASON_CODES: dict[Verdict, str] = {
    Verdict.SET_OVERRIDE: "pinned",
    Verdict.RELEASE_OVERRIDE: "released",
    Verdict.REDUNDANT_PIN: "redundant-pin",
    Verdict.REPAIR: "repair",
}
QUEUE_DECLARED = "declared in manifests"  # the reason the planner gives a queue the manifests declare


def reason_codes(plan: Plan) -> list[str]:
    """Why each of the plan's operations is there: `pinned`, `released`, `redundant-pin`, `repair` (fields);
    `enabled`, `disabled`; `drift-reverted` (a pin or flag that nbjobs applied and something else changed
    since: the manifest did not move, the database did); `queue-declared`, `queue-from-code` (queues);
    `retirement-step-N` (the step of the retirement workflow it carries out), `retired-kept-disabled` (a
    retired job whose code came back), `retire-entry-removed` (the tombstone of a retirement no manifest
    names any more)."""
    retiring = {r.class_path: r for r in plan.retirements}
    deleted = {op.job.class_path for op in plan.operations if isinstance(op, DeleteJob)}
    return [_reason(op, retiring, deleted) for op in plan.operations]


def _reason(op: Operation, retiring: Mapping[str, Retirement], deleted: set[str]) -> str:
    if isinstance(op, SetField):
        return "drift-reverted" if op.provenance.reverts_drift else REASON_CODES[op.verdict]
    if isinstance(op, CreateQueue):
        return "queue-declared" if op.reason == QUEUE_DECLARED else "queue-from-code"
    if isinstance(op, UpdateQueue):
        return "queue-declared"
    if isinstance(op, ForgetTombstone):
        return "retire-entry-removed"
    if isinstance(op, DisableReceivers):
        return "retirement-step-1"
    if isinstance(op, DisableSchedules):
        return "retirement-step-2"
    if isinstance(op, DeleteJob):
        return "retirement-step-4"
    retirement = retiring.get(op.job.class_path)
    if retirement is not None and op.location == retirement.location:
        # A retirement disables at step 1; one that is done (no record deleted now) only keeps it disabled.
        kept = retirement.step == 6 and op.job.class_path not in deleted
        return "retired-kept-disabled" if kept else "retirement-step-1"
    if op.reverts_drift:
        return "drift-reverted"
    return "enabled" if op.after else "disabled"


def encode_operation(op: Operation) -> dict[str, Any]:
    data: dict[str, Any] = {"type": OPERATION_TYPES[type(op)]}
    for f in fields(op):
        if f.name == "phase":
            continue
        data[f.name] = _encode(getattr(op, f.name))
    return data


def _encode(value: Any) -> Any:
    if isinstance(value, JobRef):
        return {"id": str(value.id), "class_path": value.class_path, "name": value.name}
    if isinstance(value, Named):
        return {"id": str(value.id), "name": value.name}
    if isinstance(value, Provenance):
        return {
            "code": encode_value(value.code),
            "database": encode_value(value.database),
            "database_override": value.database_override,
            "manifest": encode_value(value.manifest),
            "manifest_location": encode_location(value.manifest_location),
            "why": value.why,
            "applied": encode_value(value.applied),
        }
    if isinstance(value, Location):
        return encode_location(value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, tuple):
        return [_encode(v) for v in value]
    return value  # str, bool, float, None, StrEnum


def decode_operation(data: dict[str, Any]) -> Operation:
    try:
        kind = _BY_NAME[data["type"]]
        if kind is CreateQueue:
            return CreateQueue(data["name"], data["queue_type"], data["description"], data["reason"],
                               decode_location(data["location"]))  # fmt: skip
        if kind is UpdateQueue:
            changes = tuple((str(c), str(b), str(a)) for c, b, a in data["changes"])
            return UpdateQueue(UUID(data["queue_id"]), data["name"], changes, _location(data["location"]))
        if kind is ForgetTombstone:
            return ForgetTombstone(str(data["class_path"]))
        job = JobRef(UUID(data["job"]["id"]), data["job"]["class_path"], data["job"]["name"])
        if kind is DisableReceivers:
            return DisableReceivers(job, _named(data["buttons"]), _named(data["hooks"]))
        if kind is DisableSchedules:
            return DisableSchedules(job, _named(data["schedules"]), _named(data["approvals"]))
        if kind is DeleteJob:
            return DeleteJob(job, bool(data["purge_results"]), int(data["results"]), _location(data["location"]),
                             data["why"])  # fmt: skip
        if kind is SetEnabled:
            applied = data.get("applied")  # absent from plans saved before nbjobs read its history
            return SetEnabled(job, bool(data["before"]), bool(data["after"]), _location(data["location"]), data["why"],
                              None if applied is None else bool(applied))  # fmt: skip
        p = data["provenance"]
        provenance = Provenance(
            decode_value(p["code"]), _value(p["database"]), bool(p["database_override"]),
            decode_value(p["manifest"]), decode_location(p["manifest_location"]), p["why"],
            decode_value(p.get("applied")),
        )  # fmt: skip
        before, after = _value(data["before"]), _value(data["after"])
        flags = bool(data["override_before"]), bool(data["override_after"])
        verdict = Verdict(data["verdict"])
        return SetField(job, data["field"], before, after, *flags, verdict, provenance, data["remark"])
    except (KeyError, TypeError, ValueError) as exc:
        raise DecodeError(f"malformed operation {data.get('type')!r}: {exc}") from None


def _named(items: list[dict[str, str]]) -> tuple[Named, ...]:
    return tuple(Named(UUID(item["id"]), str(item["name"])) for item in items)


def _location(text: str | None) -> Location:
    location = decode_location(text)
    if location is None:
        raise DecodeError("missing location")
    return location


def _value(raw: Any) -> PinValue:
    value = decode_value(raw)
    if value is None:
        raise DecodeError("missing value")
    return value
