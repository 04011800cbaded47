"""Benchmark: what users do today on a real Nautobot 3.2.7, the same edits through `validated_save()` and
through REST PATCH, next to `nbjobs apply` of the whole manifest.

    .venv/bin/python bench/bench_nautobot_today.py [--sample 10] [--large-sample 3] [--quick]

Nautobot: the compatibility suite's cached venv and migrated dump (tests/compat/harness.py builds them
under ~/.cache/nbjobs/nautobot-3.2.7/ when missing, one build at a time under its file lock). The dump is
restored into a fresh PostgreSQL database, the job code of bench/workload.py at 1,000 jobs is Nautobot's
JOBS_ROOT, and `nautobot-server migrate` (whose post_migrate signal is Nautobot's own job refresh)
creates the Job records. Redis databases 5 (broker) and 6 (cache) are Nautobot's here, flushed before and
after.

The edit is the workload manifest's, per job: grouping "Perf / All", time_limit 900 and dryrun_default
true, each with its `_override` flag, and enabled true. For a sample of jobs (every tenth job of the
first module: classes that exist at both sizes), timed one save at a time after one warm-up save:

- **ORM**: inside `nautobot-server nbshell`, `job.validated_save()` under `web_request_context` (so
  the change log is written, as Nautobot's docs ask of scripted changes);
- **REST**: `PATCH /api/extras/jobs/<id>/` with a user's token, over HTTP, against
  `nautobot-server runserver --noreload` (Django's server, one process), timed by the client.

Every save runs Job.clean(), which calls get_job(reload=True): all of JOBS_ROOT is re-imported and, for
each registered job, GitRepository is queried (nautobot.core.celery._import_jobs_from_jobs_root), so a
save costs more the more jobs are installed. The per-job time is measured twice: with JOBS_ROOT holding
the 1,000-job code, and with the same directory rewritten to the 10,000-job code (the Job records stay
the 1,000 of the refresh; what a save re-imports is the code). Totals for 1,000 and 10,000 jobs are the
mean per job times the count, labelled "extrapolated from N saves". `nbjobs apply` of the whole
manifest runs as a process on a copy of the refreshed database (1,000 jobs, measured, not extrapolated).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from tempfile import TemporaryDirectory

import redis
from table import print_table
from workload import write_jobs, write_manifest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "compat"))
import harness  # noqa: E402  (the compatibility suite's Nautobot: tests/compat/harness.py)

NBJOBS = str(Path(sys.executable).parent / "nbjobs")
DATABASE = "nbjobs_bench_today"
BROKER_DB, CACHE_DB = 5, 6  # the only Redis databases this benchmark may use
ADMIN = "admin"
EDIT = {"grouping": "Perf / All", "grouping_override": True, "time_limit": 900, "time_limit_override": True,
        "dryrun_default": True, "dryrun_default_override": True, "enabled": True}  # fmt: skip
SIZES = (1000, 10_000)

# Runs inside `nautobot-server nbshell` (harness.Nautobot.probe): saves or a token, as JSON after the marker.
PROBE = """
import json, os, time, traceback
from nautobot.extras.context_managers import web_request_context
from nautobot.extras.models import Job
from nautobot.users.models import Token, User

PARAMS = json.loads(os.environ["NBJOBS_PROBE_PARAMS"])
OUT = {"errors": []}


def edit(class_path):
    module, _, name = class_path.rpartition(".")
    job = Job.objects.get(module_name=module, job_class_name=name)
    for field, value in PARAMS["edit"].items():
        setattr(job, field, value)
    started = time.perf_counter()
    with web_request_context(user, context_detail="nbjobs bench: validated_save"):
        job.validated_save()
    return time.perf_counter() - started


try:
    user = User.objects.get(username=PARAMS["username"])
    if PARAMS["mode"] == "token":
        OUT["token"] = (Token.objects.filter(user=user).first() or Token.objects.create(user=user)).key
        OUT["ids"] = {}
        for class_path in PARAMS["class_paths"]:
            module, _, name = class_path.rpartition(".")
            OUT["ids"][class_path] = str(Job.objects.get(module_name=module, job_class_name=name).pk)
    else:
        OUT["warmup"] = edit(PARAMS["warmup"])
        OUT["seconds"] = [edit(class_path) for class_path in PARAMS["class_paths"]]
        for class_path in PARAMS["class_paths"]:
            module, _, name = class_path.rpartition(".")
            job = Job.objects.get(module_name=module, job_class_name=name)
            wrong = {f: getattr(job, f) for f, v in PARAMS["edit"].items() if getattr(job, f) != v}
            if wrong:
                OUT["errors"].append(f"{class_path} not as saved: {wrong}")
except Exception:
    OUT["errors"].append(traceback.format_exc())
print("NBJOBS_PROBE_JSON=" + json.dumps(OUT))
"""


def class_path(k: int, jobs: int) -> str:
    """Job k's class path in bench/workload.py's code of `jobs` jobs (50 modules, in order)."""
    return f"perf_m{k // max(1, jobs // 50)}.PerfJob{k}"


def samples(jobs: int, count: int) -> tuple[tuple[str, list[str]], tuple[str, list[str]]]:
    """(warm-up, sample) for the ORM and for REST, jobs apart. With the 1,000 jobs' code: every hundredth
    job for the ORM (0, 100, ...), the ones between for REST (50, 150, ...). With the larger code the
    Job records are still the 1,000 of the refresh, so the jobs come from those in perf_m0 at both sizes
    (jobs 0-19): even ones for the ORM, odd ones from 11 for REST."""
    if jobs == SIZES[0]:
        step = SIZES[0] // count
        orm = [class_path(k, jobs) for k in range(0, SIZES[0], step)][:count]
        rest = [class_path(k, jobs) for k in range(step // 2, SIZES[0], step)][:count]
        return (class_path(1, jobs), orm), (class_path(3, jobs), rest)
    if count > 5:
        raise SystemExit("--large-sample is at most 5 (jobs 0-19 are the ones in perf_m0 at both sizes)")
    return ((class_path(1, jobs), [class_path(k, jobs) for k in range(0, 10, 2)][:count]),
            (class_path(3, jobs), [class_path(k, jobs) for k in range(11, 20, 2)][:count]))  # fmt: skip


def flush_redis() -> None:
    for number in (BROKER_DB, CACHE_DB):
        client = redis.Redis.from_url(f"redis://127.0.0.1:6379/{number}")
        client.flushdb()
        client.close()


@contextmanager
def nautobot(work: Path) -> Iterator[tuple[harness.Nautobot, float]]:
    """A real Nautobot 3.2.7 on a fresh database, JOBS_ROOT the workload at 1,000 jobs, refreshed."""
    bin_dir = harness.ensure_venv()
    dump = harness.ensure_pg_dump(bin_dir, work / "migrate")
    harness.restore_pg(dump, DATABASE)
    try:
        root, jobs_root = work / "root", work / "jobs"
        root.mkdir()
        write_jobs(jobs_root, SIZES[0])
        database = {"ENGINE": "django.db.backends.postgresql", "NAME": DATABASE, "USER": harness.PG_USER,
                    "PASSWORD": "", "HOST": harness.PG_HOST, "PORT": str(harness.PG_PORT),
                    "CONN_MAX_AGE": 0}  # fmt: skip
        config = root / "nautobot_config.py"
        config.write_text(harness.CONFIG_TEMPLATE.format(
            database=json.dumps(database), cache_db=CACHE_DB, broker_db=BROKER_DB, jobs_root=str(jobs_root),
            mysql_shim=""))  # fmt: skip
        found = harness.Nautobot(bin_dir, root, config, jobs_root, "postgresql", DATABASE)
        flush_redis()
        started = time.perf_counter()
        found.server("migrate", "--no-input", timeout=3600)  # post_migrate: Nautobot's job refresh
        refresh_s = time.perf_counter() - started
        found.server("createsuperuser", "--noinput", "--username", ADMIN, "--email", "admin@example.com")
        yield found, refresh_s
    finally:
        flush_redis()
        harness.drop_pg_database(f"{DATABASE}_nbjobs")
        harness.drop_pg_database(DATABASE)


def orm_saves(found: harness.Nautobot, work: Path, class_paths: list[str], warmup: str) -> list[float]:
    script = work / "probe_today.py"
    script.write_text(PROBE)
    out = found.probe(script, {"mode": "orm", "username": ADMIN, "edit": EDIT, "class_paths": class_paths,
                               "warmup": warmup}, timeout=3600)  # fmt: skip
    if out["errors"]:
        raise SystemExit("the ORM probe failed:\n" + "\n".join(out["errors"]))
    return [float(s) for s in out["seconds"]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def runserver(found: harness.Nautobot, work: Path) -> Iterator[str]:
    """`nautobot-server runserver --noreload` on a free port, until its API answers; stopped after."""
    port = free_port()
    log = work / f"runserver-{port}.log"
    with log.open("wb") as handle:
        server = subprocess.Popen([str(found.bin / "nautobot-server"), "runserver", f"127.0.0.1:{port}", "--noreload"],
                                  env=found.env, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                  start_new_session=True)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status/", timeout=10) as response:
                    if response.status in (200, 403):
                        break
            except urllib.error.HTTPError as exc:
                if exc.code in (401, 403):
                    break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"runserver did not answer:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.5)
        yield base
    finally:
        with suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)


def rest_patches(found: harness.Nautobot, work: Path, class_paths: list[str], warmup: str) -> list[float]:
    script = work / "probe_today.py"
    script.write_text(PROBE)
    out = found.probe(script, {"mode": "token", "username": ADMIN, "class_paths": [warmup, *class_paths]})
    if out["errors"]:
        raise SystemExit("the token probe failed:\n" + "\n".join(out["errors"]))
    headers = {"Authorization": f"Token {out['token']}", "Content-Type": "application/json",
               "Accept": "application/json"}  # fmt: skip
    body = json.dumps(EDIT).encode()
    seconds = []
    with runserver(found, work) as base:
        for class_path in [warmup, *class_paths]:
            request = urllib.request.Request(f"{base}/api/extras/jobs/{out['ids'][class_path]}/", data=body,
                                             headers=headers, method="PATCH")  # fmt: skip
            started = time.perf_counter()
            try:
                with urllib.request.urlopen(request, timeout=600) as response:
                    answer = json.loads(response.read())
            except urllib.error.HTTPError as exc:
                raise SystemExit(f"PATCH {class_path}: HTTP {exc.code}: {exc.read()[:2000]!r}") from None
            seconds.append(time.perf_counter() - started)
            wrong = {f: answer.get(f) for f, v in EDIT.items() if answer.get(f) != v}
            if wrong:
                raise SystemExit(f"PATCH {class_path} answered other values: {wrong}")
    return seconds[1:]  # without the warm-up


def nbjobs_apply(found: harness.Nautobot, work: Path) -> float:
    """`nbjobs apply` of the workload's manifest (all 1,000 jobs), as a process, on a copy of the refreshed
    database (nbjobs' own tables made first by `nbjobs db upgrade`, untimed)."""
    copy = f"{DATABASE}_nbjobs"
    harness.pg("-c", f"DROP DATABASE IF EXISTS {copy}")
    harness.pg("-c", f"CREATE DATABASE {copy} TEMPLATE {DATABASE}")
    url = harness.pg_url(copy)
    manifests = write_manifest(work / "manifests", SIZES[0]).parent
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NBJOBS_", "NAUTOBOT_"))}
    harness.run([NBJOBS, "db", "upgrade", "--database-url", url], env=env)
    started = time.perf_counter()
    harness.run([NBJOBS, "apply", "--yes", "--as", ADMIN, "--jobs-root", str(found.jobs_root), "--database-url", url,
                 str(manifests)], env=env)  # fmt: skip
    elapsed = time.perf_counter() - started
    done = harness.run([NBJOBS, "plan", "--detailed-exitcode", "--jobs-root", str(found.jobs_root), "--database-url",
                        url, str(manifests)], env=env, check=False)  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"nbjobs plan after the apply exited {done.returncode}:\n{done.stdout[-2000:]}")
    harness.drop_pg_database(copy)
    return elapsed


def today_rows(sample_size: int = 10, large_sample: int = 3, sizes: tuple[int, ...] = SIZES) -> list[dict[str, str]]:
    """Per-job cost of validated_save() and REST PATCH at each installed size, totals extrapolated; and
    nbjobs apply of the 1,000 jobs, measured."""
    rows: list[dict[str, str]] = []
    with TemporaryDirectory(prefix="nbjobs-bench-today-") as tmp:
        work = Path(tmp)
        with nautobot(work) as (found, refresh_s):
            apply_s = nbjobs_apply(found, work)
            for jobs in sizes:
                count = sample_size if jobs == SIZES[0] else large_sample
                if jobs != SIZES[0]:
                    for old in found.jobs_root.glob("perf_m*.py"):
                        old.unlink()
                    write_jobs(found.jobs_root, jobs)
                (orm_warmup, orm_sample), (rest_warmup, rest_sample) = samples(jobs, count)
                orm = orm_saves(found, work, orm_sample, orm_warmup)
                rest = rest_patches(found, work, rest_sample, rest_warmup)
                for how, seconds in (("ORM validated_save()", orm), ("REST PATCH (runserver)", rest)):
                    rows.append(today_row(how, jobs, seconds))
    rows.append({
        "target": "today",
        "engine": "postgresql",
        "measure": f"nbjobs apply of the same manifest on Nautobot 3.2.7 ({SIZES[0]:,} jobs, one process)",
        "measured": f"{apply_s:.1f} s for {SIZES[0]:,} jobs (measured)",
        "target value": "-",
        "met": "-",
        "detail": f"Nautobot's job refresh (migrate) of {SIZES[0]:,} jobs took {refresh_s:.0f} s",
    })  # fmt: skip
    return rows


def today_row(how: str, jobs: int, seconds: list[float]) -> dict[str, str]:
    mean = statistics.fmean(seconds)
    minutes = mean * jobs / 60
    spent = f"{minutes / 60:,.1f} h" if minutes >= 120 else f"{minutes:,.0f} min"
    total = f"{jobs:,} jobs: {spent}, extrapolated from {len(seconds)} saves"
    installed = "1,000 Job records" if jobs == SIZES[0] else f"1,000 Job records, JOBS_ROOT of {jobs:,} jobs"
    return {
        "target": "today",
        "engine": "postgresql",
        "measure": f"{how}, per job, with {jobs:,} jobs installed ({installed})",
        "measured": f"{mean:.2f} s per job (median {statistics.median(seconds):.2f}); {total}",
        "target value": "-",
        "met": "-",
        "detail": "saves (s): " + ", ".join(f"{s:.2f}" for s in seconds),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sample", type=int, default=10, help="saves timed with 1,000 jobs installed")
    parser.add_argument("--large-sample", type=int, default=3, help="saves timed with the 10,000-job code")
    parser.add_argument("--quick", action="store_true", help="1,000 jobs only, 3 saves each (make bench-quick)")
    args = parser.parse_args()
    quick = args.quick
    print_table(today_rows(min(args.sample, 3), 0, SIZES[:1]) if quick else today_rows(args.sample, args.large_sample))


if __name__ == "__main__":
    main()
