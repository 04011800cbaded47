from nautobot.apps.jobs import Job

name = "Deep Leaf"


class LeafJob(Job):
    class Meta:
        name = "Leaf Job"
        has_sensitive_variables = False
