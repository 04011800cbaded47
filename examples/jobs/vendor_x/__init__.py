"""Vendor X integration.

The Jobs are defined in submodules and registered here, so their module_name is the submodule that
defines them (`vendor_x.sync`), not this package.
"""

from nautobot.apps.jobs import register_jobs

from .sync import PushConfig, SyncInventory

jobs = [SyncInventory, PushConfig]

register_jobs(*jobs)
