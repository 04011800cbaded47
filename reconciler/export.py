"""Manifests from an existing Nautobot (`nbjobs export`), so that it can be brought under management.

For every job record a `--match` glob selects, an exact entry pins what the database holds and Nautobot
would not recompute from the code: the enabled flag, every field whose `<field>_override` is set (value
included, even when it equals the class value: leaving it out would release it), and the queues when
their override flags are set. The queues those jobs use are exported under `queues:`. A plan right after
an export therefore has no changes; `verify` proves it by loading the text with the strict loader and
planning it against the same snapshot and code.

Strings are written plain only when YAML 1.2 and YAML 1.1 both read them as that same string; anything
else (`NO`, `1:30`, `0755`, `null`, text with `: `...) is double-quoted.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

from reconciler import __version__
from reconciler.diagnostics import InputError, NbjobsError, plural
from reconciler.discovery.types import Discovery
from reconciler.fields import FIELD_TYPES, OVERRIDABLE_FIELDS
from reconciler.manifest.limits import ManifestLimitError, ManifestLimits
from reconciler.manifest.load import load_manifests
from reconciler.manifest.types import QueueType
from reconciler.manifest.yamlsource import yaml11_note
from reconciler.nautobot.records import JobRecord, QueueRecord, Snapshot
from reconciler.plan.operations import Plan
from reconciler.plan.planner import PlanningError, PlanSettings, plan


@dataclass(frozen=True)
class ExportOptions:
    match: tuple[str, ...] = ("*",)  # globs over class paths (module.Class)
    include_system: bool = False  # Nautobot's own jobs (nautobot.*)
    split: bool = False  # one file per module and a queues.yaml, instead of one document


@dataclass(frozen=True)
class ExportedFile:
    path: str  # relative to the output directory; "-" for the single document
    text: str


@dataclass(frozen=True)
class Export:
    files: tuple[ExportedFile, ...]
    jobs: int
    queues: int
    notes: tuple[str, ...] = ()


def export_manifests(
    snapshot: Snapshot, discovery: Discovery, options: ExportOptions | None = None, settings: PlanSettings | None = None
) -> Export:
    options = options or ExportOptions()
    settings = settings or PlanSettings()
    code = {job.class_path: job for job in discovery.jobs}
    notes: list[str] = []
    selected: list[JobRecord] = []
    for record in snapshot.jobs:
        if not any(fnmatchcase(record.class_path, pattern) for pattern in options.match):
            continue
        if record.is_system and not options.include_system:
            continue
        if not record.installed:
            notes.append(f"{record.class_path}: skipped, its record is not installed (its code is gone)")
            continue
        selected.append(record)

    by_id = snapshot.queues_by_id
    used = sorted({by_id[q].name for r in selected for q in (r.default_job_queue_id, *r.job_queue_ids)})
    queues: list[QueueRecord] = []
    for name in used:
        queue = snapshot.queue_named(name)
        if queue is None:
            continue
        if queue.queue_type not in {t.value for t in QueueType}:
            notes.append(f"queue {name!r}: type {queue.queue_type!r} cannot be written in a manifest; left out")
            continue
        queues.append(queue)

    entries: dict[str, list[str]] = {}
    for record in selected:
        job = code.get(record.class_path)
        if job is not None:
            names = job.task_queues or (settings.default_queue,)
            code_queues: tuple[str, tuple[str, ...]] | None = (names[0], tuple(sorted(set(names))))
        else:
            code_queues = None
        entries.setdefault(record.module_name, []).append(_entry(record, snapshot, code_queues))

    header = [
        f"# Exported by nbjobs {__version__} from {snapshot.database or 'the database'}"
        + (f" (jobs matching {', '.join(options.match)})" if options.match != ("*",) else "")
        + ".",
        "# Each job below is managed from now on: a field its entry leaves out follows the code.",
    ]
    if not options.split:
        text = _document(header, queues, [e for module in sorted(entries) for e in entries[module]])
        files: tuple[ExportedFile, ...] = (ExportedFile("-", text),)
    else:
        split: list[ExportedFile] = []
        if queues:
            split.append(ExportedFile("queues.yaml", _document(header, queues, [])))
        split += [
            ExportedFile(f"jobs/{module}.yaml", _document(header, [], entries[module])) for module in sorted(entries)
        ]
        files = tuple(split)
    return Export(files, len(selected), len(queues), tuple(notes))


def verify(
    export: Export,
    snapshot: Snapshot,
    discovery: Discovery,
    settings: PlanSettings | None = None,
    limits: ManifestLimits | None = None,
) -> Plan:
    """Load the exported text with the strict loader and plan it against the same snapshot and code.
    The plan must be empty; a manifest the loader rejects, or a plan with changes, is an error."""
    with tempfile.TemporaryDirectory(prefix="nbjobs-export-") as scratch:
        root = Path(scratch)
        for file in export.files:
            target = root / ("export.yaml" if file.path == "-" else file.path)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(file.text, encoding="utf-8")
        try:
            desired = load_manifests([root], limits)
            result = plan(desired, discovery, snapshot, settings)
        except ManifestLimitError as exc:  # not a bug: the database holds more than manifests may (a setting)
            raise NbjobsError(f"the exported manifests would not load: {exc.diagnostics[0].message}") from None
        except (InputError, PlanningError) as exc:
            raise NbjobsError(f"the exported manifests do not load back (a bug in nbjobs export): {exc}") from None
    if not result.is_empty:
        raise NbjobsError(
            f"the exported manifests would still need {plural(len(result.operations), 'operation')} "
            "(a bug in nbjobs export)"
        )
    return result


def _entry(record: JobRecord, snapshot: Snapshot, code_queues: tuple[str, tuple[str, ...]] | None) -> str:
    lines = [f"  - match: {scalar(record.class_path)}", f"    enabled: {_bool(record.enabled)}"]
    for field in OVERRIDABLE_FIELDS:
        if field in record.overrides:
            lines.append(f"    {field}: {_value(field, record.values.get(field))}")
    by_id = snapshot.queues_by_id
    default = by_id[record.default_job_queue_id].name
    eligible = tuple(sorted(by_id[q].name for q in record.job_queue_ids))
    pinned = []
    if "default_job_queue" in record.overrides:
        pinned.append(f"default: {scalar(default, flow=True)}")
    if "job_queues" in record.overrides and eligible:
        pinned.append("eligible: [" + ", ".join(scalar(name, flow=True) for name in eligible) + "]")
    if pinned:
        lines.append("    queues: {" + ", ".join(pinned) + "}")
    if code_queues is not None:
        comments = []
        if "default_job_queue" not in record.overrides and default != code_queues[0]:
            comments.append(f"default queue {default!r} differs from the code's {code_queues[0]!r}")
        if "job_queues" not in record.overrides and eligible != code_queues[1]:
            comments.append(f"eligible queues {list(eligible)} differ from the code's {list(code_queues[1])}")
        lines += [f"    # {c} without an override flag: left as it is" for c in comments]
    return "\n".join(lines)


def _document(header: Sequence[str], queues: Sequence[QueueRecord], entries: Sequence[str]) -> str:
    lines = [*header, "apiVersion: nbjobs/v1", "kind: Jobs"]
    if queues:
        lines.append("queues:")
        for queue in queues:
            lines += [f"  - name: {scalar(queue.name)}", f"    type: {queue.queue_type}"]
            if queue.description:
                lines.append(f"    description: {scalar(queue.description)}")
    if entries:
        lines.append("jobs:")
        lines += entries
    return "\n".join(lines) + "\n"


def _value(field: str, value: object) -> str:
    if FIELD_TYPES[field] is bool:
        return _bool(bool(value))
    if FIELD_TYPES[field] is float:
        assert isinstance(value, int | float)
        return _number(float(value))
    return scalar(str(value))


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _number(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


# A plain scalar is written only when it is this simple and no YAML version reads it as anything else.
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_ ./()\-]*")
_PLAIN_FLOW = re.compile(r"[A-Za-z_][A-Za-z0-9_./\-]*")
_SPECIAL_WORDS = frozenset({"true", "false", "null", "y", "n", "yes", "no", "on", "off"})
# What PyYAML's reader accepts unescaped; everything else, and YAML 1.1's line breaks, is escaped.
_PRINTABLE = re.compile("[\t\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r", "\0": "\\0"}


def scalar(text: str, *, flow: bool = False) -> str:
    """`text` as a YAML scalar that the strict loader (and any YAML 1.1 reader) reads back unchanged."""
    plain = (_PLAIN_FLOW if flow else _PLAIN).fullmatch(text)
    if plain and not text.endswith(" ") and text.lower() not in _SPECIAL_WORDS and yaml11_note(text) is None:
        return text
    return '"' + "".join(_escape(char) for char in text) + '"'


def _escape(char: str) -> str:
    if char in _ESCAPES:
        return _ESCAPES[char]
    if char == "\ufeff" or not _PRINTABLE.fullmatch(char):
        point = ord(char)
        return f"\\x{point:02x}" if point < 0x100 else f"\\u{point:04x}" if point < 0x10000 else f"\\U{point:08x}"
    return char
