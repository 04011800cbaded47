"""Sync windows (Argo CD's semantics, DST-correct) and the jittered beat schedule of the reconcile loop."""

from __future__ import annotations

import pickle
import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from celery.schedules import schedule

from reconciler.config import SyncWindow
from reconciler.loop.schedule import JitteredSchedule
from reconciler.loop.windows import WindowVerdict, applies_allowed, describe, is_active, next_opening

BERLIN = ZoneInfo("Europe/Berlin")


def window(kind: str, cron: str, duration: str, tz: str = "UTC") -> SyncWindow:
    return SyncWindow.model_validate({"kind": kind, "schedule": cron, "duration": duration, "timezone": tz})


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


NIGHTLY_UTC = window("deny", "0 22 * * *", "1h")
MIDNIGHT_UTC = window("deny", "0 23 * * *", "2h")
NIGHTLY_BERLIN = window("deny", "0 22 * * *", "1h", "Europe/Berlin")
SPRING_BERLIN = window("allow", "0 1 * * *", "3h", "Europe/Berlin")  # spans the 02:00 -> 03:00 jump
SKIPPED_BERLIN = window("allow", "30 2 * * *", "30m", "Europe/Berlin")  # 02:30 missing / doubled
NEVER = window("allow", "0 0 30 2 *", "1h")  # February 30th


@pytest.mark.parametrize(
    ("sync_window", "now", "active"),
    [
        # Boundaries: the fire instant is inside, fire + duration is outside.
        (NIGHTLY_UTC, utc(2026, 12, 4, 21, 59, 59), False),
        (NIGHTLY_UTC, utc(2026, 12, 4, 22, 0, 0), True),
        (NIGHTLY_UTC, utc(2026, 12, 4, 22, 59, 59, 999999), True),
        (NIGHTLY_UTC, utc(2026, 12, 4, 23, 0, 0), False),
        (NIGHTLY_UTC, utc(2026, 12, 4, 23, 0, 0).astimezone(ZoneInfo("America/New_York")), False),
        (NIGHTLY_UTC, utc(2026, 12, 4, 22, 30).astimezone(ZoneInfo("Asia/Kolkata")), True),
        # Across midnight: 23:00 for 2h is open until 01:00 the next day.
        (MIDNIGHT_UTC, utc(2026, 12, 4, 22, 59), False),
        (MIDNIGHT_UTC, utc(2026, 12, 4, 23, 30), True),
        (MIDNIGHT_UTC, utc(2026, 12, 5, 0, 30), True),
        (MIDNIGHT_UTC, utc(2026, 12, 5, 0, 59, 59), True),
        (MIDNIGHT_UTC, utc(2026, 12, 5, 1, 0), False),
        # Europe/Berlin 22:00 is 21:00 UTC in winter (CET) and 20:00 UTC in summer (CEST).
        (NIGHTLY_BERLIN, utc(2026, 3, 28, 20, 30), False),
        (NIGHTLY_BERLIN, utc(2026, 3, 28, 21, 0), True),
        (NIGHTLY_BERLIN, utc(2026, 3, 29, 20, 0), True),
        (NIGHTLY_BERLIN, utc(2026, 3, 29, 20, 59), True),
        (NIGHTLY_BERLIN, utc(2026, 3, 29, 21, 0), False),
        (NIGHTLY_BERLIN, utc(2026, 10, 24, 20, 0), True),
        (NIGHTLY_BERLIN, utc(2026, 10, 24, 21, 0), False),
        (NIGHTLY_BERLIN, utc(2026, 10, 25, 20, 30), False),
        (NIGHTLY_BERLIN, utc(2026, 10, 25, 21, 0), True),
        (NIGHTLY_BERLIN, datetime(2026, 10, 25, 22, 59, 59, tzinfo=BERLIN), True),
        (NIGHTLY_BERLIN, datetime(2026, 10, 25, 23, 0, tzinfo=BERLIN), False),
        # 01:00 CET (00:00 UTC) for 3h of elapsed time closes at 03:00 UTC = 05:00 CEST, not 04:00.
        (SPRING_BERLIN, utc(2026, 3, 28, 23, 59), False),
        (SPRING_BERLIN, utc(2026, 3, 29, 0, 0), True),
        (SPRING_BERLIN, datetime(2026, 3, 29, 4, 30, tzinfo=BERLIN), True),
        (SPRING_BERLIN, utc(2026, 3, 29, 2, 59, 59), True),
        (SPRING_BERLIN, utc(2026, 3, 29, 3, 0), False),
        # 02:30 does not exist on 2026-03-29: croniter fires at the change, 03:00 CEST (01:00 UTC).
        (SKIPPED_BERLIN, utc(2026, 3, 29, 0, 59), False),
        (SKIPPED_BERLIN, utc(2026, 3, 29, 1, 0), True),
        (SKIPPED_BERLIN, utc(2026, 3, 29, 1, 29), True),
        (SKIPPED_BERLIN, utc(2026, 3, 29, 1, 30), False),
        # 02:30 happens twice on 2026-10-25 (CEST at 00:30 UTC, CET at 01:30 UTC): it opens twice.
        (SKIPPED_BERLIN, utc(2026, 10, 25, 0, 45), True),
        (SKIPPED_BERLIN, utc(2026, 10, 25, 1, 15), False),
        (SKIPPED_BERLIN, utc(2026, 10, 25, 1, 45), True),
        (SKIPPED_BERLIN, utc(2026, 10, 25, 2, 0), False),
        # Never fires: never active (and does not search forever).
        (NEVER, utc(2026, 2, 28, 0, 30), False),
    ],
)
def test_is_active(sync_window: SyncWindow, now: datetime, active: bool) -> None:
    assert is_active(sync_window, now) is active


ALLOW_DAY = window("allow", "0 8 * * *", "8h")
ALLOW_WEEKEND = window("allow", "0 0 * * 6", "2d")
DENY_NOON = window("deny", "0 12 * * *", "30m")


@pytest.mark.parametrize(
    ("windows", "now", "allowed", "reason"),
    [
        ((), utc(2026, 12, 4, 12), True, "no sync windows: applies are always allowed"),
        # Deny wins over allow.
        ((ALLOW_DAY, DENY_NOON), utc(2026, 12, 4, 12, 10), False,
         "inside deny window '0 12 * * *' for 30m (UTC) until 12:30; "
         "deny wins over the open allow window '0 8 * * *' for 8h (UTC)"),
        ((ALLOW_DAY, DENY_NOON), utc(2026, 12, 4, 12, 30), True,
         "inside allow window '0 8 * * *' for 8h (UTC) until 16:00"),
        ((NIGHTLY_BERLIN,), utc(2026, 12, 4, 21, 30), False,
         "inside deny window '0 22 * * *' for 1h (Europe/Berlin) until 23:00"),
        ((NIGHTLY_BERLIN,), utc(2026, 12, 4, 20, 30), True,
         "outside every deny window ('0 22 * * *' for 1h (Europe/Berlin))"),
        # Allow windows exist and none is open.
        ((ALLOW_DAY,), utc(2026, 12, 4, 20), False,
         "outside every allow window; the next, '0 8 * * *' for 8h (UTC), opens at 2026-12-05 08:00 UTC"),
        ((ALLOW_DAY,), utc(2026, 12, 4, 16), False,
         "outside every allow window; the next, '0 8 * * *' for 8h (UTC), opens at 2026-12-05 08:00 UTC"),
        ((ALLOW_DAY, ALLOW_WEEKEND), utc(2026, 12, 4, 20), False,  # Friday: Saturday 00:00 comes first
         "outside every allow window; the next, '0 0 * * 6' for 2d (UTC), opens at 2026-12-05 00:00 UTC"),
        ((ALLOW_DAY, ALLOW_WEEKEND), utc(2026, 12, 6, 20), True,
         "inside allow window '0 0 * * 6' for 2d (UTC) until 2026-12-07 00:00"),
        ((NEVER,), utc(2026, 12, 4), False, "outside every allow window ('0 0 30 2 *' for 1h (UTC)); none opens again"),
        # Windows that re-open before they close stay open.
        ((window("deny", "*/30 * * * *", "1h"),), utc(2026, 12, 4, 12), False,
         "inside deny window '*/30 * * * *' for 1h (UTC) and staying open (each opening overlaps the next)"),
        ((window("deny", "0 9-11 * * *", "1h"),), utc(2026, 12, 4, 9, 15), False,
         "inside deny window '0 9-11 * * *' for 1h (UTC) until 12:00"),
    ],
)  # fmt: skip
def test_applies_allowed(windows: tuple[SyncWindow, ...], now: datetime, allowed: bool, reason: str) -> None:
    assert applies_allowed(windows, now) == WindowVerdict(allowed, reason)


def test_two_open_deny_windows_are_both_named() -> None:
    verdict = applies_allowed((NIGHTLY_UTC, window("deny", "0 20 * * *", "4h")), utc(2026, 12, 4, 22, 30))
    assert not verdict.allowed
    assert verdict.reason == (
        "inside deny windows '0 22 * * *' for 1h (UTC) until 23:00, '0 20 * * *' for 4h (UTC) until 2026-12-05 00:00"
    )


@pytest.mark.parametrize(
    ("windows", "now", "expected"),
    [
        ((), utc(2026, 12, 4), None),
        ((NIGHTLY_UTC,), utc(2026, 12, 4), None),  # deny windows never open anything
        ((ALLOW_DAY,), utc(2026, 12, 4, 7, 59), utc(2026, 12, 4, 8)),
        ((ALLOW_DAY,), utc(2026, 12, 4, 8), utc(2026, 12, 5, 8)),  # open now: the next opening is tomorrow
        ((ALLOW_DAY, ALLOW_WEEKEND), utc(2026, 12, 4, 20), utc(2026, 12, 5, 0)),
        ((window("allow", "0 8 * * *", "1h", "Europe/Berlin"),), utc(2026, 3, 28, 12), utc(2026, 3, 29, 6)),
        ((window("allow", "0 8 * * *", "1h", "Europe/Berlin"),), utc(2026, 10, 24, 12), utc(2026, 10, 25, 7)),
        ((NEVER,), utc(2026, 12, 4), None),
        ((NEVER, ALLOW_DAY), utc(2026, 12, 4, 9), utc(2026, 12, 5, 8)),
    ],
)
def test_next_opening(windows: tuple[SyncWindow, ...], now: datetime, expected: datetime | None) -> None:
    found = next_opening(windows, now)
    assert found == expected
    assert found is None or found.utcoffset() == timedelta(0)


def test_describe_names_schedule_duration_and_zone() -> None:
    weekdays = window("allow", "0 8 * * 1-5", "1h30m", "Europe/Berlin")
    assert describe(weekdays) == "'0 8 * * 1-5' for 1h30m (Europe/Berlin)"
    assert describe(window("deny", "0 0 * * *", "2d45s")) == "'0 0 * * *' for 2d45s (UTC)"


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        is_active(NIGHTLY_UTC, datetime(2026, 12, 4, 22))
    with pytest.raises(ValueError, match="aware"):
        applies_allowed((NIGHTLY_UTC,), datetime(2026, 12, 4, 22))


class Clock:
    """A settable now for the schedule (module level, so a schedule holding it still pickles)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


START = utc(2026, 12, 4, 12)


def test_jittered_schedule_is_due_after_interval_plus_this_cycles_jitter() -> None:
    clock = Clock(START)
    sched = JitteredSchedule(300, 30, random.Random(7), nowfun=clock)
    jitter = random.Random(7).uniform(0, 30)
    assert 0 <= jitter <= 30

    clock.now = START + timedelta(seconds=299)
    due, wait = sched.is_due(START)
    assert not due
    assert wait == pytest.approx(1 + jitter)

    clock.now = START + timedelta(seconds=300 + jitter - 0.01)
    assert not sched.is_due(START)[0]

    clock.now = START + timedelta(seconds=330)
    due, wait = sched.is_due(START)
    assert due
    assert wait == 300  # the shortest the next cycle can be


def test_jittered_schedule_draws_once_per_cycle_and_anew_for_the_next() -> None:
    sched = JitteredSchedule(300, 30, random.Random(42))
    starts = [START + timedelta(seconds=330 * n) for n in range(20)]
    drawn = [sched.jitter_for(start) for start in starts]
    assert all(0 <= value <= 30 for value in drawn)
    assert len(set(drawn)) == len(drawn)  # a fresh draw per cycle
    assert sched.jitter_for(starts[-1]) == drawn[-1]  # stable while the cycle lasts
    assert sched.jitter_for(starts[-1].astimezone(BERLIN)) == drawn[-1]  # the same instant in another zone


def test_jittered_schedule_without_jitter_is_a_plain_interval() -> None:
    clock = Clock(START + timedelta(seconds=300))
    sched = JitteredSchedule(300, 0, nowfun=clock)
    assert sched.is_due(START) == (True, 300)
    clock.now = START + timedelta(seconds=299.5)
    assert not sched.is_due(START)[0]


def test_jittered_schedule_pickles_with_its_state() -> None:
    clock = Clock(START + timedelta(seconds=310))
    sched = JitteredSchedule(300, 30, random.Random(3), nowfun=clock)
    before = sched.remaining_estimate(START)
    copy = pickle.loads(pickle.dumps(sched))
    assert copy == sched
    assert isinstance(copy, JitteredSchedule)
    assert (copy.interval, copy.jitter) == (300.0, 30.0)
    assert copy.remaining_estimate(START) == before  # same cycle, same draw
    assert copy.jitter_for(START + timedelta(hours=1)) == sched.jitter_for(START + timedelta(hours=1))  # same rng


def test_jittered_schedule_repr_equality_and_validation() -> None:
    assert repr(JitteredSchedule(300, 30)) == "<JitteredSchedule every 300s + up to 30s jitter>"
    assert JitteredSchedule(300, 30) == JitteredSchedule(300.0, 30.0)
    assert JitteredSchedule(300, 30) != JitteredSchedule(300, 10)
    assert JitteredSchedule(300, 30) != schedule(300)
    assert schedule(300) != JitteredSchedule(300, 30)
    with pytest.raises(ValueError, match="interval"):
        JitteredSchedule(0, 30)
    with pytest.raises(ValueError, match="jitter"):
        JitteredSchedule(300, -1)
