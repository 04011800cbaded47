"""Replay what importing job code would do, statically: which modules run, in what order, and which
classes reach `register_jobs()`.

The replay follows Python's import semantics (a package before its submodules, a module once, an
import that fails stops the importing module there) and Nautobot's `import_modules_privately()`
(`core/utils/module_loading.py:79-173`), because the order of `register_jobs()` calls is the order in
which Nautobot's refresh creates records, and so decides which of two equal names gets " (2)".
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass, field

from reconciler.diagnostics import Diagnostic, Location, Severity
from reconciler.discovery import known
from reconciler.discovery.names import first_undefined
from reconciler.discovery.project import Project, Sink
from reconciler.discovery.refs import (
    External,
    KnownClass,
    LocalClass,
    NotStatic,
    Scope,
    Undefined,
    Value,
    describe,
    shown_code,
)
from reconciler.discovery.scan import ModuleInfo, resolve_relative
from reconciler.discovery.tree import Tree
from reconciler.discovery.types import SourceKind
from reconciler.discovery.values import Evaluator


@dataclass(frozen=True)
class Registration:
    cls: LocalClass
    evaluator: Evaluator = field(compare=False)
    source: SourceKind
    call: Location


class Registry:
    """Nautobot's `registry["jobs"]`: class_path -> class, first registration wins (celery/__init__.py:369-375)."""

    def __init__(self) -> None:
        self.entries: dict[str, Registration] = {}

    def register(self, registration: Registration) -> None:
        self.entries.setdefault(registration.cls.class_path, registration)

    def pop_prefix(self, prefix: str) -> list[Registration]:
        return [self.entries.pop(path) for path in list(self.entries) if path.startswith(prefix)]


@dataclass(frozen=True)
class Failure:
    """An exception that stops a module's import; `node` is where it is raised when that is not the
    statement itself."""

    exception: str
    message: str
    node: ast.AST | None = None


_PARENTS = {"ModuleNotFoundError": ("ImportError",), "RecursionError": ("RuntimeError",)}
# Modules being imported at once (each importing the next). Python's own import nests some six frames
# per module, so it fails with RecursionError at about 140 (measured from a shallow stack, less from a
# deep one); the replay stops a little earlier.
_MAX_IMPORT_DEPTH = 100


def _last_name(node: ast.expr) -> str:
    """`c` of `a.b.c` (and of `a.b.c(...)`): how an exception class is named."""
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return shown_code(node).rpartition(".")[2]


def _caught_by(handler: ast.ExceptHandler, failure: Failure) -> bool:
    if handler.type is None:
        return True
    names = {failure.exception, *_PARENTS.get(failure.exception, ()), "Exception", "BaseException"}
    types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(isinstance(t, ast.Name | ast.Attribute) and _last_name(t) in names for t in types)


_BASE_JOB = KnownClass(known.BASE_JOB)
_OWN_SCOPE = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
_LOOPS = (ast.For, ast.AsyncFor, ast.While)


def _breaks_out(loop: ast.While) -> bool:
    """Whether a `break` of this loop (not of a loop or function inside it) is anywhere in its body."""
    stack: list[ast.AST] = list(loop.body)  # its `else` never runs: the condition is always true
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Break):
            return True
        if not isinstance(node, _OWN_SCOPE):
            # A nested loop's own breaks leave it, not this one; its `else` runs in this loop, though.
            children = node.orelse if isinstance(node, _LOOPS) else ast.iter_child_nodes(node)
            stack.extend(children)
    return False


def _looks_like_register(func: ast.expr) -> bool:
    return (isinstance(func, ast.Name) and func.id == "register_jobs") or (
        isinstance(func, ast.Attribute) and func.attr == "register_jobs"
    )


class Interpreter:
    """The `sys.modules` of one tree, and the replay of its modules' top-level statements."""

    def __init__(self, evaluator: Evaluator, registry: Registry, source: SourceKind) -> None:
        self.ev = evaluator
        self.project = evaluator.project
        self.registry = registry
        self.source = source
        # Module name -> index of the statement running now (circular imports see this far), or None once done.
        self._state: dict[str, int | None] = {}
        self._importing = 0  # modules being imported now, each by the one before

    def report(self, location: Location, message: str, severity: Severity = Severity.ERROR) -> None:
        self.project.sink.add(Diagnostic(location, message, severity))

    def loaded(self, name: str) -> bool:
        return name in self._state

    def loaded_names(self) -> frozenset[str]:
        """The top-level names this tree has put in `sys.modules`."""
        return frozenset(name.partition(".")[0] for name in self._state)

    def forget(self, names: list[str]) -> None:
        """Phase 2 of import_modules_privately: drop the names (and their submodules) from sys.modules."""
        for cached in list(self._state):
            if any(cached == n or cached.startswith(f"{n}.") for n in names):
                del self._state[cached]

    def is_external(self, name: str) -> bool:
        return self.project.module(name.partition(".")[0]) is None

    def import_module(self, name: str) -> Failure | None:
        if name in self._state or self.is_external(name):
            return None
        parent = name.rpartition(".")[0]
        if parent:
            failure = self.import_module(parent)
            if failure is not None or name in self._state:
                return failure
        info = self.project.module(name)
        if info is None:
            return Failure("ModuleNotFoundError", f"No module named '{name}'")
        if info.tree is None:
            return Failure("SyntaxError", f"module `{name}` cannot be parsed")
        if self._importing >= _MAX_IMPORT_DEPTH:
            return Failure(
                "RecursionError",
                f"imports nest more than {_MAX_IMPORT_DEPTH} modules deep; discovery does not follow them "
                "further, and Python's own import fails about there",
            )
        self._state[name] = 0
        self._importing += 1
        try:
            failure = self._run(info, info.tree.body, None)
        except RecursionError:  # counted in modules above, in frames by Python
            failure = Failure("RecursionError", f"importing `{name}` nests too deeply to follow")
        finally:
            self._importing -= 1
        if failure is None:
            self._state[name] = None
        else:
            del self._state[name]  # Python forgets a module whose import failed
        return failure

    def _run(self, info: ModuleInfo, body: list[ast.stmt], top_index: int | None) -> Failure | None:
        for position, stmt in enumerate(body):
            index = position if top_index is None else top_index
            if top_index is None:
                self._state[info.name] = index
            failure = self._statement(info, stmt, index, top_index is not None)
            if failure is not None:
                if top_index is None:
                    self.report(
                        info.location(failure.node or stmt),
                        f"importing `{info.name}` stops here with {failure.exception}: {failure.message}; "
                        "nothing after this line runs (register_jobs() calls included)",
                    )
                return failure
        return None

    def _statement(self, info: ModuleInfo, stmt: ast.stmt, index: int, nested: bool) -> Failure | None:
        undefined = first_undefined(info, stmt, index, nested)
        if undefined is not None:
            return Failure("NameError", f"name '{undefined.id}' is not defined", undefined)
        match stmt:
            case ast.Import(names=aliases):
                for alias in aliases:
                    failure = self.import_module(alias.name)
                    if failure is not None:
                        return failure
            case ast.ImportFrom():
                return self._import_from(info, stmt)
            case ast.Expr(value=ast.Call() as call):
                return self._call(info, call, index)
            case ast.With(body=body) | ast.AsyncWith(body=body):
                return self._run(info, body, index)
            case ast.Try() | ast.TryStar():
                return self._try(info, stmt, index)
            case ast.Raise(exc=exc):
                name = _last_name(exc) if exc is not None else "RuntimeError"
                return Failure(name, "raised at module level")
            case ast.While(test=ast.Constant(value=test)) if test and not _breaks_out(stmt):
                self._unfollowed(info, stmt)
                return Failure(
                    "an endless loop",
                    "this loop has a true condition and no `break`: it runs until it raises, if ever "
                    "(Nautobot's import hangs or fails here)",
                )
            case _:
                self._unfollowed(info, stmt)
        return None

    def _try(self, info: ModuleInfo, stmt: ast.Try | ast.TryStar, index: int) -> Failure | None:
        failure = self._run(info, stmt.body, index)
        if failure is not None:
            if not any(_caught_by(handler, failure) for handler in stmt.handlers):
                return failure
            for handler in stmt.handlers:
                self._unfollowed(info, handler)
        else:
            failure = self._run(info, stmt.orelse, index)
            if failure is not None:
                return failure
        return self._run(info, stmt.finalbody, index)

    def _unfollowed(self, info: ModuleInfo, stmt: ast.AST) -> None:
        """register_jobs() calls that may or may not run (in a function, an `if`, a loop) are not followed."""
        if not info.may_call_register_jobs(stmt):
            return  # most statements: no need to walk a whole class or function to know
        for node in ast.walk(stmt):
            if isinstance(node, ast.Call) and _looks_like_register(node.func):
                self.report(
                    info.location(node),
                    "register_jobs() is called inside a block or function, which discovery does not follow: "
                    "call it at module level so the registered classes can be discovered",
                )

    def _import_from(self, info: ModuleInfo, stmt: ast.ImportFrom) -> Failure | None:
        module = resolve_relative(info.package, stmt.module, stmt.level)
        if module is None:
            return Failure("ImportError", "attempted relative import beyond top-level package")
        if self.is_external(module):
            return None
        failure = self.import_module(module)
        if failure is not None:
            return failure
        for alias in stmt.names:
            if alias.name == "*" or self._binds(module, alias.name):
                continue
            submodule = f"{module}.{alias.name}"
            if self.project.module(submodule) is None:
                return Failure("ImportError", f"cannot import name '{alias.name}' from '{module}'")
            failure = self.import_module(submodule)
            if failure is not None:
                return failure
        return None

    def _binds(self, module: str, name: str) -> bool:
        """Whether `module` has bound `name` by now (a star import is given the benefit of the doubt)."""
        info = self.project.module(module)
        if info is None or info.tree is None:
            return True
        before = self._state.get(module)
        binding = info.namespace.last(name, before)
        return binding is not None or info.namespace.star_before(before)

    def _call(self, info: ModuleInfo, call: ast.Call, index: int) -> Failure | None:
        scope = Scope(info, index)
        try:
            func = self.ev.evaluate(call.func, scope)
        except NotStatic as exc:
            if _looks_like_register(call.func):
                self.report(info.location(call), f"cannot tell which function this is: {exc.message}")
            return None
        if not (isinstance(func, External) and known.canonical(func.qualname) == known.REGISTER_JOBS):
            if _looks_like_register(call.func):
                message = f"`{shown_code(call.func)}` is {describe(func)}, not Nautobot's register_jobs"
                self.report(info.location(call), f"{message} (import it from nautobot.apps.jobs)")
            for argument in [*call.args, *(keyword.value for keyword in call.keywords)]:
                self._unfollowed(info, argument)
            return None
        if call.keywords:
            return Failure("TypeError", "register_jobs() got an unexpected keyword argument")
        for arg in call.args:
            try:
                values = self._arguments(arg, scope)
            except Undefined as exc:
                return Failure("NameError", exc.message, exc.node)
            except NotStatic as exc:
                self.report(
                    exc.module.location(exc.node),
                    f"register_jobs() argument cannot be resolved statically ({exc.message}); "
                    "pass Job classes (or a module-level list/tuple of them) so they can be discovered",
                )
                continue
            for value, node in values:
                failure = self._register(info, value, node, call)
                if failure is not None:
                    return failure
        return None

    def _arguments(self, arg: ast.expr, scope: Scope) -> list[tuple[Value, ast.expr]]:
        if isinstance(arg, ast.Starred):
            items = self.ev.items(self.ev.evaluate(arg.value, scope), arg, scope.module)
            return [(item, arg) for item in items]
        return [(self.ev.evaluate(arg, scope), arg)]

    def _register(self, info: ModuleInfo, value: Value, node: ast.expr, call: ast.Call) -> Failure | None:
        cls = self.ev.as_class(value)
        if isinstance(cls, LocalClass):
            try:
                is_job = _BASE_JOB in self.ev.mro(cls)
            except NotStatic:
                is_job = True  # unknown bases: registered; the refresh step reports why it cannot be read
            if is_job:
                self.registry.register(Registration(cls, self.ev, self.source, info.location(call)))
                return None
        elif isinstance(cls, KnownClass) and cls.qualname in known.JOB_BASES:
            self.report(
                info.location(node),
                f"register_jobs() is given Nautobot's own {cls.qualname}, not a Job of this code; ignored",
                Severity.WARNING,
            )
            return None
        elif isinstance(value, External):
            self.report(
                info.location(node),
                f"register_jobs() is given {describe(value)}: it cannot be read, so it is not discovered",
            )
            return None
        return Failure("AttributeError", f"register_jobs() needs Job classes, not {describe(value)}", node)


def new_interpreter(tree: Tree, sink: Sink, default_queue: str, registry: Registry, source: SourceKind) -> Interpreter:
    return Interpreter(Evaluator(Project(tree, sink), default_queue), registry, source)


def _walk(
    interp: Interpreter,
    directory_parts: list[str],
    prefix: str,
    wanted: Callable[[str], bool],
    walk_into: Callable[[str], bool],
    refused: Callable[[str], str | None],
    discovered: list[str],
) -> None:
    """Phase 1: pkgutil.walk_packages. A function of its own, not a closure: a nested function that calls
    itself is a reference cycle, which kept the interpreter and every syntax tree alive after discovery
    until Python's cyclic collector next ran."""
    tree = interp.project.tree
    for name, is_package in tree.iter_modules(tree.root.joinpath(*directory_parts), prefix):
        if wanted(name):
            reason = refused(name) if "." not in name else None
            if reason is not None:
                interp.report(Location(str(tree.root / name)), reason, Severity.WARNING)
                continue
            discovered.append(name)
        if is_package and walk_into(name) and interp.import_module(name) is None:
            _walk(
                interp, [*directory_parts, name.rpartition(".")[2]], f"{name}.", wanted, walk_into, refused, discovered
            )


def import_modules_privately(
    interp: Interpreter,
    module_path: str | None,
    ignore_import_errors: bool,
    walk_into: Callable[[str], bool],
    refused: Callable[[str], str | None],
) -> Failure | None:
    """Nautobot's four phases: walk (importing packages as pkgutil does), forget, import the top-level
    names in sorted order, then every discovered module not imported yet.

    `walk_into` limits which packages the walk imports; `refused` gives the reason Nautobot would skip a
    top-level name that conflicts with an installed module.
    """
    tree = interp.project.tree
    discovered: list[str] = []

    def wanted(name: str) -> bool:
        return module_path is None or (
            module_path.startswith(f"{name}.") or name == module_path or name.startswith(f"{module_path}.")
        )

    _walk(interp, [], "", wanted, walk_into, refused, discovered)
    interp.forget(discovered)
    top_level = sorted({name for name in discovered if "." not in name})
    for name in [*top_level, *discovered]:
        if interp.loaded(name):
            continue
        if interp.project.module(name) is None:
            # pkgutil also lists compiled modules (.pyc, .so); there is no source to read.
            message = f"module `{name}` has no Python source (.py) to read; its Jobs are not discovered"
            interp.report(Location(str(tree.root / name.replace(".", "/"))), message, Severity.WARNING)
            continue
        failure = interp.import_module(name)
        if failure is not None and not ignore_import_errors:
            return failure
    return None
