"""Servers a test owns, to break on purpose: a PostgreSQL cluster (password authentication, its own port
and data directory) and a redis-server (its own port, optionally a password). A test stops and starts
them as an outage would, and never touches the machine's shared servers.

Each is found on PATH or in PostgreSQL's usual directory; a test that needs one the machine lacks skips,
saying why. PostgreSQL refuses to run as root: as root the cluster runs as the `postgres` user, in a
directory of its own under the system's temporary directory (pytest's tmp_path is private to root).
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
from sqlalchemy import URL


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _wait(what: str, ready: bool, port: int, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while _port_open(port) is not ready:
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not {'start' if ready else 'stop'} within {seconds} s")
        time.sleep(0.05)


def _postgres_bin() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return versions[-1].parent if versions else None


class PrivatePostgres:
    """A PostgreSQL cluster of one test: user `postgres` with `password`, scram-sha-256 over TCP."""

    def __init__(self, root: Path, password: str) -> None:
        binaries = _postgres_bin()
        if binaries is None:
            pytest.skip("no PostgreSQL server binaries (initdb) on this machine")
        self.bin = binaries
        self.root = root
        self.data = root / "data"
        self.password = password
        self.port = free_port()
        self._user: list[str] = []
        if os.geteuid() == 0:
            try:
                account = pwd.getpwnam("postgres")
            except KeyError:
                pytest.skip("running as root and there is no `postgres` user to run a PostgreSQL cluster as")
            os.chown(root, account.pw_uid, account.pw_gid)
            self._user = ["runuser", "-u", "postgres", "--"]
        secret = root / "password"
        secret.write_text(password)
        if self._user:
            os.chown(secret, account.pw_uid, account.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=scram-sha-256", f"--pwfile={secret}",
                  "-E", "UTF8", "--no-sync")  # fmt: skip
        secret.unlink()

    def _run(self, tool: str, *argv: str) -> None:
        done = subprocess.run([*self._user, str(self.bin / tool), *argv], capture_output=True, text=True,
                              timeout=60, check=False)  # fmt: skip
        assert done.returncode == 0, f"{tool} failed: {done.stdout}{done.stderr}"

    def url(self, password: str | None = None, database: str = "postgres") -> URL:
        return URL.create("postgresql+psycopg", username="postgres", password=password or self.password,
                          host="127.0.0.1", port=self.port, database=database)  # fmt: skip

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "server.log"), "-w", "start")
        _wait("PostgreSQL", True, self.port)

    def stop(self) -> None:
        """As a crash would: immediate shutdown, every session cut."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        _wait("PostgreSQL", False, self.port)

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def create_database(self) -> URL:
        """A new, empty database of this cluster (one per test; the cluster is shared by a module)."""
        from uuid import uuid4

        from sqlalchemy import create_engine, text

        if not self.running():
            self.start()  # a test before stopped it and failed before starting it again
        name = f"nbjobs_{uuid4().hex[:12]}"
        admin = create_engine(self.url(), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as connection:
                connection.execute(text(f"CREATE DATABASE {name}"))
        finally:
            admin.dispose()
        return self.url(database=name)


@contextmanager
def private_postgres(password: str) -> Iterator[PrivatePostgres]:
    root = Path(tempfile.mkdtemp(prefix="nbjobs-test-pg-"))
    try:
        server = PrivatePostgres(root, password)
        server.start()
        try:
            yield server
        finally:
            if server.running():
                with suppress(AssertionError):
                    server.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


class PrivateRedis:
    """A redis-server of one test on its own port; `password` set means `requirepass`."""

    def __init__(self, root: Path, password: str | None = None) -> None:
        if shutil.which("redis-server") is None:
            pytest.skip("no redis-server on this machine")
        self.root = root
        self.password = password
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, db: int, password: str | None = None) -> str:
        assert db in (3, 4), "the fault tests keep to Redis databases 3 and 4"
        secret = password if password is not None else self.password
        return f"redis://:{secret}@127.0.0.1:{self.port}/{db}" if secret else f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", str(self.root), "--logfile", str(self.root / "redis.log")]  # fmt: skip
        if self.password:
            argv += ["--requirepass", self.password]
        self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
        _wait("redis-server", True, self.port)

    def stop(self) -> None:
        """As a crash would: SIGKILL, every connection cut, nothing saved."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None
        _wait("redis-server", False, self.port)


@contextmanager
def private_redis(root: Path, password: str | None = None) -> Iterator[PrivateRedis]:
    root.mkdir(parents=True, exist_ok=True)
    server = PrivateRedis(root, password)
    server.start()
    try:
        yield server
    finally:
        server.stop()
