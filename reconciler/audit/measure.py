"""Small measures the findings share: durations as a person reads them, values for JSON."""

from __future__ import annotations

from reconciler.manifest.types import PinValue


def duration(seconds: float) -> str:
    """`45s`, `3m05s`, `1h02m`, `2d03h`: to the precision a runtime or an interval is read at."""
    whole = max(0, round(seconds))
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    if whole < 86400:
        return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d{whole % 86400 // 3600:02d}h"


def json_value(value: PinValue | None) -> object:
    """A value in the JSON report: lists for the eligible queues."""
    return list(value) if isinstance(value, tuple) else value
