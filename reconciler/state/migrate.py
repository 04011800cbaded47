"""`nbjobs db upgrade`: bring nbjobs' own tables to the newest schema, programmatically with Alembic.

Every other command only checks the schema is current: it reads Alembic's version table itself and takes
the head from the migration files' names (`NNNN_name.py` with revision "NNNN", one linear history; a test
holds this equal to Alembic's own head), so that planning never imports Alembic (a quarter of a second).
"""

from __future__ import annotations

import uuid
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Column, Connection, Engine, MetaData, String, Table, insert, inspect, select

from reconciler.diagnostics import NbjobsError
from reconciler.state.tables import VERSION_TABLE, nbjobs_meta

if TYPE_CHECKING:
    from alembic.config import Config

_MIGRATIONS = Path(__file__).parent / "migrations"
INSTALLATION_KEY = "installation_id"
# Alembic's own table, as Alembic creates it (not part of nbjobs' metadata: Alembic owns it).
_versions = Table(VERSION_TABLE, MetaData(), Column("version_num", String(32), primary_key=True))


def _config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = connection
    return config


@cache
def head_revision() -> str:
    """The newest migration's revision, from the file names of the migrations."""
    return max(path.name.split("_", 1)[0] for path in (_MIGRATIONS / "versions").glob("[0-9]*_*.py"))


def alembic_head() -> str:
    """The head as Alembic computes it from the migrations' revision links (what head_revision must equal)."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(connection: Connection) -> str | None:
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    return connection.execute(select(_versions.c.version_num)).scalar()


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Migrate to the head revision; returns (before, after). Also records this installation's id."""
    from alembic import command

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
