from nautobot.apps.jobs import Job, register_jobs

name = "Group " * 43


class LongGrouping(Job):
    pass


register_jobs(LongGrouping)
