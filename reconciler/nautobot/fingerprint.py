"""Fingerprints that tell the reconcile loop, cheaply, whether anything changed since its last run.

The loop wakes up periodically, and on almost every tick nothing has changed. That idle tick must cost
next to nothing, whatever the number of jobs: at most three statements, never a full snapshot,
discovery and plan. So the loop keeps two fingerprints from its last full run and compares:

- `rows_fingerprint`: ONE statement over `extras_job`, `extras_jobqueue` and
  `extras_jobqueueassignment`, one row back. Per table: the row count, and the SUM of a 32-bit hash
  of each row. An insert or a delete changes the count; an edit, or a row swapped for another (same
  count), changes the sum. A job row hashes `id`, `last_updated` (every Nautobot `save()` bumps it)
  and `enabled`, which a bulk `QuerySet.update()` or raw SQL flips without touching `last_updated`.
  A queue row hashes `id`, `last_updated` and what nbjobs reconciles (name, type, description):
  queues are few, so that is free. An assignment row hashes all three of its columns. Being one
  statement, it reads one consistent view of the three tables on PostgreSQL and InnoDB.
- `code_fingerprint`: (relative path, size, mtime) of every file under the code roots, from `stat`
  alone: no file is read.

The per-row hash is compiled per dialect: md5 on PostgreSQL, CRC32 on MySQL/MariaDB, and on SQLite
`nbjobs_crc32`, a Python function that `connect.create_db_engine` registers on every connection. Each
engine hashes the text it renders, which differs between engines; that is fine, because a fingerprint
is only ever compared with an earlier one from the same database.

What it cannot see: a raw edit of another job column that leaves `last_updated` alone, and (odds
2**-32 per change) a hash collision. A spurious change (say, a server's TimeZone setting changing how
timestamps render) only costs one full run.
"""

from __future__ import annotations

import hashlib
import os
import stat
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import BigInteger, Connection, Label, Select, Table, func, literal_column, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from reconciler.nautobot.tables import extras_job, extras_jobqueue, extras_jobqueueassignment

SQLITE_ROW_HASH = "nbjobs_crc32"
"""The SQL name of `sqlite_row_hash`, registered on every SQLite connection by `connect`."""


def sqlite_row_hash(*values: object) -> int:
    """SQLite's per-row hash: CRC32 of the values' text joined by `|`, NULL as empty (deterministic)."""
    return zlib.crc32("|".join("" if value is None else str(value) for value in values).encode())


class RowHash(FunctionElement[int]):
    """An unsigned 32-bit hash of its arguments, never NULL (NULL arguments are skipped or empty)."""

    type = BigInteger()
    name = "nbjobs_row_hash"
    inherit_cache = True


@compiles(RowHash)
def _row_hash_sqlite(element: RowHash, compiler: SQLCompiler, **kw: Any) -> str:
    return f"{SQLITE_ROW_HASH}({compiler.process(element.clauses, **kw)})"


@compiles(RowHash, "postgresql")
def _row_hash_postgresql(element: RowHash, compiler: SQLCompiler, **kw: Any) -> str:
    arguments = compiler.process(element.clauses, **kw)
    return f"('x' || substr(md5(concat_ws('|', {arguments})), 1, 8))::bit(32)::bigint"


@compiles(RowHash, "mysql")
@compiles(RowHash, "mariadb")
def _row_hash_mysql(element: RowHash, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CRC32(CONCAT_WS('|', {compiler.process(element.clauses, **kw)}))"


def _aggregates(table: Table, alias: str, *hashed: ColumnElement[Any]) -> list[Label[Any]]:
    """The table's row count and the sum of its rows' hashes (0, not NULL, when it is empty)."""
    hash_sum = func.coalesce(func.sum(RowHash(*hashed)), literal_column("0"))
    return [
        select(func.count()).select_from(table).scalar_subquery().label(f"{alias}_count"),
        select(hash_sum).select_from(table).scalar_subquery().label(f"{alias}_hash"),
    ]


def _fingerprint_statement() -> Select[Any]:
    job, queue, assignment = extras_job.c, extras_jobqueue.c, extras_jobqueueassignment.c
    # Uncorrelated scalar subqueries in one FROM-less SELECT: one statement, one row back.
    return select(
        *_aggregates(extras_job, "jobs", job.id, job.last_updated, job.enabled),
        *_aggregates(
            extras_jobqueue, "queues", queue.id, queue.last_updated, queue.name, queue.queue_type, queue.description
        ),
        *_aggregates(
            extras_jobqueueassignment, "assignments", assignment.id, assignment.job_id, assignment.job_queue_id
        ),
    )


FINGERPRINT_STATEMENT = _fingerprint_statement()


def rows_fingerprint(connection: Connection) -> str:
    """A hex digest that changes when a job, queue or queue assignment row is inserted, deleted or
    saved, or a job's `enabled` flips. Exactly one SQL statement."""
    row = connection.execute(FINGERPRINT_STATEMENT).one()
    # Counts and sums come back as int (SQLite) or Decimal (PostgreSQL numeric, MySQL DECIMAL).
    summary = ",".join(str(int(value)) for value in row)
    return hashlib.sha256(summary.encode()).hexdigest()


_SKIPPED_DIRECTORY = b"__pycache__"


def code_fingerprint(roots: Sequence[Path]) -> str:
    """A hex digest of (relative path, size, st_mtime_ns) of every file under each root, in order.

    A root that is a file counts as itself; a missing root counts as missing, which differs from an
    empty directory. `__pycache__` and dot-directories are skipped. Symlinks are followed, as the
    import system follows them, except into a directory that is its own ancestor. Nothing is read but
    directory listings and `stat`. Entries are sorted, so the digest does not depend on listing order.
    """
    digest = hashlib.sha256()
    for root in roots:
        digest.update(b"\0root\0" + os.fsencode(root) + b"\0")
        try:
            root_stat = os.stat(root)
        except (FileNotFoundError, NotADirectoryError):
            digest.update(b"missing\0")
            continue
        except OSError:
            digest.update(b"unreadable\0")
            continue
        if stat.S_ISDIR(root_stat.st_mode):
            entries = sorted(_directory_entries(os.fsencode(root), root_stat))
            digest.update(b"directory\0%d\0" % len(entries))  # the count keeps the roots apart
            digest.update(b"\0".join(entries))
        else:
            digest.update(b"file\0%d\0%d\0" % (root_stat.st_size, root_stat.st_mtime_ns))
    return digest.hexdigest()


def _directory_entries(root: bytes, root_stat: os.stat_result) -> list[bytes]:
    """Three NUL-separated fields per entry (no file name holds a NUL, so the joined list parses one
    way): `relative path, size, st_mtime_ns` for a file, `relative path, what, ""` for an entry that
    could not be followed (unreadable, cycle, dangling)."""
    entries: list[bytes] = []
    # (directory, its path relative to the root with a trailing /, the (st_dev, st_ino) of it and its
    # ancestors): an explicit stack, so no tree is too deep.
    pending: list[tuple[bytes, bytes, frozenset[tuple[int, int]]]] = [
        (root, b"", frozenset({(root_stat.st_dev, root_stat.st_ino)}))
    ]
    while pending:
        directory, prefix, ancestors = pending.pop()
        try:
            listing = os.scandir(directory)
        except OSError:
            entries.append(prefix + b"\0unreadable\0")
            continue
        with listing:
            for entry in listing:
                name = entry.name
                relative = prefix + name
                try:
                    is_directory = entry.is_dir()
                except OSError:
                    is_directory = False
                if is_directory:
                    if name.startswith(b".") or name == _SKIPPED_DIRECTORY:
                        continue
                    try:
                        found = entry.stat()
                    except OSError:
                        entries.append(relative + b"\0unreadable\0")
                        continue
                    key = (found.st_dev, found.st_ino)
                    if key in ancestors:
                        entries.append(relative + b"\0cycle\0")
                        continue
                    pending.append((entry.path, relative + b"/", ancestors | {key}))
                    continue
                try:
                    found = entry.stat()
                except OSError:  # a dangling symlink, or a file gone since the listing
                    entries.append(relative + b"\0dangling\0")
                    continue
                entries.append(b"%s\0%d\0%d" % (relative, found.st_size, found.st_mtime_ns))
    return entries
