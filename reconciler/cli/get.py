"""`nbjobs get [PATTERN]` (alias `list`): the jobs in the database, as `kubectl get` shows objects.

One row per Job record, sorted by class path: whether it is installed and enabled, its default queue, the
fields overridden in the database, and which manifest entry manages it (`file:line`, `retire file:line`,
or `unmanaged`). Only the database and the manifests are read, never the job code.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import yaml

from reconciler.cli import catalog, common
from reconciler.diagnostics import Diagnostic, Location, Severity, printable
from reconciler.fields import ALL_OVERRIDE_FLAGS
from reconciler.manifest.limits import ManifestLimits
from reconciler.manifest.load import load_manifests
from reconciler.manifest.resolve import resolve
from reconciler.manifest.types import DesiredState
from reconciler.nautobot.connect import create_db_engine
from reconciler.nautobot.records import JobRecord, Snapshot
from reconciler.nautobot.snapshot import read_snapshot

FORMATS = ("text", "wide", "json", "yaml")
NONE = "<none>"  # an empty cell, as kubectl writes it


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    get = catalog.add(commands, "get")
    get.add_argument("pattern", nargs="?", metavar="PATTERN",
                     help="only class paths matching this glob (* ? [...], as a manifest's match:)")  # fmt: skip
    get.add_argument("--manifests", action="append", type=Path, metavar="PATH",
                     help="manifest file or directory (repeatable; default manifests/ when it exists, else none: "
                          "every job shows as unmanaged)")  # fmt: skip
    get.add_argument("-o", "--format", choices=FORMATS, default="text",
                     help="text (default); wide adds name, grouping, eligible queues, hidden and why")  # fmt: skip
    get.add_argument("--unmanaged", action="store_true", help="only the jobs no manifest entry manages")
    common.add_database(get)
    common.add_target(get)
    get.set_defaults(handler=_get)


@dataclass(frozen=True)
class Row:
    """One job as `get` shows it."""

    class_path: str
    name: str
    grouping: str
    installed: bool
    enabled: bool
    hidden: bool
    default_queue: str | None
    eligible_queues: tuple[str, ...]
    overrides: tuple[str, ...]
    management: str  # managed | retire | unmanaged
    entries: tuple[Location, ...]  # the manifest entries that match it, the winning one first
    why: str | None

    @property
    def managed_by(self) -> str:
        if not self.entries:
            return "unmanaged"
        first = _place(self.entries[0])
        more = f" (+{len(self.entries) - 1})" if len(self.entries) > 1 else ""
        return f"retire {first}" if self.management == "retire" else first + more

    def document(self) -> dict[str, Any]:
        """The JSON and YAML object: the same keys, in the same order, for every job."""
        return {
            "class_path": self.class_path,
            "name": self.name,
            "grouping": self.grouping,
            "installed": self.installed,
            "enabled": self.enabled,
            "hidden": self.hidden,
            "default_queue": self.default_queue,
            "eligible_queues": list(self.eligible_queues),
            "overrides": list(self.overrides),
            "management": self.management,
            "managed_by": _place(self.entries[0]) if self.entries else None,
            "entries": [_place(location) for location in self.entries],
            "why": self.why,
        }


def rows(snapshot: Snapshot, desired: DesiredState) -> tuple[list[Row], list[Diagnostic]]:
    """Every job record with what manages it: a `retire:` entry first (it alone manages a job it names, as
    the planner has it), else the `jobs:` entries that match it in precedence order. Also the conflicts
    between entries of equal rank, which plan refuses (`get` still shows who matches what)."""
    resolution = resolve(desired, [job.class_path for job in snapshot.jobs])
    retiring = {entry.match: entry for entry in desired.retire}
    whys = {entry.location: entry.why for entry in desired.jobs}
    found = []
    for job in sorted(snapshot.jobs, key=lambda j: j.class_path):
        retire = retiring.get(job.class_path)
        intent = resolution.intents.get(job.class_path)
        entries: tuple[Location, ...]
        if retire is not None:
            management, entries, why = "retire", (retire.location,), retire.why
        elif intent is not None:
            reasons = [whys[location] for location in intent.entries if whys.get(location)]
            management, entries, why = "managed", intent.entries, reasons[0] if reasons else None
        else:
            management, entries, why = "unmanaged", (), None
        found.append(_row(job, snapshot, management, entries, why))
    return found, [d for d in resolution.diagnostics if d.severity is Severity.ERROR]


def _row(job: JobRecord, snapshot: Snapshot, management: str, entries: tuple[Location, ...], why: str | None) -> Row:
    queue = snapshot.queues_by_id.get(job.default_job_queue_id)
    eligible = sorted(snapshot.queues_by_id[i].name for i in job.job_queue_ids if i in snapshot.queues_by_id)
    return Row(
        class_path=job.class_path,
        name=job.values.name,
        grouping=job.values.grouping,
        installed=job.installed,
        enabled=job.enabled,
        hidden=job.values.hidden,
        default_queue=queue.name if queue else None,
        eligible_queues=tuple(eligible),
        overrides=tuple(name for name in ALL_OVERRIDE_FLAGS if name in job.overrides),
        management=management,
        entries=entries,
        why=why,
    )


def render(found: Sequence[Row], fmt: str) -> str:
    if fmt == "json":
        return json.dumps([row.document() for row in found], indent=2) + "\n"
    if fmt == "yaml":
        return str(yaml.safe_dump([row.document() for row in found], sort_keys=False, allow_unicode=True))
    header = ["CLASS PATH", "INSTALLED", "ENABLED", "DEFAULT QUEUE", "OVERRIDES", "MANAGED BY"]
    if fmt == "wide":
        header += ["NAME", "GROUPING", "ELIGIBLE QUEUES", "HIDDEN", "WHY"]
    table = [header]
    for row in found:
        cells = [row.class_path, _yes(row.installed), _yes(row.enabled), row.default_queue or NONE,
                 ",".join(row.overrides) or NONE, row.managed_by]  # fmt: skip
        if fmt == "wide":
            cells += [row.name, row.grouping or NONE, ",".join(row.eligible_queues) or NONE, _yes(row.hidden),
                      row.why or NONE]  # fmt: skip
        table.append([printable(cell) for cell in cells])  # names and whys from manifests and the database
    widths = [max(len(line[column]) for line in table) for column in range(len(header))]
    # Three spaces between columns, as kubectl; the last column is not padded.
    return "".join("   ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() + "\n"
                   for line in table)  # fmt: skip


def _get(args: argparse.Namespace) -> int:
    desired = _desired(args.manifests, common.manifest_limits(args))
    target = common.target(args)
    common.require_database(target)
    engine = create_db_engine(target)
    try:
        with engine.connect() as connection:
            snapshot = read_snapshot(connection, target.display_url)
    finally:
        engine.dispose()
    found, conflicts = rows(snapshot, desired)
    for diagnostic in conflicts:  # plan refuses such manifests; get still shows who matches what
        print(replace(diagnostic, severity=Severity.WARNING), file=sys.stderr)
    if args.pattern:
        found = [row for row in found if fnmatchcase(row.class_path, args.pattern)]
    if args.unmanaged:
        found = [row for row in found if row.management == "unmanaged"]
    if not found and args.format in ("text", "wide"):
        what = "unmanaged jobs" if args.unmanaged else "jobs"
        matching = f" matching {args.pattern!r}" if args.pattern else ""
        print(f"No {what}{matching} in {target.display_url}.", file=sys.stderr)
        return 0
    sys.stdout.write(render(found, args.format))
    return 0


def _desired(given: list[Path] | None, limits: ManifestLimits) -> DesiredState:
    """The manifests named, else manifests/ when it exists, else none (every job shows as unmanaged)."""
    if given:
        return load_manifests(given, limits)
    if common.DEFAULT_MANIFESTS.is_dir():
        return load_manifests([common.DEFAULT_MANIFESTS], limits)
    print("note: no --manifests given and no manifests/ here: every job shows as unmanaged", file=sys.stderr)
    return DesiredState()


def _place(location: Location) -> str:
    """`file:line`: where an entry starts (its column adds nothing to a person looking for it)."""
    return f"{location.file}:{location.line}" if location.line else location.file


def _yes(value: bool) -> str:
    return "true" if value else "false"
