"""A NameError while importing stops the module: later register_jobs() calls never run."""

from nautobot.apps.jobs import Job, register_jobs


class BeforeTheError(Job):
    pass


register_jobs(BeforeTheError)


class Broken(Job):
    class Meta:
        time_limit = UNDEFINED_CONSTANT  # noqa: F821


register_jobs(Broken)
