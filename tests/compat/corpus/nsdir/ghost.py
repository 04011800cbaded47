"""In a directory without __init__.py: Nautobot's module walk never imports it."""

from nautobot.apps.jobs import Job, register_jobs


class Ghost(Job):
    pass


register_jobs(Ghost)
