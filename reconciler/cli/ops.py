"""Operating nbjobs' own state: `nbjobs db upgrade` and `nbjobs history [ID]`."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from sqlalchemy import RowMapping

from reconciler.cli import common
from reconciler.nautobot.connect import create_db_engine
from reconciler.state.history import list_applies, show_apply
from reconciler.state.migrate import require_current, upgrade


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    db = commands.add_parser("db", help="nbjobs' own tables in the Nautobot database")
    db_commands = db.add_subparsers(title="db commands", metavar="ACTION", required=True)
    db_upgrade = db_commands.add_parser("upgrade", help="create or migrate nbjobs' own tables (Alembic)")
    common.add_database(db_upgrade)
    db_upgrade.set_defaults(handler=_db_upgrade)

    history = commands.add_parser("history", help="list the applies made, or show one")
    history.add_argument("id", nargs="?", help="an apply's id (or the start of it) to show its changes")
    history.add_argument("--limit", type=int, default=20, help="how many applies to list (default 20)")
    history.add_argument("--format", choices=("text", "json"), default="text")
    common.add_database(history)
    history.set_defaults(handler=_history)


def _db_upgrade(args: argparse.Namespace) -> int:
    target = common.target(args)
    common.require_database(target)
    engine = create_db_engine(target)
    try:
        before, after = upgrade(engine)
    finally:
        engine.dispose()
    print(f"nbjobs tables at revision {after} in {target.display_url}" + (
        " (already up to date)" if before == after else f" (were at {before or 'nothing'})"))  # fmt: skip
    return 0


def _history(args: argparse.Namespace) -> int:
    target = common.target(args)
    common.require_database(target)
    engine = create_db_engine(target)
    try:
        with engine.connect() as connection:
            require_current(connection)
            if args.id:
                entry, changes = show_apply(connection, args.id)
                _print_one(entry, changes, args.format)
            else:
                _print_list(list_applies(connection, args.limit), args.format)
    finally:
        engine.dispose()
    return 0


def _print_list(entries: list[RowMapping], fmt: str) -> None:
    if fmt == "json":
        print(json.dumps([_plain(e) for e in entries], indent=2))
        return
    if not entries:
        print("No applies recorded yet.")
        return
    print(f"{'ID':<12}  {'STARTED (UTC)':<19}  {'OUTCOME':<10}  {'USER':<12}  {'REVISION':<14}  CHANGES")
    for e in entries:
        counts = e["counts"] or {}
        changed = counts.get("jobs_changed", 0) + counts.get("queues_created", 0) + counts.get("queues_updated", 0)
        print(f"{e['id'].hex[:12]:<12}  {e['started_at']:%Y-%m-%d %H:%M:%S}  {e['outcome']:<10}  "
              f"{(e['user_name'] or '-'):<12}  {(e['revision'] or '-'):<14}  {changed}")  # fmt: skip


def _print_one(entry: RowMapping, changes: list[RowMapping], fmt: str) -> None:
    if fmt == "json":
        print(json.dumps({**_plain(entry), "changes": [_plain(c) for c in changes]}, indent=2))
        return
    for label, key in (("Apply", "id"), ("Started", "started_at"), ("Finished", "finished_at"),
                       ("Outcome", "outcome"), ("User", "user_name"), ("Host", "host"), ("Revision", "revision"),
                       ("Database", "database"), ("Plan digest", "plan_digest"),
                       ("Sources digest", "sources_digest"), ("Change log request", "request_id")):  # fmt: skip
        print(f"{label + ':':<20}{entry[key] if entry[key] not in (None, '') else '-'}")
    if entry["message"]:
        print(f"{'Message:':<20}{entry['message']}")
    print(f"{'Counts:':<20}{json.dumps(entry['counts'])}")
    for c in changes:
        field = f".{c['field']}" if c["field"] else ""
        verdict = f"  [{c['verdict']}]" if c["verdict"] else ""
        print(f"  {c['object_type']} {c['object_repr']}{field}: {json.dumps(c['before'])} -> "
              f"{json.dumps(c['after'])}{verdict}")  # fmt: skip
    sys.stdout.flush()


def _plain(row: RowMapping) -> dict[str, Any]:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else str(v) if k.endswith("id") and v else v)
            for k, v in dict(row).items()}  # fmt: skip
