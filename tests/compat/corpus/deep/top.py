from .inner.leaf import LeafJob


class TopJob(LeafJob):
    """Inherits LeafJob's Meta; its grouping comes from this module (no `name` here): deep.top."""
