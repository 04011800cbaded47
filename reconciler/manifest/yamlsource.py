"""YAML reading with a location for every value, mapping key and list item.

PyYAML's own loaders follow YAML 1.1, where `no` is false, `1:30` is 90 and `0755` is octal, and keep
the last of two duplicate keys. Here plain scalars resolve by the YAML 1.2 core schema, restricted to
decimal numbers without leading zeros; everything else stays a string, with a note when YAML 1.1 would
have read it differently, so a type error can say what the author probably meant. Duplicate keys, merge
keys (`<<`, dropped in YAML 1.2), recursive aliases and tags outside the core schema are errors.
Aliases are allowed; a value reached through one is located where its anchor is.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import yaml
from yaml.composer import Composer
from yaml.error import Mark
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import BaseResolver
from yaml.scanner import Scanner

from reconciler.diagnostics import Diagnostic, Location

# Far above any real manifest; stops an alias bomb (nested aliases that expand exponentially).
MAX_VALUES = 100_000

_TAG = "tag:yaml.org,2002:"
_STR, _BOOL, _INT, _FLOAT, _NULL = (f"{_TAG}{name}" for name in ("str", "bool", "int", "float", "null"))


@dataclass(frozen=True)
class Located:
    """A plain value (for pydantic) with where it, its keys and its items are written."""

    value: object
    location: Location
    children: Mapping[str | int, Located] = field(default_factory=dict)
    keys: Mapping[str, Location] = field(default_factory=dict)
    note: str | None = None  # a plain string that YAML 1.1 would read as a boolean or number

    def find(self, path: Sequence[str | int]) -> Located:
        """The deepest value along `path` (pydantic's error `loc`) that exists."""
        node = self
        for segment in path:
            child = node.children.get(segment)
            if child is None:
                break
            node = child
        return node


class _Yaml12Resolver(BaseResolver):
    pass


for _tag, _pattern, _first in (
    (_BOOL, r"(?:true|True|TRUE|false|False|FALSE)\Z", "tTfF"),
    (_INT, r"[-+]?(?:0|[1-9][0-9]*)\Z", "-+0123456789"),
    (
        _FLOAT,
        r"[-+]?(?:\.[0-9]+|(?:0|[1-9][0-9]*)(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?\Z"
        r"|[-+]?\.(?:inf|Inf|INF)\Z|\.(?:nan|NaN|NAN)\Z",
        "-+.0123456789",
    ),
    (_NULL, r"(?:~|null|Null|NULL|)\Z", ["~", "n", "N", ""]),
):
    _Yaml12Resolver.add_implicit_resolver(_tag, re.compile(_pattern), list(_first))


class _Loader(Reader, Scanner, Parser, Composer, _Yaml12Resolver):
    def __init__(self, stream: bytes) -> None:
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        Composer.__init__(self)
        _Yaml12Resolver.__init__(self)


def _boolean(text: str) -> bool:
    if text in ("true", "True", "TRUE"):
        return True
    if text in ("false", "False", "FALSE"):
        return False
    raise ValueError(text)


_SPECIAL_FLOATS = {".inf": math.inf, "+.inf": math.inf, "-.inf": -math.inf, ".nan": math.nan}


def _float(text: str) -> float:
    # Python's float() knows "inf" but not YAML's ".inf".
    special = _SPECIAL_FLOATS.get(text.lower())
    return float(text) if special is None else special


def _null(text: str) -> None:
    if text not in ("", "~", "null", "Null", "NULL"):
        raise ValueError(text)


def _short(tag: str) -> str:
    return "!!" + tag.removeprefix(_TAG) if tag.startswith(_TAG) else tag


_CONSTRUCTORS: dict[str, Callable[[str], object]] = {
    _STR: str,
    _BOOL: _boolean,
    _INT: int,
    _FLOAT: _float,
    _NULL: _null,
}

_YAML11_BOOLEAN = re.compile(r"(?i:y|yes|n|no|on|off)\Z")
_OTHER_BOOLEAN = re.compile(r"(?i:true|false)\Z")
_YAML11_BASE60 = re.compile(r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?\Z")
_LEADING_ZERO = re.compile(r"[-+]?0[0-9_]+(?:\.[0-9_]*)?\Z")
_OTHER_NUMBER = re.compile(r"[-+]?(?:0[box][0-9a-fA-F_]+|[0-9][0-9_]*(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?)\Z")


def yaml11_note(text: str) -> str | None:
    """What a plain scalar that stayed a string would have been in YAML 1.1, if anything else."""
    if _YAML11_BOOLEAN.match(text):
        return f"`{text}` is a YAML 1.1 boolean; write true or false"
    if _OTHER_BOOLEAN.match(text):
        return f"`{text}` is not a boolean in YAML 1.2; write true or false"
    if _YAML11_BASE60.match(text):
        return f"`{text}` is a YAML 1.1 base-60 number; write a plain number of seconds, such as 90"
    if _LEADING_ZERO.match(text):
        return f"`{text}` has a leading zero (an octal number in YAML 1.1); write it without the zero"
    if _OTHER_NUMBER.match(text):
        return f"`{text}` is not a plain decimal number; write digits only, such as 3600"
    return None


class _TooLargeError(Exception):
    pass


class _Converter:
    """Turns one composed document into Located values, collecting every problem it finds.

    `blocked` is set by problems that leave the value unreliable (a dropped merge key, an unknown
    tag), so that validation does not pile misleading errors on top.
    """

    def __init__(self, file: str) -> None:
        self.file = file
        self.diagnostics: list[Diagnostic] = []
        self.blocked = False
        self._count = 0
        self._open: set[int] = set()

    def location(self, mark: Mark) -> Location:
        return Location(self.file, mark.line + 1, mark.column + 1)

    def _error(self, location: Location, message: str, *, blocking: bool = True) -> None:
        self.diagnostics.append(Diagnostic(location, message))
        self.blocked = self.blocked or blocking

    def convert(self, node: Node) -> Located:
        self._count += 1
        if self._count > MAX_VALUES:
            raise _TooLargeError
        location = self.location(node.start_mark)
        if id(node) in self._open:
            self._error(location, "this value contains an alias to itself: recursive values are not allowed")
            return Located(None, location)
        if isinstance(node, ScalarNode):
            return self._scalar(node, location)
        expected = _TAG + ("seq" if isinstance(node, SequenceNode) else "map")
        if node.tag != expected:
            self._error(location, f"unsupported tag `{_short(node.tag)}`: nbjobs manifests use plain YAML")
            return Located(None, location)
        self._open.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                items = [self.convert(item) for item in node.value]
                return Located([item.value for item in items], location, dict(enumerate(items)))
            assert isinstance(node, MappingNode)
            return self._mapping(node, location)
        finally:
            self._open.discard(id(node))

    def _scalar(self, node: ScalarNode, location: Location) -> Located:
        constructor = _CONSTRUCTORS.get(node.tag)
        if constructor is None:
            self._error(location, f"unsupported tag `{_short(node.tag)}`: nbjobs manifests use plain YAML")
            return Located(None, location)
        try:
            value = constructor(node.value)
        except ValueError:
            self._error(location, f"`{node.value}` is not a valid `{_short(node.tag)}`")
            return Located(None, location)
        note = yaml11_note(node.value) if node.style is None and isinstance(value, str) else None
        return Located(value, location, note=note)

    def _mapping(self, node: MappingNode, location: Location) -> Located:
        values: dict[str, object] = {}
        children: dict[str | int, Located] = {}
        keys: dict[str, Location] = {}
        for key_node, value_node in node.value:
            key_location = self.location(key_node.start_mark)
            if not isinstance(key_node, ScalarNode):
                self._error(key_location, "a mapping key must be a plain name, not a list or a mapping")
                continue
            key = key_node.value
            if key == "<<" and key_node.style is None:
                self._error(
                    key_location,
                    "merge keys (`<<`) are not supported (YAML 1.2 dropped them): write the fields out, "
                    "or use a glob entry for what several jobs share",
                )
                continue
            if key in keys:
                # PyYAML would silently keep the last value; the first is kept only to go on checking.
                self._error(key_location, f"duplicate key `{key}`: first given at {keys[key]}", blocking=False)
                continue
            child = self.convert(value_node)
            keys[key] = key_location
            children[key] = child
            values[key] = child.value
        return Located(values, location, children, keys)


def read_documents(source: bytes, file: str) -> tuple[list[Located], list[Diagnostic]]:
    """Every non-empty document of a YAML stream, and the problems found reading it.

    Documents before a syntax error are returned; the error ends the stream.
    """
    documents: list[Located] = []
    diagnostics: list[Diagnostic] = []
    loader: _Loader | None = None
    try:
        loader = _Loader(source)  # decodes the start of the stream already
        while loader.check_node():
            root = loader.get_node()
            if root is None:
                break
            converter = _Converter(file)
            try:
                document = converter.convert(root)
            except _TooLargeError:
                diagnostics.append(
                    Diagnostic(converter.location(root.start_mark), f"document has over {MAX_VALUES} values")
                )
                continue
            diagnostics.extend(converter.diagnostics)
            if not converter.blocked and document.value is not None:
                documents.append(document)
    except yaml.MarkedYAMLError as exc:
        diagnostics.append(_syntax_error(exc, file))
    except yaml.YAMLError as exc:  # ReaderError: undecodable bytes or control characters
        diagnostics.append(Diagnostic(Location(file), f"cannot read YAML: {exc}"))
    finally:
        if loader is not None:
            loader.dispose()
    return documents, diagnostics


def _syntax_error(exc: yaml.MarkedYAMLError, file: str) -> Diagnostic:
    mark = exc.problem_mark or exc.context_mark
    location = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file)
    message = f"invalid YAML: {exc.problem or exc.context}"
    if exc.context and exc.problem and exc.context_mark:
        message += f" ({exc.context} at line {exc.context_mark.line + 1})"
    return Diagnostic(location, message)
