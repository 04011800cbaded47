"""No __init__.py in the repository root: pkgutil's walk never reaches this module."""

from nautobot.apps.jobs import Job, register_jobs


class Unreachable(Job):
    pass


register_jobs(Unreachable)
