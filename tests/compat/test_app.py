"""The nbjobs App (reconciler_nautobot) inside the real Nautobot 3.2.7, on PostgreSQL and on MariaDB.

Per engine: a fresh database from the cached migrated dump, Nautobot configured with the App in PLUGINS (the
checkout on sys.path, as `pip install -e` would), `post_upgrade`, `nbjobs db upgrade`, an `nbjobs apply` of the
examples and the compat manifests, and one seeded run of the reconcile loop (policy heal, drift on a managed
job, a pending retirement step). probe_app.py then renders the pages through Nautobot's own views and calls
the REST API as four users; each test below checks one thing the App promises.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import harness
import probe_app_browser
import pytest
from sqlalchemy import create_engine, insert, select
from support import ADMIN, APPLY_MANIFESTS, ROOT, build_jobs_root, nbjobs

from reconciler.nautobot.identity import SUPPORTED_LEVEL
from reconciler.state.tables import nbjobs_apply, nbjobs_managed_job, nbjobs_run

PROBE = Path(__file__).resolve().parent / "probe_app.py"
MANAGED, UNMANAGED, RETIRING = "audits.DeviceAudit", "meta_rules.Defaults", "legacy.OldImport"
APP_SETTINGS = f"""
import sys
sys.path.insert(0, {str(ROOT)!r})  # the checkout, as `pip install -e '.[app]'` would put it
PLUGINS = ["reconciler_nautobot"]
"""
CHECKED = datetime(2026, 12, 1, 9, 45, tzinfo=UTC)
DRIFT = [
    {"job": MANAGED, "field": "time_limit", "desired": 3600.0, "actual": 60.0, "verdict": "set override",
     "changed_by": "alice", "changed_at": "2026-12-01T09:40:00+00:00", "attribution": "alice, 2026-12-01 09:40"},
    {"job": "audits.ConfigBackup", "field": "enabled", "desired": True, "actual": False, "verdict": "enabled",
     "changed_by": None, "changed_at": None, "attribution": None, "healed": True},
]  # fmt: skip
PENDING = [{"job": RETIRING, "step": 3, "reason": "2 results still running", "location": "retire.yaml:7:12"}]


def _engines() -> list[str]:
    skip_mariadb = os.environ.get("NBJOBS_COMPAT_MARIADB") == "0"
    return ["postgresql"] + ([] if skip_mariadb else ["mysql"])


@pytest.fixture(scope="module", params=_engines())
def app(request: pytest.FixtureRequest, nautobot_bin: Path, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[dict[str, Any]]:  # fmt: skip
    """What probe_app.py saw, with the database's URL and the apply's id."""
    engine = request.param
    base = tmp_path_factory.mktemp(f"app-{engine}")
    name = f"nbjobs_compat_app_{os.getpid()}_{engine}"
    if engine == "postgresql":
        harness.restore_pg(harness.ensure_pg_dump(nautobot_bin, base), name)
        url, drop = harness.pg_url(name), harness.drop_pg_database
    else:
        harness.restore_mariadb(harness.ensure_mariadb_dump(nautobot_bin, base)[0], name)
        url, drop = harness.mariadb_url(name), harness.drop_mariadb_database
    try:
        nautobot = harness.Nautobot.configure(nautobot_bin, base / "root", build_jobs_root(base / "jobs"), name,
                                              engine=engine)  # fmt: skip
        with open(nautobot.config, "a") as config:
            config.write(APP_SETTINGS)
        harness.flush_redis()
        started = time.monotonic()
        nautobot.server("post_upgrade")  # also runs the App's one Django migration (unmanaged models: no table)
        nautobot.server("createsuperuser", "--noinput", "--username", ADMIN, "--email", "admin@example.com")
        nbjobs("db", "upgrade", "--database-url", url)
        # From the checkout, as a pipeline runs it: the locations recorded read as in the repository.
        nbjobs("apply", "--yes", "--as", ADMIN, "--database-url", url, "--jobs-root", nautobot.jobs_root,
               *(str(path.relative_to(ROOT)) for path in APPLY_MANIFESTS), cwd=ROOT)  # fmt: skip
        apply_id, managed_count = _seed_run(url)
        harness.log(f"App on {engine}: Nautobot ready in {time.monotonic() - started:.1f} s")
        started = time.monotonic()
        seen = nautobot.probe(PROBE, {"managed": MANAGED, "unmanaged": UNMANAGED, "retiring": RETIRING,
                                      "restricted": MANAGED})  # fmt: skip
        harness.log(f"App probe on {engine} in {time.monotonic() - started:.1f} s")
        assert seen["errors"] == [], "\n".join(seen["errors"])
        yield {**seen, "url": url, "apply_id": apply_id, "managed_count": managed_count, "nautobot": nautobot}
    finally:
        drop(name)


def _seed_run(url: str) -> tuple[uuid.UUID, int]:
    """A run of the loop as `nbjobs loop` records it, after the apply: heal, drift on MANAGED, one healed field,
    RETIRING waiting at step 3. Returns the apply's id and how many jobs it left managed."""
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            apply_id = connection.execute(select(nbjobs_apply.c.id).where(nbjobs_apply.c.outcome == "applied")
                                          ).scalar_one()  # fmt: skip
            managed = len(connection.execute(select(nbjobs_managed_job.c.job_id)).all())
            connection.execute(insert(nbjobs_run).values(
                id=uuid.uuid4(), target="prod", started_at=CHECKED, finished_at=CHECKED, last_checked_at=CHECKED,
                idle_ticks=0, duration_seconds=1.5, interval_seconds=60.0, host="loop-1", revision="8edfdd354e37",
                policy="heal", prune=False, state="drifted", observed="drifted", action="applied",
                message="1 drifted field", permanent_error=False, drift=DRIFT, pending=PENDING, errors=[],
            ))  # fmt: skip
        return apply_id, managed
    finally:
        engine.dispose()


def test_the_app_loads_and_writes_no_table(app: dict[str, Any]) -> None:
    assert app["app"]["label"] == "reconciler_nautobot"
    assert app["app"]["writes"] == []  # every model is unmanaged: Django creates and migrates none of nbjobs' tables
    assert app["models_match_tables"] == {}  # each model's columns are exactly its table's


def test_the_panel_shows_owner_fields_apply_and_the_loops_drift(app: dict[str, Any]) -> None:
    detail = app["heal"]["managed_detail"]
    assert detail["status"] == 200 and detail["fields_table"]
    panel = detail["panel"]
    assert panel.startswith("Managed by nbjobs from examples/manifests/jobs.yaml:8:12: Full audits of large sites "
                            "run for up to an hour, see NET-123")  # fmt: skip
    # field, manifest value, the code's value under the override, where the manifest sets it
    assert "time_limit 3600 1800 examples/manifests/jobs.yaml:11:17" in panel
    assert "job_queues [default, heavy] [default] examples/manifests/jobs.yaml:12:40" in panel
    assert "enabled true — examples/manifests/jobs.yaml:9:14" in panel
    assert f"Recorded by apply {app['apply_id'].hex[:12]} at " in panel
    assert "Reconcile loop (target prod, policy heal): drifted, checked 2026-12-01 09:45:00 UTC." in panel
    assert "drift: time_limit is 60, the manifests want 3600 (alice, 2026-12-01 09:40)" in panel
    assert "healed" not in panel  # the healed entry is another job's


def test_the_panel_of_a_retiring_job_shows_its_pending_step(app: dict[str, Any]) -> None:
    panel = app["heal"]["retiring_detail"]["panel"]
    assert panel.startswith("Being retired by nbjobs (examples/manifests/retire.yaml:7:12): Replaced by")
    assert "pending: retirement step 3: 2 results still running (retire.yaml:7:12)" in panel


def test_the_panel_of_an_unmanaged_job_says_so(app: dict[str, Any]) -> None:
    detail = app["heal"]["unmanaged_detail"]
    assert detail["status"] == 200 and not detail["fields_table"]
    assert detail["panel"].startswith(f"Not managed by nbjobs: no manifest entry matches {UNMANAGED} (apply "
                                      f"{app['apply_id'].hex[:12]} at ")  # fmt: skip
    assert "Changes made here stay." in detail["panel"]


def test_the_edit_form_warns_in_the_words_of_the_loops_policy(app: dict[str, Any]) -> None:
    heal, detect = app["heal"]["managed_edit"], app["detect"]["managed_edit"]
    assert heal["status"] == detect["status"] == 200
    assert heal["banner"].startswith("This job is managed by nbjobs (examples/manifests/jobs.yaml:8:12: Full audits "
                                     "of large sites run for up to an hour, see NET-123). The manifests set enabled, "
                                     "grouping, time_limit, default_job_queue, job_queues; a change here will be "
                                     "reverted on the next reconcile:")  # fmt: skip
    assert "time_limit: change examples/manifests/jobs.yaml:11:17 instead default_job_queue: change" in heal["banner"]
    assert "a change here will be reported as drift on the next reconcile:" in detect["banner"]
    assert app["heal"]["unmanaged_edit"] == {"status": 200, "banner": None}
    # The banner runs on every page Nautobot renders: elsewhere it returns at once, without a query.
    assert app["banner_elsewhere"] == {"result": True, "queries": 0}


def test_the_jobs_list_has_a_managed_by_column_and_filter(app: dict[str, Any]) -> None:
    listed = app["heal"]["list"]
    assert listed["status"] == 200 and listed["header"] and app["heal"]["filter_form"]
    assert "nbjobs" in listed["rows"][MANAGED] and "nbjobs" not in listed["rows"][UNMANAGED]
    managed, unmanaged = app["heal"]["list_nbjobs"], app["heal"]["list_none"]
    assert (managed["has_managed"], managed["has_unmanaged"]) == (True, False)
    assert (unmanaged["has_managed"], unmanaged["has_unmanaged"]) == (False, True)


def test_the_rest_api_needs_view_job_and_shows_only_the_jobs_a_user_may_view(app: dict[str, Any]) -> None:
    api = app["api"]
    endpoints = ("managed_jobs", "applies", "runs", "code_values")
    for who in ("admin", "viewer", "restricted"):
        assert {e: api[who][e]["status"] for e in endpoints} == dict.fromkeys(endpoints, 200), who
    assert {e: api["nobody"][e]["status"] for e in endpoints} == dict.fromkeys(endpoints, 403)
    assert {e: api["anonymous"][e] for e in endpoints} == dict.fromkeys(endpoints, 403)
    assert api["admin"]["post_status"] == 405 and api["nobody"]["post_status"] == 403  # read-only
    everything = api["admin"]["managed_jobs"]["body"]
    assert everything["count"] == app["managed_count"] == api["viewer"]["managed_jobs"]["body"]["count"]
    (audit,) = [job for job in everything["results"] if job["class_path"] == MANAGED]
    time_limit = next(f for f in audit["fields"] if f["field"] == "time_limit")
    assert time_limit == {"field": "time_limit", "value": 3600.0, "ignored": False,
                          "location": "examples/manifests/jobs.yaml:11:17",
                          "why": "Full audits of large sites run for up to an hour, see NET-123"}  # fmt: skip
    assert (audit["apply_id"], audit["management"]) == (str(app["apply_id"]), "managed")
    # An ObjectPermission limited to one job limits what the App shows to that job.
    restricted = api["restricted"]
    assert [job["class_path"] for job in restricted["managed_jobs"]["body"]["results"]] == [MANAGED]
    assert {c["class_path"] for c in restricted["code_values"]["body"]["results"]} == {MANAGED}
    (run,) = restricted["runs"]["body"]["results"]
    assert [e["job"] for e in run["drift"]] == [MANAGED] and run["pending"] == []
    (run,) = api["admin"]["runs"]["body"]["results"]
    assert len(run["drift"]) == 2 and run["pending"] == PENDING
    assert api["admin"]["managed_job_detail"]["status"] == 200


def test_the_api_shows_the_class_values_and_nautobots_release(app: dict[str, Any]) -> None:
    values = {(c["class_path"], c["field"]): c for c in app["api"]["admin"]["code_values"]["body"]["results"]}
    assert values[(MANAGED, "time_limit")]["value"] == 1800.0
    assert {c["extras_level"] for c in values.values()} == {SUPPORTED_LEVEL}


def test_the_jobs_api_filters_by_manager(app: dict[str, Any]) -> None:
    filtered = app["api"]["admin"]["jobs_filtered"]
    assert filtered["status"] == 200 and filtered["body"]["count"] == app["managed_count"]
    assert app["api"]["nobody"]["jobs_filtered"]["status"] == 403  # Nautobot's own permission, unchanged


@pytest.mark.skipif(probe_app_browser.CHROMIUM is None, reason="no chromium here (apt-get install chromium)")
def test_the_panel_renders_in_a_real_browser(app: dict[str, Any], tmp_path: Path) -> None:
    """Nautobot's runserver and Debian's chromium headless, logged in. NBJOBS_APP_SCREENSHOT=docs/app-panel.png
    keeps the picture (the README's)."""
    (audit,) = [j for j in app["api"]["admin"]["managed_jobs"]["body"]["results"] if j["class_path"] == MANAGED]
    picture = tmp_path / "panel.png"
    seen = probe_app_browser.screenshot(app["nautobot"], audit["job_id"], picture, username=ADMIN)
    assert seen["title"] == "Device Audit - Nautobot"
    assert "Managed by nbjobs from examples/manifests/jobs.yaml:8:12" in seen["panel_text"]
    assert "time_limit\t3600\t1800\texamples/manifests/jobs.yaml:11:17" in seen["panel_text"]
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and seen["bytes"] > 20_000
    assert seen["clip"]["width"] > 300 and seen["clip"]["height"] > 300
    if os.environ.get("NBJOBS_APP_SCREENSHOT"):
        shutil.copyfile(picture, ROOT / os.environ["NBJOBS_APP_SCREENSHOT"])
