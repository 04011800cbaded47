"""YAML reading with a location for every value, mapping key and list item.

PyYAML's own loaders follow YAML 1.1, where `no` is false, `1:30` is 90 and `0755` is octal, and keep
the last of two duplicate keys. Here plain scalars resolve by the YAML 1.2 core schema, restricted to
decimal numbers without leading zeros; everything else stays a string, with a note when YAML 1.1 would
have read it differently, so a type error can say what the author probably meant. Duplicate keys, merge
keys (`<<`, dropped in YAML 1.2), recursive aliases and tags outside the core schema are errors.
Aliases are allowed; a value reached through one is located where its anchor is.

The limits (reconciler.manifest.limits) on depth, scalar length and values (aliases expanded) are checked while
the nodes are composed, event by event: a document nested thousands of levels deep, or a billion-laughs
document, stops at the event that goes over, before any Python value is built from it. A UTF-8 or UTF-16
byte order mark at the start of a file is allowed (the YAML spec allows one; PyYAML skips it and counts no
column for it).
"""

from __future__ import annotations

import codecs
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.error import Mark
from yaml.events import AliasEvent, NodeEvent, ScalarEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader, ReaderError
from yaml.resolver import BaseResolver
from yaml.scanner import Scanner, ScannerError
from yaml.tokens import Token

from reconciler.diagnostics import Diagnostic, Location
from reconciler.manifest.limits import ManifestLimitError, ManifestLimits

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
    quoted: bool = False  # a scalar written in quotes

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
    """PyYAML's pure-Python loader up to nodes, with the limits checked as each node is composed."""

    def __init__(self, stream: bytes, file: str, limits: ManifestLimits, tally: Tally) -> None:
        self.file = file
        self.limits = limits
        self.tally = tally  # values composed so far, in this file and those before, aliases expanded
        self._depth = 0  # lists and mappings open around the node being composed
        self._sizes: dict[str, int] = {}  # anchor -> values its node holds, aliases expanded
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        Composer.__init__(self)
        _Yaml12Resolver.__init__(self)

    def scan_flow_scalar(self, style: str) -> Any:
        # PyYAML turns an escape such as "\U00110000" into chr() unchecked: a ValueError, not a YAML error.
        start = self.get_mark()
        try:
            return super().scan_flow_scalar(style)
        except ValueError as exc:
            raise ScannerError("while scanning a double-quoted scalar", start,
                               f"found an escape that names no Unicode character ({exc})",
                               self.get_mark()) from None  # fmt: skip

    def _location(self, event: NodeEvent) -> Location:
        mark = event.start_mark
        return Location(self.file, mark.line + 1, mark.column + 1) if mark else Location(self.file)

    def fetch_flow_collection_start(self, TokenClass: type[Token]) -> None:
        # Checked by the scanner too: it looks up to 1,024 characters ahead for a possible key, over every
        # open bracket each time, which makes a line of thousands of `[` take seconds before a node is composed.
        if self.flow_level >= self.limits.max_depth:
            raise self._too_deep(Location(self.file, self.line + 1, self.column + 1))
        super().fetch_flow_collection_start(TokenClass)

    def _too_deep(self, location: Location) -> ManifestLimitError:
        return self.limits.exceeded("max_depth", location, "lists and mappings nested deeper here", "levels")

    def compose_document(self) -> Node | None:
        self._sizes = {}  # anchors do not cross documents
        return super().compose_document()

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        event: NodeEvent = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, AliasEvent):
            # None for an undefined alias (PyYAML reports it) or one inside its own anchor (the converter does).
            size = self._sizes.get(str(event.anchor))
            if size is not None:
                self._count(size, event, f"this alias repeats {size:,} values: ")
            return super().compose_node(parent, index)
        start = self.tally.values
        self._count(1, event)
        if isinstance(event, ScalarEvent):
            if len(event.value) > self.limits.max_scalar_length:
                raise self.limits.exceeded(
                    "max_scalar_length",
                    self._location(event),
                    f"a scalar of {len(event.value):,} characters",
                    "characters per scalar",
                )
            node = super().compose_node(parent, index)
        else:  # the start of a list or a mapping
            self._depth += 1
            if self._depth > self.limits.max_depth:
                raise self._too_deep(self._location(event))
            try:
                node = super().compose_node(parent, index)
            finally:
                self._depth -= 1
        if event.anchor is not None:
            self._sizes[event.anchor] = self.tally.values - start
        return node

    def _count(self, values: int, event: NodeEvent, why: str = "") -> None:
        self.tally.values += values
        if self.tally.values > self.limits.max_values:
            raise self.limits.exceeded(
                "max_values",
                self._location(event),
                f"{why}the manifests hold {self.tally.values:,} values by here, aliases expanded",
                "values",
            )


_RESOLVER = _Yaml12Resolver()


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

_DIGITS = re.compile(r"[-+]?[0-9]+")
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


class _Converter:
    """Turns one composed document into Located values, collecting every problem it finds.

    `blocked` is set by problems that leave the value unreliable (a dropped merge key, an unknown
    tag), so that validation does not pile misleading errors on top.
    """

    def __init__(self, file: str) -> None:
        self.file = file
        self.diagnostics: list[Diagnostic] = []
        self.blocked = False
        self._open: set[int] = set()

    def location(self, mark: Mark) -> Location:
        return Location(self.file, mark.line + 1, mark.column + 1)

    def _error(self, location: Location, message: str, *, blocking: bool = True) -> None:
        self.diagnostics.append(Diagnostic(location, message))
        self.blocked = self.blocked or blocking

    def convert(self, node: Node) -> Located:
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
            if node.tag == _INT and node.style is None and _DIGITS.fullmatch(node.value):
                # Python reads at most 4,300 digits (sys.get_int_max_str_digits); a time limit needs far fewer.
                self._error(location, f"a number of {len(node.value):,} digits is too long to read")
            else:
                self._error(location, f"`{_clip(node.value)}` is not a valid `{_short(node.tag)}`")
            return Located(None, location)
        # Only for a plain scalar that resolved to a string by itself: `!!str true` is a string on purpose.
        resolved = _RESOLVER.resolve(ScalarNode, node.value, (True, False))  # type: ignore[no-untyped-call]
        implicit = node.style is None and resolved == _STR
        note = yaml11_note(node.value) if implicit and isinstance(value, str) else None
        return Located(value, location, note=note, quoted=node.style in ("'", '"'))

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


@dataclass
class Tally:
    """What the files read so far hold, for the limits that count across files."""

    values: int = 0  # scalars, lists and mappings, each alias counted as the values it repeats


def read_documents(
    source: bytes, file: str, limits: ManifestLimits | None = None, tally: Tally | None = None
) -> tuple[list[Located], list[Diagnostic]]:
    """Every non-empty document of a YAML stream, and the problems found reading it.

    Documents before a syntax error are returned; the error ends the stream. Input over one of `limits`
    raises ManifestLimitError (an InputError with that one diagnostic).
    """
    documents: list[Located] = []
    diagnostics: list[Diagnostic] = []
    loader: _Loader | None = None
    try:
        loader = _Loader(source, file, limits or ManifestLimits(), tally or Tally())  # decodes the whole stream
        while loader.check_node():
            root = loader.get_node()
            if root is None:
                break
            converter = _Converter(file)
            document = converter.convert(root)
            diagnostics.extend(converter.diagnostics)
            if not converter.blocked and document.value is not None:
                documents.append(document)
    except yaml.MarkedYAMLError as exc:
        diagnostics.append(_syntax_error(exc, file, source))
    except ReaderError as exc:  # bytes that are not UTF-8 (or UTF-16 after its BOM), or control characters
        diagnostics.append(_reader_error(exc, file, source))
    finally:
        if loader is not None:
            loader.dispose()
    return documents, diagnostics


def _decoded(source: bytes) -> tuple[str, str]:
    """The text of the source as PyYAML decodes it (errors replaced), and the codec it uses."""
    if source.startswith(codecs.BOM_UTF16_LE):
        codec = "utf-16-le"
    elif source.startswith(codecs.BOM_UTF16_BE):
        codec = "utf-16-be"
    else:
        codec = "utf-8"
    return source.decode(codec, errors="replace"), codec


def _position(text: str, index: int) -> tuple[int, int]:
    """(line, column), 1-based, of character `index` of the decoded text, as PyYAML counts them (lines break
    at \r\n, \r, \n, NEL, LS and PS; a byte order mark takes no column)."""
    before = text[:index]
    breaks = list(re.finditer(r"\r\n|[\r\n\x85\u2028\u2029]", before))
    line_start = breaks[-1].end() if breaks else 0
    column = index - line_start - before[line_start:].count("\ufeff")
    return len(breaks) + 1, column + 1


def _reader_error(exc: ReaderError, file: str, source: bytes) -> Diagnostic:
    text, codec = _decoded(source)
    if exc.encoding == "unicode":  # a character PyYAML refuses, at a character index
        line, column = _position(text, exc.position)
        code = int(exc.character)
        kind = "control character" if code < 0x20 or 0x7F <= code < 0xA0 else "character"
        shown = "a NUL byte (U+0000)" if code == 0 else f"the {kind} U+{code:04X}"
        hint = ("; the file looks like UTF-16 without a byte order mark, UTF-32 or binary: save it as UTF-8"
                if code == 0 else
                f"; remove it, or write it as `\\x{code:02x}` in a double-quoted string" if code < 0x100 else
                "; remove it")  # fmt: skip
        return Diagnostic(Location(file, line, column), f"{shown} is not allowed in YAML{hint}")
    # A byte the codec cannot decode, at a byte offset.
    prefix = source[: exc.position].decode(codec, errors="replace")
    line, column = _position(prefix, len(prefix))
    byte = int(exc.character) if isinstance(exc.character, int) else ord(str(exc.character)[:1] or "\0")
    encoding = "UTF-8" if codec == "utf-8" else "UTF-16, which the file's byte order mark announces"
    message = f"byte 0x{byte:02X} is not valid {encoding} ({exc.reason}): save the file as UTF-8"
    return Diagnostic(Location(file, line, column), message)


def _syntax_error(exc: yaml.MarkedYAMLError, file: str, source: bytes) -> Diagnostic:
    """A syntax error as a person reads it: where the mistake is (which is not always where PyYAML noticed
    it), what was expected there, and how to fix it. PyYAML's own wording is the fallback."""
    explained = explain_syntax(exc, _lines(source))
    if explained is not None:
        (line, column), message = explained
        return Diagnostic(Location(file, line, column), message)
    mark = exc.problem_mark or exc.context_mark
    location = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file)
    message = f"invalid YAML: {_tokens(exc.problem or exc.context or '')}"
    if exc.context and exc.problem and exc.context_mark:
        message += f" ({exc.context} at line {exc.context_mark.line + 1})"
    return Diagnostic(location, message)


# -- Syntax errors, explained ----------------------------------------------------------------------------

_INDENT_HINT = "indent with spaces, lining up the keys of one mapping and the `-` of one list"
_OPENERS = {"flow sequence": ("[", "]", "list"), "flow mapping": ("{", "}", "mapping")}
_TOKEN_NAMES = {
    "<scalar>": "a value",
    "<stream end>": "the end of the file",
    "<document end>": "the end of the document",
    "<block end>": "the end of the block",
    "<block mapping start>": "a key",
    "<block sequence start>": "a list item",
    "?": "a key",
    "-": "a list item",
}
_RESERVED = {"@": "is reserved", "`": "is reserved", "%": "starts a directive"}  # characters no plain value starts with


@dataclass(frozen=True)
class _Line:
    """One line of the source: where its content starts, past any `- ` list markers, and its key."""

    number: int  # 1-based
    text: str
    indent: int  # 1-based column of the first character that is not a space
    dashes: tuple[int, ...]  # 1-based columns of its list markers
    column: int  # 1-based column of its content after the markers
    key: str | None  # the key it starts with, if it reads `key: ...`

    @property
    def blank(self) -> bool:
        return not self.text.strip() or self.text.strip().startswith("#")

    @property
    def subject(self) -> str:
        """How a message names the line's content: its key, else its text."""
        return f"`{self.key}`" if self.key else f"`{_clip(self.text.strip())}`"


# Possessive (`*+`): a lazy or backtracking key would make a long line with a run of spaces quadratic.
_KEY = re.compile(r"""([^\s#'"{}\[\],:&*!|>%@`-][^:#]*+|'[^']*'|"[^"]*")\s*:(?:\s|$)""")


def _line(number: int, text: str) -> _Line:
    # Positions rather than slices: a line of a million `- ` must not be copied for each marker.
    at = len(text) - len(text.lstrip(" "))
    indent = at + 1
    dashes: list[int] = []
    while text.startswith("-", at) and text[at + 1 : at + 2] in ("", " "):
        dashes.append(at + 1)
        at += 1
        while text.startswith(" ", at):
            at += 1
    column = at + 1
    match = _KEY.match(text, at)
    key = match.group(1).rstrip().strip("'\"") if match else None
    return _Line(number, text, indent, tuple(dashes), column, key)


def _lines(source: bytes) -> list[_Line]:
    """The source's lines as PyYAML counts them (it breaks lines at \r\n, \r, \n, NEL, LS and PS)."""
    text, _ = _decoded(source)
    text = text.removeprefix("\ufeff")
    return [_line(i + 1, line) for i, line in enumerate(re.split(r"\r\n|[\r\n\x85\u2028\u2029]", text))]


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _tokens(text: str) -> str:
    """PyYAML's token names (`<block mapping start>`...) in words."""
    for token, words in _TOKEN_NAMES.items():
        if token.startswith("<"):
            text = text.replace(f"'{token}'", words).replace(token, words)
    return text


def _found(problem: str) -> str:
    """What PyYAML found, from `... but found 'X'` / `... but got 'X'`."""
    match = re.search(r"but (?:found|got) '([^']*)'", problem)
    token = match.group(1) if match else ""
    return _TOKEN_NAMES.get(token, f"`{token}`" if token else "something else")


def explain_syntax(exc: yaml.MarkedYAMLError, lines: Sequence[_Line]) -> tuple[tuple[int, int], str] | None:
    """((line, column), message) for the syntax errors people make (a tab, a bad indent, an unclosed quote
    or bracket, a missing colon...), or None for the others."""
    problem, context = exc.problem or "", exc.context or ""
    mark, opened = exc.problem_mark, exc.context_mark
    if mark is None or mark.line >= len(lines):
        return None
    at = (mark.line + 1, mark.column + 1)
    here = lines[mark.line]
    if "'\\t'" in problem or "\t" in problem:
        if not here.text[: mark.column].strip(" "):
            return at, (f"a tab indents line {at[0]}: YAML allows only spaces for indentation; replace the tab "
                        "with spaces")  # fmt: skip
        return at, "a tab here: YAML allows no tab at this place; write spaces instead"
    if "while scanning a quoted scalar" in context and opened is not None:
        quote = lines[opened.line].text[opened.column : opened.column + 1] or '"'
        inside = "written `''`" if quote == "'" else 'written `\\"`'
        return (opened.line + 1, opened.column + 1), (
            f"the string opened by `{quote}` here is never closed: expected a closing `{quote}` at the end of the "
            f"value (a `{quote}` inside it is {inside})"
        )
    if "while scanning a simple key" in context and opened is not None:
        return (opened.line + 1, opened.column + 1), _missing_colon(lines[opened.line], opened.column)
    for kind, (opener, closer, noun) in _OPENERS.items():
        if f"while parsing a {kind}" in context and opened is not None:
            start = f"{opened.line + 1}:{opened.column + 1}"
            if mark.line > opened.line or "<stream end>" in problem:
                return (opened.line + 1, opened.column + 1), (
                    f"the `{opener}` here is never closed: expected `{closer}` to end the {noun}, found "
                    f"{_found(problem)} at {at[0]}:{at[1]} first"
                )
            return at, (f"expected `,` or `{closer}` in the {noun} opened at {start}, found {_found(problem)}: "
                        f"separate its items with `, ` and close it with `{closer}`")  # fmt: skip
    if "found undefined alias" in problem:
        name = problem.rpartition(" ")[2].strip("'")
        return at, (f"`*{name}` refers to no anchor: expected `&{name}` on a value before it; define the anchor, "
                    "or quote the value if `*` is meant literally")  # fmt: skip
    match = re.match(r"found character '(.)' that cannot start any token", problem)
    if match and match.group(1) in _RESERVED:
        char = match.group(1)
        return at, (f"`{char}` {_RESERVED[char]} in YAML and cannot start a plain value: put the value in quotes, "
                    f"such as \"{_clip(here.text[mark.column :].strip())}\"")  # fmt: skip
    if problem == "mapping values are not allowed here":
        return _colon_in_value(lines, here, mark.column, at)
    if problem.startswith("expected <block end>"):
        return _unexpected_in_block(lines, here, mark.column, at, problem)
    return None


def _missing_colon(line: _Line, column: int) -> str:
    text = line.text[column:].split(" #")[0].strip()
    spaced = re.fullmatch(r"([^\s:]+):(\S.*)", text)
    if spaced:
        return (
            f"`{_clip(text)}` needs a space after the `:` to be a key and its value: write "
            f"`{spaced.group(1)}: {_clip(spaced.group(2))}`"
        )
    words = re.fullmatch(r"(\S+)\s+(.+)", text)
    if words:
        return (
            f"expected `:` after the key `{words.group(1)}`: write `{words.group(1)}: {_clip(words.group(2))}` "
            "(a key and its value are separated by a colon and a space)"
        )
    return f"expected `key: value` here, found `{_clip(text)}` without a `:`"


def _previous(lines: Sequence[_Line], index: int) -> _Line | None:
    """The nearest line with content above line `index` (0-based)."""
    return next((line for line in reversed(lines[:index]) if not line.blank), None)


def _colon_in_value(
    lines: Sequence[_Line], here: _Line, column: int, at: tuple[int, int]
) -> tuple[tuple[int, int], str] | None:
    """`mapping values are not allowed here`: a `: ` inside a plain value, on its own line or on a line
    indented deeper than the key above, which YAML reads as more of that key's value."""
    own_key = here.key is not None and here.column + len(here.key) >= column
    if not own_key:  # `why: see: NET-1`: the second `: ` is inside the value
        key = here.key or "key"
        value = here.text[here.column - 1 :].split(":", 1)[1].strip() if ":" in here.text else ""
        return at, (f"`: ` inside the value `{_clip(value)}` would start another mapping: expected a plain value; "
                    f"put it in quotes: `{key}: \"{_clip(value)}\"`")  # fmt: skip
    above = _previous(lines, here.number - 1)
    if above is None or here.indent <= above.column:
        return None
    name = f"`{above.key}`" if above.key else f"line {above.number}"
    return (here.number, here.indent), (
        f"bad indentation: {here.subject} at column {here.indent} is indented deeper than {name} on line "
        f"{above.number} (column {above.column}), so YAML reads it as more of that value; expected column "
        f"{above.column} to add it beside {name}; {_INDENT_HINT}"
    )


def _unexpected_in_block(
    lines: Sequence[_Line], here: _Line, column: int, at: tuple[int, int], problem: str
) -> tuple[tuple[int, int], str] | None:
    """`expected <block end>, but found ...`: a line whose indentation matches nothing above it, or text
    left over after a value (`"a "b" c"`, `[a, b]]`)."""
    if column + 1 > here.indent:  # not at the start of the line: something follows a complete value
        rest = here.text[column:].split(" #")[0].strip()
        after_quote = here.text[:column].rstrip()[-1:] in ("'", '"')
        hint = (" (a quoted value ends at its closing quote: write a quote inside it as `\\\"`, or quote the "
                "value with the other kind of quote)" if after_quote else
                f" (this `{rest[0]}` closes nothing: it has no opening bracket)" if rest[:1] in ("]", "}") else
                "")  # fmt: skip
        return at, f"unexpected `{_clip(rest)}` after the value: expected the end of the line{hint}"
    above = _previous(lines, here.number - 1)
    if above is None:
        return None
    subject = "this list item" if here.dashes else here.subject
    if here.dashes and above.dashes and here.indent != above.indent:
        relation = "further in" if here.indent > above.indent else "further out"
        return (here.number, here.indent), (
            f"bad indentation: {subject} starts at column {here.indent}, {relation} than the list item on line "
            f"{above.number} (column {above.indent}): expected column {above.indent} for another item of that "
            f"list; {_INDENT_HINT}"
        )
    levels = _levels(lines, above)
    item = None if here.dashes else _item_at(lines, above, here.indent)
    if item is not None:
        return (here.number, here.indent), (
            f"bad indentation: {subject} at column {here.indent} lines up with the `-` on line {item.number}, "
            f"not with the keys of that item (column {item.column}"
            + (f", as `{item.key}`" if item.key else "")
            + f"): expected column {item.column} to add it to that item; {_INDENT_HINT}"
        )
    expected = " or ".join(f"column {line.column} (as {line.subject} on line {line.number})"
                           for _, _, line in levels[:2])  # fmt: skip
    return (here.number, here.indent), (
        f"bad indentation: {subject} at column {here.indent} lines up with nothing above it: expected {expected}; "
        f"{_INDENT_HINT}"
    )


def _item_at(lines: Sequence[_Line], above: _Line, column: int) -> _Line | None:
    """The list item enclosing `above` whose `-` is at `column`, if any."""
    threshold = above.column
    for line in reversed(lines[: above.number]):
        if line.blank or line.column > threshold:
            continue
        if column in line.dashes:
            return line
        if line.indent < column:
            return None
        threshold = line.column
    return None


def _levels(lines: Sequence[_Line], above: _Line) -> list[tuple[int, int, _Line]]:
    """The lines whose content column a new line after `above` may start at: `above` itself, then each
    enclosing line, nearest first, as (column, line number, line)."""
    levels: list[tuple[int, int, _Line]] = []
    column = above.column + 1
    for line in reversed(lines[: above.number]):
        if line.blank or line.column >= column:
            continue
        column = line.column
        levels.append((line.column, line.number, line))
    return levels
