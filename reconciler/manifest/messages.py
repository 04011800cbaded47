"""Pydantic validation errors as located diagnostics that say what was expected.

An unknown key is reported at the key, a missing one at the mapping that lacks it, anything else at
the value (or below it, where a validator's ManifestValueError says so).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from reconciler.diagnostics import Diagnostic, did_you_mean
from reconciler.manifest.schema import JobDecl, JobQueuesDecl, Manifest, ManifestValueError, QueueDecl, RetireDecl
from reconciler.manifest.yamlsource import Located

# Where each model sits in a document; list indexes are written as 0.
_MODELS: dict[tuple[str | int, ...], type[BaseModel]] = {
    (): Manifest,
    ("queues", 0): QueueDecl,
    ("jobs", 0): JobDecl,
    ("jobs", 0, "queues"): JobQueuesDecl,
    ("retire", 0): RetireDecl,
}
_QUOTABLE = (bool, int, float)
_DECIMAL = re.compile(r"[-+]?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?")


def validation_diagnostics(error: ValidationError, document: Located) -> list[Diagnostic]:
    return [_diagnostic(details, document) for details in error.errors()]


def _diagnostic(details: ErrorDetails, document: Located) -> Diagnostic:
    loc = tuple(details["loc"])
    kind = details["type"]
    if kind in ("extra_forbidden", "missing"):
        parent = document.find(loc[:-1])
        name = str(loc[-1])
        if kind == "missing":
            return Diagnostic(parent.location, f"missing required field `{name}`")
        return Diagnostic(parent.keys.get(name, parent.location), _unknown_field(name, loc[:-1]))
    error = details.get("ctx", {}).get("error")
    if isinstance(error, ManifestValueError):
        return Diagnostic(document.find(loc + error.at).location, str(error))
    node = document.find(loc)
    return Diagnostic(node.location, _message(details, node))


def _unknown_field(name: str, path: tuple[str | int, ...]) -> str:
    model = _MODELS.get(tuple(0 if isinstance(segment, int) else segment for segment in path))
    if model is None:
        return f"unknown field `{name}`"
    allowed = [info.alias or field for field, info in model.model_fields.items()]
    suggestion = did_you_mean(name, allowed, n=1, quote="`")
    if suggestion:
        return f"unknown field `{name}`; {suggestion}"
    return f"unknown field `{name}`; expected one of: {', '.join(allowed)}"


def _message(details: ErrorDetails, node: Located) -> str:
    kind = details["type"]
    value = details["input"]
    ctx: dict[str, Any] = dict(details.get("ctx", {}))
    if node.note is not None and kind in ("bool_type", "float_type"):
        return node.note
    got = describe(value)
    if kind == "float_type" and isinstance(value, int) and not isinstance(value, bool):
        return f"expected a number of seconds, got {got}, too large for one"  # past a float's range (1.8e308)
    if kind in ("bool_type", "float_type") and node.quoted and isinstance(value, str) and _unquoted_fits(kind, value):
        what = "true or false" if kind == "bool_type" else "a number"
        return f"expected {what}, got {got}: remove the quotes"
    if kind == "string_type":
        quote = "; put it in quotes to make it a string" if isinstance(value, _QUOTABLE) else ""
        return f"expected a string, got {got}{quote}"
    if kind == "string_too_short" and ctx.get("min_length") == 1:
        return "must not be empty"
    if kind == "too_short" and ctx.get("min_length") == 1:
        return "expected a non-empty list"
    simple = {
        "bool_type": f"expected true or false, got {got}",
        "float_type": f"expected a number, got {got}",
        "finite_number": f"expected a finite number, got {got}",
        "list_type": f"expected a list, got {got}",
        "model_type": f"expected a mapping, got {got}",
        "dict_type": f"expected a mapping, got {got}",
        "literal_error": f"expected {ctx.get('expected')}, got {got}",
        "greater_than_equal": f"expected a number >= {ctx.get('ge', 0):g}, got {got}",
        "string_too_short": f"expected at least {ctx.get('min_length')} characters, got {got}",
        "string_too_long": f"expected at most {ctx.get('max_length')} characters, got {_length(value)}",
    }
    return simple.get(kind, details["msg"])


def _unquoted_fits(kind: str, value: str) -> bool:
    """Whether a quoted string would have been the expected boolean or number without its quotes."""
    if kind == "bool_type":
        return value in ("true", "false")
    return _DECIMAL.fullmatch(value) is not None


def _length(value: object) -> str:
    return f"{len(value)}" if isinstance(value, str) else describe(value)


def describe(value: object) -> str:
    """A YAML user's name for a value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, float):
        return f"the number {value:g}"
    if isinstance(value, int):
        digits = len(str(abs(value)))
        return f"the number {value}" if digits <= 40 else f"a number of {digits:,} digits"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"the string `{shown}`"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__
