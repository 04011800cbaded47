"""Named fault points, for crash testing: where nbjobs can be made to die on purpose.

`fault_point("apply.before-commit")` does nothing unless the environment variable NBJOBS_FAULT_POINT
names that point when nbjobs starts: then the process sends itself SIGKILL there, as a power cut or the
OOM killer would end it (no cleanup, no `finally`, no atexit). `NAME:N` fires at the N-th time the point
is reached (a point in a loop, such as one batch among many), `NAME` at the first. The tests in
tests/test_faults_*.py kill applies this way at every point listed below and check that the database is
exactly as before or exactly as after, and that the next run finishes the work.

NBJOBS_FAULT_SIGNAL=STOP sends SIGSTOP instead: the process stops at the point until it gets SIGCONT,
so that a test can end its database session or restart the server at exactly that moment.

The points: `apply.locked` (the apply lock taken), `apply.write` (after each write statement or batch
of the transaction), `apply.before-commit`, `apply.committed` (before the purge), `purge.before-commit`
(inside a purge batch's transaction) and `purge.batch` (after each purge batch's commit).

The environment is read once, at import: with the variable unset a fault point costs one comparison.
"""

from __future__ import annotations

import os
import signal

ENVIRONMENT_VARIABLE = "NBJOBS_FAULT_POINT"
SIGNAL_VARIABLE = "NBJOBS_FAULT_SIGNAL"


def _parse(spec: str) -> tuple[str, int] | None:
    """NAME or NAME:N (N from 1) -> (name, n); None when unset or malformed (a typo must not crash nbjobs)."""
    name, _, count = spec.strip().partition(":")
    if not name:
        return None
    if not count:
        return name, 1
    return (name, int(count)) if count.isdigit() and int(count) >= 1 else None


_TARGET = _parse(os.environ.get(ENVIRONMENT_VARIABLE, ""))
_SIGNAL = signal.SIGSTOP if os.environ.get(SIGNAL_VARIABLE, "").upper() in ("STOP", "SIGSTOP") else signal.SIGKILL
_hits = 0


def fault_point(name: str) -> None:
    """Die here (SIGKILL, or stop with SIGSTOP) if NBJOBS_FAULT_POINT names this point and its count."""
    global _hits
    if _TARGET is None or _TARGET[0] != name:
        return
    _hits += 1
    if _hits == _TARGET[1]:
        os.kill(os.getpid(), _SIGNAL)
