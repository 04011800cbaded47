"""Locations and diagnostics shared by every layer.

Every user-facing error names where it comes from (file, line, column) and what was expected. The
types here are the bottom layer: they import nothing of ours.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

# Characters a terminal or a CI log acts on instead of showing: C0 and C1 controls (ESC starts the
# sequences that move the cursor, clear lines, retitle windows; a newline would let a value start a
# line of its own, e.g. a GitHub Actions `::error::` command), DEL, and the invisible or reordering
# format characters (zero-width space and joiners' kin, bidi overrides). The zero-width joiner stays:
# emoji sequences need it.
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b\u200c\u200e\u200f\u2028\u2029\u202a-\u202e"
                          r"\u2060-\u2064\u2066-\u2069\ufeff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: str) -> str:
    """`text` with every character a terminal would act on shown as an escape (`\\n`, `\\x1b`,
    `\\u202e`): text from a manifest, the code or a database cannot rewrite a terminal or a CI log."""
    return _UNPRINTABLE.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    char = match[0]
    return _NAMED.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")


@dataclass(frozen=True, order=True)
class Location:
    """A place in a file. `line` and `column` are 1-based; 0 means unknown."""

    file: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        file = printable(self.file)  # a file name may hold a newline or an escape sequence
        if self.line and self.column:
            return f"{file}:{self.line}:{self.column}"
        if self.line:
            return f"{file}:{self.line}"
        return file


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Diagnostic:
    """One problem found in an input, with its location."""

    location: Location
    message: str
    severity: Severity = Severity.ERROR

    def __str__(self) -> str:
        return f"{self.location}: {self.severity}: {printable(self.message)}"


class NbjobsError(Exception):
    """An error that the CLI prints as a clean message (never a traceback)."""


class InputError(NbjobsError):
    """Bad input: carries every diagnostic found, so the user can fix them all in one go."""

    def __init__(self, diagnostics: list[Diagnostic] | tuple[Diagnostic, ...]) -> None:
        self.diagnostics = tuple(diagnostics)
        super().__init__("\n".join(str(d) for d in self.diagnostics))


def did_you_mean(name: str, known: Iterable[str], *, n: int = 3, quote: str = "'") -> str | None:
    """`did you mean 'plan'?` with the known names closest to a misspelt one (difflib's), or None when
    none is close. The one way nbjobs suggests names: fields, class paths, queues, commands, options."""
    close = difflib.get_close_matches(name, sorted(set(known)), n=n)
    if not close:
        return None
    shown = [f"{quote}{candidate}{quote}" for candidate in close]
    listed = shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} or {shown[-1]}"
    return f"did you mean {listed}?"


def plural(count: int, singular: str, many: str | None = None, *, thousands: bool = False) -> str:
    """`1 job`, `2 jobs`, `1 entry`, `3 entries`: a count and its noun, in words a person writes (never a
    plural in parentheses). `thousands` groups the digits: `100,000 results`. The one way nbjobs words a count."""
    number = f"{count:,}" if thousands else str(count)
    if count == 1:
        return f"{number} {singular}"
    if many is None:
        many = singular[:-1] + "ies" if singular.endswith("y") and singular[-2:-1] not in "aeiou" else singular + "s"
    return f"{number} {many}"
