"""Read-only viewsets. Permission (decided for the App, see the README's "Inside Nautobot"): whoever may view
Jobs in Nautobot (`extras.view_job`) may read who owns them, and only for the jobs they may view: an
ObjectPermission that limits a user to some jobs limits their managed jobs, fields, class values and the
loop's drift and pending entries alike. The apply history holds no per-job data and needs `extras.view_job`.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from nautobot.extras.models import Job
from rest_framework import mixins, viewsets
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from reconciler_nautobot.api import serializers
from reconciler_nautobot.models import Apply, CodeValue, ManagedField, ManagedJob, Run

VIEW_JOBS = "extras.view_job"


class CanViewJobs(BasePermission):
    """Nautobot's own rule for reading Jobs: `extras.view_job` (an anonymous request only where Jobs are in
    EXEMPT_VIEW_PERMISSIONS, as Nautobot's permission backend decides)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(request.user.has_perm(VIEW_JOBS))


def viewable_jobs(request: Request) -> QuerySet[Any]:
    return Job.objects.restrict(request.user, "view")


def viewable_class_paths(request: Request) -> set[str] | None:
    """None: every job (a superuser, or a permission without constraints)."""
    if request.user.is_superuser:
        return None
    return {f"{module}.{name}" for module, name in viewable_jobs(request).values_list("module_name", "job_class_name")}


class _ReadOnly(viewsets.ReadOnlyModelViewSet):
    permission_classes = (CanViewJobs,)


class ManagedJobViewSet(_ReadOnly):
    serializer_class = serializers.ManagedJobSerializer
    queryset = ManagedJob.objects.all()

    def get_queryset(self) -> QuerySet[ManagedJob]:
        queryset = ManagedJob.objects.filter(job_id__in=viewable_jobs(self.request).values("pk"))
        for name in ("class_path", "management", "job_id"):
            if name in self.request.query_params:
                queryset = queryset.filter(**{name: self.request.query_params[name]})
        return queryset.order_by("class_path")

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        jobs = list(page if page is not None else queryset)
        grouped: dict[Any, list[ManagedField]] = {}
        for row in ManagedField.objects.filter(job_id__in=[job.job_id for job in jobs]):  # one query per page
            grouped.setdefault(row.job_id, []).append(row)
        data = self.get_serializer(jobs, many=True, context={**self.get_serializer_context(), "fields": grouped}).data
        return self.get_paginated_response(data) if page is not None else Response(data)


class ApplyViewSet(_ReadOnly):
    serializer_class = serializers.ApplySerializer
    queryset = Apply.objects.order_by("-started_at")


class RunViewSet(_ReadOnly):
    """The loop's runs; drift and pending entries of jobs the user may not view are left out."""

    serializer_class = serializers.RunSerializer
    queryset = Run.objects.order_by("-started_at")

    def get_serializer(self, *args: Any, **kwargs: Any) -> Any:
        serializer = super().get_serializer(*args, **kwargs)
        allowed = viewable_class_paths(self.request)
        if allowed is not None:
            runs = args[0] if args else None
            for run in runs if isinstance(runs, list | tuple) else [runs] if runs is not None else []:
                run.drift = [e for e in run.drift or () if e.get("job") is None or e.get("job") in allowed]
                run.pending = [e for e in run.pending or () if e.get("job") in allowed]
        return serializer


class CodeValueViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """The class values under overrides (keyed by class path and field: a list, no detail route)."""

    permission_classes = (CanViewJobs,)
    serializer_class = serializers.CodeValueSerializer
    queryset = CodeValue.objects.all()

    def get_queryset(self) -> QuerySet[CodeValue]:
        queryset = CodeValue.objects.order_by("class_path", "field")
        allowed = viewable_class_paths(self.request)
        if allowed is not None:
            queryset = queryset.filter(class_path__in=sorted(allowed))
        if "class_path" in self.request.query_params:
            queryset = queryset.filter(class_path=self.request.query_params["class_path"])
        return queryset
