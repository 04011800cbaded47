"""Which database to talk to, from the flag, NBJOBS_DATABASE_URL, or Nautobot's own NAUTOBOT_DB_* variables.

Passwords never leave this module unmasked: `display_url` is what every output shows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Engine, create_engine, event, make_url
from sqlalchemy.exc import ArgumentError

from reconciler.diagnostics import NbjobsError
from reconciler.nautobot.fingerprint import SQLITE_ROW_HASH, sqlite_row_hash

SANDBOX_FILENAME = "nbjobs.db"

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
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")
