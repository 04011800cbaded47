"""The manifest format, version 1, as pydantic models: one source for validation and the JSON Schema.

Models are strict (no "1" -> 1, no "yes" -> True) and forbid unknown keys. An optional field that is
absent stays None; an explicit YAML null is rejected, so "present" always means "pinned".
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from reconciler.fields import FIELD_MAX_LENGTH
from reconciler.manifest import patterns

SCHEMA_ID = "urn:nbjobs:schema:manifest:v1"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


class ManifestValueError(ValueError):
    """A validation error; `at` is a path below the validated value where the problem is written
    (pydantic locates model-level errors at the model, which is too coarse for a YAML user).

    A ValueError rather than PydanticCustomError: pydantic keeps the exception in the error's
    context as is, while it would expand any `{...}` of a user's value quoted in a custom message.
    """

    def __init__(self, message: str, *at: str | int) -> None:
        super().__init__(message)
        self.at = at


def _unique(items: list[str]) -> list[str]:
    seen: set[str] = set()
    for index, item in enumerate(items):
        if item in seen:
            raise ManifestValueError(f"`{item}` is listed twice", index)
        seen.add(item)
    return items


def _checked(check: Callable[[str], str | None]) -> AfterValidator:
    def validate(value: str) -> str:
        problem = check(value)
        if problem is not None:
            raise ManifestValueError(problem)
        return value

    return AfterValidator(validate)


QueueName = Annotated[
    str,
    Field(min_length=1, max_length=255, json_schema_extra={"pattern": patterns.QUEUE_NAME_JSON_PATTERN}),
    _checked(patterns.queue_name_problem),
]
MatchPattern = Annotated[
    str,
    Field(min_length=1, json_schema_extra={"pattern": patterns.MATCH_JSON_PATTERN}),
    _checked(patterns.match_problem),
]
QueueNames = Annotated[
    list[QueueName], Field(min_length=1, json_schema_extra={"uniqueItems": True}), AfterValidator(_unique)
]
ExactClassPath = Annotated[
    str,
    Field(min_length=1, json_schema_extra={"pattern": patterns.CLASS_PATH_JSON_PATTERN}),
    _checked(patterns.retire_problem),
]
Seconds = Annotated[float, Field(ge=0, allow_inf_nan=False)]
# Kept literal for the JSON Schema; tests check them against reconciler.fields and types.
IgnoreName = Literal[
    "grouping",
    "name",
    "description",
    "console_log_default",
    "dryrun_default",
    "hidden",
    "soft_time_limit",
    "time_limit",
    "has_sensitive_variables",
    "is_singleton",
    "enabled",
    "queues",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    @field_validator("*", mode="before")
    @classmethod
    def _reject_null(cls, value: object) -> object:
        if value is None:
            raise ManifestValueError("null is not allowed here: give a value, or remove the key")
        return value


class QueueDecl(_Strict):
    model_config = ConfigDict(title="Queue", json_schema_extra={"description": "A JobQueue nbjobs manages."})

    name: QueueName = Field(description="Unique queue name.")
    type: Literal["celery", "kubernetes"] = Field(description="Where jobs on this queue run.")
    description: Annotated[str, Field(max_length=255)] = Field(default="", description="Free text.")


class JobQueuesDecl(_Strict):
    model_config = ConfigDict(
        title="JobQueues",
        json_schema_extra={"minProperties": 1, "description": "Queues of the job; give either or both."},
    )

    default: QueueName | None = Field(default=None, description="default_job_queue: where runs go.")
    eligible: QueueNames | None = Field(default=None, description="job_queues: the queues a run may choose.")

    @model_validator(mode="after")
    def _not_empty(self) -> JobQueuesDecl:
        if self.default is None and self.eligible is None:
            raise ManifestValueError("give `default`, `eligible`, or both")
        return self


class JobDecl(_Strict):
    model_config = ConfigDict(
        title="Job",
        json_schema_extra={"description": "Overrides for the jobs a class path or glob matches."},
    )

    match: MatchPattern = Field(description="Class path module.Class, or a glob (* ? [...]).")
    enabled: bool | None = Field(default=None, description="Whether the job may run.")
    grouping: Annotated[str, Field(max_length=FIELD_MAX_LENGTH["grouping"])] | None = Field(
        default=None, description="Group shown in the job list."
    )
    name: Annotated[str, Field(min_length=1, max_length=FIELD_MAX_LENGTH["name"])] | None = Field(
        default=None, description="Display name; unique among all jobs."
    )
    description: str | None = None
    console_log_default: bool | None = None
    dryrun_default: bool | None = None
    hidden: bool | None = Field(default=None, description="Hide the job from the job list.")
    soft_time_limit: Seconds | None = Field(default=None, description="Seconds; 0 uses Celery's default.")
    time_limit: Seconds | None = Field(default=None, description="Seconds; 0 uses Celery's default.")
    has_sensitive_variables: bool | None = Field(
        default=None, description="Inputs are not stored, so the job cannot be scheduled or re-run."
    )
    is_singleton: bool | None = Field(default=None, description="At most one run at a time.")
    queues: JobQueuesDecl | None = None
    ignore: (
        Annotated[list[IgnoreName], Field(json_schema_extra={"uniqueItems": True}), AfterValidator(_unique)] | None
    ) = Field(default=None, description="Fields left to the UI: nbjobs neither sets nor releases them.")
    why: str | None = Field(default=None, description="Reason for the overrides, kept in the change log.")

    @model_validator(mode="after")
    def _not_pinned_and_ignored(self) -> JobDecl:
        both = [(index, name) for index, name in enumerate(self.ignore or ()) if name in self.model_fields_set]
        if both:
            names = ", ".join(f"`{name}`" for _, name in both)
            verb = "is" if len(both) == 1 else "are"
            raise ManifestValueError(
                f"{names} {verb} both set in this entry and listed in `ignore`: keep one",
                "ignore",
                both[0][0],
            )
        return self


class RetireDecl(_Strict):
    model_config = ConfigDict(title="Retire", json_schema_extra={"description": "A job to delete, step by step."})

    match: ExactClassPath = Field(description="Exact class path module.Class; no globs.")
    schedules: Literal["block", "disable"] = Field(
        default="block", description="block: wait while schedules are active; disable: disable them."
    )
    purge_results: bool = Field(default=False, description="Delete the job's results after the record.")
    force: bool = False
    why: str | None = None


class Manifest(_Strict):
    model_config = ConfigDict(title="nbjobs manifest, version 1")

    api_version: Literal["nbjobs/v1"] = Field(alias="apiVersion")
    kind: Literal["Jobs"]
    queues: list[QueueDecl] = Field(default_factory=list, description="JobQueue rows this repository manages.")
    jobs: list[JobDecl] = Field(
        default_factory=list, description="Jobs this repository manages; exact entries beat globs."
    )
    retire: list[RetireDecl] = Field(default_factory=list, description="Jobs to disable, drain and delete.")
    allow_no_managed_jobs: bool = Field(
        default=False,
        description="Say that it is intended that no job is left managed (otherwise such a plan is refused).",
    )


class _SchemaGenerator(GenerateJsonSchema):
    """Nulls are rejected, so the schema offers no null and no `default: null`."""

    def nullable_schema(self, schema: core_schema.NullableSchema) -> JsonSchemaValue:
        return self.generate_inner(schema["schema"])

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        if "default" in schema and schema["default"] is None:
            return self.generate_inner(schema["schema"])
        return super().default_schema(schema)

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


def json_schema() -> dict[str, Any]:
    schema = Manifest.model_json_schema(by_alias=True, schema_generator=_SchemaGenerator)
    schema["$schema"] = JSON_SCHEMA_DIALECT
    schema["$id"] = SCHEMA_ID
    return schema


def schema_text() -> str:
    """The exact text of schemas/nbjobs-manifest.schema.json."""
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"


def write_schema(path: Path) -> None:
    path.write_text(schema_text(), encoding="utf-8")
