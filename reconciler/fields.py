"""The Job record fields that admins may override, as Nautobot 3.2.7 defines them (spec section b).

Bottom layer: shared by the manifest, discovery, database and planner layers.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Final

Scalar = str | bool | float

# Nautobot's JOB_OVERRIDABLE_FIELDS (extras/constants.py), in its order. Each has a `<field>_override`
# flag. The queues (`job_queues`, `default_job_queue`) have flags too but are handled apart.
OVERRIDABLE_FIELDS: Final = (
    "grouping",
    "name",
    "description",
    "console_log_default",
    "dryrun_default",
    "hidden",
    "soft_time_limit",
    "time_limit",
    "has_sensitive_variables",
    "is_singleton",
)
QUEUE_FIELDS: Final = ("job_queues", "default_job_queue")
ALL_OVERRIDE_FLAGS: Final = OVERRIDABLE_FIELDS + QUEUE_FIELDS

FIELD_TYPES: Final[dict[str, type]] = {
    "grouping": str,
    "name": str,
    "description": str,
    "console_log_default": bool,
    "dryrun_default": bool,
    "hidden": bool,
    "soft_time_limit": float,
    "time_limit": float,
    "has_sensitive_variables": bool,
    "is_singleton": bool,
}

# Column widths of extras_job (psql \d): values longer than these cannot be stored.
FIELD_MAX_LENGTH: Final[dict[str, int]] = {"grouping": 255, "name": 100}

DEFAULT_QUEUE_NAME: Final = "default"  # Nautobot's CELERY_TASK_DEFAULT_QUEUE default


@dataclass(frozen=True)
class FieldValues:
    """The ten overridable scalar values of one Job, wherever they come from (code, database)."""

    grouping: str
    name: str
    description: str = ""
    console_log_default: bool = False
    dryrun_default: bool = False
    hidden: bool = False
    soft_time_limit: float = 0.0
    time_limit: float = 0.0
    has_sensitive_variables: bool = True
    is_singleton: bool = False

    def get(self, field: str) -> Scalar:
        value: Scalar = getattr(self, field)
        return value

    def with_values(self, **values: Scalar) -> FieldValues:
        return replace(self, **values)  # type: ignore[arg-type]

    def as_dict(self) -> dict[str, Scalar]:
        return {f.name: getattr(self, f.name) for f in fields(self)}
