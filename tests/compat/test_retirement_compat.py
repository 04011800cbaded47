"""Retirement against a live Nautobot 3.2.7 (issue 5): nbjobs' retirement leaves the rows Nautobot's own code
paths leave, and writes the change log Nautobot writes.

Two identical setups, side "a" and side "b", are built through Nautobot's ORM (probe_retire.py) in a database of
their own, on PostgreSQL and MariaDB: the jobs `retire_<side>.Old` (a JobButtonReceiver) and `retire_<side>.Hook`
(a JobHookReceiver), identical in code but for their names, each with an extra eligible queue, a tag, notes, a
contact, a static group, a cached dynamic-group membership, object metadata, a relationship, an enabled active
schedule owned by admin, a schedule pending a two-stage approval (a Comment response already given), and a SUCCESS
result with log entries; the button receiver has a JobButton, the hook receiver a JobHook (each with content types,
a note and a contact).
- Side "a" is retired by Nautobot: its uninstall path (`enabled=False; installed=False; job.save()`, which disables
  the buttons, hooks and enabled schedules) and `ApprovalWorkflow.cancel(admin)`, then `job.delete()`, each inside
  `web_request_context(admin)` so that the change log is written.
- Side "b" is retired by nbjobs: `retire:` entries with `schedules: disable`, applied with `--yes --as admin
  --allow-mass-delete`. The first run stops at step 4 (the code is still there); the code is then removed from
  JOBS_ROOT and the second run deletes the records.
After each phase, every row of every table involved, and every ObjectChange row written, is read back through the
ORM on both sides, normalised (ids as labels, `retire_a`/`retire_b` as `retire_X`, times as "setup"/"after setup"),
and compared. The differences found are listed below, each with its cause; a test fails on any other difference,
and on any of these that disappears.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import harness
import pytest
from support import ADMIN, COMPAT, nbjobs

PROBE = COMPAT / "probe_retire.py"
WHY = "retirement compared with Nautobot's own paths"

JOB_MODULE = '''\
"""Jobs to retire (nbjobs compatibility suite): retire_a and retire_b are identical but for their names."""

from nautobot.apps.jobs import JobButtonReceiver, JobHookReceiver, register_jobs

name = "retire_SIDE jobs"


class Old(JobButtonReceiver):
    class Meta:
        name = "retire_SIDE Old"
        description = "A button receiver being retired"

    def receive_job_button(self, obj):
        self.logger.info("pressed on %s", obj)


class Hook(JobHookReceiver):
    class Meta:
        name = "retire_SIDE Hook"
        description = "A hook receiver being retired"

    def receive_job_hook(self, change, action, changed_object):
        self.logger.info("%s of %s", action, changed_object)


register_jobs(Old, Hook)
'''

MANIFEST = f"""\
apiVersion: nbjobs/v1
kind: Jobs
allow_no_managed_jobs: true
retire:
  - match: retire_b.Old
    schedules: disable
    purge_results: false
    why: {WHY}
  - match: retire_b.Hook
    schedules: disable
    purge_results: false
    why: {WHY}
"""


# ---------------------------------------------------------------- one run per engine


@dataclass
class Retired:
    """What both retirements left behind, phase by phase."""

    engine: str
    plans: list[dict[str, Any]] = field(repr=False)  # nbjobs' JSON plan before each apply
    guard: str = field(repr=False)  # what `plan` says before the second apply without --allow-mass-delete
    replan_exit: int = field(repr=False)  # `plan --detailed-exitcode` after the second apply
    replan_output: str = field(repr=False)
    disabled: dict[str, Any] = field(repr=False)  # after Nautobot's uninstall + cancel (a), nbjobs' first run (b)
    deleted: dict[str, Any] = field(repr=False)  # after Nautobot's delete (a) and nbjobs' second run (b)
    markers: dict[str, str] = field(repr=False)  # extras_scheduledjobs.last_update after each step
    deltas: dict[str, tuple[dict[str, int], dict[str, int]]] = field(repr=False)  # rows +/- per table
    seconds: float = 0.0


def _delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {table: after.get(table, 0) - count for table, count in before.items() if after.get(table, 0) != count}


@pytest.fixture(scope="module", params=harness.ENGINES)
def retired(request: pytest.FixtureRequest, nautobot_bin: Path, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[Retired]:  # fmt: skip
    engine: str = request.param
    started = time.monotonic()
    base = tmp_path_factory.mktemp(f"retire-{engine}")
    name = f"nbjobs_compat_{os.getpid()}_retire"
    url, _ = harness.restore(engine, nautobot_bin, base / "migrate", name)
    try:
        jobs_root, removed = base / "jobs", base / "removed"
        jobs_root.mkdir()
        removed.mkdir()
        for side in "ab":
            (jobs_root / f"retire_{side}.py").write_text(JOB_MODULE.replace("SIDE", side))
        manifests = base / "manifests"
        manifests.mkdir()
        (manifests / "retire.yaml").write_text(MANIFEST)
        nautobot = harness.Nautobot.configure(nautobot_bin, base / "root", jobs_root, name, engine=engine)
        harness.flush_redis()
        nautobot.server("post_upgrade")
        nautobot.server("createsuperuser", "--noinput", "--username", ADMIN, "--email", "admin@example.com")
        nbjobs("db", "upgrade", "--database-url", url)

        def probe(steps: list[dict[str, Any]], **context: Any) -> dict[str, Any]:
            out: dict[str, Any] = nautobot.probe(PROBE, {"username": ADMIN, "steps": steps, **context})
            assert out["errors"] == [], "\n".join(out["errors"])
            return out

        def run(command: str, *extra: str, codes: tuple[int, ...] = (0,)) -> Any:
            return nbjobs(command, "--database-url", url, "--jobs-root", jobs_root, *extra, manifests,
                          check_codes=codes)  # fmt: skip

        def plan_and_apply() -> dict[str, Any]:
            saved = base / f"plan-{time.monotonic_ns()}.json"
            run("plan", "--detailed-exitcode", "--allow-mass-delete", "--out", str(saved), codes=(2,))
            run("apply", "--yes", "--as", ADMIN, "--allow-mass-delete")
            plan: dict[str, Any] = json.loads(saved.read_text())
            return plan

        # a: Nautobot's uninstall path and cancel(); b: nbjobs' first run (stops at step 4: the code is there)
        counts = {"do": "counts"}
        first = probe([{"do": "setup", "sides": ["a", "b"]}, counts, {"do": "uninstall", "side": "a"}, counts])
        context = {"registry": first["registry"], "t0": first["t0"]}
        plans = [plan_and_apply()]
        # a: Job.delete(); b: its code removed, nbjobs' second run deletes the records
        # (the API and UI requests of a dump write sessions and settings: counted around the delete alone)
        second = probe([counts, {"do": "dump", "sides": ["a", "b"], "since": first["t0"], "views": ["b"]}, counts,
                        {"do": "delete", "side": "a"}, counts], **context)  # fmt: skip
        shutil.move(jobs_root / "retire_b.py", removed / "retire_b.py")
        # Deleting every job the manifests manage needs the flag; with two managed jobs only once the share
        # rule applies from two (by default it applies from 20, where a share means something).
        os.environ["NBJOBS_MASS_DELETE_MIN_MANAGED"] = "2"
        try:
            guard = run("plan", codes=(1,)).stderr
        finally:
            del os.environ["NBJOBS_MASS_DELETE_MIN_MANAGED"]
        plans.append(plan_and_apply())
        replan = run("plan", "--detailed-exitcode", codes=(0, 1, 2))
        third = probe([counts, {"do": "dump", "sides": ["a", "b"], "since": second["dumps"][0]["at"], "views": ["b"]}],
                      **context)  # fmt: skip
        markers = {
            "setup": first["markers"][0][1], "a uninstalled": first["markers"][2][1],
            "b disabled": second["markers"][0][1], "a deleted": second["markers"][4][1],
            "b deleted": third["markers"][0][1],
        }  # fmt: skip
        (before, a_disabled), (b_disabled, dumped, a_deleted), (b_deleted,) = (
            first["counts"], second["counts"], third["counts"])  # fmt: skip
        deltas = {
            "disable": (_delta(before, a_disabled), _delta(a_disabled, b_disabled)),
            "delete": (_delta(dumped, a_deleted), _delta(a_deleted, b_deleted)),
        }
        seconds = time.monotonic() - started
        harness.log(f"retirement on {engine}: {seconds:.1f} s")
        yield Retired(engine, plans, guard, replan.returncode, replan.stdout, second["dumps"][0]["sides"],
                      third["dumps"][0]["sides"], markers, deltas, seconds)  # fmt: skip
    finally:
        harness.drop(engine, name)


# ---------------------------------------------------------------- normalising and comparing

SIDE = re.compile(r"(?<![A-Za-z0-9])(retire[_-])([ab])(?![A-Za-z0-9])")
LABEL = re.compile(r"<[ab]:")


def normalise(value: Any, key: str = "") -> Any:
    """The side's name out of every string (`retire_a` -> `retire_X`, `<a:job Old>` -> `<X:job Old>`); a
    natural_slug loses its id suffix."""
    if isinstance(value, dict):
        return {k: normalise(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(v) for v in value]
    if isinstance(value, str):
        value = LABEL.sub("<X:", SIDE.sub(lambda m: m.group(1) + "X", value))
        return value.rsplit("_", 1)[0] if key == "natural_slug" else value
    return value


def side_view(dump: dict[str, Any]) -> dict[str, Any]:
    """One side's dump, normalised, with its ObjectChange rows keyed by action, type and object, and each row's
    request named after the jobs whose rows share it (nbjobs and Nautobot must group rows the same way)."""
    changes = dump["object_changes"]
    jobs_of: dict[str, set[str]] = {}
    for change in changes:
        if change["changed_object_type_id"] == "ct:extras.job":
            jobs_of.setdefault(change["request_id"], set()).add(normalise(change["changed_object_id"]))
    keyed: dict[str, Any] = {}
    views: dict[str, tuple[int, int]] = {}
    for change in changes:
        change = dict(change)
        change["request_id"] = " + ".join(sorted(jobs_of.get(change.pop("request_id"), {"no job"})))
        change.pop("change_context_detail")  # nbjobs' own (version, revision, why): checked apart
        key = normalise(f"{change['action']} {change['changed_object_type_id'][3:]} {change['changed_object_id']}")
        assert key not in keyed, f"two change-log rows for {key}"
        if "api_status" in change:
            views[key] = (change.pop("api_status"), change.pop("ui_status"))
        keyed[key] = normalise(change)
    tables = {name: sorted(normalise(rows), key=_sort_key) for name, rows in dump["tables"].items()}
    return {
        "tables": tables,
        "object_changes": keyed,
        "views": views,  # (REST API, UI) status of each change-log row, where read
        "approvals": sorted(normalise(dump["approvals"]), key=_sort_key),
        "full_clean": normalise(dump["full_clean"]),
    }


def _sort_key(row: Any) -> str:
    return json.dumps(row, sort_keys=True)


def _short(value: Any) -> Any:
    if isinstance(value, dict):
        return "{...}"
    if isinstance(value, list) and any(isinstance(v, dict) for v in value):
        return "[{...}]"
    return value


def differences(nautobot: Any, ours: Any, path: str = "") -> dict[str, tuple[Any, Any]]:
    """{path: (Nautobot's value, nbjobs' value)} wherever they differ (types too: 0 != 0.0); a key one side lacks
    is "<missing>"; nested dicts and lists of dicts are shown as "{...}"."""
    if isinstance(nautobot, dict) and isinstance(ours, dict):
        out: dict[str, tuple[Any, Any]] = {}
        for key in sorted(set(nautobot) | set(ours), key=str):
            where = f"{path}[{key}]"
            if key not in ours or key not in nautobot:
                out[where] = (_short(nautobot.get(key, "<missing>")), _short(ours.get(key, "<missing>")))
            else:
                out.update(differences(nautobot[key], ours[key], where))
        return out
    if isinstance(nautobot, list) and isinstance(ours, list) and len(nautobot) == len(ours):
        out = {}
        for index, (theirs, mine) in enumerate(zip(nautobot, ours, strict=True)):
            out.update(differences(theirs, mine, f"{path}[{index}]"))
        return out
    if nautobot != ours or type(nautobot) is not type(ours):
        return {path: (_short(nautobot), _short(ours))}
    return {}


def compare(dump: dict[str, Any], part: str) -> dict[str, tuple[Any, Any]]:
    return differences(side_view(dump["a"])[part], side_view(dump["b"])[part])


# ---------------------------------------------------------------- the differences found (see the module docstring)

# Expected, by design: Nautobot's uninstall path sets installed=False; nbjobs retires a job whose code is still
# installed (run 1) and never touches `installed`.
INSTALLED = {
    "[extras_job][0][installed]": (False, True),
    "[extras_job][1][installed]": (False, True),
}
# Expected, documented in the README ("Left empty"): nbjobs writes no REST representation (object_data_v2) for
# buttons, hooks, approval workflows and generic rows.
V2_LEFT_EMPTY = ("{...}", None)


def _job_row(key: str, action: str) -> dict[str, tuple[Any, Any]]:
    """The job row of each side. `installed` as above. On disable, soft_time_limit/time_limit: Nautobot's
    bare Job.save() serializes the stored floats (0.0); nbjobs writes the class's int (0) for a limit that is
    not overridden, as the edit form's Job.clean() produces (reconciler/nautobot/serialize.py
    job_object_data). A delete serializes the stored values on both sides."""
    row = f"[{action} extras.job <X:job {key}>]"
    out = {
        f"{row}[object_data][installed]": (False, True),
        f"{row}[object_data_v2][installed]": (False, True),
    }
    if action == "update":  # nbjobs follows the UI edit (class ints); this side ran Nautobot's bare save()
        out[f"{row}[object_data][soft_time_limit]"] = (0.0, 0)
        out[f"{row}[object_data][time_limit]"] = (0.0, 0)
    return out


# reconciler/nautobot/retirement.py _workflow_repr: ApprovalWorkflow.__str__ names its object under review by
# str(ScheduledJob), which is "<name>: <interval>"; nbjobs writes the schedule's name alone.
# reconciler/nautobot/changelog.py _Objects.serialize (and retirement.py delete_job for deletes): JobHook is an
# OrganizationalModel, without tags: Nautobot's object_data has no "tags" key; nbjobs writes "tags": [].
KNOWN_DISABLE_CHANGELOG_DIFFERENCES = {
    **_job_row("Old", "update"),
    **_job_row("Hook", "update"),
    **{f"[update extras.approvalworkflow <X:workflow {k}>][object_data_v2]": V2_LEFT_EMPTY for k in ("Old", "Hook")},
    "[update extras.jobbutton <X:button>][object_data_v2]": V2_LEFT_EMPTY,
    "[update extras.jobhook <X:hook>][object_data_v2]": V2_LEFT_EMPTY,
}  # fmt: skip


def _generic_deletes() -> dict[str, tuple[Any, Any]]:
    """The generic rows deleted with a job, its button and its hook (reconciler/nautobot/retirement.py
    _generic_rows): they match Nautobot's rows (labels, data, and no row for a dynamic group's cached
    members) except for the REST representation nbjobs leaves empty."""
    out: dict[str, tuple[Any, Any]] = {}
    for key in ("Old", "Hook", "button", "hook"):
        out[f"[delete extras.contactassociation <X:contact association {key}>][object_data_v2]"] = V2_LEFT_EMPTY
        out[f"[delete extras.note <X:note {key}>][object_data_v2]"] = V2_LEFT_EMPTY
    for key in ("Old", "Hook"):
        out[f"[delete extras.objectmetadata <X:metadata {key}>][object_data_v2]"] = V2_LEFT_EMPTY
        out[f"[delete extras.staticgroupassociation <X:static group association {key}>][object_data_v2]"] = (
            V2_LEFT_EMPTY)  # fmt: skip
    return out


KNOWN_DELETE_CHANGELOG_DIFFERENCES = {
    **_job_row("Old", "delete"),
    **_job_row("Hook", "delete"),
    "[delete extras.jobbutton <X:button>][object_data_v2]": V2_LEFT_EMPTY,
    "[delete extras.jobhook <X:hook>][object_data_v2]": V2_LEFT_EMPTY,
    **_generic_deletes(),
}


# ---------------------------------------------------------------- the plan


def _statuses(plan: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["job"]: r for r in plan["retirements"]}


def test_nbjobs_walks_the_retirement_steps(retired: Retired) -> None:
    first, second = retired.plans
    statuses = _statuses(first)
    assert set(statuses) == {"retire_b.Old", "retire_b.Hook"}
    for path, receivers in (("retire_b.Old", "disable 1 button and 0 hooks"),
                            ("retire_b.Hook", "disable 0 buttons and 1 hook")):  # fmt: skip
        status = statuses[path]
        assert (status["step"], status["step_name"]) == (4, "delete"), status
        assert status["this_run"] == [
            "disable the job",
            receivers,
            "disable 2 schedules and cancel 1 pending approval (needs --as USER)",
        ]
        assert [b.split(":")[0] for b in status["blockers"]] == ["its class is still in the code"]
    types = sorted(op["type"] for op in first["operations"])
    assert types == ["disable_receivers"] * 2 + ["disable_schedules"] * 2 + ["set_enabled"] * 2
    assert all(len(op["approvals"]) == 1 for op in first["operations"] if op["type"] == "disable_schedules")
    statuses = _statuses(second)
    assert {p: (s["step"], s["this_run"], s["blockers"]) for p, s in statuses.items()} == {
        p: (6, ["delete the record"], []) for p in ("retire_b.Old", "retire_b.Hook")
    }
    deletes = [op for op in second["operations"] if op["type"] == "delete_job"]
    assert sorted(op["job"]["class_path"] for op in deletes) == ["retire_b.Hook", "retire_b.Old"]
    assert [op["type"] for op in second["operations"]] == ["delete_job"] * 2
    assert all(op["results"] == 1 and op["purge_results"] is False for op in deletes)
    assert second["summary"]["jobs_deleted"] == 2
    assert "this plan would delete 2 of the 2 jobs the manifests manage" in retired.guard
    assert "pass --allow-mass-delete if that is intended" in retired.guard
    assert retired.replan_exit == 0, retired.replan_output
    assert "No changes." in retired.replan_output


# ---------------------------------------------------------------- step 1-2: disable, schedules, approvals


def test_disabling_leaves_the_rows_nautobot_leaves(retired: Retired) -> None:
    assert compare(retired.disabled, "tables") == INSTALLED
    assert compare(retired.disabled, "approvals") == {}
    # Not vacuous: what both sides hold now.
    tables = side_view(retired.disabled["b"])["tables"]
    assert [j["enabled"] for j in tables["extras_job"]] == [False, False]
    assert [r["enabled"] for r in tables["extras_jobbutton"] + tables["extras_jobhook"]] == [False, False]
    assert [r["last_updated"] for r in tables["extras_jobbutton"] + tables["extras_jobhook"]] == ["<after setup>"] * 2
    schedules = {s["name"]: s for s in tables["extras_scheduledjob"]}
    for kind in ("Old", "Hook"):
        daily, pending = schedules[f"retire_X {kind} daily"], schedules[f"retire_X {kind} pending"]
        assert (daily["enabled"], daily["state"], daily["last_run_at"], daily["date_changed"],
                daily["total_run_count"], daily["job_model_id"]) == (
            False, "completed", None, "<after setup>", 3, f"<X:job {kind}>")  # fmt: skip
        assert (pending["enabled"], pending["state"], pending["decision_date"], pending["date_changed"]) == (
            False,
            "canceled",
            "<after setup>",
            "<after setup>",
        )
    assert {w["current_state"] for w in tables["extras_approvalworkflow"]} == {"Canceled"}
    assert {(s["state"], s["decision_date"], s["last_updated"]) for s in tables["extras_approvalworkflowstage"]} == {
        ("Canceled", "<after setup>", "<setup>")
    }  # QuerySet.update(): last_updated stays
    responses = {r["id"]: (r["state"], r["comments"], r["user_id"]) for r in tables["extras_approvaluserresponse"]}
    assert responses == {  # Old's Comment response became the cancellation; Hook's was created
        "<X:response Old>": ("Canceled", "Retired by nbjobs", "user:admin"),
        "<new>": ("Canceled", "Retired by nbjobs", "user:admin"),
    }
    assert side_view(retired.disabled["b"])["approvals"] == [
        {"workflow": f"<X:workflow {kind}>", "schedule_decision_date_is_the_workflow's": True,
         "canceled_stages_decision_date_is_the_workflow's": [True, True]} for kind in ("Hook", "Old")]  # fmt: skip


def test_disabling_writes_the_change_log_nautobot_writes(retired: Retired) -> None:
    assert compare(retired.disabled, "object_changes") == KNOWN_DISABLE_CHANGELOG_DIFFERENCES
    ours = side_view(retired.disabled["b"])["object_changes"]
    # Jobs, button, hook and workflows updated, in one request; schedules and stages are not change-logged.
    assert sorted(ours) == sorted([
        "update extras.job <X:job Old>", "update extras.job <X:job Hook>", "update extras.jobbutton <X:button>",
        "update extras.jobhook <X:hook>", "update extras.approvalworkflow <X:workflow Old>",
        "update extras.approvalworkflow <X:workflow Hook>"])  # fmt: skip
    assert {c["request_id"] for c in ours.values()} == {"<X:job Hook> + <X:job Old>"}
    assert {(c["user_id"], c["change_context"]) for c in ours.values()} == {("user:admin", "orm")}
    assert side_view(retired.disabled["b"])["views"] == {key: (200, 200) for key in ours}
    details = {c["changed_object_type_id"]: c["change_context_detail"] for c in retired.disabled["b"]["object_changes"]}
    assert details["ct:extras.job"].endswith(f"; why: {WHY}")
    assert all(d.startswith("nbjobs ") for d in details.values())


# ---------------------------------------------------------------- step 4: delete


def test_deleting_leaves_the_rows_nautobot_leaves(retired: Retired) -> None:
    assert compare(retired.deleted, "tables") == {}
    tables = side_view(retired.deleted["b"])["tables"]
    gone = ("extras_job", "extras_jobbutton", "extras_jobbutton_content_types", "extras_jobhook",
            "extras_jobhook_content_types", "extras_taggeditem", "extras_note", "extras_contactassociation",
            "extras_staticgroupassociation", "extras_objectmetadata", "extras_relationshipassociation",
            "extras_jobqueueassignment")  # fmt: skip
    assert {t: tables[t] for t in gone} == {t: [] for t in gone}
    kept = {t: len(rows) for t, rows in tables.items() if t not in gone}
    assert kept == {
        "extras_tag": 1, "extras_contact": 1, "extras_dynamicgroup": 2, "extras_metadatatype": 1,
        "extras_relationship": 1, "extras_scheduledjob": 4, "extras_approvalworkflow": 2,
        "extras_approvalworkflowstage": 4, "extras_approvaluserresponse": 2, "extras_jobresult": 2,
        "extras_joblogentry": 4,
    }  # fmt: skip
    assert {(r["status"], r["job_model_id"], r["date_done"]) for r in tables["extras_jobresult"]} == {
        ("SUCCESS", None, "<setup>")
    }
    # SET_NULL is a plain UPDATE: job_model is nulled, nothing else moves (task and name keep the class path)
    assert {(s["job_model_id"], s["task"]) for s in tables["extras_scheduledjob"]} == {
        (None, "retire_X.Old"),
        (None, "retire_X.Hook"),
    }


def test_deleting_writes_the_change_log_nautobot_writes(retired: Retired) -> None:
    assert compare(retired.deleted, "object_changes") == KNOWN_DELETE_CHANGELOG_DIFFERENCES
    theirs = side_view(retired.deleted["a"])["object_changes"]
    # One request per deleted job: the job, its button or hook, and their generic rows, serialized before the
    # delete (a deleted object no longer loads).
    assert {k: (c["request_id"], c["loads"]) for k, c in theirs.items()} == {
        k: ("<X:job Hook>" if "Hook" in k or "hook" in k else "<X:job Old>", False) for k in theirs
    }
    ours = side_view(retired.deleted["b"])
    assert ours["views"] == {key: (200, 200) for key in ours["object_changes"]}
    assert len(theirs) == 16
    job = theirs["delete extras.job <X:job Old>"]
    assert job["object_data"]["tags"] == ["retire_X tag"]
    assert (job["object_data"]["enabled"], job["object_repr"], job["user_id"]) == (False, "retire_X Old", "user:admin")


# ---------------------------------------------------------------- Nautobot accepts what is left


def test_everything_left_loads_and_passes_full_clean(retired: Retired) -> None:
    for dump in (retired.disabled, retired.deleted):
        assert side_view(dump["a"])["full_clean"] == side_view(dump["b"])["full_clean"] == {}


def test_every_table_of_the_database_changes_as_with_nautobot(retired: Retired) -> None:
    """Row counts of every table of the database, not only those read above: what each phase added or removed
    on side "a" (Nautobot) and on side "b" (nbjobs, whose own nbjobs_* tables aside)."""
    changed: dict[str, dict[str, tuple[int, int]]] = {}
    for phase, (nautobot, ours) in retired.deltas.items():
        ours = {table: n for table, n in ours.items() if not table.startswith("nbjobs_")}
        changed[phase] = {t: (nautobot.get(t, 0), ours.get(t, 0)) for t in sorted(set(nautobot) | set(ours))
                          if nautobot.get(t, 0) != ours.get(t, 0)}  # fmt: skip
    assert changed == {"disable": {}, "delete": {}}  # every table, the change log included
    assert retired.deltas["disable"][0] == {"extras_objectchange": 6, "extras_approvaluserresponse": 1}  # Hook's
    assert retired.deltas["delete"][0] == {
        "extras_job": -2, "extras_jobbutton": -1, "extras_jobbutton_content_types": -2, "extras_jobhook": -1,
        "extras_jobhook_content_types": -2, "extras_jobqueueassignment": -4, "extras_taggeditem": -2,
        "extras_note": -4, "extras_contactassociation": -4, "extras_staticgroupassociation": -4,
        "extras_objectmetadata": -2, "extras_relationshipassociation": -2, "extras_objectchange": 16,
    }  # fmt: skip


def test_celery_beat_notices_as_with_nautobot(retired: Retired) -> None:
    """extras_scheduledjobs moves when schedules are disabled (ScheduledJob.save()), not when a job's deletion
    nulls their job link (a plain UPDATE), with Nautobot as with nbjobs."""
    m = retired.markers
    assert m["setup"] < m["a uninstalled"] < m["b disabled"]
    assert m["b disabled"] == m["a deleted"] == m["b deleted"]
