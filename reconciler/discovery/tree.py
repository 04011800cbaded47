"""Where modules live on disk, found the way Python's path finder and `pkgutil` would, without importing."""

from __future__ import annotations

import inspect
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ModuleFile:
    """One module of a tree. `path` is the source file (a package's `__init__.py`), or the directory of
    a namespace package, which has no code."""

    name: str
    path: Path
    is_package: bool
    is_namespace: bool = False


class Tree:
    """The modules importable from one `sys.path` entry: JOBS_ROOT, GIT_ROOT or an App's parent directory.

    `top_names` limits the tree to some top-level packages: an App usually sits in site-packages, whose
    other packages are not ours to read.
    """

    def __init__(self, root: Path, top_names: frozenset[str] | None = None) -> None:
        self.root = root
        self.top_names = top_names
        self._cache: dict[str, ModuleFile | None] = {}

    def find(self, name: str) -> ModuleFile | None:
        if name not in self._cache:
            self._cache[name] = self._find(name)
        return self._cache[name]

    def _find(self, name: str) -> ModuleFile | None:
        parts = name.split(".")
        if not all(parts) or (self.top_names is not None and parts[0] not in self.top_names):
            return None
        directory = self.root
        found: ModuleFile | None = None
        for index, part in enumerate(parts):
            found = _find_in(directory, part, ".".join(parts[: index + 1]))
            if found is None:
                return None
            if index < len(parts) - 1:
                if not found.is_package:
                    return None  # a plain module has no submodules
                directory = found.path if found.is_namespace else found.path.parent
        return found

    def iter_modules(self, directory: Path, prefix: str) -> list[tuple[str, bool]]:
        """(name, is_package) as `pkgutil.iter_modules` lists them: sorted file names, a package
        directory before a module of the same name, directories without `__init__` skipped."""
        try:
            filenames = sorted(os.listdir(directory))
        except OSError:
            return []
        yielded: set[str] = set()
        result: list[tuple[str, bool]] = []
        for filename in filenames:
            modname = inspect.getmodulename(filename)
            if modname == "__init__" or (modname is not None and modname in yielded):
                continue
            path = directory / filename
            is_package = False
            if not modname and path.is_dir() and "." not in filename:
                try:
                    contents = os.listdir(path)
                except OSError:
                    contents = []
                if not any(inspect.getmodulename(f) == "__init__" for f in contents):
                    continue
                modname, is_package = filename, True
            if modname and "." not in modname:
                yielded.add(modname)
                result.append((prefix + modname, is_package))
        return result


def _find_in(directory: Path, part: str, name: str) -> ModuleFile | None:
    """FileFinder's order: a regular package, then a module file, then a namespace package."""
    package_dir = directory / part
    namespace = False
    if package_dir.is_dir():
        init = package_dir / "__init__.py"
        if init.is_file():
            return ModuleFile(name, init, is_package=True)
        namespace = True
    module_file = directory / f"{part}.py"
    if module_file.is_file():
        return ModuleFile(name, module_file, is_package=False)
    if namespace:
        return ModuleFile(name, package_dir, is_package=True, is_namespace=True)
    return None
