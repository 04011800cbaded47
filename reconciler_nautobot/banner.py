"""The warning on a managed Job's edit form: the fields its manifests set, where to change each instead, and
what becomes of an edit made here under the reconcile loop's policy (a Nautobot App banner)."""

from __future__ import annotations

from typing import Any

from nautobot.apps.ui import Banner, BannerClassChoices

from reconciler_nautobot import html
from reconciler_nautobot.record import job_record

EDIT_VIEWS = {"extras:job_edit"}  # the Job edit form (JobUIViewSet's update action)


def banner(context: Any) -> Banner | None:
    """Called for every page Nautobot renders: it returns at once unless the page is a Job's edit form."""
    request = context.get("request")
    match = getattr(request, "resolver_match", None)
    if match is None or match.view_name not in EDIT_VIEWS:
        return None
    job = context.get("object")
    if job is None or getattr(job, "pk", None) is None:
        return None
    record = job_record(job.pk, job.class_path)
    if record.managed is None or record.managed.management != "managed" or not record.pinned:
        return None
    text = html.banner(record.managed, record.fields, html.consequence_for(record.loop))
    return Banner(text, BannerClassChoices.CLASS_WARNING)
