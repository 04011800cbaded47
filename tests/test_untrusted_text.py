"""Text a pull request controls (manifest strings and file names), or the database holds, shown by nbjobs:
in the Markdown comment it cannot inject HTML, links, images, comments or table cells, nor ping anyone;
in terminal output (the plan, the diff, status, errors) it cannot start a line of its own or act on the
terminal (escape sequences, carriage returns, bidi overrides).

The comment is rendered by a CommonMark renderer with GFM tables and raw HTML passed through
(markdown-it), and the HTML it makes is checked tag by tag: what our escaping lets through, GitHub's
renderer would show too.
"""

from __future__ import annotations

import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from uuid import uuid4

import pytest
from common import EXAMPLES, clear_settings_environment
from markdown_it import MarkdownIt

from reconciler.cli import main
from reconciler.diagnostics import Diagnostic, Location, printable
from reconciler.loop.status import TargetStatus
from reconciler.loop.status import render_text as render_status
from reconciler.plan.operations import (
    CreateQueue,
    DeleteJob,
    DisableReceivers,
    DisableSchedules,
    JobRef,
    Named,
    Note,
    NoteKind,
    Plan,
    Provenance,
    Retirement,
    SetEnabled,
    SetField,
    UpdateQueue,
    Verdict,
)
from reconciler.render.markdown import ZERO_WIDTH_JOINER, code, plain, render_markdown
from reconciler.render.text import render_text
from reconciler.review.render import render_diff_markdown, render_diff_text
from reconciler.review.types import Change, CodeChange, EntryChange, FieldChange, Review, Section, Side

NBJOBS = str(Path(sys.executable).parent / "nbjobs")

# What a hostile pull request writes. Each is short enough not to be shortened in a table cell.
HOSTILE = [
    "<img src=x onerror=alert(1)>",
    "<details open><summary>fake</summary>",
    "</code></summary></details><script>alert(1)</script>",
    "<!-- hidden --> text",
    "[click](javascript:alert(1)) and <https://evil.example>",
    "![pixel](https://evil.example/p.png)",
    "cell | break | here",
    "back\\|slash \\\\| pipes",
    "line one\n\n# Heading\n| a | b |\n|---|---|",
    "ping @octocat and @acme/security-team, (@x) -@y",
    "`` ` `` ```fence```",
    "&lt;img src=x&gt; &#64;user &amp;",
    "$$\\huge{MATH}$$ and $x$",
    "*bold* _em_ ~~strike~~ **x**",
    "esc \x1b[2J\x1b]0;title\x07 csi \x9b31m bell \x07 nul \x00 del \x7f",
    "bidi \u202eevil\u202c zero\u200bwidth",
    "carriage\roverwrite\r\n::error file=x::injected",
]
# The tags our own layout uses; anything else in the HTML came from a hostile string.
LAYOUT_TAGS = {"p", "h3", "h4", "ul", "li", "strong", "em", "code", "table", "thead", "tbody", "tr", "th", "td",
               "details", "summary", "b", "sub", "blockquote"}  # fmt: skip
MENTION = re.compile(r"(?<![A-Za-z0-9])@[A-Za-z0-9]")
UNPRINTABLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b\u202a-\u202e\u2066-\u2069]")


def loc(payload: str, line: int = 1) -> Location:
    return Location(f"manifests/{payload}.yaml", line, 3)


def hostile_plan(payload: str) -> Plan:
    """A plan in which every string a manifest, the code or the database supplies is `payload`."""
    job = JobRef(uuid4(), f"ops.{payload}", payload)
    provenance = Provenance(code=payload, database=payload, database_override=False, manifest=payload,
                            manifest_location=loc(payload, 2), why=payload)  # fmt: skip
    other = JobRef(uuid4(), "ops.Other", payload)
    named = (Named(uuid4(), payload),)
    return Plan(
        operations=(
            CreateQueue(payload, "celery", payload, payload, loc(payload, 3)),
            UpdateQueue(uuid4(), payload, (("description", payload, payload),), loc(payload, 4)),
            SetField(
                job,
                "description",
                payload,
                f"{payload}!",
                False,
                True,
                Verdict.SET_OVERRIDE,
                provenance,
                remark=payload,
            ),
            SetField(
                job, "job_queues", (payload,), (payload, "default"), False, True, Verdict.SET_OVERRIDE, provenance
            ),
            SetEnabled(job, False, True, loc(payload, 5), why=payload),
            SetEnabled(other, True, False, loc(payload, 6), why=payload),
            SetField(other, "grouping", payload, "code", True, False, Verdict.RELEASE_OVERRIDE, provenance),
            DisableReceivers(other, named, named),
            DisableSchedules(other, named, named),
            DeleteJob(other, False, 3, loc(payload, 7), why=payload),
        ),
        notes=(Note(NoteKind.UNMANAGED, payload, job=payload, location=loc(payload, 8)),),
        managed_jobs=2,
        database=payload,
        retirements=(Retirement(f"ops.{payload}", loc(payload, 9), 2, (payload,), (payload,), payload),),
    )


def hostile_review(payload: str) -> Review:
    field = FieldChange(payload, payload, f"{payload}!", loc(payload, 2))
    return Review(
        base=Side(payload, "a" * 40), head=Side(payload, "b" * 40, worktree=True, dirty=(payload,)),
        desired=(EntryChange(Section.JOBS, payload, Change.CHANGED, (field,), loc(payload)),
                 EntryChange(Section.QUEUES, payload, Change.ADDED, (FieldChange("description", None, payload),))),
        code=(CodeChange(f"ops.{payload}", Change.CHANGED, (field,), loc(payload, 3)),),
        notes=(payload,), plan=hostile_plan(payload), database="test",
        plan_errors=(Diagnostic(loc(payload, 4), payload),),
    )  # fmt: skip


class Walker(HTMLParser):
    """The rendered comment's tags, attributes, comments, and its text outside code spans."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attributes: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.comments: list[str] = []
        self.text: list[str] = []
        self.code_text: list[str] = []
        self.in_code = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if attrs:
            self.attributes.append((tag, attrs))
        self.in_code += tag == "code"

    def handle_endtag(self, tag: str) -> None:
        self.in_code -= tag == "code"

    def handle_comment(self, data: str) -> None:
        self.comments.append(data)

    def handle_data(self, data: str) -> None:
        (self.code_text if self.in_code else self.text).append(data)


def rendered(markdown: str) -> Walker:
    renderer = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
    walker = Walker()
    walker.feed(renderer.render(markdown))
    walker.close()
    return walker


def assert_safe_comment(markdown: str, marker: str) -> Walker:
    walker = rendered(markdown)
    assert set(walker.tags) <= LAYOUT_TAGS, sorted(set(walker.tags) - LAYOUT_TAGS)
    assert all(tag in ("th", "td") and [name for name, _ in attrs] == ["style"] for tag, attrs in walker.attributes), (
        walker.attributes)  # fmt: skip
    assert walker.comments == [f" nbjobs:{marker} "]
    outside = "".join(walker.text)
    assert not MENTION.search(outside), MENTION.findall(outside)
    assert not UNPRINTABLE.search(markdown), UNPRINTABLE.findall(markdown)
    _assert_tables_keep_their_columns(markdown)
    return walker


def _assert_tables_keep_their_columns(markdown: str) -> None:
    """Every row of a table has as many cells as its header, counting pipes as GFM does (a pipe after a
    backslash belongs to the cell, in a code span too)."""
    columns = None
    for line in markdown.splitlines():
        if not line.startswith("|"):
            columns = None
            continue
        cells = len(re.findall(r"(?<!\\)\|", line)) - 1
        if columns is None:
            columns = cells
        assert cells == columns, line


@pytest.mark.parametrize("payload", HOSTILE)
@pytest.mark.parametrize("fold_jobs", [5, 0])
def test_no_string_of_a_plan_escapes_its_place_in_the_comment(payload: str, fold_jobs: int) -> None:
    from reconciler.render import markdown as md

    plan = hostile_plan(payload)
    ctx = md.PlanContext(fold_jobs=fold_jobs)
    head = ("### nbjobs plan", md.summary_line(plan), md.against_line(plan.database, None))
    comment = md.compose(md.Comment(head, md.plan_blocks(plan, ctx)))
    walker = assert_safe_comment(comment, "plan")
    # Each string is still shown, whole: in code spans as written (a newline as ⏎), in free text on one line.
    shown = printable(payload.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "⏎"))
    assert shown in "".join(walker.code_text)
    free = printable(payload.replace("\r\n", "\n").replace("\r", "\n").replace("\n", " "))
    assert free in "".join(walker.text).replace(ZERO_WIDTH_JOINER, "")


@pytest.mark.parametrize("payload", HOSTILE)
def test_no_string_of_a_diff_escapes_its_place_in_the_comment(payload: str) -> None:
    comment = render_diff_markdown(hostile_review(payload))
    assert_safe_comment(comment, "diff")
    assert render_markdown(hostile_plan(payload)).count("<details>") == render_markdown(hostile_plan("x")).count(
        "<details>")  # fmt: skip


def test_mentions_are_broken_and_addresses_kept() -> None:
    text = plain("ask @octocat, @acme/security-team or ops@example.com")
    assert text == f"ask @{ZERO_WIDTH_JOINER}octocat, @{ZERO_WIDTH_JOINER}acme/security-team or ops@example.com"
    assert code("@octocat") == "`@octocat`"  # a code span pings no one: shown as written


@pytest.mark.parametrize("payload", HOSTILE)
def test_terminal_output_keeps_every_string_on_its_line_and_acts_on_nothing(payload: str) -> None:
    plan = hostile_plan(payload)
    outputs = {
        "plan": render_text(plan),
        "diff": render_diff_text(hostile_review(payload)),
        "status": render_status([_status(payload)]),
        "diagnostic": str(Diagnostic(loc(payload), f"unknown field `{payload}`")),
    }
    clean = render_text(hostile_plan("x"))
    for name, text in outputs.items():
        assert not UNPRINTABLE.search(text.replace("\t", "")), (name, UNPRINTABLE.findall(text))
        assert "\r" not in text and "\x1b" not in text, name
        for line in text.splitlines():
            assert not line.lstrip().startswith("::"), (name, line)  # a GitHub Actions workflow command
    assert len(outputs["plan"].splitlines()) == len(clean.splitlines())  # no string added a line


def _status(payload: str) -> TargetStatus:
    from datetime import UTC, datetime

    from reconciler.config import Settings
    from reconciler.state.runs import RunRecord

    now = datetime.now(UTC)
    entry = {"job": payload, "field": "grouping", "desired": payload, "actual": [payload], "attribution": payload}
    record = RunRecord(
        id=uuid4(), target="default", started_at=now, finished_at=now, duration_seconds=1.0, host="h",
        revision="a" * 40, policy="detect", prune=False, state="error", observed="error", action="failed",
        message=payload, rows_fingerprint=None, code_fingerprint=None, permanent_error=True,
        drift=[entry, {**entry, "healed": True}], pending=[{"job": payload, "step": 4, "reason": payload,
                                                             "location": payload}],
        errors=[{"message": payload, "location": payload, "transient": False}], apply_id=None, preflight=None,
        interval_seconds=300.0,
    )  # fmt: skip
    settings = Settings()
    return TargetStatus(settings.target(), record, 300.0)


# -- End to end: a hostile manifest, and a hostile file name, through the real CLI ------------------------------

HOSTILE_MANIFEST = """apiVersion: nbjobs/v1
kind: Jobs
queues:
  - name: "q|<img src=x onerror=alert(1)>@acme-team"
    type: celery
    description: "<!-- c --> @someone [x](javascript:alert(1)) ![i](http://e/x.png)\\n\\n<details>\\e[2J\\e]0;t\\a"
jobs:
  - match: audits.DeviceAudit
    enabled: true
    grouping: "G <script>x</script> | pipe\\n| a | b |\\n@acme/team \\e[31mRED\\e[0m"
    name: "Name <b>bold</b> @alice\\n\\n![t](http://evil/t.png)"
    description: "line1\\r\\n::error::injected\\e[2K\\rover \\u202eevil"
    why: "Why @acme/team <!-- c --> <img src=x> [l](javascript:alert(1)) | \\n\\n# Heading\\n::warning::x \\e[2J"
"""
BROKEN_MANIFEST = """apiVersion: nbjobs/v1
kind: Jobs
jobs:
  - match: "audits.Nope\\e[2J\\n::error::x"
    enabled: true
    "grp\\e[31m\\n::warning::k": 1
  - match: audits.DeviceAudit
    enabled: "yes\\e[2J\\n::error::v @acme/team"
"""
FILE_NAME = "a|b`<img src=x>@octo\n::error::name\x1b[2J.yaml"


@pytest.fixture
def hostile_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, str]:
    """Job code, a sandbox database, and manifests whose strings and file name are hostile."""
    import shutil

    clear_settings_environment(monkeypatch)
    monkeypatch.chdir(tmp_path)
    jobs = tmp_path / "jobs"
    shutil.copytree(EXAMPLES / "jobs", jobs)
    database = f"sqlite:///{tmp_path / 'nautobot.db'}"
    assert main(["sandbox", "--jobs-root", str(jobs), "--database-url", database]) == 0
    assert main(["db", "upgrade", "--database-url", database]) == 0
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (manifests / FILE_NAME).write_text(HOSTILE_MANIFEST)
    return jobs, manifests, database


def _nbjobs(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """A command through the CLI's main, as every command runs."""
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _assert_terminal_safe(output: str) -> None:
    assert "\x1b" not in output and "\r" not in output and "\u202e" not in output, output
    assert not [line for line in output.splitlines() if line.lstrip().startswith("::")], output


def test_a_hostile_manifest_through_the_cli(
    hostile_repo: tuple[Path, Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    jobs, manifests, database = hostile_repo
    common = ("--jobs-root", str(jobs), "--database-url", database, str(manifests))
    code, out, _ = _nbjobs(capsys, "plan", "--format", "markdown", *common)
    assert code == 0, out
    walker = assert_safe_comment(out, "plan")
    assert "G <script>x</script> | pipe⏎| a | b |⏎@acme/team \\x1b[31mRED\\x1b[0m" in "".join(walker.code_text)
    assert "Why @acme/team <!-- c --> <img src=x>" in "".join(walker.text).replace(ZERO_WIDTH_JOINER, "")

    # As a user runs it: the executable, its streams as a CI log records them.
    text = subprocess.run([NBJOBS, "plan", *common], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert text.returncode == 0, text
    _assert_terminal_safe(text.stdout + text.stderr)
    assert "why: Why @acme/team <!-- c --> <img src=x> [l](javascript:alert(1)) | \\n\\n# Heading\\n::warning::x" in (
        text.stdout)  # fmt: skip
    assert "a|b`<img src=x>@octo\\n::error::name\\x1b[2J.yaml:" in text.stdout  # the file name, on its line

    # Applied: the history and `get -o wide` show the same strings, each on its line.
    code, out, err = _nbjobs(capsys, "apply", "--yes", "--as", "admin", *common)
    assert code == 0, out + err
    _assert_terminal_safe(out + err)
    code, out, _ = _nbjobs(capsys, "history", "--database-url", database)
    apply_id = out.splitlines()[1].split()[0]
    for argv in (("history", apply_id, "--database-url", database),
                 ("get", "-o", "wide", "--database-url", database, "--manifests", str(manifests))):  # fmt: skip
        code, out, err = _nbjobs(capsys, *argv)
        assert code == 0, out + err
        _assert_terminal_safe(out + err)
    assert "Name <b>bold</b> @alice\\n\\n![t](http://evil/t.png)" in out, out

    (manifests / FILE_NAME).write_text(BROKEN_MANIFEST)
    for command in ("validate", "plan"):
        argv = ("--jobs-root", str(jobs), str(manifests)) if command == "validate" else common
        code, out, err = _nbjobs(capsys, command, *argv)
        assert code == 1, out + err
        _assert_terminal_safe(out + err)
        assert "unknown field `grp\\x1b[31m\\n::warning::k`" in err, err
        assert len([line for line in err.splitlines() if ": error: " in line]) == 3, err
