from nautobot.apps.jobs import Job, register_jobs


class CustomTask(Job):
    pass


jobs = [CustomTask]
register_jobs(*jobs)
