"""The core commands: validate, plan, apply, schema, sandbox."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from reconciler.apply import ApplyOptions, apply
from reconciler.cli import common
from reconciler.diagnostics import NbjobsError, Severity
from reconciler.discovery.types import Discovery
from reconciler.gitrev import manifest_revision
from reconciler.manifest.resolve import resolve
from reconciler.manifest.schema import schema_text
from reconciler.manifest.types import DesiredState
from reconciler.nautobot.connect import DatabaseTarget, create_db_engine
from reconciler.nautobot.snapshot import read_snapshot
from reconciler.plan.operations import Plan
from reconciler.plan.planner import PlanSettings, plan
from reconciler.render.json import render_json
from reconciler.render.text import render_text
from reconciler.sandbox import build_sandbox


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    validate = commands.add_parser("validate", help="check manifests and job code (no database)")
    common.add_sources(validate, database=False)
    validate.set_defaults(handler=_validate)

    plan_ = commands.add_parser("plan", help="show what apply would change")
    common.add_sources(plan_)
    plan_.add_argument("--format", choices=("text", "json"), default="text", help="output format (default text)")
    plan_.add_argument("--out", type=Path, metavar="FILE", help="also save the plan as JSON to FILE")
    plan_.add_argument("--detailed-exitcode", action="store_true", help="exit 0 no changes, 1 error, 2 changes")
    plan_.set_defaults(handler=_plan)

    apply_ = commands.add_parser("apply", help="carry the plan out in one transaction")
    common.add_sources(apply_)
    apply_.add_argument("--yes", action="store_true", help="apply without asking")
    apply_.add_argument("--as", dest="username", metavar="USERNAME", default=os.environ.get("NBJOBS_USER"),
                        help="Nautobot user recorded in the change log (default NBJOBS_USER)")  # fmt: skip
    apply_.set_defaults(handler=_apply)

    schema = commands.add_parser("schema", help="print the manifests' JSON Schema")
    schema.set_defaults(handler=_schema)

    sandbox = commands.add_parser("sandbox", help="create or refresh the embedded sandbox database")
    common.add_code_sources(sandbox)
    common.add_database(sandbox)
    sandbox.set_defaults(handler=_sandbox)


def _validate(args: argparse.Namespace) -> int:
    desired, _ = common.manifests(args)
    discovery = common.code(args)
    resolution = resolve(desired, [job.class_path for job in discovery.jobs])
    problems = list(discovery.problems) + list(resolution.diagnostics)
    for diagnostic in problems:
        print(diagnostic, file=sys.stderr)
    for entry in resolution.unmatched_exact:
        print(f"{entry.location}: warning: {entry.match!r} is not in the job code (the database may have it)",
              file=sys.stderr)  # fmt: skip
    errors = sum(d.severity is Severity.ERROR for d in problems)
    print(f"{len(desired.files)} manifest file(s), {len(desired.jobs)} job entr(ies), {len(desired.queues)} queue(s); "
          f"{len(discovery.jobs)} job class(es) found; {errors} error(s).")  # fmt: skip
    return 1 if errors else 0


def _current_plan(args: argparse.Namespace) -> tuple[Plan, DesiredState, Discovery, DatabaseTarget, list[Path]]:
    desired, paths = common.manifests(args)
    discovery = common.code(args)
    target = common.target(args)
    common.require_database(target)
    engine = create_db_engine(target)
    try:
        with engine.connect() as connection:
            snapshot = read_snapshot(connection, target.display_url)
    finally:
        engine.dispose()
    return (
        plan(desired, discovery, snapshot, PlanSettings(common.default_queue(args))),
        desired,
        discovery,
        target,
        paths,
    )


def _plan(args: argparse.Namespace) -> int:
    current, _, _, _, paths = _current_plan(args)
    revision = manifest_revision(paths)
    if args.out:
        args.out.write_text(render_json(current, revision=revision), encoding="utf-8")
    if args.format == "json":
        sys.stdout.write(render_json(current, revision=revision))
    else:
        header = f"nbjobs plan against {current.database}" + (f" (manifests at {revision})" if revision else "")
        sys.stdout.write(render_text(current, style=common.style(sys.stdout), header=header + "\n"))
    if args.detailed_exitcode and not current.is_empty:
        return 2
    return 0


def _apply(args: argparse.Namespace) -> int:
    shown, desired, discovery, target, paths = _current_plan(args)
    revision = manifest_revision(paths)
    sys.stdout.write(
        render_text(shown, style=common.style(sys.stdout), header=f"nbjobs apply against {shown.database}\n")
    )
    if shown.is_empty:
        return 0
    if not args.yes:
        if not sys.stdin.isatty():
            raise NbjobsError("refusing to apply without --yes when not run interactively; nothing was changed")
        answer = input("Apply these changes? Only 'yes' is accepted: ")
        if answer.strip() != "yes":
            print("Apply cancelled; nothing was changed.")
            return 1
    engine = create_db_engine(target)
    try:
        settings = PlanSettings(common.default_queue(args))
        options = ApplyOptions(database=target.display_url, username=args.username, revision=revision)
        result = apply(engine, desired, discovery, settings, options, expected=shown)
    finally:
        engine.dispose()
    print(f"Apply complete: {len(result.plan.operations)} change(s), {result.object_changes} change-log entr(ies).")
    return 0


def _schema(_args: argparse.Namespace) -> int:
    sys.stdout.write(schema_text())
    return 0


def _sandbox(args: argparse.Namespace) -> int:
    discovery = common.code(args)
    for problem in discovery.problems:
        print(problem, file=sys.stderr)
    target = common.target(args)
    engine = create_db_engine(target)
    try:
        report = build_sandbox(engine, discovery, common.default_queue(args))
    finally:
        engine.dispose()
    verb = "Created" if report.database_created else "Refreshed"
    print(f"{verb} sandbox {target.display_url}: {len(report.created)} job record(s) created, "
          f"{len(report.refreshed)} refreshed, {len(report.uninstalled)} marked uninstalled, "
          f"{len(report.queues_created)} queue(s) created.")  # fmt: skip
    return 0
