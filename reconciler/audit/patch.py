"""The code change a repeated override suggests: set the value in each class's Meta, as a unified diff.

Pure: the module's source comes in as text (`gather` reads it). The classes are found with `ast` at the
lines static discovery located them, and edited the way Nautobot reads a value (`getattr(cls.Meta, name)`,
after a plain class attribute, which wins over Meta): a class attribute of that name is rewritten; else the
class's own Meta gets the attribute (rewritten if it has one); else the class gets a Meta, subclassing its
base's (`class Meta(Base.Meta):`) unless the base is one of Nautobot's, so what it inherited is kept.
"""

from __future__ import annotations

import ast
import difflib
from collections.abc import Mapping, Sequence
from dataclasses import replace

from reconciler.audit.types import AuditReport, FindingKind
from reconciler.discovery.types import DiscoveredJob, Discovery
from reconciler.manifest.types import PinValue

# Base classes whose Meta holds nothing of a job's own: a class deriving from one gets a Meta of its own.
NAUTOBOT_BASES = frozenset({"Job", "JobHookReceiver", "JobButtonReceiver", "BaseJob"})
_Edit = tuple[int, int, list[str]]  # replace lines [start, end) (0-based) with these


def python_literal(value: PinValue) -> str:
    """A value as Python source, as Meta writes it: time limits are ints there (Nautobot refuses floats)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value)


def meta_patch(path: str, text: str, classes: Sequence[tuple[str, int]], field: str, value: PinValue) -> str | None:
    """A unified diff of `path` that sets `field` to `value` in each (class name, line) of `classes`; None
    when `patched_source` cannot make the change."""
    patched = patched_source(text, classes, field, value)
    if patched is None:
        return None
    # git's a/ and b/ for a relative path (`git apply`, `patch -p1`); an absolute one as it is (`patch -p0`).
    before, after = (path, path) if path.startswith("/") else (f"a/{path}", f"b/{path}")
    diff = difflib.unified_diff(_lines(text), _lines(patched), before, after)
    return "".join(diff) or None


def patched_source(text: str, classes: Sequence[tuple[str, int]], field: str, value: PinValue) -> str | None:
    """`text` with `field` set to `value` in each (class name, line) of `classes`; None when the source does
    not parse, a class is not where discovery saw it, or one is written in a way this cannot edit safely (a
    body on its `class` line). The result always parses."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return None
    lines = _lines(text)
    found = {(node.name, node.lineno): node for node in ast.walk(tree) if isinstance(node, ast.ClassDef)}
    edits: list[_Edit] = []
    for name, line in classes:
        node = found.get((name, line))
        edit = None if node is None else _edit(node, text, lines, field, python_literal(value))
        if edit is None:
            return None
        edits.append(edit)
    for start, end, new in sorted(edits, key=lambda e: e[0], reverse=True):
        lines[start:end] = new
    patched = "".join(lines)
    try:
        ast.parse(patched)
    except SyntaxError:  # never offer a patch that breaks the module
        return None
    return patched


def _lines(text: str) -> list[str]:
    """The lines of `text`, each with its newline (a last line without one gets it: diffs compare lines)."""
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    return lines


def with_patches(report: AuditReport, discovery: Discovery, sources: Mapping[str, str]) -> AuditReport:
    """The report with a patch on each repeated override whose module's source is in `sources` (path ->
    text) and could be patched; the others keep none (their message still says what to change)."""
    code = {job.class_path: job for job in discovery.jobs}
    findings = []
    for finding in report.findings:
        if finding.kind is FindingKind.REPEATED_OVERRIDE and finding.field and finding.value is not None:
            jobs = [code[path] for path in finding.jobs if path in code]
            patch = _module_patch(jobs, sources, finding.field, finding.value)
            finding = replace(finding, patch=patch) if patch else finding
        findings.append(finding)
    return replace(report, findings=tuple(findings))


def files_to_patch(report: AuditReport, discovery: Discovery) -> set[str]:
    """The source files `with_patches` needs: those of the classes of each repeated override."""
    code = {job.class_path: job for job in discovery.jobs}
    return {code[path].location.file for f in report.findings if f.kind is FindingKind.REPEATED_OVERRIDE
            for path in f.jobs if path in code}  # fmt: skip


def _module_patch(jobs: Sequence[DiscoveredJob], sources: Mapping[str, str], field: str, value: PinValue) -> str | None:
    by_file: dict[str, list[tuple[str, int]]] = {}
    for job in jobs:
        by_file.setdefault(job.location.file, []).append((job.job_class_name, job.location.line))
    parts = []
    for path, classes in sorted(by_file.items()):
        text = sources.get(path)
        diff = meta_patch(path, text, classes, field, value) if text is not None else None
        if diff is None:
            return None
        parts.append(diff)
    return "".join(parts) or None


def _edit(node: ast.ClassDef, text: str, lines: list[str], field: str, literal: str) -> _Edit | None:
    body = node.body
    if body[0].lineno == node.lineno:  # `class X(Job): pass`: nowhere to put a line
        return None
    attribute = _assignment(body, field)
    if attribute is not None:  # a plain class attribute wins over Meta: change it there
        return _replace(attribute, lines, f"{field} = {literal}")
    meta = next((n for n in body if isinstance(n, ast.ClassDef) and n.name == "Meta"), None)
    if meta is not None:
        if meta.body[0].lineno == meta.lineno:
            return None
        inside = _assignment(meta.body, field)
        if inside is not None:
            return _replace(inside, lines, f"{field} = {literal}")
        indent = _indent(lines[meta.body[0].lineno - 1])
        if len(meta.body) == 1 and isinstance(meta.body[0], ast.Pass):
            return _replace(meta.body[0], lines, f"{field} = {literal}")
        end = max(n.end_lineno or n.lineno for n in meta.body)
        return (end, end, [f"{indent}{field} = {literal}\n"])
    indent = _indent(lines[body[0].lineno - 1])
    base = _meta_base(node, text)
    block = [f"{indent}class Meta{base}:\n", f"{indent}    {field} = {literal}\n"]
    first = body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        after = first.end_lineno or first.lineno  # after the docstring, a blank line between
        return (after, after, ["\n", *block])
    start = first.lineno - 1
    return (start, start, [*block, "\n"])


def _assignment(body: Sequence[ast.stmt], name: str) -> ast.stmt | None:
    for node in body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return node if len(node.targets) == 1 else None
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == name:
            return node
    return None


def _replace(node: ast.stmt, lines: list[str], statement: str) -> _Edit:
    """The lines of `node` (it may span several: a triple-quoted description) become one statement; a
    trailing comment on its last line is kept."""
    start, end = node.lineno - 1, node.end_lineno or node.lineno
    last = lines[end - 1]
    tail = last[node.end_col_offset :].rstrip("\n") if node.end_col_offset is not None else ""
    comment = tail if tail.strip().startswith("#") else ""
    return (start, end, [f"{_indent(lines[start])}{statement}{comment}\n"])


def _meta_base(node: ast.ClassDef, text: str) -> str:
    """`(Base.Meta)` when the class's first base is not one of Nautobot's, so the new Meta keeps the one it
    inherited (a subclass's own Meta replaces its base's: getattr(cls.Meta, ...) sees only one)."""
    if not node.bases:
        return ""
    base = node.bases[0]
    name = base.attr if isinstance(base, ast.Attribute) else base.id if isinstance(base, ast.Name) else None
    if name is None or name in NAUTOBOT_BASES:
        return ""
    source = ast.get_source_segment(text, base)
    return f"({source}.Meta)" if source else ""


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]
