"""App-provided Jobs: each App's `ready()` imports `<package>.jobs` (extras/plugins/__init__.py:161-164).

Nothing walks an App package: only the jobs module and what it imports run. The package is located
without importing it.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from reconciler.diagnostics import Diagnostic, Location, Severity
from reconciler.discovery import known
from reconciler.discovery.loader import Interpreter, Registry, new_interpreter
from reconciler.discovery.project import Sink
from reconciler.discovery.refs import Lit, LocalClass, NotStatic
from reconciler.discovery.tree import Tree
from reconciler.discovery.types import SourceKind
from reconciler.discovery.values import Found


def load_app(app: str, registry: Registry, sink: Sink, default_queue: str) -> str | None:
    """Import `<package>.jobs` as the App's ready() does; returns the package name."""
    located = _locate_app(app)
    if isinstance(located, str):
        sink.add(Diagnostic(Location(app), located))
        return None
    package, root = located
    tree = Tree(root, frozenset({package.partition(".")[0]}))
    interp = new_interpreter(tree, sink, default_queue, registry, SourceKind.APP)
    jobs_module = _app_jobs_module(interp, package)
    if interp.project.module(jobs_module) is None:
        message = f"App `{package}` has no `{jobs_module}` module, so it provides no Jobs"
        sink.add(Diagnostic(Location(str(root / package.replace(".", os.sep))), message, Severity.WARNING))
        return package
    interp.import_module(jobs_module)
    return package


def _locate_app(app: str) -> tuple[str, Path] | str:
    """(package name, directory holding the top-level package), or why it cannot be found."""
    if os.sep in app or "/" in app or Path(app).is_dir():
        directory = Path(app)
        if directory.name in ("", ".", ".."):
            directory = directory.resolve()
        if not (directory / "__init__.py").is_file():
            return f"App directory {app} is not a Python package (no __init__.py)"
        return directory.resolve().name, directory.parent
    parts = app.split(".")
    if not all(part.isidentifier() for part in parts):
        return f"`{app}` is neither a package name nor a directory"
    # find_spec() of a top-level name locates it without running it (a dotted name would import the parent).
    try:
        spec = importlib.util.find_spec(parts[0])
    except (ImportError, ValueError) as exc:
        return f"App package `{app}` cannot be located: {exc}"
    if spec is None or not spec.submodule_search_locations:
        return f"App package `{app}` is not installed (or is not a package)"
    top = Path(next(iter(spec.submodule_search_locations)))
    if not (top / Path(*parts[1:]) / "__init__.py").is_file() and len(parts) > 1:
        return f"App package `{app}` is not found under {top}"
    return app, top.parent


def _app_jobs_module(interp: Interpreter, package: str) -> str:
    """`<module of the App's config>.<NautobotAppConfig.jobs minus its attribute>`, i.e. `<package>.jobs`
    unless the App's config class overrides `jobs` (extras/plugins/__init__.py:98, 161-164)."""
    default = f"{package}.{known.APP_CONFIG_JOBS_DEFAULT.rpartition('.')[0]}"
    init = interp.project.module(package)
    if init is None or init.tree is None:
        return default
    ev = interp.ev
    try:
        config = ev.global_value(init, "config")
        if not isinstance(config, LocalClass):
            return default
        found = ev.class_attribute(config, "jobs")
        if not isinstance(found, Found):
            return default
        value = ev.value_of(found)
    except NotStatic as exc:
        message = f"cannot read the App config's `jobs` path ({exc.message}); assuming `{default}`"
        interp.report(exc.module.location(exc.node), message, Severity.WARNING)
        return default
    if not (isinstance(value, Lit) and isinstance(value.value, str) and "." in value.value):
        return default
    return f"{config.module}.{value.value.rpartition('.')[0]}"


def app_directory(app: str) -> Path | None:
    """Where an App's package lives on disk (its code is what a change of the App changes), or None."""
    located = _locate_app(app)
    if isinstance(located, str):
        return None
    name, parent = located
    return parent.joinpath(*name.split("."))
