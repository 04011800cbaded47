"""No module-level `name`: the grouping is the dotted module name."""

from . import common


class SubJob(common.PkgBase):
    pass


class SubJobTwo(common.PkgBase):
    class Meta(common.PkgBase.Meta):
        name = "Sub Job Two"
