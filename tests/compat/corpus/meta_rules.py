"""Meta lookups: defaults, every field, inheritance through Meta subclasses and plain class attributes."""

from django.conf import settings
from nautobot.apps.jobs import BooleanVar, DryRunVar, Job, JobButtonReceiver, register_jobs

TIMEOUT = 600
PREFIX = "Meta "
QUEUES = ["default", "bulk"]


class Everything(Job):
    class Meta:
        name = PREFIX + "Everything"
        description = """
            First line.

                Indented line.
        """
        console_log_default = True
        dryrun_default = True
        hidden = True
        soft_time_limit = TIMEOUT - 60
        time_limit = TIMEOUT
        has_sensitive_variables = False
        is_singleton = True
        read_only = True
        task_queues = [*QUEUES, settings.CELERY_TASK_DEFAULT_QUEUE]  # noqa: RUF012
        field_order = ["ignored", "by", "the", "refresh"]  # noqa: RUF012


class Defaults(Job):
    pass


class AuditBase(Job):
    """A local base class: its Meta and its dryrun variable are inherited."""

    dryrun = DryRunVar()

    class Meta:
        description = "From the base"
        has_sensitive_variables = False
        task_queues = ("heavy",)


class InheritsMeta(AuditBase):
    """No Meta of its own: cls.Meta is AuditBase.Meta."""


class ExtendsMeta(AuditBase):
    class Meta(AuditBase.Meta):
        name = "Extends Meta"
        hidden = True


class ReplacesMeta(AuditBase):
    """Its own Meta does not inherit AuditBase.Meta: Python attribute lookup, nothing more."""

    class Meta:
        name = "Replaces Meta"


class NoDryRun(AuditBase):
    dryrun = BooleanVar()


class PlainAttributes(Job):
    """Class attributes hide BaseJob's classproperties; Django coerces them when saving."""

    name = "Plain Attribute Name"
    description = "  kept verbatim  "
    hidden = 1
    time_limit = "90"

    class Meta:
        name = "Ignored: the class attribute wins"
        description = "Ignored too"


class SameNameOne(Job):
    class Meta:
        name = "Duplicate Name"


class SameNameTwo(Job):
    class Meta:
        name = "Duplicate Name"


class Button(JobButtonReceiver):
    class Meta:
        name = "Button"


class NeverRegistered(Job):
    class Meta:
        name = "Never Registered"


JOBS = [Everything, Defaults, InheritsMeta, ExtendsMeta, ReplacesMeta, NoDryRun]

register_jobs(*JOBS)
register_jobs(PlainAttributes, SameNameOne, SameNameTwo, Button, Everything)
