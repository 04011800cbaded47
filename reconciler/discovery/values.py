"""Evaluate expressions of job code statically: literals, names, imports within the tree, classes.

Only what is certain is evaluated. Calls, f-strings with placeholders, names bound conditionally or
imported from unknown packages raise NotStatic with the location of the offending expression.
"""

from __future__ import annotations

import ast
import builtins
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
    collect,
)


@dataclass(frozen=True)
class Found:
    """An attribute found in the body of a class of the tree."""

    binding: Binding
    owner: LocalClass


@dataclass(frozen=True)
class KnownAttr:
    """An attribute provided by a Nautobot class (a BaseJob classproperty, BaseJob.Meta...)."""

    owner: str
    name: str


_NUMBER_OPS: dict[type[ast.operator], Callable[[object, object], object]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
}


def _getitem(base: object, index: object) -> object:
    return operator.getitem(base, index)  # type: ignore[call-overload]


_MAX_DEPTH = 200  # names and sub-expressions followed at once; far beyond any real Meta value
_MAX_REPEAT = 10_000  # `"-" * 80` is a literal; a huge repetition is not worth building


def _repeat(a: object, b: object) -> object | None:
    """`sequence * int` (either way round), like Python, when the result stays small."""
    sequence, count = (a, b) if isinstance(b, int) else (b, a)
    if isinstance(count, bool) or not isinstance(count, int) or not isinstance(sequence, str | bytes | list | tuple):
        return None
    if len(sequence) * max(count, 0) > _MAX_REPEAT:
        return None
    return sequence * count


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
        self._mros: dict[LocalClass, tuple[ClassRef, ...]] = {}
        self._bodies: dict[int, ClassBody] = {}
        self._active: set[tuple[int, str, int | None, int | None]] = set()

    # -- scopes and classes -------------------------------------------------------------------------

    def body(self, cls: LocalClass) -> ClassBody:
        key = id(cls.node)
        if key not in self._bodies:
            namespace = collect(cls.node.body, cls.scope.module.package)
            self._bodies[key] = ClassBody(cls.node, namespace, cls.qualname)
        return self._bodies[key]

    def body_scope(self, cls: LocalClass, index: int | None) -> Scope:
        return Scope(cls.scope.module, cls.scope.position, self.body(cls), index)

    def as_class(self, value: Value) -> ClassRef | None:
        if isinstance(value, LocalClass | KnownClass):
            return value
        if isinstance(value, External):
            name = known.canonical(value.qualname)
            return KnownClass(name) if name in known.CLASS_MROS else None
        return None

    def mro(self, cls: ClassRef) -> tuple[ClassRef, ...]:
        if isinstance(cls, KnownClass):
            return tuple(KnownClass(name) for name in known.CLASS_MROS[cls.qualname])
        if cls not in self._mros:
            self._mros[cls] = self._linearize(cls)
        return self._mros[cls]

    def _linearize(self, cls: LocalClass) -> tuple[ClassRef, ...]:
        module = cls.scope.module
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
        key = (id(cls.node), "mro", None, None)
        if key in self._active:
            raise NotStatic(module, cls.node, f"class {cls.qualname} inherits from itself")
        self._active.add(key)
        try:
            merged = c3_merge([*(self.mro(base) for base in bases), bases])
        finally:
            self._active.discard(key)
        if merged is None:
            raise NotStatic(module, cls.node, "the base classes have no consistent MRO (Python raises TypeError)")
        return (cls, *merged)

    def class_attribute(self, cls: ClassRef, name: str) -> Found | KnownAttr | None:
        """Where `cls.<name>` comes from, by Python's attribute lookup along the MRO."""
        for owner in self.mro(cls):
            if isinstance(owner, LocalClass):
                binding = self.body(owner).namespace.last(name)
                if binding is not None:
                    return Found(binding, owner)
            elif name in known.CLASS_ATTRIBUTES.get(owner.qualname, ()):
                return KnownAttr(owner.qualname, name)
        return None

    def value_of(self, found: Found) -> Value:
        return self.bound(found.binding, self.body_scope(found.owner, found.binding.index))

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
        for star in info.namespace.stars_after(binding, before):
            value = self._from_star(info, star, name)
            if value is not None:
                return value
        if binding is None:
            return None
        return self.bound(binding, Scope(info, binding.index))

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
                return Lit(setting) if setting is not None else External(f"{qualname}.{name}")
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
        key = (id(node), scope.module.name, scope.position, scope.body_position)
        if key in self._active:
            raise NotStatic(scope.module, node, "the value refers to itself")
        if len(self._active) > _MAX_DEPTH:
            raise NotStatic(scope.module, node, "the expression is nested too deeply to follow")
        self._active.add(key)
        try:
            return self._evaluate(node, scope)
        finally:
            self._active.discard(key)

    def _evaluate(self, node: ast.expr, scope: Scope) -> Value:
        module = scope.module
        match node:
            case ast.Constant(value=value):
                return Lit(value)
            case ast.JoinedStr(values=parts):
                if all(isinstance(part, ast.Constant) for part in parts):
                    return Lit("".join(str(part.value) for part in parts if isinstance(part, ast.Constant)))
                raise NotStatic(module, node, "an f-string with placeholders")
            case ast.List(elts=elts) | ast.Tuple(elts=elts):
                return self._sequence(elts, isinstance(node, ast.Tuple), scope)
            case ast.Set() | ast.Dict():
                return self._hashed(node, scope)
            case ast.UnaryOp(op=op, operand=operand):
                return self._unary(op, self.literal(operand, scope), node, module)
            case ast.BinOp(left=left, op=op, right=right):
                return self._binary(self.evaluate(left, scope), op, self.evaluate(right, scope), node, module)
            case ast.Name(id=name):
                return self.lookup(name, scope, node)
            case ast.Attribute(value=base, attr=name):
                return self.attribute(self.evaluate(base, scope), name, node, scope)
            case ast.Subscript(value=base, slice=index):
                return self._subscript(self.literal(base, scope), self.literal(index, scope), node, module)
            case ast.Call(func=func):
                return self._call(func, node, scope)
        raise NotStatic(module, node, f"`{ast.unparse(node)}` is not a literal")

    def _sequence(self, elts: list[ast.expr], is_tuple: bool, scope: Scope) -> Value:
        items: list[Value] = []
        for elt in elts:
            if isinstance(elt, ast.Starred):
                inner = self.evaluate(elt.value, scope)
                items.extend(self.items(inner, elt, scope.module))
            else:
                items.append(self.evaluate(elt, scope))
        if all(isinstance(item, Lit) for item in items):
            values = [item.value for item in items if isinstance(item, Lit)]
            return Lit(tuple(values) if is_tuple else values)
        return Seq(tuple(items), is_tuple)

    def _hashed(self, node: ast.Set | ast.Dict, scope: Scope) -> Lit:
        try:
            if isinstance(node, ast.Set):
                return Lit({self.literal(elt, scope) for elt in node.elts})
            pairs: dict[object, object] = {}
            for key, item in zip(node.keys, node.values, strict=True):
                if key is None:
                    raise NotStatic(scope.module, item, "a `**` expansion in a dict, not a literal")
                pairs[self.literal(key, scope)] = self.literal(item, scope)
            return Lit(pairs)
        except TypeError:
            raise NotStatic(scope.module, node, "an unhashable item in a set or dict key") from None

    def items(self, value: Value, node: ast.AST, module: ModuleInfo) -> list[Value]:
        """The items of a list/tuple value (for `*args` and concatenation)."""
        if isinstance(value, Seq):
            return list(value.items)
        if isinstance(value, Lit) and isinstance(value.value, list | tuple):
            return [Lit(item) for item in value.value]
        raise NotStatic(module, node, f"{describe(value)} is not a literal list or tuple")

    def _call(self, func: ast.expr, node: ast.Call, scope: Scope) -> Value:
        try:
            callee = self.as_class(self.evaluate(func, scope))
        except NotStatic:
            callee = None
        if callee is None:
            raise NotStatic(scope.module, node, f"a call of `{ast.unparse(func)}`: calls are never evaluated")
        return Instance(callee)

    def _unary(self, op: ast.unaryop, value: object, node: ast.AST, module: ModuleInfo) -> Lit:
        if isinstance(op, ast.Not):
            return Lit(not value)
        if _is_number(value) and isinstance(op, ast.USub | ast.UAdd):
            return Lit(-value if isinstance(op, ast.USub) else +value)
        raise NotStatic(module, node, f"`{ast.unparse(node)}` is not a literal")

    def _binary(self, left: Value, op: ast.operator, right: Value, node: ast.AST, module: ModuleInfo) -> Value:
        if isinstance(left, Lit) and isinstance(right, Lit):
            a, b = left.value, right.value
            if _is_number(a) and _is_number(b) and type(op) in _NUMBER_OPS:
                return Lit(_NUMBER_OPS[type(op)](a, b))
            same_kind = type(a) is type(b) and isinstance(a, str | bytes | list | tuple)
            if same_kind and isinstance(op, ast.Add):
                return Lit(operator.add(a, b))
            repeated = _repeat(a, b) if isinstance(op, ast.Mult) else None
            if repeated is not None:
                return Lit(repeated)
        kinds = {_sequence_kind(left), _sequence_kind(right)}
        if isinstance(op, ast.Add) and len(kinds) == 1 and None not in kinds:
            items = (*self.items(left, node, module), *self.items(right, node, module))
            return Seq(items, kinds == {"tuple"})
        raise NotStatic(module, node, f"`{ast.unparse(node)}` is not a literal expression")

    def _subscript(self, base: object, index: object, node: ast.AST, module: ModuleInfo) -> Lit:
        if isinstance(base, list | tuple | dict | str):
            try:
                return Lit(_getitem(base, index))
            except (IndexError, KeyError, TypeError) as exc:
                raise NotStatic(module, node, f"`{ast.unparse(node)}` fails: {exc!r}") from None
        raise NotStatic(module, node, f"`{ast.unparse(node)}` is not a literal")

    def literal(self, node: ast.expr, scope: Scope) -> object:
        """The plain Python value of an expression that must be a literal."""
        return self.to_python(self.evaluate(node, scope), node, scope.module)

    def to_python(self, value: Value, node: ast.AST, module: ModuleInfo) -> object:
        if isinstance(value, Lit):
            return value.value
        raise NotStatic(module, node, f"{describe(value)}, not a literal")
