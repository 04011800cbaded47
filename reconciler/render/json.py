"""The plan as JSON text (the document itself is reconciler.plan.document)."""

from __future__ import annotations

import json

from reconciler.plan.document import plan_document
from reconciler.plan.operations import Plan


def render_json(plan: Plan, *, revision: str | None = None) -> str:
    return json.dumps(plan_document(plan, revision=revision), indent=2) + "\n"
