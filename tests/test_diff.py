"""`nbjobs diff`: real git repositories with several commits where manifests and job code change; the
output in text, JSON and Markdown; errors located at `path@revision`; the head planned in a database."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from builders import desired, entry
from common import EXAMPLES
from test_gitrev import GitRepo

from reconciler.cli import main
from reconciler.nautobot.connect import DatabaseTarget
from reconciler.review.compare import compare
from reconciler.review.delta import desired_delta
from reconciler.review.revisions import Sources
from reconciler.review.types import Change, Section

JOBS_V1 = """\
apiVersion: nbjobs/v1
kind: Jobs
jobs:
  - match: audits.DeviceAudit
    enabled: true
    time_limit: 3600
    why: long audits
  - match: audits.ConfigBackup
    enabled: true
  - match: vendor_x.*
    enabled: false
    hidden: true
  - match: hooks.*
    enabled: true
"""
QUEUES_V1 = """\
apiVersion: nbjobs/v1
kind: Jobs
queues:
  - name: heavy
    type: kubernetes
    description: Long audits
"""
# Commit 2: manifests change. DeviceAudit: time_limit changed, grouping and queues added; ConfigBackup
# disabled; vendor_x.* no longer hides (a release); hooks.* removed; legacy.* added; a queue description.
JOBS_V2 = """\
apiVersion: nbjobs/v1
kind: Jobs
jobs:
  - match: audits.DeviceAudit
    enabled: true
    time_limit: 7200
    grouping: "NO"
    queues: {default: heavy, eligible: [heavy, default]}
    why: long audits
  - match: audits.ConfigBackup
    enabled: false
  - match: vendor_x.*
    enabled: false
  - match: legacy.*
    enabled: false
"""
QUEUES_V2 = QUEUES_V1.replace("Long audits", "Long audits and imports")
NEW_JOB = """

class NewAudit(Job):
    class Meta:
        name = "New Audit"


register_jobs(NewAudit)
"""


class History:
    """A repository with three commits: manifests and code (c1), manifests changed (c2), code changed (c3)."""

    def __init__(self, root: Path) -> None:
        self.git = GitRepo(root)
        shutil.copytree(EXAMPLES / "jobs", root / "jobs")
        self.c1 = self.git.commit("manifests and code", {"manifests/jobs.yaml": JOBS_V1,
                                                         "manifests/queues.yaml": QUEUES_V1})  # fmt: skip
        self.c2 = self.git.commit("manifests change", {"manifests/jobs.yaml": JOBS_V2,
                                                       "manifests/queues.yaml": QUEUES_V2})  # fmt: skip
        audits = (root / "jobs" / "audits.py").read_text().replace("AUDIT_TIME_LIMIT = 1800", "AUDIT_TIME_LIMIT = 2400")
        self.c3 = self.git.commit("code change", {"jobs/audits.py": audits + NEW_JOB}, removed=("jobs/legacy.py",))
        self.root = root

    @property
    def manifests(self) -> str:
        return str(self.root / "manifests")

    @property
    def jobs(self) -> str:
        return str(self.root / "jobs")

    def sources(self) -> Sources:
        return Sources((self.root / "manifests",), jobs_root=self.root / "jobs")


@pytest.fixture
def history(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[History]:
    made = History(tmp_path / "repo")
    workdir = tmp_path / "work"  # no ./nbjobs.db here: diffs run without a database unless given one
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    for variable in ("NBJOBS_DATABASE_URL", "NAUTOBOT_DB_NAME", "NAUTOBOT_DB_ENGINE"):
        monkeypatch.delenv(variable, raising=False)
    yield made
    made.git.close()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_manifest_changes_between_two_commits(history: History) -> None:
    comparison = compare(history.sources(), history.c1, history.c2)
    changes = {(c.section, c.key): c for c in comparison.desired}
    assert {key: c.change for key, c in changes.items()} == {
        (Section.QUEUES, "heavy"): Change.CHANGED,
        (Section.JOBS, "audits.ConfigBackup"): Change.CHANGED,
        (Section.JOBS, "audits.DeviceAudit"): Change.CHANGED,
        (Section.JOBS, "hooks.*"): Change.REMOVED,
        (Section.JOBS, "legacy.*"): Change.ADDED,
        (Section.JOBS, "vendor_x.*"): Change.CHANGED,
    }
    audit = changes[(Section.JOBS, "audits.DeviceAudit")]
    assert [(f.field, f.before, f.after) for f in audit.fields] == [
        ("grouping", None, "NO"),
        ("time_limit", 3600, 7200),
        ("queues.default", None, "heavy"),
        ("queues.eligible", None, ("default", "heavy")),
    ]
    short2 = history.c2[:12]
    assert str(audit.fields[1].location) == f"manifests/jobs.yaml@{short2}:6:17"
    removed = changes[(Section.JOBS, "hooks.*")]
    assert str(removed.location) == f"manifests/jobs.yaml@{history.c1[:12]}:13:12"
    assert [(f.field, f.before, f.after) for f in removed.fields] == [("enabled", True, None)]
    assert [(f.field, f.before, f.after) for f in changes[(Section.JOBS, "vendor_x.*")].fields] == [
        ("hidden", True, None)
    ]
    assert comparison.code == ()  # the code did not change between c1 and c2
    assert comparison.base.side.revision == history.c1 and comparison.head.side.revision == history.c2


def test_code_changes_between_two_commits(history: History) -> None:
    comparison = compare(history.sources(), history.c2, history.c3)
    assert comparison.desired == ()
    code = {c.class_path: c for c in comparison.code}
    assert {path: c.change for path, c in code.items()} == {
        "audits.DeviceAudit": Change.CHANGED,
        "audits.NewAudit": Change.ADDED,
        "legacy.OldImport": Change.REMOVED,
    }
    assert [(f.field, f.before, f.after) for f in code["audits.DeviceAudit"].fields] == [
        ("soft_time_limit", 1500.0, 2100.0),
        ("time_limit", 1800.0, 2400.0),
    ]
    assert str(code["legacy.OldImport"].location).startswith(f"jobs/legacy.py@{history.c2[:12]}:")
    assert str(code["audits.NewAudit"].location).startswith(f"jobs/audits.py@{history.c3[:12]}:")


def test_moving_an_entry_to_another_file_is_no_change(history: History) -> None:
    first, _, rest = JOBS_V2.partition("  - match: audits.ConfigBackup\n")
    header = "apiVersion: nbjobs/v1\nkind: Jobs\njobs:\n"
    moved = history.git.commit("move an entry", {
        "manifests/jobs.yaml": first,
        "manifests/more/backup.yaml": header + "  - match: audits.ConfigBackup\n" + rest,
    })  # fmt: skip
    comparison = compare(history.sources(), history.c3, moved)
    assert comparison.desired == () and comparison.code == ()


def test_text_json_and_markdown_output(history: History, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ("diff", "--base", history.c1, "--head", history.c3, "--jobs-root", history.jobs, history.manifests)
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    s1, s3 = history.c1[:12], history.c3[:12]
    assert out.startswith(f"nbjobs diff: base {s1} -> head {s3}\n")
    assert "  ~ job audits.DeviceAudit  (manifests/jobs.yaml@" in out
    assert f"      time_limit: 3600 -> 7200   (manifests/jobs.yaml@{s3}:6:17)" in out
    assert '      grouping: (absent) -> "NO"' in out
    assert f"  - job hooks.*  (manifests/jobs.yaml@{s1}:13:12)" in out
    assert "  + job legacy.*" in out
    assert "  + audits.NewAudit" in out and "  - legacy.OldImport" in out
    assert "No database: the head was not planned" in out
    assert out.rstrip().endswith(
        "Diff: desired state 1 entry added, 1 removed, 4 changed; job code 1 job added, 1 removed, 1 changed."
    )

    code, out, _ = run(capsys, *argv, "--format", "json")
    document = json.loads(out)
    assert document["format_version"] == 1 and document["kind"] == "diff"
    assert document["base"]["revision"] == history.c1 and document["head"]["revision"] == history.c3
    assert document["summary"]["desired"] == {"added": 1, "removed": 1, "changed": 4}
    assert document["summary"]["code"] == {"added": 1, "removed": 1, "changed": 1}
    assert document["plan"] is None and document["database"] is None
    audit = next(e for e in document["desired"] if e["key"] == "audits.DeviceAudit")
    assert audit["section"] == "jobs" and audit["change"] == "changed"
    assert {"field": "queues.eligible", "before": None, "after": ["default", "heavy"],
            "location": f"manifests/jobs.yaml@{s3}:8:40"} in audit["fields"]  # fmt: skip

    code, out, _ = run(capsys, *argv, "--format", "markdown")
    assert code == 0
    assert out.startswith("<!-- nbjobs:diff -->\n")
    assert "**Desired state:** 1 entry added, 1 removed, 4 changed" in out
    assert "**Job code:** 1 job added, 1 removed, 1 changed" in out
    assert f"Base `{s1}` → head `{s3}`. No database given" in out
    assert f"| changed job `audits.DeviceAudit` | `grouping` |  | `NO` | `manifests/jobs.yaml@{s3}:7:15` |" in out
    assert "| `legacy.OldImport` | removed |" in out
    assert ("| `audits.DeviceAudit` | changed | `soft_time_limit`: `1500` → `2100`, `time_limit`: `1800` → `2400` |"
            in out)  # fmt: skip


def test_default_head_is_the_working_tree_and_a_dirty_tree_is_noted(
    history: History, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "diff", "--base", "HEAD", "--jobs-root", history.jobs, history.manifests,
                       "--detailed-exitcode")  # fmt: skip
    assert code == 0, out
    assert f"-> head working tree (HEAD {history.c3[:12]})" in out and "uncommitted" not in out
    (history.root / "manifests" / "jobs.yaml").write_text(JOBS_V2.replace("time_limit: 7200", "time_limit: 60"))
    (history.root / "manifests" / "extra.yaml").write_text("apiVersion: nbjobs/v1\nkind: Jobs\n")
    code, out, _ = run(capsys, "diff", "--base", "HEAD", "--jobs-root", history.jobs, history.manifests,
                       "--detailed-exitcode", "--format", "json")  # fmt: skip
    assert code == 2
    document = json.loads(out)
    assert document["head"]["worktree"] is True
    assert document["head"]["dirty"] == ["manifests/extra.yaml", "manifests/jobs.yaml"]
    assert any("uncommitted changes: manifests/extra.yaml, manifests/jobs.yaml" in n for n in document["notes"])
    field = document["desired"][0]["fields"][0]
    assert (field["before"], field["after"]) == (7200, 60)
    assert field["location"] == f"{history.manifests}/jobs.yaml:6:17"  # the working tree's file, as plan names it


def test_an_invalid_manifest_at_the_base_is_located_in_the_repository(
    history: History, capsys: pytest.CaptureFixture[str]
) -> None:
    history.git.repo.git.checkout("-b", "broken", history.c1)
    bad = JOBS_V1.replace("time_limit: 3600", "time_limit: 1:30")
    broken = history.git.commit("broken", {"manifests/jobs.yaml": bad})
    history.git.repo.git.checkout("main")
    code, out, err = run(capsys, "diff", "--base", "broken", "--jobs-root", history.jobs, history.manifests)
    assert code == 1 and out == ""
    assert f"manifests/jobs.yaml@{broken[:12]}:6:17: error:" in err
    assert "base-60" in err and "Traceback" not in err
    assert str(history.root) not in err and "nbjobs-rev-" not in err  # no scratch paths leak


@pytest.mark.parametrize("revision", ["no-such-branch", "HEAD~9"])
def test_a_revision_that_does_not_exist(history: History, capsys: pytest.CaptureFixture[str], revision: str) -> None:
    code, out, err = run(capsys, "diff", "--base", revision, "--jobs-root", history.jobs, history.manifests)
    assert code == 1 and out == ""
    assert err.startswith(f"Error: revision {revision!r} cannot be read (no such revision)")


def test_a_shallow_clone_without_the_base(history: History, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    clone = tmp_path / "shallow"
    GitRepo.clone_shallow(history.root, clone)
    code, _, err = run(capsys, "diff", "--base", history.c1, "--jobs-root", str(clone / "jobs"),
                       str(clone / "manifests"))  # fmt: skip
    assert code == 1
    assert "this clone is shallow" in err and "fetch-depth: 0" in err and "Traceback" not in err


def test_manifests_that_do_not_exist_at_the_base_are_all_added(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "fresh")
    shutil.copytree(EXAMPLES / "jobs", repo.root / "jobs")
    first = repo.commit("code only")
    second = repo.commit("manifests", {"manifests/jobs.yaml": JOBS_V1, "manifests/queues.yaml": QUEUES_V1})
    comparison = compare(Sources((repo.root / "manifests",), jobs_root=repo.root / "jobs"), first, second)
    assert {c.change for c in comparison.desired} == {Change.ADDED} and len(comparison.desired) == 5
    assert any(f"manifests has no manifests at base {first[:12]}" in note for note in comparison.notes)
    repo.close()


def test_merge_base_compares_with_where_the_branch_started(history: History) -> None:
    history.git.repo.git.checkout("-b", "feature")
    feature = history.git.commit("feature", {"manifests/jobs.yaml": JOBS_V2.replace("7200", "5400")})
    history.git.repo.git.checkout("main")
    history.git.commit("main moves on", {"manifests/queues.yaml": QUEUES_V2 + "  - name: bulk\n    type: celery\n"})
    plain = compare(history.sources(), "main", feature)
    assert {(c.key, c.change) for c in plain.desired} == {("audits.DeviceAudit", Change.CHANGED),
                                                          ("bulk", Change.REMOVED)}  # fmt: skip
    based = compare(history.sources(), "main", feature, merge_base=True)
    assert {(c.key, c.change) for c in based.desired} == {("audits.DeviceAudit", Change.CHANGED)}
    assert based.base.side.revision == history.c3
    assert any("merge base" in note for note in based.notes)


def test_desired_delta_ignores_numeric_types_and_eligible_order() -> None:
    base = desired(entry("a.B", time_limit=3600, job_queues=("b", "a")))
    head = desired(entry("a.B", time_limit=3600.0, job_queues=("a", "b")))
    assert desired_delta(base, head) == ()


@pytest.mark.database
def test_the_head_is_planned_against_a_database(
    history: History, capsys: pytest.CaptureFixture[str], db_target: DatabaseTarget, tmp_path: Path
) -> None:
    url = db_target.url.render_as_string(hide_password=False)
    # The database as c1 left it: sandbox from c1's code, c1's manifests applied.
    history.git.repo.git.checkout(history.c1)
    assert run(capsys, "sandbox", "--jobs-root", history.jobs, "--database-url", url)[0] == 0
    code, _, err = run(capsys, "apply", "--yes", "--jobs-root", history.jobs, "--database-url", url, history.manifests)
    assert code == 0, err
    history.git.repo.git.checkout("main")

    argv = ("diff", "--base", history.c1, "--head", history.c3, "--jobs-root", history.jobs, "--database-url", url,
            history.manifests)  # fmt: skip
    code, out, err = run(capsys, *argv, "--detailed-exitcode")
    assert code == 2, err
    assert "What the head would do in" in out
    assert "~ job audits.ConfigBackup" in out and "enabled: true -> false" in out
    assert "time_limit: 3600 -> 7200   [set override]" in out
    assert "hidden: true -> false   [release override, override flag cleared]" in out
    assert "[waiting-for-refresh] audits.NewAudit" in out

    code, out, _ = run(capsys, *argv, "--format", "json")
    document = json.loads(out)
    assert document["database"] == db_target.display_url
    assert document["plan"]["format_version"] == 1 and document["plan"]["revision"] == history.c3[:12]
    assert document["summary"]["plan"]["disabled"] == 1 and document["summary"]["plan"]["overrides_released"] == 2

    code, out, _ = run(capsys, *argv, "--format", "markdown")
    assert f"Planned against `{db_target.display_url}` with manifests at `{history.c3[:12]}`." in out
    destructive = out.index("#### Database: Destructive changes (3)")
    assert destructive < out.index("#### Desired state") < out.index("#### Database: Changes per job")
    assert "- **disable** `audits.ConfigBackup`" in out
    assert ("- **release** the override of `hidden` of `vendor_x.sync.PushConfig`: `true`, back to the code's `false`"
            in out)  # fmt: skip


@pytest.mark.database
def test_a_head_that_cannot_be_planned_still_shows_the_diff(
    history: History, capsys: pytest.CaptureFixture[str], db_target: DatabaseTarget
) -> None:
    url = db_target.url.render_as_string(hide_password=False)
    assert run(capsys, "sandbox", "--jobs-root", history.jobs, "--database-url", url)[0] == 0
    manifest = "apiVersion: nbjobs/v1\nkind: Jobs\njobs:\n  - match: ghost.Job\n    enabled: true\n"
    ghost = history.git.commit("ghost", {"manifests/ghost.yaml": manifest})
    for fmt in ("text", "markdown", "json"):
        code, out, err = run(capsys, "diff", "--base", history.c3, "--head", ghost, "--jobs-root", history.jobs,
                             "--database-url", url, "--format", fmt, history.manifests)  # fmt: skip
        assert code == 1 and "the head cannot be planned" in err
        assert f"manifests/ghost.yaml@{ghost[:12]}:4:12" in out
        assert "exists neither in the job code nor in the database" in out
