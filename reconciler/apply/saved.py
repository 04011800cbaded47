"""Saved plans: `nbjobs plan --out plan.json` and `nbjobs apply plan.json`.

A saved plan is the JSON plan document plus what makes applying it safe:
- the before-image of every row it touches (reconciler.nautobot.images), compared again inside the
  apply's transaction: any difference refuses the apply, naming each job and field that moved;
- the identity of the database it was planned against (nbjobs' installation id and the database name);
- a digest of the manifests and code it came from (recorded in the history);
- a SHA-256 digest of the whole document, so a plan edited by hand or corrupted is refused. (The digest
  detects edits; it is not a signature against someone who can also recompute it.)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, text

from reconciler.diagnostics import NbjobsError
from reconciler.discovery.types import Discovery
from reconciler.manifest.types import DesiredState
from reconciler.nautobot.images import Image, read_images
from reconciler.plan.codec import DecodeError, decode_operation
from reconciler.plan.document import FORMAT_VERSION, plan_document
from reconciler.plan.images import touched
from reconciler.plan.operations import Plan
from reconciler.plan.ownership import Ownership, decode_ownership, encode_ownership
from reconciler.state.migrate import installation_id


class SavedPlanError(NbjobsError):
    """A plan file that cannot be applied as it is."""


@dataclass(frozen=True)
class SavedPlan:
    plan: Plan
    revision: str | None
    database_identity: str
    sources_digest: str
    before: dict[str, Image]
    digest: str
    ownership: Ownership | None = None  # who owns what once applied (older saved plans have none)


def database_identity(connection: Connection) -> str:
    name = {
        "postgresql": "SELECT current_database()",
        "mysql": "SELECT DATABASE()",
        "mariadb": "SELECT DATABASE()",
    }.get(connection.dialect.name)
    database = (
        connection.execute(text(name)).scalar() if name else str(Path(str(connection.engine.url.database)).resolve())
    )
    return hashlib.sha256(f"{installation_id(connection)}/{database}".encode()).hexdigest()[:32]


def sources_digest(desired: DesiredState, discovery: Discovery) -> str:
    """What the plan was made from: the merged manifests and the discovered classes, canonically encoded
    (so the same sources give the same digest wherever they were read)."""
    return hashlib.sha256(_canonical([_plain(desired), _plain(discovery)]).encode()).hexdigest()


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, frozenset | set):
        return sorted(_plain(v) for v in value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def build(
    connection: Connection, plan: Plan, *, revision: str | None, sources: str, ownership: Ownership | None = None
) -> dict[str, Any]:
    """The saved document; call in the same transaction as the snapshot the plan was made from."""
    rows = touched(plan)
    document = plan_document(plan, revision=revision)
    document["saved"] = {
        "database_identity": database_identity(connection),
        "sources_digest": sources,
        "before": read_images(connection, rows.job_ids, rows.queue_names),
    }
    if ownership is not None:
        document["saved"]["ownership"] = encode_ownership(ownership)
    document["digest"] = _digest(document)
    return document


def dumps(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, default=str) + "\n"


def load(path: Path) -> SavedPlan:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise SavedPlanError(f"{path}: cannot read the plan file ({exc})") from None
    except json.JSONDecodeError as exc:
        raise SavedPlanError(f"{path}:{exc.lineno}:{exc.colno}: not JSON: {exc.msg}") from None
    if not isinstance(document, dict) or document.get("format_version") != FORMAT_VERSION:
        raise SavedPlanError(f"{path}: not an nbjobs plan of format_version {FORMAT_VERSION}")
    if "saved" not in document or "digest" not in document:
        raise SavedPlanError(f"{path}: a plan to apply must be saved with `nbjobs plan --out FILE`")
    if _digest(document) != document["digest"]:
        raise SavedPlanError(f"{path}: the plan was edited or corrupted after it was saved (digest mismatch); "
                             "nothing was applied. Make a new plan.")  # fmt: skip
    try:
        operations = tuple(decode_operation(op) for op in document["operations"])
        saved = document["saved"]
        return SavedPlan(
            plan=Plan(
                operations,
                database=str(document["database"]),
                purges=tuple((str(p["job"]), int(p["results"])) for p in document.get("purges", [])),
            ),
            revision=document.get("revision"),
            database_identity=str(saved["database_identity"]),
            sources_digest=str(saved["sources_digest"]),
            before=dict(saved["before"]),
            digest=str(document["digest"]),
            ownership=decode_ownership(saved["ownership"]) if "ownership" in saved else None,
        )
    except (DecodeError, KeyError, TypeError) as exc:
        raise SavedPlanError(f"{path}: not a plan nbjobs wrote: {exc}") from None


def _digest(document: dict[str, Any]) -> str:
    return hashlib.sha256(_canonical({k: v for k, v in document.items() if k != "digest"}).encode()).hexdigest()


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
