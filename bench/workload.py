"""The speed issue's workload, as real files: job classes in 50 modules and the manifest that edits them.

Each class has a Meta with name, description, hidden, both time limits and task_queues, and each module
ends with one register_jobs, as a JOBS_ROOT or a Git repository holds them. The manifest pins three
fields on every job by one glob and enables every tenth job by an exact entry. The same shape as
../shared/perf_ratio.py, so the two measure the same thing.
"""

from __future__ import annotations

from pathlib import Path

MODULES = 50
QUEUES = ("perf_q0", "perf_q1", "perf_q2", "perf_q3")


def write_jobs(root: Path, jobs: int) -> list[Path]:
    root.mkdir(parents=True, exist_ok=True)
    per = max(1, jobs // MODULES)
    written: list[Path] = []
    k = 0
    for m in range(MODULES):
        lines = ["from nautobot.apps.jobs import Job, StringVar, register_jobs", "", f'name = "Perf group {m}"', ""]
        names = []
        while len(names) < per and k < jobs:
            queues = ["default"] + ([QUEUES[k % 4]] if k % 3 else [])
            lines += [
                f"class PerfJob{k}(Job):",
                "    device = StringVar()",
                "",
                "    class Meta:",
                f'        name = "Perf job {k}"',
                f'        description = "Perf job number {k}"',
                f"        hidden = {k % 5 == 0}",
                f"        soft_time_limit = {300 + k % 7 * 60}",
                f"        time_limit = {600 + k % 7 * 60}",
                f"        task_queues = {queues!r}",
                "",
                "    def run(self, device):",
                "        return device",
                "",
            ]
            names.append(f"PerfJob{k}")
            k += 1
        lines.append(f"register_jobs({', '.join(names)})")
        path = root / f"perf_m{m}.py"
        path.write_text("\n".join(lines) + "\n")
        written.append(path)
    return written


def write_manifest(directory: Path, jobs: int) -> Path:
    per = max(1, jobs // MODULES)
    queues = "\n".join(f"  - {{name: {q}, type: celery}}" for q in QUEUES)
    exact = "\n".join(f"  - match: perf_m{k // per}.PerfJob{k}\n    enabled: true" for k in range(0, jobs, 10))
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "jobs.yaml"
    path.write_text(
        "apiVersion: nbjobs/v1\nkind: Jobs\n"
        f"queues:\n{queues}\n"
        'jobs:\n  - match: "perf_m*"\n    grouping: Perf / All\n    time_limit: 900\n    dryrun_default: true\n'
        f"{exact}\n"
    )
    return path


def edited_jobs(jobs: int) -> int:
    """Jobs the manifest changes: every one (the glob), every tenth also enabled."""
    return jobs
