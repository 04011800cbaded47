"""`nbjobs db upgrade`: bring nbjobs' own tables to the newest schema, programmatically with Alembic."""

from __future__ import annotations

import uuid
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, insert, inspect, select

from reconciler.diagnostics import NbjobsError
from reconciler.state.tables import VERSION_TABLE, nbjobs_meta

_MIGRATIONS = Path(__file__).parent / "migrations"
INSTALLATION_KEY = "installation_id"


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(connection: Connection) -> str | None:
    if VERSION_TABLE not in inspect(connection).get_table_names():
        return None
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Migrate to the head revision; returns (before, after). Also records this installation's id."""
    with engine.begin() as connection:
        before = current_revision(connection)
        command.upgrade(_config(connection), "head")
        if connection.execute(select(nbjobs_meta.c.value).where(nbjobs_meta.c.key == INSTALLATION_KEY)).first() is None:
            connection.execute(insert(nbjobs_meta).values(key=INSTALLATION_KEY, value=str(uuid.uuid4())))
    return before, head_revision()


def require_current(connection: Connection) -> None:
    """nbjobs writes its history and reads its identity only from an up-to-date schema."""
    current = current_revision(connection)
    if current != head_revision():
        state = "are missing" if current is None else f"are at revision {current}, not {head_revision()}"
        raise NbjobsError(f"nbjobs' own tables {state}: run `nbjobs db upgrade` against this database first")


def installation_id(connection: Connection) -> str:
    require_current(connection)
    value = connection.execute(select(nbjobs_meta.c.value).where(nbjobs_meta.c.key == INSTALLATION_KEY)).scalar_one()
    return str(value)
