"""Read-only REST endpoints under /api/plugins/nbjobs/ (reconciler_nautobot.api.urls)."""
