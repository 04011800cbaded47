"""Jobs kept for the migration away from the legacy IPAM; they go once the migration is done."""

from nautobot.apps.jobs import FileVar, Job, register_jobs


class OldImport(Job):
    """Import prefixes from the legacy IPAM's CSV export."""

    csv_file = FileVar(description="CSV export of the legacy IPAM")

    class Meta:
        name = "Legacy IPAM Import"
        description = "Import prefixes from a legacy IPAM CSV export."
        hidden = True

    def run(self, csv_file):
        for line in csv_file.read().decode().splitlines():
            self.logger.debug("Importing %s", line)


register_jobs(OldImport)
