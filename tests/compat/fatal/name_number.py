"""Meta.name of the wrong type: Nautobot reads `job_class.name` outside its try block, so the TypeError
aborts the whole refresh (`nautobot-server migrate`/`post_upgrade` fail)."""

from nautobot.apps.jobs import Job, register_jobs


class NameNumber(Job):
    class Meta:
        name = 42


register_jobs(NameNumber)
