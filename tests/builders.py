"""Small constructors for the planner's value types, so tests read as tables."""

from __future__ import annotations

import uuid
from types import MappingProxyType

from reconciler.diagnostics import Location
from reconciler.discovery.types import DiscoveredJob, SourceKind
from reconciler.fields import FieldValues, Scalar
from reconciler.manifest.types import DesiredState, JobEntry, Pin, PinValue, QueueSpec, QueueType, RetireEntry
from reconciler.nautobot.records import JobRecord, QueueRecord, Snapshot

QUEUE_IDS: dict[str, uuid.UUID] = {}


def queue(name: str, queue_type: str = "celery", description: str = "") -> QueueRecord:
    QUEUE_IDS.setdefault(name, uuid.uuid5(uuid.NAMESPACE_DNS, f"queue.{name}"))
    return QueueRecord(QUEUE_IDS[name], name, queue_type, description)


def code(class_path: str, *, task_queues: tuple[str, ...] = (), **values: Scalar) -> DiscoveredJob:
    module, _, cls = class_path.rpartition(".")
    base = FieldValues(grouping=module, name=cls)
    return DiscoveredJob(module, cls, SourceKind.JOBS_ROOT, Location(f"{module}.py", 1, 1),
                         base.with_values(**values), task_queues=task_queues)  # fmt: skip


def record(
    class_path: str,
    *,
    overrides: frozenset[str] = frozenset(),
    enabled: bool = False,
    installed: bool = True,
    default: str = "default",
    eligible: tuple[str, ...] = ("default",),
    **values: Scalar,
) -> JobRecord:
    module, _, cls = class_path.rpartition(".")
    base = FieldValues(grouping=module, name=cls)
    return JobRecord(
        id=uuid.uuid5(uuid.NAMESPACE_DNS, class_path), module_name=module, job_class_name=cls,
        values=base.with_values(**values), overrides=overrides, enabled=enabled, installed=installed,
        default_job_queue_id=queue(default).id, job_queue_ids=frozenset(queue(q).id for q in eligible),
    )  # fmt: skip


def loc(line: int, column: int = 5, file: str = "jobs.yaml") -> Location:
    return Location(file, line, column)


def entry(match: str, line: int = 1, *, why: str | None = None, ignore: frozenset[str] = frozenset(),
          **pins: PinValue) -> JobEntry:  # fmt: skip
    return JobEntry(
        match=match, location=loc(line, 3),
        pins=MappingProxyType({k: Pin(v, loc(line + i + 1), why) for i, (k, v) in enumerate(pins.items())}),
        ignore=ignore, why=why,
    )  # fmt: skip


def desired(
    *entries: JobEntry,
    queues: tuple[QueueSpec, ...] = (),
    retire: tuple[RetireEntry, ...] = (),
    allow_no_managed_jobs: bool = False,
) -> DesiredState:
    return DesiredState(queues=queues, jobs=entries, retire=retire, files=("jobs.yaml",),
                        allow_no_managed_jobs=allow_no_managed_jobs)  # fmt: skip


def queue_spec(name: str, queue_type: str = "celery", description: str = "", line: int = 1) -> QueueSpec:
    return QueueSpec(name, QueueType(queue_type), description, loc(line, 5, "queues.yaml"))


def snapshot(*jobs: JobRecord, queues: tuple[str, ...] = ("default",)) -> Snapshot:
    return Snapshot(queues=tuple(queue(q) for q in queues), jobs=jobs, database="test")
