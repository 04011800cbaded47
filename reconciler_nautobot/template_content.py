"""The panel on a Job's detail page: managed by nbjobs or not, where each managed field is set and why, the
apply that recorded it, and what the reconcile loop last saw (Nautobot's UI component framework)."""

from __future__ import annotations

from typing import Any

from django.utils.safestring import SafeString
from nautobot.apps.ui import Panel, SectionChoices, TemplateExtension

from reconciler_nautobot import html
from reconciler_nautobot.models import ManagedJob
from reconciler_nautobot.record import job_record


class OwnershipPanel(Panel):
    """Rendered below the job's Properties (the right half of the page)."""

    def render_body_content(self, context: Any) -> SafeString:
        job = context["object"]
        record = job_record(job.pk, job.class_path)
        latest = None
        if record.present and record.managed is None:  # which apply says "not managed"
            latest = ManagedJob.objects.select_related("apply").order_by("-recorded_at").first()
        return html.panel(record, job.class_path, latest)


class JobOwnership(TemplateExtension):
    model = "extras.job"
    object_detail_panels = (
        OwnershipPanel(weight=150, section=SectionChoices.RIGHT_HALF, label="nbjobs", body_id="nbjobs-panel"),
    )


template_extensions = [JobOwnership]
