"""The same Nautobot 3.2.7 on MariaDB (Django's MySQL backend): discovery equality, apply and Nautobot's view.

Nautobot's migrations take about 6 minutes on MariaDB here (PostgreSQL: about 4), so a migrated dump is cached
as for PostgreSQL. NBJOBS_COMPAT_MARIADB=0 skips this module.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import harness
import pytest
import records
from support import ADMIN, APPLY_MANIFESTS, Session, apply_step, build_jobs_root, nbjobs
from test_nautobot_compat import KNOWN_SERIALIZATION_DIFFERENCES

pytestmark = pytest.mark.skipif(os.environ.get("NBJOBS_COMPAT_MARIADB") == "0", reason="NBJOBS_COMPAT_MARIADB=0")


@pytest.fixture(scope="module")
def mariadb_session(nautobot_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    base = tmp_path_factory.mktemp("mariadb")
    dump, migrate_seconds = harness.ensure_mariadb_dump(nautobot_bin, base)
    name = f"nbjobs_compat_{os.getpid()}_mariadb"
    started = time.monotonic()
    harness.restore_mariadb(dump, name)
    try:
        timings = {"restore": time.monotonic() - started}
        if migrate_seconds is not None:
            timings["migrate"] = migrate_seconds
        nautobot = harness.Nautobot.configure(nautobot_bin, base / "root", build_jobs_root(base / "jobs"), name,
                                              engine="mysql")  # fmt: skip
        harness.flush_redis()
        started = time.monotonic()
        nautobot.server("post_upgrade")
        timings["post_upgrade"] = time.monotonic() - started
        nautobot.server("createsuperuser", "--noinput", "--username", ADMIN, "--email", "admin@example.com")
        url = harness.mariadb_url(name)
        nbjobs("db", "upgrade", "--database-url", url)
        columns = records.job_columns(url)
        harness.log("MariaDB " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
        yield Session(nautobot, url, timings, records.read_jobs(url, columns), columns)
    finally:
        harness.drop_mariadb_database(name)


def test_discovery_equals_nautobot_post_upgrade_on_mariadb(mariadb_session: Session, tmp_path: Path) -> None:
    sandbox = tmp_path / "sandbox.db"
    nbjobs("sandbox", "--jobs-root", mariadb_session.jobs_root, "--database-url", f"sqlite:///{sandbox}",
           cwd=tmp_path)  # fmt: skip
    ours = records.read_jobs(f"sqlite:///{sandbox}", mariadb_session.columns)
    assert len(mariadb_session.initial_records) >= 40
    assert records.differences(mariadb_session.initial_records, ours) == []


def test_apply_on_mariadb_as_nautobot_reads_it(mariadb_session: Session) -> None:
    step = apply_step(mariadb_session, APPLY_MANIFESTS)
    assert step.replan_exit == 0
    jobs = step.probe["jobs"]
    for op in (op for op in step.plan["operations"] if op["type"] == "set_field"):
        job = jobs[op["job"]["class_path"]]
        assert job[f"{op['field']}_override"] is op["override_after"] is True, op
    bad = {p: j["full_clean"] for p, j in jobs.items() if j["full_clean"] != {"error": None, "changed": {}}}
    assert bad == {}
    assert step.probe["clean"]["JobQueue"]["errors"] == step.probe["clean"]["ObjectChange"]["errors"] == {}
    assert {k: v for k, v in step.probe["serialization"].items() if v} == KNOWN_SERIALIZATION_DIFFERENCES
    assert all(c["changed_object_loads"] and c["snapshots_error"] is None for c in step.probe["object_changes"])
    assert all(log["status"] == log["ui_detail_status"] == 200 for log in step.probe["change_log"].values())
    before = records.read_jobs(mariadb_session.url, mariadb_session.columns, include_system=True)
    mariadb_session.nautobot.server("post_upgrade")
    assert records.read_jobs(mariadb_session.url, mariadb_session.columns, include_system=True) == before
    mariadb_session.nbjobs("plan", *APPLY_MANIFESTS, extra=("--detailed-exitcode",))
