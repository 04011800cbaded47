"""What the tests share besides fixtures (a module of its own: `conftest` names are ambiguous when
several conftest.py files exist)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, MetaData, event, inspect

from reconciler.nautobot.connect import DatabaseTarget, create_db_engine

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
ENGINES = [e for e in os.environ.get("NBJOBS_TEST_ENGINES", "sqlite,postgresql,mariadb").split(",") if e]


def empty_database(target: DatabaseTarget) -> None:
    """Drop every table (Nautobot's mirror, the sandbox marker, nbjobs' own), whatever created it."""
    engine = create_db_engine(target)
    try:
        with engine.begin() as connection:
            existing = MetaData()
            existing.reflect(connection)
            existing.drop_all(connection)
            assert not inspect(connection).get_table_names()
    finally:
        engine.dispose()


@contextmanager
def count_queries(engine: Engine) -> Iterator[list[str]]:
    """The queries sent while the block runs. Transaction control is not counted: SQLite's explicit
    BEGIN (connect.py sends it so that applies can BEGIN IMMEDIATE) is sent without a statement elsewhere."""
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK")):
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Fail the test that runs longer than `seconds` (pytest-timeout is not installed): SIGALRM, so the
    fixtures still clean up."""
    import signal

    import pytest

    def expired(_signum: int, _frame: Any) -> None:
        pytest.fail(f"the test ran over {seconds} s", pytrace=False)

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def clear_settings_environment(monkeypatch: Any) -> None:
    """No NBJOBS_* or NAUTOBOT_* variable of the machine or of the test run reaches nbjobs' settings."""
    for name in list(os.environ):
        if name.startswith(("NBJOBS_", "NAUTOBOT_")):
            monkeypatch.delenv(name)
