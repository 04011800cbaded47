"""What discovery finds: Job classes as Nautobot's refresh would record them.

Plain frozen values with no dependency on `ast`, so the planner can consume them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from reconciler.diagnostics import Diagnostic, Location
from reconciler.fields import FieldValues


class SourceKind(StrEnum):
    JOBS_ROOT = "jobs_root"
    GIT = "git"
    APP = "app"


@dataclass(frozen=True)
class DiscoveredJob:
    """One registered Job class and the values Nautobot's refresh would write for it (spec b-c).

    `values.name` is the class's own name (Meta.name or the class name), before Nautobot's
    collision suffix; the suffix depends on the database and is applied by the refresh.
    `soft_time_limit`/`time_limit` are floats, as the column stores them.
    """

    module_name: str
    job_class_name: str
    source: SourceKind
    location: Location
    values: FieldValues
    task_queues: tuple[str, ...] = ()
    read_only: bool = False
    supports_dryrun: bool = False
    is_job_hook_receiver: bool = False
    is_job_button_receiver: bool = False

    @property
    def class_path(self) -> str:
        return f"{self.module_name}.{self.job_class_name}"


@dataclass(frozen=True)
class Discovery:
    """Everything found in the job code, in Nautobot's processing (registration) order."""

    jobs: tuple[DiscoveredJob, ...]
    problems: tuple[Diagnostic, ...] = ()
