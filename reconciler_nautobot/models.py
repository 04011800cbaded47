"""nbjobs' own tables, read through Django (unmanaged models: Django never creates, alters nor writes them).

nbjobs creates and evolves these tables with its own Alembic migrations (`nbjobs db upgrade`); the columns
here follow reconciler/state/tables.py, which a test holds them to. Every model is read-only: `save()` and
`delete()` refuse, so nothing in Nautobot can write nbjobs' record through them.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import models


class StoredJSONField(models.JSONField):
    """nbjobs stores JSON as `json` on PostgreSQL (Django's JSONField expects `jsonb`, which the driver hands
    over as text): a value the driver has decoded already is taken as it is."""

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if value is None or not isinstance(value, str | bytes | bytearray):
            return value
        return super().from_db_value(value, expression, connection)


class StoredUUIDField(models.UUIDField):
    """nbjobs stores ids as 32 hex characters outside PostgreSQL (SQLAlchemy's Uuid), while Django 5 on MariaDB
    10.7+ speaks MariaDB's native UUID (with dashes): ids are sent and read here in nbjobs' form."""

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        if value is None:
            return None
        value = value if isinstance(value, uuid.UUID) else self.to_python(value)
        return value if connection.vendor == "postgresql" else value.hex

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> uuid.UUID | None:
        return None if value is None else self.to_python(value)


class ReadOnlyModel(models.Model):
    """A row of nbjobs' record: nbjobs writes it, Nautobot only reads it."""

    class Meta:
        abstract = True
        managed = False

    def save(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError(f"{type(self).__name__} is nbjobs' record: only nbjobs writes it")

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise TypeError(f"{type(self).__name__} is nbjobs' record: only nbjobs writes it")


class Apply(ReadOnlyModel):
    """One `nbjobs apply` (applied, no-changes, refused or failed)."""

    id = StoredUUIDField(primary_key=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True)
    user_name = models.CharField(max_length=150)
    host = models.CharField(max_length=255)
    revision = models.CharField(max_length=100, null=True)
    plan_digest = models.CharField(max_length=64, null=True)
    sources_digest = models.CharField(max_length=64, null=True)
    database = models.CharField(max_length=400)
    outcome = models.CharField(max_length=20)
    message = models.TextField()
    counts = StoredJSONField()
    request_id = StoredUUIDField(null=True)

    class Meta(ReadOnlyModel.Meta):
        db_table = "nbjobs_apply"
        ordering = ("-started_at",)
        verbose_name = "nbjobs apply"

    def __str__(self) -> str:
        return f"apply {self.id.hex[:12]} ({self.outcome})"


class ApplyChange(ReadOnlyModel):
    """One change an apply made (a job's field, a queue, a retirement step)."""

    id = models.BigIntegerField(primary_key=True)
    apply = models.ForeignKey(Apply, on_delete=models.DO_NOTHING, related_name="changes", db_constraint=False)
    seq = models.IntegerField()
    object_type = models.CharField(max_length=50)
    object_id = StoredUUIDField(null=True)
    object_repr = models.CharField(max_length=255)
    field = models.CharField(max_length=100, null=True)
    before = StoredJSONField(null=True)
    after = StoredJSONField(null=True)
    verdict = models.CharField(max_length=50, null=True)

    class Meta(ReadOnlyModel.Meta):
        db_table = "nbjobs_apply_change"
        verbose_name = "nbjobs apply change"


class Run(ReadOnlyModel):
    """One tick of nbjobs' reconcile loop that planned (idle ticks only bump `last_checked_at`)."""

    id = StoredUUIDField(primary_key=True)
    target = models.CharField(max_length=64)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    last_checked_at = models.DateTimeField()
    idle_ticks = models.IntegerField()
    duration_seconds = models.FloatField()
    interval_seconds = models.FloatField(null=True)
    host = models.CharField(max_length=255)
    revision = models.CharField(max_length=64, null=True)
    policy = models.CharField(max_length=20)  # detect | heal
    prune = models.BooleanField()
    state = models.CharField(max_length=20)  # in_sync | drifted | pending | error | suspended
    observed = models.CharField(max_length=20)
    action = models.CharField(max_length=30)
    message = models.TextField()
    rows_fingerprint = models.CharField(max_length=64, null=True)
    code_fingerprint = models.CharField(max_length=64, null=True)
    permanent_error = models.BooleanField()
    drift = StoredJSONField()  # [{job, field, desired, actual, changed_by, changed_at, attribution, healed?}]
    pending = StoredJSONField()  # [{job, step, reason, location}]
    errors = StoredJSONField()  # [{message, location, transient}]
    preflight = StoredJSONField(null=True)
    audit = StoredJSONField(null=True)  # `nbjobs audit`'s findings, when the loop audits
    apply = models.ForeignKey(Apply, on_delete=models.DO_NOTHING, null=True, related_name="+", db_constraint=False)

    class Meta(ReadOnlyModel.Meta):
        db_table = "nbjobs_run"
        ordering = ("-started_at",)
        verbose_name = "nbjobs reconcile run"

    def __str__(self) -> str:
        return f"run {self.id.hex[:12]} of {self.target} ({self.state})"


class ManagedJob(ReadOnlyModel):
    """A job the manifests manage (or retire), as of the last apply: the winning entry and its `why`."""

    job_id = StoredUUIDField(primary_key=True)
    class_path = models.CharField(max_length=201)
    management = models.CharField(max_length=20)  # managed | retire
    location = models.CharField(max_length=400, null=True)  # file:line:column
    why = models.TextField(null=True)
    apply = models.ForeignKey(Apply, on_delete=models.DO_NOTHING, null=True, related_name="+", db_constraint=False)
    revision = models.CharField(max_length=100, null=True)
    recorded_at = models.DateTimeField()

    class Meta(ReadOnlyModel.Meta):
        db_table = "nbjobs_managed_job"
        ordering = ("class_path",)
        verbose_name = "job managed by nbjobs"

    def __str__(self) -> str:
        return str(self.class_path)


class ManagedField(ReadOnlyModel):
    """A field a manifest pins (`value`) or leaves to the UI (`ignored`), and where that is written."""

    pk = models.CompositePrimaryKey("job_id", "field")
    job_id = StoredUUIDField()
    field = models.CharField(max_length=100)
    class_path = models.CharField(max_length=201)
    value = StoredJSONField(null=True)
    ignored = models.BooleanField()
    location = models.CharField(max_length=400, null=True)
    why = models.TextField(null=True)
    apply = models.ForeignKey(Apply, on_delete=models.DO_NOTHING, null=True, related_name="+", db_constraint=False)
    revision = models.CharField(max_length=100, null=True)
    recorded_at = models.DateTimeField()

    class Meta(ReadOnlyModel.Meta):
        db_table = "nbjobs_managed_field"
        ordering = ("class_path", "field")
        verbose_name = "field managed by nbjobs"

    def __str__(self) -> str:
        return f"{self.class_path}.{self.field}"


class CodeValue(ReadOnlyModel):
    """The class value under a field overridden in the database, as nbjobs saw it at the last apply."""

    pk = models.CompositePrimaryKey("class_path", "field")
    class_path = models.CharField(max_length=201)
    field = models.CharField(max_length=100)
    value = StoredJSONField(null=True)
    extras_level = models.CharField(max_length=100, null=True)
    apply = models.ForeignKey(Apply, on_delete=models.DO_NOTHING, null=True, related_name="+", db_constraint=False)
    recorded_at = models.DateTimeField()

    class Meta(ReadOnlyModel.Meta):
        db_table = "nbjobs_code_value"
        ordering = ("class_path", "field")
        verbose_name = "class value under an override"

    def __str__(self) -> str:
        return f"{self.class_path}.{self.field}"
