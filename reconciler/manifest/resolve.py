"""Manifest entries -> one intent per known Job class path. Pure: no I/O.

Per field, the highest-ranked matching entry that mentions the field (pins it or ignores it) wins.
An exact entry outranks every glob; among globs the longer literal prefix wins. Two entries of equal
rank that mention a field and disagree are an error; the one declared first is kept meanwhile, so a
Resolution with errors must not be applied.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fnmatch import translate
from types import MappingProxyType

from reconciler.diagnostics import Diagnostic, Severity
from reconciler.fields import OVERRIDABLE_FIELDS, QUEUE_FIELDS
from reconciler.manifest.types import IGNORE_ENABLED, IGNORE_QUEUES, DesiredState, JobEntry, JobIntent, Pin, Resolution

_Stance = tuple[str, object]  # ("pin", comparable value) or ("ignore", None)
# Every key a JobEntry may pin or ignore, in a fixed order (JobEntry.ignore is an unordered set).
_FIELDS = (IGNORE_ENABLED, *OVERRIDABLE_FIELDS, *QUEUE_FIELDS)


def resolve(desired: DesiredState, class_paths: Iterable[str]) -> Resolution:
    known = sorted(set(class_paths))
    # sorted() is stable, so entries of equal rank keep their declaration order.
    ranked = sorted(range(len(desired.jobs)), key=lambda i: _rank(desired.jobs[i]), reverse=True)
    entries = [_Entry(i, desired.jobs[i]) for i in ranked]
    # Exact entries are looked up, only globs are matched: every exact entry outranks every glob, so
    # exact hits followed by glob hits (each list in ranked order) is the ranked order.
    exact: dict[str, list[_Entry]] = {}
    globs: list[tuple[_Entry, re.Pattern[str]]] = []
    for e in entries:
        if e.job.is_glob:
            globs.append((e, re.compile(translate(e.job.match))))
        else:
            exact.setdefault(e.job.match, []).append(e)
    conflicts: dict[tuple[int, int], _Conflict] = {}
    intents: dict[str, JobIntent] = {}
    matched: set[int] = set()
    for class_path in known:
        matching = exact.get(class_path, []) + [e for e, pattern in globs if pattern.match(class_path)]
        if matching:
            matched.update(e.index for e in matching)
            intents[class_path] = _intent(class_path, matching, conflicts)

    known_set = set(known)
    unmatched_exact = tuple(job for job in desired.jobs if not job.is_glob and job.match not in known_set)
    diagnostics = [conflict.diagnostic() for conflict in conflicts.values()]
    diagnostics += [
        Diagnostic(job.location, f"glob `{job.match}` matches no known job", Severity.WARNING)
        for index, job in enumerate(desired.jobs)
        if job.is_glob and index not in matched
    ]
    return Resolution(
        intents=MappingProxyType(intents),
        unmatched_exact=unmatched_exact,
        diagnostics=tuple(sorted(diagnostics, key=lambda d: d.location)),
    )


def _rank(job: JobEntry) -> tuple[bool, int]:
    return (not job.is_glob, len(job.literal_prefix))


@dataclass(frozen=True)
class _Entry:
    """An entry with its declaration index (JobEntry holds a mapping, so it cannot be hashed)."""

    index: int
    job: JobEntry

    def ignores(self, name: str) -> bool:
        if name in QUEUE_FIELDS and IGNORE_QUEUES in self.job.ignore:
            return True
        return name in self.job.ignore

    def stance(self, name: str) -> _Stance | None:
        pin = self.job.pins.get(name)
        if pin is not None:
            # job_queues is a set in Nautobot: the order written does not matter.
            value = frozenset(pin.value) if isinstance(pin.value, tuple) else pin.value
            return ("pin", value)
        return ("ignore", None) if self.ignores(name) else None

    def show(self, name: str) -> str:
        pin = self.job.pins.get(name)
        if pin is None:
            return "ignored"
        if isinstance(pin.value, bool):
            return str(pin.value).lower()
        if isinstance(pin.value, float):
            return f"{pin.value:g}"
        if isinstance(pin.value, tuple):
            return f"[{', '.join(pin.value)}]"
        return repr(pin.value)


@dataclass
class _Conflict:
    """Two entries of equal rank that disagree, reported once however many jobs they both match."""

    first: _Entry
    second: _Entry
    fields: list[str] = field(default_factory=list)
    jobs: list[str] = field(default_factory=list)

    def add(self, name: str, class_path: str) -> None:
        if name not in self.fields:
            self.fields.append(name)
        if class_path not in self.jobs:
            self.jobs.append(class_path)

    def diagnostic(self) -> Diagnostic:
        first, second = self.first.job, self.second.job
        more = f" (and {len(self.jobs) - 1} more)" if len(self.jobs) > 1 else ""
        disagreements = "; ".join(
            f"{name}: {self.first.show(name)} vs {self.second.show(name)}" for name in self.fields
        )
        return Diagnostic(
            second.location,
            f"`{second.match}` (at {second.location}) and `{first.match}` (at {first.location}) match "
            f"`{self.jobs[0]}`{more} with equal precedence and disagree ({disagreements}): "
            "make one pattern more specific, or add an exact entry for the job",
        )


def _intent(class_path: str, matching: Sequence[_Entry], conflicts: dict[tuple[int, int], _Conflict]) -> JobIntent:
    pins: dict[str, Pin] = {}
    ignored: set[str] = set()
    shadowing: set[str] = set()
    for name in _FIELDS:
        mentioning = [e for e in matching if e.stance(name) is not None]
        if not mentioning:
            continue
        winner = mentioning[0]
        for other in mentioning[1:]:
            if other.stance(name) == winner.stance(name):
                continue
            if _rank(other.job) != _rank(winner.job):
                shadowing.add(name)
                break
            conflict = conflicts.setdefault((winner.index, other.index), _Conflict(winner, other))
            conflict.add(name, class_path)
        pin = winner.job.pins.get(name)
        if pin is not None:
            pins[name] = pin
        else:
            ignored.add(name)
    return JobIntent(
        class_path=class_path,
        entries=tuple(e.job.location for e in matching),
        pins=MappingProxyType(pins),
        ignored=frozenset(ignored),
        shadowing=frozenset(shadowing),
    )
