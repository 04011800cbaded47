"""Safe apply (issue 4) on SQLite, PostgreSQL and MariaDB: saved plans, staleness, tampering, the apply
lock across processes, acting as a Nautobot user, and the history."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from common import EXAMPLES, ROOT
from sqlalchemy import Engine, create_engine, delete, func, insert, select, text, update

from reconciler.apply.lock import Holder, locked_transaction
from reconciler.cli import main
from reconciler.discovery.sources import discover
from reconciler.nautobot.connect import DatabaseTarget, create_db_engine
from reconciler.nautobot.tables import (
    auth_group,
    auth_user,
    auth_user_groups,
    django_content_type,
    extras_job,
    extras_objectchange,
    users_objectpermission,
    users_objectpermission_groups,
    users_objectpermission_object_types,
    users_objectpermission_users,
)
from reconciler.sandbox import build_sandbox
from reconciler.state.migrate import upgrade
from reconciler.state.tables import nbjobs_apply, nbjobs_meta

JOBS = str(EXAMPLES / "jobs")
MANIFESTS = str(EXAMPLES / "manifests")


@pytest.fixture
def sandbox(db_engine: Engine, db_target: DatabaseTarget) -> Iterator[str]:
    """A sandbox of the example jobs; yields its URL for the CLI."""
    build_sandbox(db_engine, discover(jobs_root=EXAMPLES / "jobs"))
    yield db_target.url.render_as_string(hide_password=False)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _job(engine: Engine, cls: str) -> dict[str, Any]:
    with engine.connect() as connection:
        return dict(connection.execute(select(extras_job).where(extras_job.c.job_class_name == cls)).one()._mapping)


def _count(engine: Engine, table: Any) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def _outcomes(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return sorted(connection.execute(select(nbjobs_apply.c.outcome)).scalars())


def _save_plan(capsys: pytest.CaptureFixture[str], url: str, path: Path, manifests: str = MANIFESTS) -> None:
    code, _, err = run(capsys, "plan", "--jobs-root", JOBS, "--database-url", url, "--out", str(path), manifests)
    assert code == 0 and "Saved plan" in err


@pytest.mark.database
def test_saved_plan_applies_exactly_and_the_history_says_so(
    capsys: pytest.CaptureFixture[str], sandbox: str, db_engine: Engine, tmp_path: Path
) -> None:
    plan_file = tmp_path / "plan.json"
    _save_plan(capsys, sandbox, plan_file)
    code, out, _ = run(capsys, "apply", "--yes", "--as", "admin", "--database-url", sandbox, str(plan_file))
    complete = "Apply complete: 1 created, 7 changed, 0 deleted (2 queues, 6 jobs) in 19 operations; "
    assert code == 0 and complete + "9 entries in Nautobot's change log" in out
    assert (_job(db_engine, "DeviceAudit")["time_limit"], _job(db_engine, "DeviceAudit")["time_limit_override"]) == (
        3600.0, True)  # fmt: skip

    code, out, _ = run(capsys, "history", "--database-url", sandbox)
    assert code == 0
    (row,) = [line for line in out.splitlines() if " applied " in line]
    apply_id = row.split()[0]
    code, out, _ = run(capsys, "history", apply_id, "--database-url", sandbox)
    assert code == 0
    assert "Outcome:            applied" in out and "User:               admin" in out
    assert 'job audits.DeviceAudit.time_limit: {"value": 1800.0, "override": false} -> ' \
           '{"value": 3600.0, "override": true}  [set override]' in out  # fmt: skip
    code, out, _ = run(capsys, "history", apply_id, "--database-url", sandbox, "--format", "json")
    document = json.loads(out)
    assert document["plan_digest"] == json.loads(plan_file.read_text())["digest"]
    assert len(document["changes"]) == 20  # 19 operations; the queue update records its two columns apart


@pytest.mark.database
def test_a_stale_plan_is_refused_naming_what_moved(
    capsys: pytest.CaptureFixture[str], sandbox: str, db_engine: Engine, tmp_path: Path
) -> None:
    plan_file = tmp_path / "plan.json"
    _save_plan(capsys, sandbox, plan_file)
    with db_engine.begin() as connection:  # an admin edits a planned job in the UI meanwhile
        connection.execute(update(extras_job).where(extras_job.c.job_class_name == "DeviceAudit")
                           .values(time_limit=2000.0, time_limit_override=True))  # fmt: skip
    changes_before = _count(db_engine, extras_objectchange)
    code, _, err = run(capsys, "apply", "--yes", "--database-url", sandbox, str(plan_file))
    assert code == 1
    assert "the plan is stale: 2 fields it depends on moved" in err
    assert "job audits.DeviceAudit: time_limit was 1800.0, is now 2000.0" in err
    assert "job audits.DeviceAudit: time_limit_override was false, is now true" in err  # YAML's spelling
    assert _job(db_engine, "ConfigBackup")["enabled"] is False  # nothing at all was applied
    assert _count(db_engine, extras_objectchange) == changes_before
    assert _outcomes(db_engine) == ["refused"]


@pytest.mark.database
def test_changes_elsewhere_do_not_make_a_plan_stale(
    capsys: pytest.CaptureFixture[str], sandbox: str, db_engine: Engine, tmp_path: Path
) -> None:
    plan_file = tmp_path / "plan.json"
    _save_plan(capsys, sandbox, plan_file)
    with db_engine.begin() as connection:
        # An unmanaged job changes, and a planned job changes only where the plan does not look.
        connection.execute(update(extras_job).where(extras_job.c.job_class_name == "OldImport")
                           .values(description="edited", description_override=True, enabled=True))  # fmt: skip
        connection.execute(update(extras_job).where(extras_job.c.job_class_name == "DeviceAudit")
                           .values(_custom_field_data={"owner": "noc"}, last_updated=datetime.now(UTC)))  # fmt: skip
    code, _, err = run(capsys, "apply", "--yes", "--database-url", sandbox, str(plan_file))
    assert code == 0, err
    assert _job(db_engine, "OldImport")["description"] == "edited"
    assert _job(db_engine, "DeviceAudit")["enabled"] is True


@pytest.mark.database
def test_a_tampered_plan_or_one_from_another_database_is_refused(
    capsys: pytest.CaptureFixture[str], sandbox: str, db_engine: Engine, tmp_path: Path
) -> None:
    plan_file = tmp_path / "plan.json"
    _save_plan(capsys, sandbox, plan_file)
    tampered = tmp_path / "tampered.json"
    tampered.write_text(plan_file.read_text().replace('"after": 3600.0', '"after": 36000.0', 1))
    assert tampered.read_text() != plan_file.read_text()
    code, _, err = run(capsys, "apply", "--yes", "--database-url", sandbox, str(tampered))
    assert code == 1 and "edited or corrupted after it was saved (digest mismatch)" in err

    with db_engine.begin() as connection:  # the same tables, but another nbjobs installation
        connection.execute(delete(nbjobs_meta))
    upgrade(db_engine)
    code, _, err = run(capsys, "apply", "--yes", "--database-url", sandbox, str(plan_file))
    assert code == 1 and "made against another database" in err
    assert _job(db_engine, "DeviceAudit")["enabled"] is False


def _nbjobs(*argv: str) -> subprocess.Popen[str]:
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.Popen([sys.executable, "-m", "reconciler", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)  # fmt: skip


@pytest.mark.database
def test_the_apply_lock_names_its_holder_and_makes_others_wait(sandbox: str, db_engine: Engine) -> None:
    holder = Holder.this_process(datetime.now(UTC), "abc123", "ci-bot")
    with locked_transaction(db_engine, holder):
        refused = _nbjobs("apply", "--yes", "--jobs-root", JOBS, "--database-url", sandbox, MANIFESTS)
        _, err = refused.communicate(timeout=60)
        assert refused.returncode == 1
        assert f"held by host {holder.host}, pid {os.getpid()}" in err
        assert "applying manifests at abc123, as ci-bot" in err
        waiting = _nbjobs("apply", "--yes", "--lock-timeout", "60", "--jobs-root", JOBS, "--database-url", sandbox,
                          MANIFESTS)  # fmt: skip
        time.sleep(3)
        assert waiting.poll() is None  # still waiting for the lock
    _, err = waiting.communicate(timeout=120)
    assert waiting.returncode == 0, err
    assert _job(db_engine, "DeviceAudit")["enabled"] is True


@pytest.mark.database
def test_concurrent_applies_are_serialized_with_nothing_lost_or_doubled(
    sandbox: str, db_engine: Engine, tmp_path: Path
) -> None:
    audits = tmp_path / "audits.yaml"
    audits.write_text("apiVersion: nbjobs/v1\nkind: Jobs\njobs:\n  - match: audits.*\n    enabled: true\n"
                      "    hidden: true\n")  # fmt: skip
    legacy = tmp_path / "legacy.yaml"
    legacy.write_text("apiVersion: nbjobs/v1\nkind: Jobs\njobs:\n  - match: legacy.OldImport\n    enabled: true\n"
                      "    description: Kept for the 2026 audit\n")  # fmt: skip
    runs = [
        _nbjobs("apply", "--yes", "--lock-timeout", "60", "--jobs-root", JOBS, "--database-url", sandbox, str(path))
        for path in (audits, legacy, audits)  # the third repeats the first: it must find nothing left to do
    ]
    results = [run_.communicate(timeout=180) for run_ in runs]
    assert [run_.returncode for run_ in runs] == [0, 0, 0], results
    assert (_job(db_engine, "DeviceAudit")["hidden"], _job(db_engine, "ConfigBackup")["hidden"]) == (True, True)
    assert _job(db_engine, "OldImport")["description"] == "Kept for the 2026 audit"
    assert _count(db_engine, extras_objectchange) == 3  # one row per changed job, none twice
    assert _outcomes(db_engine) == ["applied", "applied", "no-changes"]


def _grant(engine: Engine, username: str, actions: list[str], models: list[str], *, constraints: Any = None,
           superuser: bool = False, active: bool = True, via_group: bool = False) -> None:  # fmt: skip
    now = datetime.now(UTC)
    user_id, permission_id = uuid.uuid4(), uuid.uuid4()
    with engine.begin() as connection:
        connection.execute(insert(auth_user).values(
            id=user_id, password="!", last_login=None, is_superuser=superuser, username=username, first_name="",
            last_name="", email="", is_staff=False, is_active=active, date_joined=now, config_data={}))  # fmt: skip
        connection.execute(insert(users_objectpermission).values(
            id=permission_id, name=f"{username}-perm", description="", enabled=True, actions=actions,
            constraints=constraints, created=now, last_updated=now))  # fmt: skip
        types = dict(connection.execute(select(django_content_type.c.model, django_content_type.c.id)
                                        .where(django_content_type.c.app_label == "extras")).all())  # fmt: skip
        connection.execute(
            insert(users_objectpermission_object_types),
            [{"objectpermission_id": permission_id, "contenttype_id": types[m]} for m in models],
        )
        if via_group:
            group_id = connection.execute(insert(auth_group).values(name=f"{username}-group")).inserted_primary_key[0]
            connection.execute(insert(auth_user_groups).values(user_id=user_id, group_id=group_id))
            connection.execute(insert(users_objectpermission_groups).values(objectpermission_id=permission_id,
                                                                            group_id=group_id))  # fmt: skip
        else:
            connection.execute(insert(users_objectpermission_users).values(objectpermission_id=permission_id,
                                                                           user_id=user_id))  # fmt: skip


@pytest.mark.database
def test_acting_as_a_user_checks_nautobot_permissions(
    capsys: pytest.CaptureFixture[str], sandbox: str, db_engine: Engine
) -> None:
    _grant(db_engine, "viewer", ["view"], ["job", "jobqueue"])
    _grant(db_engine, "auditor", ["view", "change"], ["job"], constraints={"module_name": "audits"})
    _grant(db_engine, "operator", ["view", "add", "change"], ["job", "jobqueue"], via_group=True)
    _grant(db_engine, "gone", ["view", "add", "change"], ["job", "jobqueue"], active=False)
    args = ("--jobs-root", JOBS, "--database-url", sandbox, MANIFESTS)
    _, plan_out, _ = run(capsys, "plan", "--format", "json", *args)
    assert {p["permission"] for p in json.loads(plan_out)["permissions"]} == {
        "extras.add_jobqueue", "extras.change_job", "extras.change_jobqueue", "extras.view_jobqueue"}  # fmt: skip

    code, _, err = run(capsys, "apply", "--yes", "--as", "viewer", *args)
    assert code == 1
    assert "user 'viewer' lacks" in err
    assert "extras.change_job on job audits.DeviceAudit: no enabled permission grants it" in err
    assert "extras.add_jobqueue on queue 'bulk': no enabled permission grants it" in err
    code, _, err = run(capsys, "apply", "--yes", "--as", "auditor", *args)
    assert code == 1
    assert "extras.change_job on job vendor_x.sync.PushConfig: the constraints of auditor-perm do not" in err
    assert "extras.change_job on job audits.DeviceAudit" not in err  # within the constraint
    code, _, err = run(capsys, "apply", "--yes", "--as", "gone", *args)
    assert code == 1 and "user 'gone' is inactive" in err
    assert _job(db_engine, "DeviceAudit")["enabled"] is False and _count(db_engine, extras_objectchange) == 0
    assert _outcomes(db_engine) == ["refused"] * 3

    code, _, err = run(capsys, "apply", "--yes", "--as", "operator", *args)  # granted through a group
    assert code == 0, err
    with db_engine.connect() as connection:
        names = set(connection.execute(select(extras_objectchange.c.user_name)).scalars())
    assert names == {"operator"}


@pytest.mark.database
def test_the_lock_is_per_database(sandbox: str, db_engine: Engine, db_target: DatabaseTarget, tmp_path: Path) -> None:
    """MySQL/MariaDB named locks are server-wide: an apply to another database must not wait for this one's."""
    other = f"nbjobs_lock_other_{os.getpid()}"
    url = db_target.url
    if url.get_backend_name() == "sqlite":
        other_url = url.set(database=str(tmp_path / "other.db"))
    else:
        admin = create_engine(url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {other}"))
            connection.execute(text(f"CREATE DATABASE {other}"))
        other_url = url.set(database=other)
    other_engine = create_db_engine(DatabaseTarget(other_url, "other"))
    try:
        build_sandbox(other_engine, discover(jobs_root=EXAMPLES / "jobs"))
        with locked_transaction(db_engine, Holder.this_process(datetime.now(UTC), None, None)):
            elsewhere = _nbjobs("apply", "--yes", "--jobs-root", JOBS, "--database-url",
                                other_url.render_as_string(hide_password=False), MANIFESTS)  # fmt: skip
            _, err = elsewhere.communicate(timeout=120)
            assert elsewhere.returncode == 0, err
    finally:
        other_engine.dispose()
        if url.get_backend_name() != "sqlite":
            with admin.connect() as connection:
                connection.execute(text(f"DROP DATABASE {other}"))
            admin.dispose()
