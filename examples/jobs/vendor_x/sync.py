"""Synchronisation between Nautobot and the Vendor X controller."""

from nautobot.apps.jobs import DryRunVar, ObjectVar, StringVar
from nautobot.dcim.models import Device

from .base import VendorXJob

name = "Vendor X"


class SyncInventory(VendorXJob):
    """Import the controller's inventory into Nautobot."""

    site_filter = StringVar(required=False, description="Controller site name, all sites if empty")

    class Meta(VendorXJob.Meta):
        name = "Sync Vendor X Inventory"
        description = "Create and update devices from the Vendor X controller inventory."
        task_queues = ("default", "heavy")

    def run(self, site_filter=""):
        self.logger.info("Syncing inventory from %s", self.controller())


class PushConfig(VendorXJob):
    """Push the intended configuration of one device through the controller."""

    device = ObjectVar(model=Device)
    dryrun = DryRunVar()

    class Meta(VendorXJob.Meta):
        name = "Push Vendor X Configuration"
        description = "Push the intended configuration of a device through the Vendor X controller."
        dryrun_default = True

    def run(self, device, dryrun=True):
        self.logger.info("Pushing configuration to %s (dry run: %s)", device, dryrun, extra={"object": device})
