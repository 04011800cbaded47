"""The first hour of a new administrator: the right database (or a clear refusal), one count of what a
plan changes everywhere it is shown, a plan that reads like Terraform's, and YAML mistakes explained."""

from __future__ import annotations

import json
import re
import shutil
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

import git
import pytest
from builders import code, desired, entry, loc, queue_spec, record, snapshot
from common import EXAMPLES, count_queries
from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, insert, inspect, select, text

from reconciler.cli import main
from reconciler.discovery.types import Discovery
from reconciler.manifest.load import load_manifests
from reconciler.manifest.types import RetireEntry, ScheduleMode
from reconciler.nautobot.connect import DatabaseTarget
from reconciler.nautobot.identity import Kind, identify
from reconciler.nautobot.records import JobDependents, ReceiverRecord, ScheduleRecord
from reconciler.nautobot.tables import extras_job
from reconciler.plan.codec import decode_operation
from reconciler.plan.document import plan_document
from reconciler.plan.operations import Plan
from reconciler.plan.planner import PlanSettings, plan
from reconciler.plan.summary import Summary
from reconciler.render.markdown import render_markdown
from reconciler.render.text import format_value, render_text
from reconciler.state.types import NbjobsState, Tombstone

JOBS = str(EXAMPLES / "jobs")
MANIFESTS = str(EXAMPLES / "manifests")
NAUTOBOT_327 = "0145_objectmetadata_assigned_object_type_cascade"
NAUTOBOT_24 = "0125_jobresult_date_started"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code_ = main(list(argv))
    out, err = capsys.readouterr()
    return code_, out, err


def _url(target: DatabaseTarget) -> str:
    return target.url.render_as_string(hide_password=False)


def _tables(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return sorted(inspect(connection).get_table_names())


def _jobs(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        return [dict(r._mapping) for r in connection.execute(select(extras_job).order_by(extras_job.c.name))]


_migrations = MetaData()
django_migrations = Table(
    "django_migrations", _migrations, Column("id", Integer, primary_key=True, autoincrement=True),
    Column("app", String(255), nullable=False), Column("name", String(255), nullable=False),
)  # fmt: skip


def _migrated(engine: Engine, *rows: tuple[str, str], drop_sandbox_marker: bool = False) -> None:
    """Django's migrations table with `rows` (app, name): what `nautobot-server migrate` leaves."""
    with engine.begin() as connection:
        if drop_sandbox_marker:
            connection.execute(text("DROP TABLE nbjobs_sandbox"))
        _migrations.create_all(connection)
        connection.execute(insert(django_migrations), [{"app": app, "name": name} for app, name in rows])


# -- 3. The right database -------------------------------------------------------------------------------

# Every command that reads Nautobot's tables, with what it needs besides the database.
READERS = {
    "plan": ("plan", "--jobs-root", JOBS, MANIFESTS),
    "apply": ("apply", "--yes", "--jobs-root", JOBS, MANIFESTS),
    "export": ("export", "--jobs-root", JOBS),
    "history": ("history",),
    "preflight": ("preflight", "--jobs-root", JOBS, MANIFESTS),
    "db upgrade": ("db", "upgrade"),
}


@pytest.mark.database
def test_a_database_that_is_not_nautobots_is_named_by_every_command_and_left_alone(
    capsys: pytest.CaptureFixture[str], db_target: DatabaseTarget, db_engine: Engine
) -> None:
    other = MetaData()
    for name in ("foo", "bar", "baz"):
        Table(name, other, Column("id", Integer, primary_key=True))
    other.create_all(db_engine)
    for command, argv in READERS.items():
        code_, out, err = run(capsys, *argv, "--database-url", _url(db_target))
        assert code_ == 1, (command, out, err)
        assert (f"{db_target.display_url} is not a Nautobot database: it has 3 tables (bar, baz, foo) and no "
                "extras_job; give the URL of the database Nautobot uses") in err, (command, err)  # fmt: skip
        assert "no such table" not in err and "doesn't exist" not in err and "Traceback" not in err + out
        assert _tables(db_engine) == ["bar", "baz", "foo"], command  # db upgrade created nothing either
    code_, _, err = run(capsys, "db", "upgrade", "--database-url", _url(db_target))
    assert err.startswith("Error: refusing to create nbjobs' tables: ")


@pytest.mark.database
def test_a_django_project_without_nautobot_and_an_empty_database_are_named(
    capsys: pytest.CaptureFixture[str], db_target: DatabaseTarget, db_engine: Engine
) -> None:
    code_, _, err = run(capsys, "history", "--database-url", _url(db_target))
    assert code_ == 1 and f"{db_target.display_url} is not a Nautobot database: it has no tables;" in err
    _migrated(db_engine, ("auth", "0001_initial"), ("contenttypes", "0002_remove_content_type_name"))
    for argv in READERS.values():
        code_, _, err = run(capsys, *argv, "--database-url", _url(db_target))
        assert code_ == 1
        assert (f"{db_target.display_url} is not a Nautobot database: Django's migrations there are for auth, "
                "contenttypes, not Nautobot's extras app;") in err  # fmt: skip
    assert _tables(db_engine) == ["django_migrations"]


@pytest.mark.database
def test_identity_takes_two_queries_at_most(db_engine: Engine) -> None:
    _migrated(db_engine, ("extras", NAUTOBOT_327), ("extras", "0001_initial"), ("auth", "0012_x"))
    extras = MetaData()
    Table("extras_job", extras, Column("id", Integer, primary_key=True))
    extras.create_all(db_engine)
    with db_engine.connect() as connection, count_queries(db_engine) as statements:
        found = identify(connection, "db")
    assert len(statements) <= 2, statements
    assert (found.kind, found.level, found.release, found.level_problem) == (Kind.NAUTOBOT, NAUTOBOT_327,
                                                                            "Nautobot 3.2.7", None)  # fmt: skip


@pytest.mark.database
def test_a_nautobot_at_a_level_nbjobs_does_not_know_is_planned_with_a_warning_and_not_applied(
    capsys: pytest.CaptureFixture[str], db_target: DatabaseTarget, db_engine: Engine
) -> None:
    url = _url(db_target)
    assert run(capsys, "sandbox", "--jobs-root", JOBS, "--database-url", url)[0] == 0
    code_, _, err = run(capsys, "plan", "--jobs-root", JOBS, "--database-url", url, MANIFESTS)
    assert code_ == 0 and "warning" not in err  # the sandbox: no django_migrations, marked by nbjobs_sandbox
    _migrated(db_engine, ("extras", "0001_initial"), ("extras", "0150_jobqueue_future"), drop_sandbox_marker=True)
    before = _jobs(db_engine)

    code_, out, err = run(capsys, "plan", "--jobs-root", JOBS, "--database-url", url, MANIFESTS)
    unknown = (f"{db_target.display_url} is a Nautobot at extras migration 0150_jobqueue_future, which nbjobs "
               f"does not know: it is newer than Nautobot 3.2.7 (extras at {NAUTOBOT_327}), the nearest release "
               "nbjobs knows; nbjobs reads and writes Nautobot 3.2.7's tables only")  # fmt: skip
    assert code_ == 0 and f"warning: {unknown}: what nbjobs reads there may be wrong" in err
    assert out.rstrip().splitlines()[-1].startswith("Plan: ")

    code_, out, err = run(capsys, "apply", "--yes", "--jobs-root", JOBS, "--database-url", url, MANIFESTS)
    assert code_ == 1 and f"Error: refusing to apply: {unknown}; nothing was changed" in err
    assert "Traceback" not in out + err and "Apply complete" not in out
    assert _jobs(db_engine) == before


@pytest.mark.database
def test_nautobot_24_is_refused_by_apply_and_3_2_7_is_applied(
    capsys: pytest.CaptureFixture[str], db_target: DatabaseTarget, db_engine: Engine
) -> None:
    url = _url(db_target)
    run(capsys, "sandbox", "--jobs-root", JOBS, "--database-url", url)
    _migrated(db_engine, ("auth", "0012_alter_user_first_name_max_length"), ("extras", NAUTOBOT_24),
              drop_sandbox_marker=True)  # fmt: skip
    before = _jobs(db_engine)
    code_, _, err = run(capsys, "apply", "--yes", "--jobs-root", JOBS, "--database-url", url, MANIFESTS)
    assert code_ == 1
    assert (f"Error: refusing to apply: {db_target.display_url} is Nautobot 2.4's database (extras migrations at "
            f"{NAUTOBOT_24}), and nbjobs reads and writes Nautobot 3.2.7's tables only (extras at {NAUTOBOT_327}); "
            "nothing was changed") in err  # fmt: skip
    assert _jobs(db_engine) == before

    with db_engine.begin() as connection:  # `nautobot-server migrate` to 3.2.7
        connection.execute(insert(django_migrations).values(app="extras", name=NAUTOBOT_327))
    code_, out, err = run(capsys, "apply", "--yes", "--jobs-root", JOBS, "--database-url", url, MANIFESTS)
    assert code_ == 0 and "warning" not in err and "Apply complete" in out


# -- 5. One count --------------------------------------------------------------------------------------


def _retiring_examples(tmp_path: Path) -> Path:
    """The example manifests, with legacy.OldImport retired at once (`force: true`: its code stays)."""
    manifests = tmp_path / "manifests"
    shutil.copytree(MANIFESTS, manifests)
    retire = manifests / "retire.yaml"
    retire.write_text(retire.read_text().replace("    purge_results: true\n", "    purge_results: true\n"
                                                                               "    force: true\n"))  # fmt: skip
    return manifests


@pytest.mark.database
def test_plan_markdown_apply_and_history_give_one_count(
    capsys: pytest.CaptureFixture[str], db_target: DatabaseTarget, tmp_path: Path
) -> None:
    url, manifests = _url(db_target), str(_retiring_examples(tmp_path))
    common = ("--jobs-root", JOBS, "--database-url", url, "--allow-mass-delete")
    run(capsys, "sandbox", "--jobs-root", JOBS, "--database-url", url)
    # Overrides, enables, a queue created and one updated, and a retirement that deletes its job.
    counted = "(2 queues, 7 jobs) in 20 operations"
    code_, out, _ = run(capsys, "plan", *common, manifests)
    assert code_ == 0
    assert out.rstrip().splitlines()[-1] == (f"Plan: 1 to create, 7 to change, 1 to delete {counted}: 12 overrides "
                                             "set, 5 jobs enabled.")  # fmt: skip
    code_, out, _ = run(capsys, "plan", *common, "--format", "markdown", manifests)
    assert f"**Plan: 1 to create, 7 to change, 1 to delete {counted}: 12 overrides set, 5 jobs enabled.**" in out
    code_, out, _ = run(capsys, "plan", *common, "--format", "json", manifests)
    summary = json.loads(out)["summary"]
    assert {k: summary[k] for k in ("created", "changed", "deleted", "objects", "operations")} == {
        "created": 1, "changed": 7, "deleted": 1, "objects": 9, "operations": 20}  # fmt: skip

    code_, out, err = run(capsys, "apply", "--yes", "--as", "admin", *common, manifests)
    assert code_ == 0, err
    applied = f"1 created, 7 changed, 1 deleted {counted}"
    (complete,) = [line for line in out.splitlines() if line.startswith("Apply complete")]
    assert re.fullmatch(rf"Apply complete: {re.escape(applied)}; \d+ entries in Nautobot's change log; history id "
                        r"[0-9a-f]{12}\.", complete), complete  # fmt: skip

    code_, out, _ = run(capsys, "history", "--database-url", url)
    (row,) = [line for line in out.splitlines() if " applied " in line]
    assert row.endswith(f"  {applied}")
    code_, out, _ = run(capsys, "history", row.split()[0], "--database-url", url, "--format", "json")
    counts = json.loads(out)["counts"]
    assert {k: counts[k] for k in summary} == summary  # the history records the plan's own count
    assert Summary.from_counts(counts).objects_line("created", "changed", "deleted") == applied
    code_, out, _ = run(capsys, "history", row.split()[0], "--database-url", url)
    assert f"Changes:            {applied}" in out


def test_history_recorded_before_the_count_still_lists_its_changes() -> None:
    old = {"queues_created": 1, "queues_updated": 1, "jobs_changed": 7, "overrides_set": 12, "overrides_released": 0,
           "enabled": 5, "disabled": 0, "jobs_deleted": 1, "results_to_purge": 0}  # fmt: skip
    assert Summary.from_counts(old).objects_line("created", "changed", "deleted") == (
        "1 created, 7 changed, 1 deleted (2 queues, 7 jobs)")  # fmt: skip


# -- 6. A plan that reads like Terraform's -------------------------------------------------------------

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def _every_kind() -> Plan:
    """A plan with one of each: queues declared and named by code, a value pinned, a pin that only sets the
    flag, a redundant pin, a release, a repair, an enable and a disable, a retirement that disables a button
    and a schedule then deletes its job, a retired job whose code came back, one retired long ago, and a
    tombstone forgotten."""
    button = ReceiverRecord(uuid.uuid4(), "Reboot", True)
    nightly = ScheduleRecord(uuid.uuid4(), "nightly", True, "active", "daily", "", "alice", NOW)
    old = replace(record("old.Button", enabled=True), is_job_button_receiver=True)
    back = record("back.Again", enabled=True)
    jobs = Discovery((
        code("ops.Pin", time_limit=60.0), code("ops.Flag"), code("ops.Same", hidden=True),
        code("ops.Release", description="from code"), code("ops.Repair"), code("ops.On"), code("ops.Off"),
        code("ops.Queued", task_queues=("bulk",)), code("back.Again"),
    ))  # fmt: skip
    snap = replace(
        snapshot(
            record("ops.Pin", time_limit=60.0), record("ops.Flag", hidden=True), record("ops.Same", hidden=True),
            record("ops.Release", overrides=frozenset({"description"}), description="typed in the UI"),
            record("ops.Repair", overrides=frozenset({"default_job_queue"}), default="heavy", eligible=("default",)),
            record("ops.On"), record("ops.Off", enabled=True),
            record("ops.Queued", default="bulk", eligible=("bulk",)), old, back,
            queues=("default", "heavy", "bulk"),
        ),
        dependents=MappingProxyType({old.id: JobDependents(buttons=(button,), schedules=(nightly,))}),
    )  # fmt: skip
    wanted = desired(
        entry("ops.Pin", 1, time_limit=3600.0), entry("ops.Flag", 5, hidden=True),
        entry("ops.Same", 10, hidden=True), entry("ops.Release", 15),
        entry("ops.Repair", 20, default_job_queue="heavy", ignore=frozenset({"job_queues"})),
        entry("ops.On", 25, enabled=True), entry("ops.Off", 30, enabled=False, why="broken, see NET-7"),
        entry("ops.Queued", 35),
        queues=(queue_spec("new", "kubernetes", "", line=3), queue_spec("heavy", "celery", "Long runs", line=6)),
        retire=(RetireEntry("old.Button", loc(1, 12, "retire.yaml"), ScheduleMode.DISABLE, why="replaced"),
                RetireEntry("back.Again", loc(5, 12, "retire.yaml")),
                RetireEntry("done.Long", loc(9, 12, "retire.yaml"))),
    )  # fmt: skip
    jobs = replace(jobs, jobs=(*jobs.jobs, code("new.Coded", task_queues=("fromcode",))))
    tombstones = {
        "back.Again": Tombstone("back.Again", back.id, "Again", NOW),
        "gone.Job": Tombstone("gone.Job", uuid.uuid4(), "Job", NOW),
        "done.Long": Tombstone("done.Long", uuid.uuid4(), "Long", NOW),
    }
    state = NbjobsState(MappingProxyType(tombstones))
    return plan(wanted, jobs, snap, PlanSettings(allow_mass_delete=True), state)


def test_signs_are_terraforms_and_only_changes_have_lines() -> None:
    text = render_text(_every_kind())
    assert "  + queue new (kubernetes)  declared in manifests  (queues.yaml:3:5)" in text
    assert "  ~ queue heavy  (queues.yaml:6:5)" in text and '      ~ description: "" -> "Long runs"' in text
    assert "  - job old.Button  (" in text and "~ job old.Button" not in text  # a deletion is a `-`
    assert "      - delete the record, with its buttons and hooks (it has no results)" in text
    assert "      ~ disable buttons and hooks: Reboot" in text and "      ~ disable schedules: nightly" in text
    assert "  ~ job ops.Pin  (" in text and "      ~ time_limit: 60 -> 3600   [set override, override flag set]" in text
    # A pin equal to the database's value only sets the flag: that is the line, not `hidden: true -> true`.
    assert "      ~ hidden_override: false -> true   [set override: hidden stays true]" in text
    assert "      ~ hidden_override: false -> true   [redundant pin: hidden stays true]" in text
    assert not re.search(r"\b(\w+): (\S+) -> \2 ", text), text
    assert '      ~ description: "typed in the UI" -> "from code"   [release override, override flag cleared]' in text


def test_words_and_yaml_values_not_pythons() -> None:
    current = _every_kind()
    for rendered in (render_text(current), render_markdown(current)):
        assert "(s)" not in rendered and "(ies)" not in rendered and "entr(" not in rendered
        changes = rendered.split("Notes")[0]  # (the planner words its notes itself)
        assert not re.search(r"\b(False|True|None)\b", changes)
    text = render_text(current)
    assert not re.search(r"'[^']*'", text.split("Permissions")[0])  # strings as YAML writes them: "..."
    assert 'code "from code" | database "typed in the UI" (overridden)' in text
    assert (format_value(None), format_value(False), format_value("NO"), format_value(1800.0)) == (
        "null", "false", '"NO"', "1800")  # fmt: skip
    assert render_text(Plan((), managed_jobs=1)).rstrip().endswith("\n1 managed job in sync.")


def test_the_retirement_block_lists_only_what_moves() -> None:
    text = render_text(_every_kind())
    block = text[text.index("Retirements:") :].split("\n\n")[0]
    assert block.splitlines()[1:] == [
        "  old.Button: step 6 (retired)  (retire.yaml:1:12)",  # what it changes is in its job's block, once
        "  back.Again: step 6 (retired)  (retire.yaml:5:12)",  # kept disabled: its job's block says so
    ]  # done.Long, retired long ago, changes nothing: not listed (the JSON plan keeps every retirement)
    assert "done.Long" in {r["job"] for r in plan_document(_every_kind())["retirements"]}


def test_markdown_shows_each_change_once_without_empty_code_spans() -> None:
    current = _every_kind()
    comment = render_markdown(current)
    assert "``" not in comment.replace("```", "")  # no empty code span (the empty description is `""`)
    assert 'description: `""` → `Long runs`' in comment
    assert comment.count("**disable** `ops.Off`") == 1 and "| `enabled` | `true` → `false`" not in comment
    assert comment.count("the override of `description` of `ops.Release`") == 1
    assert comment.count("**delete** `old.Button`") == 1 and "delete the record" not in comment
    assert comment.count("**disable buttons and hooks** of `old.Button`") == 1
    assert "| `hidden_override` | `false` → `true` | set override (`hidden` stays `true`)" in comment
    assert comment.count("`time_limit`") == 1  # ops.Pin's row, once


def test_markdown_locations_are_relative_to_the_repository_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                                 ) -> None:  # fmt: skip
    repository = tmp_path / "repo"
    (repository / "nautobot" / "manifests").mkdir(parents=True)
    git.Repo.init(repository).close()
    manifest = repository / "nautobot" / "manifests" / "jobs.yaml"
    manifest.write_text("apiVersion: nbjobs/v1\nkind: Jobs\njobs:\n  - match: ops.Pin\n    time_limit: 3600\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # a pipeline that names the manifests by their absolute path
    current = plan(load_manifests([manifest]), Discovery((code("ops.Pin"),)), snapshot(record("ops.Pin")))
    comment = render_markdown(current)
    assert "`nautobot/manifests/jobs.yaml:5:17`" in comment and str(tmp_path) not in comment
    monkeypatch.chdir(repository / "nautobot")  # or relative to a subdirectory
    relative = plan(load_manifests([Path("manifests")]), Discovery((code("ops.Pin"),)), snapshot(record("ops.Pin")))
    assert "`nautobot/manifests/jobs.yaml:5:17`" in render_markdown(relative)


def test_the_json_plan_gives_each_operation_a_reason_and_drift_apart() -> None:
    document = plan_document(_every_kind())
    assert document["format_version"] == 1
    reasons = [(op.get("job", {}).get("class_path") or op.get("name") or op.get("class_path"), op.get("field"),
                op["reason_code"]) for op in document["operations"]]  # fmt: skip
    assert sorted(reasons) == sorted([
        ("fromcode", None, "queue-from-code"), ("new", None, "queue-declared"), ("heavy", None, "queue-declared"),
        ("ops.Pin", "time_limit", "pinned"), ("ops.Flag", "hidden", "pinned"), ("ops.Same", "hidden", "redundant-pin"),
        ("ops.Release", "description", "released"), ("ops.Repair", "job_queues", "repair"),
        ("ops.On", None, "enabled"), ("ops.Off", None, "disabled"),
        ("old.Button", None, "retirement-step-1"), ("old.Button", None, "retirement-step-1"),  # job, then button
        ("old.Button", None, "retirement-step-2"), ("old.Button", None, "retirement-step-4"),
        ("back.Again", None, "retired-kept-disabled"), ("gone.Job", None, "retire-entry-removed"),
    ])  # fmt: skip
    # Terraform's resource_drift: managed values the database holds otherwise than the manifests pin, apart
    # from the changes (a flag alone, a release, a repair or a retirement step is a change, not drift).
    drift = [(d["object"], d.get("job") or d.get("queue"), d["field"], d["database"], d["manifest"], d["location"])
             for d in document["resource_drift"]]  # fmt: skip
    assert drift == [
        ("queue", "heavy", "description", "", "Long runs", "queues.yaml:6:5"),
        ("job", "ops.Pin", "time_limit", 60.0, 3600.0, "jobs.yaml:2:5"),
        ("job", "ops.Off", "enabled", True, False, "jobs.yaml:31:5"),
        ("job", "ops.On", "enabled", False, True, "jobs.yaml:26:5"),
    ]


def test_the_json_plan_only_adds_keys() -> None:
    current = _every_kind()
    document = plan_document(current)
    assert {"format_version", "database", "revision", "summary", "managed_jobs", "permissions", "operations",
            "retirements", "purges", "notes"} <= set(document)  # fmt: skip
    assert {"queues_created", "queues_updated", "jobs_changed", "overrides_set", "overrides_released", "enabled",
            "disabled", "jobs_deleted", "results_to_purge"} <= set(document["summary"])  # fmt: skip
    assert tuple(decode_operation(op) for op in document["operations"]) == current.operations  # saved plans read back


@pytest.mark.database
def test_a_pin_moved_in_the_ui_is_drift_reverted_and_a_moved_pin_is_pinned(
    capsys: pytest.CaptureFixture[str], db_target: DatabaseTarget, db_engine: Engine, tmp_path: Path
) -> None:
    """Telling "the UI moved what nbjobs applied" apart from "the manifest moved": the history knows
    what nbjobs last applied, so the JSON plan says `drift-reverted` for the first, `pinned` for the second."""
    url = _url(db_target)
    manifests = tmp_path / "manifests"
    shutil.copytree(MANIFESTS, manifests)
    run(capsys, "sandbox", "--jobs-root", JOBS, "--database-url", url)
    assert run(capsys, "apply", "--yes", "--jobs-root", JOBS, "--database-url", url, str(manifests))[0] == 0
    with db_engine.begin() as connection:  # an administrator edits two managed values in Nautobot's UI
        connection.execute(extras_job.update().where(extras_job.c.module_name == "audits",
                                                     extras_job.c.job_class_name == "DeviceAudit")
                           .values(time_limit=60.0, enabled=False))  # fmt: skip

    def reasons() -> tuple[dict[tuple[str, str], str], dict[tuple[str, str], bool]]:
        code_, out, _ = run(capsys, "plan", "--format", "json", "--jobs-root", JOBS, "--database-url", url,
                            str(manifests))  # fmt: skip
        assert code_ == 0
        document = json.loads(out)
        ops = {(op["job"]["class_path"], op.get("field", "enabled")): op["reason_code"]
               for op in document["operations"] if "job" in op}  # fmt: skip
        drift = {(d["job"], d["field"]): d["changed_since_apply"] for d in document["resource_drift"]}
        return ops, drift

    ops, drift = reasons()
    assert ops == {("audits.DeviceAudit", "time_limit"): "drift-reverted",
                   ("audits.DeviceAudit", "enabled"): "drift-reverted"}  # fmt: skip
    assert drift == {("audits.DeviceAudit", "time_limit"): True, ("audits.DeviceAudit", "enabled"): True}
    code_, out, _ = run(capsys, "plan", "--jobs-root", JOBS, "--database-url", url, str(manifests))
    assert code_ == 0 and out.count("changed outside nbjobs since it applied this") == 2

    jobs_yaml = manifests / "jobs.yaml"  # now the manifest moves the pin too: a new pin, not a revert
    jobs_yaml.write_text(jobs_yaml.read_text().replace("    time_limit: 3600\n", "    time_limit: 7200\n", 1))
    ops, drift = reasons()
    assert ops == {("audits.DeviceAudit", "time_limit"): "pinned", ("audits.DeviceAudit", "enabled"): "drift-reverted"}
    assert drift[("audits.DeviceAudit", "time_limit")] is False

    assert run(capsys, "apply", "--yes", "--jobs-root", JOBS, "--database-url", url, str(manifests))[0] == 0
    with db_engine.begin() as connection:
        connection.execute(extras_job.update().where(extras_job.c.job_class_name == "DeviceAudit")
                           .values(time_limit=3600.0))  # fmt: skip
    ops, _ = reasons()  # the newest apply is what counts: 7200 was applied last
    assert ops == {("audits.DeviceAudit", "time_limit"): "drift-reverted"}


# -- 7. YAML mistakes, explained -----------------------------------------------------------------------

# (file in tests/manifests/bad, line, column, the whole message)
SYNTAX = [
    ("tab.yaml", 5, 1, "a tab indents line 5: YAML allows only spaces for indentation; replace the tab with spaces"),
    ("indent_outdented.yaml", 6, 3, "bad indentation: `time_limit` at column 3 lines up with the `-` on line 4, not "
     "with the keys of that item (column 5, as `match`): expected column 5 to add it to that item; indent with "
     "spaces, lining up the keys of one mapping and the `-` of one list"),
    ("indent_deeper.yaml", 6, 7, "bad indentation: `hidden` at column 7 is indented deeper than `enabled` on line 5 "
     "(column 5), so YAML reads it as more of that value; expected column 5 to add it beside `enabled`; indent with "
     "spaces, lining up the keys of one mapping and the `-` of one list"),
    ("syntax.yaml", 5, 4, "bad indentation: `enabled` at column 4 lines up with nothing above it: expected column 5 "
     "(as `match` on line 4) or column 1 (as `jobs` on line 3); indent with spaces, lining up the keys of one mapping "
     "and the `-` of one list"),
    ("unclosed_quote.yaml", 5, 10, 'the string opened by `"` here is never closed: expected a closing `"` at the end '
     'of the value (a `"` inside it is written `\\"`)'),
    ("unclosed_bracket.yaml", 5, 55, "expected `,` or `]` in the list opened at 5:40, found `}`: separate its items "
     "with `, ` and close it with `]`"),
    ("missing_colon.yaml", 5, 5, "expected `:` after the key `enabled`: write `enabled: true` (a key and its value "
     "are separated by a colon and a space)"),
    ("colon_in_value.yaml", 5, 26, "`: ` inside the value `Runs for an hour: see NET-123` would start another "
     'mapping: expected a plain value; put it in quotes: `why: "Runs for an hour: see NET-123"`'),
]  # fmt: skip


@pytest.mark.parametrize(("name", "line", "column", "message"), SYNTAX, ids=[case[0] for case in SYNTAX])
def test_yaml_syntax_errors_are_located_and_explained(
    capsys: pytest.CaptureFixture[str], name: str, line: int, column: int, message: str
) -> None:
    path = EXAMPLES.parent / "tests" / "manifests" / "bad" / name
    code_, out, err = run(capsys, "validate", "--no-code", str(path))
    assert code_ == 1
    assert err.splitlines()[0] == f"{path}:{line}:{column}: error: {message}"
    for jargon in ("invalid YAML", "<block", "while scanning", "while parsing", "could not find", "Traceback"):
        assert jargon not in out + err


def test_syntax_errors_in_the_middle_of_other_files_keep_their_place(tmp_path: Path) -> None:
    bad = tmp_path / "crlf.yaml"
    bad.write_bytes(b"apiVersion: nbjobs/v1\r\nkind: Jobs\r\njobs:\r\n  - match: a.B\r\n    why: 'open\r\n")
    with pytest.raises(Exception) as raised:
        load_manifests([bad])
    assert str(raised.value) == (f"{bad}:5:10: error: the string opened by `'` here is never closed: expected a "
                                 "closing `'` at the end of the value (a `'` inside it is written `''`)")  # fmt: skip
