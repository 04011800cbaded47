"""A Nautobot App: Nautobot imports `acme_app.jobs` from its config's ready()."""

from nautobot.apps import NautobotAppConfig


class AcmeConfig(NautobotAppConfig):
    name = "acme_app"
    verbose_name = "ACME"
    version = "1.0.0"


config = AcmeConfig
