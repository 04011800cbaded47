"""Values that are not literals: each class is reported where the value is, and skipped."""

import os

from nautobot.apps.jobs import Job, StringVar, register_jobs
from vendor_settings import VENDOR_TIMEOUT

OWNER = os.environ.get("OWNER", "netops")

if os.environ.get("HIDE_JOBS"):  # noqa: SIM108
    HIDDEN = True
else:
    HIDDEN = False

QUEUES = ["default"]
QUEUES.append("heavy")


def compute_limit():
    return 300


class CallValue(Job):
    class Meta:
        time_limit = compute_limit()


class FStringValue(Job):
    class Meta:
        name = f"Owned by {OWNER}"


class ExternalValue(Job):
    class Meta:
        soft_time_limit = VENDOR_TIMEOUT


class ConditionalValue(Job):
    class Meta:
        hidden = HIDDEN


class MutatedValue(Job):
    class Meta:
        task_queues = QUEUES


class VariableNamedDescription(Job):
    description = StringVar()


class LiteralFString(Job):
    class Meta:
        name = f"Literal f-string"  # noqa: F541


register_jobs(CallValue, FStringValue, ExternalValue, ConditionalValue, MutatedValue, VariableNamedDescription)
register_jobs(LiteralFString)
