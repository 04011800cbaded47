"""Which database to talk to, from the flag, NBJOBS_DATABASE_URL, or Nautobot's own NAUTOBOT_DB_* variables.

Passwords never leave this module unmasked: `display_url` is what every output shows.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Connection, Engine, create_engine, event, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError

from reconciler.diagnostics import NbjobsError
from reconciler.nautobot.fingerprint import SQLITE_ROW_HASH, sqlite_row_hash

SANDBOX_FILENAME = "nbjobs.db"
# How long a statement on SQLite waits for another connection's lock (a writer, or a commit waiting for
# readers) before failing with "database is locked". SQLite allows one writer at a time; nbjobs' applies
# wait for each other on their own lock (reconciler.apply.lock), so this covers short waits only.
SQLITE_BUSY_SECONDS = 30

# psycopg logs a warning when it ends a pipeline on a lost connection ("error ignored terminating
# <psycopg.Pipeline [BAD]>"); the error itself reaches nbjobs as an exception and is reported in one sentence.
# Without a handler, Python's last-resort handler would print that warning, driver text, to standard error;
# with one, it still propagates to any logging an embedding program (the loop's Celery) configures.
logging.getLogger("psycopg").addHandler(logging.NullHandler())

# Django ENGINE values (NAUTOBOT_DB_ENGINE) and the SQLAlchemy driver we use for each.
_DJANGO_ENGINES = {
    "django.db.backends.postgresql": "postgresql+psycopg",
    "django_prometheus.db.backends.postgresql": "postgresql+psycopg",
    "django.db.backends.mysql": "mysql+pymysql",
    "django_prometheus.db.backends.mysql": "mysql+pymysql",
}
# A bare scheme is given the driver nbjobs ships with.
_DEFAULT_DRIVERS = {
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mariadb+pymysql",
}


@dataclass(frozen=True)
class DatabaseTarget:
    url: URL
    origin: str  # where the URL came from, for messages

    @property
    def display_url(self) -> str:
        return self.url.render_as_string(hide_password=True)

    @property
    def is_sqlite(self) -> bool:
        return self.url.get_backend_name() == "sqlite"


def resolve_target(url: str | None, environ: Mapping[str, str], cwd: Path) -> DatabaseTarget:
    """The database in order of precedence: --database-url, NBJOBS_DATABASE_URL, NAUTOBOT_DB_*, sandbox."""
    if url:
        return DatabaseTarget(_parse(url, "--database-url"), "--database-url")
    if environ.get("NBJOBS_DATABASE_URL"):
        return DatabaseTarget(_parse(environ["NBJOBS_DATABASE_URL"], "NBJOBS_DATABASE_URL"), "NBJOBS_DATABASE_URL")
    composed = nautobot_env_url(environ)
    if composed is not None:
        return DatabaseTarget(make_url(composed), "NAUTOBOT_DB_* variables")
    return DatabaseTarget(URL.create("sqlite", database=str(cwd / SANDBOX_FILENAME)), "sandbox default")


def target_from_url(url: str | None, origin: str, cwd: Path) -> DatabaseTarget:
    """The database a resolved setting names (see reconciler.config), or the sandbox beside `cwd`."""
    if url:
        return DatabaseTarget(_parse(url, origin), origin)
    return DatabaseTarget(URL.create("sqlite", database=str(cwd / SANDBOX_FILENAME)), "sandbox default")


def nautobot_env_url(environ: Mapping[str, str]) -> str | None:
    """The URL Nautobot's own NAUTOBOT_DB_* variables describe (password included), if they describe one."""
    if not (environ.get("NAUTOBOT_DB_NAME") or environ.get("NAUTOBOT_DB_ENGINE")):
        return None
    return _from_nautobot_env(environ).render_as_string(hide_password=False)


def _parse(raw: str, origin: str) -> URL:
    try:
        parsed = make_url(raw)
    except ArgumentError as exc:
        raise NbjobsError(
            f"{origin}: not a database URL ({exc}); expected e.g. postgresql://user@host/nautobot"
        ) from None
    driver = _DEFAULT_DRIVERS.get(parsed.drivername)
    return parsed.set(drivername=driver) if driver else parsed


def _from_nautobot_env(environ: Mapping[str, str]) -> URL:
    engine = environ.get("NAUTOBOT_DB_ENGINE", "django.db.backends.postgresql")
    driver = _DJANGO_ENGINES.get(engine)
    if driver is None:
        supported = ", ".join(sorted(_DJANGO_ENGINES))
        raise NbjobsError(f"NAUTOBOT_DB_ENGINE={engine!r} is not supported; expected one of {supported}")
    port = environ.get("NAUTOBOT_DB_PORT") or None
    if port is not None and not port.isdigit():
        raise NbjobsError(f"NAUTOBOT_DB_PORT={port!r} is not a port number")
    return URL.create(
        driver,
        username=environ.get("NAUTOBOT_DB_USER") or None,
        password=environ.get("NAUTOBOT_DB_PASSWORD") or None,
        host=environ.get("NAUTOBOT_DB_HOST", "localhost"),
        port=int(port) if port else None,
        database=environ.get("NAUTOBOT_DB_NAME", "nautobot"),
    )


def create_db_engine(target: DatabaseTarget) -> Engine:
    kwargs: dict[str, Any] = {}
    if target.url.get_backend_name() in ("mysql", "mariadb"):
        kwargs["connect_args"] = {"charset": "utf8mb4"}
    engine = create_engine(target.url, **kwargs)
    if target.is_sqlite:
        _enforce_sqlite_foreign_keys(engine)
    return engine


def _enforce_sqlite_foreign_keys(engine: Engine) -> None:
    # SQLite ignores foreign keys unless asked; the sandbox must fail where Nautobot's database would.
    # The driver's own implicit transactions are turned off so SQLAlchemy's begin() emits BEGIN itself
    # (SQLAlchemy's documented recipe): then DDL is transactional and an apply can BEGIN IMMEDIATE to
    # take the database's write lock up front (execution option sqlite_begin="IMMEDIATE").
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        # The row hash of fingerprint.rows_fingerprint, which SQLite lacks.
        dbapi_connection.create_function(SQLITE_ROW_HASH, -1, sqlite_row_hash, deterministic=True)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_SECONDS * 1000}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")


@contextmanager
def write_transaction(engine: Engine, sqlite_wait: float | None = None) -> Iterator[Connection]:
    """`engine.begin()` for a transaction that writes: on SQLite it takes the write lock at BEGIN
    (IMMEDIATE). A transaction that reads first and writes later would, on meeting another writer,
    fail at once instead of waiting (SQLite refuses to wait where two readers could deadlock).
    `sqlite_wait`: how long to wait for that lock, if not SQLITE_BUSY_SECONDS."""
    with engine.connect() as connection:
        driver = connection.connection.driver_connection if engine.dialect.name == "sqlite" else None
        if driver is not None and sqlite_wait is not None:
            driver.execute(f"PRAGMA busy_timeout = {int(sqlite_wait * 1000)}")  # outside any transaction
        try:
            with connection.execution_options(sqlite_begin="IMMEDIATE").begin():
                yield connection
        finally:
            if driver is not None and sqlite_wait is not None:
                driver.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_SECONDS * 1000}")


# Driver error codes of a lost or refused connection: MySQL/MariaDB client and server codes, and
# PostgreSQL SQLSTATEs (class 08, connection exception; 57P0x, the server shutting down or ending the session).
_MYSQL_CANNOT_CONNECT = frozenset({1040, 2002, 2003, 2005})
_MYSQL_LOST = frozenset({1053, 1927, 2006, 2013, 2055, 4031})
_PG_LOST = frozenset({"57P01", "57P02", "57P03", "57P05", "08006", "08003", "08000", "08007"})


def connection_lost(exc: BaseException) -> bool:
    """Whether the database session ended under the statement: the server ended it (pg_terminate_backend,
    KILL), went down or restarted, or the network dropped it."""
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    orig = exc.orig
    code = orig.args[0] if orig is not None and orig.args else None
    return code in _MYSQL_LOST or getattr(orig, "sqlstate", None) in _PG_LOST


def database_problem(exc: SQLAlchemyError) -> str:
    """A database error in one sentence: nbjobs' words for a connection lost or refused and for SQLite's
    write lock, else the first line of the driver's message."""
    if connection_lost(exc):
        return "the connection to the database was lost (the server ended the session, or went down or restarted)"
    orig = getattr(exc, "orig", None)
    detail = str(orig or exc).strip().splitlines()[0] if str(orig or exc).strip() else type(exc).__name__
    code = orig.args[0] if orig is not None and orig.args else None
    if code in _MYSQL_CANNOT_CONNECT or "connection refused" in detail.lower() or "could not connect" in detail:
        return "cannot connect to the database (is the server running, and are the host, port and name right?)"
    if detail in ("database is locked", "database table is locked"):
        return (f"the SQLite database stayed locked by another writer for over {SQLITE_BUSY_SECONDS} s (SQLite "
                "allows one writer at a time)")  # fmt: skip
    return detail
