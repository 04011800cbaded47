"""Passwords in database, broker and git URLs never appear in any output, history record or traceback.

Every command runs with NBJOBS_DEBUG=1 (tracebacks on), through the CLI's `main` (and a few through
the `nbjobs` executable, as a user runs it), against real servers: PostgreSQL on a closed port, a
private PostgreSQL cluster that checks passwords (scram), the machine's MariaDB with a wrong password,
a private redis-server with `requirepass`, RabbitMQ with a wrong password. Each secret is a distinctive
string searched for in everything nbjobs printed or stored, raw and percent-decoded.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
from common import EXAMPLES, time_limit
from loop_support import Remote
from private_servers import PrivatePostgres, private_postgres, private_redis
from sqlalchemy import MetaData, create_engine, select

import reconciler.loop.tick
from reconciler.cli import main
from reconciler.cli.redact import Redactor

pytestmark = pytest.mark.database

NBJOBS = str(Path(sys.executable).parent / "nbjobs")
PASSWORD = "Zq9-S3cr3t-pw"  # in every URL below
ENCODED = "p@ss:w/rd%Zq9"  # a password that must be percent-encoded in a URL
TOKEN = "ghp_T0kenZq9xyz"
SECRETS = (PASSWORD, ENCODED, quote(ENCODED, safe=""), TOKEN)
CLOSED_PG = f"postgresql://postgres:{PASSWORD}@127.0.0.1:1/nautobot"


@pytest.fixture(autouse=True)
def _time_limit() -> Iterator[None]:
    with time_limit(120):
        yield


def env(**more: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("NBJOBS_", "NAUTOBOT_"))}
    return {**base, "NBJOBS_DEBUG": "1", "NO_COLOR": "1", **more}


def nbjobs(*argv: str, cwd: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    """The `nbjobs` executable, as a user runs it."""
    return subprocess.run([NBJOBS, *argv], cwd=cwd, env=env(**variables), capture_output=True, text=True, timeout=60)


@dataclass
class Done:
    """What one command did, in the shape of subprocess.CompletedProcess."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str


Run = Callable[..., "Done | subprocess.CompletedProcess[str]"]


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Run:
    """The CLI's main(argv) in this process (the path every command takes, without an interpreter's
    start-up per command), with NBJOBS_DEBUG=1 and only the variables a test gives."""
    monkeypatch.chdir(tmp_path)

    def run(*argv: str, cwd: Path | None = None, **variables: str) -> Done:
        with monkeypatch.context() as scoped:
            for name in [n for n in os.environ if n.startswith(("NBJOBS_", "NAUTOBOT_"))]:
                scoped.delenv(name)
            for name, value in {"NBJOBS_DEBUG": "1", "NO_COLOR": "1", **variables}.items():
                scoped.setenv(name, value)
            if cwd is not None:
                scoped.chdir(cwd)
            capsys.readouterr()
            try:
                code = main(list(argv))
            finally:
                reconciler.loop.tick.dispose_engines()
            captured = capsys.readouterr()
        return Done(list(argv), code, captured.out, captured.err)

    return run


def assert_no_secret(text: str, what: object = "") -> None:
    for secret in SECRETS:
        assert secret not in text, f"{secret!r} leaked in {what}:\n{text}"


def assert_clean_failure(done: Done | subprocess.CompletedProcess[str], *, expected: str) -> None:
    output = done.stdout + done.stderr
    assert_no_secret(output, done.args)
    assert done.returncode == 1, done
    assert "Traceback" not in output and "Internal error" not in output, output
    assert expected in done.stderr, done.stderr


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "empty.toml").write_text("")
    shutil.copytree(EXAMPLES / "jobs", tmp_path / "jobs")
    return tmp_path


def _commands(url: str, jobs: Path) -> list[list[str]]:
    manifests = str(EXAMPLES / "manifests")
    return [
        ["plan", "--jobs-root", str(jobs), "--database-url", url, manifests],
        ["plan", "--format", "json", "--jobs-root", str(jobs), "--database-url", url, manifests],
        ["plan", "--format", "markdown", "--jobs-root", str(jobs), "--database-url", url, manifests],
        ["apply", "--yes", "--as", "admin", "--jobs-root", str(jobs), "--database-url", url, manifests],
        ["status", "--database-url", url],
        ["status", "--format", "json", "--database-url", url],
        ["history", "--database-url", url],
        ["get", "--database-url", url],
        ["db", "upgrade", "--database-url", url],
    ]


def test_a_database_on_a_closed_port(workdir: Path, cli: Run) -> None:
    for argv in _commands(CLOSED_PG, workdir / "jobs"):
        assert_clean_failure(cli(*argv), expected="Error: database: ")
    assert_clean_failure(nbjobs(*_commands(CLOSED_PG, workdir / "jobs")[3], cwd=workdir), expected="Error: database: ")
    # The same URL from the environment, and from Nautobot's own variables.
    done = cli("status", NBJOBS_DATABASE_URL=CLOSED_PG)
    assert_clean_failure(done, expected="Error: database: ")
    done = cli("status", NAUTOBOT_DB_HOST="127.0.0.1", NAUTOBOT_DB_PORT="1", NAUTOBOT_DB_USER="postgres",
                  NAUTOBOT_DB_PASSWORD=PASSWORD, NAUTOBOT_DB_NAME="nautobot")  # fmt: skip
    assert_clean_failure(done, expected="Error: database: ")


@pytest.fixture(scope="module")
def checked_postgres() -> Iterator[PrivatePostgres]:
    """A cluster that checks passwords, shared by this module's tests (each has a database of its own)."""
    with private_postgres(ENCODED) as server:
        yield server


def test_wrong_passwords_against_real_servers(workdir: Path, checked_postgres: PrivatePostgres, cli: Run) -> None:
    wrong = checked_postgres.url(password=PASSWORD).render_as_string(hide_password=False)
    for argv in _commands(wrong, workdir / "jobs"):
        assert_clean_failure(cli(*argv), expected="Error: database: ")
    assert_clean_failure(nbjobs(*_commands(wrong, workdir / "jobs")[4], cwd=workdir), expected="Error: database: ")
    mariadb = f"mysql://root:{PASSWORD}@127.0.0.1:3306/mysql"
    for argv in _commands(mariadb, workdir / "jobs")[:5]:
        assert_clean_failure(cli(*argv), expected="Error: database: ")


def test_a_successful_run_stores_and_prints_no_password(
    workdir: Path, checked_postgres: PrivatePostgres, cli: Run
) -> None:
    """Sandbox, upgrade, apply, a loop tick, then every read command and every row nbjobs wrote."""
    url = checked_postgres.create_database().render_as_string(hide_password=False)
    assert quote(ENCODED, safe="") in url
    jobs = str(workdir / "jobs")
    remote = Remote(workdir / "git")
    remote.push_examples()
    repo = f"file://{remote.bare}"
    outputs = [
        cli("sandbox", "--jobs-root", jobs, "--database-url", url),
        cli("db", "upgrade", "--database-url", url),
        nbjobs(
            "apply",
            "--yes",
            "--as",
            "admin",
            "--jobs-root",
            jobs,
            "--database-url",
            url,
            str(EXAMPLES / "manifests"),
            cwd=workdir,
        ),
        cli(
            "reconcile",
            "--config",
            str(workdir / "empty.toml"),
            "--jobs-root",
            jobs,
            "--database-url",
            url,
            "--repo",
            repo,
            "--cache-dir",
            str(workdir / "cache"),
        ),
        cli(
            "reconcile",
            "--format",
            "json",
            "--config",
            str(workdir / "empty.toml"),
            "--jobs-root",
            jobs,
            "--database-url",
            url,
            "--repo",
            repo,
            "--cache-dir",
            str(workdir / "cache"),
        ),
    ]
    for done in outputs:
        assert done.returncode in (0, 2), done
    history = cli("history", "--database-url", url)
    apply_id = history.stdout.splitlines()[1].split()[0]
    outputs += [
        history,
        cli("history", "--format", "json", "--database-url", url),
        cli("history", apply_id, "--database-url", url),
        cli("status", "--database-url", url),
        cli("status", "--format", "json", "--database-url", url),
        cli("plan", "--format", "json", "--jobs-root", jobs, "--database-url", url, str(EXAMPLES / "manifests")),
        cli("plan", "--format", "markdown", "--jobs-root", jobs, "--database-url", url, str(EXAMPLES / "manifests")),
    ]
    for done in outputs:
        assert done.returncode in (0, 2), done
        assert_no_secret(done.stdout + done.stderr, done.args)
    assert "postgresql+psycopg://postgres:***@127.0.0.1" in outputs[2].stdout + outputs[2].stderr

    # Every row of every nbjobs table (the apply's `database` column, the runs' messages, the lock's record).
    engine = create_engine(url)
    try:
        tables = MetaData()
        tables.reflect(engine)
        nbjobs_tables = [t for name, t in tables.tables.items() if name.startswith("nbjobs_")]
        assert {"nbjobs_apply", "nbjobs_run"} <= {t.name for t in nbjobs_tables}
        with engine.connect() as connection:
            (database,) = connection.execute(select(tables.tables["nbjobs_apply"].c.database)).one()
            assert database.startswith("postgresql+psycopg://postgres:***@127.0.0.1:"), database
            for table in nbjobs_tables:
                assert_no_secret(repr(list(connection.execute(select(table)))), table.name)
    finally:
        engine.dispose()


def test_settings_show_every_secret_masked(workdir: Path, cli: Run) -> None:
    config = workdir / "nbjobs.toml"
    config.write_text(
        f'database_url = "postgresql://nbjobs:{PASSWORD}@db/nautobot"\n'
        f'broker_url = "redis://:{PASSWORD}@redis:6379/3"\n'
        f'nautobot_broker_url = "amqp://nautobot:{quote(ENCODED, safe="")}@rabbit//"\n'
        f'repo = "https://{TOKEN}@git.example.com/netops/jobs.git"\n'
        f'git_password = "{PASSWORD}"\n'
        "[[targets]]\n"
        'name = "lab"\n'
        f'database_url = "mysql://root:{PASSWORD}@lab-db/nautobot"\n'
    )
    for argv in (["config"], ["config", "--format", "json"]):
        done = cli(*argv, "--config", str(config))
        assert done.returncode == 0, done
        assert_no_secret(done.stdout + done.stderr, argv)
        assert "postgresql://nbjobs:***@db/nautobot" in done.stdout and "https://***@git.example.com" in done.stdout
    # A settings file that is wrong next to a secret: the error names the problem, not the value.
    config.write_text(f'database_url = "postgresql://nbjobs:{PASSWORD}@db/nautobot"\ninterval = "soon"\n')
    assert_clean_failure(cli("config", "--config", str(config)), expected="interval")
    targets = json.dumps([{"name": "a", "database_url": f"postgresql://u:{PASSWORD}@h/db", "bogus": 1}])
    assert_clean_failure(cli("config", NBJOBS_TARGETS=targets), expected="bogus")


@pytest.mark.slow
def test_broker_urls_with_passwords(workdir: Path, cli: Run) -> None:
    manifests = str(EXAMPLES / "manifests")
    jobs = str(workdir / "jobs")
    sandbox = f"sqlite:///{workdir / 'nautobot.db'}"
    assert cli("sandbox", "--jobs-root", jobs, "--database-url", sandbox).returncode == 0
    remote = Remote(workdir / "git")
    remote.push_examples()
    with private_redis(workdir / "redis", password="right-password") as redis:
        brokers = [redis.url(3, password=PASSWORD), f"redis://:{PASSWORD}@127.0.0.1:1/3",
                   f"amqp://guest:{quote(ENCODED, safe='')}@127.0.0.1:5672//"]  # fmt: skip
        for broker in brokers:
            for fmt in ("text", "json"):
                done = cli("preflight", "--format", fmt, "--jobs-root", jobs, "--database-url", sandbox,
                              "--broker-url", broker, manifests)  # fmt: skip
                assert done.returncode == 0, done
                assert_no_secret(done.stdout + done.stderr, done.args)
            if broker.startswith("redis"):  # the tick lock's Redis: a transient error, said in one line
                done = cli("reconcile", "--config", str(workdir / "empty.toml"), "--jobs-root", jobs,
                              "--database-url", sandbox, "--repo", remote.url, "--cache-dir", str(workdir / "cache"),
                              "--broker-url", broker)  # fmt: skip
                assert_clean_failure(done, expected="(transient: the loop would retry)")
                assert "redis://:***@127.0.0.1:" in done.stderr and len(done.stderr.splitlines()) == 1, done.stderr
        # The loop itself, on a broker that refuses its password: it keeps trying, and says so masked.
        log = workdir / "loop.log"
        with log.open("wb") as out:
            loop = subprocess.Popen([NBJOBS, "loop", "--config", str(workdir / "empty.toml"), "--jobs-root", jobs,
                                     "--database-url", sandbox, "--repo", remote.url, "--cache-dir",
                                     str(workdir / "cache"), "--broker-url", brokers[0]], cwd=workdir, env=env(),
                                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
            try:
                text = _wait_for_text(log, "invalid username-password pair", 20)
            finally:
                os.killpg(loop.pid, 9)
                loop.wait(timeout=10)
        assert_no_secret(log.read_text(errors="replace"), "the loop's log")
        assert "redis://:**@127.0.0.1:" in text, text


def _wait_for_text(path: Path, needle: str, seconds: float) -> str:
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        text = path.read_text(errors="replace") if path.exists() else ""
        if needle in text:
            return text
        time.sleep(0.2)
    raise AssertionError(f"{needle!r} not in {path} within {seconds} s:\n{path.read_text(errors='replace')}")


def test_a_traceback_shows_no_secret_it_knows(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """An internal error whose text and cause carry the URL, the decoded password and a token from the
    environment: NBJOBS_DEBUG=1 prints the traceback, and none of them."""
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith(("NBJOBS_", "NAUTOBOT_"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("NBJOBS_DEBUG", "1")
    monkeypatch.setenv("NBJOBS_GIT_PASSWORD", TOKEN)
    url = f"postgresql://postgres:{quote(ENCODED, safe='')}@127.0.0.1:1/nautobot"

    def broken(_target: object) -> None:
        try:
            raise ConnectionError(f"driver said: password {ENCODED!r} refused for {url}")
        except ConnectionError as cause:
            raise RuntimeError(f"cannot reach {url.replace('postgresql', 'postgres')} (token {TOKEN})") from cause

    monkeypatch.setattr(reconciler.loop.tick, "engine_for", broken)
    assert main(["status", "--database-url", url]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "RuntimeError: cannot reach postgres://postgres:***@" in err
    assert "driver said: password '***' refused" in err, err
    assert_no_secret(err, "the traceback")


def test_the_redactor_masks_what_it_knows_and_leaves_the_rest() -> None:
    redactor = Redactor.of(None, ["--database-url", f"postgresql://nbjobs:{quote(ENCODED, safe='')}@db/nautobot",
                                  "--repo", f"https://{TOKEN}@github.com/x.git", "postgresql://nbjobs@db/x"],
                           {"NAUTOBOT_DB_PASSWORD": PASSWORD, "HOME": "/root"})  # fmt: skip
    shown = redactor.redact(f"user nbjobs: {ENCODED} {PASSWORD} {TOKEN} redis://:other@r/0\x1b[2J")
    assert shown == "user nbjobs: *** *** *** redis://:***@r/0\\x1b[2J"
