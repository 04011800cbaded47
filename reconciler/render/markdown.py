"""The plan as Markdown, for a pull-request or merge-request comment.

A comment is a head (a marker, a title, the one-line summary, what it was planned against) and a list of
blocks. Each block is built by one function from the plan (`PLAN_SECTIONS`), so a new kind of content
(permissions, blocked retirements...) is one more function in that list. Blocks hold items (table rows,
bullets, one folded block per job) that `compose` cuts from the least important blocks first when the
comment would exceed `limit` characters (GitHub refuses comments over 65,536), saying what it left out.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from reconciler import __version__
from reconciler.diagnostics import Location, printable
from reconciler.gitrev import RevisionError, open_repository
from reconciler.manifest.types import PinValue
from reconciler.plan.operations import (
    CreateQueue,
    DeleteJob,
    DisableReceivers,
    DisableSchedules,
    Note,
    Operation,
    Plan,
    Provenance,
    Retirement,
    SetEnabled,
    SetField,
    UpdateQueue,
    Verdict,
)
from reconciler.plan.permissions import required_permissions
from reconciler.plan.summary import Summary, plural

COMMENT_LIMIT = 65_536  # characters in a GitHub comment (GitLab allows more)
CELL_LIMIT = 120  # characters of one value shown in a table cell
FOLD_JOBS = 5  # a plan changing more jobs than this folds each job into its own <details>
FOLD_ITEMS = 10  # a list longer than this (notes...) folds into <details>
PLAN_MARKER = "<!-- nbjobs:plan -->"


# -- The comment and its blocks ------------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    """One section of a comment.

    `items` are cut from the end when the comment is too long: blocks of lower `priority` lose theirs
    first. `lead` (a table header...) is shown whenever any item is. `fold` puts the block in a
    <details> element with `title` as its summary.
    """

    key: str
    title: str
    items: tuple[str, ...]
    lead: str = ""
    joiner: str = "\n"
    priority: int = 50
    fold: bool = False
    unit: str = "items"

    def render(self, shown: int, heading: str = "####") -> str:
        parts: list[str] = []
        if shown:
            items = self.joiner.join(self.items[:shown])
            parts.append(f"{self.lead}{self.joiner}{items}" if self.lead else items)
        hidden = len(self.items) - shown
        if hidden:
            parts.append(
                f"_… {hidden} more {self.unit} not shown: the comment would exceed its size limit. "
                "Run nbjobs for the full output._"
            )
        body = "\n\n".join(parts)
        if self.fold:
            return f"<details><summary><b>{inline_html(self.title)}</b></summary>\n\n{body}\n\n</details>"
        return f"{heading} {self.title}\n\n{body}"


@dataclass(frozen=True)
class Comment:
    head: tuple[str, ...]
    blocks: tuple[Block, ...]
    marker: str = PLAN_MARKER
    foot: str = f"<sub>nbjobs {__version__}</sub>"
    heading: str = "####"


def compose(comment: Comment, limit: int = COMMENT_LIMIT) -> str:
    """The comment's Markdown, at most `limit` characters: the most important blocks keep their items,
    the others lose theirs from the end, and a line at the top says what was cut."""
    blocks = [b for b in comment.blocks if b.items]
    shown = {b.key: len(b.items) for b in blocks}
    text = _render(comment, blocks, shown, limit)
    if len(text) <= limit:
        return text
    # Fit greedily, most important first; each block's fixed part (title, lead, omission line) is reserved.
    reserve = sum(len(b.render(0, comment.heading)) + len(b.lead) + 40 for b in blocks)
    budget = limit - reserve - len(_render(comment, [], {}, limit)) - _BANNER_RESERVE
    for block in sorted(blocks, key=lambda b: -b.priority):
        count = 0
        for item in block.items:
            cost = len(item) + len(block.joiner)
            if cost > budget:
                break
            budget -= cost
            count += 1
        shown[block.key] = count
    text = _render(comment, blocks, shown, limit)
    while len(text) > limit:  # the estimate was short: drop one more item from the least important block
        left = [b for b in blocks if shown[b.key]]
        if not left:
            break  # only titles are left: a limit this small cannot be met
        block = min(left, key=lambda b: b.priority)
        shown[block.key] -= 1
        text = _render(comment, blocks, shown, limit)
    return text


_BANNER_RESERVE = 600


def _render(comment: Comment, blocks: Sequence[Block], shown: dict[str, int], limit: int) -> str:
    parts = [comment.marker, *comment.head] if comment.marker else list(comment.head)
    cut = [(b, len(b.items) - shown[b.key]) for b in blocks if shown[b.key] < len(b.items)]
    if cut:
        what = "; ".join(f"{hidden} of {len(b.items)} {b.unit} in “{b.title}”" for b, hidden in cut[:6])
        parts.append(
            f"> **Shortened** to fit the {limit:,}-character limit of a comment. Not shown: {what}. "
            "The full plan is in the pipeline's log."
        )
    parts += [b.render(shown[b.key], comment.heading) for b in blocks]
    if comment.foot:
        parts.append(comment.foot)
    return "\n\n".join(parts) + "\n"


# -- Markdown text ---------------------------------------------------------------------------------------


def code(text: str, *, table: bool = True, limit: int = CELL_LIMIT) -> str:
    """`text` as an inline code span that cannot break out of a table cell or a line (an empty text is
    `""`: an empty span is no span in Markdown, only two stray backticks). Inside a span HTML is text and
    an @mention pings no one; control characters are shown as escapes (the comment is also printed in
    pipeline logs)."""
    if not text:
        return '`""`'
    text = printable(text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "⏎"))
    if len(text) > limit:
        text = f"{text[: limit - 1]}…"
    if table:
        text = text.replace("|", "\\|")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    # CommonMark strips one space from each end of a span that starts and ends with one (unless all spaces).
    edges = text.startswith("`") or text.endswith("`") or (text[:1] == text[-1:] == " " and text.strip() != "")
    pad = " " if edges else ""
    return f"{fence}{pad}{text}{pad}{fence}"


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|~$])")  # `$`: GitHub renders $...$ as math
# An @mention as GitHub finds one: `@` not after a letter or digit (an e-mail address is no mention),
# before a user, an organisation or `org/team`.
_MENTION = re.compile(r"(?<![A-Za-z0-9])@(?=[A-Za-z0-9])")
ZERO_WIDTH_JOINER = "\u200d"


def plain(text: str) -> str:
    """Free text (a `why`, a note) shown as text on one line: Markdown and HTML in it are not interpreted,
    and an @mention in it pings no one."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", _one_line(text).replace("&", "&amp;"))


def inline_html(text: str) -> str:
    """Free text inside an HTML element of the comment (a <summary>): tags escaped, on one line, and an
    @mention in it pings no one."""
    return html.escape(_one_line(text))


def _one_line(text: str) -> str:
    """`text` on one line, its control characters shown as escapes, its @mentions broken by a zero-width
    joiner after the `@` (shown the same; GitHub no longer sees a name to notify)."""
    text = printable(text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", " "))
    return _MENTION.sub("@" + ZERO_WIDTH_JOINER, text)


def value(v: PinValue | None, *, table: bool = True) -> str:
    """A field value as a reader expects it: numbers without a needless .0, lists in brackets."""
    if v is None:
        return "_unknown_"
    if isinstance(v, bool):
        return code("true" if v else "false", table=table)
    if isinstance(v, float) and v.is_integer():
        return code(str(int(v)), table=table)
    if isinstance(v, tuple):
        return code("[" + ", ".join(v) + "]", table=table)
    if isinstance(v, str):
        return code(v, table=table) if v else '`""`'
    return code(str(v), table=table)


def table(header: Sequence[str]) -> str:
    return "| " + " | ".join(header) + " |\n|" + "|".join("---" for _ in header) + "|"


def row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def bullets(lines: Sequence[str]) -> tuple[str, ...]:
    return tuple(f"- {line}" for line in lines)


# -- The plan --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanContext:
    """What a plan's blocks may need besides the plan; `title_prefix` lets another report embed them."""

    revision: str | None = None
    fold_jobs: int = FOLD_JOBS
    title_prefix: str = ""
    extra: dict[str, object] = field(default_factory=dict)
    root: Path | None = None  # locations under it are shown relative to it (the repository's root)

    def where(self, location: Location | None) -> str:
        """A location as the comment shows it: relative to `root` when the file lies under it (a pipeline
        may name the manifests by an absolute path, or from a subdirectory), else as it was read."""
        if location is None:
            return ""
        if self.root is None or not location.file:
            return str(location)
        path = Path(location.file)
        resolved = (path if path.is_absolute() else Path.cwd() / path).resolve()
        if not resolved.is_relative_to(self.root):
            return str(location)
        return str(replace(location, file=resolved.relative_to(self.root).as_posix()))


SectionBuilder = Callable[[Plan, PlanContext], Block | None]


def is_destructive(op: Operation) -> bool:
    """What a reviewer must not miss: deletions, disables, released overrides. The comment lists these
    first, and only there."""
    if isinstance(op, DeleteJob | DisableSchedules | DisableReceivers):
        return True
    if isinstance(op, SetEnabled):
        return op.before and not op.after
    return isinstance(op, SetField) and op.verdict is Verdict.RELEASE_OVERRIDE


def destructive_block(plan: Plan, ctx: PlanContext) -> Block | None:
    """Deletions, disabled jobs and released overrides, first: what a reviewer must not miss."""
    deletions, disables, releases = [], [], []
    for op in plan.operations:
        if isinstance(op, DeleteJob):
            purged = dict(plan.purges).get(op.job.class_path)
            results = (f"its {plural(purged, 'result')} purged in batches" if purged else
                       f"its {plural(op.results, 'result')} kept, their job link nulled" if op.results else
                       "it has no results")  # fmt: skip
            why = f" Why: {plain(op.why)}" if op.why else ""
            job, where = code(op.job.class_path, table=False), code(ctx.where(op.location), table=False)
            deletions.append(f"**delete** {job} with its buttons and hooks; {results}, at {where}.{why}")
        elif isinstance(op, DisableSchedules):
            canceled = f", cancel {plural(len(op.approvals), 'pending approval')}" if op.approvals else ""
            names = ", ".join(code(s.name, table=False) for s in op.schedules)
            disables.append(f"**disable schedules** of {code(op.job.class_path, table=False)}: {names}{canceled}")
        elif isinstance(op, DisableReceivers):
            names = ", ".join(code(r.name, table=False) for r in (*op.buttons, *op.hooks))
            disables.append(f"**disable buttons and hooks** of {code(op.job.class_path, table=False)}: {names}")
        elif isinstance(op, SetEnabled) and is_destructive(op):
            why = f" Why: {plain(op.why)}" if op.why else ""
            where = code(ctx.where(op.location), table=False)
            disables.append(f"**disable** {code(op.job.class_path, table=False)}, at {where}.{why}")
        elif isinstance(op, SetField) and is_destructive(op):
            after = "the value is kept" if op.remark else f"back to the code's {value(op.after, table=False)}"
            releases.append(
                f"**release** the override of {code(op.field, table=False)} of {code(op.job.class_path, table=False)}: "
                f"{value(op.before, table=False)}, {after} (no manifest pins it any more)"
            )
    lines = deletions + disables + releases
    if not lines:
        return None
    return Block("destructive", f"{ctx.title_prefix}Destructive changes ({len(lines)})", bullets(lines),
                 priority=100, unit="changes")  # fmt: skip


def queue_block(plan: Plan, ctx: PlanContext) -> Block | None:
    rows = []
    for op in plan.operations:
        if isinstance(op, CreateQueue):
            where = f" at {code(ctx.where(op.location))}" if op.location else ""
            detail = f"{op.queue_type}; {plain(op.reason)}{where}"
            if op.description:
                detail += f"; description {code(op.description)}"
            rows.append(row([code(op.name), "create", detail]))
        elif isinstance(op, UpdateQueue):
            changes = ", ".join(f"{column}: {value(before)} → {value(after)}" for column, before, after in op.changes)
            rows.append(row([code(op.name), "update", f"{changes} at {code(ctx.where(op.location))}"]))
    if not rows:
        return None
    return Block("queues", f"{ctx.title_prefix}Queues ({len(rows)})", tuple(rows), lead=table(["Queue", "Change",
                 "Details"]), priority=80, unit="queues", fold=len(rows) > FOLD_ITEMS)  # fmt: skip


def job_block(plan: Plan, ctx: PlanContext) -> Block | None:
    """One item per job: its changes in a table, with where each value comes from (the destructive ones
    are listed first, in their own block, and not again here). A plan that changes many jobs folds each
    into its own <details>."""
    jobs: dict[str, list[SetField | SetEnabled]] = {}
    for op in plan.operations:
        if isinstance(op, SetField | SetEnabled) and not is_destructive(op):
            jobs.setdefault(op.job.class_path, []).append(op)
    if not jobs:
        return None
    fold = len(jobs) > ctx.fold_jobs
    items = tuple(_job_item(ops, fold, ctx) for _, ops in sorted(jobs.items()))
    return Block("jobs", f"{ctx.title_prefix}Changes per job ({len(jobs)})", items, joiner="\n\n", priority=60,
                 unit="jobs")  # fmt: skip


def _job_item(ops: Sequence[SetField | SetEnabled], fold: bool, ctx: PlanContext) -> str:
    job = ops[0].job
    rows = [table(["Field", "Change", "Verdict", "Provenance: code · database · manifest"])]
    for op in ops:
        if isinstance(op, SetEnabled):
            rows.append(row(["`enabled`", f"{value(op.before)} → {value(op.after)}", "set",
                             f"database {value(op.before)} · manifest at {code(ctx.where(op.location))}"]))  # fmt: skip
            continue
        verdict = str(op.verdict)
        if op.before == op.after:  # only the flag moves: its column is what changes
            name, change = f"{op.field}_override", f"{value(op.override_before)} → {value(op.override_after)}"
            verdict += f" ({code(op.field)} stays {value(op.after)})"
        else:
            name, change = op.field, f"{value(op.before)} → {value(op.after)}"
            if op.override_before != op.override_after:
                verdict += ", flag " + ("set" if op.override_after else "cleared")
        if op.remark:
            verdict += f" ({plain(op.remark)})"
        rows.append(row([code(name), change, verdict, _provenance(op.provenance, ctx)]))
    whys = dict.fromkeys(w for op in ops if (w := op.why if isinstance(op, SetEnabled) else op.provenance.why))
    why = "".join(f"\n\nWhy: {plain(w)}" for w in whys)
    name = f" ({inline_html(job.name)})" if job.name != job.class_path.rpartition(".")[2] else ""
    if fold:
        summary = f"<code>{inline_html(job.class_path)}</code>{name}: {plural(len(ops), 'change')}"
        return f"<details><summary>{summary}</summary>\n\n" + "\n".join(rows) + f"{why}\n\n</details>"
    title = f"**{code(job.class_path, table=False)}**" + (f" ({plain(job.name)})" if name else "")
    return title + "\n\n" + "\n".join(rows) + why


def _provenance(p: Provenance, ctx: PlanContext) -> str:
    flag = "overridden" if p.database_override else "from code"
    parts = [f"code {value(p.code)}", f"database {value(p.database)} ({flag})"]
    if p.manifest is not None:
        where = f" at {code(ctx.where(p.manifest_location))}" if p.manifest_location else ""
        parts.append(f"manifest {value(p.manifest)}{where}")
    return " · ".join(parts)


def note_block(plan: Plan, ctx: PlanContext) -> Block | None:
    if not plan.notes:
        return None
    items = bullets([_note(note, ctx) for note in plan.notes])
    return Block("notes", f"{ctx.title_prefix}Notes ({len(items)})", items, priority=20, unit="notes",
                 fold=len(items) > FOLD_ITEMS)  # fmt: skip


def _note(note: Note, ctx: PlanContext) -> str:
    subject = f"{code(note.job, table=False)}: " if note.job else ""
    where = f" ({code(ctx.where(note.location), table=False)})" if note.location else ""
    return f"`{note.kind}` {subject}{plain(note.message)}{where}"


def retirement_block(plan: Plan, ctx: PlanContext) -> Block | None:
    """Where each retirement that moves, or is held up, stands: the step, what blocks it, what comes next.
    What it changes this run is in the destructive changes; a retirement that is done is left out."""
    shown = [r for r in plan.retirements if _retirement_moves(r)]
    if not shown:
        return None
    rows = tuple(
        row([code(r.class_path), f"{r.step} ({r.step_name})", plain("; ".join(r.blockers)) or "—",
             plain(r.next_run) if r.step < 6 else "—"])
        for r in shown
    )  # fmt: skip
    blocked = sum(1 for r in shown if r.blockers)
    title = f"{ctx.title_prefix}Retirements ({len(rows)}, {blocked} blocked)"
    lead = table(["Job", "Step", "Blocked by", "Next run"])
    return Block("retirements", title, rows, lead=lead, priority=90, unit="retirements", fold=len(rows) > FOLD_ITEMS)


def _retirement_moves(r: Retirement) -> bool:
    return bool(r.this_run or r.blockers or r.awaiting_prune)


def permission_block(plan: Plan, ctx: PlanContext) -> Block | None:
    """What a Nautobot user needs to apply this plan as themselves (apply --as)."""
    grouped: dict[str, list[str]] = {}
    for requirement in required_permissions(plan):
        grouped.setdefault(requirement.permission, []).append(requirement.label)
    if not grouped:
        return None
    items = bullets([f"{code(p, table=False)}: {plain(', '.join(sorted(objects)))}" for p, objects in grouped.items()])
    return Block("permissions", f"{ctx.title_prefix}Permissions the apply needs", items, priority=40,
                 unit="permissions", fold=True)  # fmt: skip


# The blocks of a plan comment, in order. Add a builder here for a new kind of content.
PLAN_SECTIONS: list[SectionBuilder] = [
    destructive_block, retirement_block, queue_block, job_block, permission_block, note_block,
]  # fmt: skip


def plan_blocks(plan: Plan, ctx: PlanContext) -> tuple[Block, ...]:
    return tuple(block for build in PLAN_SECTIONS if (block := build(plan, ctx)) is not None)


def summary_line(plan: Plan) -> str:
    if plan.is_empty:
        return (f"**No changes.** The database matches the manifests and the code "
                f"({plural(plan.managed_jobs, 'managed job')}).")  # fmt: skip
    return f"**{Summary.of(plan).line()}**"


def against_line(database: str, revision: str | None) -> str:
    manifests = f" with manifests at {code(revision, table=False)}" if revision else ""
    return f"Planned against {code(database, table=False)}{manifests}."


def render_markdown(plan: Plan, *, revision: str | None = None, limit: int = COMMENT_LIMIT,
                    title: str = "nbjobs plan", extra: tuple[Block, ...] = (),
                    root: Path | None = None) -> str:  # fmt: skip
    """The plan as a comment: summary, what it was planned against, destructive changes first, then the
    queues, the changes per job with their provenance, and the notes (and `extra` blocks, such as queue
    readiness); at most `limit` characters. Locations are shown relative to `root`, by default the root of
    the git repository that holds the manifests."""
    ctx = PlanContext(revision=revision, root=root if root is not None else repository_root(plan))
    head = (f"### {title}", summary_line(plan), against_line(plan.database, revision))
    return compose(Comment(head, plan_blocks(plan, ctx) + extra), limit)


def repository_root(plan: Plan) -> Path | None:
    """The root of the git repository holding the first file the plan's locations name, if any."""
    for location in _locations(plan):
        path = Path(location.file)
        if location.file and path.is_file():
            try:
                with open_repository(path) as repository:
                    return repository.root
            except RevisionError:
                return None
    return None


def _locations(plan: Plan) -> list[Location]:
    found: list[Location] = []
    for op in plan.operations:
        if isinstance(op, SetField):
            found += [op.provenance.manifest_location] if op.provenance.manifest_location else []
        elif isinstance(op, SetEnabled | DeleteJob | UpdateQueue | CreateQueue) and op.location is not None:
            found.append(op.location)
    found += [r.location for r in plan.retirements]
    found += [note.location for note in plan.notes if note.location is not None]
    return found
