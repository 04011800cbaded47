"""What a static expression can evaluate to, and the errors for what it cannot."""

from __future__ import annotations

import ast
from collections.abc import Sequence
from dataclasses import dataclass, field

from reconciler.discovery.scan import ModuleInfo, Namespace


@dataclass(frozen=True)
class ClassBody:
    node: ast.ClassDef
    namespace: Namespace
    qualname: str


@dataclass(frozen=True)
class Scope:
    """Where an expression runs: a module as it stands before top-level statement `position`, and, for
    code in a class body, that body before its statement `body_position` (class bodies do not nest)."""

    module: ModuleInfo
    position: int | None
    body: ClassBody | None = None
    body_position: int | None = None


@dataclass(frozen=True)
class Lit:
    """A Python literal value: str, bytes, numbers, bool, None, or containers of those."""

    value: object


@dataclass(frozen=True)
class Seq:
    """A list or tuple display holding something other than literals (classes, typically)."""

    items: tuple[Value, ...]
    is_tuple: bool


@dataclass(frozen=True)
class LocalClass:
    """A class statement of the job tree. `scope` is where the statement runs."""

    module: str
    qualname: str
    node: ast.ClassDef = field(compare=False, repr=False)
    scope: Scope = field(compare=False, repr=False)
    line: int = 0
    column: int = 0

    @property
    def name(self) -> str:
        return self.node.name

    @property
    def class_path(self) -> str:
        """Nautobot's `class_path`: `__module__` and `__name__` (jobs.py:301-313)."""
        return f"{self.module}.{self.name}"


@dataclass(frozen=True)
class KnownClass:
    """A Nautobot (or builtin) class from `known.CLASS_MROS`."""

    qualname: str


@dataclass(frozen=True)
class ModuleRef:
    """A module of the job tree."""

    name: str


@dataclass(frozen=True)
class External:
    """A name from outside the tree (`nautobot.apps.jobs.Job`, `django.conf.settings`, `requests`...)."""

    qualname: str


@dataclass(frozen=True)
class Instance:
    """What calling a class gives: `DryRunVar()`. Only its class matters."""

    cls: ClassRef


ClassRef = LocalClass | KnownClass
Value = Lit | Seq | LocalClass | KnownClass | ModuleRef | External | Instance


class NotStatic(Exception):
    """An expression whose value cannot be known without running the code."""

    def __init__(self, module: ModuleInfo, node: ast.AST, message: str) -> None:
        super().__init__(message)
        self.module = module
        self.node = node
        self.message = message


class Undefined(NotStatic):
    """A name or attribute that does not exist: Python raises NameError/ImportError/AttributeError."""


def describe(value: Value) -> str:
    match value:
        case Lit(value=v):
            return f"{type(v).__name__} {v!r}"
        case Seq(is_tuple=is_tuple):
            return "a tuple with non-literal items" if is_tuple else "a list with non-literal items"
        case LocalClass() as cls:
            return f"the class {cls.qualname}"
        case KnownClass(qualname=name):
            return f"the class {name}"
        case ModuleRef(name=name):
            return f"the module {name}"
        case External(qualname=name):
            return f"`{name}`, defined outside the job code"
        case Instance(cls=cls):
            name = cls.qualname if isinstance(cls, LocalClass | KnownClass) else "?"
            return f"an instance of {name}"


def c3_merge(sequences: Sequence[Sequence[ClassRef]]) -> list[ClassRef] | None:
    """Python's C3 linearization merge; None when no consistent order exists (Python raises TypeError)."""
    pending = [list(s) for s in sequences if s]
    result: list[ClassRef] = []
    while pending:
        for sequence in pending:
            head = sequence[0]
            if not any(head in other[1:] for other in pending):
                break
        else:
            return None
        result.append(head)
        pending = [[c for c in s if c != head] for s in pending]
        pending = [s for s in pending if s]
    return result
