"""Two applies against one database never interleave.

PostgreSQL: an advisory transaction lock; MySQL/MariaDB: GET_LOCK on the session; SQLite: the
database's write lock (BEGIN IMMEDIATE). The database releases each one when the holder's transaction
or connection ends, so a crashed holder never leaves a lock behind. Who holds it is written to
nbjobs_lock through a separate autocommit connection (on SQLite, where the writer blocks every other
writer, to a file beside the database), so a refused apply can name the holder.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import Connection, Engine, delete, insert, select, text, update
from sqlalchemy.exc import OperationalError

from reconciler.diagnostics import NbjobsError
from reconciler.state.tables import nbjobs_lock

LOCK_NAME = "nbjobs-apply"
_PG_KEY = 0x6E626A6F6273  # "nbjobs"


@dataclass(frozen=True)
class Holder:
    host: str
    pid: int
    started_at: datetime
    revision: str | None = None
    user_name: str | None = None

    @classmethod
    def this_process(cls, started_at: datetime, revision: str | None, user_name: str | None) -> Holder:
        return cls(socket.gethostname(), os.getpid(), started_at, revision, user_name)

    def __str__(self) -> str:
        text = f"host {self.host}, pid {self.pid}, since {self.started_at:%Y-%m-%d %H:%M:%S} UTC"
        if self.revision:
            text += f", applying manifests at {self.revision}"
        return text + (f", as {self.user_name}" if self.user_name else "")


class LockHeldError(NbjobsError):
    def __init__(self, holder: Holder | None, timeout: float) -> None:
        who = f"held by {holder}" if holder else "held by another apply (holder unknown)"
        waited = f" after waiting {timeout:g}s" if timeout else ""
        super().__init__(f"another nbjobs apply is running against this database ({who}); gave up{waited}. "
                         "Nothing was changed; retry later or pass --lock-timeout SECONDS to wait.")  # fmt: skip
        self.holder = holder


@contextmanager
def locked_transaction(engine: Engine, holder: Holder, timeout: float = 0.0) -> Iterator[Connection]:
    """A transaction holding the apply lock; committed when the block ends without an exception."""
    dialect = engine.dialect.name
    if dialect == "sqlite":
        with _sqlite(engine, holder, timeout) as connection:
            yield connection
    elif dialect == "postgresql":
        with _postgresql(engine, holder, timeout) as connection:
            yield connection
    elif dialect in ("mysql", "mariadb"):
        with _mysql(engine, holder, timeout) as connection:
            yield connection
    else:
        raise NbjobsError(f"nbjobs cannot lock a {dialect} database")


@contextmanager
def _postgresql(engine: Engine, holder: Holder, timeout: float) -> Iterator[Connection]:
    with engine.connect() as connection, connection.begin():
        deadline = time.monotonic() + timeout
        while not connection.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _PG_KEY}).scalar():
            if time.monotonic() >= deadline:
                raise LockHeldError(_read_record(engine), timeout)
            time.sleep(0.1)
        _write_record(engine, holder)
        yield connection
    _release_record(engine, holder)


@contextmanager
def _mysql(engine: Engine, holder: Holder, timeout: float) -> Iterator[Connection]:
    with engine.connect() as connection:
        # Named locks are server-wide on MySQL/MariaDB (PostgreSQL's advisory locks are per database):
        # the name carries the database, or applies to different databases would wait for each other.
        database = str(connection.execute(text("SELECT DATABASE()")).scalar())
        name = f"{LOCK_NAME}:{hashlib.sha256(database.encode()).hexdigest()[:40]}"  # GET_LOCK names: 64 chars
        got = connection.execute(text("SELECT GET_LOCK(:n, :t)"), {"n": name, "t": timeout}).scalar()
        connection.commit()  # the lock belongs to the session; the work gets a fresh transaction and snapshot
        if got != 1:
            raise LockHeldError(_read_record(engine), timeout)
        try:
            _write_record(engine, holder)
            with connection.begin():
                yield connection
        finally:
            _release_record(engine, holder)
            connection.execute(text("SELECT RELEASE_LOCK(:n)"), {"n": name})
            connection.commit()


@contextmanager
def _sqlite(engine: Engine, holder: Holder, timeout: float) -> Iterator[Connection]:
    sidecar = Path(f"{engine.url.database}.nbjobs-lock.json")
    with engine.connect() as connection:
        connection.connection.driver_connection.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")  # type: ignore[union-attr]
        connection.execution_options(sqlite_begin="IMMEDIATE")
        try:
            transaction = connection.begin()
        except OperationalError as exc:
            if "locked" not in str(exc):
                raise
            raise LockHeldError(_read_sidecar(sidecar), timeout) from None
        with transaction:
            sidecar.write_text(json.dumps(asdict(holder), default=str))
            try:
                yield connection
            finally:
                with suppress(FileNotFoundError):
                    sidecar.unlink()


def _write_record(engine: Engine, holder: Holder) -> None:
    with engine.begin() as side:
        side.execute(delete(nbjobs_lock).where(nbjobs_lock.c.name == LOCK_NAME))
        side.execute(insert(nbjobs_lock).values(name=LOCK_NAME, state="held", **asdict(holder)))


def _release_record(engine: Engine, holder: Holder) -> None:
    with engine.begin() as side:
        side.execute(update(nbjobs_lock).where(nbjobs_lock.c.name == LOCK_NAME, nbjobs_lock.c.pid == holder.pid,
                                               nbjobs_lock.c.host == holder.host).values(state="released"))  # fmt: skip


def _read_record(engine: Engine) -> Holder | None:
    with engine.connect() as side:
        row = side.execute(select(nbjobs_lock).where(nbjobs_lock.c.name == LOCK_NAME)).first()
    if row is None or row.state != "held":
        return None
    return Holder(row.host, row.pid, row.started_at, row.revision, row.user_name)


def _read_sidecar(path: Path) -> Holder | None:
    try:
        data = json.loads(path.read_text())
        return Holder(data["host"], int(data["pid"]), datetime.fromisoformat(data["started_at"]), data.get("revision"),
                      data.get("user_name"))  # fmt: skip
    except (OSError, ValueError, KeyError):
        return None
