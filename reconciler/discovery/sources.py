"""Discover the Job classes of JOBS_ROOT, Apps and Git repositories, statically.

No job code is ever imported or run: modules are parsed with `ast` and their imports and
`register_jobs()` calls are replayed in the order Nautobot 3.2.7 would run them. The result lists
the registered classes in `registry["jobs"]` order, which is the order `refresh_job_models()`
(extras/signals.py:769-806) creates their records in: App jobs first (imported by each App's `ready()`,
extras/plugins/__init__.py:161-164, before any refresh), then JOBS_ROOT, then each Git repository
(`import_jobs()`, core/celery/__init__.py:149-170).
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from reconciler.diagnostics import Diagnostic, Location, Severity
from reconciler.discovery.apps import load_app
from reconciler.discovery.extract import extract
from reconciler.discovery.gitroot import load_git
from reconciler.discovery.loader import Registry, import_modules_privately, new_interpreter
from reconciler.discovery.project import EXTERNAL_TOPS, Sink
from reconciler.discovery.tree import Tree
from reconciler.discovery.types import DiscoveredJob, Discovery, SourceKind

__all__ = ["discover"]


def discover(
    jobs_root: Path | None = None,
    git_root: Path | None = None,
    apps: Sequence[str] = (),
    git_slugs: Sequence[str] | None = None,
    default_queue: str = "default",
) -> Discovery:
    """Every registered Job class, in Nautobot's processing order, and the problems found.

    `apps` items are package names (located without importing them) or package directories.
    `git_slugs`, when given, selects the repositories of GIT_ROOT and their order: Nautobot loads them
    in GitRepository *name* order, so pass the slugs in that order; by default every subdirectory of
    GIT_ROOT with a `jobs` module is a repository, taken in slug order.
    `default_queue` is CELERY_TASK_DEFAULT_QUEUE, the value of `settings.CELERY_TASK_DEFAULT_QUEUE`.
    """
    with _collector_paused():
        return _discover(jobs_root, git_root, apps, git_slugs, default_queue)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while discovery runs.

    Discovery keeps every syntax tree it parses until it ends (some 55 bytes of objects per byte of
    source) while it allocates more; each collection of the oldest generation then walks all of those
    trees, which cost a quarter of discovery's time. Trees hold no cycles, so nothing is left for the
    collector to free until discovery ends; it runs again then, as before.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _discover(
    jobs_root: Path | None,
    git_root: Path | None,
    apps: Sequence[str],
    git_slugs: Sequence[str] | None,
    default_queue: str,
) -> Discovery:
    sink = Sink()
    registry = Registry()
    app_packages: list[str] = []
    for app in apps:
        package = load_app(app, registry, sink, default_queue)
        if package is not None:
            app_packages.append(package.partition(".")[0])
    # Top-level names already in sys.modules when the next source loads: Nautobot skips them there.
    installed = frozenset(app_packages)
    from_jobs_root: frozenset[str] = frozenset()
    if jobs_root is not None:
        from_jobs_root = _load_jobs_root(Path(jobs_root), registry, sink, default_queue, installed)
    if git_root is not None:
        load_git(Path(git_root), git_slugs, registry, sink, default_queue, installed, from_jobs_root)
    jobs: list[DiscoveredJob] = []
    for registration in registry.entries.values():
        try:
            job, diagnostics = extract(registration)
        except RecursionError:  # evaluation is bounded; this is the last guard for what is not
            cls = registration.cls
            where = cls.scope.module.location(cls.node)
            job, diagnostics = None, [Diagnostic(where, f"{cls.class_path}: nested too deeply to read; class skipped")]
        for diagnostic in diagnostics:
            sink.add(diagnostic)
        if job is not None:
            jobs.append(job)
    return Discovery(tuple(jobs), tuple(sink.diagnostics))


# -- JOBS_ROOT ----------------------------------------------------------------------------------------


def _load_jobs_root(
    root: Path, registry: Registry, sink: Sink, default_queue: str, taken: frozenset[str]
) -> frozenset[str]:
    """Load JOBS_ROOT; returns the top-level names it leaves in sys.modules."""
    if not root.is_dir():
        sink.add(Diagnostic(Location(str(root)), "JOBS_ROOT is not a directory"))
        return frozenset()
    interp = new_interpreter(Tree(root), sink, default_queue, registry, SourceKind.JOBS_ROOT)

    def refused(name: str) -> str | None:
        # Nautobot skips a name whose find_spec() resolves outside JOBS_ROOT (module_loading.py:113-124):
        # certain for builtins and for packages it has already imported.
        if name in sys.builtin_module_names or name in EXTERNAL_TOPS or name in taken:
            return f"`{name}` is the name of an installed module: Nautobot does not load it from JOBS_ROOT"
        if name in sys.stdlib_module_names:
            message = (
                f"`{name}` is also a standard-library module: if Nautobot has already imported that one, "
                "it skips this file"
            )
            sink.add(Diagnostic(Location(str(root / name)), message, Severity.WARNING))
        return None

    import_modules_privately(interp, None, True, lambda name: True, refused)
    return interp.loaded_names()
