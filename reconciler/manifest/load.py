"""Manifest files -> one DesiredState, or an InputError carrying every problem found, located."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from reconciler.diagnostics import Diagnostic, InputError, Location, Severity
from reconciler.fields import OVERRIDABLE_FIELDS
from reconciler.manifest.conflicts import conflicts
from reconciler.manifest.messages import validation_diagnostics
from reconciler.manifest.schema import JobDecl, Manifest, QueueDecl, RetireDecl
from reconciler.manifest.types import DesiredState, JobEntry, Pin, QueueSpec, QueueType, RetireEntry, ScheduleMode
from reconciler.manifest.yamlsource import Located, read_documents

MANIFEST_SUFFIXES = (".yaml", ".yml")


def load_manifests(paths: Sequence[Path]) -> DesiredState:
    """Read manifest files and directories (their *.yaml and *.yml, recursively, sorted; hidden
    files and directories skipped) and merge every document into one DesiredState."""
    files, diagnostics = _manifest_files(paths)
    collected = _Collected()
    for file in files:
        try:
            source = file.read_bytes()
        except OSError as exc:
            diagnostics.append(Diagnostic(Location(str(file)), f"cannot read: {exc.strerror}"))
            continue
        documents, problems = read_documents(source, str(file))
        diagnostics.extend(problems)
        for document in documents:
            diagnostics.extend(collected.add(document))
    diagnostics.extend(conflicts(collected.queues, collected.jobs, collected.retire))
    if any(d.severity is Severity.ERROR for d in diagnostics):
        order = {str(file): index for index, file in enumerate(files)}
        raise InputError(
            sorted(diagnostics, key=lambda d: (order.get(d.location.file, -1), d.location.line, d.location.column))
        )
    return DesiredState(
        queues=tuple(collected.queues),
        jobs=tuple(collected.jobs),
        retire=tuple(collected.retire),
        files=tuple(str(file) for file in files),
        allow_no_managed_jobs=collected.allow_no_managed_jobs,
    )


def _manifest_files(paths: Sequence[Path]) -> tuple[list[Path], list[Diagnostic]]:
    files: list[Path] = []
    diagnostics: list[Diagnostic] = []
    seen: set[Path] = set()
    for path in paths:
        if path.is_dir():
            found = sorted(
                candidate
                for candidate in path.rglob("*")
                if candidate.suffix in MANIFEST_SUFFIXES
                and candidate.is_file()
                and not any(part.startswith(".") for part in candidate.relative_to(path).parts)
            )
            if not found:
                # An empty desired state would release every override nbjobs manages: never by accident.
                diagnostics.append(Diagnostic(Location(str(path)), "no *.yaml or *.yml manifests in this directory"))
        elif path.is_file():
            found = [path]
        else:
            diagnostics.append(Diagnostic(Location(str(path)), "no such file or directory"))
            continue
        for file in found:
            # The same file named twice (directly and through its directory) must not conflict with itself.
            if file.resolve() not in seen:
                seen.add(file.resolve())
                files.append(file)
    return files, diagnostics


@dataclass
class _Collected:
    queues: list[QueueSpec] = field(default_factory=list)
    jobs: list[JobEntry] = field(default_factory=list)
    retire: list[RetireEntry] = field(default_factory=list)
    allow_no_managed_jobs: bool = False

    def add(self, document: Located) -> list[Diagnostic]:
        try:
            manifest = Manifest.model_validate(document.value)
        except ValidationError as exc:
            diagnostics = validation_diagnostics(exc, document)
            # Its valid entries still count, so that conflicts with them show in the same run.
            queues = _valid(document, "queues", QueueDecl)
            jobs = _valid(document, "jobs", JobDecl)
            retire = _valid(document, "retire", RetireDecl)
        else:
            diagnostics = []
            self.allow_no_managed_jobs |= manifest.allow_no_managed_jobs
            queues, jobs, retire = (
                list(enumerate(manifest.queues)),
                list(enumerate(manifest.jobs)),
                list(enumerate(manifest.retire)),
            )
        parts = document.children
        self.queues.extend(_queue(decl, parts["queues"].children[index]) for index, decl in queues)
        self.jobs.extend(_job(decl, parts["jobs"].children[index]) for index, decl in jobs)
        self.retire.extend(_retire(decl, parts["retire"].children[index]) for index, decl in retire)
        return diagnostics


_Decl = TypeVar("_Decl", bound=BaseModel)


def _valid(document: Located, key: str, model: type[_Decl]) -> list[tuple[int, _Decl]]:
    items = document.children.get(key)
    if items is None or not isinstance(items.value, list):
        return []
    valid = []
    for index, item in enumerate(items.value):
        try:
            valid.append((index, model.model_validate(item)))
        except ValidationError:
            continue  # reported by the whole-document validation
    return valid


def _queue(decl: QueueDecl, at: Located) -> QueueSpec:
    return QueueSpec(decl.name, QueueType(decl.type), decl.description, at.find(("name",)).location)


def _job(decl: JobDecl, at: Located) -> JobEntry:
    pins: dict[str, Pin] = {}
    for name in ("enabled", *OVERRIDABLE_FIELDS):
        value = getattr(decl, name)
        if value is not None:
            pins[name] = Pin(value, at.find((name,)).location, decl.why)
    if decl.queues is not None:
        if decl.queues.default is not None:
            where = at.find(("queues", "default")).location
            pins["default_job_queue"] = Pin(decl.queues.default, where, decl.why)
        if decl.queues.eligible is not None:
            where = at.find(("queues", "eligible")).location
            pins["job_queues"] = Pin(tuple(decl.queues.eligible), where, decl.why)
    return JobEntry(
        match=decl.match,
        location=at.find(("match",)).location,
        pins=MappingProxyType(pins),
        ignore=frozenset(decl.ignore or ()),
        ignore_location=at.children["ignore"].location if decl.ignore is not None else None,
        why=decl.why,
    )


def _retire(decl: RetireDecl, at: Located) -> RetireEntry:
    return RetireEntry(
        match=decl.match,
        location=at.find(("match",)).location,
        schedules=ScheduleMode(decl.schedules),
        purge_results=decl.purge_results,
        force=decl.force,
        why=decl.why,
    )
