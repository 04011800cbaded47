"""Column types that store values exactly as Django does on each engine Nautobot supports."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Dialect, Integer, TypeDecorator
from sqlalchemy.dialects.mysql import DATETIME as MYSQL_DATETIME
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.schema import ForeignKeyConstraint
from sqlalchemy.types import TypeEngine

# jsonb on PostgreSQL, json on MySQL/MariaDB, text-backed JSON on SQLite (as Django's JSONField).
JsonColumn = JSON().with_variant(JSONB(), "postgresql")

# Django's M2M `id` is a bigint identity; SQLite only auto-increments an INTEGER PRIMARY KEY.
BigIdentity = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """timestamptz on PostgreSQL; naive UTC datetime(6) elsewhere, as Django with USE_TZ stores it.

    Values come back timezone-aware in UTC on every engine, so comparisons never mix naive and aware.
    """

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(DateTime(timezone=True))
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(MYSQL_DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime written to a timezone-aware column")
        if dialect.name == "postgresql":
            return value
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


@compiles(ForeignKeyConstraint, "mysql")
@compiles(ForeignKeyConstraint, "mariadb")
def _foreign_key_without_deferrability(element: ForeignKeyConstraint, compiler: Any, **kw: Any) -> str:
    """MySQL/MariaDB know no deferred constraints; Django creates plain foreign keys there."""
    saved = element.deferrable, element.initially
    element.deferrable = element.initially = None
    try:
        text: str = compiler.visit_foreign_key_constraint(element, **kw)
        return text
    finally:
        element.deferrable, element.initially = saved
