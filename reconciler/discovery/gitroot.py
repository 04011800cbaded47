"""Git repository Jobs: `refresh_job_code_from_repository()` for each repository in turn
(extras/datasources/git.py:744-790), which unloads `<slug>.*` and runs
`import_modules_privately(GIT_ROOT, module_path=[slug, "jobs"], ignore_import_errors=False)`.
"""

from __future__ import annotations

import keyword
import sys
from collections.abc import Sequence
from pathlib import Path

from reconciler.diagnostics import Diagnostic, Location, Severity
from reconciler.discovery.loader import Registry, import_modules_privately, new_interpreter
from reconciler.discovery.project import EXTERNAL_TOPS, Sink
from reconciler.discovery.tree import Tree
from reconciler.discovery.types import SourceKind


def _has_jobs(directory: Path) -> bool:
    return (directory / "jobs").is_dir() or (directory / "jobs.py").is_file()


def _slug_problem(slug: str, installed: frozenset[str]) -> str | None:
    """check_name_safe_to_import_privately (module_loading.py:56-76), where the installed packages known
    here are Nautobot, Django and the Apps."""
    if not slug.isidentifier() or keyword.iskeyword(slug):
        return "not a valid Python identifier"
    if slug in sys.builtin_module_names or slug in EXTERNAL_TOPS or slug in installed:
        return "the name of a builtin or installed module"
    return None


def load_git(
    root: Path,
    slugs: Sequence[str] | None,
    registry: Registry,
    sink: Sink,
    default_queue: str,
    installed: frozenset[str],
    from_jobs_root: frozenset[str],
) -> None:
    """Load each repository in turn. `installed` are the Apps' packages; `from_jobs_root` the top-level
    modules JOBS_ROOT left in sys.modules, which the module walk then refuses to load again."""
    if not root.is_dir():
        sink.add(Diagnostic(Location(str(root)), "GIT_ROOT is not a directory"))
        return
    explicit = slugs is not None
    if slugs is None:
        candidates = sorted(d.name for d in root.iterdir() if d.is_dir())
        slugs = [s for s in candidates if s.isidentifier() and _has_jobs(root / s)]
    selected = frozenset(slugs)
    # One interpreter for the whole GIT_ROOT: like sys.modules, it persists from one repository to the next.
    interp = new_interpreter(Tree(root), sink, default_queue, registry, SourceKind.GIT)
    for slug in slugs:
        where = Location(str(root / slug))
        problem = _slug_problem(slug, installed)
        if problem is not None:
            sink.add(Diagnostic(where, f"Git repository slug `{slug}` is {problem}; Nautobot does not load it"))
            continue
        if not _has_jobs(root / slug):
            if explicit:
                sink.add(Diagnostic(where, "No `jobs` submodule found in Git repository (jobs.py or jobs/)"))
            continue
        if not (root / slug / "__init__.py").is_file():
            message = "the repository has no top-level __init__.py, so Nautobot's module walk finds no Jobs in it"
            sink.add(Diagnostic(where, message))
            continue
        for popped in registry.pop_prefix(f"{slug}."):
            if popped.source is not SourceKind.GIT:
                message = (
                    f"{popped.cls.class_path} ({popped.source}) is dropped: loading Git repository `{slug}` "
                    f"unloads every Job whose class path starts with `{slug}.`"
                )
                sink.add(Diagnostic(popped.call, message, Severity.WARNING))
        if slug in from_jobs_root:
            message = (
                f"JOBS_ROOT already loaded a module `{slug}`: Nautobot's module walk skips the conflicting "
                "name, so no Jobs are loaded from this repository"
            )
            sink.add(Diagnostic(where, message))
            continue
        failure = import_modules_privately(
            interp, f"{slug}.jobs", False, lambda name: name.partition(".")[0] in selected, lambda name: None
        )
        if failure is not None:
            message = (
                f"loading the Jobs of repository `{slug}` stops at the first failing module "
                f"({failure.exception}); modules after it are not imported"
            )
            sink.add(Diagnostic(where, message, Severity.WARNING))
        for path, registration in registry.entries.items():
            if path.startswith(f"{slug}.") and not path.startswith(f"{slug}.jobs."):
                message = (
                    f"{path} is defined outside `{slug}.jobs`: post_upgrade stores it, but a Git sync of "
                    "the repository marks it uninstalled"
                )
                sink.add(Diagnostic(registration.call, message, Severity.WARNING))
