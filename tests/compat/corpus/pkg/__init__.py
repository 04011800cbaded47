"""A package that registers the classes of its submodules: their module_name is the defining submodule."""

from nautobot.apps.jobs import register_jobs

from pkg.named import NamedJob

from .sub import SubJob, SubJobTwo

register_jobs(SubJob, NamedJob, SubJobTwo)
