"""`nbjobs audit` (issue 17, point 2): every kind of finding on seeded data on SQLite, PostgreSQL and MariaDB,
and none on a clean database; the pure findings, the Meta patch and the schedule arithmetic without one.

The database part builds one sandbox per engine (the example jobs plus a `fleet` module), applies the
example manifests and audits it clean, then seeds one case of every kind (a UI override, results, schedules,
a pending approval nobody can give, a class value recorded before an upgrade...) and audits it again
through the CLI. The tests of each kind read that one audit: a sandbox on MariaDB takes seconds to build.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import random
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from builders import code, desired, entry, record, snapshot
from common import ENGINES, EXAMPLES, clear_settings_environment, count_queries, empty_database
from sqlalchemy import URL, Column, Integer, MetaData, String, Table, delete, insert, select, update

from reconciler.audit.findings import audit
from reconciler.audit.patch import meta_patch, patched_source, python_literal
from reconciler.audit.schedules import fire_times, shortest_gap
from reconciler.audit.types import AuditFacts, AuditReport, AuditSettings, Finding, FindingKind, RecordedClassValue
from reconciler.cli import main
from reconciler.dbtypes import UtcDateTime
from reconciler.diagnostics import Location
from reconciler.discovery.sources import discover
from reconciler.discovery.types import Discovery
from reconciler.manifest.types import DesiredState, RetireEntry
from reconciler.nautobot.audit_reads import read_audit_facts, read_runs
from reconciler.nautobot.audit_records import (
    JobRuns,
    NautobotAuditFacts,
    PendingStage,
    PermissionFact,
    ScheduleFact,
    UpgradeMark,
    UserFact,
)
from reconciler.nautobot.connect import DatabaseTarget, create_db_engine
from reconciler.nautobot.records import JobRecord, Snapshot
from reconciler.nautobot.tables import (
    auth_group,
    auth_user,
    auth_user_groups,
    django_content_type,
    extras_approvalworkflow,
    extras_approvalworkflowdefinition,
    extras_approvalworkflowstage,
    extras_approvalworkflowstagedefinition,
    extras_job,
    extras_jobresult,
    extras_scheduledjob,
    users_objectpermission,
    users_objectpermission_groups,
    users_objectpermission_object_types,
    users_objectpermission_users,
)
from reconciler.sandbox import build_sandbox
from reconciler.state.tables import nbjobs_code_value

NOW = datetime.now(UTC).replace(microsecond=0)
SETTINGS = AuditSettings()
EXTRAS_LEVEL = "0145_objectmetadata_assigned_object_type_cascade"

FLEET = '''"""Fleet maintenance."""

from nautobot.apps.jobs import Job, register_jobs

name = "Fleet"


class FleetJob(Job):
    """Shared by the fleet jobs; never registered."""

    class Meta:
        has_sensitive_variables = False


class RotateLogs(FleetJob):
    """Rotate the logs of every device."""

    class Meta(FleetJob.Meta):
        description = "Rotate the logs of every device."


class PruneBackups(FleetJob):
    """Prune configuration backups older than a year."""


class CheckNtp(Job):
    class Meta:
        soft_time_limit = 500  # five minutes to report what it found
        time_limit = 600


class Inventory(Job):
    """Count the fleet; one at a time."""

    class Meta:
        is_singleton = True
        soft_time_limit = 9000
        time_limit = 10800


register_jobs(RotateLogs, PruneBackups, CheckNtp, Inventory)
'''

# The seeded state adds these: three jobs of `fleet` hidden by three entries (one says no why).
FLEET_MANIFEST = """apiVersion: nbjobs/v1
kind: Jobs
jobs:
  - match: fleet.RotateLogs
    enabled: true
    hidden: true
    why: Run from the maintenance dashboard only, see NET-200
  - match: fleet.PruneBackups
    enabled: true
    hidden: true
    why: Run from the maintenance dashboard only, see NET-200
  - match: fleet.CheckNtp
    enabled: true
    hidden: true
    time_limit: 1200
"""


# -- The database: one clean audit and one seeded audit per engine ----------------------------------------


@dataclass(frozen=True)
class Audited:
    engine: str
    clean: dict[str, Any]
    clean_code: int
    seeded: dict[str, Any]
    seeded_code: int
    text: str
    markdown: str
    jobs_root: Path
    queries: tuple[int, int, int]  # the facts' reads: clean, seeded, seeded and grown
    sampled: tuple[tuple[int, float, float], tuple[int, float, float]]  # a job's runtimes: read, and expected

    def of(self, kind: FindingKind) -> list[dict[str, Any]]:
        return [f for f in self.seeded["findings"] if f["kind"] == kind.value]


def _cli(*argv: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    assert code in (0, 2), err.getvalue()
    return code, out.getvalue()


@pytest.fixture(scope="module", params=ENGINES)
def audited(
    request: pytest.FixtureRequest, server_databases: dict[str, URL], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Audited]:
    target = DatabaseTarget(server_databases[request.param], f"test {request.param}")
    empty_database(target)
    root = tmp_path_factory.mktemp(f"audit-{request.param}")
    jobs = root / "jobs"
    shutil.copytree(EXAMPLES / "jobs", jobs)
    (jobs / "fleet.py").write_text(FLEET)
    extra = root / "manifests"
    extra.mkdir()
    url = target.url.render_as_string(hide_password=False)
    engine = create_db_engine(target)
    with pytest.MonkeyPatch.context() as patch:
        clear_settings_environment(patch)
        build_sandbox(engine, discover(jobs_root=jobs))
        common = ["--jobs-root", str(jobs), "--database-url", url]
        manifests = str(EXAMPLES / "manifests")
        _cli("apply", "-y", "-q", *common, manifests)
        _migrated(engine, NOW - timedelta(days=1))
        audit_args = ["audit", "--since-upgrade", "--strict", *common]
        with count_queries(engine) as clean_reads, engine.connect() as connection:
            read_audit_facts(connection, runtime_sample=SETTINGS.runtime_sample, upgrade=True)
        clean_code, clean = _cli(*audit_args, "--format", "json", manifests)
        (extra / "fleet.yaml").write_text(FLEET_MANIFEST)
        _cli("apply", "-y", "-q", *common, manifests, str(extra))
        _seed(engine)
        with count_queries(engine) as seeded_reads, engine.connect() as connection:
            read_audit_facts(connection, runtime_sample=SETTINGS.runtime_sample, upgrade=True)
        seeded_code, seeded = _cli(*audit_args, "--format", "json", manifests, str(extra))
        _, text = _cli(*audit_args, "--no-color", manifests, str(extra))
        _, markdown = _cli(*audit_args, "--format", "markdown", manifests, str(extra))
        _grow(engine)
        with count_queries(engine) as grown_reads, engine.connect() as connection:
            read_audit_facts(connection, runtime_sample=SETTINGS.runtime_sample, upgrade=True)
        expected = _runtimes(engine, "RotateLogs")
        with engine.connect() as connection:
            rotate = select(extras_job.c.id).where(extras_job.c.job_class_name == "RotateLogs")
            job = connection.execute(rotate).scalar()
            [read] = [(r.runs, r.p95, r.longest) for r in read_runs(connection, 100) if r.job_id == job]
    yield Audited(request.param, json.loads(clean), clean_code, json.loads(seeded), seeded_code, text, markdown,
                  jobs, (len(clean_reads), len(seeded_reads), len(grown_reads)), (read, expected))  # fmt: skip
    engine.dispose()
    empty_database(target)


def _migrated(engine: Any, applied: datetime) -> None:
    """Django's migration table, as Nautobot's database has it (the sandbox has none)."""
    migrations = Table("django_migrations", MetaData(), Column("id", Integer, primary_key=True, autoincrement=True),
                       Column("app", String(255)), Column("name", String(255)),
                       Column("applied", UtcDateTime()))  # fmt: skip
    migrations.create(engine)
    with engine.begin() as c:
        c.execute(insert(migrations), [
            {"app": "extras", "name": "0125_jobresult_date_started", "applied": NOW - timedelta(days=400)},
            {"app": "extras", "name": EXTRAS_LEVEL, "applied": applied},
            {"app": "dcim", "name": "0070_x", "applied": applied},
        ])  # fmt: skip


def _seed(engine: Any) -> None:
    """One case of every kind, on top of the applied manifests."""
    with engine.begin() as c:
        rows = c.execute(select(extras_job.c.id, extras_job.c.module_name, extras_job.c.job_class_name))
        jobs = {f"{r.module_name}.{r.job_class_name}": r.id for r in rows}
        admin = c.execute(select(auth_user.c.id).where(auth_user.c.username == "admin")).scalar_one()
        c.execute(insert(django_content_type).values(app_label="extras", model="approvalworkflowstage"))
        types = {m: i for i, m in c.execute(select(django_content_type.c.id, django_content_type.c.model))}
        # The UI: Inventory (unmanaged) enabled, its description overridden, its dryrun_default "overridden"
        # to the code's own value; DeviceAudit's record is old and it never ran.
        c.execute(update(extras_job).where(extras_job.c.id == jobs["fleet.Inventory"]).values(
            enabled=True, description="Counted nightly by the NOC", description_override=True,
            dryrun_default=False, dryrun_default_override=True))  # fmt: skip
        c.execute(update(extras_job).where(extras_job.c.id == jobs["audits.DeviceAudit"])
                  .values(created=NOW - timedelta(days=200)))  # fmt: skip
        # Results: CheckNtp once past its soft limit (500 s); ConfigBackup near Celery's 300 s (p95 250 s);
        # Inventory 1h30m a run, scheduled hourly.
        runs = ([("fleet.CheckNtp", 300.0)] * 20 + [("fleet.CheckNtp", 700.0)] + [("audits.ConfigBackup", 250.0)] * 20
                + [("fleet.Inventory", 5400.0)] * 5)  # fmt: skip
        c.execute(insert(extras_jobresult), [
            {"id": uuid.uuid4(), "name": path, "date_created": NOW - timedelta(hours=i + 3),
             "date_started": NOW - timedelta(hours=i + 3),
             "date_done": NOW - timedelta(hours=i + 3) + timedelta(seconds=s),
             "status": "SUCCESS", "_custom_field_data": {}, "job_model_id": jobs[path], "task_args": [],
             "task_kwargs": {}, "celery_kwargs": {}, "cancel_type": "", "canceled_by_user_name": ""}
            for i, (path, s) in enumerate(runs)
        ])  # fmt: skip
        ids = {}
        for name, path, interval, state, enabled in (
            ("nightly-push", "vendor_x.sync.PushConfig", "daily", "active", True),
            ("inventory-hourly", "fleet.Inventory", "hourly", "active", True),
            ("backup-once", "audits.ConfigBackup", "future", "pending", False),
        ):
            ids[name] = uuid.uuid4()
            c.execute(insert(extras_scheduledjob).values(
                id=ids[name], name=name, task=path, interval=interval, args=[], kwargs={}, one_off=interval == "future",
                start_time=NOW - timedelta(days=1, minutes=7) if interval != "future" else NOW + timedelta(days=1),
                enabled=enabled, total_run_count=0, date_changed=NOW, description="", user_id=admin,
                job_model_id=jobs[path], crontab="", celery_kwargs={}, time_zone="Europe/Berlin", headers="{}",
                state=state))  # fmt: skip
        # The approval of backup-once waits on a stage whose group has one member without the permissions;
        # admin is no superuser any more.
        group = c.execute(insert(auth_group).values(name="approvers")).inserted_primary_key[0]
        alice = uuid.uuid4()
        c.execute(insert(auth_user).values(id=alice, username="alice", password="!", is_superuser=False, first_name="",
                  last_name="", email="", is_staff=False, is_active=True, date_joined=NOW, config_data={}))  # fmt: skip
        c.execute(insert(auth_user_groups).values(user_id=alice, group_id=group))
        _permission_row(c, types, "stages only", ["view", "change"], "approvalworkflowstage", group=group)
        c.execute(update(auth_user).where(auth_user.c.id == admin).values(is_superuser=False))
        definition, stage_definition, workflow = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        c.execute(insert(extras_approvalworkflowdefinition).values(id=definition, created=NOW, last_updated=NOW,
                  _custom_field_data={}, name="Schedules", model_constraints={}, weight=10,
                  model_content_type_id=types["scheduledjob"]))  # fmt: skip
        c.execute(insert(extras_approvalworkflowstagedefinition).values(id=stage_definition, created=NOW,
                  last_updated=NOW, _custom_field_data={}, sequence=10, name="NOC", min_approvers=1,
                  denial_message="", approval_workflow_definition_id=definition, approver_group_id=group))  # fmt: skip
        c.execute(insert(extras_approvalworkflow).values(id=workflow, created=NOW, last_updated=NOW,
                  _custom_field_data={}, object_under_review_object_id=ids["backup-once"], current_state="Pending",
                  user_name="admin", approval_workflow_definition_id=definition,
                  object_under_review_content_type_id=types["scheduledjob"], user_id=admin))  # fmt: skip
        c.execute(insert(extras_approvalworkflowstage).values(id=uuid.uuid4(), created=NOW, last_updated=NOW,
                  _custom_field_data={}, state="Pending", approval_workflow_id=workflow,
                  approval_workflow_stage_definition_id=stage_definition))  # fmt: skip
        # Before the upgrade, apply saw DeviceAudit's class time_limit at 1200; the code says 1800 now.
        c.execute(delete(nbjobs_code_value).where(nbjobs_code_value.c.class_path == "audits.DeviceAudit"))
        c.execute(insert(nbjobs_code_value).values(class_path="audits.DeviceAudit", field="time_limit", value=1200.0,
                  extras_level="0125_jobresult_date_started", recorded_at=NOW - timedelta(days=10)))  # fmt: skip


@pytest.mark.database
def test_a_clean_database_has_no_findings(audited: Audited) -> None:
    assert audited.clean_code == 0
    assert audited.clean["findings"] == [] and audited.clean["notes"] == []
    assert audited.clean["summary"] == {"findings": 0, "by_kind": {kind.value: 0 for kind in FindingKind}}
    assert audited.clean["jobs"] == 11  # the 7 example jobs and the 4 of fleet


@pytest.mark.database
def test_seeded_data_has_one_finding_of_every_kind_and_strict_exits_2(audited: Audited) -> None:
    assert audited.seeded_code == 2
    counts = audited.seeded["summary"]["by_kind"]
    assert set(counts) == {kind.value for kind in FindingKind}
    assert all(counts[kind.value] >= 1 for kind in FindingKind), counts
    assert audited.seeded["summary"]["findings"] == len(audited.seeded["findings"]) == sum(counts.values())


@pytest.mark.database
def test_unmanaged_override(audited: Audited) -> None:
    [found] = audited.of(FindingKind.UNMANAGED_OVERRIDE)
    assert (found["job"], found["field"]) == ("fleet.Inventory", "description")
    assert found["details"] == {"database": "Counted nightly by the NOC", "code": ""}  # a docstring is no description
    assert "no manifest manages this job" in found["message"]
    assert "nbjobs export --match fleet.Inventory" in found["suggestion"]


@pytest.mark.database
def test_redundant_override(audited: Audited) -> None:
    [found] = audited.of(FindingKind.REDUNDANT_OVERRIDE)
    assert (found["job"], found["field"], found["details"]) == ("fleet.Inventory", "dryrun_default",
                                                                 {"database": False, "code": False})  # fmt: skip
    assert "the code's own value" in found["message"]


@pytest.mark.database
def test_override_without_why(audited: Audited) -> None:
    [found] = audited.of(FindingKind.OVERRIDE_WITHOUT_WHY)
    assert found["subject"] == "fleet.CheckNtp" and found["location"].endswith("fleet.yaml:12:12")
    assert found["details"] == {"fields": ["hidden", "time_limit"], "jobs": ["fleet.CheckNtp"]}


@pytest.mark.database
def test_runtimes_over_and_near_their_limits_suggest_a_queue(audited: Audited) -> None:
    [over] = audited.of(FindingKind.RUNTIME_OVER_LIMIT)
    assert over["job"] == "fleet.CheckNtp"
    assert over["details"] == {"p95_seconds": 300.0, "max_seconds": 700.0, "runs": 21, "soft_time_limit": 500.0,
                               "time_limit": 1200.0, "celery_default": False, "queue": "default"}  # fmt: skip
    assert "past its soft time limit (8m20s)" in over["message"]
    [near] = audited.of(FindingKind.RUNTIME_NEAR_LIMIT)
    assert near["job"] == "audits.ConfigBackup"
    assert near["details"]["celery_default"] is True and near["details"]["p95_seconds"] == 250.0
    assert "Celery's global default" in near["message"]
    assert "a queue of its own" in near["suggestion"] and "rather than raising Celery's global" in near["suggestion"]


@pytest.mark.database
def test_idle_job(audited: Audited) -> None:
    [found] = audited.of(FindingKind.IDLE_JOB)
    assert found["job"] == "audits.DeviceAudit"
    assert "never run since its record was created 200 days ago" in found["message"]


@pytest.mark.database
def test_schedule_of_a_disabled_job(audited: Audited) -> None:
    [found] = audited.of(FindingKind.SCHEDULE_UNRUNNABLE)
    assert (found["subject"], found["job"]) == ("nightly-push", "vendor_x.sync.PushConfig")
    assert "is disabled: the worker refuses every run" in found["message"]


@pytest.mark.database
def test_singleton_scheduled_faster_than_it_runs(audited: Audited) -> None:
    [found] = audited.of(FindingKind.SINGLETON_OVERLAP)
    assert found["job"] == "fleet.Inventory"
    assert found["details"] == {"schedules": ["inventory-hourly"], "shortest_gap_seconds": 3600.0,
                                "max_seconds": 5400.0, "p95_seconds": 5400.0}  # fmt: skip


@pytest.mark.database
def test_approval_nobody_can_give(audited: Audited) -> None:
    [found] = audited.of(FindingKind.APPROVAL_WITHOUT_APPROVER)
    assert (found["subject"], found["job"]) == ("backup-once", "audits.ConfigBackup")
    assert found["details"] == {"schedule": "backup-once", "stage": "NOC", "group": "approvers", "needed": 1,
                                "able": [], "members": ["alice"]}  # fmt: skip
    assert "no active superuser" in found["message"]


@pytest.mark.database
def test_repeated_override_suggests_a_meta_patch_that_discovery_confirms(audited: Audited, tmp_path: Path) -> None:
    [found] = audited.of(FindingKind.REPEATED_OVERRIDE)
    assert (found["subject"], found["field"]) == ("fleet", "hidden")
    assert found["jobs"] == ["fleet.CheckNtp", "fleet.PruneBackups", "fleet.RotateLogs"]
    assert [p.rsplit(":", 2)[1] for p in found["redundant_pins"]] == ["6", "10", "14"]
    patch = found["patch"]
    assert patch.startswith(f"--- {audited.jobs_root / 'fleet.py'}\n+++ {audited.jobs_root / 'fleet.py'}\n")
    assert "+    class Meta(FleetJob.Meta):\n+        hidden = True\n" in patch
    # Applied, the patch gives the three classes hidden = True in the eyes of discovery, and nothing else moves.
    patched = _apply_diff((audited.jobs_root / "fleet.py").read_text(), patch)
    (tmp_path / "fleet.py").write_text(patched)
    before = {j.class_path: j.values for j in discover(jobs_root=audited.jobs_root).jobs if j.module_name == "fleet"}
    after = {j.class_path: j.values for j in discover(jobs_root=tmp_path).jobs}
    assert {path: values.hidden for path, values in after.items()} == {
        "fleet.CheckNtp": True, "fleet.PruneBackups": True, "fleet.RotateLogs": True, "fleet.Inventory": False}
    assert {p: v.with_values(hidden=False) for p, v in after.items()} == {
        p: v.with_values(hidden=False) for p, v in before.items()}  # fmt: skip


@pytest.mark.database
def test_override_hiding_a_new_default_since_the_upgrade(audited: Audited) -> None:
    [found] = audited.of(FindingKind.OVERRIDE_HIDES_NEW_DEFAULT)
    assert (found["job"], found["field"]) == ("audits.DeviceAudit", "time_limit")
    details = found["details"]
    assert (details["database"], details["recorded_code"], details["code"]) == (3600.0, 1200.0, 1800.0)
    assert details["extras_level"] == EXTRAS_LEVEL
    assert found["location"].endswith("jobs.yaml:11:17")  # the pin, to drop if the new default fits


@pytest.mark.database
def test_text_and_markdown_show_the_same_findings(audited: Audited) -> None:
    total = len(audited.seeded["findings"])
    assert audited.text.startswith("nbjobs audit of ")
    assert audited.text.count("  ! ") == total
    assert audited.text.rstrip().endswith(".") and f"Audit: {total} findings in 11 jobs: " in audited.text
    assert "      patch:\n        --- /" in audited.text
    assert audited.markdown.startswith("<!-- nbjobs:audit -->\n")
    assert audited.markdown.count("\n- **`") == total
    assert "```diff" in audited.markdown


@pytest.mark.database
def test_the_database_computes_p95_and_the_longest_of_the_most_recent_finished_runs(audited: Audited) -> None:
    read, expected = audited.sampled
    assert read == expected


@pytest.mark.database
def test_the_facts_take_a_constant_number_of_queries(audited: Audited) -> None:
    clean, seeded, grown = audited.queries
    # Waiting approvals add the reads of their stages' approvals, users and permissions (five); ten times
    # the results, schedules, approvals, users and permissions add none.
    assert seeded - clean == 5 and grown == seeded, audited.queries


def _permission_row(c: Any, types: dict[str, int], name: str, actions: list[str], model: str, *,
                    group: int | None = None, user: uuid.UUID | None = None) -> None:  # fmt: skip
    ident = uuid.uuid4()
    c.execute(insert(users_objectpermission).values(id=ident, name=name, description="", enabled=True,
              actions=actions, constraints=None, created=NOW, last_updated=NOW))  # fmt: skip
    c.execute(insert(users_objectpermission_object_types).values(objectpermission_id=ident,
                                                                 contenttype_id=types[model]))  # fmt: skip
    if group is not None:
        c.execute(insert(users_objectpermission_groups).values(objectpermission_id=ident, group_id=group))
    if user is not None:
        c.execute(insert(users_objectpermission_users).values(objectpermission_id=ident, user_id=user))


def _runtimes(engine: Any, job_class: str) -> tuple[int, float, float]:
    """150 finished runs of random durations (and runs that do not count: revoked, or not finished), and
    what the 100 most recent finished ones give: count, p95 and longest."""
    chance = random.Random(17)
    durations = [round(chance.uniform(0.5, 7200.0), 3) for _ in range(150)]
    with engine.begin() as c:
        job = c.execute(select(extras_job.c.id).where(extras_job.c.job_class_name == job_class)).scalar_one()
        base = {"name": "timed", "_custom_field_data": {}, "job_model_id": job, "task_args": [], "task_kwargs": {},
                "celery_kwargs": {}, "cancel_type": "", "canceled_by_user_name": ""}  # fmt: skip
        # Newer than every other result of the job (_grow's end now): the first is the most recent.
        started = [NOW + timedelta(days=10, hours=-i) for i in range(150)]
        c.execute(insert(extras_jobresult), [
            {**base, "id": uuid.uuid4(), "date_created": start, "date_started": start, "status": status,
             "date_done": start + timedelta(seconds=seconds)}
            for start, seconds, status in zip(started, durations, ["SUCCESS", "FAILURE"] * 75, strict=True)
        ] + [{**base, "id": uuid.uuid4(), "date_created": NOW, "date_started": NOW - timedelta(days=1),
              "date_done": NOW, "status": "REVOKED"},
             {**base, "id": uuid.uuid4(), "date_created": NOW, "date_started": NOW, "date_done": None,
              "status": "STARTED"}])  # fmt: skip
    recent = durations[:100]
    return 100, percentile(recent, 95), max(recent)


def _grow(engine: Any) -> None:
    """Ten times more of what the facts read: results, schedules, pending approvals, users, permissions."""
    with engine.begin() as c:
        jobs = [r.id for r in c.execute(select(extras_job.c.id))]
        admin = c.execute(select(auth_user.c.id).where(auth_user.c.username == "admin")).scalar_one()
        types = {m: i for i, m in c.execute(select(django_content_type.c.id, django_content_type.c.model))}
        definition = c.execute(select(extras_approvalworkflowdefinition.c.id)).scalar_one()
        c.execute(insert(extras_jobresult), [
            {"id": uuid.uuid4(), "name": "more", "date_created": NOW - timedelta(minutes=i), "date_started": NOW,
             "date_done": NOW + timedelta(seconds=i), "status": "SUCCESS", "_custom_field_data": {},
             "job_model_id": jobs[i % len(jobs)], "task_args": [], "task_kwargs": {}, "celery_kwargs": {},
             "cancel_type": "", "canceled_by_user_name": ""} for i in range(300)])  # fmt: skip
        for i in range(10):
            schedule, workflow, stage_definition, user = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
            c.execute(insert(extras_scheduledjob).values(
                id=schedule, name=f"more-{i}", task="x.Y", interval="future", args=[], kwargs={}, one_off=True,
                start_time=NOW + timedelta(days=1), enabled=False, total_run_count=0, date_changed=NOW,
                description="", user_id=admin, job_model_id=jobs[i % len(jobs)], crontab="", celery_kwargs={},
                time_zone="UTC", headers="{}", state="pending"))  # fmt: skip
            group = c.execute(insert(auth_group).values(name=f"more-{i}")).inserted_primary_key[0]
            c.execute(insert(auth_user).values(id=user, username=f"more-{i}", password="!", is_superuser=False,
                      first_name="", last_name="", email="", is_staff=False, is_active=True, date_joined=NOW,
                      config_data={}))  # fmt: skip
            c.execute(insert(auth_user_groups).values(user_id=user, group_id=group))
            _permission_row(c, types, f"more-{i}", ["change"], "scheduledjob", user=user)
            c.execute(insert(extras_approvalworkflowstagedefinition).values(id=stage_definition, created=NOW,
                      last_updated=NOW, _custom_field_data={}, sequence=20 + i, name=f"more-{i}", min_approvers=1,
                      denial_message="", approval_workflow_definition_id=definition,
                      approver_group_id=group))  # fmt: skip
            c.execute(insert(extras_approvalworkflow).values(id=workflow, created=NOW, last_updated=NOW,
                      _custom_field_data={}, object_under_review_object_id=schedule, current_state="Pending",
                      user_name="admin", approval_workflow_definition_id=definition,
                      object_under_review_content_type_id=types["scheduledjob"], user_id=admin))  # fmt: skip
            c.execute(insert(extras_approvalworkflowstage).values(id=uuid.uuid4(), created=NOW, last_updated=NOW,
                      _custom_field_data={}, state="Pending", approval_workflow_id=workflow,
                      approval_workflow_stage_definition_id=stage_definition))  # fmt: skip


def _apply_diff(text: str, diff: str) -> str:
    """A unified diff of one file applied to `text` (enough for difflib's own output)."""
    lines, out, index = text.splitlines(keepends=True), [], 0
    body = diff.splitlines(keepends=True)[2:]
    for line in body:
        if line.startswith("@@"):
            start = int(line.split()[1].split(",")[0][1:]) - 1
            out += lines[index:start]
            index = start
        elif line.startswith("-"):
            index += 1
        elif line.startswith("+"):
            out.append(line[1:])
        else:
            out.append(lines[index])
            index += 1
    return "".join(out + lines[index:])


# -- The pure findings ----------------------------------------------------------------------------------


def _audit(
    state: DesiredState,
    snap: Snapshot,
    jobs: tuple[Any, ...] = (),
    facts: AuditFacts | None = None,
    settings: AuditSettings = SETTINGS,
    *,
    idle: bool = False,
) -> AuditReport:
    """The audit; without the idle jobs unless asked (a record built here has no runs, nor a creation time)."""
    report = audit(state, Discovery(jobs), snap, facts or AuditFacts(), settings, NOW)
    if idle:
        return report
    return replace(report, findings=tuple(f for f in report.findings if f.kind is not FindingKind.IDLE_JOB))


def _of(report: AuditReport, kind: FindingKind) -> list[Finding]:
    return [f for f in report.findings if f.kind is kind]


def _kinds(report: AuditReport) -> list[tuple[str, str | None, str | None]]:
    return [(f.kind.value, f.subject, f.field) for f in report.findings]


def test_overrides_unmanaged_redundant_and_the_exceptions() -> None:
    jobs = (code("a.One", hidden=False), code("a.Two", hidden=False, name="Two"), code("b.Glob", hidden=True))
    records = (
        record("a.One", overrides=frozenset({"hidden", "grouping"}), hidden=False, grouping="Ops"),
        record("a.Two", overrides=frozenset({"name", "hidden", "description"}), name="Two (2)", hidden=True,
               description="UI text"),
        record("b.Glob", overrides=frozenset({"hidden"}), hidden=True),
        record("c.Gone", overrides=frozenset({"hidden"}), hidden=True),
    )  # fmt: skip
    state = desired(entry("a.Two", 1, why="Reviewed", hidden=True, ignore=frozenset({"description"})),
                    entry("b.*", 10, why="Vendor", hidden=True))  # fmt: skip
    report = _audit(state, snapshot(*records), jobs)
    assert _kinds(report) == [
        ("redundant-override", "a.One", "hidden"),  # unmanaged, the code's own value
        ("unmanaged-override", "a.One", "grouping"),  # unmanaged
        ("redundant-override", "b.Glob", "hidden"),  # a glob's pin: nothing to drop for one job
        ("unmanaged-override", "c.Gone", "hidden"),  # no code, no manifest
    ]  # a.Two: the collision suffix, a pinned value, an ignored field: none is a finding
    glob = report.findings[2]
    assert glob.redundant_pins == () and "the glob `b.*` pins it" in glob.suggestion
    assert "the class is not in the job code read" in report.findings[3].message


def test_a_pin_equal_to_the_code_that_overrules_a_glob_is_not_redundant() -> None:
    jobs = (code("v.Sync", hidden=False), code("v.Push", hidden=False))
    records = (record("v.Sync", overrides=frozenset({"hidden"}), hidden=False),
               record("v.Push", overrides=frozenset({"hidden"}), hidden=True))  # fmt: skip
    state = desired(entry("v.*", 1, why="Not certified", hidden=True),
                    entry("v.Sync", 5, why="Certified", hidden=False))  # fmt: skip
    assert _kinds(_audit(state, snapshot(*records), jobs)) == []
    plain = desired(entry("v.Sync", 5, why="Certified", hidden=False), entry("v.Push", 8, why="Off", hidden=True))
    [found] = _audit(plain, snapshot(*records), jobs).findings
    assert (found.kind, found.subject, found.redundant_pins) == (FindingKind.REDUNDANT_OVERRIDE, "v.Sync",
                                                                 (Location("jobs.yaml", 6, 5),))  # fmt: skip


def test_a_managed_job_s_unpinned_override_is_released_by_the_next_apply() -> None:
    records = (record("a.One", overrides=frozenset({"time_limit"}), time_limit=900.0),)
    [found] = _audit(desired(entry("a.One", 3, why="x", enabled=True)), snapshot(*records),
                     (code("a.One", time_limit=600.0),)).findings  # fmt: skip
    assert found.kind is FindingKind.UNMANAGED_OVERRIDE and found.location == Location("jobs.yaml", 3, 3)
    assert "the next apply releases it to the code's 600" in found.suggestion


def test_entries_without_why_are_found_once_per_entry_and_retiring_jobs_are_left_out() -> None:
    records = (*(record(f"m.J{i}") for i in range(3)), record("old.Job"))
    state = DesiredState(jobs=(entry("m.*", 1, hidden=True, enabled=True), entry("m.J0", 6, why="  ", grouping="G"),
                               entry("old.*", 9, hidden=True), entry("m.J1", 12, enabled=True)),
                         retire=(RetireEntry("old.Job", Location("r.yaml", 1, 3)),), files=("jobs.yaml",))  # fmt: skip
    report = _audit(state, snapshot(*records), tuple(code(r.class_path) for r in records))
    assert [(f.subject, f.details["fields"], f.details["jobs"]) for f in report.findings] == [
        ("m.*", ["hidden"], ["m.J0", "m.J1", "m.J2"]),
        ("m.J0", ["grouping"], ["m.J0"]),
    ]  # `enabled` alone is no override; old.* wins only for a retiring job


def percentile(values: list[float] | tuple[float, ...], percent: int) -> float:
    """The nearest-rank percentile, the reference for what the results' read computes in SQL."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(Fraction(percent, 100) * len(ordered)) - 1)]


def _runs(job: JobRecord, *durations: float, last: datetime | None = None, created: datetime | None = None) -> JobRuns:
    """What the results' read gives for runs of these durations."""
    measured = (len(durations), percentile(durations, 95), max(durations)) if durations else (0, 0.0, 0.0)
    return JobRuns(job.id, *measured, last_run=last or (NOW if durations else None), created=created)


def test_runtimes_against_the_job_s_limits_or_celery_s() -> None:
    over_hard = record("r.Killed", time_limit=600.0, soft_time_limit=550.0)
    near_soft = record("r.Near", soft_time_limit=1000.0, time_limit=2000.0, default="heavy", eligible=("heavy",))
    fine = record("r.Fine")
    jobs = (over_hard, near_soft, fine)
    facts = AuditFacts(NautobotAuditFacts(runs=(
        _runs(over_hard, 100.0, 601.0), _runs(near_soft, *([850.0] * 19 + [100.0])), _runs(fine, *([200.0] * 100)),
    )))  # fmt: skip
    report = _audit(desired(), snapshot(*jobs, queues=("default", "heavy")), facts=facts)
    assert _kinds(report) == [("runtime-over-limit", "r.Killed", None), ("runtime-near-limit", "r.Near", None)]
    killed, near = report.findings
    assert "all its time limit (10m00s) allows" in killed.message
    assert near.details["p95_seconds"] == 850.0
    assert "it already runs on queue 'heavy'" in near.suggestion
    # p95 200 s is under 80% of Celery's 300 s; at 241 s it is near.
    facts = AuditFacts(NautobotAuditFacts(runs=(_runs(fine, *([241.0] * 100)),)))
    assert _kinds(_audit(desired(), snapshot(fine), facts=facts)) == [("runtime-near-limit", "r.Fine", None)]


def test_idle_jobs_by_last_run_or_age() -> None:
    old, recent, never_old, never_new, disabled, system = (
        record("i.Old", enabled=True), record("i.Recent", enabled=True), record("i.NeverOld", enabled=True),
        record("i.NeverNew", enabled=True), record("i.Off"), record("nautobot.core.jobs.Export", enabled=True),
    )  # fmt: skip
    facts = AuditFacts(NautobotAuditFacts(runs=(
        _runs(old, 1.0, last=NOW - timedelta(days=91)), _runs(recent, 1.0, last=NOW - timedelta(days=89)),
        _runs(never_old, created=NOW - timedelta(days=120)), _runs(never_new, created=NOW - timedelta(days=3)),
        _runs(disabled, created=NOW - timedelta(days=400)), _runs(system, created=NOW - timedelta(days=400)),
    )))  # fmt: skip
    unknown = record("i.Unknown", enabled=True)  # no runs, no creation time: idle, as far as anyone can tell
    everyone = snapshot(old, recent, never_old, never_new, disabled, system, unknown)
    report = _audit(desired(), everyone, facts=facts, idle=True)
    assert [f.subject for f in report.findings] == ["i.NeverOld", "i.Old", "i.Unknown"]
    assert "never run since its record was created 120 days ago" in report.findings[0].message
    assert "last run 91 days ago" in report.findings[1].message
    assert "its record has no creation time" in report.findings[2].message
    thirty = _audit(desired(), snapshot(old, recent), facts=facts, settings=AuditSettings(unused_days=30), idle=True)
    assert [f.subject for f in thirty.findings] == ["i.Old", "i.Recent"]


def _schedule(name: str, job: JobRecord | None, interval: str = "hourly", *, state: str = "active",
              crontab: str = "", start: datetime | None = None, zone: str = "UTC") -> ScheduleFact:  # fmt: skip
    return ScheduleFact(uuid.uuid5(uuid.NAMESPACE_DNS, name), name, job.class_path if job else "gone.Job",
                        job.id if job else None, interval, crontab, start or NOW - timedelta(days=2, minutes=13),
                        zone, state == "active", state)  # fmt: skip


def test_schedules_of_jobs_that_cannot_run() -> None:
    off, gone_code, fine = record("s.Off"), record("s.Uninstalled", enabled=True, installed=False), record("s.On",
                                                                                                          enabled=True)
    schedules = (_schedule("a", off), _schedule("b", gone_code), _schedule("c", fine), _schedule("d", None),
                 _schedule("e", off, "future", state="pending"))  # fmt: skip
    facts = AuditFacts(NautobotAuditFacts(schedules=schedules))
    report = _audit(desired(), snapshot(off, gone_code, fine), facts=facts)
    assert [(f.subject, f.job) for f in report.findings] == [("a", "s.Off"), ("b", "s.Uninstalled"), ("d", None),
                                                             ("e", "s.Off")]  # fmt: skip
    assert "its job record is gone" in report.findings[2].message
    assert report.findings[3].message.startswith("schedule 'e' awaits approval")


def test_fire_times_follow_nautobot_s_intervals_in_the_schedule_s_zone() -> None:
    start = datetime(2026, 3, 1, 21, 30, tzinfo=UTC)  # 22:30 in Berlin
    now = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    daily = _schedule("d", None, "daily", start=start, zone="Europe/Berlin")
    fires = fire_times(daily, now)
    assert fires[0] == datetime(2026, 3, 10, 21, 30, tzinfo=UTC) and len(fires) == 8
    assert fires[-1] == datetime(2026, 3, 17, 21, 30, tzinfo=UTC)
    hourly = fire_times(_schedule("h", None, "hourly", start=start), now)
    assert hourly[0] == datetime(2026, 3, 10, 12, 30, tzinfo=UTC) and shortest_gap(hourly) == timedelta(hours=1)
    weekly = fire_times(_schedule("w", None, "weekly", start=start, zone="Europe/Berlin"), now)
    assert [f.weekday() for f in weekly] == [6] and weekly[0].hour == 21  # Sunday 22:30 Berlin
    custom = fire_times(_schedule("c", None, "custom", crontab="*/5 * * * *", start=start), now)
    assert len(custom) == 500 and shortest_gap(custom) == timedelta(minutes=5)
    assert fire_times(_schedule("x", None, "custom", crontab="not a crontab", start=start), now) == []
    assert fire_times(_schedule("f", None, "future", start=now + timedelta(hours=2)), now) == [now + timedelta(hours=2)]
    assert fire_times(_schedule("p", None, "future", start=now - timedelta(hours=2)), now) == []


def test_singleton_overlaps_count_every_schedule_of_the_job() -> None:
    single = record("s.Single", enabled=True, is_singleton=True)
    other = record("s.Plain", enabled=True)
    start = NOW.replace(minute=0, second=0) - timedelta(days=1)
    schedules = (_schedule("at-00", single, "daily", start=start),
                 _schedule("at-01", single, "daily", start=start + timedelta(minutes=50)),
                 _schedule("plain", other, "custom", crontab="* * * * *"))  # fmt: skip
    facts = AuditFacts(NautobotAuditFacts(runs=(_runs(single, 3600.0), _runs(other, 3600.0)), schedules=schedules))
    [found] = _of(_audit(desired(), snapshot(single, other), facts=facts), FindingKind.SINGLETON_OVERLAP)
    assert found.subject == "s.Single" and found.details["shortest_gap_seconds"] == 3000.0  # 00:00 and 00:50
    assert found.details["schedules"] == ["at-00", "at-01"]
    quick = AuditFacts(NautobotAuditFacts(runs=(_runs(single, 2999.0),), schedules=schedules))
    assert _of(_audit(desired(), snapshot(single, other), facts=quick), FindingKind.SINGLETON_OVERLAP) == []


def _permission(name: str, *actions: str, types: tuple[str, ...], constraints: Any = None) -> PermissionFact:
    return PermissionFact(name, frozenset(actions), frozenset(types), constraints)


APPROVER = (_permission("stages", "view", "change", types=("extras.approvalworkflowstage",)),
            _permission("schedules", "change", types=("extras.scheduledjob",)))  # fmt: skip


def test_approvals_need_a_member_of_the_group_with_every_permission_or_a_superuser() -> None:
    job = record("p.Job", enabled=True)
    schedule = _schedule("wait", job, "future", state="pending")
    stage = PendingStage(schedule.id, uuid.uuid4(), uuid.uuid4(), "NOC", 10, 2, 7, "noc")

    def findings(*users: UserFact, waiting: PendingStage = stage) -> list[str]:
        facts = AuditFacts(NautobotAuditFacts(schedules=(schedule,), pending_stages=(waiting,), users=users))
        return [f.message for f in _audit(desired(), snapshot(job), facts=facts).findings]

    able = [UserFact(uuid.uuid4(), f"u{i}", False, frozenset({7}), APPROVER) for i in range(2)]
    outsider = UserFact(uuid.uuid4(), "outsider", False, frozenset({8}), APPROVER)
    limited = UserFact(uuid.uuid4(), "limited", False, frozenset({7}), (
        _permission("stages", "view", "change", types=("extras.approvalworkflowstage",), constraints={"name": "NOC"}),
        APPROVER[1]))  # fmt: skip
    root = UserFact(uuid.uuid4(), "root", True)
    assert findings(*able) == []
    [one_short] = findings(able[0], outsider, limited)
    assert "2 approvals still needed" in one_short
    assert "of the 2 active members of group 'noc', only 1 holds extras.change_approvalworkflowstage" in one_short
    assert findings(able[0], root) == []  # a superuser approves through the UI
    assert findings(able[0], waiting=replace(stage, approved_by=frozenset({uuid.uuid4()}))) == []  # one to go
    assert findings(able[0], waiting=replace(stage, approved_by=frozenset({able[0].id}))) != []  # not twice
    [gone] = findings(UserFact(uuid.uuid4(), "x", False), waiting=replace(stage, group_id=None, group_name=None))
    assert "its stage definition was deleted" in gone and "no active superuser" in gone


def test_repeated_overrides_need_the_threshold_and_a_value_other_than_the_code_s() -> None:
    jobs = tuple(code(f"mod.J{i}", hidden=i == 3) for i in range(4))
    records = tuple(record(f"mod.J{i}", overrides=frozenset({"hidden"}), hidden=True) for i in range(4))
    state = desired(entry("mod.*", 1, why="Dashboard only", hidden=True), entry("other.*", 5, why="x", hidden=True))
    report = _audit(state, snapshot(*records), jobs)
    [found] = [f for f in report.findings if f.kind is FindingKind.REPEATED_OVERRIDE]
    assert found.jobs == ("mod.J0", "mod.J1", "mod.J2") and found.value is True  # J3's code says True already
    assert found.redundant_pins == () and found.details["pins_kept"] == [{"location": "jobs.yaml:2:5", "other_jobs": 1}]
    higher = _audit(state, snapshot(*records), jobs, settings=AuditSettings(module_threshold=4))
    assert not [f for f in higher.findings if f.kind is FindingKind.REPEATED_OVERRIDE]


def test_an_override_hiding_a_new_default_needs_a_value_recorded_before_the_upgrade() -> None:
    job = record("u.Job", overrides=frozenset({"time_limit", "hidden"}), time_limit=3600.0, hidden=True)
    upgraded = NOW - timedelta(days=1)
    values = (RecordedClassValue("u.Job", "time_limit", 1200.0, "0125_jobresult_date_started", NOW - timedelta(days=9)),
              RecordedClassValue("u.Job", "hidden", False, None, NOW))  # after the upgrade: apply saw the new value
    facts = AuditFacts(NautobotAuditFacts(upgrade=UpgradeMark(upgraded, EXTRAS_LEVEL), has_migrations=True), values)
    since = AuditSettings(since_upgrade=True)
    jobs = (code("u.Job", time_limit=1800.0, hidden=True),)
    [found] = _of(_audit(desired(), snapshot(job), jobs, facts, since), FindingKind.OVERRIDE_HIDES_NEW_DEFAULT)
    assert found.field == "time_limit"
    assert "changed from 1200 (seen by apply on" in found.message and f"to {EXTRAS_LEVEL}" in found.message
    hides = FindingKind.OVERRIDE_HIDES_NEW_DEFAULT
    assert _of(_audit(desired(), snapshot(job), jobs, facts), hides) == []  # without --since-upgrade
    sandbox = _audit(desired(), snapshot(job), jobs, AuditFacts(NautobotAuditFacts(), values), since)
    assert _of(sandbox, hides) == [] and "no Django migrations" in sandbox.notes[0]
    unknown = _audit(desired(), snapshot(job), (), facts, since)
    assert _of(unknown, hides) == []
    assert unknown.notes == ("--since-upgrade: 1 overridden field of jobs whose class is not in the job code read "
                             "could not be compared",)  # the other was recorded after the upgrade


# -- The Meta patch ---------------------------------------------------------------------------------------

SOURCE = '''from nautobot.apps.jobs import Job
from .base import VendorJob


class WithMeta(Job):
    class Meta:
        name = "With Meta"
        hidden = False  # shown to everyone


class Plain(Job):
    """No Meta."""

    def run(self):
        pass


class Derived(VendorJob):
    def run(self):
        pass


class Attribute(Job):
    hidden = False

    class Meta:
        pass


class OnlyPass(Job):
    class Meta:
        pass
'''


def test_meta_patch_edits_each_class_where_nautobot_reads_the_value() -> None:
    classes = [("WithMeta", 5), ("Plain", 11), ("Derived", 18), ("Attribute", 23), ("OnlyPass", 30)]
    patched = patched_source(SOURCE, classes, "hidden", True)
    assert patched is not None
    assert '        hidden = True  # shown to everyone\n' in patched  # rewritten in place, its comment kept
    assert '    """No Meta."""\n\n    class Meta:\n        hidden = True\n\n    def run' in patched
    assert "class Derived(VendorJob):\n    class Meta(VendorJob.Meta):\n        hidden = True\n\n    def run" in patched
    # The plain attribute wins over Meta: it is the one to change.
    assert "class Attribute(Job):\n    hidden = True\n\n    class Meta:\n        pass\n" in patched
    assert patched.endswith("class OnlyPass(Job):\n    class Meta:\n        hidden = True\n")
    diff = meta_patch("jobs/x.py", SOURCE, classes, "hidden", True)
    assert diff is not None and diff.startswith("--- a/jobs/x.py\n+++ b/jobs/x.py\n@@ ")
    assert _apply_diff(SOURCE, diff) == patched


def test_meta_patch_writes_literals_as_meta_wants_them_and_refuses_what_it_cannot_edit() -> None:
    assert python_literal(3600.0) == "3600" and python_literal("Ops / Nightly") == "'Ops / Nightly'"
    assert python_literal(True) == "True" and python_literal(12.5) == "12.5"
    assert patched_source(SOURCE, [("WithMeta", 6)], "hidden", True) is None  # not where discovery saw it
    assert patched_source("class A(Job): pass\n", [("A", 1)], "hidden", True) is None
    assert patched_source("class A(Job:\n", [("A", 1)], "hidden", True) is None
    text = 'class A(Job):\n    class Meta:\n        description = """\n        Two\n        lines\n        """\n'
    assert patched_source(text, [("A", 1)], "description", "One") == "class A(Job):\n    class Meta:\n" \
        "        description = 'One'\n"


def test_the_loop_settings_have_audit_defaults() -> None:
    from reconciler.config import Settings

    fields = Settings.model_fields
    assert (fields["audit"].default, fields["audit_unused_days"].default, fields["audit_module_threshold"].default) == (
        False, 90, 3)  # fmt: skip


def test_importing_the_findings_loads_no_io_library() -> None:
    import subprocess
    import sys

    from common import ROOT

    probe = ("import sys, reconciler.audit.findings, reconciler.audit.patch;"
             "loaded = [m for m in ('sqlalchemy', 'yaml', 'pydantic', 'git') if m in sys.modules];"
             "print(','.join(loaded))")  # fmt: skip
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT)
    assert result.stdout.strip() == ""



# -- The loop: a run with audit = true records the audit, and a metric counts its findings ----------------


def test_a_loop_run_with_audit_records_its_findings_and_the_metric_counts_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from loop_support import Remote, build, jobs_root_without_legacy, settings_for

    from reconciler.loop.metrics import RunCollector
    from reconciler.loop.tick import dispose_engines, run_tick
    from reconciler.state.runs import last_runs

    clear_settings_environment(monkeypatch)
    target = DatabaseTarget(URL.create("sqlite", database=str(tmp_path / "loop.db")), "loop test")
    remote = Remote(tmp_path / "git")
    remote.push_examples()
    jobs_root = jobs_root_without_legacy(tmp_path)
    build(target, jobs_root)
    engine = create_db_engine(target)
    with engine.begin() as c:  # an enabled job nobody ran for 200 days
        c.execute(update(extras_job).where(extras_job.c.job_class_name == "ConfigBackup")
                  .values(enabled=True, created=NOW - timedelta(days=200)))  # fmt: skip
    try:
        plain = settings_for(target, remote, jobs_root, tmp_path / "cache")
        run_tick(plain, plain.target())
        with engine.connect() as connection:
            assert last_runs(connection)["default"].audit is None  # audit = false, the default
        remote.push({"manifests/notes.yaml": "apiVersion: nbjobs/v1\nkind: Jobs\n"})  # a new revision: it plans
        audited = settings_for(target, remote, jobs_root, tmp_path / "cache", audit=True, audit_unused_days=30)
        outcome = run_tick(audited, audited.target())
        with engine.connect() as connection:
            recorded = last_runs(connection)["default"]
        assert recorded.id == outcome.run_id and recorded.audit is not None
        assert recorded.audit["settings"]["unused_days"] == 30
        assert [f["job"] for f in recorded.audit["findings"] if f["kind"] == "idle-job"] == ["audits.ConfigBackup"]
        samples = {(s.labels["kind"]): s.value for family in RunCollector(audited).collect()
                   if family.name == "nbjobs_audit_findings" for s in family.samples}  # fmt: skip
        assert set(samples) == {kind.value for kind in FindingKind} and samples["idle-job"] == 1
        assert sum(samples.values()) == recorded.audit["summary"]["findings"]
    finally:
        engine.dispose()
        dispose_engines()
