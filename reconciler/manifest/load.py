"""Manifest files -> one DesiredState, or an InputError carrying every problem found, located."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from reconciler.diagnostics import Diagnostic, InputError, Location, Severity
from reconciler.fields import OVERRIDABLE_FIELDS
from reconciler.manifest.conflicts import conflicts
from reconciler.manifest.limits import ManifestLimits, start_of
from reconciler.manifest.messages import validation_diagnostics
from reconciler.manifest.schema import JobDecl, Manifest, QueueDecl, RetireDecl
from reconciler.manifest.types import DesiredState, JobEntry, Pin, QueueSpec, QueueType, RetireEntry, ScheduleMode
from reconciler.manifest.yamlsource import Located, Tally, read_documents

MANIFEST_SUFFIXES = (".yaml", ".yml")
_ENTRY_KINDS = ("queues", "jobs", "retire")


def load_manifests(paths: Sequence[Path], limits: ManifestLimits | None = None) -> DesiredState:
    """Read manifest files and directories (their *.yaml and *.yml, recursively, sorted; hidden
    files and directories skipped) and merge every document into one DesiredState.

    Input over one of `limits` (the defaults unless given) stops the reading with ManifestLimitError,
    an InputError carrying that one located error.
    """
    limits = limits or ManifestLimits()
    files, diagnostics = _manifest_files(paths, limits)
    collected = _Collected()
    total_bytes = 0
    entries = 0
    tally = Tally()
    for file in files:
        source = _read(file, limits, total_bytes, diagnostics)
        if source is None:
            continue
        total_bytes += len(source)
        documents, problems = read_documents(source, str(file), limits, tally)
        diagnostics.extend(problems)
        for document in documents:
            entries = _count_entries(document, entries, limits)
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


def _read(file: Path, limits: ManifestLimits, total_bytes: int, diagnostics: list[Diagnostic]) -> bytes | None:
    """The bytes of one file, its size checked before it is read; None (and a diagnostic) when it cannot be."""
    name = str(file)
    try:
        with file.open("rb") as stream:
            size = os.fstat(stream.fileno()).st_size
            if size > limits.max_file_bytes:
                raise limits.exceeded("max_file_bytes", start_of(name), f"file is {size:,} bytes", "bytes per file")
            # Never more than the limit, even from a file whose size stat does not know (/proc) or that grows.
            source = stream.read(limits.max_file_bytes + 1)
    except OSError as exc:
        diagnostics.append(Diagnostic(Location(name), f"cannot read: {exc.strerror or exc}"))
        return None
    if len(source) > limits.max_file_bytes:
        raise limits.exceeded("max_file_bytes", start_of(name), "file is over the limit as read", "bytes per file")
    if total_bytes + len(source) > limits.max_total_bytes:
        raise limits.exceeded(
            "max_total_bytes",
            start_of(name),
            f"the manifests come to {total_bytes + len(source):,} bytes with this file",
            "bytes in total",
        )
    return source


def _count_entries(document: Located, counted: int, limits: ManifestLimits) -> int:
    """`counted` plus the entries of `document`: the limit is checked before they are validated."""
    for kind in _ENTRY_KINDS:
        items = document.children.get(kind)
        if items is None or not isinstance(items.value, list):
            continue
        if counted + len(items.value) > limits.max_entries:
            first_over = items.children[limits.max_entries - counted]
            raise limits.exceeded(
                "max_entries",
                first_over.location,
                f"this is entry {limits.max_entries + 1:,} of the manifests (queues, jobs and retire together)",
                "entries",
            )
        counted += len(items.value)
    return counted


def _manifest_files(paths: Sequence[Path], limits: ManifestLimits) -> tuple[list[Path], list[Diagnostic]]:
    files: list[Path] = []
    diagnostics: list[Diagnostic] = []
    seen: set[Path] = set()
    for path in paths:
        try:
            mode = path.stat().st_mode  # a path named on the command line is followed, whatever it links to
        except OSError as exc:
            diagnostics.append(Diagnostic(Location(str(path)), _missing(exc)))
            continue
        if stat.S_ISDIR(mode):
            found: list[Path] = []
            for item in _walk(path):
                if isinstance(item, Diagnostic):
                    diagnostics.append(item)
                    continue
                found.append(item)
                _check_count(item, len(files) + len(found), limits)
            if not found:
                # An empty desired state would release every override nbjobs manages: never by accident.
                diagnostics.append(Diagnostic(Location(str(path)), "no *.yaml or *.yml manifests in this directory"))
        elif stat.S_ISREG(mode):
            found = [path]
        else:
            diagnostics.append(Diagnostic(Location(str(path)), "not a regular file or a directory"))
            continue
        for file in found:
            # The same file named twice (directly and through its directory) must not conflict with itself.
            if file.resolve() not in seen:
                seen.add(file.resolve())
                files.append(file)
                _check_count(file, len(files), limits)
    return files, diagnostics


def _check_count(file: Path, count: int, limits: ManifestLimits) -> None:
    if count > limits.max_files:
        raise limits.exceeded("max_files", start_of(str(file)), f"this is manifest file {count:,}", "files")


def _missing(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "a loop of symbolic links: it leads to no file"
    if exc.errno == errno.ENOENT:
        return "no such file or directory"
    return f"cannot read: {exc.strerror or exc}"


def _walk(root: Path) -> Iterator[Path | Diagnostic]:
    """The manifest files under `root` in sorted order (as sorted paths are), depth first, without
    recursion (a tree may be deeper than Python's stack). Hidden entries are skipped. Symbolic links to
    directories are not followed (nbjobs' loop, which reads git, cannot follow them either), and a link
    named as a manifest must lead to a regular file inside `root`: each other case is a diagnostic, never
    a silent skip, since a missing manifest releases the overrides it holds."""
    real_root = root.resolve()
    pending: list[Iterator[os.DirEntry[str]]] = []
    listed = _listing(root)
    if isinstance(listed, Diagnostic):
        yield listed
        return
    pending.append(listed)
    while pending:
        entry = next(pending[-1], None)
        if entry is None:
            pending.pop()
            continue
        if entry.name.startswith("."):
            continue
        path = Path(entry.path)
        is_manifest = path.suffix in MANIFEST_SUFFIXES
        if entry.is_symlink():
            problem = _link_problem(path, real_root, is_manifest)
            if problem is not None:
                yield Diagnostic(Location(str(path)), problem)
            elif is_manifest:
                yield path
        elif entry.is_dir(follow_symlinks=False):
            listed = _listing(path)
            if isinstance(listed, Diagnostic):
                yield listed
            else:
                pending.append(listed)
        elif is_manifest:
            if entry.is_file(follow_symlinks=False):
                yield path
            else:
                yield Diagnostic(Location(str(path)), "not a regular file (a pipe, socket or device?): not read")


def _listing(directory: Path) -> Iterator[os.DirEntry[str]] | Diagnostic:
    try:
        with os.scandir(directory) as entries:
            return iter(sorted(entries, key=lambda entry: entry.name))
    except OSError as exc:
        return Diagnostic(Location(str(directory)), f"cannot list the directory: {exc.strerror or exc}")


def _link_problem(link: Path, real_root: Path, is_manifest: bool) -> str | None:
    """Why the symbolic link `link` under a manifest directory is not read, or None to read it."""
    try:
        mode = link.stat().st_mode
    except OSError as exc:
        if not is_manifest:
            return None  # a broken link to something else than a manifest: not ours
        if exc.errno == errno.ELOOP:
            return "a loop of symbolic links: it leads to no file"
        return f"a symbolic link to {os.readlink(link)}, which does not exist"
    if stat.S_ISDIR(mode):
        return (
            f"a symbolic link to the directory {os.readlink(link)}: links to directories are not followed; "
            "name that directory on the command line to read its manifests"
        )
    if not is_manifest:
        return None
    target = Path(os.path.realpath(link))
    if not target.is_relative_to(real_root):
        return (
            f"a symbolic link to {target}, outside {real_root}: a manifest directory is read only inside "
            "itself; name that file on the command line to read it"
        )
    if not stat.S_ISREG(mode):
        return f"a symbolic link to {target}, which is not a regular file: not read"
    return None


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
