"""A change between two ends (a base revision, and a head revision or the working tree): what it does to
the desired state and to the code, and, given a database snapshot, what the head would do there."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from reconciler.gitrev import open_repository
from reconciler.nautobot.records import Snapshot
from reconciler.plan.planner import PlanningError, PlanSettings, plan
from reconciler.review.delta import code_delta, desired_delta
from reconciler.review.revisions import Loaded, Sources, load_revision, load_worktree
from reconciler.review.types import CodeChange, EntryChange, Review


@dataclass(frozen=True)
class Comparison:
    base: Loaded
    head: Loaded
    desired: tuple[EntryChange, ...]
    code: tuple[CodeChange, ...]
    notes: tuple[str, ...] = ()


def compare(sources: Sources, base: str, head: str | None = None, *, merge_base: bool = False) -> Comparison:
    """Load both ends from the repository that holds the first manifest path and compare them.

    `head` None is the working tree (what `nbjobs plan` would read); with `merge_base`, the base is the
    best common ancestor of `base` and the head commit, as a pull request's own diff is.
    """
    start = sources.manifests[0] if sources.manifests else Path.cwd()
    with open_repository(start) as repo:
        head_revision = repo.resolve(head) if head is not None else None
        base_revision = repo.resolve(base)
        notes: list[str] = []
        if merge_base:
            tip = head_revision or repo.head()
            if tip is not None:
                found = repo.merge_base(base_revision, tip)
                if found.sha != base_revision.sha:
                    notes.append(f"compared with the merge base {found.short} of {base_revision.label} and {tip.label}")
                base_revision = found
        loaded_base = load_revision(repo, base_revision, sources, "base")
        if head_revision is None:
            loaded_head = load_worktree(repo, sources)
        else:
            loaded_head = load_revision(repo, head_revision, sources, "head")
        if head_revision is not None and head_revision.sha == base_revision.sha:
            notes.append("base and head are the same commit")
    return Comparison(
        loaded_base,
        loaded_head,
        desired_delta(loaded_base.desired, loaded_head.desired),
        code_delta(loaded_base.discovery, loaded_head.discovery),
        (*notes, *loaded_base.notes, *loaded_head.notes),
    )


def review(comparison: Comparison, snapshot: Snapshot | None = None, settings: PlanSettings | None = None) -> Review:
    """The comparison, and the head's plan against `snapshot` when one is given. Planning errors (an
    entry naming a job that exists nowhere...) are kept in the review, so the rest is still shown."""
    head_plan = None
    errors: tuple[PlanningError, ...] = ()
    if snapshot is not None:
        try:
            head_plan = plan(comparison.head.desired, comparison.head.discovery, snapshot, settings)
        except PlanningError as exc:
            errors = (exc,)
    return Review(
        base=comparison.base.side,
        head=comparison.head.side,
        desired=comparison.desired,
        code=comparison.code,
        notes=comparison.notes,
        plan=head_plan,
        plan_errors=tuple(d for exc in errors for d in exc.diagnostics),
        database=snapshot.database if snapshot is not None else None,
    )
