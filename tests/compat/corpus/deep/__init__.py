"""A package registering a class from a nested subpackage: its module_name is deep.inner.leaf."""

from nautobot.apps.jobs import register_jobs

from .inner.leaf import LeafJob
from .top import TopJob

register_jobs(LeafJob, TopJob)
