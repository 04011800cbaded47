"""The core commands: validate, plan, apply, schema, sandbox."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from reconciler.apply import ApplyOptions, ApplyResult, applied_before, apply, apply_saved, read_actual, saved
from reconciler.cli import catalog, common
from reconciler.cli.preflight import readiness
from reconciler.diagnostics import Diagnostic, InputError, Location, NbjobsError, Severity, did_you_mean
from reconciler.discovery.types import Discovery
from reconciler.gitrev import manifest_revision
from reconciler.manifest.resolve import resolve
from reconciler.manifest.schema import schema_text
from reconciler.manifest.types import DesiredState
from reconciler.nautobot.connect import DatabaseTarget, create_db_engine
from reconciler.nautobot.records import Snapshot
from reconciler.plan.operations import Plan
from reconciler.plan.ownership import ownership
from reconciler.plan.planner import PlanSettings, plan
from reconciler.plan.summary import Summary, plural
from reconciler.render.json import render_json
from reconciler.render.markdown import render_markdown
from reconciler.render.preflight import preflight_block, preflight_document, preflight_text
from reconciler.render.text import closing_line, render_text
from reconciler.sandbox import build_sandbox
from reconciler.state.migrate import require_current


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    validate = catalog.add(commands, "validate")
    common.add_sources(validate, database=False)
    validate.add_argument("--strict", action="store_true",
                          help="warnings are errors (exit 1): for CI and pre-commit")  # fmt: skip
    validate.add_argument("--database-url", metavar="URL",
                          help="also check class paths and queues against this database (read only)")  # fmt: skip
    common.add_format(validate)
    common.add_quiet(validate)
    validate.set_defaults(handler=_validate)

    plan_ = catalog.add(commands, "plan")
    common.add_sources(plan_)
    plan_.add_argument("--format", choices=("text", "json", "markdown"), default="text",
                       help="output format (default text; markdown for a pull-request comment)")  # fmt: skip
    plan_.add_argument("--out", type=Path, metavar="FILE", help="also save the plan as JSON to FILE")
    plan_.add_argument("--detailed-exitcode", action="store_true", help="exit 0 no changes, 1 error, 2 changes")
    common.add_quiet(plan_)
    plan_.add_argument("--preflight", action="store_true",
                       help="also check that workers or a cluster serve every queue jobs are routed to")  # fmt: skip
    common.add_preflight(plan_)
    _add_mass_delete(plan_)
    plan_.set_defaults(handler=_plan)

    apply_ = catalog.add(commands, "apply")
    common.add_sources(apply_)
    common.add_yes(apply_, "apply without asking")
    common.add_format(apply_)
    common.add_quiet(apply_)
    _add_mass_delete(apply_)
    apply_.add_argument("--batch-size", type=int, default=1000, metavar="N",
                        help="results purged per transaction when retiring (default 1000)")  # fmt: skip
    apply_.add_argument("--lock-timeout", type=float, metavar="SECONDS",
                        help="wait this long for another apply to finish (default 0: fail at once)")  # fmt: skip
    apply_.add_argument("--as", dest="username", metavar="USERNAME",
                        help="Nautobot user recorded in the change log (default NBJOBS_USER)")  # fmt: skip
    apply_.set_defaults(handler=_apply)

    schema = catalog.add(commands, "schema")
    schema.set_defaults(handler=_schema)

    sandbox = catalog.add(commands, "sandbox")
    common.add_code_sources(sandbox)
    common.add_database(sandbox)
    sandbox.set_defaults(handler=_sandbox)


def _add_mass_delete(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--allow-mass-delete", action="store_true",
                        help="allow deleting more than 10 jobs, or more than a quarter of those managed "
                             "(once mass_delete_min_managed, default 20, are managed)")  # fmt: skip


@dataclass(frozen=True)
class _Validation:
    """What validate found: what it read (None when it could not read it) and the problems."""

    strict: bool
    problems: tuple[Diagnostic, ...]
    files: tuple[str, ...] = ()
    entries: int | None = None
    queues: int | None = None
    job_classes: int | None = None  # None with --no-code
    job_records: int | None = None  # None without a database

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.problems if d.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.problems if d.severity is not Severity.ERROR]

    def line(self) -> str:
        """`3 manifest files, 5 job entries, 2 queues; 7 job classes found; 0 errors, 1 warning.`"""
        code = ("no job code read (--no-code)" if self.job_classes is None
                else f"{plural(self.job_classes, 'job class', 'job classes')} found")  # fmt: skip
        database = f", {plural(self.job_records, 'job record')} in the database" if self.job_records is not None else ""
        strict = " (--strict)" if self.strict else ""
        return (f"{plural(len(self.files), 'manifest file')}, {plural(self.entries or 0, 'job entry')}, "
                f"{plural(self.queues or 0, 'queue')}; {code}{database}; {plural(len(self.errors), 'error')}, "
                f"{plural(len(self.warnings), 'warning')}{strict}.")  # fmt: skip

    def document(self) -> dict[str, Any]:
        """`validate --format json`: the same keys every time (null for what could not be read)."""
        return {
            "format_version": 1,
            "valid": not self.errors,
            "strict": self.strict,
            "files": list(self.files),
            "entries": self.entries,
            "queues": self.queues,
            "job_classes": self.job_classes,
            "job_records": self.job_records,
            "errors": [common.diagnostic_document(d) for d in self.errors],
            "warnings": [common.diagnostic_document(d) for d in self.warnings],
        }


def _validate(args: argparse.Namespace) -> int:
    if args.format == "json":
        try:
            found = _validation(args)
        except InputError as exc:  # the manifests or the code could not be read: that is the report
            found = _Validation(args.strict, exc.diagnostics)
        except NbjobsError as exc:
            found = _Validation(args.strict, (Diagnostic(Location(""), str(exc)),))
        common.print_json(found.document())
        return 1 if found.errors else 0
    found = _validation(args)
    for diagnostic in sorted(found.problems, key=lambda d: d.location):
        if diagnostic.severity is Severity.ERROR or not args.quiet:
            print(diagnostic, file=sys.stderr)
    print(found.line())
    return 1 if found.errors else 0


def _validation(args: argparse.Namespace) -> _Validation:
    desired, _ = common.manifests(args)
    discovery = common.code(args)
    snapshot = _validation_snapshot(args)
    in_database = [job.class_path for job in snapshot.jobs] if snapshot else []
    known_jobs = [job.class_path for job in discovery.jobs] + in_database
    resolution = resolve(desired, known_jobs)
    # With --no-code and no database there is nothing to match entries against: only their conflicts count.
    checkable = bool(discovery.jobs) or snapshot is not None
    problems = list(discovery.problems)
    problems += [d for d in resolution.diagnostics if checkable or d.severity is Severity.ERROR]
    for entry in resolution.unmatched_exact if checkable else ():
        if snapshot is not None:
            message = f"job {entry.match!r} exists neither in the job code nor in the database"
        elif args.strict:
            message = f"job {entry.match!r} is not in the job code (give --database-url to look in the database too)"
        else:
            message = f"{entry.match!r} is not in the job code (the database may have it)"
        problems.append(Diagnostic(entry.location, message + _hint(entry.match, known_jobs), Severity.WARNING))
    undeclared, known_queues = _undeclared_queues(desired, discovery, common.default_queue(args), snapshot)
    for location, queue in undeclared:
        where = " nor in the database" if snapshot else " (the database must have it, or the plan will refuse)"
        message = f"queue {queue!r} is declared neither under queues: nor by any job's task_queues{where}"
        problems.append(Diagnostic(location, message + _hint(queue, known_queues), Severity.WARNING))
    if args.strict:  # CI and pre-commit: a warning fails the gate
        problems = [replace(d, severity=Severity.ERROR) for d in problems]
    return _Validation(
        strict=args.strict,
        problems=tuple(sorted(problems, key=lambda d: d.location)),
        files=desired.files,
        entries=len(desired.jobs),
        queues=len(desired.queues),
        job_classes=None if args.no_code else len(discovery.jobs),
        job_records=len(snapshot.jobs) if snapshot else None,
    )


def _hint(name: str, known: Iterable[str]) -> str:
    suggestion = did_you_mean(name, known)
    return f"; {suggestion}" if suggestion else ""


def _validation_snapshot(args: argparse.Namespace) -> Snapshot | None:
    """The database validate also checks against: only one named with --database-url (validate needs none)."""
    if args.database_url is None:
        return None
    target = common.target(args)
    common.require_database(target)
    return common.read_nautobot(target)


def _undeclared_queues(
    desired: DesiredState, discovery: Discovery, default_queue: str, snapshot: Snapshot | None = None
) -> tuple[list[tuple[Location, str]], set[str]]:
    """Queues the manifests pin that nothing declares (the database's only when one is given), and the
    queue names that are known."""
    known = {default_queue} | {q.name for q in desired.queues} | {n for job in discovery.jobs for n in job.task_queues}
    known |= {q.name for q in snapshot.queues} if snapshot else set()
    found = []
    for entry in desired.jobs:
        for field in ("default_job_queue", "job_queues"):
            pin = entry.pins.get(field)
            if pin is not None:
                names = pin.value if isinstance(pin.value, tuple) else (str(pin.value),)
                found += [(pin.location, name) for name in names if name not in known]
    return found, known


@dataclass(frozen=True)
class _Planned:
    plan: Plan
    desired: DesiredState
    discovery: Discovery
    target: DatabaseTarget
    revision: str | None
    saved: dict[str, Any] | None  # the saved-plan document, when asked for
    snapshot: Snapshot


def _current_plan(args: argparse.Namespace, *, save: bool = False) -> _Planned:
    desired, paths = common.manifests(args)
    discovery = common.code(args)
    target = common.target(args)
    common.require_database(target)
    revision = manifest_revision(paths)
    settings = _settings(args)
    engine = create_db_engine(target)
    try:
        # One repeatable-read transaction: the before-images saved are those the plan was made from.
        # (SQLite's read transaction is one consistent snapshot already.)
        isolation = {} if target.is_sqlite else {"isolation_level": "REPEATABLE READ"}
        with engine.connect().execution_options(**isolation) as connection, connection.begin():
            snapshot, state = read_actual(connection, desired, target.display_url)
            current = plan(desired, discovery, snapshot, settings, state)
            document = None
            if save:  # (the digest walks every value of the sources: only a saved plan needs it)
                sources = saved.sources_digest(desired, discovery)
                owned = ownership(desired, discovery, snapshot, current, settings)  # recorded when applied
                document = saved.build(connection, current, revision=revision, sources=sources, ownership=owned)
    finally:
        engine.dispose()
    return _Planned(current, desired, discovery, target, revision, document, snapshot)


def _plan(args: argparse.Namespace) -> int:
    planned = _current_plan(args, save=args.out is not None)
    current, revision = planned.plan, planned.revision
    if args.out and planned.saved is not None:
        args.out.write_text(saved.dumps(planned.saved), encoding="utf-8")
    report = readiness(args, planned.desired, planned.snapshot, current) if args.preflight else None
    if args.format == "json":
        extra = {"preflight": preflight_document(report)} if report else None
        sys.stdout.write(render_json(current, revision=revision, extra=extra))
    elif args.format == "markdown":
        sys.stdout.write(
            render_markdown(current, revision=revision, extra=(preflight_block(report),) if report else ())
        )
    elif args.quiet:  # only the closing line (and errors)
        print(closing_line(current))
    else:
        header = f"nbjobs plan against {current.database}" + (f" (manifests at {revision})" if revision else "")
        sys.stdout.write(render_text(current, style=common.style(sys.stdout), header=header + "\n"))
        if report:
            sys.stdout.write(preflight_text(report, common.style(sys.stdout)))
    if args.out and not args.quiet:
        print(f"Saved plan: {args.out} (apply it with `nbjobs apply {args.out}`)", file=sys.stderr)
    if report and args.strict and report.not_ready:
        print(f"Error: {plural(len(report.not_ready), 'queue')} not ready (--strict).", file=sys.stderr)
        return 1
    if args.detailed_exitcode and not current.is_empty:
        return 2
    return 0


def _apply(args: argparse.Namespace) -> int:
    _require_yes_for_json(args)
    if len(args.manifests) == 1 and args.manifests[0].suffix == ".json":
        return _apply_saved(args, args.manifests[0])
    planned = _current_plan(args)
    shown = planned.plan
    _show(args, shown, f"nbjobs apply against {shown.database}")
    # Even an empty plan goes through the locked transaction: it is confirmed there and recorded.
    if not shown.is_empty and not _confirmed(args, shown):
        return 1
    engine = create_db_engine(planned.target)
    try:
        settings = _settings(args)
        options = _options(args, planned.target, planned.revision)
        # A person approved exactly this plan; --yes (CI) approves whatever the manifests need once the
        # lock is held, so a pipeline that waited for another apply does the rest instead of failing.
        expected = None if args.yes else shown
        result = apply(engine, planned.desired, planned.discovery, settings, options, expected=expected)
    finally:
        engine.dispose()
    replanned = result.plan.operations != shown.operations
    if replanned and args.format == "text" and not args.quiet:
        print("The database changed before the lock was taken; this is what was applied:")
        sys.stdout.write(render_text(result.plan, style=common.style(sys.stdout)))
    _report(args, result, planned.target, planned.revision, replanned=replanned)
    return 0


def _apply_saved(args: argparse.Namespace, path: Path) -> int:
    plan_file = saved.load(path)
    target = common.target(args)
    common.require_database(target)
    engine = create_db_engine(target)
    try:
        # A plan applied already is not shown nor asked about: applying it again changes nothing. (apply_saved
        # looks again under the lock, where it counts.)
        with engine.connect() as connection:
            require_current(connection)
            earlier = applied_before(connection, plan_file)
        if earlier is None:
            header = f"nbjobs apply {path} against {target.display_url}" + (
                f" (manifests at {plan_file.revision})" if plan_file.revision else ""
            )
            _show(args, plan_file.plan, header)
            if not plan_file.plan.is_empty and not _confirmed(args, plan_file.plan):
                return 1
        result = apply_saved(engine, plan_file, _options(args, target, plan_file.revision))
    finally:
        engine.dispose()
    _report(args, result, target, plan_file.revision, plan_file=path)
    return 0


def _require_yes_for_json(args: argparse.Namespace) -> None:
    """`apply --format json` asks nothing (its standard output is the report alone), as Terraform's
    `apply -json` needs -auto-approve."""
    if args.format == "json" and not args.yes:
        raise NbjobsError("apply --format json cannot ask for confirmation: give --yes (-y) too; nothing was changed")


def _show(args: argparse.Namespace, shown: Plan, header: str) -> None:
    """The plan apply is about to carry out: in full, except with --quiet or --format json."""
    if args.format == "text" and not args.quiet:
        sys.stdout.write(render_text(shown, style=common.style(sys.stdout), header=header + "\n"))


def _settings(args: argparse.Namespace) -> PlanSettings:
    return common.plan_settings(args, allow_mass_delete=args.allow_mass_delete)


def _options(args: argparse.Namespace, target: DatabaseTarget, revision: str | None) -> ApplyOptions:
    if args.batch_size < 1:
        raise NbjobsError("--batch-size must be at least 1")
    return ApplyOptions(
        database=target.display_url,
        username=common.selected(args).user,
        revision=revision,
        lock_timeout=common.settings(args).settings.lock_timeout,
        batch_size=args.batch_size,
        progress=None if args.quiet or args.format == "json" else common.progress,
    )


def _confirmed(args: argparse.Namespace, shown: Plan) -> bool:
    if args.yes:
        return True
    if not sys.stdin.isatty():
        raise NbjobsError("refusing to apply without --yes when not run interactively; nothing was changed")
    if args.quiet:  # the plan was not shown: say at least what is being approved
        print(closing_line(shown))
    if input("Apply these changes? Only 'yes' is accepted: ").strip() == "yes":
        return True
    print("Apply cancelled; nothing was changed.")
    return False


def _report(
    args: argparse.Namespace,
    result: ApplyResult,
    target: DatabaseTarget,
    revision: str | None,
    *,
    plan_file: Path | None = None,
    replanned: bool = False,
) -> None:
    """Apply's closing line: the plan's own count (plan.summary.Summary), as the history records it; or, with
    --format json, the one document saying what was applied."""
    summary = Summary.of(result.plan)
    earlier = result.already_applied
    if args.format == "json":
        common.print_json({
            "format_version": 1,
            "outcome": result.outcome,
            "history_id": result.apply_id.hex,
            "already_applied_as": earlier.apply_id.hex if earlier else None,
            "database": target.display_url,
            "revision": revision,
            "plan_file": str(plan_file) if plan_file else None,
            "replanned": replanned,
            "summary": asdict(summary),
            "change_log_entries": result.object_changes,
            "purged": result.purged,
        })  # fmt: skip
        return
    if earlier is not None:
        by = f", as {earlier.user_name}" if earlier.user_name else ""
        when = f"{earlier.started_at:%Y-%m-%d %H:%M:%S} UTC"
        print(f"This plan was already applied as {earlier.apply_id.hex[:12]} (started {when}{by}): a saved plan "
              "applies once; nothing was changed.")  # fmt: skip
        return
    counts = summary.objects_line("created", "changed", "deleted")
    purged = f"; {plural(result.purged, 'result')} purged" if result.purged else ""
    entries = plural(result.object_changes, "entry", "entries")
    print(f"Apply complete: {counts}; {entries} in Nautobot's change log{purged}; "
          f"history id {result.apply_id.hex[:12]}.")  # fmt: skip


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
    print(f"{verb} sandbox {target.display_url}: {plural(len(report.created), 'job record')} created, "
          f"{len(report.refreshed)} refreshed, {len(report.uninstalled)} marked uninstalled, "
          f"{plural(len(report.queues_created), 'queue')} created.")  # fmt: skip
    return 0
