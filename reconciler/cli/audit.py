"""`nbjobs audit`: the periodic review Nautobot's guide asks for, from the manifests, the job code, the
database and the results history: overrides no manifest declares or equal to the code's value, overrides
without a why, jobs running into their time limits, idle jobs, schedules that cannot run or overlap, approvals
nobody can give, overrides that belong in the code, and (`--since-upgrade`) overrides hiding a new default.

Exit codes: 0, also with findings; with `--strict`, 2 when there are findings (as plan's
`--detailed-exitcode` for changes); 1 an error.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from reconciler.audit.gather import run_audit
from reconciler.audit.render import audit_document, closing_line, render_markdown, render_text
from reconciler.audit.types import AuditReport, AuditSettings
from reconciler.cli import catalog, common
from reconciler.diagnostics import InputError, NbjobsError
from reconciler.gitrev import manifest_revision
from reconciler.nautobot.connect import create_db_engine
from reconciler.nautobot.snapshot import read_snapshot


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    audit = catalog.add(commands, "audit")
    common.add_sources(audit)
    common.add_target(audit)
    audit.add_argument("--format", choices=("text", "json", "markdown"), default="text",
                       help="output format (default text; markdown for an issue or a review comment)")  # fmt: skip
    audit.add_argument("--out", type=Path, metavar="FILE", help="also save the report as JSON to FILE")
    audit.add_argument("--strict", action="store_true",
                       help="exit 2 on findings (0 none, 1 error), as plan --detailed-exitcode")  # fmt: skip
    audit.add_argument("--since-upgrade", action="store_true",
                       help="also find overrides whose class value changed since Nautobot's last upgrade "
                            "(the newest of Django's migrations)")  # fmt: skip
    audit.add_argument("--unused-days", type=int, metavar="N",
                       help="an enabled job not run for N days is idle (default audit_unused_days, 90)")  # fmt: skip
    audit.add_argument("--module-threshold", type=int, metavar="N",
                       help="the same override on N jobs of one module suggests moving it into the code "
                            "(default audit_module_threshold, 3)")  # fmt: skip
    common.add_quiet(audit)
    audit.set_defaults(handler=_audit)


def audit_settings(args: argparse.Namespace) -> AuditSettings:
    """The flags, else the settings (NBJOBS_AUDIT_*, the settings file), else the defaults."""
    configured = common.settings(args).settings
    days = args.unused_days if args.unused_days is not None else configured.audit_unused_days
    threshold = args.module_threshold if args.module_threshold is not None else configured.audit_module_threshold
    if days < 1:
        raise NbjobsError(f"--unused-days must be at least 1, not {days}")
    if threshold < 2:
        raise NbjobsError(f"--module-threshold must be at least 2, not {threshold}")
    return AuditSettings(unused_days=days, module_threshold=threshold, since_upgrade=args.since_upgrade,
                         default_queue=common.default_queue(args))  # fmt: skip


def _audit(args: argparse.Namespace) -> int:
    desired, paths = common.manifests(args)
    discovery = common.code(args)
    settings = audit_settings(args)
    target = common.target(args)
    common.require_database(target)
    revision = manifest_revision(paths)
    engine = create_db_engine(target)
    try:
        # One read transaction (repeatable read off SQLite): the facts are those of the snapshot's moment.
        isolation = {} if target.is_sqlite else {"isolation_level": "REPEATABLE READ"}
        with engine.connect().execution_options(**isolation) as connection, connection.begin():
            snapshot = read_snapshot(connection, target.display_url)
            report = run_audit(connection, desired, discovery, snapshot, settings, datetime.now(UTC))
    finally:
        engine.dispose()
    if report.conflicts:  # what manages a job would be a guess: the planner refuses these manifests too
        raise InputError(report.conflicts)
    if args.out:
        args.out.write_text(json.dumps(audit_document(report, revision=revision), indent=2) + "\n", encoding="utf-8")
    _show(args, report, revision)
    if args.out and not args.quiet and args.format == "text":
        print(f"Saved report: {args.out}", file=sys.stderr)
    return 2 if args.strict and not report.is_empty else 0


def _show(args: argparse.Namespace, report: AuditReport, revision: str | None) -> None:
    if args.format == "json":
        common.print_json(audit_document(report, revision=revision))
    elif args.format == "markdown":
        sys.stdout.write(render_markdown(report, revision=revision))
    elif args.quiet:
        print(closing_line(report))
    else:
        header = f"nbjobs audit of {report.database}" + (f" (manifests at {revision})" if revision else "")
        sys.stdout.write(render_text(report, style=common.style(sys.stdout), header=header))
