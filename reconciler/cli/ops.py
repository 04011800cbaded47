"""Operating nbjobs' own state: `nbjobs db upgrade` and `nbjobs history [ID]`."""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import RowMapping

from reconciler.apply.purge import count_orphans, purge_orphans
from reconciler.cli import catalog, common
from reconciler.diagnostics import NbjobsError, plural, printable
from reconciler.nautobot.connect import create_db_engine
from reconciler.nautobot.identity import NotNautobotError
from reconciler.plan.summary import Summary
from reconciler.state.history import list_applies, show_apply
from reconciler.state.migrate import require_current, upgrade


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    db = catalog.add(commands, "db")
    db_commands = db.add_subparsers(title="db commands", metavar="ACTION", required=True)
    db_upgrade = db_commands.add_parser("upgrade", help="create or migrate nbjobs' own tables (Alembic)")
    common.add_database(db_upgrade)
    db_upgrade.set_defaults(handler=_db_upgrade)

    orphans = catalog.add(commands, "purge-orphans")
    orphans.add_argument("--older-than", required=True, type=_age, metavar="AGE",
                         help="only results created longer ago than this: 90d, 12h, 30m, 2w")  # fmt: skip
    orphans.add_argument("--batch-size", type=int, default=1000, metavar="N", help="results per transaction")
    common.add_yes(orphans, "delete them (without it, only count them)")
    common.add_quiet(orphans)
    common.add_database(orphans)
    orphans.set_defaults(handler=_purge_orphans)

    history = catalog.add(commands, "history")
    history.add_argument("id", nargs="?", help="an apply's id (or the start of it) to show its changes")
    history.add_argument("--limit", type=int, default=20, help="how many applies to list (default 20)")
    history.add_argument("--format", choices=("text", "json"), default="text")
    common.add_database(history)
    history.set_defaults(handler=_history)


def _db_upgrade(args: argparse.Namespace) -> int:
    target = common.target(args)
    try:
        common.require_database(target)
    except NotNautobotError as exc:  # nbjobs' tables belong beside Nautobot's, nowhere else
        raise NotNautobotError(f"refusing to create nbjobs' tables: {exc}") from None
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
        print(f"{e['id'].hex[:12]:<12}  {e['started_at']:%Y-%m-%d %H:%M:%S}  {e['outcome']:<10}  "
              f"{(e['user_name'] or '-'):<12}  {(e['revision'] or '-'):<14}  {_changes(e['counts'])}")  # fmt: skip


def _changes(counts: dict[str, int] | None) -> str:
    """An apply's count as its closing line said it (plan.summary.Summary); `-` when none was recorded."""
    return Summary.from_counts(counts).objects_line("created", "changed", "deleted") if counts else "-"


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
        print(f"{'Message:':<20}{printable(entry['message'])}")
    print(f"{'Changes:':<20}{_changes(entry['counts'])}")
    print(f"{'Counts:':<20}{json.dumps(entry['counts'])}")
    for c in changes:
        field = f".{c['field']}" if c["field"] else ""
        verdict = f"  [{c['verdict']}]" if c["verdict"] else ""
        print(f"  {c['object_type']} {printable(c['object_repr'])}{field}: {json.dumps(c['before'])} -> "
              f"{json.dumps(c['after'])}{verdict}")  # fmt: skip
    sys.stdout.flush()


def _plain(row: RowMapping) -> dict[str, Any]:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else str(v) if k.endswith("id") and v else v)
            for k, v in dict(row).items()}  # fmt: skip


_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def _age(text: str) -> timedelta:
    match = re.fullmatch(r"(\d+)([mhdw])", text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not an age: expected a number and m, h, d or w (e.g. 90d)")
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


def _purge_orphans(args: argparse.Namespace) -> int:
    if args.batch_size < 1:
        raise NbjobsError("--batch-size must be at least 1")
    target = common.target(args)
    common.require_database(target)
    cutoff = datetime.now(UTC) - args.older_than
    engine = create_db_engine(target)
    try:
        with engine.connect() as connection:
            require_current(connection)
        count = count_orphans(engine, cutoff)
        if not args.quiet or not args.yes or not count:  # quiet and deleting: the closing line says it all
            print(f"{plural(count, 'result')} without a job, created before {cutoff:%Y-%m-%d %H:%M} UTC.")
        if not args.yes or not count:
            if count:
                print("Dry run: nothing deleted. Run again with --yes (-y) to delete them.")
            return 0
        purged = purge_orphans(engine, cutoff, args.batch_size, None if args.quiet else common.progress)
    finally:
        engine.dispose()
    print(f"Purged {plural(purged, 'result')} with their log entries, console entries and file proxies.")
    return 0
