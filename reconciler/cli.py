"""`nbjobs`: validate, plan, apply, schema, sandbox.

Every failure is a clear message and an exit code; a traceback only with NBJOBS_DEBUG=1.
Exit codes: 0 success; 1 error; with `plan --detailed-exitcode`, 2 when there are changes.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from sqlalchemy.exc import SQLAlchemyError

from reconciler import __version__
from reconciler.apply import apply
from reconciler.diagnostics import InputError, NbjobsError, Severity
from reconciler.discovery.sources import discover
from reconciler.discovery.types import Discovery
from reconciler.fields import DEFAULT_QUEUE_NAME
from reconciler.gitrev import manifest_revision
from reconciler.manifest.load import load_manifests
from reconciler.manifest.resolve import resolve
from reconciler.manifest.schema import schema_text
from reconciler.manifest.types import DesiredState
from reconciler.nautobot.connect import DatabaseTarget, create_db_engine, resolve_target
from reconciler.nautobot.snapshot import read_snapshot
from reconciler.plan.operations import Plan
from reconciler.plan.planner import PlanSettings, plan
from reconciler.render.json import render_json
from reconciler.render.text import Style, ansi, plain, render_text
from reconciler.sandbox import build_sandbox

DEFAULT_MANIFESTS = Path("manifests")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return 1
    try:
        handler: Callable[[argparse.Namespace], int] = args.handler
        return handler(args)
    except InputError as exc:
        for diagnostic in exc.diagnostics:
            print(diagnostic, file=sys.stderr)
        errors = sum(d.severity is Severity.ERROR for d in exc.diagnostics)
        print(f"Error: {errors} problem(s) found; nothing was changed.", file=sys.stderr)
        return 1
    except NbjobsError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    except SQLAlchemyError as exc:
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        print(f"Error: database: {detail}; nothing was changed.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("Interrupted; nothing was changed.", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: say so plainly, keep the trace for whoever reports it
        if os.environ.get("NBJOBS_DEBUG"):
            traceback.print_exc()
        print(f"Internal error: {type(exc).__name__}: {exc} (run with NBJOBS_DEBUG=1 for details)", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nbjobs", description="Declarative GitOps reconciler for Nautobot Jobs.")
    parser.add_argument("--version", action="version", version=f"nbjobs {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    validate = commands.add_parser("validate", help="check manifests and job code (no database)")
    _add_sources(validate, database=False)
    validate.set_defaults(handler=_validate)

    plan_ = commands.add_parser("plan", help="show what apply would change")
    _add_sources(plan_)
    plan_.add_argument("--format", choices=("text", "json"), default="text", help="output format (default text)")
    plan_.add_argument("--out", type=Path, metavar="FILE", help="also save the plan as JSON to FILE")
    plan_.add_argument("--detailed-exitcode", action="store_true", help="exit 0 no changes, 1 error, 2 changes")
    plan_.set_defaults(handler=_plan)

    apply_ = commands.add_parser("apply", help="carry the plan out in one transaction")
    _add_sources(apply_)
    apply_.add_argument("--yes", action="store_true", help="apply without asking")
    apply_.add_argument("--as", dest="username", metavar="USERNAME", default=os.environ.get("NBJOBS_USER"),
                        help="Nautobot user recorded in the change log (default NBJOBS_USER)")  # fmt: skip
    apply_.set_defaults(handler=_apply)

    schema = commands.add_parser("schema", help="print the manifests' JSON Schema")
    schema.set_defaults(handler=_schema)

    sandbox = commands.add_parser("sandbox", help="create or refresh the embedded sandbox database")
    _add_code_sources(sandbox)
    _add_database(sandbox)
    sandbox.set_defaults(handler=_sandbox)
    return parser


def _add_code_sources(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--jobs-root", type=Path, help="Nautobot's JOBS_ROOT (default NAUTOBOT_JOBS_ROOT)")
    parser.add_argument("--git-root", type=Path, help="Nautobot's GIT_ROOT (default NAUTOBOT_GIT_ROOT)")
    parser.add_argument("--app", action="append", default=[], metavar="PACKAGE",
                        help="an App package providing jobs (name or path; repeatable; never imported)")  # fmt: skip
    parser.add_argument(
        "--default-queue", help="CELERY_TASK_DEFAULT_QUEUE (default NAUTOBOT_CELERY_TASK_DEFAULT_QUEUE)"
    )


def _add_database(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url", help="SQLAlchemy URL (default NBJOBS_DATABASE_URL, NAUTOBOT_DB_*, ./nbjobs.db)"
    )


def _add_sources(parser: argparse.ArgumentParser, *, database: bool = True) -> None:
    parser.add_argument("manifests", nargs="*", type=Path, help="manifest files or directories (default manifests/)")
    _add_code_sources(parser)
    if database:
        _add_database(parser)


def _default_queue(args: argparse.Namespace) -> str:
    return str(args.default_queue or os.environ.get("NAUTOBOT_CELERY_TASK_DEFAULT_QUEUE") or DEFAULT_QUEUE_NAME)


def _code(args: argparse.Namespace) -> Discovery:
    """Job code from the flags, else Nautobot's own settings (JOBS_ROOT, GIT_ROOT under NAUTOBOT_ROOT)."""
    nautobot_root = Path(os.environ.get("NAUTOBOT_ROOT", Path.home() / ".nautobot"))
    jobs_root = args.jobs_root or _env_path("NAUTOBOT_JOBS_ROOT") or _existing(nautobot_root / "jobs")
    git_root = args.git_root or _env_path("NAUTOBOT_GIT_ROOT") or _existing(nautobot_root / "git")
    for given, flag in ((args.jobs_root, "--jobs-root"), (args.git_root, "--git-root")):
        if given is not None and not given.is_dir():
            raise NbjobsError(f"{flag} {given}: no such directory")
    return discover(jobs_root=jobs_root, git_root=git_root, apps=args.app, default_queue=_default_queue(args))


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value) if value else None


def _existing(path: Path) -> Path | None:
    return path if path.is_dir() else None


def _manifests(args: argparse.Namespace) -> tuple[DesiredState, list[Path]]:
    paths: list[Path] = args.manifests or [DEFAULT_MANIFESTS]
    if not args.manifests and not DEFAULT_MANIFESTS.exists():
        raise NbjobsError("no manifests given and no manifests/ directory here; name manifest files or directories")
    return load_manifests(paths), paths


def _target(args: argparse.Namespace) -> DatabaseTarget:
    return resolve_target(args.database_url, os.environ, Path.cwd())


def _style(stream: TextIO) -> Style:
    return ansi if stream.isatty() and not os.environ.get("NO_COLOR") else plain


def _validate(args: argparse.Namespace) -> int:
    desired, _ = _manifests(args)
    discovery = _code(args)
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
    desired, paths = _manifests(args)
    discovery = _code(args)
    target = _target(args)
    _require_database(target)
    engine = create_db_engine(target)
    try:
        with engine.connect() as connection:
            snapshot = read_snapshot(connection, target.display_url)
    finally:
        engine.dispose()
    return plan(desired, discovery, snapshot, PlanSettings(_default_queue(args))), desired, discovery, target, paths


def _require_database(target: DatabaseTarget) -> None:
    if target.is_sqlite and target.url.database and not Path(target.url.database).exists():
        raise NbjobsError(f"no database at {target.display_url}: run `nbjobs sandbox` or give --database-url")


def _plan(args: argparse.Namespace) -> int:
    current, _, _, _, paths = _current_plan(args)
    revision = manifest_revision(paths)
    if args.out:
        args.out.write_text(render_json(current, revision=revision), encoding="utf-8")
    if args.format == "json":
        sys.stdout.write(render_json(current, revision=revision))
    else:
        header = f"nbjobs plan against {current.database}" + (f" (manifests at {revision})" if revision else "")
        sys.stdout.write(render_text(current, style=_style(sys.stdout), header=header + "\n"))
    if args.detailed_exitcode and not current.is_empty:
        return 2
    return 0


def _apply(args: argparse.Namespace) -> int:
    shown, desired, discovery, target, paths = _current_plan(args)
    revision = manifest_revision(paths)
    sys.stdout.write(render_text(shown, style=_style(sys.stdout), header=f"nbjobs apply against {shown.database}\n"))
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
        result = apply(engine, desired, discovery, PlanSettings(_default_queue(args)), database=target.display_url,
                       username=args.username, revision=revision, expected=shown)  # fmt: skip
    finally:
        engine.dispose()
    print(f"Apply complete: {len(result.plan.operations)} change(s), {result.object_changes} change-log entr(ies).")
    return 0


def _schema(_args: argparse.Namespace) -> int:
    sys.stdout.write(schema_text())
    return 0


def _sandbox(args: argparse.Namespace) -> int:
    discovery = _code(args)
    for problem in discovery.problems:
        print(problem, file=sys.stderr)
    target = _target(args)
    engine = create_db_engine(target)
    try:
        report = build_sandbox(engine, discovery, _default_queue(args))
    finally:
        engine.dispose()
    verb = "Created" if report.database_created else "Refreshed"
    print(f"{verb} sandbox {target.display_url}: {len(report.created)} job record(s) created, "
          f"{len(report.refreshed)} refreshed, {len(report.uninstalled)} marked uninstalled, "
          f"{len(report.queues_created)} queue(s) created.")  # fmt: skip
    return 0
