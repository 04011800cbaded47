"""`nbjobs export`: manifests from the database that a plan right after finds nothing to change, on the
examples and on databases with random overrides (every engine); strings YAML would misread are quoted."""

from __future__ import annotations

import random
import uuid
from pathlib import Path

import pytest
from builders import code, record, snapshot
from common import EXAMPLES
from sqlalchemy import Engine, delete, insert, update

from reconciler.cli import main
from reconciler.discovery.sources import discover
from reconciler.discovery.types import Discovery
from reconciler.export import ExportOptions, export_manifests, scalar, verify
from reconciler.fields import FIELD_TYPES, OVERRIDABLE_FIELDS
from reconciler.manifest.load import load_manifests
from reconciler.manifest.yamlsource import read_documents
from reconciler.nautobot.connect import DatabaseTarget
from reconciler.nautobot.snapshot import read_snapshot
from reconciler.nautobot.tables import extras_job, extras_jobqueue, extras_jobqueueassignment
from reconciler.plan.planner import plan
from reconciler.sandbox import build_sandbox

JOBS = str(EXAMPLES / "jobs")
MANIFESTS = str(EXAMPLES / "manifests")

# Strings that YAML 1.1 or 1.2 would read as something else, or that need escapes.
TRICKY = [
    "NO", "yes", "On", "y", "1:30", "0755", "0x1F", "1e3", ".inf", "null", "~", "true", "False", "a: b", "# hash",
    "x #y", "- dash", "[list]", "{map}", "it's \"quoted\"", "line\nbreak", "tab\there", "ünïcödé ☃", "trailing ",
    " leading", "", "%percent", "@at", "`tick`", "*star", "&anchor", "!tag", "back\\slash", "\x85nel\u2028ls",
    "Compliance / Devices", "?", ",", "<<",
]  # fmt: skip


@pytest.mark.parametrize("text", [*TRICKY, "plain words", "Job A (2)", "module.Class"])
def test_scalars_read_back_as_the_same_string(text: str) -> None:
    for flow in (False, True):
        written = scalar(text, flow=flow)
        source = f"k: {written}\nf: {{a: {written}}}\n" if flow else f"k: {written}\n"
        documents, problems = read_documents(source.encode(), "x.yaml")
        assert problems == [] and documents[0].value["k"] == text, written
        if flow:
            assert documents[0].value["f"] == {"a": text}


def test_selection_system_and_uninstalled_jobs() -> None:
    snap = snapshot(
        record("audits.A", enabled=True),
        record("vendor.B"),
        record("nautobot.core.jobs.ExportObjectList", enabled=True),
        record("gone.C", installed=False),
    )
    found = Discovery((code("audits.A"), code("vendor.B")))
    everything = export_manifests(snap, found)
    text = everything.files[0].text
    assert "- match: audits.A\n    enabled: true\n" in text and "- match: vendor.B\n    enabled: false\n" in text
    assert "nautobot.core" not in text and "gone.C" not in text
    assert everything.notes == ("gone.C: skipped, its record is not installed (its code is gone)",)
    assert "queues:\n  - name: default\n    type: celery\n" in text
    verify(everything, snap, found)
    only = export_manifests(snap, found, ExportOptions(match=("vendor.*",), include_system=True))
    assert "audits.A" not in only.files[0].text and "vendor.B" in only.files[0].text
    system = export_manifests(snap, found, ExportOptions(match=("nautobot.*",), include_system=True))
    assert system.jobs == 1 and "nautobot.core.jobs.ExportObjectList" in system.files[0].text


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code_ = main(list(argv))
    out, err = capsys.readouterr()
    return code_, out, err


@pytest.mark.database
def test_export_of_the_examples_plans_no_changes(
    capsys: pytest.CaptureFixture[str], db_target: DatabaseTarget, tmp_path: Path
) -> None:
    url = db_target.url.render_as_string(hide_password=False)
    assert _run(capsys, "sandbox", "--jobs-root", JOBS, "--database-url", url)[0] == 0
    code_, _, err = _run(capsys, "apply", "--yes", "--jobs-root", JOBS, "--database-url", url, MANIFESTS)
    assert code_ == 0, err

    out_dir = tmp_path / "exported"
    code_, out, err = _run(capsys, "export", "--jobs-root", JOBS, "--database-url", url, "--out", str(out_dir))
    assert code_ == 0, err
    assert out == "" and "Exported 7 jobs and 3 queues into 5 files" in err
    files = sorted(p.relative_to(out_dir).as_posix() for p in out_dir.rglob("*.yaml"))
    assert files == ["jobs/audits.yaml", "jobs/hooks.yaml", "jobs/legacy.yaml", "jobs/vendor_x.sync.yaml",
                     "queues.yaml"]  # fmt: skip
    audits = (out_dir / "jobs" / "audits.yaml").read_text()
    assert ("  - match: audits.DeviceAudit\n    enabled: true\n    grouping: Compliance / Devices\n"
            "    time_limit: 3600\n    queues: {default: heavy, eligible: [default, heavy]}\n") in audits  # fmt: skip
    queues = (out_dir / "queues.yaml").read_text()
    assert "  - name: heavy\n    type: kubernetes\n    description: Isolated workers for long audits and imports\n" \
        in queues  # fmt: skip

    code_, out, err = _run(capsys, "plan", "--jobs-root", JOBS, "--database-url", url, "--detailed-exitcode",
                           str(out_dir))  # fmt: skip
    assert code_ == 0, out + err
    assert "No changes." in out

    # To standard output, one document; the same plan.
    code_, out, err = _run(capsys, "export", "--jobs-root", JOBS, "--database-url", url, "--match", "vendor_x.*")
    assert code_ == 0 and out.count("- match:") == 2 and "apiVersion: nbjobs/v1" in out
    single = tmp_path / "vendor.yaml"
    single.write_text(out)
    code_, out, _ = _run(capsys, "plan", "--jobs-root", JOBS, "--database-url", url, "--detailed-exitcode",
                         str(single))  # fmt: skip
    assert code_ == 0 and "No changes." in out

    # An existing directory is not overwritten without --yes (or its older spelling, --force).
    code_, _, err = _run(capsys, "export", "--jobs-root", JOBS, "--database-url", url, "--out", str(out_dir))
    assert code_ == 1 and "refusing to overwrite 5 existing files" in err and "--yes (-y)" in err
    assert _run(capsys, "export", "--jobs-root", JOBS, "--database-url", url, "--out", str(out_dir), "--force")[0] == 0


def _jobs_root(root: Path) -> Path:
    """Fifteen job classes in three modules, with various time limits and task queues."""
    root.mkdir(parents=True)
    for module in range(3):
        lines = ["from nautobot.apps.jobs import Job, register_jobs", ""]
        names = []
        for index in range(5):
            name = f"Job{module}{index}"
            names.append(name)
            queues = [["default"], ["default", "bulk"], ["heavy", "default"], [], ["bulk"]][index]
            lines += [f"class {name}(Job):", "    class Meta:", f"        name = 'Job {module}.{index}'",
                      f"        time_limit = {60 * index}"]  # fmt: skip
            if queues:
                lines.append(f"        task_queues = {queues!r}")
            lines.append("")
        lines.append(f"register_jobs({', '.join(names)})")
        (root / f"module{module}.py").write_text("\n".join(lines) + "\n")
    return root


def _randomize(engine: Engine, seed: int) -> None:
    """Random overrides, as an admin clicking through the UI (and stale values Nautobot has not refreshed)."""
    rng = random.Random(seed)
    with engine.connect() as connection:
        snap = read_snapshot(connection)
    queues = {q.name: q.id for q in snap.queues}
    names = iter(rng.sample([t for t in TRICKY if t.strip()], k=len([t for t in TRICKY if t.strip()])))
    with engine.begin() as connection:
        connection.execute(update(extras_jobqueue).where(extras_jobqueue.c.name == "heavy")
                           .values(queue_type="kubernetes", description="NO: 1:30 # not a comment"))  # fmt: skip
        for job in snap.jobs:
            values: dict[str, object] = {"enabled": rng.random() < 0.5}
            for field in OVERRIDABLE_FIELDS:
                draw = rng.random()
                if draw >= 0.45:
                    continue
                if FIELD_TYPES[field] is bool:
                    value: object = rng.choice([True, False])
                elif FIELD_TYPES[field] is float:
                    value = rng.choice([0.0, 30.0, 90.0, 1800.5, 3600.0])
                elif field == "name":
                    value = next(names, f"Renamed {job.class_path}")
                else:
                    value = rng.choice(TRICKY)
                values[field] = value
                values[f"{field}_override"] = draw < 0.35  # else a stale value without its flag
            eligible = {n for n, i in queues.items() if i in job.job_queue_ids}
            if rng.random() < 0.3:
                default = rng.choice(sorted(queues))
                values.update(default_job_queue_id=queues[default], default_job_queue_override=True)
                eligible.add(default)  # Nautobot's post_save keeps the default among the eligible queues
            else:
                default = snap.queues_by_id[job.default_job_queue_id].name
            if rng.random() < 0.3:
                eligible = set(rng.sample(sorted(queues), k=rng.randint(1, len(queues)))) | {default}
                values["job_queues_override"] = True
            connection.execute(update(extras_job).where(extras_job.c.id == job.id).values(**values))
            connection.execute(delete(extras_jobqueueassignment).where(extras_jobqueueassignment.c.job_id == job.id))
            connection.execute(insert(extras_jobqueueassignment), [
                {"id": uuid.uuid4(), "job_id": job.id, "job_queue_id": queues[name]} for name in sorted(eligible)
            ])  # fmt: skip


@pytest.mark.database
@pytest.mark.parametrize("seed", [7, 2026, 31337])
def test_export_of_random_overrides_round_trips(db_engine: Engine, tmp_path: Path, seed: int) -> None:
    discovery = discover(jobs_root=_jobs_root(tmp_path / "jobs_root"))
    assert len(discovery.jobs) == 15 and not discovery.problems
    build_sandbox(db_engine, discovery)
    _randomize(db_engine, seed)
    with db_engine.connect() as connection:
        snap = read_snapshot(connection, "test")
    exported = export_manifests(snap, discovery, ExportOptions(split=True))
    verify(exported, snap, discovery)  # raises unless the strict loader reads it back and the plan is empty

    for file in exported.files:
        target = tmp_path / "out" / file.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(file.text, encoding="utf-8")
    desired = load_manifests([tmp_path / "out"])
    result = plan(desired, discovery, snap)
    assert result.operations == ()
    # Each entry pins exactly what the database overrides, with the database's values.
    entries = {entry.match: entry for entry in desired.jobs}
    assert set(entries) == {job.class_path for job in snap.jobs}
    flagged_somewhere = False
    for job in snap.jobs:
        pins = entries[job.class_path].pins
        expected = {"enabled"} | {f for f in OVERRIDABLE_FIELDS if f in job.overrides}
        expected |= {f for f in ("default_job_queue", "job_queues") if f in job.overrides}
        assert set(pins) == expected, job.class_path
        assert pins["enabled"].value == job.enabled
        for field in OVERRIDABLE_FIELDS:
            if field in job.overrides:
                flagged_somewhere = True
                assert pins[field].value == job.values.get(field), (job.class_path, field)
    assert flagged_somewhere
    heavy = next(q for q in desired.queues if q.name == "heavy")
    assert (heavy.queue_type.value, heavy.description) == ("kubernetes", "NO: 1:30 # not a comment")
