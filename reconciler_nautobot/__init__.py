"""nbjobs inside Nautobot: a Nautobot App that shows, on Nautobot's own Job pages, what nbjobs manages.

Install with `pip install 'nbjobs[app]'` into Nautobot's environment and add `"reconciler_nautobot"` to
PLUGINS in nautobot_config.py. It only reads nbjobs' own tables (written by `nbjobs apply` and the reconcile
loop) and never writes any table; the rest of nbjobs never imports it (.importlinter). It is a top-level
package, not a part of `reconciler`, because Nautobot finds an App by its PLUGINS entry as a Django app
label, which cannot hold a dot.
- a Job's detail page: a panel saying whether nbjobs manages the job, the manifest file and line behind each
  managed field and its `why`, the apply that recorded it, and the loop's drift and pending step;
- a managed Job's edit form: a banner naming the fields the manifests set and what becomes of an edit there;
- the Jobs list: a "Managed by" column and filter;
- /api/plugins/nbjobs/: the same record, read-only, for whoever may view the jobs.
"""

from __future__ import annotations

from nautobot.apps import NautobotAppConfig

from reconciler import __version__


class NbjobsAppConfig(NautobotAppConfig):
    name = "reconciler_nautobot"
    label = "reconciler_nautobot"  # Nautobot looks an App up by its PLUGINS entry: the label must be that name
    verbose_name = "nbjobs"
    description = "Which Jobs nbjobs manages from git, where each managed field is set, and the loop's drift"
    version = __version__
    author = "nbjobs"
    base_url = "nbjobs"
    min_version = "3.2.0"
    max_version = "3.2.99"


config = NbjobsAppConfig
