"""Find a name that is certainly undefined when a top-level statement runs: Python raises NameError
there, and the import of the whole module stops (so none of its later register_jobs() calls run).

Only certain cases count: a name bound anywhere earlier (even conditionally), possibly bound by a star
import, a builtin or a module dunder is taken as defined. Code that runs later (function bodies,
lambdas, comprehensions) and blocks that may not run (`if`, loops) are not looked at.
"""

from __future__ import annotations

import ast
import builtins
from collections.abc import Iterator

from reconciler.discovery.scan import ModuleInfo, Namespace

_MODULE_DUNDERS = frozenset(
    {
        "__name__",
        "__file__",
        "__doc__",
        "__spec__",
        "__package__",
        "__loader__",
        "__path__",
        "__builtins__",
        "__cached__",
        "__annotations__",
        "__dict__",
    }
)
_CLASS_DUNDERS = frozenset({"__module__", "__qualname__"})
_LATER = (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
_LEAVES = (ast.Constant, *_LATER)


class _Body:
    """A class body being checked: its namespace and the index of the statement running in it.
    (A plain class: one is made per statement of every class body, and a frozen dataclass is slower.)"""

    __slots__ = ("inclusive", "namespace", "position")

    def __init__(self, namespace: Namespace, position: int, inclusive: bool) -> None:
        self.namespace = namespace
        self.position = position
        self.inclusive = inclusive


def _loads(node: ast.AST) -> Iterator[ast.Name]:
    """The names an expression loads when it runs, in source order."""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, ast.Name):
            if isinstance(current.ctx, ast.Load):
                yield current
        elif not isinstance(current, _LEAVES):  # a name or constant has no child worth visiting
            children = list(ast.iter_child_nodes(current))
            children.reverse()
            stack.extend(children)


def _loads_nothing(stmt: ast.stmt) -> bool:
    """`name = <constant>` (or a list or tuple of constants), the most common statement of a class body
    (a Meta's), loads no name."""
    if type(stmt) is not ast.Assign:
        return False
    for target in stmt.targets:
        if type(target) is not ast.Name:
            return False
    value = stmt.value
    if type(value) is ast.List or type(value) is ast.Tuple:
        return all(type(item) is ast.Constant for item in value.elts)
    return type(value) is ast.Constant


class _Checker:
    def __init__(self, info: ModuleInfo, index: int) -> None:
        self.info = info
        self.index = index

    def defined(self, name: str, body: _Body | None, inclusive: bool) -> bool:
        if body is not None:
            limit = body.position + 1 if body.inclusive else body.position
            if body.namespace.last(name, limit) is not None or name in _CLASS_DUNDERS:
                return True
        ns = self.info.namespace
        limit = self.index + 1 if inclusive else self.index
        if ns.last(name, limit) is not None or ns.star_before(limit) or name in ns.elsewhere:
            return True
        return name in _MODULE_DUNDERS or hasattr(builtins, name)

    def expressions(self, nodes: list[ast.expr], body: _Body | None, inclusive: bool) -> ast.Name | None:
        for node in nodes:
            if type(node) is ast.Constant:
                continue  # most values of a Meta class: nothing to look at
            for name in _loads(node):
                if not self.defined(name.id, body, inclusive):
                    return name
        return None

    def statement(self, stmt: ast.stmt, body: _Body | None, inclusive: bool) -> ast.Name | None:
        match stmt:
            case ast.ClassDef(bases=bases, keywords=keywords, decorator_list=decorators, body=statements):
                found = self.expressions([*decorators, *bases, *(k.value for k in keywords)], body, inclusive)
                if found is not None:
                    return found
                namespace = self.info.class_body(stmt)
                for position, inner in enumerate(statements):
                    if _loads_nothing(inner):
                        continue
                    found = self.statement(inner, _Body(namespace, position, False), inclusive)
                    if found is not None:
                        return found
                return None
            case (
                ast.FunctionDef(args=args, decorator_list=decorators)
                | ast.AsyncFunctionDef(args=args, decorator_list=decorators)
            ):
                defaults = [*args.defaults, *(d for d in args.kw_defaults if d is not None)]
                return self.expressions([*decorators, *defaults], body, inclusive)
            case ast.Assign(targets=targets, value=value):
                loads = [t for t in targets if not isinstance(t, ast.Name | ast.Tuple | ast.List | ast.Starred)]
                return self.expressions([value, *loads], body, inclusive)
            case ast.AnnAssign(value=value) if value is not None:
                return self.expressions([value], body, inclusive)
            case ast.AugAssign(target=target, value=value):
                return self.expressions([target, value], body, inclusive)
            case ast.Expr(value=value):
                return self.expressions([value], body, inclusive)
            case ast.With(items=items, body=statements) | ast.AsyncWith(items=items, body=statements):
                found = self.expressions([item.context_expr for item in items], body, inclusive)
                return found or self.block(statements, body)
            case ast.Try(body=statements) | ast.TryStar(body=statements):
                return self.block(statements, body)
        return None

    def block(self, statements: list[ast.stmt], body: _Body | None) -> ast.Name | None:
        """Statements nested in a with/try body: names bound anywhere in it count as bound before."""
        nested = None if body is None else _Body(body.namespace, body.position, True)
        for stmt in statements:
            found = self.statement(stmt, nested, True)
            if found is not None:
                return found
        return None


def first_undefined(info: ModuleInfo, stmt: ast.stmt, index: int, nested: bool) -> ast.Name | None:
    """The first certainly-undefined name the statement loads when it runs. `index` is the top-level
    statement holding it; `nested` is True inside a with/try body (see `_Checker.block`)."""
    checker = _Checker(info, index)
    # The interpreter runs with/try bodies statement by statement: only the with items are checked here.
    if isinstance(stmt, ast.With | ast.AsyncWith):
        return checker.expressions([item.context_expr for item in stmt.items], None, nested)
    if isinstance(stmt, ast.Try | ast.TryStar):
        return None
    return checker.statement(stmt, None, nested)
