"""`nbjobs audit`: the periodic review Nautobot's guide asks for, over the same three sources as the plan.

`findings.audit` is pure (the snapshot, the code, the manifests and `AuditFacts` in; an `AuditReport` out);
`gather` reads the facts and the job code's files; `patch` writes the suggested Meta changes; `render`
shows a report as text, JSON or Markdown. This module only hands names on: import from the modules.
"""
