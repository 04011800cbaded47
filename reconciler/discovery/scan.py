"""Parse job modules and record which names each statement list binds, without executing anything.

A binding remembers the index of the top-level statement (of the module, or of a class body) that
makes it, so a name can be looked up as it stands when a later statement runs. Bindings made inside
`if`/`for`/`while`/`match` blocks or `except` handlers may or may not happen: they are recorded as
opaque, and anything that depends on them is reported rather than guessed.
"""

from __future__ import annotations

import ast
import bisect
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.diagnostics import Diagnostic, Location, Severity
from reconciler.discovery.tree import ModuleFile

# The largest module file discovery reads. A syntax tree takes about 55 times the size of its source in
# memory (140 times at the peak of parsing), so a 4 MiB module already costs some 500 MB; real job
# modules are a few hundred KiB at most. A larger file is reported, not read.
MAX_MODULE_BYTES = 4 * 1024 * 1024
# CPython's compiler keeps the code objects of a module in one dict whose hash leaves line numbers out,
# so N identical functions, classes or comprehensions (same name and body) cost it N² steps: 10,000
# take 9 s, 100,000 would take a quarter of an hour. Past this many, discovery does not compile() the
# module (it only parses it) and says so.
MAX_IDENTICAL_CODE = 2_000
_CODE_WORDS = (b"def", b"class", b"lambda", b"for")  # every code object is spelt with one of these


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
        # Statements are collected in order, so each list stays sorted by index.
        self.names.setdefault(name, []).append(binding)

    def last(self, name: str, before: int | None = None) -> Binding | None:
        """The binding in force just before statement `before` runs (None: after the whole list)."""
        bindings = self.names.get(name)
        if not bindings:
            return None
        if before is None or bindings[-1].index < before:
            return bindings[-1]
        if len(bindings) == 1:
            return None
        # A name may be bound 100,000 times: bisect (the list is sorted by index).
        position = bisect.bisect_left(bindings, before, key=_index_of)
        return bindings[position - 1] if position else None

    def stars_after(self, binding: Binding | None, before: int | None) -> list[StarImport]:
        """Star imports that run after `binding` (and before `before`), latest first: they may rebind."""
        start = -1 if binding is None else binding.index
        return [star for star in reversed(self.stars) if star.index > start and (before is None or star.index < before)]

    def star_before(self, before: int | None) -> bool:
        """Whether a star import runs before statement `before` (None: anywhere in the list)."""
        return bool(self.stars) and (before is None or self.stars[0].index < before)


def _index_of(binding: Binding) -> int:
    return binding.index


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
            at = position if index is None else index
            if not conditional and type(stmt) is ast.Assign and len(stmt.targets) == 1:
                target = stmt.targets[0]
                if type(target) is ast.Name:  # `name = value`, most statements of a class body
                    self.ns.add(target.id, ValueBinding(at, stmt.value))
                    continue
            self.statement(stmt, at, conditional)

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
    """The bindings of a class body (or of any statement list, `elsewhere` aside: see `collect_module`)."""
    namespace = Namespace()
    _Collector(package, namespace).statements(body, None, False)
    return namespace


def collect_module(tree: ast.Module, package: str, source: bytes | None) -> Namespace:
    """The bindings of a module, with the names `global` and `:=` may bind anywhere in it.

    Walking the whole tree for those costs about half a parse; an ASCII source that spells neither
    `global` nor `:=` has none, so its tree is not walked. (A non-ASCII source is walked all the same:
    identifiers are NFKC-normalized, so their spelling in the source is not the one in the tree.)
    """
    namespace = collect(tree.body, package)
    if source is not None and source.isascii() and b"global" not in source and b":=" not in source:
        return namespace
    for node in ast.walk(tree):
        if isinstance(node, ast.Global):
            namespace.elsewhere.update(node.names)
        elif isinstance(node, ast.NamedExpr) and isinstance(node.target, ast.Name):
            namespace.elsewhere.add(node.target.id)
    return namespace


_REGISTER_JOBS = re.compile(rb"\bregister_jobs\b")


def lines_naming_register_jobs(source: bytes | None) -> tuple[int, ...] | None:
    """The 1-based lines of an ASCII source that spell `register_jobs`, in order; None when that cannot
    be told from the text (a non-ASCII source, see `collect_module`)."""
    if source is None or not source.isascii():
        return None
    lines: list[int] = []
    line, counted = 1, 0
    for match in _REGISTER_JOBS.finditer(source):
        line += source.count(b"\n", counted, match.start())
        counted = match.start()
        lines.append(line)
    return tuple(lines)


@dataclass
class ModuleInfo:
    """One parsed module (or a parse failure) and its module-level bindings."""

    file: ModuleFile
    display: str
    tree: ast.Module | None
    error: Diagnostic | None
    namespace: Namespace
    # Lines that spell `register_jobs` (None: any line may), so that code which cannot call it is not walked.
    register_lines: tuple[int, ...] | None = None
    # Problems that do not stop the module from being read.
    warnings: list[Diagnostic] = field(default_factory=list)
    # The bindings of each class body, by id() of its ClassDef node (the tree keeps the nodes alive).
    _class_bodies: dict[int, Namespace] = field(default_factory=dict, repr=False)

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

    def class_body(self, node: ast.ClassDef) -> Namespace:
        """The bindings of a class statement's body, collected once."""
        found = self._class_bodies.get(id(node))
        if found is None:
            found = self._class_bodies[id(node)] = collect(node.body, self.package)
        return found

    def may_call_register_jobs(self, node: ast.AST) -> bool:
        """Whether the code of `node` may spell a register_jobs call (False: it certainly does not)."""
        if self.register_lines is None:
            return True
        first: int = getattr(node, "lineno", 0)
        last: int = getattr(node, "end_lineno", None) or first
        position = bisect.bisect_left(self.register_lines, first)
        return position < len(self.register_lines) and self.register_lines[position] <= last


_TOO_DEEP = "is nested too deeply for Python to parse (Nautobot fails to import it)"


def parse_module(file: ModuleFile, display: str) -> ModuleInfo:
    """Parse a module. A syntax error becomes a diagnostic and leaves the module without a tree.

    `compile()` runs after `ast.parse()` because some errors (`return` outside a function, ...) are only
    found by the compiler's symbol table; compiling builds a code object but never runs it. Code that
    nests too deeply fails in the parser with MemoryError or RecursionError, or in the compiler with
    RecursionError: Python's own import fails the same way, so the module is reported, not read.
    """
    package = file.name if file.is_package else file.name.rpartition(".")[0]
    empty = Namespace()
    if file.is_namespace:
        return ModuleInfo(file, display, ast.Module(body=[], type_ignores=[]), None, empty)

    def failed(location: Location, problem: str) -> ModuleInfo:
        return ModuleInfo(file, display, None, Diagnostic(location, f"module `{file.name}` {problem}"), empty)

    try:
        size = Path(file.path).stat().st_size
        if size > MAX_MODULE_BYTES:
            return failed(
                Location(display, 1),
                f"is {size:,} bytes, more than the {MAX_MODULE_BYTES:,} discovery reads of one module; "
                "its Jobs are not discovered",
            )
        source = Path(file.path).read_bytes()
    except OSError as exc:
        return failed(Location(display), f"cannot be read: {exc}")
    try:
        tree = ast.parse(source, filename=display)
    except SyntaxError as exc:
        line = exc.lineno or source.count(b"\n", 0, max(0, source.find(b"\0"))) + 1  # null bytes: no line given
        return failed(Location(display, line, exc.offset or 0), _cannot_parse(exc))
    except (RecursionError, MemoryError):
        return failed(Location(display, _first_too_deep(source)), _TOO_DEEP)
    except ValueError as exc:  # a source the parser refuses before reading it (Python 3.11 gives SyntaxError)
        return failed(Location(display, 1), f"cannot be parsed: {exc} (Nautobot fails to import it)")
    warnings: list[Diagnostic] = []
    identical = _identical_code(tree, source)
    if identical is not None:
        node, count = identical
        message = (
            f"module `{file.name}` has {count:,} identical definitions like this one: CPython compiles them in "
            "time that grows with the square of their number (importing the module may take minutes), so "
            "discovery does not check the module with compile()"
        )
        warnings.append(Diagnostic(Location(display, node.lineno, node.col_offset + 1), message, Severity.WARNING))
    else:
        try:
            compile(tree, display, "exec", dont_inherit=True)
        except SyntaxError as exc:
            return failed(Location(display, exc.lineno or 0, exc.offset or 0), _cannot_parse(exc))
        except (RecursionError, MemoryError):
            deepest = _deepest(tree)
            return failed(Location(display, deepest.lineno, deepest.col_offset + 1), _TOO_DEEP)
    info = ModuleInfo(file, display, tree, None, collect_module(tree, package, source))
    info.register_lines = lines_naming_register_jobs(source)
    info.warnings = warnings
    return info


_CODE_NODES = (
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
    ast.Lambda,
    ast.ListComp,
    ast.SetComp,
    ast.DictComp,
    ast.GeneratorExp,
)


def _identical_code(tree: ast.Module, source: bytes) -> tuple[ast.stmt | ast.expr, int] | None:
    """The first of more than MAX_IDENTICAL_CODE identical definitions, and their number, if any.

    A source that spells the words of definitions fewer times has none, and is not walked."""
    if sum(source.count(word) for word in _CODE_WORDS) <= MAX_IDENTICAL_CODE:
        return None
    groups: dict[tuple[type, str], list[ast.stmt | ast.expr]] = {}
    for node in ast.walk(tree):
        if isinstance(node, _CODE_NODES):
            name: str = getattr(node, "name", "")
            groups.setdefault((type(node), name), []).append(node)
    for nodes in groups.values():
        if len(nodes) > MAX_IDENTICAL_CODE:
            shapes = Counter(_shape(node) for node in nodes)
            shape, count = shapes.most_common(1)[0]
            if count > MAX_IDENTICAL_CODE:
                return next(node for node in nodes if _shape(node) == shape), count
    return None


def _shape(node: ast.AST) -> str:
    """A definition without its position: what CPython's hash of its code object depends on."""
    try:
        return ast.dump(node)
    except RecursionError:
        return str(id(node))  # too deep to compare: taken as unique


def _cannot_parse(exc: SyntaxError) -> str:
    return f"cannot be parsed: {exc.msg} (Nautobot fails to import it)"


def _first_too_deep(source: bytes) -> int:
    """The first line of the top-level statement that the parser cannot nest (0 when it is not found).

    Only reached when the module as a whole fails that way, so parsing it once more, statement by
    statement, costs nothing the other modules pay. Statements are cut at lines that start in column 0
    with code; a cut inside a string or brackets only makes a piece fail with a SyntaxError, skipped.
    """
    lines = source.splitlines(keepends=True)
    starts = [number for number, text in enumerate(lines) if text[:1] not in (b" ", b"\t", b"#", b"\n", b"\r", b"")]
    for position, start in enumerate(starts):
        end = starts[position + 1] if position + 1 < len(starts) else len(lines)
        piece = b"".join(lines[start:end])
        try:
            ast.parse(piece)
        except (RecursionError, MemoryError):
            return start + 1
        except (SyntaxError, ValueError):
            continue
    return 0


def _deepest(tree: ast.Module) -> ast.stmt | ast.expr:
    """The most deeply nested statement or expression of a tree (walked without recursion)."""
    deepest: ast.stmt | ast.expr = tree.body[0] if tree.body else ast.Pass(lineno=1, col_offset=0)
    most = 0
    stack: list[tuple[ast.AST, int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > most and isinstance(node, ast.stmt | ast.expr):
            deepest, most = node, depth
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return deepest
