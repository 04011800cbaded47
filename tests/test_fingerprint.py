"""The loop's change detection: the rows fingerprint on every engine, and the code fingerprint on disk."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import JSON, Boolean, Connection, Double, Engine, String, event, func, select

from reconciler.nautobot.fingerprint import code_fingerprint, rows_fingerprint
from reconciler.nautobot.tables import extras_job, extras_jobqueue, extras_jobqueueassignment, metadata

NOW = datetime(2026, 11, 28, 12, 0, 0, 123456, tzinfo=UTC)
TABLES = [extras_jobqueue, extras_job, extras_jobqueueassignment]


def _queue_row(name: str, last_updated: datetime | None = NOW) -> dict[str, Any]:
    return {"id": uuid.uuid4(), "created": last_updated, "last_updated": last_updated, "_custom_field_data": {},
            "name": name, "description": "", "queue_type": "celery", "tenant_id": None}  # fmt: skip


def _job_row(name: str, queue_id: uuid.UUID, last_updated: datetime | None = NOW) -> dict[str, Any]:
    """Every NOT NULL column filled (Nautobot sets no database defaults)."""
    row: dict[str, Any] = {}
    for column in extras_job.columns:
        if isinstance(column.type, Boolean):
            row[column.name] = False
        elif isinstance(column.type, Double):
            row[column.name] = 0.0
        elif isinstance(column.type, String):
            row[column.name] = ""
        elif isinstance(column.type, JSON):
            row[column.name] = {}
    row.update(id=uuid.uuid4(), created=last_updated, last_updated=last_updated, module_name="jobs", grouping="jobs",
               job_class_name=name, name=name, installed=True, default_job_queue_id=queue_id)  # fmt: skip
    return row


def _assignment_row(job_id: uuid.UUID, queue_id: uuid.UUID) -> dict[str, Any]:
    return {"id": uuid.uuid4(), "job_id": job_id, "job_queue_id": queue_id}


@dataclass
class Base:
    """Two queues, three jobs (one never saved: NULL timestamps), two assignments."""

    default: dict[str, Any]
    heavy: dict[str, Any]
    audit: dict[str, Any]
    backup: dict[str, Any]
    unsaved: dict[str, Any]
    audit_default: dict[str, Any]
    backup_heavy: dict[str, Any]


@pytest.fixture
def tables(db_engine: Engine) -> Iterator[Engine]:
    """The empty database with the three tables the fingerprint reads."""
    metadata.create_all(db_engine, tables=TABLES)
    yield db_engine


@pytest.fixture
def base(tables: Engine) -> Base:
    default, heavy = _queue_row("default"), _queue_row("heavy")
    audit, backup = _job_row("Audit", default["id"]), _job_row("Backup", default["id"])
    unsaved = _job_row("Unsaved", heavy["id"], last_updated=None)
    rows = Base(default, heavy, audit, backup, unsaved, _assignment_row(audit["id"], default["id"]),
                _assignment_row(backup["id"], heavy["id"]))  # fmt: skip
    with tables.begin() as connection:
        connection.execute(extras_jobqueue.insert(), [default, heavy])
        connection.execute(extras_job.insert(), [audit, backup, unsaved])
        connection.execute(extras_jobqueueassignment.insert(), [rows.audit_default, rows.backup_heavy])
    return rows


def _fingerprint(engine: Engine) -> str:
    with engine.connect() as connection:
        return rows_fingerprint(connection)


def _job_where(row: dict[str, Any]) -> Any:
    return extras_job.c.id == row["id"]


def _insert_job(c: Connection, b: Base) -> None:
    c.execute(extras_job.insert().values(**_job_row("New", b.default["id"])))


def _delete_job(c: Connection, b: Base) -> None:
    c.execute(extras_jobqueueassignment.delete().where(extras_jobqueueassignment.c.job_id == b.backup["id"]))
    c.execute(extras_job.delete().where(_job_where(b.backup)))


def _save_job(c: Connection, b: Base) -> None:  # Nautobot's save(): last_updated moves, here by 1 µs
    c.execute(extras_job.update().where(_job_where(b.audit)).values(last_updated=NOW + timedelta(microseconds=1)))


def _save_unsaved_job(c: Connection, b: Base) -> None:  # NULL -> a timestamp
    c.execute(extras_job.update().where(_job_where(b.unsaved)).values(last_updated=NOW))


def _flip_enabled(c: Connection, b: Base) -> None:  # QuerySet.update() or raw SQL: last_updated untouched
    c.execute(extras_job.update().where(_job_where(b.audit)).values(enabled=True))


def _add_queue(c: Connection, b: Base) -> None:
    c.execute(extras_jobqueue.insert().values(**_queue_row("bulk")))


def _rename_queue(c: Connection, b: Base) -> None:
    c.execute(extras_jobqueue.update().where(extras_jobqueue.c.id == b.heavy["id"])
              .values(name="isolated", last_updated=NOW + timedelta(seconds=1)))  # fmt: skip


def _rename_queue_raw(c: Connection, b: Base) -> None:
    c.execute(extras_jobqueue.update().where(extras_jobqueue.c.id == b.heavy["id"]).values(name="isolated"))


def _add_assignment(c: Connection, b: Base) -> None:
    c.execute(extras_jobqueueassignment.insert().values(**_assignment_row(b.audit["id"], b.heavy["id"])))


def _remove_assignment(c: Connection, b: Base) -> None:
    c.execute(extras_jobqueueassignment.delete().where(extras_jobqueueassignment.c.id == b.audit_default["id"]))


def _swap_assignment(c: Connection, b: Base) -> None:
    """One removed and another added: the count stays the same, only the hash sum can tell."""
    _remove_assignment(c, b)
    _add_assignment(c, b)


MUTATIONS: dict[str, Callable[[Connection, Base], None]] = {
    "job inserted": _insert_job,
    "job deleted": _delete_job,
    "job saved (last_updated bumped)": _save_job,
    "job with NULL last_updated saved": _save_unsaved_job,
    "enabled flipped, last_updated unchanged": _flip_enabled,
    "queue added": _add_queue,
    "queue renamed with last_updated": _rename_queue,
    "queue renamed by raw SQL": _rename_queue_raw,
    "assignment added": _add_assignment,
    "assignment removed": _remove_assignment,
    "assignment swapped": _swap_assignment,
}


@pytest.mark.database
@pytest.mark.parametrize("mutation", list(MUTATIONS))
def test_rows_fingerprint_changes_with_each_change(tables: Engine, base: Base, mutation: str) -> None:
    before = _fingerprint(tables)
    assignments = select(func.count()).select_from(extras_jobqueueassignment)
    with tables.begin() as connection:
        count_before = connection.execute(assignments).scalar_one()
        MUTATIONS[mutation](connection, base)
        count_after = connection.execute(assignments).scalar_one()
    if mutation == "assignment swapped":
        assert count_after == count_before
    assert _fingerprint(tables) != before


@pytest.mark.database
def test_rows_fingerprint_is_stable_and_one_statement(tables: Engine, base: Base) -> None:
    statements: list[str] = []

    def _count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    with tables.connect() as connection:
        connection.begin()  # SQLite's BEGIN is a statement of its own (connect.py): not the fingerprint's
        event.listen(tables, "before_cursor_execute", _count)
        try:
            first, second = rows_fingerprint(connection), rows_fingerprint(connection)
        finally:
            event.remove(tables, "before_cursor_execute", _count)
    assert first == second == _fingerprint(tables)
    assert len(statements) == 2, statements  # one per call
    assert all(s.lstrip().upper().startswith("SELECT") for s in statements)
    assert len(first) == 64 and int(first, 16) >= 0


@pytest.mark.database
def test_rows_fingerprint_of_empty_tables(tables: Engine) -> None:
    empty = _fingerprint(tables)
    assert empty == _fingerprint(tables)
    with tables.begin() as connection:
        connection.execute(extras_jobqueue.insert().values(**_queue_row("default")))
    with_queue = _fingerprint(tables)
    assert with_queue != empty
    with tables.begin() as connection:
        connection.execute(extras_jobqueue.delete())
    assert _fingerprint(tables) == empty  # a function of the rows alone


# code_fingerprint


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "jobs"
    (root / "audits").mkdir(parents=True)
    (root / "audits" / "__init__.py").write_text("")
    (root / "audits" / "device.py").write_text("class DeviceAudit: ...\n")
    (root / "backup.py").write_text("class ConfigBackup: ...\n")
    return root


def test_code_fingerprint_is_stable(tree: Path) -> None:
    assert code_fingerprint([tree]) == code_fingerprint([tree])
    assert len(code_fingerprint([tree])) == 64


def test_code_fingerprint_sees_a_touch_and_nothing_else(tree: Path) -> None:
    before = code_fingerprint([tree])
    target = tree / "backup.py"
    original = target.stat()
    os.utime(target, ns=(original.st_atime_ns, original.st_mtime_ns + 1_000))
    assert code_fingerprint([tree]) != before
    os.utime(target, ns=(original.st_atime_ns, original.st_mtime_ns))
    assert code_fingerprint([tree]) == before  # a function of (path, size, mtime) alone


def test_code_fingerprint_sees_a_size_change_at_the_same_mtime(tree: Path) -> None:
    before = code_fingerprint([tree])
    target = tree / "audits" / "device.py"
    original = target.stat()
    target.write_text("class DeviceAudit: ...\nclass Other: ...\n")
    os.utime(target, ns=(original.st_atime_ns, original.st_mtime_ns))
    assert code_fingerprint([tree]) != before


def test_code_fingerprint_sees_new_and_removed_files(tree: Path) -> None:
    before = code_fingerprint([tree])
    (tree / "audits" / "new.py").write_text("")
    with_new = code_fingerprint([tree])
    assert with_new != before
    (tree / "audits" / "new.py").unlink()
    assert code_fingerprint([tree]) == before
    (tree / "backup.py").unlink()
    assert code_fingerprint([tree]) not in (before, with_new)


def test_code_fingerprint_ignores_pycache_and_dot_directories(tree: Path) -> None:
    before = code_fingerprint([tree])
    for skipped in (tree / "audits" / "__pycache__", tree / ".git", tree / "audits" / ".venv"):
        skipped.mkdir()
        (skipped / "device.cpython-311.pyc").write_bytes(b"\0" * 100)
    assert code_fingerprint([tree]) == before
    (tree / ".hidden.py").write_text("")  # a dot-file is a file: only dot-directories are skipped
    assert code_fingerprint([tree]) != before


def test_code_fingerprint_distinguishes_missing_empty_and_file_roots(tmp_path: Path) -> None:
    missing, empty, file = tmp_path / "missing", tmp_path / "empty", tmp_path / "jobs.py"
    empty.mkdir()
    file.write_text("class Job: ...\n")
    fingerprints = {code_fingerprint(roots) for roots in ([], [missing], [empty], [file], [missing, empty])}
    assert len(fingerprints) == 5
    while_missing = code_fingerprint([missing])
    missing.mkdir()  # created, empty: no longer missing
    assert code_fingerprint([missing]) != while_missing
    before = code_fingerprint([file])
    os.utime(file, ns=(0, file.stat().st_mtime_ns + 1_000))
    assert code_fingerprint([file]) != before


def test_code_fingerprint_keeps_roots_apart(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    (first / "module.py").write_text("")
    before = code_fingerprint([first, second])
    (first / "module.py").rename(second / "module.py")  # same name, size and mtime, other root
    assert code_fingerprint([first, second]) != before
    assert code_fingerprint([second, first]) != code_fingerprint([first, second])  # order is precedence


def test_code_fingerprint_follows_symlinks_but_not_cycles(tree: Path) -> None:
    (tree / "audits" / "loop").symlink_to(tree)  # a directory that is its own ancestor
    (tree / "dangling.py").symlink_to(tree / "nowhere.py")
    before = code_fingerprint([tree])
    (tree / "nowhere.py").write_text("")  # the dangling link now resolves
    assert code_fingerprint([tree]) != before


def test_code_fingerprint_at_scale(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """10,000 files in 100 packages complete; the time is reported, not asserted (target: < 100 ms)."""
    for package in range(100):
        directory = tmp_path / f"package_{package:03}"
        directory.mkdir()
        for module in range(100):
            (directory / f"module_{module:03}.py").write_text("")
    code_fingerprint([tmp_path])  # warm the dentry cache, as a loop's every tick after the first is
    started = time.perf_counter()
    first = code_fingerprint([tmp_path])
    elapsed = time.perf_counter() - started
    assert first == code_fingerprint([tmp_path])
    with capsys.disabled():
        print(f"\ncode_fingerprint over 10,000 files: {elapsed * 1000:.1f} ms")
