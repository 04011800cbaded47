"""Two applies against one database never interleave, from planning to the last purge batch.

The lock is held by a session for the whole apply: the transaction that plans and writes, then the purge
batches after it, each its own short transaction (a second apply that started planning mid-purge would
plan the rest of the purge too, and both would count the same results).

| database | lock | released by the database when |
|---|---|---|
| PostgreSQL | a session advisory lock (pg_try_advisory_lock) | the session ends |
| MySQL/MariaDB | GET_LOCK, whose name carries the database's | the session ends |
| SQLite | flock on `<database>.nbjobs-lock.json` beside the file | the process ends |

So a crashed holder (SIGKILL, a lost connection, a restarted server) never leaves a lock behind, and
there is no stale lock to take over. On SQLite the work still takes the database's write lock itself
(BEGIN IMMEDIATE), waiting up to a busy timeout for other writers, readers and the commit.

Who holds the lock is written, once it is taken, to nbjobs_lock through a separate connection (on SQLite
into the locked file itself, since SQLite's writer blocks every other writer), so that a refused apply can
name the holder. A refused apply reads that record after its last try; if the record is not (yet) the
holder's (the holder took the lock a moment ago, or left a record behind when it crashed), it tries the
lock and reads again for up to a second before saying the holder is unknown.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select, text, update
from sqlalchemy.exc import SQLAlchemyError

from reconciler.diagnostics import NbjobsError
from reconciler.faults import fault_point
from reconciler.nautobot.connect import write_transaction
from reconciler.state.tables import nbjobs_lock

LOCK_NAME = "nbjobs-apply"
_PG_KEY = 0x6E626A6F6273  # "nbjobs"
_POLL_SECONDS = 0.05
_NAMING_SECONDS = 1.0  # how long a refused apply keeps looking for the holder's record


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

    @property
    def gone(self) -> bool:
        """A record left by a process of this host that no longer runs (it crashed holding the lock)."""
        if self.host != socket.gethostname():
            return False  # another host's processes cannot be seen from here
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False


class LockHeldError(NbjobsError):
    def __init__(self, holder: Holder | None, timeout: float) -> None:
        who = f"held by {holder}" if holder else "held by another apply (holder unknown)"
        waited = f" after waiting {timeout:g}s" if timeout else ""
        super().__init__(f"another nbjobs apply is running against this database ({who}); gave up{waited}. "
                         "Nothing was changed; retry later or pass --lock-timeout SECONDS to wait.")  # fmt: skip
        self.holder = holder


class ApplyLock:
    """The held lock: `transaction()` opens the apply's transaction on the lock's session."""

    def __init__(self, transaction: Callable[[], AbstractContextManager[Connection]]) -> None:
        self._transaction = transaction

    def transaction(self) -> AbstractContextManager[Connection]:
        """A transaction, committed when the block ends without an exception, rolled back otherwise."""
        return self._transaction()


@contextmanager
def apply_lock(engine: Engine, holder: Holder, timeout: float = 0.0) -> Iterator[ApplyLock]:
    """Hold the apply lock for the block, waiting up to `timeout` seconds for it (LockHeldError after)."""
    dialect = engine.dialect.name
    if dialect == "sqlite":
        with _sqlite(engine, holder, timeout) as lock:
            yield lock
    elif dialect == "postgresql":
        with _postgresql(engine, holder, timeout) as lock:
            yield lock
    elif dialect in ("mysql", "mariadb"):
        with _mysql(engine, holder, timeout) as lock:
            yield lock
    else:
        raise NbjobsError(f"nbjobs cannot lock a {dialect} database")


@contextmanager
def locked_transaction(engine: Engine, holder: Holder, timeout: float = 0.0) -> Iterator[Connection]:
    """One transaction holding the apply lock; committed when the block ends without an exception."""
    with apply_lock(engine, holder, timeout) as lock, lock.transaction() as connection:
        yield connection


def _acquire(try_lock: Callable[[], bool], read_holder: Callable[[], Holder | None], timeout: float) -> None:
    """Try the lock until `timeout` has passed; then refuse, naming the holder if it can be found."""
    deadline = time.monotonic() + timeout
    while not try_lock():
        if time.monotonic() >= deadline:
            break
        time.sleep(_POLL_SECONDS)
    else:
        return  # taken
    naming_ends = time.monotonic() + _NAMING_SECONDS
    while True:
        holder = read_holder()
        if holder is not None and not holder.gone:
            raise LockHeldError(holder, timeout)
        if try_lock():  # the holder was leaving as we looked: the lock is ours after all
            return
        if time.monotonic() >= naming_ends:
            raise LockHeldError(None, timeout)
        time.sleep(_POLL_SECONDS)


@contextmanager
def _postgresql(engine: Engine, holder: Holder, timeout: float) -> Iterator[ApplyLock]:
    with engine.connect() as connection:

        def try_lock() -> bool:
            got = bool(connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": _PG_KEY}).scalar())
            connection.commit()  # no transaction (nor snapshot) stays open between tries; the lock is the session's
            return got

        _acquire(try_lock, lambda: _read_record(engine), timeout)
        try:
            _write_record(engine, holder)
            fault_point("apply.locked")
            yield ApplyLock(lambda: _transaction_on(connection))
        finally:
            _release(connection, engine, holder, "SELECT pg_advisory_unlock(:k)", {"k": _PG_KEY})


@contextmanager
def _mysql(engine: Engine, holder: Holder, timeout: float) -> Iterator[ApplyLock]:
    with engine.connect() as connection:
        # Named locks are server-wide on MySQL/MariaDB (PostgreSQL's advisory locks are per database):
        # the name carries the database, or applies to different databases would wait for each other.
        database = str(connection.execute(text("SELECT DATABASE()")).scalar())
        name = f"{LOCK_NAME}:{hashlib.sha256(database.encode()).hexdigest()[:40]}"  # GET_LOCK names: 64 chars

        def try_lock() -> bool:
            got = connection.execute(text("SELECT GET_LOCK(:n, 0)"), {"n": name}).scalar()
            connection.commit()  # the lock belongs to the session; the work gets a fresh transaction and snapshot
            return got == 1

        _acquire(try_lock, lambda: _read_record(engine), timeout)
        try:
            _write_record(engine, holder)
            fault_point("apply.locked")
            yield ApplyLock(lambda: _transaction_on(connection))
        finally:
            _release(connection, engine, holder, "SELECT RELEASE_LOCK(:n)", {"n": name})


@contextmanager
def _transaction_on(connection: Connection) -> Iterator[Connection]:
    with connection.begin():
        yield connection


def _release(connection: Connection, engine: Engine, holder: Holder, unlock: str, parameters: dict[str, Any]) -> None:
    """Mark the record released and release the session's lock. Best effort: when the session was lost the
    server has released the lock already, and this must not hide the error that ended the apply."""
    with suppress(SQLAlchemyError):
        _release_record(engine, holder)
    try:
        if connection.in_transaction():
            connection.rollback()
        connection.execute(text(unlock), parameters)
        connection.commit()
    except SQLAlchemyError:
        connection.invalidate()  # never pooled again with a lock it may still hold: closing it releases that


@contextmanager
def _sqlite(engine: Engine, holder: Holder, timeout: float) -> Iterator[ApplyLock]:
    path = Path(f"{engine.url.database}.nbjobs-lock.json")
    descriptor, held = -1, False

    def try_lock() -> bool:
        nonlocal descriptor
        if descriptor < 0:
            try:
                descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise NbjobsError(f"cannot open the apply's lock file {path}: {exc.strerror}; nothing was changed "
                                  "(nbjobs needs to write beside the SQLite database)") from None  # fmt: skip
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        try:
            same = os.fstat(descriptor).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if not same:  # the holder before us removed the file as it left: lock the file that is there now
            os.close(descriptor)
            descriptor = -1
            return try_lock()
        return True

    try:
        _acquire(try_lock, lambda: _read_lock_file(path), timeout)
        held = True
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, json.dumps(asdict(holder), default=str).encode(), 0)
        fault_point("apply.locked")
        # The work takes SQLite's write lock itself (BEGIN IMMEDIATE): writers other than nbjobs applies
        # (which wait here, on the file) and readers holding up the commit are waited for (busy timeout).
        yield ApplyLock(lambda: write_transaction(engine))
    finally:
        if held:  # removed while still locked: no one who opens it later finds a file that nobody holds
            path.unlink(missing_ok=True)  # (try_lock handles those who opened it before)
        if descriptor >= 0:
            os.close(descriptor)  # releases the flock


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


def _read_lock_file(path: Path) -> Holder | None:
    try:
        data = json.loads(path.read_text())
        return Holder(data["host"], int(data["pid"]), datetime.fromisoformat(data["started_at"]), data.get("revision"),
                      data.get("user_name"))  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError):
        return None  # none yet (the holder is writing it), or none any more (it is leaving)
