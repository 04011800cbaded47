from nautobot.apps.jobs import Job


class AcmeInventory(Job):
    class Meta:
        name = "ACME Inventory"
        has_sensitive_variables = False
