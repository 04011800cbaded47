"""Receivers: run by JobHooks on object changes and by JobButtons, never from the Job list."""

from django.conf import settings
from nautobot.apps.jobs import JobButtonReceiver, JobHookReceiver, register_jobs

name = "Receivers"


class DeviceChangeNotifier(JobHookReceiver):
    """Tell the NOC channel when a device is created, changed or deleted."""

    class Meta:
        name = "Notify on Device Change"
        description = "Post device changes to the NOC chat channel."

    def receive_job_hook(self, change, action, changed_object):
        self.logger.info("%s %s", action, changed_object)


class RebootDevice(JobButtonReceiver):
    """Reboot a device from the button on its detail page."""

    class Meta:
        name = "Reboot Device"
        has_sensitive_variables = False
        task_queues = (settings.CELERY_TASK_DEFAULT_QUEUE,)

    def receive_job_button(self, obj):
        self.logger.warning("Rebooting %s", obj, extra={"object": obj})


register_jobs(DeviceChangeNotifier, RebootDevice)
