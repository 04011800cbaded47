"""What the compatibility suite's fixtures and tests share: paths, the nbjobs CLI, the steps."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import harness
import records

COMPAT = Path(__file__).resolve().parent
ROOT = COMPAT.parent.parent
EXAMPLE_JOBS = ROOT / "examples" / "jobs"
EXAMPLE_MANIFESTS = ROOT / "examples" / "manifests"
CORPUS = COMPAT / "corpus"  # modules of the compat suite's own, over those of the discovery tests:
DISCOVERY_CORPUS = COMPAT.parent / "discovery" / "jobs_root"
MANIFESTS = COMPAT / "manifests"
PROBE = COMPAT / "probe_orm.py"
ADMIN = "admin"
# Worker queues: the default queue and the celery queues the runs below use (one created by nbjobs).
WORKER_QUEUES = ("default", "compat_new", "bulk")

# A module that does not parse (kept out of the tree as a file so that ruff can check tests/).
SYNTAX_ERROR_MODULE = '''\
"""A module that does not parse: Nautobot logs the SyntaxError and creates no record for it."""

from nautobot.apps.jobs import Job, register_jobs


class NeverSeen(Job):
    class Meta:
        name = "Never Seen"
        description = "unterminated


register_jobs(NeverSeen)
'''


def nbjobs_command() -> list[str]:
    """The nbjobs CLI under test (default: the project venv's console script)."""
    return shlex.split(os.environ.get("NBJOBS_COMPAT_CLI", str(ROOT / ".venv" / "bin" / "nbjobs")))


def nbjobs(*args: str | Path, check_codes: tuple[int, ...] = (0,), cwd: Path | None = None
           ) -> subprocess.CompletedProcess[str]:  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NBJOBS_DATABASE", "NAUTOBOT_"))}
    env["NO_COLOR"] = "1"
    result = subprocess.run([*nbjobs_command(), *map(str, args)], capture_output=True, text=True, env=env,
                            cwd=cwd, timeout=600, check=False)  # fmt: skip
    command = " ".join(map(str, args))
    assert result.returncode in check_codes, (
        f"nbjobs {command} exited {result.returncode}\n{result.stdout[-5000:]}\n{result.stderr[-5000:]}"
    )
    return result


def build_jobs_root(target: Path) -> Path:
    """examples/jobs + the corpus (+ a module that does not parse). The corpus copies tests/discovery/jobs_root
    except not_literal.py, which is about values nbjobs cannot read statically (reported and skipped by design;
    it also imports `vendor_settings`, a module Nautobot's environment does not have), and wrong_types.py lost
    NameNumber, whose non-str Meta.name aborts Nautobot's whole refresh (tested apart, from fatal/)."""
    shutil.copytree(EXAMPLE_JOBS, target, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(DISCOVERY_CORPUS, target, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", "not_literal.py", "wrong_types.py"))  # fmt: skip
    shutil.copytree(CORPUS, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    (target / "syntax_error.py").write_text(SYNTAX_ERROR_MODULE)
    return target


@dataclass
class Session:
    nautobot: harness.Nautobot
    url: str
    timings: dict[str, float] = field(default_factory=dict)
    initial_records: dict[records.JobKey, dict[str, Any]] = field(default_factory=dict)
    columns: list[str] = field(default_factory=list)
    engine: str = "postgresql"  # Nautobot's NAUTOBOT_DB_ENGINE: postgresql | mysql (MariaDB)

    @property
    def jobs_root(self) -> Path:
        return self.nautobot.jobs_root

    def nbjobs(self, command: str, *manifests: Path, extra: tuple[str, ...] = (), check_codes: tuple[int, ...] = (0,)
               ) -> subprocess.CompletedProcess[str]:  # fmt: skip
        return nbjobs(command, "--database-url", self.url, "--jobs-root", self.jobs_root, *extra, *manifests,
                      check_codes=check_codes)  # fmt: skip

    def probe(self, **params: Any) -> dict[str, Any]:
        started = time.monotonic()
        out: dict[str, Any] = self.nautobot.probe(PROBE, {"username": ADMIN, **params})
        harness.log(f"ORM probe in {time.monotonic() - started:.1f} s")
        assert out["errors"] == [], "\n".join(out["errors"])
        return out


@dataclass
class Step:
    """What one step left behind: the plan nbjobs showed, and what Nautobot reports afterwards."""

    plan: dict[str, Any]
    apply_output: str
    probe: dict[str, Any]
    replan_exit: int


def apply_step(session: Session, manifests: tuple[Path, ...], runs: list[dict[str, Any]] | None = None) -> Step:
    plan_file = session.nautobot.root / f"plan-{time.monotonic_ns()}.json"
    session.nbjobs("plan", *manifests, extra=("--detailed-exitcode", "--out", str(plan_file)), check_codes=(2,))
    plan = json.loads(plan_file.read_text())
    applied = session.nbjobs("apply", *manifests, extra=("--yes", "--as", ADMIN))
    replan = session.nbjobs("plan", *manifests, extra=("--detailed-exitcode",), check_codes=(0, 2))
    if runs:
        harness.flush_redis()  # Nautobot caches the worker count per queue in Redis
        with session.nautobot.celery_worker(WORKER_QUEUES):
            probe = session.probe(api=True, runs=runs)
    else:
        probe = session.probe(api=True)
    return Step(plan, applied.stdout, probe, replan.returncode)


APPLY_MANIFESTS = (EXAMPLE_MANIFESTS, MANIFESTS / "apply")
RELEASE_MANIFESTS = (EXAMPLE_MANIFESTS, MANIFESTS / "release")
RUNS = [
    {"class_path": "audits.ConfigBackup", "data": {}},  # default queue "default"
    {"class_path": "compat_inherit.PlainChild", "data": {"dryrun": True}},  # default queue compat_new (nbjobs)
    {"class_path": "compat_inherit.PlainChild", "data": {}, "job_queue": "bulk"},  # not eligible: refused
]


@dataclass
class Refresh:
    before: dict[records.JobKey, dict[str, Any]]
    after: dict[records.JobKey, dict[str, Any]]
    queues_before: dict[str, Any]
    queues_after: dict[str, Any]
    plan_exit: int
    plan_output: str
