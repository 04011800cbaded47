from nautobot.apps.jobs import Job


class PkgBase(Job):
    class Meta:
        has_sensitive_variables = False
