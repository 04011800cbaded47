"""The reconcile loop's commands end to end: `nbjobs status`, `nbjobs reconcile` and their exit codes, on a
real sandbox on every engine and a real bare git remote; and the flags every loop command lists."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from common import clear_settings_environment
from loop_support import Remote, build, jobs_root_without_legacy
from sqlalchemy import text

from reconciler.cli import main
from reconciler.loop.tick import dispose_engines
from reconciler.nautobot.connect import DatabaseTarget, create_db_engine

BAD_MANIFEST = """apiVersion: nbjobs/v1
kind: Jobs
jobs:
  - match: audits.DeviceAudit
    enabled: maybe
"""
STATUS_KEYS = {"state", "revision", "last_run_at", "policy", "drift", "pending", "errors", "next_run_at", "last_error"}


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Only the flags configure nbjobs here: no NBJOBS_*/NAUTOBOT_* variable, no ./nbjobs.toml."""
    clear_settings_environment(monkeypatch)
    monkeypatch.chdir(tmp_path)
    yield
    dispose_engines()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and "Internal error" not in err, err
    return code, out, err


@dataclass
class Loop:
    remote: Remote
    database: list[str]  # --database-url URL
    flags: list[str]  # what reconcile needs besides: the remote, the code, the cache

    def reconcile(self, capsys: pytest.CaptureFixture[str], *more: str) -> tuple[int, str, str]:
        return run(capsys, "reconcile", *self.flags, *self.database, *more)

    def status(self, capsys: pytest.CaptureFixture[str], *more: str) -> tuple[int, str, str]:
        return run(capsys, "status", *self.database, *more)

    def status_json(self, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
        code, out, _ = self.status(capsys, "--format", "json")
        document = json.loads(out)
        assert isinstance(document, dict)
        return code, document


def _url(target: DatabaseTarget) -> str:
    return target.url.render_as_string(hide_password=False)


@pytest.fixture
def loop(db_target: DatabaseTarget, tmp_path: Path) -> Loop:
    remote = Remote(tmp_path / "git")
    remote.push_examples()
    jobs_root = jobs_root_without_legacy(tmp_path)
    build(db_target, jobs_root)
    flags = ["--repo", remote.url, "--jobs-root", str(jobs_root), "--cache-dir", str(tmp_path / "cache")]
    return Loop(remote, ["--database-url", _url(db_target)], flags)


@pytest.mark.database
def test_status_before_any_run_is_never_run(loop: Loop, capsys: pytest.CaptureFixture[str]) -> None:
    code, document = loop.status_json(capsys)
    assert code == 2
    assert set(document) >= STATUS_KEYS
    assert document["target"] == "default" and document["state"] == "never_run"
    assert (document["revision"], document["last_run_at"], document["next_run_at"], document["last_error"]) == (
        None, None, None, None)  # fmt: skip
    assert (document["drift"], document["pending"], document["errors"]) == ([], [], [])
    assert document["policy"] == "detect"
    code, out, _ = loop.status(capsys)
    assert code == 2 and out.startswith("default: never_run\n")


@pytest.mark.database
def test_detect_reports_drift_then_heal_with_prune_brings_it_in_sync(
    loop: Loop, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = loop.reconcile(capsys, "--policy", "detect")
    assert code == 2, err
    assert out.startswith("default: drifted (none) at ")

    code, document = loop.status_json(capsys)
    assert code == 2 and document["state"] == "drifted" and document["policy"] == "detect"
    assert isinstance(document["revision"], str) and len(document["revision"]) == 40
    assert document["last_run_at"] and document["next_run_at"] and document["last_error"] is None
    drift = document["drift"]
    assert isinstance(drift, list) and drift
    fields = {(entry["job"], entry["field"]) for entry in drift}
    assert {("audits.DeviceAudit", "grouping"), ("audits.DeviceAudit", "enabled"),
            ("audits.DeviceAudit", "time_limit")} <= fields  # fmt: skip
    grouping = next(e for e in drift if (e["job"], e["field"]) == ("audits.DeviceAudit", "grouping"))
    assert grouping["desired"] == "Compliance / Devices"
    # The retirement waits at its deletion (step 4): prune is off.
    assert [(p["job"], p["step"]) for p in document["pending"]] == [("legacy.OldImport", 4)]
    code, out, _ = loop.status(capsys)
    assert code == 2 and out.startswith("default: drifted\n")
    assert "  drift: audits.DeviceAudit grouping: " in out and "wanted Compliance / Devices" in out
    assert "  pending: legacy.OldImport step 4: " in out

    code, out, err = loop.reconcile(capsys, "--policy", "heal", "--prune", "--as", "admin", "--format", "json")
    assert code == 0, err
    outcome = json.loads(out)
    assert (outcome["state"], outcome["action"]) == ("in_sync", "applied")
    assert outcome["revision"] == document["revision"] and outcome["apply_id"]

    code, document = loop.status_json(capsys)
    assert code == 0 and document["state"] == "in_sync"
    assert document["drift"] == [] and document["pending"] == [] and document["errors"] == []
    assert document["healed"] and document["last_error"] is None
    assert (document["policy"], document["prune"]) == ("heal", True)  # what the run used, not the default
    code, out, _ = loop.status(capsys)
    assert code == 0 and out.startswith("default: in_sync\n") and "  healed: audits.DeviceAudit grouping: " in out

    # Nothing changes: the ticks after stay in sync and go idle (the first may plan once more to confirm).
    code, out, _ = loop.reconcile(capsys, "--policy", "heal", "--prune")
    assert code == 0 and out.startswith(("default: in_sync (none) at ", "default: in_sync (idle) at ")), out
    code, out, _ = loop.reconcile(capsys, "--policy", "heal", "--prune")
    assert code == 0 and out.startswith("default: in_sync (idle) at "), out


@pytest.mark.database
def test_a_broken_manifest_is_a_located_error_and_status_exits_1(
    loop: Loop, capsys: pytest.CaptureFixture[str]
) -> None:
    sha = loop.remote.push({"manifests/broken.yaml": BAD_MANIFEST}, "a typo")
    code, out, err = loop.reconcile(capsys, "--policy", "heal", "--prune")
    assert code == 1
    assert out.startswith(f"default: error (failed) at {sha[:12]}: the manifests at {sha[:12]} are invalid")
    assert f"  manifests/broken.yaml@{sha[:12]}:5:14: " in err

    code, document = loop.status_json(capsys)
    assert code == 1 and document["state"] == "error" and document["revision"] == sha
    (error,) = document["errors"]
    assert error["location"] == f"manifests/broken.yaml@{sha[:12]}:5:14" and not error["transient"]
    assert document["last_error"] == error["message"] and document["last_error"]
    code, out, _ = loop.status(capsys)
    assert code == 1 and out.startswith("default: error\n")
    assert f"  error: manifests/broken.yaml@{sha[:12]}:5:14: " in out


@pytest.mark.database
def test_reconcile_without_a_repository_is_an_error(loop: Loop, capsys: pytest.CaptureFixture[str]) -> None:
    flags = [flag for flag in loop.flags if flag != loop.remote.url and flag != "--repo"]
    code, out, err = run(capsys, "reconcile", *flags, *loop.database)
    assert code == 1
    assert "has no manifests repository" in out + err
    code, document = loop.status_json(capsys)
    assert code == 1 and document["state"] == "error" and "has no manifests repository" in str(document["last_error"])


@pytest.mark.database
def test_status_without_nbjobs_tables_says_to_upgrade(
    db_target: DatabaseTarget, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    build(db_target, jobs_root_without_legacy(tmp_path))  # Nautobot's tables, and nbjobs' ...
    engine = create_db_engine(db_target)
    try:
        with engine.begin() as connection:  # ... whose version table is then lost, as before `db upgrade`
            connection.execute(text("DROP TABLE nbjobs_alembic_version"))
    finally:
        engine.dispose()
    for form in ("text", "json"):
        code, out, err = run(capsys, "status", "--database-url", _url(db_target), "--format", form)
        assert code == 1 and out == ""
        assert err.startswith("Error: nbjobs' own tables are missing: run `nbjobs db upgrade`")


LOOP_FLAGS = ("--repo", "--branch", "--path", "--interval", "--policy", "--prune", "--broker-url", "--database-url",
              "--jobs-root", "--app", "--as", "--config", "--target", "--cache-dir")  # fmt: skip


@pytest.mark.parametrize("command", ["loop", "reconcile", "config"])
def test_loop_commands_list_their_flags(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, command, "--help")
    assert code == 0
    assert not [flag for flag in LOOP_FLAGS if f"{flag} " not in out and f"{flag}\n" not in out]


def test_status_lists_its_flags(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "status", "--help")
    assert code == 0
    assert not [flag for flag in ("--database-url", "--target", "--format", "--config") if f"{flag} " not in out]
