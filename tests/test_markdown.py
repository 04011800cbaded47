"""The Markdown plan for pull-request comments: summary, destructive changes first, provenance, escaping,
folding, and the 65,536-character limit with what was cut."""

from __future__ import annotations

import pytest
from builders import code, desired, entry, queue_spec, record, snapshot

from reconciler.discovery.types import Discovery
from reconciler.plan.operations import Plan
from reconciler.plan.planner import plan
from reconciler.render import markdown
from reconciler.render.markdown import COMMENT_LIMIT, Block, render_markdown


def _plan() -> Plan:
    code_jobs = Discovery((
        code("ops.Release", time_limit=0.0),
        code("ops.Disable"),
        code("ops.Describe", description="plain"),
    ))  # fmt: skip
    snap = snapshot(
        record("ops.Release", overrides=frozenset({"time_limit"}), time_limit=60.0),
        record("ops.Disable", enabled=True),
        record("ops.Describe", description="plain", name="<b>Describe</b>"),
    )
    wanted = desired(
        entry("ops.Release", 1),
        entry("ops.Disable", 10, enabled=False, why="retired in NET-9 | soon"),
        entry("ops.Describe", 20, description="a | b `c`\nsecond line"),
        queues=(queue_spec("bulk", "kubernetes", "Big *workers*", line=3),),
    )
    return plan(wanted, code_jobs, snap)


def test_summary_against_and_destructive_changes_first() -> None:
    text = render_markdown(_plan(), revision="1a2b3c4d5e6f")
    lines = text.splitlines()
    assert lines[0] == "<!-- nbjobs:plan -->"
    assert "### nbjobs plan" in lines
    assert ("**Plan: 1 to create, 3 to change, 0 to delete (1 queue, 3 jobs) in 4 operations: 1 override set, "
            "1 override released, 1 job disabled.**") in lines  # fmt: skip
    assert "Planned against `test` with manifests at `1a2b3c4d5e6f`." in lines
    destructive = text.index("#### Destructive changes (2)")
    assert destructive < text.index("#### Queues (1)") < text.index("#### Changes per job (1)")
    assert "- **disable** `ops.Disable`, at `jobs.yaml:11:5`. Why: retired in NET-9 \\| soon" in text
    assert "- **release** the override of `time_limit` of `ops.Release`: `60`, back to the code's `0`" in text
    assert len(text) < COMMENT_LIMIT


def test_provenance_and_escaping_in_tables() -> None:
    text = render_markdown(_plan())
    # A pipe cannot end a cell, a backtick cannot end the code span, a newline cannot end the row.
    assert "| `description` | `plain` → ``a \\| b `c`⏎second line`` | set override, flag set |" in text
    # A release and a disable are destructive: listed first, with what they were and become, and only there.
    assert text.count("**release** the override of `time_limit` of `ops.Release`: `60`, back to the code's `0`") == 1
    assert "| `time_limit` |" not in text
    assert "manifest `false`" not in text  # enabled has its own row
    assert text.count("- **disable** `ops.Disable`, at `jobs.yaml:11:5`.") == 1 and "| `enabled` |" not in text
    assert "description `Big *workers*`" in text  # inside a code span, not emphasis
    assert "(\\<b\\>Describe\\</b\\>)" in text and "<b>Describe</b>" not in text
    assert "Planned against `test`." in text


def test_many_jobs_fold_into_details() -> None:
    jobs = [f"m.Job{i}" for i in range(8)]
    result = plan(desired(*(entry(j, i, hidden=True) for i, j in enumerate(jobs))), Discovery(tuple(map(code, jobs))),
                  snapshot(*(record(j, name=f"<Job {i}>") for i, j in enumerate(jobs))))  # fmt: skip
    text = render_markdown(result)
    assert text.count("<details><summary><code>m.Job") == 8
    assert "<details><summary><code>m.Job3</code> (&lt;Job 3&gt;): 1 change</summary>" in text
    assert text.count("</details>") == 9  # the 8 jobs, and the permissions the apply needs


def test_an_empty_plan() -> None:
    text = render_markdown(plan(desired(entry("m.A", 1)), Discovery((code("m.A"),)), snapshot(record("m.A"))))
    assert "**No changes.** The database matches the manifests and the code (1 managed job)." in text
    assert "####" not in text


def _huge_plan(jobs: int) -> Plan:
    paths = [f"bulk.module{i // 100}.Job{i}" for i in range(jobs)]
    long = "x" * 400
    entries = [entry(p, i * 3, description=f"{long} {i}", hidden=True) for i, p in enumerate(paths)]
    entries += [entry(p, 900_000 + i, enabled=False) for i, p in enumerate(paths[:40])]
    records = [record(p, enabled=True, overrides=frozenset({"grouping"}), grouping="g") for p in paths]
    return plan(desired(*entries), Discovery(tuple(code(p) for p in paths)), snapshot(*records))


def test_a_long_plan_stays_under_the_comment_limit_and_says_what_was_cut() -> None:
    text = render_markdown(_huge_plan(2500))
    assert len(text) <= COMMENT_LIMIT
    assert "> **Shortened** to fit the 65,536-character limit of a comment. Not shown:" in text
    assert "of 2500 jobs in “Changes per job (2500)”" in text
    assert "more jobs not shown" in text
    # Destructive changes are kept first, disabled jobs before released overrides.
    assert "#### Destructive changes (2540)" in text
    assert text.count("- **disable**") == 40
    # Values are cut to a readable length in cells.
    assert "x" * (markdown.CELL_LIMIT + 5) not in text
    assert text.rstrip().endswith("<sub>nbjobs 0.1.0</sub>") or "nbjobs" in text.splitlines()[-1]


@pytest.mark.parametrize("limit", [3_000, 10_000, 30_000])
def test_any_limit_is_respected(limit: int) -> None:
    text = render_markdown(_huge_plan(300), limit=limit)
    assert len(text) <= limit
    assert "**Shortened**" in text and "Planned against `test`." in text


def test_a_section_can_be_added(monkeypatch: pytest.MonkeyPatch) -> None:
    def permissions(plan_: Plan, ctx: markdown.PlanContext) -> Block | None:
        return Block("permissions", "Permissions the apply needs", ("- `extras.change_job`",), priority=95)

    monkeypatch.setattr(markdown, "PLAN_SECTIONS", [*markdown.PLAN_SECTIONS, permissions])
    text = render_markdown(_plan())
    assert "#### Permissions the apply needs\n\n- `extras.change_job`" in text


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("plain", "`plain`"),
        ("a|b", "`a\\|b`"),
        ("`tick`", "`` `tick` ``"),
        ("two``ticks", "```two``ticks```"),
        ("line\r\nbreak", "`line⏎break`"),
        ("  ", "`  `"),
        (" x ", "`  x  `"),
    ],
)
def test_code_spans(raw: str, expected: str) -> None:
    assert markdown.code(raw) == expected
