from nautobot.apps.jobs import Job

from .common import PkgBase

name = "Named Group"


class NamedJob(PkgBase, Job):
    pass
