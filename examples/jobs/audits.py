"""Compliance audits of the device inventory.

The module-level `name` is what Nautobot shows as the grouping of every Job defined in this module.
"""

from nautobot.apps.jobs import BooleanVar, DryRunVar, Job, ObjectVar, register_jobs
from nautobot.dcim.models import Device, Location

name = "Compliance"

# Full audits of large sites take a while; the soft limit leaves five minutes to write the report.
AUDIT_TIME_LIMIT = 1800


class DeviceAudit(Job):
    """Check the devices of a location against the golden-configuration rules."""

    location = ObjectVar(model=Location, required=False, description="Audit only this location")
    dryrun = DryRunVar()

    class Meta:
        name = "Device Audit"
        description = """
            Audit device configurations against the compliance rules.

            Every deviation is logged; unless this is a dry run, a ticket is opened per device.
        """
        time_limit = AUDIT_TIME_LIMIT
        soft_time_limit = AUDIT_TIME_LIMIT - 300

    def run(self, location=None, dryrun=False):
        devices = Device.objects.all()
        if location is not None:
            devices = devices.filter(location=location)
        for device in devices:
            self.logger.info("Auditing %s", device, extra={"object": device})
        if dryrun:
            self.logger.info("Dry run: no tickets opened")


class ConfigBackup(Job):
    """Back up running configurations to the backup repository."""

    include_startup = BooleanVar(default=False, description="Also back up the startup configuration")

    class Meta:
        name = "Configuration Backup"
        description = "Back up the running configuration of every active device."
        console_log_default = True

    def run(self, include_startup=False):
        for device in Device.objects.filter(status__name="Active"):
            self.logger.info("Backing up %s", device, extra={"object": device})


register_jobs(DeviceAudit, ConfigBackup)
