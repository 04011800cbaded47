"""Evaluate expressions of job code statically: literals, names, imports within the tree, classes.

Only what is certain is evaluated. Calls, f-strings with placeholders, names bound conditionally or
imported from unknown packages raise NotStatic with the location of the offending expression.

Job code may be hostile, so evaluation is bounded: a value whose size cannot be bounded is refused before
it is built (`"x" * 10**12`, `2**10**10` and `(1,) * 10**9` are never computed), names and expressions
are followed only so deep, and each expression is evaluated once per scope, so that `a1 = a0 + a0;
a2 = a1 + a1; ...` costs as many steps as it has lines.
"""

from __future__ import annotations

import ast
import builtins
import functools
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeGuard

from reconciler.discovery import known
from reconciler.discovery.project import Project
from reconciler.discovery.refs import (
    ClassBody,
    ClassRef,
    External,
    Instance,
    KnownClass,
    Lit,
    LocalClass,
    ModuleRef,
    NotStatic,
    Scope,
    Seq,
    Undefined,
    Value,
    c3_merge,
    describe,
    shown_code,
)
from reconciler.discovery.scan import (
    Binding,
    ClassBinding,
    FromImport,
    ModuleImport,
    ModuleInfo,
    OpaqueBinding,
    StarImport,
    ValueBinding,
)


@dataclass(slots=True)
class Found:
    """An attribute found in the body of a class of the tree. (Not frozen: one is made for every attribute
    read, and a frozen dataclass takes three times as long to make.)"""

    binding: Binding
    owner: LocalClass


@dataclass(frozen=True)
class KnownAttr:
    """An attribute provided by a Nautobot class (a BaseJob classproperty, BaseJob.Meta...)."""

    owner: str
    name: str


_KNOWN_ATTRIBUTES = {
    owner: {name: KnownAttr(owner, name) for name in names} for owner, names in known.CLASS_ATTRIBUTES.items()
}


# Evaluator.class_attribute() of one class for every name it has, found in one pass over its MRO.
AttributeTable = dict[str, Found | KnownAttr]


_NUMBER_OPS: dict[type[ast.operator], Callable[[object, object], object]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
}


def _getitem(base: object, index: object) -> object:
    return operator.getitem(base, index)  # type: ignore[call-overload]


# Names, sub-expressions, star imports and base classes followed at once; far beyond any real Meta
# value, and low enough that following them stays within Python's recursion limit.
_MAX_DEPTH = 100
_MAX_REPEAT = 10_000  # `"-" * 80` is a literal; a huge repetition is not worth building
_MAX_SIZE = 1_000_000  # Lit.size of any value built: characters of strings, items of containers
_MAX_INT_BITS = 4_096  # of an int computed (+, -, *); a literal int has at most 4,300 digits already
_MAX_MRO = 500  # classes in the linearization of one class


def _constant_size(value: object) -> int:
    """Lit.size of a scalar (a container's size comes from the sizes of its parts)."""
    if isinstance(value, str | bytes):
        return len(value) or 1
    if type(value) is int:
        return 1 + value.bit_length() // 64
    return 1


def _scalar(value: object) -> Lit:
    return Lit(value, _constant_size(value))


def _repeat(a: Lit, b: Lit) -> tuple[object, int] | None:
    """`sequence * int` (either way round), like Python, when the result stays small: (value, size)."""
    sequence, count = (a, b) if isinstance(b.value, int) else (b, a)
    items = sequence.value
    times = count.value
    if isinstance(times, bool) or not isinstance(times, int) or not isinstance(items, str | bytes | list | tuple):
        return None
    if len(items) * max(times, 0) > _MAX_REPEAT or sequence.size * max(times, 0) > _MAX_SIZE:
        return None
    return items * times, max(1, sequence.size * max(times, 0))


def _repeat_count(a: Lit, b: Lit) -> int | None:
    """The count of `sequence * int` (either way round), whether or not it is small."""
    for sequence, count in ((a, b), (b, a)):
        if isinstance(sequence.value, str | bytes | list | tuple) and type(count.value) is int:
            return count.value
    return None


def _size_of(value: Value) -> int:
    return value.size if isinstance(value, Lit | Seq) else 1


@functools.lru_cache(maxsize=1024)  # bounded: the loop reads new code for as long as it runs
def _known_class(qualname: str) -> KnownClass | None:
    """The Nautobot class an external name is (`nautobot.apps.jobs.Job` is extras.jobs.Job), if known."""
    name = known.canonical(qualname)
    return KnownClass(name) if name in known.CLASS_MROS else None


_KNOWN_MROS: dict[str, tuple[ClassRef, ...]] = {
    name: tuple(KnownClass(base) for base in bases) for name, bases in known.CLASS_MROS.items()
}


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _sequence_kind(value: Value) -> str | None:
    if isinstance(value, Seq):
        return "tuple" if value.is_tuple else "list"
    if isinstance(value, Lit) and isinstance(value.value, list | tuple):
        return "tuple" if isinstance(value.value, tuple) else "list"
    return None


class Evaluator:
    def __init__(self, project: Project, default_queue: str) -> None:
        self.project = project
        self.default_queue = default_queue
        self._mros: dict[int, tuple[ClassRef, ...]] = {}  # by id() of the class statement
        self._bodies: dict[int, ClassBody] = {}
        # What is being followed now (expressions, star imports, class linearizations), to stop cycles
        # and bound the depth.
        self._active: set[tuple[object, ...]] = set()
        # Each expression's value per scope, once found (a failure is not kept: it may depend on depth).
        # Keys: id() of the node, of the module, the position, id() of the class statement, the body position.
        self._values: dict[tuple[int, int, int | None, int | None, int | None], Value] = {}
        self._globals: dict[int, Value] = {}  # the value of each module-level binding, by id() of the binding
        # The classes module-level `X.attr = ...` / setattr(X, ...) name: the first such write of each
        # (module order, statement order, module, node), from the first `_writes_read` modules read.
        self._writes: dict[LocalClass, tuple[int, int, ModuleInfo, ast.expr]] = {}
        self._writes_read = 0

    # -- scopes and classes -------------------------------------------------------------------------

    def body(self, cls: LocalClass) -> ClassBody:
        key = id(cls.node)
        if key not in self._bodies:
            namespace = cls.scope.module.class_body(cls.node)
            self._bodies[key] = ClassBody(cls.node, namespace, cls.qualname)
        return self._bodies[key]

    def body_scope(self, cls: LocalClass, index: int | None) -> Scope:
        return Scope(cls.scope.module, cls.scope.position, self.body(cls), index)

    def as_class(self, value: Value) -> ClassRef | None:
        if isinstance(value, LocalClass | KnownClass):
            return value
        if isinstance(value, External):
            return _known_class(value.qualname)
        return None

    def mro(self, cls: ClassRef) -> tuple[ClassRef, ...]:
        if isinstance(cls, KnownClass):
            return _KNOWN_MROS[cls.qualname]
        found = self._mros.get(id(cls.node))
        if found is None:
            found = self._mros[id(cls.node)] = self._linearize(cls)
        return found

    def _linearize(self, cls: LocalClass) -> tuple[ClassRef, ...]:
        module = cls.scope.module
        if len(self._active) > _MAX_DEPTH:
            message = f"its base classes inherit from one another more than {_MAX_DEPTH} deep: not followed that far"
            raise NotStatic(module, cls.node, message)
        bases: list[ClassRef] = []
        for node in cls.node.bases:
            value = self.evaluate(node, cls.scope)
            base = self.as_class(value)
            if base is None:
                raise NotStatic(
                    module,
                    node,
                    f"base class {describe(value)} cannot be followed (only Nautobot's Job classes "
                    "and classes of this code are known)",
                )
            bases.append(base)
        if not bases:
            bases.append(KnownClass(known.OBJECT))
        key = ("mro", id(cls.node))
        if key in self._active:
            raise NotStatic(module, cls.node, f"class {cls.qualname} inherits from itself")
        self._active.add(key)
        try:
            linearizations = [self.mro(base) for base in bases]
        finally:
            self._active.discard(key)
        if len(linearizations) == 1:
            return (cls, *linearizations[0])  # what C3 gives for a single base
        if sum(len(classes) for classes in linearizations) > _MAX_MRO:
            raise NotStatic(module, cls.node, f"the class hierarchy has more than {_MAX_MRO} classes to follow")
        merged = c3_merge([*linearizations, bases])
        if merged is None:
            raise NotStatic(module, cls.node, "the base classes have no consistent MRO (Python raises TypeError)")
        return (cls, *merged)

    def class_attribute(self, cls: ClassRef, name: str) -> Found | KnownAttr | None:
        """Where `cls.<name>` comes from, by Python's attribute lookup along the MRO."""
        for owner in self.mro(cls):
            if isinstance(owner, LocalClass):
                bindings = owner.scope.module.class_body(owner.node).names.get(name)
                if bindings:
                    return Found(bindings[-1], owner)
            elif name in known.CLASS_ATTRIBUTES.get(owner.qualname, ()):
                return KnownAttr(owner.qualname, name)
        return None

    def attributes(self, cls: ClassRef) -> AttributeTable:
        """class_attribute() of every name at once, for a class whose fields are all read."""
        table: AttributeTable = {}
        for owner in reversed(self.mro(cls)):  # a class earlier in the MRO hides the names of later ones
            if isinstance(owner, LocalClass):
                for name, bindings in owner.scope.module.class_body(owner.node).names.items():
                    table[name] = Found(bindings[-1], owner)
            else:
                table.update(_KNOWN_ATTRIBUTES.get(owner.qualname, {}))
        return table

    def value_of(self, found: Found) -> Value:
        binding = found.binding
        if type(binding) is ValueBinding and type(binding.value) is ast.Constant:
            return _scalar(binding.value.value)  # most Meta values: no scope to build
        return self.bound(binding, self.body_scope(found.owner, binding.index))

    def first_write(self, classes: list[LocalClass]) -> tuple[ModuleInfo, ast.expr] | None:
        """The first module-level `X.attr = ...` or `setattr(X, ...)` (in the order modules were read, then
        in statement order) that may change one of `classes`, or None.

        The writes of each module are evaluated once, into one index of the classes they name; modules
        read since the last call are added to it."""
        parsed = self.project.parsed()
        for order in range(self._writes_read, len(parsed)):
            info = parsed[order]
            for position, (index, obj) in enumerate(info.namespace.attribute_writes):
                try:
                    value = self.evaluate(obj, Scope(info, index))
                except NotStatic:
                    continue
                if isinstance(value, LocalClass) and value not in self._writes:
                    self._writes[value] = (order, position, info, obj)
        self._writes_read = len(parsed)
        if not self._writes:
            return None  # most job code: no class is changed after its statement
        found = [self._writes[cls] for cls in classes if cls in self._writes]
        if not found:
            return None
        _, _, info, obj = min(found, key=lambda write: (write[0], write[1]))
        return info, obj

    # -- names --------------------------------------------------------------------------------------

    def bound(self, binding: Binding, scope: Scope) -> Value:
        """The value of a binding, evaluated where its statement runs."""
        module = scope.module
        match binding:
            case ValueBinding(value=value):
                return self.evaluate(value, scope)
            case ClassBinding(node=node):
                qualname = f"{scope.body.qualname}.{node.name}" if scope.body else node.name
                return LocalClass(module.name, qualname, node, scope, node.lineno, node.col_offset + 1)
            case ModuleImport(module=name):
                return ModuleRef(name) if self.project.module(name) is not None else External(name)
            case FromImport(module=None, node=node):
                raise Undefined(module, node, "relative import beyond the top-level package")
            case FromImport(module=str(source), name=name, node=node):
                return self._import_from(module, node, source, name)
            case OpaqueBinding(node=node, reason=reason):
                raise NotStatic(module, node, reason)
        raise AssertionError(binding)  # pragma: no cover

    def _import_from(self, origin: ModuleInfo, node: ast.AST, source: str, name: str) -> Value:
        target = self.project.module(source)
        if target is None:
            return External(f"{source}.{name}")
        if target.error is not None:
            raise NotStatic(origin, node, f"module `{source}` cannot be parsed")
        value = self.global_value(target, name)
        if value is not None:
            return value
        if self.project.module(f"{source}.{name}") is not None:
            return ModuleRef(f"{source}.{name}")
        raise Undefined(origin, node, f"cannot import name `{name}` from `{source}`")

    def global_value(self, info: ModuleInfo, name: str, before: int | None = None) -> Value | None:
        """A module global as it stands before statement `before` (None: at the end); None if unbound."""
        binding = info.namespace.last(name, before)
        if not info.namespace.stars:  # the common case: the binding alone decides
            return None if binding is None else self._global(info, binding)
        for star in info.namespace.stars_after(binding, before):
            key = ("star", id(star.node), name)
            if key in self._active:
                raise NotStatic(info, star.node, f"star imports form a cycle: `{name}` cannot be followed")
            if len(self._active) > _MAX_DEPTH:
                raise NotStatic(info, star.node, f"star imports nest too deeply to follow `{name}`")
            self._active.add(key)
            try:
                value = self._from_star(info, star, name)
            finally:
                self._active.discard(key)
            if value is not None:
                return value
        if binding is None:
            return None
        return self._global(info, binding)

    def _global(self, info: ModuleInfo, binding: Binding) -> Value:
        """The value of a module-level binding, found once (every class statement looks up its bases)."""
        value = self._globals.get(id(binding))
        if value is None:
            value = self._globals[id(binding)] = self.bound(binding, Scope(info, binding.index))
        return value

    def _from_star(self, info: ModuleInfo, star: StarImport, name: str) -> Value | None:
        if star.module is None:
            raise Undefined(info, star.node, "relative import beyond the top-level package")
        target = self.project.module(star.module)
        if target is None:
            exported = known.star_exports(star.module)
            if exported is None:
                raise NotStatic(info, star.node, f"`from {star.module} import *` may bind `{name}`")
            return External(f"{star.module}.{name}") if name in exported else None
        public = self._exports(target)
        if (name not in public) if public is not None else name.startswith("_"):
            return None
        return self.global_value(target, name)

    def _exports(self, info: ModuleInfo) -> frozenset[str] | None:
        value = self.global_value(info, "__all__")
        if value is None:
            return None
        if isinstance(value, Lit) and isinstance(value.value, list | tuple):
            return frozenset(str(item) for item in value.value)
        binding = info.namespace.last("__all__")
        node: ast.AST = binding.node if isinstance(binding, ClassBinding | OpaqueBinding) else ast.Pass()
        if isinstance(binding, ValueBinding):
            node = binding.value
        raise NotStatic(info, node, "`__all__` is not a literal list of names")

    def lookup(self, name: str, scope: Scope, node: ast.AST) -> Value:
        if scope.body is not None:
            binding = scope.body.namespace.last(name, scope.body_position)
            if binding is not None:
                return self.bound(binding, Scope(scope.module, scope.position, scope.body, binding.index))
        value = self.global_value(scope.module, name, scope.position)
        if value is not None:
            return value
        if name in scope.module.namespace.elsewhere:
            raise NotStatic(scope.module, node, f"`{name}` is bound by `global` in a function or by `:=`")
        if name == "object":
            return KnownClass(known.OBJECT)
        if hasattr(builtins, name):
            return External(f"builtins.{name}")
        raise Undefined(scope.module, node, f"name `{name}` is not defined")

    def attribute(self, value: Value, name: str, node: ast.AST, scope: Scope) -> Value:
        module = scope.module
        match value:
            case ModuleRef(name=source):
                return self._import_from(module, node, source, name)
            case External(qualname=qualname):
                setting = known.setting(f"{qualname}.{name}", self.default_queue)
                return _scalar(setting) if setting is not None else External(f"{qualname}.{name}")
            case LocalClass() | KnownClass():
                found = self.class_attribute(value, name)
                if isinstance(found, Found):
                    return self.value_of(found)
                if found is not None:
                    if found.name == "Meta":
                        return KnownClass(known.BASE_JOB_META)
                    raise NotStatic(module, node, f"`{name}` is computed by Nautobot at run time")
                raise Undefined(module, node, f"{describe(value)} has no attribute `{name}`")
        raise NotStatic(module, node, f"attribute `{name}` of {describe(value)}")

    # -- expressions --------------------------------------------------------------------------------

    def evaluate(self, node: ast.expr, scope: Scope) -> Value:
        if type(node) is ast.Constant:  # the most common value, which refers to nothing: no bookkeeping
            return _scalar(node.value)
        body = None if scope.body is None else id(scope.body.node)
        key = (id(node), id(scope.module), scope.position, body, scope.body_position)
        known_value = self._values.get(key)
        if known_value is not None:
            return known_value
        if key in self._active:
            raise NotStatic(scope.module, node, "the value refers to itself")
        if len(self._active) > _MAX_DEPTH:
            raise NotStatic(scope.module, node, "the expression is nested too deeply to follow")
        self._active.add(key)
        try:
            value = self._values[key] = self._evaluate(node, scope)
        except RecursionError:  # the depth bound is counted in expressions, Python's in frames
            raise NotStatic(scope.module, node, "the expression is nested too deeply to follow") from None
        finally:
            self._active.discard(key)
        return value

    def _evaluate(self, node: ast.expr, scope: Scope) -> Value:
        module = scope.module
        match node:
            case ast.Constant(value=value):
                return _scalar(value)
            case ast.JoinedStr(values=parts):
                if all(isinstance(part, ast.Constant) for part in parts):
                    return _scalar("".join(str(part.value) for part in parts if isinstance(part, ast.Constant)))
                raise NotStatic(module, node, "an f-string with placeholders")
            case ast.List(elts=elts) | ast.Tuple(elts=elts):
                return self._sequence(elts, isinstance(node, ast.Tuple), scope)
            case ast.Set() | ast.Dict():
                return self._hashed(node, scope)
            case ast.UnaryOp(op=op, operand=operand):
                return self._unary(op, self._lit(operand, scope), node, module)
            case ast.BinOp(left=left, op=op, right=right):
                return self._binary(self.evaluate(left, scope), op, self.evaluate(right, scope), node, module)
            case ast.Name(id=name):
                return self.lookup(name, scope, node)
            case ast.Attribute(value=base, attr=name):
                return self.attribute(self.evaluate(base, scope), name, node, scope)
            case ast.Subscript(value=base, slice=index):
                return self._subscript(self._lit(base, scope), self.literal(index, scope), node, module)
            case ast.Call(func=func):
                return self._call(func, node, scope)
        raise NotStatic(module, node, f"`{shown_code(node)}` is not a literal")

    def _bounded(self, size: int, node: ast.AST, module: ModuleInfo) -> int:
        """`size` for a value about to be built, or NotStatic when it is too large to build."""
        if size > _MAX_SIZE:
            raise NotStatic(
                module,
                node,
                f"`{shown_code(node)}` would hold more than {_MAX_SIZE:,} items or characters: "
                "discovery does not build values that large",
            )
        return size

    def _sequence(self, elts: list[ast.expr], is_tuple: bool, scope: Scope) -> Value:
        if all(type(elt) is ast.Constant for elt in elts):  # `["default", "q1"]`: no name to look up
            constants = [elt.value for elt in elts]  # type: ignore[attr-defined]
            size = 1 + sum(_constant_size(value) for value in constants)
            if size > _MAX_SIZE:
                self._bounded(size, elts[-1], scope.module)
            return Lit(tuple(constants) if is_tuple else constants, size)
        items: list[Value] = []
        size = 1
        for elt in elts:
            if isinstance(elt, ast.Starred):
                inner = self.evaluate(elt.value, scope)
                size = self._bounded(size + inner.size if isinstance(inner, Lit | Seq) else size, elt, scope.module)
                items.extend(self.items(inner, elt, scope.module))
            else:
                item = self.evaluate(elt, scope)
                size = self._bounded(size + (item.size if isinstance(item, Lit | Seq) else 1), elt, scope.module)
                items.append(item)
        if all(isinstance(item, Lit) for item in items):
            values = [item.value for item in items if isinstance(item, Lit)]
            return Lit(tuple(values) if is_tuple else values, size)
        return Seq(tuple(items), is_tuple, size)

    def _hashed(self, node: ast.Set | ast.Dict, scope: Scope) -> Lit:
        size = 1
        try:
            if isinstance(node, ast.Set):
                members = set()
                for elt in node.elts:
                    member = self._lit(elt, scope)
                    size = self._bounded(size + member.size, elt, scope.module)
                    members.add(member.value)
                return Lit(members, size)
            pairs: dict[object, object] = {}
            for key, item in zip(node.keys, node.values, strict=True):
                if key is None:
                    raise NotStatic(scope.module, item, "a `**` expansion in a dict, not a literal")
                name, value = self._lit(key, scope), self._lit(item, scope)
                size = self._bounded(size + name.size + value.size, item, scope.module)
                pairs[name.value] = value.value
            return Lit(pairs, size)
        except TypeError:
            raise NotStatic(scope.module, node, "an unhashable item in a set or dict key") from None

    def items(self, value: Value, node: ast.AST, module: ModuleInfo) -> list[Value]:
        """The items of a list/tuple value (for `*args` and concatenation). An item's size is not kept
        apart from its container's: the container's bounds it."""
        if isinstance(value, Seq):
            return list(value.items)
        if isinstance(value, Lit) and isinstance(value.value, list | tuple):
            return [Lit(item, value.size) for item in value.value]
        raise NotStatic(module, node, f"{describe(value)} is not a literal list or tuple")

    def _call(self, func: ast.expr, node: ast.Call, scope: Scope) -> Value:
        try:
            callee = self.as_class(self.evaluate(func, scope))
        except NotStatic:
            callee = None
        if callee is None:
            raise NotStatic(scope.module, node, f"a call of `{shown_code(func)}`: calls are never evaluated")
        return Instance(callee)

    def _unary(self, op: ast.unaryop, operand: Lit, node: ast.AST, module: ModuleInfo) -> Lit:
        value = operand.value
        if isinstance(op, ast.Not):
            return Lit(not value)
        if _is_number(value) and isinstance(op, ast.USub | ast.UAdd):
            return Lit(-value if isinstance(op, ast.USub) else +value, operand.size)
        raise NotStatic(module, node, f"`{shown_code(node)}` is not a literal")

    def _number(self, a: int | float, op: ast.operator, b: int | float, node: ast.AST, module: ModuleInfo) -> Lit:
        try:
            result = _NUMBER_OPS[type(op)](a, b)
        except OverflowError:  # a float and an int too large for one
            result = None
        if result is None or (isinstance(result, int) and result.bit_length() > _MAX_INT_BITS):
            message = f"`{shown_code(node)}` is a number too large to compute statically (over {_MAX_INT_BITS:,} bits)"
            raise NotStatic(module, node, message)
        return _scalar(result)

    def _binary(self, left: Value, op: ast.operator, right: Value, node: ast.AST, module: ModuleInfo) -> Value:
        if isinstance(left, Lit) and isinstance(right, Lit):
            a, b = left.value, right.value
            if _is_number(a) and _is_number(b) and type(op) in _NUMBER_OPS:
                return self._number(a, op, b, node, module)
            same_kind = type(a) is type(b) and isinstance(a, str | bytes | list | tuple)
            if same_kind and isinstance(op, ast.Add):
                size = self._bounded(left.size + right.size, node, module)
                return Lit(operator.add(a, b), size)
            if isinstance(op, ast.Mult):
                repeated = _repeat(left, right)
                if repeated is not None:
                    return Lit(*repeated)
                if _repeat_count(left, right) is not None:
                    raise NotStatic(
                        module,
                        node,
                        f"`{shown_code(node)}` would hold more than {_MAX_REPEAT:,} items or characters: "
                        "discovery does not build values that large",
                    )
        kinds = {_sequence_kind(left), _sequence_kind(right)}
        if isinstance(op, ast.Add) and len(kinds) == 1 and None not in kinds:
            size = self._bounded(_size_of(left) + _size_of(right), node, module)
            items = (*self.items(left, node, module), *self.items(right, node, module))
            return Seq(items, kinds == {"tuple"}, size)
        raise NotStatic(module, node, f"`{shown_code(node)}` is not a literal expression")

    def _subscript(self, base: Lit, index: object, node: ast.AST, module: ModuleInfo) -> Lit:
        if isinstance(base.value, list | tuple | dict | str):
            try:
                return Lit(_getitem(base.value, index), base.size)
            except (IndexError, KeyError, TypeError) as exc:
                raise NotStatic(module, node, f"`{shown_code(node)}` fails: {exc!r}") from None
        raise NotStatic(module, node, f"`{shown_code(node)}` is not a literal")

    def _lit(self, node: ast.expr, scope: Scope) -> Lit:
        """The value of an expression that must be a literal."""
        value = self.evaluate(node, scope)
        if isinstance(value, Lit):
            return value
        raise NotStatic(scope.module, node, f"{describe(value)}, not a literal")

    def literal(self, node: ast.expr, scope: Scope) -> object:
        """The plain Python value of an expression that must be a literal."""
        return self._lit(node, scope).value

    def to_python(self, value: Value, node: ast.AST, module: ModuleInfo) -> object:
        if isinstance(value, Lit):
            return value.value
        raise NotStatic(module, node, f"{describe(value)}, not a literal")
