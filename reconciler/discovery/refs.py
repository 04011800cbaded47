"""What a static expression can evaluate to, and the errors for what it cannot."""

from __future__ import annotations

import ast
import reprlib
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
    """A Python literal value: str, bytes, numbers, bool, None, or containers of those.

    `size` bounds what the value holds once expanded (characters of strings, items of containers, at
    any depth, shared or not): `[[1] * 100] * 100` is small to build but holds 10,000 items, which
    hashing, comparing or showing it would visit. Values are refused before they grow too large.
    """

    value: object
    size: int = field(default=1, compare=False, repr=False)


@dataclass(frozen=True)
class Seq:
    """A list or tuple display holding something other than literals (classes, typically)."""

    items: tuple[Value, ...]
    is_tuple: bool
    size: int = field(default=1, compare=False, repr=False)  # as Lit.size


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


_SHOWN_NODES = 100  # an expression quoted in a message; ast.unparse recurses, so a deep one is not quoted
_SHOWN_CHARS = 120
_SHOWN_VALUES = reprlib.Repr()
_SHOWN_VALUES.maxstring = _SHOWN_VALUES.maxother = _SHOWN_VALUES.maxlong = _SHOWN_CHARS
_SHOWN_VALUES.maxlist = _SHOWN_VALUES.maxtuple = _SHOWN_VALUES.maxset = _SHOWN_VALUES.maxdict = 30


def shown_code(node: ast.AST) -> str:
    """The source of a (small) expression for a message, cut to a line; a large one is not quoted."""
    for count, _ in enumerate(ast.walk(node)):
        if count >= _SHOWN_NODES:
            return "<an expression too large to show>"
    try:
        text = ast.unparse(node)
    except RecursionError:  # pragma: no cover - a 100-node expression nests at most 100 deep
        return "<an expression too large to show>"
    return text if len(text) <= _SHOWN_CHARS else f"{text[: _SHOWN_CHARS - 3]}..."


def shown_value(value: object) -> str:
    """repr() of a value for a message, cut when long (a value of job code may be large)."""
    if isinstance(value, set | frozenset):  # reprlib sorts sets; keep repr()'s order for small ones
        return repr(value) if len(value) <= 30 else _SHOWN_VALUES.repr(value)
    return _SHOWN_VALUES.repr(value)


def describe(value: Value) -> str:
    match value:
        case Lit(value=v):
            return f"{type(v).__name__} {shown_value(v)}"
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
