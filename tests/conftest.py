"""Shared fixtures. Database tests run on every engine Nautobot supports plus the embedded SQLite.

Each test session creates its own databases on PostgreSQL and MariaDB (named after the process) and
drops them at the end; each test starts from an empty database. The servers are the real ones on
loopback (.ci/run starts any that is not running). NBJOBS_TEST_ENGINES narrows the engines, e.g.
`NBJOBS_TEST_ENGINES=sqlite make test` on a machine without the servers.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from common import ENGINES, empty_database
from sqlalchemy import URL, Engine, create_engine, text

from reconciler.nautobot.connect import DatabaseTarget, create_db_engine

_SERVERS = {
    "postgresql": URL.create("postgresql+psycopg", username="postgres", host="127.0.0.1", port=5432,
                             database="postgres"),
    "mariadb": URL.create("mysql+pymysql", username="root", host="127.0.0.1", port=3306, database="mysql"),
}  # fmt: skip


def _session_database_name(worker: str) -> str:
    return f"nbjobs_test_{os.getpid()}_{worker}"


@pytest.fixture(scope="session")
def server_databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, URL]]:
    """One database per engine for the whole session, dropped afterwards."""
    name = _session_database_name("main")
    urls: dict[str, URL] = {"sqlite": URL.create("sqlite", database=str(tmp_path_factory.mktemp("sqlite") / "t.db"))}
    created: list[tuple[str, Engine]] = []
    for engine_name in ENGINES:
        if engine_name == "sqlite":
            continue
        admin = create_engine(_SERVERS[engine_name], isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {name}"))
            charset = " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci" if engine_name == "mariadb" else ""
            connection.execute(text(f"CREATE DATABASE {name}{charset}"))
        created.append((name, admin))
        urls[engine_name] = _SERVERS[engine_name].set(database=name)
    yield urls
    for db_name, admin in created:
        with admin.connect() as connection:
            if admin.dialect.name == "postgresql":
                connection.execute(
                    text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n AND pid <> "
                         "pg_backend_pid()"), {"n": db_name})  # fmt: skip
            connection.execute(text(f"DROP DATABASE IF EXISTS {db_name}"))
        admin.dispose()


@pytest.fixture(params=ENGINES)
def db_target(request: pytest.FixtureRequest, server_databases: dict[str, URL]) -> Iterator[DatabaseTarget]:
    """An empty database on each engine in turn."""
    url = server_databases[request.param]
    target = DatabaseTarget(url, f"test {request.param}")
    empty_database(target)
    yield target


@pytest.fixture
def db_engine(db_target: DatabaseTarget) -> Iterator[Engine]:
    engine = create_db_engine(db_target)
    yield engine
    engine.dispose()
