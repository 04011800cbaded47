"""What the tests share besides fixtures (a module of its own: `conftest` names are ambiguous when
several conftest.py files exist)."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import MetaData, inspect

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
