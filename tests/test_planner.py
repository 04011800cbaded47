"""The planner, table-driven: every overridable field through every verdict, queues, errors, notes."""

from __future__ import annotations

import pytest
from builders import code, desired, entry, queue_spec, record, snapshot

from reconciler.discovery.types import Discovery
from reconciler.fields import OVERRIDABLE_FIELDS, Scalar
from reconciler.plan.operations import CreateQueue, NoteKind, Phase, SetEnabled, SetField, UpdateQueue, Verdict
from reconciler.plan.planner import PlanningError, plan

JOB = "audits.DeviceAudit"

# field -> (the code's value, another value an admin might pin)
FIELD_VALUES: dict[str, tuple[Scalar, Scalar]] = {
    "grouping": ("Compliance", "Audits"),
    "name": ("Device Audit", "Audit devices"),
    "description": ("Checks devices", "Checks every device"),
    "console_log_default": (False, True),
    "dryrun_default": (False, True),
    "hidden": (False, True),
    "soft_time_limit": (1500.0, 3000.0),
    "time_limit": (1800.0, 3600.0),
    "has_sensitive_variables": (True, False),
    "is_singleton": (False, True),
}


def test_the_table_covers_every_overridable_field() -> None:
    assert set(FIELD_VALUES) == set(OVERRIDABLE_FIELDS)


def _only_field_ops(result_ops: tuple[object, ...]) -> list[SetField]:
    return [op for op in result_ops if isinstance(op, SetField)]


# (case, pinned value key or None, db value key, db overridden, ignored, expected (before, after, flag before,
#  flag after, verdict) or None)
CASES = [
    ("pin sets an override", "alt", "code", False, False, ("code", "alt", False, True, Verdict.SET_OVERRIDE)),
    ("pin already in place", "alt", "alt", True, False, None),
    ("pin over a stale override", "alt", "other", True, False, ("other", "alt", True, True, Verdict.SET_OVERRIDE)),
    ("pin equal to the code", "code", "code", False, False, ("code", "code", False, True, Verdict.REDUNDANT_PIN)),
    ("unpinned override is released", None, "alt", True, False, ("alt", "code", True, False, Verdict.RELEASE_OVERRIDE)),
    ("ignored override is left alone", None, "alt", True, True, None),
    ("ignored field beats a pin elsewhere", None, "code", False, True, None),
    ("unpinned, not overridden", None, "code", False, False, None),
]


@pytest.mark.parametrize("field", OVERRIDABLE_FIELDS)
@pytest.mark.parametrize(("case", "pin", "db", "db_flag", "ignored", "expected"), CASES, ids=[c[0] for c in CASES])
def test_every_field_through_every_verdict(
    field: str, case: str, pin: str | None, db: str, db_flag: bool, ignored: bool, expected: tuple[object, ...] | None
) -> None:
    code_value, alt = FIELD_VALUES[field]
    values = {"code": code_value, "alt": alt, "other": _other(code_value, alt)}
    pins = {field: values[pin]} if pin else {}
    manifest = desired(entry(JOB, 1, ignore=frozenset({field}) if ignored else frozenset(), enabled=False, **pins))
    db_record = record(JOB, overrides=frozenset({field}) if db_flag else frozenset(), **{field: values[db]})
    result = plan(manifest, Discovery((code(JOB, **{field: code_value}),)), snapshot(db_record))

    ops = _only_field_ops(result.operations)
    if expected is None:
        assert ops == []
        return
    before, after, flag_before, flag_after, verdict = expected
    assert len(ops) == 1
    op = ops[0]
    assert (op.field, op.before, op.after) == (field, values[str(before)], values[str(after)])
    assert (op.override_before, op.override_after, op.verdict) == (flag_before, flag_after, verdict)
    assert op.provenance.code == code_value
    assert op.provenance.database == values[db]
    assert op.provenance.database_override is db_flag
    assert op.provenance.manifest == (values[pin] if pin else None)
    if verdict is Verdict.REDUNDANT_PIN:
        assert [n.kind for n in result.notes if n.job == JOB] == [NoteKind.REDUNDANT_PIN]


def _other(code_value: Scalar, alt: Scalar) -> Scalar:
    if isinstance(code_value, bool):
        return code_value  # booleans have no third value: a stale override holding the code's value
    if isinstance(code_value, float):
        return 42.0
    return "stale value"


def test_pin_equal_to_database_and_flag_set_is_only_a_lint() -> None:
    manifest = desired(entry(JOB, hidden=False))
    result = plan(manifest, Discovery((code(JOB),)), snapshot(record(JOB, overrides=frozenset({"hidden"}))))
    assert result.operations == ()
    assert [n.kind for n in result.notes] == [NoteKind.REDUNDANT_PIN]


def test_unmanaged_job_keeps_its_overrides() -> None:
    db = record(JOB, overrides=frozenset({"hidden"}), hidden=True)
    result = plan(desired(allow_no_managed_jobs=True), Discovery((code(JOB),)), snapshot(db))
    assert result.operations == ()
    assert result.managed_jobs == 0
    assert [n.kind for n in result.notes] == [NoteKind.UNMANAGED]


def test_release_without_code_keeps_the_value_and_says_why() -> None:
    db = record(JOB, overrides=frozenset({"description"}), description="custom")
    result = plan(desired(entry(JOB, enabled=False)), Discovery(()), snapshot(db))
    (op,) = _only_field_ops(result.operations)
    assert (op.before, op.after, op.override_after, op.verdict) == ("custom", "custom", False, Verdict.RELEASE_OVERRIDE)
    assert op.provenance.code is None
    assert op.remark and "class value unknown" in op.remark


def test_enabled_follows_the_manifest_and_is_never_released() -> None:
    result = plan(desired(entry(JOB, enabled=True)), Discovery((code(JOB),)), snapshot(record(JOB)))
    assert [(type(op), op.before, op.after) for op in result.operations] == [(SetEnabled, False, True)]
    untouched = plan(desired(entry(JOB, hidden=False)), Discovery((code(JOB),)), snapshot(record(JOB, enabled=True)))
    assert not any(isinstance(op, SetEnabled) for op in untouched.operations)


def test_glob_and_exact_precedence_reach_the_plan() -> None:
    manifest = desired(entry("audits.*", 1, hidden=True, enabled=False), entry(JOB, 10, hidden=False))
    other = "audits.ConfigBackup"
    result = plan(manifest, Discovery((code(JOB), code(other))), snapshot(record(JOB), record(other)))
    by_job = {(op.job.class_path, op.field): op for op in _only_field_ops(result.operations)}
    assert by_job[(other, "hidden")].after is True
    # The exact pin equals the code's False but shadows the glob's True: it is a real override, no lint.
    assert by_job[(JOB, "hidden")].verdict is Verdict.SET_OVERRIDE
    assert not [n for n in result.notes if n.kind is NoteKind.REDUNDANT_PIN]


# ---- queues -----------------------------------------------------------------------------------------------


def _queue_ops(result_ops: tuple[object, ...]) -> dict[str, SetField]:
    return {op.field: op for op in _only_field_ops(result_ops) if op.phase is Phase.JOB_QUEUES}


def test_pinning_default_and_eligible_queues() -> None:
    manifest = desired(entry(JOB, default_job_queue="heavy", job_queues=("heavy", "default")),
                       queues=(queue_spec("heavy", "kubernetes", "isolated"),))  # fmt: skip
    result = plan(manifest, Discovery((code(JOB),)), snapshot(record(JOB)))
    assert isinstance(result.operations[0], CreateQueue)
    assert (result.operations[0].name, result.operations[0].queue_type) == ("heavy", "kubernetes")
    ops = _queue_ops(result.operations)
    assert (ops["default_job_queue"].before, ops["default_job_queue"].after) == ("default", "heavy")
    assert (ops["job_queues"].before, ops["job_queues"].after) == (("default",), ("default", "heavy"))
    assert ops["job_queues"].override_after and ops["default_job_queue"].override_after


def test_default_queue_is_always_among_the_eligible_ones() -> None:
    manifest = desired(entry(JOB, job_queues=("bulk",)), queues=(queue_spec("bulk"),))
    result = plan(manifest, Discovery((code(JOB),)), snapshot(record(JOB), queues=("default", "bulk")))
    ops = _queue_ops(result.operations)
    assert ops["job_queues"].after == ("bulk", "default")
    assert "default_job_queue" not in ops
    assert NoteKind.DEFAULT_QUEUE_ADDED in [n.kind for n in result.notes]


def test_released_queues_return_to_the_code_and_missing_code_queues_are_created() -> None:
    db = record(JOB, overrides=frozenset({"job_queues", "default_job_queue"}), default="bulk", eligible=("bulk",))
    result = plan(desired(entry(JOB, enabled=False)), Discovery((code(JOB, task_queues=("fast", "default")),)),
                  snapshot(db, queues=("default", "bulk")))  # fmt: skip
    creates = [op for op in result.operations if isinstance(op, CreateQueue)]
    assert [(op.name, op.queue_type) for op in creates] == [("fast", "celery")]
    ops = _queue_ops(result.operations)
    assert (ops["default_job_queue"].after, ops["default_job_queue"].verdict) == ("fast", Verdict.RELEASE_OVERRIDE)
    assert ops["job_queues"].after == ("default", "fast")
    assert not ops["job_queues"].override_after


def test_missing_default_in_eligible_is_repaired() -> None:
    db = record(JOB, default="bulk", eligible=("default",))
    result = plan(desired(entry(JOB, enabled=False)), Discovery((code(JOB),)), snapshot(db, queues=("default", "bulk")))
    op = _queue_ops(result.operations)["job_queues"]
    assert (op.after, op.verdict, op.override_after) == (("bulk", "default"), Verdict.REPAIR, False)


def test_ignored_queues_are_left_to_the_ui() -> None:
    db = record(JOB, overrides=frozenset({"job_queues"}), eligible=("default", "bulk"))
    result = plan(desired(entry(JOB, ignore=frozenset({"queues"}), enabled=False)), Discovery((code(JOB),)),
                  snapshot(db, queues=("default", "bulk")))  # fmt: skip
    assert _queue_ops(result.operations) == {}


def test_queue_that_exists_nowhere_is_an_error_at_the_pin() -> None:
    with pytest.raises(PlanningError) as error:
        plan(desired(entry(JOB, 3, default_job_queue="ghost")), Discovery((code(JOB),)), snapshot(record(JOB)))
    (diagnostic,) = error.value.diagnostics
    assert "'ghost' exists nowhere" in diagnostic.message
    assert (diagnostic.location.line, diagnostic.location.column) == (4, 5)


def test_manifest_queue_updates_type_and_description() -> None:
    manifest = desired(queues=(queue_spec("bulk", "kubernetes", "big"),))
    result = plan(manifest, Discovery(()), snapshot(queues=("default", "bulk")))
    (op,) = result.operations
    assert isinstance(op, UpdateQueue)
    assert op.changes == (("queue_type", "celery", "kubernetes"), ("description", "", "big"))


# ---- errors and notes -------------------------------------------------------------------------------------


def test_exact_entry_for_an_unknown_job_is_an_error_but_a_glob_is_a_note() -> None:
    with pytest.raises(PlanningError) as error:
        plan(desired(entry("nowhere.Job", 7, enabled=True)), Discovery(()), snapshot())
    assert "exists neither in the job code nor in the database" in str(error.value)
    assert error.value.diagnostics[0].location.line == 7
    result = plan(desired(entry("nowhere.*", 7, enabled=True)), Discovery(()), snapshot())
    assert [n.kind for n in result.notes] == [NoteKind.GLOB_UNMATCHED]


def test_two_jobs_may_not_end_with_one_name() -> None:
    other = "audits.ConfigBackup"
    manifest = desired(entry(JOB, 1, name="ConfigBackup"))
    with pytest.raises(PlanningError) as error:
        plan(manifest, Discovery((code(JOB), code(other))), snapshot(record(JOB), record(other)))
    assert "would all be named 'ConfigBackup'" in str(error.value)


def test_nautobot_collision_suffix_is_kept() -> None:
    db = record(JOB, overrides=frozenset({"name"}), name="DeviceAudit (2)")
    result = plan(desired(entry(JOB, enabled=False)), Discovery((code(JOB),)), snapshot(db))
    assert result.operations == ()
    assert [n.kind for n in result.notes] == [NoteKind.COLLISION_SUFFIX]


def test_code_without_a_record_waits_for_nautobots_refresh() -> None:
    result = plan(desired(entry(JOB, enabled=True)), Discovery((code(JOB),)), snapshot())
    assert result.operations == ()
    assert [n.kind for n in result.notes] == [NoteKind.WAITING_FOR_REFRESH]


def test_operations_are_ordered_by_phase_then_job() -> None:
    other = "audits.ConfigBackup"
    manifest = desired(entry("audits.*", enabled=True, hidden=True, default_job_queue="bulk"),
                       queues=(queue_spec("bulk"),))  # fmt: skip
    result = plan(manifest, Discovery((code(JOB), code(other))), snapshot(record(JOB), record(other)))
    phases = [op.phase for op in result.operations]
    assert phases == sorted(phases)
    assert phases[0] is Phase.QUEUES
    jobs_in_overrides = [op.job.class_path for op in _only_field_ops(result.operations) if op.phase is Phase.OVERRIDES]
    assert jobs_in_overrides == sorted(jobs_in_overrides)


def test_the_planner_is_deterministic() -> None:
    manifest = desired(entry("audits.*", enabled=True, hidden=True))
    sources = (Discovery((code(JOB), code("audits.X"))), snapshot(record(JOB), record("audits.X")))
    assert plan(manifest, *sources) == plan(manifest, *sources)


def test_manifests_that_leave_no_job_managed_must_say_so() -> None:
    with pytest.raises(PlanningError, match="would leave no job managed at all"):
        plan(desired(queues=(queue_spec("bulk"),)), Discovery((code(JOB),)), snapshot(record(JOB)))
    assert plan(desired(), Discovery(()), snapshot()).is_empty  # nothing in the database: nothing to lose
