"""The plan as JSON text (the document itself is reconciler.plan.document)."""

from __future__ import annotations

import json
from typing import Any

from reconciler.plan.document import plan_document
from reconciler.plan.operations import Plan


def render_json(plan: Plan, *, revision: str | None = None, extra: dict[str, Any] | None = None) -> str:
    """`extra` adds top-level keys (such as `preflight`) to the document."""
    return json.dumps({**plan_document(plan, revision=revision), **(extra or {})}, indent=2) + "\n"
