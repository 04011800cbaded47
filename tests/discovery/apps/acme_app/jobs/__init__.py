from nautobot.apps.jobs import register_jobs

from .inventory import AcmeInventory

register_jobs(AcmeInventory)
