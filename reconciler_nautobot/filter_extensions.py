"""A "Managed by" filter on Nautobot's Jobs list and its REST API (`?reconciler_nautobot_managed_by=nbjobs`).

Values: `nbjobs` (managed or being retired), `retiring` (named under `retire:`), `none` (no manifest entry).
"""

from __future__ import annotations

from typing import Any, ClassVar

import django_filters
from django import forms
from nautobot.apps.filters import FilterExtension

from reconciler_nautobot.record import managed_jobs
from reconciler_nautobot.table_extensions import APP

FILTER = f"{APP}_managed_by"
CHOICES = (("nbjobs", "nbjobs"), ("retiring", "nbjobs, being retired"), ("none", "not managed"))


def managed_by(queryset: Any, name: str, value: str) -> Any:
    """The ids are read first (one query), so a database without nbjobs' tables filters to "none managed"
    instead of failing the page."""
    if not value:
        return queryset
    owners = managed_jobs()
    if value == "none":
        return queryset.exclude(pk__in=list(owners))
    wanted = [job_id for job_id, job in owners.items() if value == "nbjobs" or job.management == "retire"]
    return queryset.filter(pk__in=wanted)


class JobFilterExtension(FilterExtension):
    model = "extras.job"
    filterset_fields: ClassVar[dict[str, Any]] = {
        FILTER: django_filters.ChoiceFilter(choices=CHOICES, method=managed_by, label="Managed by")
    }
    filterform_fields: ClassVar[dict[str, Any]] = {
        FILTER: forms.ChoiceField(choices=(("", "---------"), *CHOICES), required=False, label="Managed by")
    }


filter_extensions = [JobFilterExtension]
