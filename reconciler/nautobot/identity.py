"""Is this Nautobot's database, and which Nautobot? Told from the tables it has and Django's migrations.

nbjobs reads and writes Nautobot's own tables, so a command pointed at another database (an empty one,
another application's, a Django project without Nautobot) must say so plainly before reading anything,
instead of failing on the first missing table. Nautobot's version shows in `django_migrations`: the
newest migration of its `extras` app, whose names nbjobs knows for the releases it was checked against.
The sandbox (`nbjobs sandbox`) has no `django_migrations`: it is marked by its own `nbjobs_sandbox` table.

Two queries at most: the table names, then the newest migration of each Django app.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Connection, column, func, inspect, select, table

from reconciler.diagnostics import NbjobsError

# The newest `extras` migration of each Nautobot release nbjobs knows, read from the releases' wheels
# (nautobot/extras/migrations/). nbjobs writes the tables of SUPPORTED only.
SUPPORTED = "Nautobot 3.2.7"
KNOWN_LEVELS: dict[str, str] = {
    "0145_objectmetadata_assigned_object_type_cascade": SUPPORTED,
    "0125_jobresult_date_started": "Nautobot 2.4",  # 2.4.44, the last 2.4 release
}
SUPPORTED_LEVEL = next(level for level, release in KNOWN_LEVELS.items() if release == SUPPORTED)

SANDBOX_TABLE = "nbjobs_sandbox"  # reconciler.sandbox creates it; this layer cannot import that module
JOB_TABLE = "extras_job"
MIGRATIONS_TABLE = "django_migrations"
_SHOWN_TABLES = 3  # table names a refusal lists before "and N more"


class NotNautobotError(NbjobsError):
    """A command that reads Nautobot's tables was pointed at a database that does not have them."""


class Kind(StrEnum):
    NAUTOBOT = "nautobot"  # Nautobot's tables, with Django's migrations
    SANDBOX = "sandbox"  # created by `nbjobs sandbox`
    UNMARKED = "unmarked"  # Nautobot's tables without migrations or a sandbox marker: the level is unknown
    OTHER = "other"  # not a Nautobot database


@dataclass(frozen=True)
class Identity:
    """What a database is, as far as nbjobs can tell, and how to say so."""

    database: str  # display name (password masked)
    kind: Kind
    tables: tuple[str, ...] = ()
    apps: tuple[str, ...] = ()  # Django apps with migrations there
    level: str | None = None  # the newest `extras` migration
    problem: str | None = None  # why it is not a Nautobot database (kind OTHER)

    @property
    def release(self) -> str | None:
        """The Nautobot release whose level this is exactly, when nbjobs knows it."""
        return KNOWN_LEVELS.get(self.level) if self.level else None

    @property
    def level_problem(self) -> str | None:
        """Why nbjobs cannot vouch for this Nautobot's tables (a release it does not write, or a level it does
        not know), or None."""
        if self.kind is not Kind.NAUTOBOT or self.level is None or self.release == SUPPORTED:
            return None
        if self.release is not None:
            return (f"{self.database} is {self.release}'s database (extras migrations at {self.level}), "
                    f"and nbjobs reads and writes {SUPPORTED}'s tables only (extras at {SUPPORTED_LEVEL})")  # fmt: skip
        release, known, relation = nearest_release(self.level)
        return (f"{self.database} is a Nautobot at extras migration {self.level}, which nbjobs does not know: it "
                f"is {relation} {release} (extras at {known}), the nearest release nbjobs knows; nbjobs reads "
                f"and writes {SUPPORTED}'s tables only")  # fmt: skip


def identify(connection: Connection, database: str) -> Identity:
    """What `connection`'s database is: at most two queries (the table names, then Django's migrations)."""
    tables = tuple(sorted(inspect(connection).get_table_names()))
    if SANDBOX_TABLE in tables:
        return Identity(database, Kind.SANDBOX, tables)
    levels: dict[str, str] = {}
    if MIGRATIONS_TABLE in tables:
        migrations = table(MIGRATIONS_TABLE, column("app"), column("name"))
        query = select(migrations.c.app, func.max(migrations.c.name)).group_by(migrations.c.app)
        levels = {str(app): str(name) for app, name in connection.execute(query)}
    apps = tuple(sorted(levels))
    if MIGRATIONS_TABLE in tables and "extras" not in levels:
        found = f"Django's migrations there are for {_listed(apps)}" if apps else "its django_migrations table is empty"
        problem = f"{found}, not Nautobot's extras app"
        return Identity(database, Kind.OTHER, tables, apps, problem=problem)
    if JOB_TABLE not in tables:
        return Identity(database, Kind.OTHER, tables, apps, problem=_no_job_table(tables))
    if "extras" not in levels:
        return Identity(database, Kind.UNMARKED, tables, apps)
    return Identity(database, Kind.NAUTOBOT, tables, apps, levels["extras"])


def require_nautobot(connection: Connection, database: str) -> Identity:
    """`identify`, refusing a database that is not Nautobot's (NotNautobotError, one sentence)."""
    identity = identify(connection, database)
    message = not_nautobot(identity)
    if message is not None:
        raise NotNautobotError(message)
    return identity


def not_nautobot(identity: Identity) -> str | None:
    """The one sentence that refuses a database that is not Nautobot's, or None."""
    if identity.kind is not Kind.OTHER:
        return None
    return (f"{identity.database} is not a Nautobot database: {identity.problem}; give the URL of the database "
            "Nautobot uses (--database-url, NBJOBS_DATABASE_URL or NAUTOBOT_DB_*), or run `nbjobs sandbox` to try "
            "nbjobs on an embedded one")  # fmt: skip


def nearest_release(level: str) -> tuple[str, str, str]:
    """(release, its level, how `level` relates to it): the known release whose `extras` level is numbered
    closest to `level` (a tie goes to the newer release)."""
    number = _number(level)
    by_distance = sorted(KNOWN_LEVELS, key=lambda known: (abs(_number(known) - number), -_number(known)))
    known = by_distance[0]
    relation = "newer than" if number > _number(known) else "older than" if number < _number(known) else "numbered as"
    return KNOWN_LEVELS[known], known, relation


def _number(level: str) -> int:
    """A migration's number (`0145_...` is 145); names without one sort after every numbered one."""
    match = re.match(r"(\d+)_", level)
    return int(match.group(1)) if match else 10**9


def _no_job_table(tables: tuple[str, ...]) -> str:
    if not tables:
        return "it has no tables"
    return f"it has {len(tables)} table{'s' if len(tables) != 1 else ''} ({_listed(tables)}) and no {JOB_TABLE}"


def _listed(names: tuple[str, ...]) -> str:
    shown = ", ".join(names[:_SHOWN_TABLES])
    return shown + (f" and {len(names) - _SHOWN_TABLES} more" if len(names) > _SHOWN_TABLES else "")
