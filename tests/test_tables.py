"""Our SQLAlchemy tables mirror Nautobot 3.2.7's exactly: checked against the `psql \\d` of a database
migrated by Nautobot itself (tests/data/nautobot-3.2.7-jobs-tables.txt, from shared/).

The tables are created from our metadata on PostgreSQL and read back with `format_type()`, which
prints types as psql does; column names, types, nullability and unique constraints must all agree.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from common import ENGINES
from sqlalchemy import Engine, text

from reconciler.nautobot.tables import metadata

# shared/'s dump, and the `\\d` of further tables read off a live Nautobot 3.2.7 (nbjobs' facts run).
DUMPS = sorted((Path(__file__).parent / "data").glob("nautobot-3.2.7-*tables.txt"))
Columns = dict[str, tuple[str, bool]]  # column -> (type, nullable)


_CREATE_COLUMN = re.compile(r'^    "?(\w+)"? (.+?)( NOT NULL)?,?$')  # "    name type [NOT NULL],"
_DESCRIBE_COLUMN = re.compile(r"^ (\w+)\s+\| ([^|]+?)\s+\|[^|]*\| (not null)?\s*\|")  # " name | type | | not null |"


def parse_dump() -> tuple[dict[str, Columns], dict[str, set[tuple[str, ...]]]]:
    """Columns of every table in the dump (both its `\\d` blocks and its CREATE TABLE statements)
    and the column sets of the `\\d` blocks' unique constraints."""
    tables: dict[str, Columns] = {}
    uniques: dict[str, set[tuple[str, ...]]] = {}
    current, in_create = None, False
    for line in (line for dump in DUMPS for line in dump.read_text().splitlines()):
        if match := re.match(r'\s+Table "public\.(\w+)"', line):
            current, in_create = match.group(1), False
            tables[current], uniques[current] = {}, set()
        elif match := re.match(r"CREATE TABLE public\.(\w+) \(", line):
            current, in_create = match.group(1), True
            tables[current] = {}
        elif in_create and line.startswith(")"):
            current, in_create = None, False
        elif current and (match := (_CREATE_COLUMN if in_create else _DESCRIBE_COLUMN).match(line)):
            tables[current][match.group(1)] = (match.group(2), match.group(3) is None)
        elif current and (match := re.search(r"UNIQUE CONSTRAINT, btree \(([^)]+)\)", line)):
            uniques[current].add(tuple(c.strip().strip('"') for c in match.group(1).split(",")))
    return tables, uniques


def test_the_dump_parses() -> None:
    tables, uniques = parse_dump()
    assert len(tables["extras_job"]) == 35
    assert tables["extras_job"]["default_job_queue_id"] == ("uuid", False)
    assert tables["extras_objectchange"]["change_context_detail"] == ("character varying(400)", False)
    assert ("module_name", "job_class_name") in uniques["extras_job"]


@pytest.mark.skipif("postgresql" not in ENGINES, reason="types are compared in PostgreSQL's own notation")
@pytest.mark.parametrize("db_target", ["postgresql"], indirect=True)
def test_tables_mirror_nautobots_exactly(db_engine: Engine) -> None:
    expected, expected_uniques = parse_dump()
    mirrored = [name for name in metadata.tables if name in expected]
    assert mirrored == list(metadata.tables), f"not in the dumps: {set(metadata.tables) - set(mirrored)}"
    with db_engine.begin() as connection:
        metadata.create_all(connection)
        for table in mirrored:
            rows = connection.execute(
                text("SELECT a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull FROM pg_attribute a "
                     "WHERE a.attrelid = CAST(:t AS regclass) AND a.attnum > 0 AND NOT a.attisdropped"), {"t": table}
            )  # fmt: skip
            actual = {name: (type_, nullable) for name, type_, nullable in rows}
            assert actual == expected[table], table
            if table in expected_uniques:
                constraints = connection.execute(
                    text("SELECT array_agg(a.attname ORDER BY array_position(c.conkey, a.attnum)) FROM pg_constraint c "
                         "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY(c.conkey) "
                         "WHERE c.conrelid = CAST(:t AS regclass) AND c.contype = 'u' GROUP BY c.oid"), {"t": table}
                )  # fmt: skip
                assert {tuple(cols) for (cols,) in constraints} == expected_uniques[table], table
        metadata.drop_all(connection)
