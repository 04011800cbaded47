"""Whether this run may colour its output: `--no-color` (set by cli.main around the command) or NO_COLOR."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_NO_COLOR: ContextVar[bool] = ContextVar("nbjobs_no_color", default=False)


@contextmanager
def no_color(off: bool) -> Iterator[None]:
    """Colour off while the block runs when `off` (the `--no-color` flag)."""
    token = _NO_COLOR.set(off)
    try:
        yield
    finally:
        _NO_COLOR.reset(token)


def colour_off() -> bool:
    """`--no-color` or the NO_COLOR environment variable (https://no-color.org): no colour, even on a terminal."""
    return _NO_COLOR.get() or bool(os.environ.get("NO_COLOR"))
