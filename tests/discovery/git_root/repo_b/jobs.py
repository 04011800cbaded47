from nautobot.apps.jobs import Job, register_jobs


class SingleFile(Job):
    class Meta:
        name = "Inventory Check"
        description = "Same name as repo_a's job: both are discovered with it"


register_jobs(SingleFile)
