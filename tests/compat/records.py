"""Reads the Job records of a database (Nautobot's or the sandbox's) into comparable plain values."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from sqlalchemy import MetaData, Table, create_engine, select

# Columns that differ by nature between two databases built at different moments.
VOLATILE_COLUMNS = frozenset({"id", "created", "last_updated"})
SYSTEM_PREFIX = "nautobot."

JobKey = tuple[str, str]


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, uuid.UUID):
        return value.hex
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def job_columns(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        table = Table("extras_job", MetaData(), autoload_with=engine)
        return [c.name for c in table.columns]
    finally:
        engine.dispose()


def read_jobs(url: str, columns: Iterable[str] | None = None, include_system: bool = False
              ) -> dict[JobKey, dict[str, Any]]:  # fmt: skip
    """Every (non-system) extras_job row by (module_name, job_class_name): the given columns (default all but
    id/created/last_updated, reflected from the database itself), plus `default_job_queue` and `job_queues` as
    queue names. Booleans, floats and JSON are normalised so that PostgreSQL, MySQL and SQLite compare equal."""
    engine = create_engine(url)
    try:
        md = MetaData()
        job = Table("extras_job", md, autoload_with=engine)
        queue = Table("extras_jobqueue", md, autoload_with=engine)
        assignment = Table("extras_jobqueueassignment", md, autoload_with=engine)
        wanted = [c for c in (columns or [c.name for c in job.columns]) if c not in VOLATILE_COLUMNS]
        with engine.connect() as connection:
            queue_names = {_plain(i): n for i, n in connection.execute(select(queue.c.id, queue.c.name))}
            assigned: dict[Any, set[str]] = {}
            for job_id, queue_id in connection.execute(select(assignment.c.job_id, assignment.c.job_queue_id)):
                assigned.setdefault(_plain(job_id), set()).add(queue_names[_plain(queue_id)])
            result: dict[JobKey, dict[str, Any]] = {}
            for row in connection.execute(select(job)):
                data = row._mapping
                if not include_system and data["module_name"].startswith(SYSTEM_PREFIX):
                    continue
                record = {c: _normalise(c, data[c], job) for c in wanted if c != "default_job_queue_id"}
                record["default_job_queue"] = queue_names.get(_plain(data["default_job_queue_id"]))
                record["job_queues"] = sorted(assigned.get(_plain(data["id"]), set()))
                result[(data["module_name"], data["job_class_name"])] = record
            return result
    finally:
        engine.dispose()


def _normalise(column: str, value: Any, table: Table) -> Any:
    value = _plain(value)
    python_type: type | None
    try:
        python_type = table.c[column].type.python_type
    except NotImplementedError:
        python_type = None
    if python_type is bool or column.endswith("_override") or column in _BOOLEAN_COLUMNS:
        return None if value is None else bool(value)
    if column in ("soft_time_limit", "time_limit"):
        return float(value)
    return value


_BOOLEAN_COLUMNS = frozenset({
    "installed", "enabled", "is_job_hook_receiver", "is_job_button_receiver", "has_sensitive_variables",
    "is_singleton", "console_log_default", "hidden", "dryrun_default", "read_only", "supports_dryrun",
})  # fmt: skip


def differences(nautobot: dict[JobKey, dict[str, Any]], nbjobs: dict[JobKey, dict[str, Any]]) -> list[str]:
    """Human-readable differences, field by field; empty when the two sets of records are equal."""
    out: list[str] = []
    for key in sorted(set(nautobot) | set(nbjobs)):
        path = ".".join(key)
        if key not in nbjobs:
            out.append(f"{path}: Nautobot created a record, nbjobs sandbox did not: {nautobot[key]}")
        elif key not in nautobot:
            out.append(f"{path}: nbjobs sandbox created a record, Nautobot did not: {nbjobs[key]}")
        else:
            for field in sorted(set(nautobot[key]) | set(nbjobs[key])):
                a, b = nautobot[key].get(field, "<missing>"), nbjobs[key].get(field, "<missing>")
                if a != b:
                    out.append(f"{path}.{field}: Nautobot {a!r} != nbjobs {b!r}")
    return out


def read_queues(url: str) -> dict[str, dict[str, Any]]:
    """extras_jobqueue by name: every column but id/created/last_updated."""
    engine = create_engine(url)
    try:
        queue = Table("extras_jobqueue", MetaData(), autoload_with=engine)
        with engine.connect() as connection:
            return {
                row.name: {k: _plain(v) for k, v in row._mapping.items() if k not in VOLATILE_COLUMNS}
                for row in connection.execute(select(queue))
            }
    finally:
        engine.dispose()
