"""Entries that contradict each other across documents and files, each naming both places."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from reconciler.diagnostics import Diagnostic, Location
from reconciler.manifest.types import JobEntry, QueueSpec, RetireEntry


def conflicts(queues: Sequence[QueueSpec], jobs: Sequence[JobEntry], retire: Sequence[RetireEntry]) -> list[Diagnostic]:
    # Identical repeats are rejected too: a second declaration is never needed, and allowing it
    # would let two copies drift apart unnoticed until they disagree.
    found = [
        *_repeated(((q.name, q.location) for q in queues), "queue `{}` is declared twice"),
        *_repeated(((j.match, j.location) for j in jobs), "`{}` is listed twice under `jobs`"),
        *_repeated(((r.match, r.location) for r in retire), "`{}` is listed twice under `retire`"),
    ]
    managed = {job.match: job.location for job in jobs if not job.is_glob}
    reported: set[str] = set()
    for entry in retire:
        if entry.match in managed and entry.match not in reported:
            reported.add(entry.match)
            found.append(
                Diagnostic(
                    entry.location,
                    f"`{entry.match}` is both retired and managed under `jobs` (at {managed[entry.match]}): "
                    "remove one of them",
                )
            )
    return found


def _repeated(keyed: Iterable[tuple[str, Location]], message: str) -> list[Diagnostic]:
    first: dict[str, Location] = {}
    found = []
    for key, location in keyed:
        if key in first:
            found.append(Diagnostic(location, f"{message.format(key)}; first at {first[key]}"))
        else:
            first[key] = location
    return found
