"""Inherited plain attributes and Meta across a local hierarchy; a duplicate name across modules."""

from nautobot.apps.jobs import DryRunVar, Job, register_jobs

name = "Compat Inheritance"


class PlainBase(Job):
    hidden = True
    dryrun = DryRunVar()

    class Meta:
        description = """
            Base description,
              dedented and stripped.
        """
        console_log_default = True
        is_singleton = True

    def run(self, dryrun=False):
        self.logger.info("ran (dry run: %s)", dryrun)


class PlainChild(PlainBase):
    """Inherits the plain attribute `hidden`, the Meta and the dryrun variable."""


class MetaGrandChild(PlainChild):
    class Meta(PlainBase.Meta):
        name = "Meta Grand Child"
        time_limit = 45


class SecondDuplicate(Job):
    class Meta:
        name = "Duplicate Name"


class ReadOnlyJob(Job):
    class Meta:
        read_only = True
        dryrun_default = True


register_jobs(PlainChild, MetaGrandChild, SecondDuplicate, ReadOnlyJob)
