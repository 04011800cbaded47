"""Job code for the discovery benchmark, as real files: two shapes of N job classes in 50 modules.

- `workload`: the speed issue's workload (bench/workload.py): each class has a Meta with name,
  description, hidden, both time limits and task_queues; one register_jobs per module.
- `rich`: job code as larger teams write it, so that the replay meets what it meets in practice: a
  package `rich_jobs` whose `common` module holds constants, a shared base Job with its own Meta and a
  helper function; 49 modules import from it (absolute and relative), define variables, run methods
  of some length (loops, conditions, f-strings, calls), Meta classes that inherit the base's Meta and
  read the shared constants, a module docstring, logging set up at import, a `try/except ImportError`,
  and end with `register_jobs(*jobs)` over a module-level list.

Every class of both shapes is discovered without a problem (bench_discovery.py checks it).
"""

from __future__ import annotations

from pathlib import Path

from workload import MODULES, write_jobs

__all__ = ["MODULES", "SHAPES", "write_rich", "write_shape"]

_COMMON = '''"""Shared pieces of the rich_jobs package."""

from nautobot.apps.jobs import Job, StringVar

QUEUES = ["default", "rich_q0"]
SUFFIX = " (audited)"
TEN_MINUTES = 10 * 60


def summarize(results):
    lines = []
    for key, value in sorted(results.items()):
        if value is None:
            continue
        lines.append(f"{key}: {value}")
    return "\\n".join(lines)


class BaseAudit(Job):
    """A base class every job of the package extends."""

    site = StringVar(description="Site to audit")

    class Meta:
        task_queues = QUEUES
        has_sensitive_variables = False
        soft_time_limit = TEN_MINUTES

    def log_summary(self, results):
        self.logger.info(summarize(results))
'''

_CLASS = '''

class RichJob{k}(BaseAudit):
    """Audit number {k}: checks devices of a site and reports what differs."""

    device = StringVar(description="Device name", required=False)
    limit = IntegerVar(default={limit}, min_value=1)
    verbose = BooleanVar(default=False)

    class Meta(BaseAudit.Meta):
        name = "Rich job {k}"
        description = "Checks the inventory of one site, number {k}" + SUFFIX
        hidden = {hidden}
        time_limit = TEN_MINUTES * {factor}
        dryrun_default = {dryrun}

    def run(self, site, device, limit, verbose):
        results = {{}}
        count = 0
        for index in range(limit):
            name = f"{{site}}-{{device or 'any'}}-{{index}}"
            if verbose and index % 10 == 0:
                self.logger.debug("checking %s", name)
            try:
                results[name] = self.check(name, index * {k})
            except (KeyError, ValueError) as error:
                results[name] = None
                self.logger.warning("skipped %s: %s", name, error)
            count += 1
        self.log_summary(results)
        return {{"checked": count, "failed": sum(1 for r in results.values() if r is None)}}

    def check(self, name, seed):
        return {{"name": name, "seed": seed, "ok": seed % 7 != 0}}
'''


def write_rich(root: Path, jobs: int) -> list[Path]:
    package = root / "rich_jobs"
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text('"""Audit jobs."""\n')
    (package / "common.py").write_text(_COMMON)
    written = [package / "__init__.py", package / "common.py"]
    per = max(1, jobs // (MODULES - 1))
    k = 0
    for m in range(MODULES - 1):
        count = per if m < MODULES - 2 else jobs - k
        common = (
            "from .common import BaseAudit, SUFFIX, TEN_MINUTES"
            if m % 2
            else "from rich_jobs.common import BaseAudit, SUFFIX, TEN_MINUTES"
        )
        lines = [
            f'"""Audit jobs, part {m}."""',
            "",
            "import logging",
            "",
            "from nautobot.apps.jobs import BooleanVar, IntegerVar, StringVar, register_jobs",
            "",
            common,
            "",
            "try:",
            "    import yaml",
            "except ImportError:",
            "    yaml = None",
            "",
            "logger = logging.getLogger(__name__)",
            f'name = "Rich group {m}"',
        ]
        names = []
        for _ in range(max(0, count)):
            lines.append(_CLASS.format(k=k, limit=10 + k % 5, hidden=k % 5 == 0, factor=1 + k % 3, dryrun=k % 2 == 0))
            names.append(f"RichJob{k}")
            k += 1
        lines += ["", f"jobs = [{', '.join(names)}]", "register_jobs(*jobs)", ""]
        path = package / f"m{m}.py"
        path.write_text("\n".join(lines))
        written.append(path)
    return written


def write_workload(root: Path, jobs: int) -> list[Path]:
    return write_jobs(root, jobs)


SHAPES = {"workload": write_workload, "rich": write_rich}


def write_shape(shape: str, root: Path, jobs: int) -> list[Path]:
    """Write `jobs` classes of `shape` under `root` (a JOBS_ROOT); returns the files written."""
    return SHAPES[shape](root, jobs)
