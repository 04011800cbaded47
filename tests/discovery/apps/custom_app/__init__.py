"""An App whose config moves its jobs: NautobotAppConfig.jobs defaults to "jobs.jobs"."""

from nautobot.apps import NautobotAppConfig


class CustomConfig(NautobotAppConfig):
    name = "custom_app"
    jobs = "tasks.jobs"


config = CustomConfig
