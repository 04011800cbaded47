"""Retirement (issue 5) on SQLite, PostgreSQL and MariaDB: a button receiver and a hook receiver walk
through all five steps across several runs, with buttons, hooks, tags, notes, schedules, a pending
approval and running results present; every row is checked against what Nautobot's own delete leaves
(spec sections e and f). Also the tombstone, the guards and purge-orphans."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, insert, select, update

from reconciler.cli import main
from reconciler.discovery.sources import discover
from reconciler.nautobot.connect import DatabaseTarget
from reconciler.nautobot.tables import (
    auth_group,
    auth_user,
    django_content_type,
    extras_approvaluserresponse,
    extras_approvalworkflow,
    extras_approvalworkflowdefinition,
    extras_approvalworkflowstage,
    extras_approvalworkflowstagedefinition,
    extras_job,
    extras_jobbutton,
    extras_jobbutton_content_types,
    extras_jobhook,
    extras_jobhook_content_types,
    extras_joblogentry,
    extras_jobqueueassignment,
    extras_jobresult,
    extras_note,
    extras_objectchange,
    extras_scheduledjob,
    extras_scheduledjobs,
    extras_tag,
    extras_taggeditem,
)
from reconciler.sandbox import build_sandbox
from reconciler.state.tables import nbjobs_retired_result, nbjobs_tombstone

NOW = datetime.now(UTC).replace(microsecond=0)

RETIRING = """
from nautobot.apps.jobs import Job, JobButtonReceiver, JobHookReceiver, register_jobs


class OldButton(JobButtonReceiver):
    def receive_job_button(self, obj):
        pass


class OldHook(JobHookReceiver):
    def receive_job_hook(self, change, action, changed_object):
        pass


register_jobs(OldButton, OldHook)
"""
KEEP = (
    "from nautobot.apps.jobs import Job, register_jobs\n\n"
    + "".join(f"\n\nclass Keep{i}(Job):\n    pass\n" for i in range(10))
    + "\n\nregister_jobs("
    + ", ".join(f"Keep{i}" for i in range(10))
    + ")\n"
)


def manifest(path: Path, button: str = "block", hook: str = "block", *, retire: bool = True) -> Path:
    entries = (
        f"retire:\n  - match: retiring.OldButton\n    schedules: {button}\n    purge_results: true\n"
        f"    why: Replaced by the new reboot workflow\n  - match: retiring.OldHook\n    schedules: {hook}\n"
        if retire else ""
    )  # fmt: skip
    path.write_text(f"apiVersion: nbjobs/v1\nkind: Jobs\njobs:\n  - match: keep.*\n    enabled: true\n{entries}")
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _one(engine: Engine, table: Any, *where: Any) -> dict[str, Any]:
    with engine.connect() as connection:
        return dict(connection.execute(select(table).where(*where)).one()._mapping)


def _count(engine: Engine, table: Any, *where: Any) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def _seed(engine: Engine) -> dict[str, uuid.UUID]:
    """What Nautobot would have around the two jobs: a button and a hook, a tag and a note on the button
    job, a schedule each (the hook's awaiting approval), results (one running) with log entries."""
    ids: dict[str, uuid.UUID] = {}
    with engine.begin() as c:
        types = {m: i for i, m in c.execute(select(django_content_type.c.id, django_content_type.c.model))}
        jobs = {r.job_class_name: r.id for r in c.execute(select(extras_job.c.job_class_name, extras_job.c.id))}
        admin = c.execute(select(auth_user.c.id).where(auth_user.c.username == "admin")).scalar_one()
        ids.update(button_job=jobs["OldButton"], hook_job=jobs["OldHook"], admin=admin)
        ids["button"], ids["hook"], ids["tag"], ids["note"] = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        c.execute(
            update(extras_job).where(extras_job.c.id.in_([ids["button_job"], ids["hook_job"]])).values(enabled=True)
        )
        c.execute(insert(extras_jobbutton).values(id=ids["button"], created=NOW, last_updated=NOW, name="Reboot",
                  text="Reboot", weight=100, group_name="", button_class="danger", confirmation=True,
                  job_id=ids["button_job"], enabled=True))  # fmt: skip
        c.execute(
            insert(extras_jobbutton_content_types).values(jobbutton_id=ids["button"], contenttype_id=types["device"])
        )
        c.execute(insert(extras_jobhook).values(id=ids["hook"], created=NOW, last_updated=NOW, _custom_field_data={},
                  enabled=True, name="Notify", type_create=True, type_delete=False, type_update=True,
                  job_id=ids["hook_job"]))  # fmt: skip
        c.execute(insert(extras_jobhook_content_types).values(jobhook_id=ids["hook"], contenttype_id=types["device"]))
        c.execute(insert(extras_tag).values(id=ids["tag"], name="legacy", created=NOW, last_updated=NOW,
                  _custom_field_data={}, color="ff0000", description=""))  # fmt: skip
        c.execute(insert(extras_taggeditem).values(id=uuid.uuid4(), object_id=ids["button_job"],
                  content_type_id=types["job"], tag_id=ids["tag"]))  # fmt: skip
        c.execute(insert(extras_note).values(id=ids["note"], created=NOW, last_updated=NOW, note="Do not use",
                  assigned_object_id=ids["button_job"], assigned_object_type_id=types["job"], user_name="admin",
                  user_id=admin))  # fmt: skip
        for name, job, state, enabled in (("nightly-reboot", "button_job", "active", True),
                                          ("notify-once", "hook_job", "pending", False)):  # fmt: skip
            ids[name] = uuid.uuid4()
            c.execute(insert(extras_scheduledjob).values(
                id=ids[name], name=name, task=f"retiring.Old{'Button' if job == 'button_job' else 'Hook'}",
                interval="daily" if enabled else "future", args=[], kwargs={}, one_off=not enabled,
                start_time=NOW - timedelta(days=1), enabled=enabled, last_run_at=NOW - timedelta(hours=3),
                total_run_count=0, date_changed=NOW, description="", user_id=admin, job_model_id=ids[job],
                crontab="", celery_kwargs={}, time_zone="UTC", headers="{}", state=state))  # fmt: skip
        group = c.execute(insert(auth_group).values(name="approvers")).inserted_primary_key[0]
        definition, stage_definition = uuid.uuid4(), uuid.uuid4()
        c.execute(insert(extras_approvalworkflowdefinition).values(id=definition, created=NOW, last_updated=NOW,
                  _custom_field_data={}, name="Schedules", model_constraints={}, weight=10,
                  model_content_type_id=types["scheduledjob"]))  # fmt: skip
        c.execute(insert(extras_approvalworkflowstagedefinition).values(id=stage_definition, created=NOW,
                  last_updated=NOW, _custom_field_data={}, sequence=10, name="NOC", min_approvers=1,
                  denial_message="", approval_workflow_definition_id=definition, approver_group_id=group))  # fmt: skip
        ids["workflow"], ids["stage"] = uuid.uuid4(), uuid.uuid4()
        c.execute(insert(extras_approvalworkflow).values(id=ids["workflow"], created=NOW, last_updated=NOW,
                  _custom_field_data={}, object_under_review_object_id=ids["notify-once"], current_state="Pending",
                  decision_date=None, user_name="admin", approval_workflow_definition_id=definition,
                  object_under_review_content_type_id=types["scheduledjob"], user_id=admin))  # fmt: skip
        c.execute(insert(extras_approvalworkflowstage).values(id=ids["stage"], created=NOW, last_updated=NOW,
                  _custom_field_data={}, state="Pending", decision_date=None, approval_workflow_id=ids["workflow"],
                  approval_workflow_stage_definition_id=stage_definition))  # fmt: skip
        for name, job, status in (("done", "button_job", "SUCCESS"), ("running", "button_job", "STARTED"),
                                  ("hook-done", "hook_job", "SUCCESS")):  # fmt: skip
            ids[name] = uuid.uuid4()
            c.execute(insert(extras_jobresult).values(
                id=ids[name], name=name, date_created=NOW - timedelta(hours=2), status=status,
                _custom_field_data={}, job_model_id=ids[job], task_args=[], task_kwargs={}, celery_kwargs={},
                cancel_type="", canceled_by_user_name=""))  # fmt: skip
            c.execute(insert(extras_joblogentry).values(id=uuid.uuid4(), job_result_id=ids[name], log_level="info",
                      grouping="main", message="hello", created=NOW, log_object="", absolute_url=""))  # fmt: skip
    return ids


@pytest.fixture
def jobs_root(tmp_path: Path) -> Path:
    root = tmp_path / "jobs"
    root.mkdir()
    (root / "retiring.py").write_text(RETIRING)
    (root / "keep.py").write_text(KEEP)
    return root


@pytest.mark.database
def test_a_retirement_walks_all_five_steps_across_runs(
    capsys: pytest.CaptureFixture[str], db_engine: Engine, db_target: DatabaseTarget, jobs_root: Path, tmp_path: Path
) -> None:
    build_sandbox(db_engine, discover(jobs_root=jobs_root))
    ids = _seed(db_engine)
    url = db_target.url.render_as_string(hide_password=False)
    common = ("--jobs-root", str(jobs_root), "--database-url", url)
    m = tmp_path / "m.yaml"

    # Run 1: step 1 for both, then both blocked by their schedules (block mode).
    code, out, _ = run(capsys, "plan", "--format", "json", *common, str(manifest(m)))
    statuses = {r["job"]: r for r in json.loads(out)["retirements"]}
    assert statuses["retiring.OldButton"]["step"] == 2 and statuses["retiring.OldHook"]["step"] == 2
    assert "schedule 'nightly-reboot' (owner admin) is enabled and active, next run" in statuses[
        "retiring.OldButton"]["blockers"][0]  # fmt: skip
    assert statuses["retiring.OldHook"]["blockers"] == ["schedule 'notify-once' (owner admin) awaits approval"]
    assert statuses["retiring.OldButton"]["this_run"] == ["disable the job", "disable 1 button and 0 hooks"]
    code, out, err = run(capsys, "apply", "--yes", *common, str(m))
    assert code == 0, err
    assert not _one(db_engine, extras_job, extras_job.c.id == ids["button_job"])["enabled"]
    assert not _one(db_engine, extras_jobbutton, extras_jobbutton.c.id == ids["button"])["enabled"]
    assert not _one(db_engine, extras_jobhook, extras_jobhook.c.id == ids["hook"])["enabled"]
    assert _one(db_engine, extras_scheduledjob, extras_scheduledjob.c.id == ids["nightly-reboot"])["enabled"]

    # Run 2: schedules disabled; the pending approval needs an acting user to cancel it.
    manifest(m, button="disable", hook="disable")
    code, _, err = run(capsys, "apply", "--yes", *common, str(m))
    assert code == 1 and "cancels 1 pending approval: Nautobot records who cancels one" in err
    assert _one(db_engine, extras_scheduledjob, extras_scheduledjob.c.id == ids["nightly-reboot"])["enabled"]
    code, out, err = run(capsys, "apply", "--yes", "--as", "admin", *common, str(m))
    assert code == 0, err
    nightly = _one(db_engine, extras_scheduledjob, extras_scheduledjob.c.id == ids["nightly-reboot"])
    assert (nightly["enabled"], nightly["state"], nightly["last_run_at"]) == (False, "completed", None)
    once = _one(db_engine, extras_scheduledjob, extras_scheduledjob.c.id == ids["notify-once"])
    assert (once["enabled"], once["state"]) == (False, "canceled") and once["decision_date"] is not None
    assert _one(db_engine, extras_approvalworkflow)["current_state"] == "Canceled"
    assert _one(db_engine, extras_approvalworkflowstage)["state"] == "Canceled"
    response = _one(db_engine, extras_approvaluserresponse)
    assert (response["state"], response["user_id"]) == ("Canceled", ids["admin"])
    assert _count(db_engine, extras_scheduledjobs) == 1  # beat's change marker, bumped
    assert "blocked: 1 result still pending or running" in out  # the button job drains
    assert "blocked: its class is still in the code: remove the code first" in out  # the hook job waits for it

    # Run 3: the running result finished and the code is gone: both records are deleted.
    with db_engine.begin() as c:
        c.execute(update(extras_jobresult).where(extras_jobresult.c.id == ids["running"]).values(status="SUCCESS"))
    (jobs_root / "retiring.py").unlink()
    code, out, err = run(capsys, "apply", "--yes", "--as", "admin", *common, str(m))
    assert code == 0, err
    assert "3 results purged" not in out and "2 results purged" in out
    for job in ("button_job", "hook_job"):
        assert _count(db_engine, extras_job, extras_job.c.id == ids[job]) == 0
        assert _count(db_engine, extras_jobqueueassignment, extras_jobqueueassignment.c.job_id == ids[job]) == 0
    assert _count(db_engine, extras_jobbutton) == _count(db_engine, extras_jobbutton_content_types) == 0
    assert _count(db_engine, extras_jobhook) == _count(db_engine, extras_jobhook_content_types) == 0
    assert _count(db_engine, extras_taggeditem) == 0 and _count(db_engine, extras_note) == 0
    assert _count(db_engine, extras_tag) == 1  # the tag itself stays; only its assignment goes
    # Schedules stay, their job link nulled (SET_NULL), as Nautobot's delete leaves them.
    assert {s["job_model_id"] for s in _rows(db_engine, extras_scheduledjob)} == {None}
    # The button job's results were purged with their log entries; the hook job's are kept, unlinked.
    assert [r["name"] for r in _rows(db_engine, extras_jobresult)] == ["hook-done"]
    assert _one(db_engine, extras_jobresult)["job_model_id"] is None
    assert _count(db_engine, extras_joblogentry) == 1 and _count(db_engine, nbjobs_retired_result) == 0
    deletes = {(r["changed_object_type_id"] is not None, r["object_repr"]) for r in
               _rows(db_engine, extras_objectchange, extras_objectchange.c.action == "delete")}  # fmt: skip
    assert {name for _, name in deletes} >= {"OldButton", "OldHook", "Reboot", "Notify"}
    assert len(deletes) == 5  # the two jobs, the button, the hook, and the note (change-logged)
    assert sorted(t["class_path"] for t in _rows(db_engine, nbjobs_tombstone)) == ["retiring.OldButton",
                                                                                   "retiring.OldHook"]  # fmt: skip

    # Run 4: nothing left to do.
    code, out, _ = run(capsys, "plan", "--detailed-exitcode", *common, str(m))
    assert code == 0 and "No changes." in out and "Retirements:" not in out  # done, nothing changes: not listed
    code, out, _ = run(capsys, "plan", "--format", "json", *common, str(m))
    assert {r["job"]: (r["step"], r["step_name"]) for r in json.loads(out)["retirements"]} == {
        "retiring.OldButton": (6, "retired"), "retiring.OldHook": (6, "retired")}  # fmt: skip

    # Run 5: the code comes back and Nautobot recreates the records: they stay disabled.
    (jobs_root / "retiring.py").write_text(RETIRING)
    build_sandbox(db_engine, discover(jobs_root=jobs_root))  # as nautobot-server post_upgrade would
    with db_engine.begin() as c:
        c.execute(update(extras_job).where(extras_job.c.job_class_name == "OldButton").values(enabled=True))
    code, out, _ = run(capsys, "apply", "--yes", *common, str(m))
    assert code == 0 and "its code came back and Nautobot recreated the record: kept disabled" in out
    assert not _one(db_engine, extras_job, extras_job.c.job_class_name == "OldButton")["enabled"]
    assert _count(db_engine, extras_job, extras_job.c.job_class_name == "OldHook") == 1  # never deleted twice

    # Run 6: the retire entries are removed: the tombstones go and the jobs may be managed again.
    code, out, _ = run(capsys, "apply", "--yes", *common, str(manifest(m, retire=False)))
    assert code == 0 and "no longer retired by the manifests" in out
    assert _count(db_engine, nbjobs_tombstone) == 0


def _rows(engine: Engine, table: Any, *where: Any) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        return [dict(r._mapping) for r in connection.execute(select(table).where(*where))]


@pytest.mark.database
def test_guards_refuse_mass_deletes_and_leaving_nothing_managed(
    capsys: pytest.CaptureFixture[str],
    db_engine: Engine,
    db_target: DatabaseTarget,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The share rule counts from mass_delete_min_managed (default 20) managed jobs: two here.
    monkeypatch.setenv("NBJOBS_MASS_DELETE_MIN_MANAGED", "2")
    root = tmp_path / "jobs"
    root.mkdir()
    (root / "few.py").write_text("from nautobot.apps.jobs import Job, register_jobs\n\n\nclass A(Job):\n    pass\n\n\n"
                                 "class B(Job):\n    pass\n\n\nregister_jobs(A, B)\n")  # fmt: skip
    build_sandbox(db_engine, discover(jobs_root=root))
    url = db_target.url.render_as_string(hide_password=False)
    common = ("--jobs-root", str(root), "--database-url", url)
    m = tmp_path / "m.yaml"
    m.write_text("apiVersion: nbjobs/v1\nkind: Jobs\njobs:\n  - match: few.A\n    enabled: true\n"
                 "retire:\n  - match: few.B\n    force: true\n")  # fmt: skip
    code, _, err = run(capsys, "plan", *common, str(m))
    assert code == 1 and "would delete 1 of the 2 jobs the manifests manage" in err and "--allow-mass-delete" in err
    code, _, err = run(capsys, "apply", "--yes", "--allow-mass-delete", *common, str(m))
    assert code == 0, err
    assert _count(db_engine, extras_job) == 1

    m.write_text("apiVersion: nbjobs/v1\nkind: Jobs\nqueues:\n  - name: bulk\n    type: celery\n")
    code, _, err = run(capsys, "plan", *common, str(m))
    assert code == 1 and "would leave no job managed at all" in err
    m.write_text("apiVersion: nbjobs/v1\nkind: Jobs\nallow_no_managed_jobs: true\n")
    assert run(capsys, "plan", *common, str(m))[0] == 0


@pytest.mark.database
def test_purge_orphans_counts_first_then_deletes_old_orphans_in_batches(
    capsys: pytest.CaptureFixture[str], db_engine: Engine, db_target: DatabaseTarget, jobs_root: Path
) -> None:
    build_sandbox(db_engine, discover(jobs_root=jobs_root))
    url = db_target.url.render_as_string(hide_password=False)
    job_id = _one(db_engine, extras_job, extras_job.c.job_class_name == "Keep1")["id"]
    with db_engine.begin() as c:
        rows = [{"id": uuid.uuid4(), "name": f"r{i}", "date_created": NOW - timedelta(days=100 if i < 25 else 1),
                 "status": "SUCCESS", "_custom_field_data": {}, "job_model_id": None if i % 5 else job_id,
                 "task_args": [], "task_kwargs": {}, "celery_kwargs": {}, "cancel_type": "",
                 "canceled_by_user_name": ""} for i in range(30)]  # fmt: skip
        c.execute(insert(extras_jobresult), rows)
    code, out, _ = run(capsys, "purge-orphans", "--older-than", "90d", "--database-url", url)
    assert code == 0 and "20 results without a job" in out and "Dry run" in out
    assert _count(db_engine, extras_jobresult) == 30
    code, out, err = run(capsys, "purge-orphans", "--older-than", "90d", "--batch-size", "7", "--yes",
                         "--database-url", url)  # fmt: skip
    assert code == 0 and "Purged 20 results" in out
    assert "purging orphans: 7/20" in err  # batch by batch
    assert _count(db_engine, extras_jobresult) == 10  # the linked ones and the recent orphans stay
    code, _, err = run(capsys, "purge-orphans", "--older-than", "ninety", "--database-url", url)
    assert code == 1 and "is not an age" in err  # a usage error: exit 1 (2 means changes)
