"""Bases and constants imported by other modules; this module registers nothing itself."""

from nautobot.apps.jobs import Job

name = "Shared"

LONG_TIMEOUT = 3600


class SharedBase(Job):
    class Meta:
        time_limit = LONG_TIMEOUT
        description = "Shared base"
