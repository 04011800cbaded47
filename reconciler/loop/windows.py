"""Sync windows: may the loop apply right now? Argo CD's semantics, as a pure function of the time.

The loop detects drift on every tick but applies only when the configured windows let it, so that
changes land in maintenance windows and never during a freeze. A window opens each time its cron
schedule fires, in its own time zone, and stays open for its duration: `fired_at <= now < fired_at +
duration`. As in Argo CD, no windows means always allowed, an open deny window wins over everything,
and once allow windows exist applies happen only inside one.

Nothing here reads a clock or does I/O: `now` is always a parameter (an aware datetime), so a tick,
`nbjobs config`, and the tests all ask the same question the same way.

Time zones come from zoneinfo and fire times from croniter evaluated in the window's zone, so a
window at "0 22 * * *" in Europe/Berlin opens at 21:00 UTC in winter and at 20:00 UTC in summer.
Durations are elapsed time: a 3h window opening at 01:00 on the night clocks spring forward closes at
05:00 local. A fire time that does not exist (02:30 on the spring-forward night) fires at the change
(03:00), and one that exists twice (02:30 on the fall-back night) fires twice, as croniter does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter
from croniter.croniter import CroniterBadDateError

from reconciler.config import SyncWindow

# How far a window that keeps re-opening before it closes (e.g. every 30 minutes for 1h) is followed
# to find where it finally closes; past this it is reported as staying open.
_CHAIN_MAX_FIRES = 1000
_CHAIN_HORIZON = timedelta(days=400)


@dataclass(frozen=True)
class WindowVerdict:
    """Whether an apply may happen now, and the windows that decided it, in words for logs and status."""

    allowed: bool
    reason: str


def is_active(window: SyncWindow, now: datetime) -> bool:
    """Whether the window is open at `now`: its latest fire at or before `now` is less than `duration` ago."""
    now = _aware(now)
    fired = _last_fire(window, now)
    return fired is not None and fired <= now < fired + window.duration


def applies_allowed(windows: Sequence[SyncWindow], now: datetime) -> WindowVerdict:
    """Argo CD's rule: no windows -> allowed; an open deny -> denied; allow windows, none open -> denied."""
    now = _aware(now)
    if not windows:
        return WindowVerdict(True, "no sync windows: applies are always allowed")
    denies = [w for w in windows if w.kind == "deny"]
    allows = [w for w in windows if w.kind == "allow"]
    open_denies = [w for w in denies if is_active(w, now)]
    open_allows = [w for w in allows if is_active(w, now)]
    if open_denies:
        reason = _inside("deny", open_denies, now)
        if open_allows:
            reason += "; deny wins over the open allow " + _plural("window", open_allows)
        return WindowVerdict(False, reason)
    if open_allows:
        return WindowVerdict(True, _inside("allow", open_allows, now))
    if allows:
        opening = _next_opening_of(allows, now)
        if opening is None:
            return WindowVerdict(False, f"outside every allow window ({_describe_all(allows)}); none opens again")
        when, window = opening
        local = when.astimezone(ZoneInfo(window.timezone))
        text = f"outside every allow window; the next, {describe(window)}, opens at {local:%Y-%m-%d %H:%M}"
        return WindowVerdict(False, f"{text} {window.timezone}")
    return WindowVerdict(True, f"outside every deny window ({_describe_all(denies)})")


def next_opening(windows: Sequence[SyncWindow], now: datetime) -> datetime | None:
    """The first time after `now` an allow window opens (deny windows are not consulted), in UTC; None
    without allow windows or when none ever fires again. Bounded: one croniter step per allow window."""
    opening = _next_opening_of([w for w in windows if w.kind == "allow"], _aware(now))
    return None if opening is None else opening[0]


def describe(window: SyncWindow) -> str:
    """`'0 22 * * *' for 1h (Europe/Berlin)`: how reasons name a window."""
    return f"'{window.schedule}' for {_duration_text(window.duration)} ({window.timezone})"


def _aware(now: datetime) -> datetime:
    """`now` in UTC. All arithmetic and comparison happens in UTC: Python adds and compares two datetimes
    of the same zone by their wall clocks, which is wrong across a DST change."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now must be an aware datetime, not the naive {now.isoformat()}")
    return now.astimezone(UTC)


def _last_fire(window: SyncWindow, now: datetime) -> datetime | None:
    """The latest fire at or before `now`. Cron fires on whole minutes, so that is the latest fire strictly
    before the next whole minute (croniter's get_prev is strict). Minutes are floored in UTC, which is the
    same as flooring local time in every zone whose offset is whole minutes (all of today's). In UTC."""
    start = now.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    try:
        fired = croniter(window.schedule, start.astimezone(ZoneInfo(window.timezone))).get_prev(datetime)
    except CroniterBadDateError:  # an expression that never fires, e.g. '0 0 30 2 *'
        return None
    return fired.astimezone(UTC)


def _next_fire(window: SyncWindow, after: datetime) -> datetime | None:
    """The first fire strictly after `after`, in UTC."""
    try:
        fired = croniter(window.schedule, after.astimezone(ZoneInfo(window.timezone))).get_next(datetime)
    except CroniterBadDateError:
        return None
    return fired.astimezone(UTC)


def _next_opening_of(allows: Sequence[SyncWindow], now: datetime) -> tuple[datetime, SyncWindow] | None:
    found = [(when, w) for w in allows if (when := _next_fire(w, now)) is not None]
    return min(found, key=lambda pair: pair[0]) if found else None


def _open_until(window: SyncWindow, now: datetime) -> datetime | None:
    """When the window, open at `now`, closes: the end of its latest opening, carried on while a later fire
    re-opens it before (or as) it closes. None when it is still open after the bound."""
    fired = _last_fire(window, now)
    if fired is None:
        return None
    end = fired + window.duration
    for _ in range(_CHAIN_MAX_FIRES):
        following = _next_fire(window, fired)
        if following is None or following > end:
            return end
        fired, end = following, max(end, following + window.duration)
        if end - now > _CHAIN_HORIZON:
            break
    return None


def _inside(kind: str, open_windows: Sequence[SyncWindow], now: datetime) -> str:
    parts = [f"{describe(w)} {_until_text(w, now)}" for w in open_windows]
    noun = "window" if len(parts) == 1 else "windows"
    return f"inside {kind} {noun} " + ", ".join(parts)


def _until_text(window: SyncWindow, now: datetime) -> str:
    end = _open_until(window, now)
    if end is None:
        return "and staying open (each opening overlaps the next)"
    zone = ZoneInfo(window.timezone)
    local_end, local_now = end.astimezone(zone), now.astimezone(zone)
    clock = "%H:%M:%S" if local_end.second else "%H:%M"
    if local_end.date() == local_now.date():
        return f"until {local_end.strftime(clock)}"
    return f"until {local_end.strftime('%Y-%m-%d ' + clock)}"


def _plural(noun: str, windows: Sequence[SyncWindow]) -> str:
    return f"{noun}{'' if len(windows) == 1 else 's'} {_describe_all(windows)}"


def _describe_all(windows: Sequence[SyncWindow]) -> str:
    return ", ".join(describe(w) for w in windows)


def _duration_text(duration: timedelta) -> str:
    """The inverse of parse_duration: 1h, 1h30m, 2d, 45s."""
    total = int(duration.total_seconds())
    if total <= 0:
        return f"{duration.total_seconds():g}s"
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = zip((days, hours, minutes, seconds), "dhms", strict=True)
    return "".join(f"{value}{unit}" for value, unit in parts if value)
