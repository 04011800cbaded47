"""A `jobs/` package: classes of its submodules are registered here (module repo_a.jobs.inventory)."""

from nautobot.apps.jobs import register_jobs

from .inventory import InventoryCheck

register_jobs(InventoryCheck)
