"""nbjobs' own tables. Their schema is created and evolved only by the Alembic migrations beside this
module (`nbjobs db upgrade`); this metadata is what the code reads and writes through."""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, Float, ForeignKey, Index, Integer, MetaData, String, Table, Text, Uuid

from reconciler.dbtypes import BigIdentity, UtcDateTime

VERSION_TABLE = "nbjobs_alembic_version"

metadata = MetaData()

nbjobs_meta = Table(
    "nbjobs_meta",
    metadata,
    Column("key", String(100), primary_key=True),
    Column("value", String(400), nullable=False),
)

nbjobs_lock = Table(
    "nbjobs_lock",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("state", String(20), nullable=False),  # held | released
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("revision", String(100), nullable=True),
    Column("user_name", String(150), nullable=True),
)

nbjobs_apply = Table(
    "nbjobs_apply",
    metadata,
    Column("id", Uuid(), primary_key=True),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("finished_at", UtcDateTime(), nullable=True),
    Column("user_name", String(150), nullable=False),
    Column("host", String(255), nullable=False),
    Column("revision", String(100), nullable=True),
    Column("plan_digest", String(64), nullable=True),
    Column("sources_digest", String(64), nullable=True),
    Column("database", String(400), nullable=False),
    Column("outcome", String(20), nullable=False),  # applied | no-changes | refused | failed
    Column("message", Text, nullable=False),
    Column("counts", JSON, nullable=False),
    Column("request_id", Uuid(), nullable=True),  # the change log's request_id for this apply
)

nbjobs_apply_change = Table(
    "nbjobs_apply_change",
    metadata,
    Column("id", BigIdentity, primary_key=True, autoincrement=True),
    Column("apply_id", Uuid(), ForeignKey("nbjobs_apply.id"), nullable=False, index=True),
    Column("seq", Integer, nullable=False),
    Column("object_type", String(50), nullable=False),  # job | jobqueue
    Column("object_id", Uuid(), nullable=True),
    Column("object_repr", String(255), nullable=False),
    Column("field", String(100), nullable=True),
    Column("before", JSON, nullable=True),
    Column("after", JSON, nullable=True),
    Column("verdict", String(50), nullable=True),
    Index("nbjobs_apply_change_object_field", "object_type", "object_id", "field"),
)

nbjobs_tombstone = Table(
    "nbjobs_tombstone",
    metadata,
    Column("class_path", String(201), primary_key=True),
    Column("job_id", Uuid(), nullable=False),
    Column("job_name", String(100), nullable=False),
    Column("retired_at", UtcDateTime(), nullable=False),
    Column("revision", String(100), nullable=True),
    Column("apply_id", Uuid(), nullable=True),
)

# Results of a deleted job, captured before the delete nulls their job link, waiting to be purged.
nbjobs_retired_result = Table(
    "nbjobs_retired_result",
    metadata,
    Column("result_id", Uuid(), primary_key=True),
    Column("class_path", String(201), nullable=False, index=True),
)

# One row per tick of the reconcile loop that planned; an idle tick only bumps the newest row's
# last_checked_at and idle_ticks (the loop's idle budget is three statements).
nbjobs_run = Table(
    "nbjobs_run",
    metadata,
    Column("id", Uuid(), primary_key=True),
    Column("target", String(64), nullable=False),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("finished_at", UtcDateTime(), nullable=False),
    Column("last_checked_at", UtcDateTime(), nullable=False),
    Column("idle_ticks", Integer, nullable=False),
    Column("duration_seconds", Float, nullable=False),
    Column("interval_seconds", Float, nullable=True),  # the loop's interval then: when the next tick is due
    Column("host", String(255), nullable=False),
    Column("revision", String(64), nullable=True),  # the manifests' commit
    Column("policy", String(20), nullable=False),  # detect | heal
    Column("prune", Boolean, nullable=False),
    Column("state", String(20), nullable=False),  # in_sync | drifted | pending | error | suspended
    Column("observed", String(20), nullable=False),  # what it saw, whatever it did (suspended keeps reporting)
    Column("action", String(30), nullable=False),  # none | applied | denied-by-window | suspended | failed
    Column("message", Text, nullable=False),
    Column("rows_fingerprint", String(64), nullable=True),
    Column("code_fingerprint", String(64), nullable=True),
    Column("permanent_error", Boolean, nullable=False),  # not retried until the revision or the code changes
    Column("drift", JSON, nullable=False),  # [{job, field, desired, actual, changed_by, changed_at}]
    Column("pending", JSON, nullable=False),  # [{job, step, reason}]
    Column("errors", JSON, nullable=False),  # [{message, location, transient}]
    Column("preflight", JSON, nullable=True),  # queue readiness, when the loop checks it
    Column("audit", JSON, nullable=True),  # the audit's findings, when the loop audits (audit = true)
    Column("apply_id", Uuid(), ForeignKey("nbjobs_apply.id"), nullable=True),
    Index("nbjobs_run_target_started", "target", "started_at"),
)

# Who owns what as of the last apply (rewritten by each apply from manifests): what Nautobot's UI (the
# nbjobs App) and `nbjobs audit` read. A job with a row here is managed by nbjobs.
nbjobs_managed_job = Table(
    "nbjobs_managed_job",
    metadata,
    Column("job_id", Uuid(), primary_key=True),
    Column("class_path", String(201), nullable=False),
    Column("management", String(20), nullable=False),  # managed | retire
    Column("location", String(400), nullable=True),  # the winning manifest entry, file:line:column
    Column("why", Text, nullable=True),
    Column("apply_id", Uuid(), ForeignKey("nbjobs_apply.id"), nullable=True),
    Column("revision", String(100), nullable=True),
    Column("recorded_at", UtcDateTime(), nullable=False),
)

# Each field a manifest pins (`enabled` and the queues included) or leaves to the UI (`ignored`).
nbjobs_managed_field = Table(
    "nbjobs_managed_field",
    metadata,
    Column("job_id", Uuid(), primary_key=True),
    Column("field", String(100), primary_key=True),
    Column("class_path", String(201), nullable=False),
    Column("value", JSON, nullable=True),  # the pinned value (a list of names for job_queues); null if ignored
    Column("ignored", Boolean, nullable=False),
    Column("location", String(400), nullable=True),
    Column("why", Text, nullable=True),
    Column("apply_id", Uuid(), ForeignKey("nbjobs_apply.id"), nullable=True),
    Column("revision", String(100), nullable=True),
    Column("recorded_at", UtcDateTime(), nullable=False),
)

# The class value nbjobs saw for each field overridden in the database at an apply, and the Nautobot
# extras level then: after an upgrade, an override that now hides a changed default shows up (audit).
nbjobs_code_value = Table(
    "nbjobs_code_value",
    metadata,
    Column("class_path", String(201), primary_key=True),
    Column("field", String(100), primary_key=True),
    Column("value", JSON, nullable=True),
    Column("extras_level", String(100), nullable=True),
    Column("apply_id", Uuid(), ForeignKey("nbjobs_apply.id"), nullable=True),
    Column("recorded_at", UtcDateTime(), nullable=False),
)
