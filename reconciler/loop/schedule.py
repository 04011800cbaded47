"""A Celery beat schedule with jitter: every `interval` seconds plus a fresh random delay per cycle.

A fleet of targets all configured with the same interval would otherwise tick in lockstep: every
clone, database read and plan at the same second, every 5 minutes. Argo CD spreads its reconciliations
the same way (`timeout.reconciliation.jitter`): each cycle waits `interval + uniform(0, jitter)`.

Celery's own `schedule` already does everything else (aware datetimes, beat's `is_due` protocol), so
this overrides only `remaining_estimate`. The jitter is drawn once per cycle, keyed on the cycle's
`last_run_at`: beat asks `is_due` many times per cycle and must get one deadline, and a new
`last_run_at` (the task ran) starts a new cycle with a new draw. When a cycle is due, beat is told to
look again after `interval`, the shortest the next cycle can be.

Beat's shelve pickles every entry with its schedule, so `__reduce__` keeps the arguments, the random
generator (its state included) and the current cycle's draw.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from celery.schedules import schedule


class JitteredSchedule(schedule):  # type: ignore[misc]  # celery is untyped
    """Due `interval + uniform(0, jitter)` seconds after the last run, the jitter drawn anew each cycle."""

    def __init__(
        self,
        interval: float,
        jitter: float,
        rng: random.Random | None = None,
        *,
        nowfun: Callable[[], datetime] | None = None,
        app: Any = None,
    ) -> None:
        if not interval > 0:
            raise ValueError(f"interval must be > 0 seconds, not {interval!r}")
        if not jitter >= 0:
            raise ValueError(f"jitter must be >= 0 seconds, not {jitter!r}")
        super().__init__(run_every=timedelta(seconds=interval), nowfun=nowfun, app=app)
        self.interval = float(interval)
        self.jitter = float(jitter)
        self.rng = rng if rng is not None else random.Random()
        self._cycle: datetime | None = None  # the last_run_at the current draw belongs to
        self._drawn = 0.0

    def jitter_for(self, last_run_at: datetime) -> float:
        """The extra seconds of the cycle that began at `last_run_at`: drawn on first ask, then kept."""
        start: datetime = self.maybe_make_aware(last_run_at)
        if self._cycle is None or self._cycle != start:
            self._cycle = start
            self._drawn = self.rng.uniform(0.0, self.jitter)
        return self._drawn

    def remaining_estimate(self, last_run_at: datetime) -> timedelta:
        start: datetime = self.maybe_make_aware(last_run_at)
        now: datetime = self.maybe_make_aware(self.now())
        # In UTC: Python subtracts two datetimes of the same zone by their wall clocks.
        deadline = start.astimezone(UTC) + timedelta(seconds=self.interval + self.jitter_for(start))
        return deadline - now.astimezone(UTC)

    def __reduce__(self) -> tuple[type[JitteredSchedule], tuple[float, float, random.Random], dict[str, Any]]:
        state = {"nowfun": self.nowfun, "_cycle": self._cycle, "_drawn": self._drawn}
        return self.__class__, (self.interval, self.jitter, self.rng), state

    def __repr__(self) -> str:
        return f"<JitteredSchedule every {self.interval:g}s + up to {self.jitter:g}s jitter>"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, JitteredSchedule):
            return (self.interval, self.jitter) == (other.interval, other.jitter)
        if isinstance(other, schedule):  # a plain schedule of the same interval is still another schedule
            return False
        return NotImplemented
