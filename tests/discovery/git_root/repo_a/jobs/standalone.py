"""Registers itself; nothing imports it, so Nautobot's phase 4 (discovered, not yet imported) loads it."""

from nautobot.apps.jobs import Job, register_jobs


class Standalone(Job):
    pass


register_jobs(Standalone)
