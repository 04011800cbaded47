"""What the fault tests share (tests/test_faults_*.py): a large apply to break, databases reset to its
before state in a second on every engine, exact dumps to compare states with, nbjobs in a subprocess, and
database servers of a test's own to restart.

The apply (`Workload`): synthetic jobs spread over 50 modules, as a JOBS_ROOT on disk, and a sandbox built
from them plus `legacy.Old`, a job whose code is gone, with finished results (each with a log and a
console entry). The manifest creates a queue, pins three fields on every job through a glob, enables every
tenth job, moves the jobs of one module to the new queue and retires `legacy.Old` with its results: one
transaction of about 3 operations a job, then the purge in batches. The jobs are the benchmarks' own
(bench_plan.synthetic_code, written out by bench_loop.write_jobs_root; bench/ is put on the path), so
the crash tests and the benchmarks measure the same shape of data.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from common import ROOT
from sqlalchemy import URL, Connection, Engine, MetaData, create_engine, insert, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from reconciler.diagnostics import Location
from reconciler.discovery.types import DiscoveredJob, Discovery, SourceKind
from reconciler.fields import FieldValues
from reconciler.nautobot.connect import DatabaseTarget, create_db_engine
from reconciler.nautobot.tables import extras_job, extras_jobconsoleentry, extras_joblogentry, extras_jobresult
from reconciler.sandbox import build_sandbox

sys.path.insert(0, str(ROOT / "bench"))
from bench_loop import write_jobs_root
from bench_plan import synthetic_code

SERVERS = {
    "postgresql": URL.create("postgresql+psycopg", username="postgres", host="127.0.0.1", port=5432,
                             database="postgres"),
    "mariadb": URL.create("mysql+pymysql", username="root", host="127.0.0.1", port=3306, database="mysql"),
}  # fmt: skip
# The results of legacy.Old and what goes with each of them: purged in batches after the apply.
RESULT_TABLES = ("extras_jobresult", "extras_joblogentry", "extras_jobconsoleentry", "nbjobs_retired_result")
# Rewritten by every apply, killed or not: the lock's holder record (see reconciler.apply.lock).
LOCK_TABLE = "nbjobs_lock"
_SNAPSHOT = "nbjobs_faults_snapshot"  # PostgreSQL: the schema a copy is restored from
# Sequence-made ids: a sequence is not rolled back with the transaction that drew from it.
SEQUENCE_COLUMNS = {"nbjobs_apply_change": ("id",)}


@dataclass
class Workload:
    """The jobs root, the manifest and the before state of one large apply."""

    workdir: Path
    jobs: int = 1000
    results: int = 2000
    batch_size: int = 500
    code: Discovery = field(init=False)
    jobs_root: Path = field(init=False)
    manifest: Path = field(init=False)

    def __post_init__(self) -> None:
        self.code = synthetic_code(self.jobs)
        self.jobs_root = write_jobs_root(self.code, self.workdir / "jobs")
        exact = "".join(f"  - match: {job.class_path}\n    enabled: true\n" for job in self.code.jobs[::10])
        self.manifest = self.workdir / "manifest.yaml"
        self.manifest.write_text(
            "apiVersion: nbjobs/v1\nkind: Jobs\nqueues:\n  - name: faults\n    type: celery\n"
            "    description: crash tested\njobs:\n  - match: bench_jobs.*\n    hidden: true\n    time_limit: 900\n"
            "    description: crash tested\n  - match: bench_jobs.m0.*\n"
            "    queues: {default: faults, eligible: [faults, default]}\n"
            f"{exact}retire:\n  - match: legacy.Old\n    purge_results: true\n    why: crash test\n"
        )  # fmt: skip

    @property
    def purge_batches(self) -> int:
        return -(-self.results // self.batch_size)

    def build(self, engine: Engine) -> None:
        """The before state: the sandbox of the code and legacy.Old, and the old job's results."""
        at = Location("legacy.py", 1, 1)
        old = DiscoveredJob("legacy", "Old", SourceKind.JOBS_ROOT, at, FieldValues(grouping="legacy", name="Old"))
        build_sandbox(engine, Discovery((*self.code.jobs, old)))
        seed_results(engine, "Old", self.results)

    def apply_argv(self, url: str, *extra: str) -> list[str]:
        return ["apply", "--yes", "--batch-size", str(self.batch_size), "--jobs-root", str(self.jobs_root),
                "--database-url", url, *extra, str(self.manifest)]  # fmt: skip

    def plan_argv(self, url: str, *extra: str) -> list[str]:
        return ["plan", "--jobs-root", str(self.jobs_root), "--database-url", url, *extra, str(self.manifest)]


def seed_results(engine: Engine, job_class_name: str, count: int) -> None:
    """`count` finished results of the job, each with a log entry and a console entry, as Nautobot's
    tables hold them (through SQLAlchemy, so on every engine: bench_purge seeds in SQL for speed)."""
    now = datetime.now(UTC)
    with engine.begin() as connection:
        job = select(extras_job.c.id).where(extras_job.c.job_class_name == job_class_name)
        job_id = connection.execute(job).scalar_one()
        ids = [uuid4() for _ in range(count)]
        connection.execute(insert(extras_jobresult), [
            {"id": i, "name": "old", "date_created": now, "status": "SUCCESS", "_custom_field_data": {},
             "job_model_id": job_id, "task_args": [], "task_kwargs": {}, "celery_kwargs": {}, "cancel_type": "",
             "canceled_by_user_name": ""} for i in ids])  # fmt: skip
        connection.execute(insert(extras_joblogentry), [
            {"id": uuid4(), "job_result_id": i, "log_level": "info", "grouping": "main", "message": "x",
             "created": now, "log_object": "", "absolute_url": ""} for i in ids])  # fmt: skip
        connection.execute(
            insert(extras_jobconsoleentry),
            [{"id": uuid4(), "job_result_id": i, "timestamp": now, "output_type": "output", "text": "x"} for i in ids],
        )


class Databases:
    """Named databases of one engine for one test session, copied from one another; dropped by `close`.

    Copies are how a trial starts from the before state in well under the time of building it: a file
    copy on SQLite, `CREATE DATABASE ... TEMPLATE` on PostgreSQL, and on MariaDB (which has no template)
    every table re-created from SHOW CREATE TABLE, foreign keys included, and filled by INSERT ... SELECT.
    """

    def __init__(self, engine_name: str, workdir: Path) -> None:
        self.engine_name, self.workdir = engine_name, workdir
        self.prefix = f"nbjobs_faults_{os.getpid()}"
        self.admin = (  # not pooled: a test that ends the sessions of a copy must not end this one (USE copy)
            create_engine(SERVERS[engine_name], isolation_level="AUTOCOMMIT", poolclass=NullPool)
            if engine_name != "sqlite"
            else None
        )
        self.names: set[str] = set()
        self._restorable: dict[str, str] = {}  # database -> the one it is restored from in place

    def url(self, name: str) -> URL:
        if self.admin is None:
            return URL.create("sqlite", database=str(self.workdir / f"{name}.db"))
        return SERVERS[self.engine_name].set(database=f"{self.prefix}_{name}")

    def url_text(self, name: str) -> str:
        return self.url(name).render_as_string(hide_password=False)

    def engine(self, name: str) -> Engine:
        return create_db_engine(DatabaseTarget(self.url(name), f"faults {name}"))

    def create(self, name: str) -> None:
        self.drop(name)
        self.names.add(name)
        if self.admin is not None:
            charset = " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci" if self.engine_name == "mariadb" else ""
            self._sql(f"CREATE DATABASE {self.prefix}_{name}{charset}")

    def copy(self, source: str, name: str) -> None:
        """`name` becomes a copy of `source` (no connection may be open to `source` on PostgreSQL)."""
        self.drop(name)
        self.names.add(name)
        if self.admin is None:
            shutil.copyfile(self.workdir / f"{source}.db", self.workdir / f"{name}.db")
        elif self.engine_name == "postgresql":
            self._sql(f"CREATE DATABASE {self.prefix}_{name} TEMPLATE {self.prefix}_{source}")
        else:
            self._copy_mariadb(f"{self.prefix}_{source}", f"{self.prefix}_{name}")

    def reset(self, source: str, name: str) -> None:
        """`name` becomes a copy of `source` again: copied the first time, then restored in place, which
        spares the server a DROP DATABASE (a checkpoint on PostgreSQL) for each trial. PostgreSQL restores
        from a snapshot schema inside the copy, MariaDB from `source` itself."""
        if self.admin is None or self._restorable.get(name) != source:
            self.copy(source, name)
            self._restorable[name] = source
            if self.engine_name == "postgresql":
                with self._connection(name) as connection:
                    connection.execute(text(f"CREATE SCHEMA {_SNAPSHOT}"))
                    for table in self._tables(connection):
                        connection.execute(text(f'CREATE TABLE {_SNAPSHOT}."{table}" AS TABLE public."{table}"'))
            return
        with self._connection(name) as connection:
            tables = self._tables(connection)
            if self.engine_name == "postgresql":
                connection.execute(text("SET LOCAL session_replication_role = replica"))  # no foreign-key triggers
                connection.execute(text("TRUNCATE " + ", ".join(f'public."{t}"' for t in tables) + " CASCADE"))
                for table in tables:
                    connection.execute(text(f'INSERT INTO public."{table}" SELECT * FROM {_SNAPSHOT}."{table}"'))
            else:
                connection.execute(text("SET SESSION foreign_key_checks = 0"))
                for table in tables:
                    connection.execute(text(f"DELETE FROM `{table}`"))
                    connection.execute(text(f"INSERT INTO `{table}` SELECT * FROM {self.prefix}_{source}.`{table}`"))

    @contextmanager
    def _connection(self, name: str) -> Iterator[Connection]:
        """One transaction in database `name` (all or nothing on PostgreSQL; MariaDB commits its DDL anyway)."""
        engine = create_engine(self.url(name), poolclass=NullPool)
        try:
            with engine.begin() as connection:
                yield connection
        finally:
            engine.dispose()

    def _tables(self, connection: Connection) -> list[str]:
        if self.engine_name == "postgresql":
            query = "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
        else:
            query = "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() ORDER BY 1"
        return list(connection.execute(text(query)).scalars())

    def drop(self, name: str) -> None:
        self.names.discard(name)
        self._restorable.pop(name, None)
        if self.admin is None:
            for suffix in ("", "-journal", ".nbjobs-lock.json"):
                (self.workdir / f"{name}.db{suffix}").unlink(missing_ok=True)
        elif self.engine_name == "postgresql":
            self._sql(f"DROP DATABASE IF EXISTS {self.prefix}_{name} WITH (FORCE)")
        else:
            self._sql(f"DROP DATABASE IF EXISTS {self.prefix}_{name}")

    def close(self) -> None:
        for name in list(self.names):
            self.drop(name)
        if self.admin is not None:
            self.admin.dispose()

    def _sql(self, statement: str) -> None:
        assert self.admin is not None
        with self.admin.connect() as connection:
            connection.execute(text(statement))

    def _copy_mariadb(self, source: str, target: str) -> None:
        assert self.admin is not None
        with self.admin.connect() as connection:
            connection.execute(text(f"CREATE DATABASE {target} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"))
            tables = connection.execute(text(f"SHOW FULL TABLES FROM {source} WHERE Table_type = 'BASE TABLE'"))
            names = [row[0] for row in tables]
            connection.execute(text("SET SESSION foreign_key_checks = 0"))
            connection.execute(text(f"USE {target}"))
            for name in names:
                ddl = connection.execute(text(f"SHOW CREATE TABLE {source}.`{name}`")).one()[1]
                connection.execute(text(ddl))
                connection.execute(text(f"INSERT INTO {target}.`{name}` SELECT * FROM {source}.`{name}`"))
            connection.execute(text("SET SESSION foreign_key_checks = 1"))


# --- Comparing states --------------------------------------------------------------------------------

Row = dict[str, Any]
Dump = dict[str, list[Row]]
# An id (a UUID, with or without hyphens) or a time (ISO 8601), anywhere in a value: in a column, inside
# JSON text (the change log's object_data), inside a URL.
_TOKEN = re.compile(
    r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)?"
    r"|\b[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}\b"
)
_SLUG = re.compile(r'("natural_slug": "[^"]*?)_[0-9a-f]{4}"')  # Nautobot's slugs end with the id's first digits


def dump(engine: Engine, metadata: MetaData | None = None) -> Dump:
    """Every row of every table, in a canonical order, as plain values (JSON as canonical text). The
    tables are reflected unless given (reflected once from a database of the same schema)."""
    if metadata is None:
        metadata = MetaData()
        metadata.reflect(engine)
    tables: Dump = {}
    with engine.connect() as connection:
        for name, table in metadata.tables.items():
            rows = [{k: _plain(v) for k, v in row._mapping.items()} for row in connection.execute(select(table))]
            tables[name] = sorted(rows, key=repr)
    return tables


def _plain(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, default=str)
    if isinstance(value, datetime):
        return (value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    if isinstance(value, UUID):
        return value.hex
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    if isinstance(value, date | Decimal):
        return str(value)
    return value


class Canon:
    """Compares dumps of two runs of one apply: the ids and times an apply makes up afresh (new rows' ids,
    request ids, `last_updated`, the change log's `time`, inside JSON and URLs too) become placeholders;
    those already in the before state stay as they are, so a row pointing at the wrong job still differs."""

    def __init__(self, before: Dump) -> None:
        self.known = {
            _canonical(token)
            for rows in before.values()
            for row in rows
            for value in row.values()
            if isinstance(value, str)
            for token in _TOKEN.findall(value)
        }

    def __call__(self, tables: Dump, leave_out: Sequence[str] = (LOCK_TABLE,)) -> Dump:
        return {
            name: sorted(({k: self._canon(v) for k, v in row.items() if k not in SEQUENCE_COLUMNS.get(name, ())}
                          for row in rows), key=repr)
            for name, rows in tables.items()
            if name not in leave_out
        }  # fmt: skip

    def _canon(self, value: Any) -> Any:
        if not isinstance(value, str) or len(value) < 19:  # shorter than any time or id
            return value
        value = _TOKEN.sub(self._placeholder, value)
        return _SLUG.sub(r'\1"', value) if "natural_slug" in value else value

    def _placeholder(self, match: re.Match[str]) -> str:
        token = _canonical(match.group())
        if token in self.known:
            return match.group()
        return "<new time>" if token.startswith("t:") else "<new id>"


def _canonical(token: str) -> str:
    """One spelling of an id (`u:` and 32 hex digits) or of a time (`t:` and UTC ISO 8601)."""
    if token[4] != "-":  # a time has its first hyphen after the year; an id, after eight digits or none
        return "u:" + token.replace("-", "").lower()
    parsed = datetime.fromisoformat(token.replace(" ", "T"))
    return "t:" + (parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)).isoformat()


def differences(actual: Dump, expected: Dump, limit: int = 6) -> list[str]:
    """What differs, table by table (a few rows each), for an assertion message."""
    found: list[str] = []
    for name in sorted(set(actual) | set(expected)):
        have, want = actual.get(name, []), expected.get(name, [])
        if have != want:
            extra = [r for r in have if r not in want][:limit]
            missing = [r for r in want if r not in have][:limit]
            found.append(f"{name}: {len(have)} rows, expected {len(want)}; extra {extra}; missing {missing}")
    return found


# --- Running nbjobs ------------------------------------------------------------------------------------


def nbjobs(argv: Sequence[str], environment: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
    """nbjobs in a subprocess of its own (a session of its own too, so it can be stopped or killed alone).
    Its output goes to files, not pipes: a pipe nobody reads while the test waits would stop it when full."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NBJOBS_", "NAUTOBOT_"))}
    env.update({"NO_COLOR": "1", **(environment or {})})
    stdout, stderr = tempfile.TemporaryFile(), tempfile.TemporaryFile()  # noqa: SIM115 (closed by finish)
    process = subprocess.Popen([sys.executable, "-m", "reconciler", *argv], stdout=stdout, stderr=stderr, cwd=ROOT,
                               env=env, start_new_session=True)  # fmt: skip
    process.stdout, process.stderr = stdout, stderr  # read back by finish()
    return process


@dataclass(frozen=True)
class Finished:
    returncode: int
    stdout: str
    stderr: str

    @property
    def killed(self) -> bool:
        return self.returncode == -signal.SIGKILL


def finish(process: subprocess.Popen[bytes], timeout: float = 180) -> Finished:
    process.wait(timeout=timeout)
    output = []
    for stream in (process.stdout, process.stderr):
        assert stream is not None
        stream.seek(0)
        output.append(stream.read().decode())
        stream.close()
    return Finished(process.returncode, output[0], output[1])


def wait_stopped(process: subprocess.Popen[bytes], timeout: float = 120) -> bool:
    """Whether the process stopped itself (SIGSTOP at a fault point) before it ended or the time ran out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            state = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return False
        if state == "T":
            return True
        time.sleep(0.02)
    return False


# --- Private servers, to restart under a running apply ------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _as(user: str) -> list[str]:
    """Run as `user` when we are root: PostgreSQL's initdb and pg_ctl refuse to run as root."""
    return ["runuser", "-u", user, "--"] if os.geteuid() == 0 else []


def _own(path: Path, user: str) -> None:
    if os.geteuid() == 0:
        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)


class PrivateServer:
    """A database server of the test's own (never the shared one on 5432 or 3306): its own data
    directory under /tmp, its own port on 127.0.0.1; stopped, started and restarted at will."""

    engine_name = ""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix=f"nbjobs-{self.engine_name}-"))
        self.root.chmod(0o755)
        self.port = free_port()
        self.log = self.root / "server.log"

    def url(self, database: str) -> URL:
        raise NotImplementedError

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        with suppress(Exception):
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def create_database(self, name: str) -> None:
        admin = create_engine(self.url(self.admin_database), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as connection:
                connection.execute(text(f"CREATE DATABASE {name}{self.charset}"))
        finally:
            admin.dispose()

    admin_database = ""
    charset = ""

    def _run(self, argv: Sequence[str]) -> None:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=180)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(map(str, argv))} failed: {done.stdout}{done.stderr}")


class PrivatePostgres(PrivateServer):
    """initdb + pg_ctl from /usr/lib/postgresql/*/bin (as the postgres user when we are root)."""

    engine_name = "postgresql"
    admin_database = "postgres"

    def __init__(self) -> None:
        super().__init__()
        self.bin = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))[-1]
        self.data = self.root / "data"
        _own(self.root, "postgres")
        self._run([*_as("postgres"), str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
                   "-E", "UTF8", "--no-sync"])  # fmt: skip
        self.start()

    def url(self, database: str) -> URL:
        return URL.create("postgresql+psycopg", username="postgres", host="127.0.0.1", port=self.port,
                          database=database)  # fmt: skip

    def start(self) -> None:
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c shared_buffers=16MB -c max_connections=40")  # fmt: skip
        self._run([*_as("postgres"), str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w",
                   "-t", "60", "-o", options, "start"])  # fmt: skip

    def stop(self) -> None:
        self._run([*_as("postgres"), str(self.bin / "pg_ctl"), "-D", str(self.data), "-w", "-t", "60", "-m", "fast",
                   "stop"])  # fmt: skip


class PrivateMariaDB(PrivateServer):
    """mariadb-install-db + mariadbd with its own --datadir, --port and --socket (no grant tables: the
    server is reachable only from this machine's loopback, for this test alone)."""

    engine_name = "mariadb"
    admin_database = "mysql"
    charset = " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"

    def __init__(self) -> None:
        super().__init__()
        self.data = self.root / "data"
        self.process: subprocess.Popen[bytes] | None = None
        _own(self.root, "mysql")
        self._run(["mariadb-install-db", "--no-defaults", f"--datadir={self.data}", "--user=mysql",
                   "--auth-root-authentication-method=normal", "--skip-test-db"])  # fmt: skip
        self.start()

    def url(self, database: str) -> URL:
        return URL.create("mysql+pymysql", username="root", host="127.0.0.1", port=self.port, database=database)

    def start(self) -> None:
        argv = ["mariadbd", "--no-defaults", f"--datadir={self.data}", f"--port={self.port}",
                f"--socket={self.root / 'mariadb.sock'}", "--bind-address=127.0.0.1", "--user=mysql",
                "--skip-grant-tables", "--skip-name-resolve", "--skip-log-bin", f"--pid-file={self.root / 'pid'}",
                f"--log-error={self.log}", "--innodb-buffer-pool-size=32M", "--innodb-flush-log-at-trx-commit=0",
                "--max-connections=40"]  # fmt: skip
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        probe = create_engine(self.url("mysql"), poolclass=NullPool)
        try:
            while True:
                try:
                    with probe.connect():
                        return
                except OperationalError:
                    if self.process.poll() is not None or time.monotonic() > deadline:
                        log = self.log.read_text()[-2000:] if self.log.exists() else "no log"
                        raise RuntimeError(f"mariadbd did not start: {log}") from None
                    time.sleep(0.1)
        finally:
            probe.dispose()

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()  # SIGTERM: a normal shutdown, which ends every session
        self.process.wait(timeout=60)
        self.process = None
