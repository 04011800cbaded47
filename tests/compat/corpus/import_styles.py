"""Every way of naming Nautobot's Job classes; module-level `name` sets the grouping."""

import nautobot.apps.jobs
import nautobot.apps.jobs as jobs
from nautobot.apps.jobs import Job, register_jobs
from nautobot.apps.jobs import Job as J
from nautobot.extras import jobs as extras_jobs
from nautobot.extras.jobs import JobHookReceiver

name = "Import Styles"

Base = Job  # a module-level alias of Job
AliasOfAlias = Base


class Plain(Job):
    pass


class Renamed(J):
    pass


class ViaModule(jobs.Job):
    pass


class ViaExtras(extras_jobs.Job):
    pass


class ViaDotted(nautobot.apps.jobs.Job):
    pass


class ViaAlias(AliasOfAlias):
    pass


class Hook(JobHookReceiver):
    pass


class NotAJob:
    """Not registered and not a Job: ignored."""


register_jobs(Plain, Renamed, ViaModule, ViaExtras, ViaDotted, ViaAlias, Hook)
