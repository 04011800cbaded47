from nautobot.apps.jobs import Job

from repo_a.helpers import QUEUE

name = "Repo A"


class InventoryCheck(Job):
    class Meta:
        name = "Inventory Check"
        task_queues = (QUEUE,)
