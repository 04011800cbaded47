"""Plumbing shared by every Vendor X Job. Not a Job of its own: it is never registered."""

from nautobot.apps.jobs import Job
from nautobot.extras.models import SecretsGroup


class VendorXJob(Job):
    """Talks to the Vendor X controller API."""

    class Meta:
        # Credentials come from Nautobot Secrets, never from Job inputs, so job inputs may be stored.
        has_sensitive_variables = False

    def controller(self):
        return SecretsGroup.objects.get(name="vendor-x")
