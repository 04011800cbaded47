"""Rules for `match` patterns and queue names, shared by validation and the JSON Schema.

Each check returns a problem (what is wrong and what is expected) or None, so the schema can raise it
as a validation error located at the value.
"""

from __future__ import annotations

import re
from typing import Final

from reconciler.manifest.types import GLOB_CHARACTERS

# ASCII only: Nautobot class paths come from module files and class names, and an ASCII rule can be
# written the same way in the JSON Schema (ECMA regexes have no Unicode `\w` without the `u` flag).
_WORD = "A-Za-z0-9_"
_GLOB_CLASS = rf"\[!?(?:[{_WORD}](?:-[{_WORD}])?)+\]"

# For editors only: the checks below give the precise message.
MATCH_JSON_PATTERN: Final = rf"^(?:[{_WORD}.*?]|{_GLOB_CLASS})+$"
QUEUE_NAME_JSON_PATTERN: Final = r"^(?!.*\.\.)[^/\\]+$"
CLASS_PATH_JSON_PATTERN: Final = rf"^[A-Za-z_][{_WORD}]*(?:\.[A-Za-z_][{_WORD}]*)+$"

_CLASS_PATH = re.compile(CLASS_PATH_JSON_PATTERN)
_CLASS_BODY = re.compile(rf"!?(?:[{_WORD}](?:-[{_WORD}])?)+")
_PLAIN = re.compile(rf"[{_WORD}.*?]")

EXPECTED_MATCH: Final = (
    "expected a class path module.Class (e.g. audits.DeviceAudit) or a glob over class paths "
    "(e.g. vendor_x.*) made of letters, digits, `_`, `.`, and the glob characters * ? [...] [!...]"
)


def exact_problem(pattern: str) -> str | None:
    """Why `pattern` is not a class path module.Class, if it is not."""
    if not _CLASS_PATH.fullmatch(pattern):
        return f"`{pattern}` is not a class path: {EXPECTED_MATCH}"
    return None


def glob_problem(pattern: str) -> str | None:
    """Why `pattern` is not a usable glob, if it is not. fnmatch would silently take a stray `[`
    literally, which can never match a class path, so every bracket must close."""
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "[":
            close = pattern.find("]", index + 1)
            if close < 0:
                return f"unbalanced `[` at character {index + 1} of `{pattern}`: close it with `]`"
            if not _CLASS_BODY.fullmatch(pattern[index + 1 : close]):
                return (
                    f"bad character class `{pattern[index : close + 1]}` in `{pattern}`: expected "
                    "letters, digits, `_` or ranges like a-z, optionally negated with a leading !"
                )
            index = close + 1
            continue
        if char == "]":
            return f"`]` without a `[` at character {index + 1} of `{pattern}`"
        if not _PLAIN.fullmatch(char):
            return f"character `{char}` is not allowed in `{pattern}`: {EXPECTED_MATCH}"
        index += 1
    if "" in pattern.split("."):
        return f"`{pattern}` has an empty part between dots: {EXPECTED_MATCH}"
    return None


def match_problem(pattern: str) -> str | None:
    """Why `pattern` cannot be a `match:` of a jobs entry, if it cannot."""
    problem = glob_problem(pattern)
    if problem is None and not any(char in GLOB_CHARACTERS for char in pattern):
        problem = exact_problem(pattern)
    return problem


def retire_problem(pattern: str) -> str | None:
    """Why `pattern` cannot be a `match:` of a retire entry: deleting is irreversible, so no globs."""
    if any(char in GLOB_CHARACTERS for char in pattern):
        return f"`{pattern}` is a glob: retirement names each class path exactly (module.Class)"
    return exact_problem(pattern)


def queue_name_problem(name: str) -> str | None:
    """Nautobot's JobQueue.clean() rejects these as a path-traversal guard."""
    for banned in ("..", "/", "\\"):
        if banned in name:
            return f"a queue name must not contain `{banned}` (Nautobot rejects `..`, `/` and `\\`)"
    return None
