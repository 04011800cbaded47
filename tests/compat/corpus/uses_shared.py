"""A class whose base comes from another module of the tree (absolute import)."""

from nautobot.apps.jobs import register_jobs
from shared import LONG_TIMEOUT, SharedBase


class UsesShared(SharedBase):
    class Meta(SharedBase.Meta):
        soft_time_limit = LONG_TIMEOUT - 600


register_jobs(UsesShared)
