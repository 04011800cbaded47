"""`nbjobs status`: where each target stands, from the loop's last run (Argo CD's sync and health status).

Exit codes follow `plan --detailed-exitcode`: 0 in sync; 2 drifted, pending or never run; 1 error;
a suspended target exits with the code of what its last run observed.

A target is `overdue` when no tick has checked it for two intervals (plus the jitter): the loop is not
running, or cannot reach its broker, or its workers die before they finish. The last run still says
where the target stood then.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from reconciler.config import Settings, Target
from reconciler.diagnostics import plural, printable
from reconciler.state.runs import RunRecord, last_runs

EXIT_CODES = {"in_sync": 0, "drifted": 2, "pending": 2, "never_run": 2, "error": 1}


def exit_code(state: str, observed: str = "") -> int:
    """As `plan --detailed-exitcode`; a suspended target answers with what it observed."""
    if state == "suspended":
        return EXIT_CODES.get(observed, 2)
    return EXIT_CODES.get(state, 1)


@dataclass(frozen=True)
class TargetStatus:
    target: Target
    run: RunRecord | None
    interval: float
    jitter: float = 0.0
    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def state(self) -> str:
        return self.run.state if self.run else "never_run"

    @property
    def exit_code(self) -> int:
        return exit_code(self.state, self.run.observed if self.run else "")

    @property
    def _interval(self) -> float:
        """The interval the loop ran with (recorded on the run), else the configured one."""
        recorded = self.run.interval_seconds if self.run else None
        return recorded if recorded is not None else self.interval

    def as_json(self) -> dict[str, Any]:
        run = self.run
        checked = (run.last_checked_at or run.finished_at) if run else None
        errors = list(run.errors) if run else []
        return {
            "target": self.target.name,
            "state": self.state,
            "revision": run.revision if run else None,
            "last_run_at": run.started_at.isoformat() if run else None,
            "last_checked_at": checked.isoformat() if checked else None,
            "next_run_at": (checked + timedelta(seconds=self._interval)).isoformat() if checked else None,
            "overdue": self._overdue(checked),
            # What the loop ran with (the run records it), else what the configuration says it will run with.
            "policy": run.policy if run else self.target.policy.value,
            "prune": run.prune if run else self.target.prune,
            "suspended": run.state == "suspended" if run else self.target.suspend,
            "action": run.action if run else None,
            "message": run.message if run else "",
            "drift": [e for e in run.drift if not e.get("healed")] if run else [],
            "healed": [e for e in run.drift if e.get("healed")] if run else [],
            "pending": list(run.pending) if run else [],
            "errors": errors,
            "last_error": errors[0]["message"] if errors else None,
            "idle_ticks": run.idle_ticks if run else 0,
            "apply_id": run.apply_id.hex if run and run.apply_id else None,
        }


    def _overdue(self, checked: datetime | None) -> bool:
        if checked is None:
            return False
        if checked.tzinfo is None:  # SQLite gives naive UTC times back
            checked = checked.replace(tzinfo=UTC)
        return self.now - checked > timedelta(seconds=2 * self._interval + self.jitter)


def read_status(connection: Connection, settings: Settings, targets: list[Target]) -> list[TargetStatus]:
    runs = last_runs(connection)
    return [TargetStatus(target, runs.get(target.name), settings.interval, settings.jitter) for target in targets]


def render_text(statuses: list[TargetStatus]) -> str:
    """Each target's status as lines; what a run recorded from manifests, the code or the database (job
    names, values, messages) goes through `printable`, so it cannot act on a terminal or a CI log."""
    lines = []
    for status in statuses:
        data = status.as_json()
        head = f"{data['target']}: {data['state']}"
        if data["suspended"]:
            head += " (suspended)"
        lines.append(head)
        lines.append(f"  policy {data['policy']}{', prune' if data['prune'] else ''}; "
                     f"revision {(data['revision'] or '-')[:12]}")  # fmt: skip
        if data["last_run_at"]:
            idle = plural(data["idle_ticks"], "idle tick")
            lines.append(f"  last run {data['last_run_at']} ({data['action']}: {printable(data['message'])}); "
                         f"checked {data['last_checked_at']}, {idle} since")  # fmt: skip
            lines.append(f"  next run about {data['next_run_at']}")
        if data["overdue"]:
            lines.append(f"  overdue: no tick has checked this target since {data['last_checked_at']}: is the loop "
                         "running, can it reach its broker, do its workers finish their ticks?")  # fmt: skip
        for entry in data["drift"]:
            who = f" ({printable(entry['attribution'])})" if entry.get("attribution") else ""
            what = printable(str(entry["job"] or entry.get("queue")))
            lines.append(f"  drift: {what} {entry['field'] or ''}: {_yaml(entry['actual'])}, "
                         f"wanted {_yaml(entry['desired'])}{who}")  # fmt: skip
        for entry in data["healed"]:
            who = f" ({printable(entry['attribution'])})" if entry.get("attribution") else ""
            what = printable(str(entry["job"] or entry.get("queue")))
            lines.append(f"  healed: {what} {entry['field'] or ''}: "
                         f"{_yaml(entry['actual'])} -> {_yaml(entry['desired'])}{who}")  # fmt: skip
        for entry in data["pending"]:
            lines.append(f"  pending: {printable(entry['job'])} step {entry['step']}: {printable(entry['reason'])} "
                         f"({printable(entry['location'])})")  # fmt: skip
        for error in data["errors"]:
            where = f"{printable(error['location'])}: " if error.get("location") else ""
            kind = "transient" if error.get("transient") else "error"
            lines.append(f"  {kind}: {where}{printable(error['message'])}")
    return "\n".join(lines) + "\n"


def _yaml(value: object) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, list):
        return "[" + ", ".join(_yaml(v) for v in value) + "]"
    return printable(str(value))
