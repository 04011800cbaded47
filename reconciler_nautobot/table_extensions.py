"""A "Managed by" column on Nautobot's Jobs list: nbjobs (with the manifest entry) or nothing.

One query per rendered table, whatever its length: the first cell reads every managed job at once.
"""

from __future__ import annotations

from typing import Any, ClassVar
from uuid import UUID

import django_tables2 as tables
from django.utils.html import format_html
from django.utils.safestring import SafeString
from nautobot.apps.tables import TableExtension

from reconciler_nautobot.models import ManagedJob
from reconciler_nautobot.record import managed_jobs

APP = "reconciler_nautobot"  # Nautobot asks an App's columns and filters to start with the App's name
COLUMN = f"{APP}_managed_by"


class ManagedByColumn(tables.Column):
    def __init__(self) -> None:
        super().__init__(verbose_name="Managed by", accessor="pk", empty_values=(), orderable=False)

    def render(self, record: Any, table: Any) -> SafeString:
        owners: dict[UUID, ManagedJob] | None = getattr(table, "_nbjobs_owners", None)
        if owners is None:
            owners = managed_jobs()
            table._nbjobs_owners = owners
        owner = owners.get(record.pk)
        if owner is None:
            return SafeString("<span class='text-secondary'>&mdash;</span>")
        label = "nbjobs (retiring)" if owner.management == "retire" else "nbjobs"
        return format_html('<span class="badge bg-info" title="{}">{}</span>', owner.location or "", label)


class JobTableExtension(TableExtension):
    model = "extras.job"
    table_columns: ClassVar[dict[str, tables.Column]] = {COLUMN: ManagedByColumn()}
    add_to_default_columns = (COLUMN,)


table_extensions = [JobTableExtension]
