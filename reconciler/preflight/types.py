"""What preflight found: plain frozen values for the renderers, the JSON plan and the loop."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Readiness(StrEnum):
    READY = "ready"  # a worker consumes it, or the cluster accepts the Job
    NOT_READY = "not-ready"  # nothing would run its jobs: a warning, an error under --strict
    UNKNOWN = "unknown"  # could not be checked (broker or cluster unreachable, not configured)


@dataclass(frozen=True)
class QueueUse:
    """A queue the desired state routes jobs to, as it will be after the plan."""

    name: str
    queue_type: str  # celery | kubernetes
    default_for: tuple[str, ...] = ()  # class paths whose default queue it is
    eligible_for: tuple[str, ...] = ()  # class paths that may run on it

    @property
    def jobs(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.default_for) | set(self.eligible_for)))


@dataclass(frozen=True)
class Check:
    name: str  # e.g. "workers", "manifest", "namespace", "rbac", "dry-run"
    ok: bool | None  # None: not checked (an earlier check failed, or nothing to check with)
    detail: str


@dataclass(frozen=True)
class QueueReadiness:
    use: QueueUse
    readiness: Readiness
    summary: str
    workers: tuple[str, ...] = ()
    checks: tuple[Check, ...] = ()


@dataclass(frozen=True)
class PreflightReport:
    queues: tuple[QueueReadiness, ...]
    broker: str | None = None  # masked
    cluster: str | None = None  # the API server checked, or None

    @property
    def not_ready(self) -> tuple[QueueReadiness, ...]:
        return tuple(q for q in self.queues if q.readiness is not Readiness.READY)

    def workers(self) -> dict[str, int]:
        return {q.use.name: len(q.workers) for q in self.queues if q.use.queue_type == "celery"}
