"""The values Nautobot's refresh would store for one registered class (spec b-c).

`refresh_job_model_from_job_class()` (extras/utils.py:577-731) reads every value as `getattr(job_class,
field)`. For the BaseJob classproperties (extras/jobs.py:333-417) that means `getattr(cls.Meta, attr,
default)` with an isinstance check that raises TypeError. But a class attribute lookup takes the first
class of the MRO that defines the name, so a plain class attribute of a Job subclass hides BaseJob's
classproperty: its raw value then goes to the model field, coerced by Django when the row is saved.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from textwrap import dedent

from reconciler.diagnostics import Diagnostic, Location, Severity
from reconciler.discovery import known
from reconciler.discovery.loader import Registration
from reconciler.discovery.refs import (
    ClassRef,
    External,
    Instance,
    KnownClass,
    LocalClass,
    NotStatic,
    Undefined,
    describe,
    shown_code,
    shown_value,
)
from reconciler.discovery.scan import Binding, ModuleInfo, ValueBinding
from reconciler.discovery.types import DiscoveredJob
from reconciler.discovery.values import AttributeTable, Evaluator, Found, KnownAttr
from reconciler.fields import FIELD_MAX_LENGTH, FieldValues

JOB_MAX_NAME_LENGTH = 100  # extras/constants.py:39, the width of module_name, job_class_name and name

# Meta attributes and their defaults, in the order the refresh first reads them (utils.py:617-713).
_META_DEFAULTS: dict[str, object] = {
    "task_queues": [],
    "read_only": False,
    "is_singleton": False,
    "description": "",
    "console_log_default": False,
    "dryrun_default": False,
    "hidden": False,
    "soft_time_limit": 0,
    "time_limit": 0,
    "has_sensitive_variables": True,
}
_BOOLS = frozenset(
    {"read_only", "is_singleton", "console_log_default", "dryrun_default", "hidden", "has_sensitive_variables"}
)
_INTS = frozenset({"soft_time_limit", "time_limit"})
# utils.py:617-628 call len() on grouping and name before the per-Job try block (utils.py:658-722), and
# refresh_job_models() (signals.py:791) is sent with send(), not send_robust() (core/apps/__init__.py:309).
_ABORTS = (
    "Nautobot's refresh raises TypeError outside its per-Job error handling: post_upgrade aborts "
    "(a Git sync stops refreshing the repository)"
)
_READ_ORDER = (
    "grouping",
    "name",
    "task_queues",
    "read_only",
    "supports_dryrun",
    "is_singleton",
    "description",
    "console_log_default",
    "dryrun_default",
    "hidden",
    "soft_time_limit",
    "time_limit",
    "has_sensitive_variables",
)


# Where a value is written: its module and node, made into a Location only for a problem (a Location for
# every field read cost a tenth of discovery's time).
_Where = tuple[ModuleInfo, ast.AST]


def _location(where: _Where) -> Location:
    return where[0].location(where[1])


class _Problem(Exception):
    def __init__(self, where: Location | _Where, message: str) -> None:
        super().__init__(message)
        self.location = where if isinstance(where, Location) else _location(where)
        self.message = message


def _django_bool(value: object) -> bool | None:
    """BooleanField.to_python, as Model.save() applies it to a value set on the model."""
    if value in (True, False) and isinstance(value, bool | int | float):
        return bool(value)
    if value in ("t", "True", "1"):
        return True
    if value in ("f", "False", "0"):
        return False
    return None


def _django_float(value: object) -> float | None:
    """FloatField.get_prep_value: float(value) (an int too large for a float: see _Reader.as_float)."""
    if isinstance(value, bool | int | float | str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _node_of(binding: Binding) -> ast.AST:
    return binding.value if isinstance(binding, ValueBinding) else binding.node


@dataclass
class _Reader:
    ev: Evaluator
    cls: LocalClass
    mro: tuple[ClassRef, ...]
    warnings: list[Diagnostic] = field(default_factory=list)
    _meta: ClassRef | None = None
    # Evaluator.class_attribute() of the class and of its Meta, for every name at once.
    _attributes: AttributeTable | None = None
    _meta_attributes: AttributeTable | None = None
    _nautobot_bases: frozenset[str] | None = None
    # What is being read, for messages: the attribute and where its value is written.
    subject: str = ""
    subject_at: _Where | None = None
    # Where each field's value is written (the class statement for defaults), for length problems.
    written_at: dict[str, _Where] = field(default_factory=dict)
    _here: Location | None = None

    @property
    def nautobot_bases(self) -> frozenset[str]:
        """The Nautobot classes of the MRO, by name."""
        if self._nautobot_bases is None:
            self._nautobot_bases = frozenset(c.qualname for c in self.mro if isinstance(c, KnownClass))
        return self._nautobot_bases

    @property
    def label(self) -> str:
        return self.cls.class_path

    @property
    def module(self) -> ModuleInfo:
        return self.cls.scope.module

    def here(self) -> Location:
        """Where the class statement is."""
        if self._here is None:
            self._here = self.module.location(self.cls.node)
        return self._here

    @property
    def statement(self) -> _Where:
        """The class statement, as a _Where."""
        return self.cls.scope.module, self.cls.node

    def attribute(self, name: str) -> Found | KnownAttr | None:
        if self._attributes is None:
            self._attributes = self.ev.attributes(self.cls)
        return self._attributes.get(name)

    def meta(self) -> ClassRef:
        if self._meta is None:
            found = self.attribute("Meta")
            if not isinstance(found, Found):
                self._meta = KnownClass(known.BASE_JOB_META)
            else:
                meta = self.ev.as_class(self.ev.value_of(found))
                if meta is None:
                    node = _node_of(found.binding)
                    raise _Problem(found.owner.scope.module.location(node), f"{self.label}: Meta must be a class")
                self.ev.mro(meta)  # its bases must be readable too
                self._meta = meta
        return self._meta

    def read(self, name: str) -> object:
        self.subject, self.subject_at = f"`{name}`", None
        if self._attributes is None:
            self._attributes = self.ev.attributes(self.cls)
        found = self._attributes.get(name)
        if isinstance(found, Found):
            return self.shadowed(name, found)
        if name == "grouping":
            return self.grouping()
        if name == "supports_dryrun":
            return self.supports_dryrun()
        default = self.cls.name if name == "name" else _META_DEFAULTS[name]
        value, where = self.meta_value(name, default)
        return self.check_meta(name, value, where)

    def literal_of(self, found: Found, subject: str) -> tuple[object, _Where]:
        """The literal value of an attribute, and where it is written."""
        binding = found.binding
        node = binding.value if isinstance(binding, ValueBinding) else binding.node
        module = found.owner.scope.module
        self.subject, self.subject_at = subject, (module, node)
        return self.ev.to_python(self.ev.value_of(found), node, module), self.subject_at

    def meta_value(self, name: str, default: object) -> tuple[object, _Where]:
        if self._meta_attributes is None:
            self._meta_attributes = self.ev.attributes(self.meta())
        found = self._meta_attributes.get(name)
        if not isinstance(found, Found):
            return default, self.statement
        binding = found.binding
        if type(binding) is ValueBinding and type(binding.value) is ast.Constant:
            # Most Meta values: what literal_of() finds, without evaluating anything.
            where = (found.owner.scope.module, binding.value)
            self.subject, self.subject_at = f"Meta.{name}", where
            return binding.value.value, where
        return self.literal_of(found, f"Meta.{name}")

    def check_meta(self, name: str, value: object, where: _Where) -> object:
        """BaseJob._get_meta_attr_and_assert_type (jobs.py:339-344) and what the classproperty returns."""
        fails = "Nautobot raises TypeError and creates no Job record"
        if name in ("name", "description"):
            if not isinstance(value, str):
                if name == "name":
                    fails = _ABORTS
                raise _Problem(where, f"{self.label}: Meta.{name} must be a str, not {shown_value(value)}: {fails}")
            if name == "description":  # a one-line description needs no dedent() (which costs a regex)
                return (dedent(value) if "\n" in value else value).strip()
            return value
        if name in _BOOLS and not isinstance(value, bool):
            raise _Problem(where, f"{self.label}: Meta.{name} must be a bool, not {shown_value(value)}: {fails}")
        if name in _INTS:
            if not isinstance(value, int):
                raise _Problem(where, f"{self.label}: Meta.{name} must be an int, not {shown_value(value)}: {fails}")
            if isinstance(value, bool):
                message = f"{self.label}: Meta.{name} is a bool; Nautobot accepts it as the int {int(value)}"
                self.warnings.append(Diagnostic(_location(where), message, Severity.WARNING))
            return self.as_float(value, where, f"Meta.{name}")
        if name == "task_queues":
            return self.queues(value, where, "Meta.task_queues")
        return value

    def as_float(self, value: int | float, where: _Where, what: str) -> float:
        """The float the column stores; an int too large for one fails when Django saves the row."""
        try:
            return float(value)
        except OverflowError:
            message = f"{self.label}: {what} is {shown_value(value)}, too large for a float: Nautobot cannot save it"
            raise _Problem(where, f"{message} and creates no Job record") from None

    def queues(self, value: object, where: _Where, what: str) -> tuple[str, ...]:
        if not isinstance(value, list | tuple) or not all(isinstance(q, str) for q in value):
            shown = shown_value(value)
            raise _Problem(where, f"{self.label}: {what} must be a list or tuple of queue names, not {shown}")
        return tuple(value)

    def grouping(self) -> str:
        """`getattr(inspect.getmodule(cls), "name", cls.__module__)` (jobs.py:333-337)."""
        binding = self.module.namespace.last("name")
        node: ast.AST = _node_of(binding) if binding is not None else self.cls.node
        self.subject, self.subject_at = "the module-level `name` (grouping)", (self.module, node)
        value = self.ev.global_value(self.module, "name")
        if value is None:
            return self.cls.module
        grouping = self.ev.to_python(value, node, self.module)
        if not isinstance(grouping, str):
            raise _Problem(
                self.module.location(node),
                f"{self.label}: the module-level `name` (the grouping) must be a str, "
                f"not {shown_value(grouping)}: {_ABORTS}",
            )
        return grouping

    def supports_dryrun(self) -> bool:
        """`isinstance(getattr(cls, "dryrun", None), DryRunVar)` (jobs.py:404-406)."""
        found = self.attribute("dryrun")
        if not isinstance(found, Found):
            return False
        node, module = _node_of(found.binding), found.owner.scope.module
        self.subject, self.subject_at = "the `dryrun` attribute", (module, node)
        value = self.ev.value_of(found)
        if isinstance(value, Instance):
            return KnownClass(known.DRY_RUN_VAR) in self.ev.mro(value.cls)
        if isinstance(value, External):
            raise NotStatic(module, node, f"{describe(value)} may be a DryRunVar")
        return False

    def shadowed(self, name: str, found: Found) -> object:
        """A class attribute hiding the classproperty: its raw value, as the model field stores it."""
        value, where = self.literal_of(found, f"class attribute `{name}` (it hides Job.{name})")
        fails = "Nautobot cannot save it and creates no Job record"
        if name in ("grouping", "name", "description"):
            if isinstance(value, str):
                return value  # no dedent/strip: only the classproperty does that
            if name == "description" and isinstance(value, int | float):
                return str(value)  # TextField.to_python
            raise _Problem(where, f"{self.label}: {self.subject} must be a str, not {shown_value(value)}: {fails}")
        if name in _INTS:
            if isinstance(value, int) and not isinstance(value, bool):
                return self.as_float(value, where, self.subject)
            number = _django_float(value)
            if number is None:
                shown = shown_value(value)
                raise _Problem(where, f"{self.label}: {self.subject} must be a number, not {shown}: {fails}")
            return number
        if name == "task_queues":
            return self.queues(value, where, self.subject)
        flag = _django_bool(value)
        if flag is None:
            raise _Problem(where, f"{self.label}: {self.subject} must be a bool, not {shown_value(value)}: {fails}")
        return flag

    def modified_later(self) -> None:
        """`X.attr = ...` or setattr(X, ...) at module level may change the class after its definition."""
        targets: list[ClassRef] = [*self.mro]
        try:
            meta = self.meta()
            targets.extend(self.ev.mro(meta))
        except (NotStatic, _Problem):
            pass
        first = self.ev.first_write([t for t in targets if isinstance(t, LocalClass)])
        if first is not None:
            module, obj = first
            raise _Problem(
                module.location(obj),
                f"{self.label}: {shown_code(obj)} is changed after its class statement; discovery does not follow that",
            )


def _structure(reader: _Reader) -> None:
    """The unrecoverable errors checked before anything else is read (utils.py:594-614)."""
    cls, label = reader.cls, reader.label
    if len(cls.module) > JOB_MAX_NAME_LENGTH:
        raise _Problem(
            reader.here(),
            f"{label}: the module name is longer than {JOB_MAX_NAME_LENGTH} characters; "
            "Nautobot refuses to store its Jobs",
        )
    if len(cls.name) > JOB_MAX_NAME_LENGTH:
        raise _Problem(
            reader.here(),
            f"{label}: the class name is longer than {JOB_MAX_NAME_LENGTH} characters; Nautobot refuses to store it",
        )
    hook = known.JOB_HOOK_RECEIVER in reader.nautobot_bases
    button = known.JOB_BUTTON_RECEIVER in reader.nautobot_bases
    if hook and button:
        raise _Problem(
            reader.here(), f"{label}: subclasses both JobHookReceiver and JobButtonReceiver; Nautobot refuses it"
        )
    if cls.node.decorator_list:
        decorator = cls.node.decorator_list[0]
        raise _Problem(
            reader.module.location(decorator),
            f"{label}: a class decorator may replace or change the class; discovery does not follow it",
        )
    for special in ("__module__", "__name__", "__qualname__"):
        binding = reader.ev.body(cls).namespace.last(special)
        if binding is not None:
            raise _Problem(reader.module.location(_node_of(binding)), f"{label}: assigns {special}; not supported")


def extract(registration: Registration) -> tuple[DiscoveredJob | None, list[Diagnostic]]:
    """The DiscoveredJob for a registered class, or None and the reasons it cannot be (or is not) stored."""
    cls, ev = registration.cls, registration.evaluator
    module = cls.scope.module
    try:
        mro = ev.mro(cls)
    except NotStatic as exc:
        where = exc.module.location(exc.node)
        return None, [Diagnostic(where, f"{cls.class_path}: cannot work out its base classes: {exc.message}")]
    reader = _Reader(ev, cls, mro)
    problems: list[Diagnostic] = []
    values: dict[str, object] = {}
    try:
        _structure(reader)
        reader.meta()
        reader.modified_later()
    except _Problem as problem:
        return None, [Diagnostic(problem.location, problem.message)]
    except NotStatic as exc:
        where = exc.module.location(exc.node)
        return None, [Diagnostic(where, f"{cls.class_path}: cannot read its Meta class statically: {exc.message}")]
    if known.JOB not in reader.nautobot_bases:
        message = f"{cls.class_path} subclasses BaseJob but not Job; Nautobot stores it all the same"
        reader.warnings.append(Diagnostic(reader.here(), message, Severity.WARNING))
    for name in _READ_ORDER:
        try:
            values[name] = reader.read(name)
            reader.written_at[name] = reader.subject_at or reader.statement
        except _Problem as problem:
            problems.append(Diagnostic(problem.location, problem.message))
        except NotStatic as exc:
            problems.append(_not_static(reader, name, exc))
    problems.extend(_lengths(reader, values))
    if problems:
        return None, [*reader.warnings, *problems]
    queues = values.pop("task_queues")
    flags = {key: bool(values.pop(key)) for key in ("read_only", "supports_dryrun")}
    job = DiscoveredJob(
        module_name=cls.module,
        job_class_name=cls.name,
        source=registration.source,
        location=Location(module.display, cls.line, cls.column),
        values=FieldValues(**values),  # type: ignore[arg-type]
        task_queues=queues,  # type: ignore[arg-type]
        read_only=flags["read_only"],
        supports_dryrun=flags["supports_dryrun"],
        is_job_hook_receiver=known.JOB_HOOK_RECEIVER in reader.nautobot_bases,
        is_job_button_receiver=known.JOB_BUTTON_RECEIVER in reader.nautobot_bases,
    )
    return job, reader.warnings


def _lengths(reader: _Reader, values: dict[str, object]) -> list[Diagnostic]:
    """Spec c: an over-long name or grouping is 'truncated' in a warning only; the override loop then writes
    the full value and the insert fails, so the Job gets no record."""
    problems = []
    for name in ("grouping", "name"):
        value = values.get(name)
        limit = FIELD_MAX_LENGTH[name]
        if isinstance(value, str) and len(value) > limit:
            message = (
                f"{reader.label}: the {name} is {len(value)} characters long, more than the {limit} of "
                f"extras_job.{name}; Nautobot fails to create its record"
            )
            problems.append(Diagnostic(_location(reader.written_at.get(name, reader.statement)), message))
    return problems


_EXPECTED = {
    "grouping": "a str",
    "name": "a str",
    "description": "a str",
    "task_queues": "a list or tuple of str",
    "soft_time_limit": "an int",
    "time_limit": "an int",
    "supports_dryrun": "DryRunVar(...)",
}


def _not_static(reader: _Reader, name: str, exc: NotStatic) -> Diagnostic:
    """Rule: a value that needs running code to know is reported where it is, never guessed."""
    where = exc.module.location(exc.node)
    detail = exc.message
    if isinstance(exc, Undefined):
        detail += " (Nautobot fails to import the module)"
    subject_at = None if reader.subject_at is None else _location(reader.subject_at)
    if subject_at is not None and subject_at != where:
        detail += f", in the value of {reader.subject} at {subject_at}"
    message = (
        f"{reader.label}: cannot read {reader.subject} statically: {detail}; "
        f"expected {_EXPECTED.get(name, 'a bool')}. Class skipped"
    )
    return Diagnostic(where, message)
