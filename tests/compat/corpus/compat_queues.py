"""task_queues: new queue names are created as celery queues; an empty list means the default queue."""

from django.conf import settings
from nautobot.apps.jobs import Job, JobButtonReceiver, JobHookReceiver, register_jobs

name = "Compat Queues"


class FirstIsDefault(Job):
    class Meta:
        name = "First Is Default"
        task_queues = ["compat_alpha", "compat_beta", settings.CELERY_TASK_DEFAULT_QUEUE]  # noqa: RUF012


class EmptyQueues(Job):
    class Meta:
        task_queues = []  # noqa: RUF012


class SingleQueue(Job):
    class Meta:
        task_queues = ("compat_beta",)
        time_limit = 120
        soft_time_limit = 100


class QueuedHook(JobHookReceiver):
    class Meta:
        name = "Queued Hook"
        task_queues = ("compat_hooks",)


class LocalButtonBase(JobButtonReceiver):
    class Meta:
        has_sensitive_variables = False


class QueuedButton(LocalButtonBase):
    class Meta(LocalButtonBase.Meta):
        name = "Queued Button"
        task_queues = ["compat_alpha"]  # noqa: RUF012


register_jobs(FirstIsDefault, EmptyQueues, SingleQueue, QueuedHook, QueuedButton)
