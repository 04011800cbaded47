"""Literals of the wrong type: Nautobot's isinstance checks raise TypeError (jobs.py:339-344).

A wrong type of Meta.name aborts Nautobot's whole refresh: that case is in fatal/, not here.
"""

from nautobot.apps.jobs import Job, JobButtonReceiver, JobHookReceiver, register_jobs


class HiddenString(Job):
    class Meta:
        hidden = "yes"


class FloatLimit(Job):
    class Meta:
        time_limit = 1.5


class BoolLimit(Job):
    """isinstance(True, int) holds: Nautobot accepts it (a warning, not an error)."""

    class Meta:
        soft_time_limit = True


class QueueString(Job):
    class Meta:
        task_queues = "default"


class SeveralErrors(Job):
    class Meta:
        dryrun_default = "no"
        is_singleton = 1


class BothReceivers(JobHookReceiver, JobButtonReceiver):
    pass


class MetaNameIsTooLongForTheNameColumnOfExtrasJob(Job):
    class Meta:
        name = "N" * 60 + "o" * 41


class ThisClassNameIsLongerThanOneHundredCharactersWhichIsTheWidthOfTheJobClassNameColumnOfTheExtrasJobTable(Job):
    pass


register_jobs(HiddenString, FloatLimit, BoolLimit, QueueString, SeveralErrors, BothReceivers)
register_jobs(MetaNameIsTooLongForTheNameColumnOfExtrasJob)
register_jobs(ThisClassNameIsLongerThanOneHundredCharactersWhichIsTheWidthOfTheJobClassNameColumnOfTheExtrasJobTable)
