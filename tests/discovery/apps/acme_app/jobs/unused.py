"""Nothing imports this module and Nautobot does not walk App packages: never registered."""

from nautobot.apps.jobs import Job, register_jobs


class NeverLoaded(Job):
    pass


register_jobs(NeverLoaded)
