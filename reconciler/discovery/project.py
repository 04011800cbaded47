"""One tree of job code being read: its parsed modules and the diagnostics found on the way."""

from __future__ import annotations

from reconciler.diagnostics import Diagnostic
from reconciler.discovery.scan import ModuleInfo, parse_module
from reconciler.discovery.tree import Tree

# Never part of a job tree, whatever sits on disk: Nautobot has imported these before any job code.
EXTERNAL_TOPS = frozenset({"nautobot", "django"})


class Sink:
    """Collects diagnostics once each: a module may be imported (and judged) more than once."""

    def __init__(self) -> None:
        self.diagnostics: list[Diagnostic] = []
        self._seen: set[str] = set()

    def add(self, diagnostic: Diagnostic) -> None:
        key = str(diagnostic)
        if key not in self._seen:
            self._seen.add(key)
            self.diagnostics.append(diagnostic)


class Project:
    def __init__(self, tree: Tree, sink: Sink) -> None:
        self.tree = tree
        self.sink = sink
        self._modules: dict[str, ModuleInfo | None] = {}
        self._parsed: list[ModuleInfo] = []

    def parsed(self) -> list[ModuleInfo]:
        """Every module read so far, in the order read (all the modules the replayed imports ran, and a
        few looked up). The list grows as modules are read: callers must not change it."""
        return self._parsed

    def module(self, name: str) -> ModuleInfo | None:
        """The parsed module, or None when `name` is not in this tree (it is external)."""
        if name not in self._modules:
            found = None if name.partition(".")[0] in EXTERNAL_TOPS else self.tree.find(name)
            info = None if found is None else parse_module(found, str(found.path))
            if info is not None:
                for problem in [info.error, *info.warnings]:
                    if problem is not None:
                        self.sink.add(problem)
            self._modules[name] = info
            if info is not None:
                self._parsed.append(info)
        return self._modules[name]
