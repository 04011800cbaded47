"""A real Nautobot 3.2.7 for the compatibility suite: its venv and a migrated database dump (both cached),
a fresh database per session, its nautobot_config.py, `nautobot-server` commands and a Celery worker.

Cache: ${NBJOBS_CACHE:-$HOME/.cache/nbjobs}/nautobot-<version>/{venv, migrated-postgres.dump}. Both are built
when missing (pip install ~1 min, migrate ~4 min) and reused afterwards.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NAUTOBOT_VERSION = "3.2.7"
PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
MARIADB_HOST, MARIADB_PORT, MARIADB_USER = "127.0.0.1", 3306, "root"
REDIS_BROKER_DB, REDIS_CACHE_DB = 12, 13
PROBE_MARKER = "NBJOBS_PROBE_JSON="
HERE = Path(__file__).resolve().parent
# Django's MySQL backend wants mysqlclient (C headers); PyMySQL stands in for it (see MYSQL_SHIM).
EXTRA_PACKAGES = ("PyMySQL>=1.1",)


def log(message: str) -> None:
    print(f"[compat {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def cache_dir() -> Path:
    root = Path(os.environ.get("NBJOBS_CACHE") or Path.home() / ".cache" / "nbjobs")
    path = root / f"nautobot-{NAUTOBOT_VERSION}"
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def cache_lock(name: str) -> Iterator[None]:
    """Serialises concurrent sessions building the same cache entry."""
    with open(cache_dir() / f".{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run(cmd: Sequence[str | Path], *, env: dict[str, str] | None = None, timeout: float = 600,
        check: bool = True, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:  # fmt: skip
    result = subprocess.run(
        [str(c) for c in cmd], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        raise RuntimeError(
            f"command failed ({result.returncode}): {' '.join(map(str, cmd))}\n"
            f"--- stdout\n{result.stdout[-6000:]}\n--- stderr\n{result.stderr[-6000:]}"
        )
    return result


# ---------------------------------------------------------------- the venv


def ensure_venv() -> Path:
    """The Nautobot venv, created with `pip install nautobot==<version>` when missing. Returns its bin/."""
    venv = cache_dir() / "venv"
    marker = venv / ".nbjobs-installed"
    with cache_lock("venv"):
        server = venv / "bin" / "nautobot-server"
        if server.exists() and (marker.exists() or _venv_has_nautobot(venv)):
            if not marker.exists():  # a venv made before PyMySQL was part of it
                run([venv / "bin" / "pip", "install", "--quiet", *EXTRA_PACKAGES], timeout=600)
                marker.touch()
            return venv / "bin"
        shutil.rmtree(venv, ignore_errors=True)
        log(f"creating {venv} and installing nautobot=={NAUTOBOT_VERSION} (about a minute)")
        started = time.monotonic()
        run([sys.executable, "-m", "venv", venv])
        run([venv / "bin" / "pip", "install", "--quiet", "--upgrade", "pip"], timeout=600)
        run([venv / "bin" / "pip", "install", "--quiet", f"nautobot=={NAUTOBOT_VERSION}", *EXTRA_PACKAGES],
            timeout=1800)  # fmt: skip
        marker.touch()
        log(f"venv ready in {time.monotonic() - started:.0f} s")
        return venv / "bin"


def _venv_has_nautobot(venv: Path) -> bool:
    result = run([venv / "bin" / "python", "-c", "import importlib.metadata as m; print(m.version('nautobot'))"],
                 check=False)  # fmt: skip
    return result.returncode == 0 and result.stdout.strip() == NAUTOBOT_VERSION


# ---------------------------------------------------------------- configuration and nautobot-server

CONFIG_TEMPLATE = """\
# Written by nbjobs' compatibility suite (tests/compat/harness.py).
import json
from nautobot.core.settings import *  # noqa: F403
from nautobot.core.settings_funcs import is_truthy  # noqa: F401

{mysql_shim}
SECRET_KEY = "nbjobs-compat-suite-not-a-secret-0123456789abcdefghijklmnopqrstuvwxyz"
ALLOWED_HOSTS = ["*"]
DEBUG = False
INSTALLATION_METRICS_ENABLED = False
DATABASES = {{"default": json.loads({database!r})}}
CACHES = {{
    "default": {{
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": "redis://127.0.0.1:6379/{cache_db}",
        "TIMEOUT": 300,
        "OPTIONS": {{"CLIENT_CLASS": "django_redis.client.DefaultClient"}},
    }}
}}
CELERY_BROKER_URL = "redis://127.0.0.1:6379/{broker_db}"
JOBS_ROOT = {jobs_root!r}
"""

MYSQL_SHIM = """\
import pymysql
pymysql.version_info = (2, 2, 1, "final", 0)  # Django's MySQL backend checks the mysqlclient version
pymysql.install_as_MySQLdb()
"""


@dataclass
class Nautobot:
    """One Nautobot installation (config + root dir) pointed at one database."""

    bin: Path
    root: Path  # NAUTOBOT_ROOT
    config: Path
    jobs_root: Path
    engine: str  # "postgresql" | "mysql"
    db_name: str

    @classmethod
    def configure(cls, bin_dir: Path, root: Path, jobs_root: Path, db_name: str, engine: str = "postgresql"
                  ) -> Nautobot:  # fmt: skip
        root.mkdir(parents=True, exist_ok=True)
        jobs_root.mkdir(parents=True, exist_ok=True)
        if engine == "postgresql":
            database = {"ENGINE": "django.db.backends.postgresql", "NAME": db_name, "USER": PG_USER, "PASSWORD": "",
                        "HOST": PG_HOST, "PORT": str(PG_PORT), "CONN_MAX_AGE": 0}  # fmt: skip
        else:
            database = {"ENGINE": "django.db.backends.mysql", "NAME": db_name, "USER": MARIADB_USER, "PASSWORD": "",
                        "HOST": MARIADB_HOST, "PORT": str(MARIADB_PORT), "CONN_MAX_AGE": 0,
                        "OPTIONS": {"charset": "utf8mb4"}}  # fmt: skip
        config = root / "nautobot_config.py"
        config.write_text(CONFIG_TEMPLATE.format(
            database=json.dumps(database), cache_db=REDIS_CACHE_DB, broker_db=REDIS_BROKER_DB,
            jobs_root=str(jobs_root), mysql_shim=MYSQL_SHIM if engine == "mysql" else "",
        ))  # fmt: skip
        return cls(bin_dir, root, config, jobs_root, engine, db_name)

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("NAUTOBOT_", "DJANGO_", "NBJOBS_"))}
        env.update(NAUTOBOT_ROOT=str(self.root), NAUTOBOT_CONFIG=str(self.config),
                   PATH=f"{self.bin}:{env.get('PATH', '/usr/bin:/bin')}")  # fmt: skip
        env.pop("VIRTUAL_ENV", None)
        env.pop("PYTHONPATH", None)
        return env

    def server(self, *args: str | Path, timeout: float = 900, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run([self.bin / "nautobot-server", *args], env=self.env, timeout=timeout, check=check)

    def probe(self, script: Path, params: dict[str, Any], timeout: float = 600) -> Any:
        """Runs `script` inside `nautobot-server nbshell` and returns the JSON it printed after PROBE_MARKER."""
        env = self.env | {"NBJOBS_PROBE_PARAMS": json.dumps(params)}
        command = f"exec(compile(open({str(script)!r}).read(), {str(script)!r}, 'exec'))"
        result = run([self.bin / "nautobot-server", "nbshell", "--quiet-load", "--no-startup", "--command", command],
                     env=env, timeout=timeout, check=False)  # fmt: skip
        for line in result.stdout.splitlines():
            if line.startswith(PROBE_MARKER):
                return json.loads(line[len(PROBE_MARKER) :])
        raise RuntimeError(f"probe {script.name} printed no result (exit {result.returncode})\n"
                           f"--- stdout\n{result.stdout[-6000:]}\n--- stderr\n{result.stderr[-8000:]}")  # fmt: skip

    @contextlib.contextmanager
    def celery_worker(self, queues: Sequence[str], timeout: float = 600) -> Iterator[subprocess.Popen[str]]:
        """A real `nautobot-server celery worker` on `queues`, killed (with its children) on exit."""
        logfile = self.root / f"celery-{os.getpid()}.log"
        with open(logfile, "w") as out:
            worker = subprocess.Popen(
                ["timeout", "--signal=KILL", str(int(timeout)), str(self.bin / "nautobot-server"), "celery", "worker",
                 "-Q", ",".join(queues), "--concurrency", "1", "--pool", "solo", "--without-gossip",
                 "--without-mingle", "--hostname", f"nbjobs-compat-{os.getpid()}@%h", "--loglevel", "INFO"],
                env=self.env, stdout=out, stderr=subprocess.STDOUT, text=True, start_new_session=True,
            )  # fmt: skip
        try:
            _wait_for(lambda: "ready." in logfile.read_text() or worker.poll() is not None, 180, "celery worker")
            if worker.poll() is not None:
                raise RuntimeError(f"celery worker exited early:\n{logfile.read_text()[-6000:]}")
            yield worker
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(worker.pid, signal.SIGKILL)
                worker.wait(timeout=10)


def _wait_for(predicate: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise TimeoutError(f"{what} not ready after {seconds:.0f} s")


def flush_redis() -> None:
    for db in (REDIS_BROKER_DB, REDIS_CACHE_DB):
        run(["redis-cli", "-h", "127.0.0.1", "-p", "6379", "-n", str(db), "FLUSHDB"])


# ---------------------------------------------------------------- PostgreSQL


def pg(*args: str, database: str = "postgres", check: bool = True) -> subprocess.CompletedProcess[str]:
    return run(["psql", "-h", PG_HOST, "-p", str(PG_PORT), "-U", PG_USER, "-d", database, "-v", "ON_ERROR_STOP=1",
                "-Atq", *args], check=check)  # fmt: skip


def create_pg_database(name: str) -> None:
    drop_pg_database(name)
    pg("-c", f"CREATE DATABASE {name}")


def drop_pg_database(name: str) -> None:
    pg("-c", f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' "
             "AND pid <> pg_backend_pid()")  # fmt: skip
    pg("-c", f"DROP DATABASE IF EXISTS {name}")


def ensure_pg_dump(bin_dir: Path, scratch: Path) -> Path:
    """`pg_dump -Fc` of a database migrated by Nautobot's own `migrate` with an empty JOBS_ROOT (cached)."""
    dump = cache_dir() / "migrated-postgres.dump"
    with cache_lock("pg-dump"):
        if dump.exists() and dump.stat().st_size > 0:
            return dump
        name = f"nbjobs_compat_migrate_{os.getpid()}"
        nautobot = Nautobot.configure(bin_dir, scratch / "migrate-root", scratch / "migrate-root" / "jobs", name)
        create_pg_database(name)
        try:
            log(f"migrating a fresh PostgreSQL database {name} with Nautobot {NAUTOBOT_VERSION} (about 4 minutes)")
            started = time.monotonic()
            nautobot.server("migrate", "--no-input", timeout=1800)
            log(f"migrated in {time.monotonic() - started:.0f} s")
            partial = dump.with_suffix(f".partial-{os.getpid()}")
            run(["pg_dump", "-h", PG_HOST, "-p", str(PG_PORT), "-U", PG_USER, "-Fc", "-f", partial, name])
            partial.rename(dump)
        finally:
            drop_pg_database(name)
        return dump


def restore_pg(dump: Path, name: str) -> None:
    create_pg_database(name)
    run(["pg_restore", "-h", PG_HOST, "-p", str(PG_PORT), "-U", PG_USER, "--no-owner", "-d", name, dump])


def pg_url(name: str) -> str:
    return f"postgresql+psycopg://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"


# ---------------------------------------------------------------- MariaDB


def mariadb(sql: str, database: str | None = None) -> subprocess.CompletedProcess[str]:
    cmd = ["mariadb", "-h", MARIADB_HOST, "-P", str(MARIADB_PORT), "-u", MARIADB_USER, "-N", "-B", "-e", sql]
    if database:
        cmd.append(database)
    return run(cmd)


def create_mariadb_database(name: str) -> None:
    mariadb(f"DROP DATABASE IF EXISTS {name}; CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")


def drop_mariadb_database(name: str) -> None:
    mariadb(f"DROP DATABASE IF EXISTS {name}")


def ensure_mariadb_dump(bin_dir: Path, scratch: Path) -> tuple[Path, float | None]:
    """`mariadb-dump` of a database migrated by Nautobot's own `migrate` (cached). Also returns how long the
    migrate took when it ran now (None when the dump came from the cache)."""
    dump = cache_dir() / "migrated-mariadb.sql"
    with cache_lock("mariadb-dump"):
        if dump.exists() and dump.stat().st_size > 0:
            return dump, None
        name = f"nbjobs_compat_migrate_{os.getpid()}"
        nautobot = Nautobot.configure(bin_dir, scratch / "migrate-root", scratch / "migrate-root" / "jobs", name,
                                      engine="mysql")  # fmt: skip
        create_mariadb_database(name)
        try:
            log(f"migrating a fresh MariaDB database {name} with Nautobot {NAUTOBOT_VERSION} (about 6 minutes)")
            started = time.monotonic()
            nautobot.server("migrate", "--no-input", timeout=1800)
            elapsed = time.monotonic() - started
            log(f"migrated in {elapsed:.0f} s")
            partial = dump.with_suffix(f".partial-{os.getpid()}")
            with open(partial, "w") as out:
                subprocess.run(["mariadb-dump", "-h", MARIADB_HOST, "-P", str(MARIADB_PORT), "-u", MARIADB_USER,
                                "--single-transaction", name], stdout=out, check=True, timeout=600)  # fmt: skip
            partial.rename(dump)
        finally:
            drop_mariadb_database(name)
        return dump, elapsed


def restore_mariadb(dump: Path, name: str) -> None:
    create_mariadb_database(name)
    with open(dump) as source:
        subprocess.run(["mariadb", "-h", MARIADB_HOST, "-P", str(MARIADB_PORT), "-u", MARIADB_USER, name],
                       stdin=source, check=True, timeout=600)  # fmt: skip


def mariadb_url(name: str) -> str:
    return f"mysql+pymysql://{MARIADB_USER}@{MARIADB_HOST}:{MARIADB_PORT}/{name}"


# ---------------------------------------------------------------- both engines, one interface

# The engines the suite runs on, by Nautobot's NAUTOBOT_DB_ENGINE spelling (NBJOBS_COMPAT_MARIADB=0 drops MariaDB).
ENGINES = ["postgresql", *(["mysql"] if os.environ.get("NBJOBS_COMPAT_MARIADB") != "0" else [])]


def restore(engine: str, bin_dir: Path, scratch: Path, name: str) -> tuple[str, float | None]:
    """A fresh database `name` from the engine's cached migrated dump: (its URL, the minutes of migrations
    it took to build the dump now, or None when it was cached)."""
    if engine == "postgresql":
        restore_pg(ensure_pg_dump(bin_dir, scratch), name)
        return pg_url(name), None
    dump, migrate_seconds = ensure_mariadb_dump(bin_dir, scratch)
    restore_mariadb(dump, name)
    return mariadb_url(name), migrate_seconds


def drop(engine: str, name: str) -> None:
    (drop_pg_database if engine == "postgresql" else drop_mariadb_database)(name)
