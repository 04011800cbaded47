"""The `nbjobs` command end to end: sandbox, validate, plan, apply on every engine; errors change nothing."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from common import EXAMPLES, ROOT, empty_database
from sqlalchemy import URL, func, select

from reconciler.cli import main
from reconciler.nautobot.connect import DatabaseTarget, create_db_engine
from reconciler.nautobot.tables import extras_job, extras_objectchange

JOBS = str(EXAMPLES / "jobs")
MANIFESTS = str(EXAMPLES / "manifests")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _url(target: DatabaseTarget) -> str:
    return target.url.render_as_string(hide_password=False)


def _rows(target: DatabaseTarget) -> tuple[list[dict[str, object]], int]:
    engine = create_db_engine(target)
    try:
        with engine.connect() as connection:
            jobs = [dict(r._mapping) for r in connection.execute(select(extras_job).order_by(extras_job.c.name))]
            changes = connection.execute(select(func.count()).select_from(extras_objectchange)).scalar_one()
    finally:
        engine.dispose()
    return jobs, changes


@pytest.mark.database
def test_sandbox_plan_apply_and_a_clean_replan(capsys: pytest.CaptureFixture[str], db_target: DatabaseTarget) -> None:
    url = _url(db_target)
    code, out, _ = run(capsys, "sandbox", "--jobs-root", JOBS, "--database-url", url)
    assert code == 0 and "Created sandbox" in out

    code, out, _ = run(capsys, "plan", "--jobs-root", JOBS, "--database-url", url, "--detailed-exitcode", MANIFESTS)
    assert code == 2
    assert "~ job audits.DeviceAudit" in out
    assert "time_limit: 1800 -> 3600   [set override, override flag set]" in out
    assert "+ queue bulk (celery)" in out
    assert out.rstrip().splitlines()[-1].startswith("Plan: ")

    code, out, _ = run(capsys, "apply", "--yes", "--as", "admin", "--jobs-root", JOBS, "--database-url", url,
                       MANIFESTS)  # fmt: skip
    assert code == 0 and "Apply complete" in out
    jobs, changes = _rows(db_target)
    assert changes > 0
    audit = next(j for j in jobs if j["job_class_name"] == "DeviceAudit")
    assert (audit["enabled"], audit["time_limit"], audit["time_limit_override"]) == (True, 3600.0, True)

    code, out, _ = run(capsys, "plan", "--jobs-root", JOBS, "--database-url", url, "--detailed-exitcode", MANIFESTS)
    assert code == 0 and "No changes." in out


def test_json_plan_and_saved_plan(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    assert run(capsys, "sandbox", "--jobs-root", JOBS)[0] == 0
    saved = tmp_path / "plan.json"
    code, out, _ = run(capsys, "plan", "--jobs-root", JOBS, "--format", "json", "--out", str(saved), MANIFESTS)
    assert code == 0
    document = json.loads(out)
    assert document["format_version"] == 1
    saved_document = json.loads(saved.read_text())
    assert {k: v for k, v in saved_document.items() if k not in ("saved", "digest")} == document
    assert set(saved_document["saved"]) == {"database_identity", "sources_digest", "before", "ownership"}
    kinds = {op["type"] for op in document["operations"]}
    assert kinds == {"create_queue", "update_queue", "set_field", "set_enabled"}
    time_limit = next(op for op in document["operations"]
                      if op["type"] == "set_field" and op["field"] == "time_limit"
                      and op["job"]["class_path"] == "audits.DeviceAudit")  # fmt: skip
    assert time_limit["verdict"] == "set override"
    assert time_limit["provenance"]["code"] == 1800.0
    assert time_limit["provenance"]["manifest_location"].endswith("jobs.yaml:11:17")


@pytest.mark.database
def test_bad_manifest_is_located_and_changes_nothing(capsys: pytest.CaptureFixture[str], db_target: DatabaseTarget,
                                                     tmp_path: Path) -> None:  # fmt: skip
    url = _url(db_target)
    run(capsys, "sandbox", "--jobs-root", JOBS, "--database-url", url)
    before = _rows(db_target)
    bad = tmp_path / "bad.yaml"
    shutil.copy(ROOT / "tests" / "manifests" / "bad" / "wrong_type.yaml", bad)
    code, out, err = run(capsys, "apply", "--yes", "--jobs-root", JOBS, "--database-url", url, str(bad))
    assert code == 1
    assert f"{bad}:5:15: error: expected a string, got the number 123" in err
    assert "nothing was changed" in err
    assert "Traceback" not in err + out
    assert _rows(db_target) == before


@pytest.mark.database
def test_unknown_job_in_manifest_is_an_error_that_changes_nothing(
    capsys: pytest.CaptureFixture[str], db_target: DatabaseTarget, tmp_path: Path
) -> None:
    url = _url(db_target)
    run(capsys, "sandbox", "--jobs-root", JOBS, "--database-url", url)
    before = _rows(db_target)
    manifest = tmp_path / "m.yaml"
    manifest.write_text("apiVersion: nbjobs/v1\nkind: Jobs\njobs:\n  - match: audits.DeviceAudit\n    enabled: true\n"
                        "  - match: ghost.Job\n    enabled: true\n")  # fmt: skip
    code, _, err = run(capsys, "apply", "--yes", "--jobs-root", JOBS, "--database-url", url, str(manifest))
    assert code == 1
    assert f"{manifest}:6:" in err and "'ghost.Job' exists neither in the job code nor in the database" in err
    assert _rows(db_target) == before


def test_validate_needs_no_database(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "validate", "--jobs-root", JOBS, MANIFESTS)
    assert code == 0 and "0 errors" in out
    assert not (tmp_path / "nbjobs.db").exists()


def test_plan_without_a_database_says_how_to_get_one(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "plan", "--jobs-root", JOBS, MANIFESTS)
    assert code == 1 and "run `nbjobs sandbox`" in err


def test_password_never_shows(capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                              server_databases: dict[str, URL]) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    for key, value in {"NAUTOBOT_DB_ENGINE": "django.db.backends.postgresql", "NAUTOBOT_DB_HOST": "127.0.0.1",
                       "NAUTOBOT_DB_USER": "no_such_role", "NAUTOBOT_DB_PASSWORD": "s3cret-pw",
                       "NAUTOBOT_DB_NAME": "no_such_db"}.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    code, out, err = run(capsys, "plan", "--jobs-root", JOBS, MANIFESTS)
    assert code == 1 and "Error: database" in err
    assert "s3cret-pw" not in out + err
    if "postgresql" in server_databases:  # trust auth accepts any password: the connection succeeds
        url = server_databases["postgresql"].set(password="s3cret-pw").render_as_string(hide_password=False)
        monkeypatch.setenv("NBJOBS_DATABASE_URL", url)
        _, out, err = run(capsys, "sandbox", "--jobs-root", JOBS)
        assert "***" in out and "s3cret-pw" not in out + err
        _, out, err = run(capsys, "plan", "--jobs-root", JOBS, "--format", "json", MANIFESTS)
        assert json.loads(out)["database"].count("***") == 1 and "s3cret-pw" not in out + err
        _empty_database(server_databases["postgresql"])


def test_module_entry_point_and_schema(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "reconciler", "schema"], capture_output=True, text=True,
                            check=False, cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0
    assert result.stdout == (ROOT / "schemas" / "nbjobs-manifest.schema.json").read_text()


def _empty_database(url: URL) -> None:
    empty_database(DatabaseTarget(url, "test"))


def test_validate_warns_of_queues_declared_nowhere(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    manifest = tmp_path / "m.yaml"
    manifest.write_text("apiVersion: nbjobs/v1\nkind: Jobs\njobs:\n  - match: audits.DeviceAudit\n"
                        "    queues: {default: heavy, eligible: [heavy, ghost]}\n")  # fmt: skip
    code, _, err = run(capsys, "validate", "--jobs-root", JOBS, str(manifest))
    assert code == 0  # only a warning: the database may have the queue
    assert f"{manifest}:5:40: warning: queue 'ghost' is declared neither under queues: nor by any job" in err
    assert "'heavy'" not in err  # named by vendor_x.sync.SyncInventory's task_queues
