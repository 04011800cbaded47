"""What the REST endpoints return: nbjobs' record as it is stored, with the managed fields nested in their job."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from reconciler_nautobot.models import Apply, CodeValue, ManagedField, ManagedJob, Run


class ManagedFieldSerializer(serializers.ModelSerializer):
    class Meta:
        model = ManagedField
        fields = ("field", "value", "ignored", "location", "why")


class ManagedJobSerializer(serializers.ModelSerializer):
    """A managed job, its pinned and ignored fields, and the apply that recorded them."""

    apply_id = serializers.UUIDField(read_only=True)
    fields = serializers.SerializerMethodField(method_name="fields_of")

    class Meta:
        model = ManagedJob
        fields = ("job_id", "class_path", "management", "location", "why", "apply_id", "revision", "recorded_at",
                  "fields")  # fmt: skip

    def fields_of(self, job: ManagedJob) -> list[dict[str, Any]]:
        grouped: dict[Any, list[ManagedField]] | None = self.context.get("fields")
        rows = grouped.get(job.job_id, []) if grouped is not None else ManagedField.objects.filter(job_id=job.job_id)
        return [dict(ManagedFieldSerializer(row).data) for row in rows]


class ApplySerializer(serializers.ModelSerializer):
    class Meta:
        model = Apply
        fields = ("id", "started_at", "finished_at", "user_name", "revision", "outcome", "message", "counts",
                  "plan_digest", "sources_digest", "request_id")  # fmt: skip


class RunSerializer(serializers.ModelSerializer):
    apply_id = serializers.UUIDField(read_only=True)

    class Meta:
        model = Run
        fields = ("id", "target", "started_at", "finished_at", "last_checked_at", "idle_ticks", "revision",
                  "policy", "prune", "state", "observed", "action", "message", "drift", "pending", "errors",
                  "apply_id")  # fmt: skip


class CodeValueSerializer(serializers.ModelSerializer):
    apply_id = serializers.UUIDField(read_only=True)

    class Meta:
        model = CodeValue
        fields = ("class_path", "field", "value", "extras_level", "apply_id", "recorded_at")
