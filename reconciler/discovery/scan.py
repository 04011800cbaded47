"""Parse job modules and record which names each statement list binds, without executing anything.

A binding remembers the index of the top-level statement (of the module, or of a class body) that
makes it, so a name can be looked up as it stands when a later statement runs. Bindings made inside
`if`/`for`/`while`/`match` blocks or `except` handlers may or may not happen: they are recorded as
opaque, and anything that depends on them is reported rather than guessed.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.diagnostics import Diagnostic, Location
from reconciler.discovery.tree import ModuleFile


@dataclass(frozen=True)
class ValueBinding:
    index: int
    value: ast.expr


@dataclass(frozen=True)
class ClassBinding:
    index: int
    node: ast.ClassDef


@dataclass(frozen=True)
class ModuleImport:
    """`import a.b` (binds `a`, module `a`) or `import a.b as x` (binds `x`, module `a.b`)."""

    index: int
    module: str
    node: ast.stmt


@dataclass(frozen=True)
class FromImport:
    """`from m import n`. `module` is absolute, or None for a relative import beyond the top package."""

    index: int
    module: str | None
    name: str
    node: ast.stmt


@dataclass(frozen=True)
class OpaqueBinding:
    index: int
    node: ast.AST
    reason: str


Binding = ValueBinding | ClassBinding | ModuleImport | FromImport | OpaqueBinding


@dataclass(frozen=True)
class StarImport:
    index: int
    module: str | None
    node: ast.stmt


@dataclass
class Namespace:
    """The bindings of one statement list, per name, in execution order."""

    names: dict[str, list[Binding]] = field(default_factory=dict)
    stars: list[StarImport] = field(default_factory=list)
    # Module-level `X.attr = ...` and `setattr(X, ...)`: they may change a class after its definition.
    attribute_writes: list[tuple[int, ast.expr]] = field(default_factory=list)
    # Names bound in ways not tracked by position (`global x` in a function, `x := ...`): maybe defined.
    elsewhere: set[str] = field(default_factory=set)

    def add(self, name: str, binding: Binding) -> None:
        self.names.setdefault(name, []).append(binding)

    def last(self, name: str, before: int | None = None) -> Binding | None:
        """The binding in force just before statement `before` runs (None: after the whole list)."""
        found: Binding | None = None
        for binding in self.names.get(name, ()):
            if before is not None and binding.index >= before:
                break
            found = binding
        return found

    def stars_after(self, binding: Binding | None, before: int | None) -> list[StarImport]:
        """Star imports that run after `binding` (and before `before`), latest first: they may rebind."""
        start = -1 if binding is None else binding.index
        return [star for star in reversed(self.stars) if star.index > start and (before is None or star.index < before)]


def resolve_relative(package: str, module: str | None, level: int) -> str | None:
    """The absolute module of `from <level dots><module> import ...` in `package` (None: beyond the top)."""
    if level == 0:
        return module
    parts = package.split(".") if package else []
    if level - 1 >= len(parts) or not parts:
        return None
    base = parts[: len(parts) - (level - 1)]
    return ".".join([*base, module]) if module else ".".join(base)


_MUTATING_METHODS = frozenset({"append", "extend", "insert", "remove", "pop", "clear", "update", "add"})


class _Collector:
    def __init__(self, package: str, namespace: Namespace) -> None:
        self.package = package
        self.ns = namespace

    def statements(self, body: list[ast.stmt], index: int | None, conditional: bool) -> None:
        for position, stmt in enumerate(body):
            self.statement(stmt, position if index is None else index, conditional)

    def _bind(self, name: str, binding: Binding, conditional: bool, node: ast.AST, where: str) -> None:
        if conditional:
            binding = OpaqueBinding(binding.index, node, f"`{name}` is bound {where}")
        self.ns.add(name, binding)

    def statement(self, stmt: ast.stmt, index: int, conditional: bool) -> None:
        where = "conditionally (inside a block that may not run)"
        match stmt:
            case ast.ClassDef(name=name):
                self._bind(name, ClassBinding(index, stmt), conditional, stmt, where)
            case ast.FunctionDef(name=name) | ast.AsyncFunctionDef(name=name):
                self.ns.add(name, OpaqueBinding(index, stmt, f"`{name}` is a function"))
            case ast.Assign(targets=targets, value=value):
                for target in targets:
                    self.target(target, value, index, conditional)
            case ast.AnnAssign(target=target, value=value) if value is not None:
                self.target(target, value, index, conditional)
            case ast.AugAssign(target=ast.Name(id=name)):
                self.ns.add(name, OpaqueBinding(index, stmt, f"`{name}` is changed by an augmented assignment"))
            case ast.Import(names=aliases):
                for alias in aliases:
                    bound = alias.asname or alias.name.partition(".")[0]
                    module = alias.name if alias.asname else bound
                    self._bind(bound, ModuleImport(index, module, stmt), conditional, stmt, where)
            case ast.ImportFrom(module=module, names=aliases, level=level):
                absolute = resolve_relative(self.package, module, level)
                for alias in aliases:
                    if alias.name == "*":
                        self.ns.stars.append(StarImport(index, absolute, stmt))
                        continue
                    binding = FromImport(index, absolute, alias.name, stmt)
                    self._bind(alias.asname or alias.name, binding, conditional, stmt, where)
            case ast.Expr(value=ast.Call(func=ast.Attribute(value=ast.Name(id=name), attr=method))) if (
                method in _MUTATING_METHODS
            ):
                self.ns.add(name, OpaqueBinding(index, stmt, f"`{name}` is changed in place by .{method}()"))
            case ast.Expr(value=ast.Call(func=ast.Name(id="setattr"), args=[obj, *_])):
                self.ns.attribute_writes.append((index, obj))
            case ast.Delete(targets=targets):
                for target in targets:
                    self.target(target, None, index, conditional)
            case ast.If() | ast.For() | ast.AsyncFor() | ast.While() | ast.Match():
                self.compound(stmt, index)
            case ast.With(items=items, body=body) | ast.AsyncWith(items=items, body=body):
                for item in items:
                    if item.optional_vars is not None:
                        self.target(item.optional_vars, None, index, conditional)
                self.statements(body, index, conditional)
            case (
                ast.Try(body=body, handlers=handlers, orelse=orelse, finalbody=final)
                | ast.TryStar(body=body, handlers=handlers, orelse=orelse, finalbody=final)
            ):
                self.statements(body, index, conditional)
                for handler in handlers:
                    if handler.name:
                        self.ns.add(handler.name, OpaqueBinding(index, handler, "bound by an except clause"))
                    self.statements(handler.body, index, True)
                self.statements(orelse, index, conditional)
                self.statements(final, index, conditional)

    def compound(self, stmt: ast.stmt, index: int) -> None:
        if isinstance(stmt, ast.For | ast.AsyncFor):
            self.target(stmt.target, None, index, True)
        if isinstance(stmt, ast.Match):
            for case in stmt.cases:
                self.statements(case.body, index, True)
            return
        for body in (getattr(stmt, "body", []), getattr(stmt, "orelse", [])):
            self.statements(body, index, True)

    def target(self, target: ast.expr, value: ast.expr | None, index: int, conditional: bool) -> None:
        match target:
            case ast.Name(id=name) if value is not None:
                self._bind(name, ValueBinding(index, value), conditional, target, "conditionally")
            case ast.Name(id=name):
                self.ns.add(name, OpaqueBinding(index, target, f"`{name}` is bound by a loop, with or del"))
            case ast.Tuple(elts=elts) | ast.List(elts=elts):
                for element in elts:
                    self.target(element, None, index, conditional)
            case ast.Starred(value=inner):
                self.target(inner, None, index, conditional)
            case ast.Attribute(value=obj):
                self.ns.attribute_writes.append((index, obj))
            case ast.Subscript(value=ast.Name(id=name)):
                self.ns.add(name, OpaqueBinding(index, target, f"`{name}` is changed in place by item assignment"))


def collect(body: list[ast.stmt], package: str) -> Namespace:
    namespace = Namespace()
    _Collector(package, namespace).statements(body, None, False)
    for stmt in body:
        for node in ast.walk(stmt):
            if isinstance(node, ast.Global):
                namespace.elsewhere.update(node.names)
            elif isinstance(node, ast.NamedExpr) and isinstance(node.target, ast.Name):
                namespace.elsewhere.add(node.target.id)
    return namespace


@dataclass
class ModuleInfo:
    """One parsed module (or a parse failure) and its module-level bindings."""

    file: ModuleFile
    display: str
    tree: ast.Module | None
    error: Diagnostic | None
    namespace: Namespace

    @property
    def name(self) -> str:
        return self.file.name

    @property
    def package(self) -> str:
        """The package relative imports start from."""
        return self.name if self.file.is_package else self.name.rpartition(".")[0]

    def location(self, node: ast.AST) -> Location:
        line: int = getattr(node, "lineno", 0)
        column: int = getattr(node, "col_offset", -1) + 1
        return Location(self.display, line, column)


def parse_module(file: ModuleFile, display: str) -> ModuleInfo:
    """Parse a module. A syntax error becomes a diagnostic and leaves the module without a tree.

    `compile()` runs after `ast.parse()` because some errors (`return` outside a function, ...) are only
    found by the compiler's symbol table; compiling builds a code object but never runs it.
    """
    package = file.name if file.is_package else file.name.rpartition(".")[0]
    empty = Namespace()
    if file.is_namespace:
        return ModuleInfo(file, display, ast.Module(body=[], type_ignores=[]), None, empty)
    try:
        source = Path(file.path).read_bytes()
        tree = ast.parse(source, filename=display)
        compile(tree, display, "exec", dont_inherit=True)
    except SyntaxError as exc:
        location = Location(display, exc.lineno or 0, exc.offset or 0)
        message = f"module `{file.name}` cannot be parsed: {exc.msg} (Nautobot fails to import it)"
        return ModuleInfo(file, display, None, Diagnostic(location, message), empty)
    except RecursionError:
        message = f"module `{file.name}` is nested too deeply to parse (Python fails to compile it too)"
        return ModuleInfo(file, display, None, Diagnostic(Location(display), message), empty)
    except (OSError, ValueError) as exc:
        message = f"module `{file.name}` cannot be read: {exc}"
        return ModuleInfo(file, display, None, Diagnostic(Location(display), message), empty)
    return ModuleInfo(file, display, tree, None, collect(tree.body, package))
