"""Commands for pull requests and for adoption: `diff` (what a change does) and `export` (manifests from an
existing Nautobot)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from reconciler.cli import catalog, common
from reconciler.diagnostics import NbjobsError, plural
from reconciler.export import ExportOptions, export_manifests, verify
from reconciler.nautobot.records import Snapshot
from reconciler.review.compare import compare, review
from reconciler.review.render import render_diff_json, render_diff_markdown, render_diff_text
from reconciler.review.revisions import Sources

_SANDBOX_DEFAULT = "sandbox default"  # DatabaseTarget.origin when nothing names a database


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    diff = catalog.add(
        commands,
        "diff",
        description="Compare the manifests and job code of --base with those of --head (default: the working "
        "tree), read from git without checking anything out. With a database, also plan the head there.",
    )
    common.add_sources(diff)
    diff.add_argument("--base", required=True, metavar="REV", help="the revision to compare with (e.g. origin/main)")
    diff.add_argument("--head", metavar="REV", help="the revision to review (default: the working tree)")
    diff.add_argument("--merge-base", action="store_true",
                      help="compare with the merge base of --base and the head, as a pull request does")  # fmt: skip
    diff.add_argument("--no-database", action="store_true", help="do not plan the head against a database")
    diff.add_argument("--format", choices=("text", "json", "markdown"), default="text", help="default text")
    diff.add_argument("--detailed-exitcode", action="store_true", help="exit 0 no changes, 1 error, 2 changes")
    diff.set_defaults(handler=_diff)

    export = catalog.add(
        commands,
        "export",
        description="Write manifests that pin what the database holds for the selected jobs (enabled, every "
        "overridden field, overridden queues) and the queues they use; a plan right after shows no changes.",
    )
    common.add_code_sources(export, no_code=True)
    common.add_database(export)
    export.add_argument("--match", action="append", metavar="GLOB",
                        help="class paths to export (module.Class globs; repeatable; default all)")  # fmt: skip
    export.add_argument("--out", type=Path, metavar="DIR",
                        help="write queues.yaml and jobs/<module>.yaml under DIR (default: stdout)")  # fmt: skip
    common.add_yes(export, "overwrite files that exist under --out")
    export.add_argument("--force", dest="yes", action="store_true", help=argparse.SUPPRESS)  # the older spelling
    export.add_argument("--include-system", action="store_true", help="also export Nautobot's own nautobot.* jobs")
    common.add_format(export)
    common.add_quiet(export)
    export.set_defaults(handler=_export)


# -- diff ------------------------------------------------------------------------------------------------


def _diff(args: argparse.Namespace) -> int:
    sources = _sources(args)
    comparison = compare(sources, args.base, args.head, merge_base=args.merge_base)
    if not args.no_code:
        common.require_job_classes(args, comparison.head.discovery, at=f" at the head ({comparison.head.side.label})")
    snapshot = None if args.no_database else _snapshot_if_any(args)
    result = review(comparison, snapshot, common.plan_settings(args))
    if args.format == "json":
        sys.stdout.write(render_diff_json(result))
    elif args.format == "markdown":
        sys.stdout.write(render_diff_markdown(result))
    else:
        sys.stdout.write(render_diff_text(result, style=common.style(sys.stdout)))
    if result.plan_errors:
        print(f"Error: the head cannot be planned: {plural(len(result.plan_errors), 'problem')}.", file=sys.stderr)
        return 1
    if args.detailed_exitcode and not result.is_empty:
        return 2
    return 0


def _sources(args: argparse.Namespace) -> Sources:
    """The manifest and code paths, resolved as `plan` resolves them (flags, then Nautobot's settings)."""
    manifests: list[Path] = args.manifests or [common.DEFAULT_MANIFESTS]
    target = common.selected(args)
    if common.without_code(args):
        return Sources(tuple(manifests), default_queue=target.default_queue, limits=common.manifest_limits(args))
    common.require_code_source(args)
    jobs_root, git_root = common.code_roots(target)
    return Sources(tuple(manifests), jobs_root, git_root, target.apps, target.default_queue,
                   common.manifest_limits(args))  # fmt: skip


def _snapshot_if_any(args: argparse.Namespace) -> Snapshot | None:
    """The database named by --database-url, NBJOBS_DATABASE_URL or NAUTOBOT_DB_*; the sandbox only when
    it exists (a diff without a database still shows the change)."""
    target = common.target(args)
    if target.origin == _SANDBOX_DEFAULT and target.url.database and not Path(target.url.database).exists():
        return None
    common.require_database(target)
    return common.read_nautobot(target)


# -- export ----------------------------------------------------------------------------------------------


def _export(args: argparse.Namespace) -> int:
    """The manifests to stdout, or under --out; with --format json, instead, one document listing the files
    written (with --out) or that --out would write, with their text."""
    as_json = args.format == "json"
    discovery = common.code(args)
    if not (args.quiet or as_json):
        for problem in discovery.problems:
            print(problem, file=sys.stderr)
    target = common.target(args)
    common.require_database(target)
    snapshot = common.read_nautobot(target)
    settings = common.plan_settings(args)
    options = ExportOptions(match=tuple(args.match or ("*",)), include_system=args.include_system,
                            split=args.out is not None or as_json)  # fmt: skip
    exported = export_manifests(snapshot, discovery, options, settings)
    verify(exported, snapshot, discovery, settings, common.manifest_limits(args))
    if not (args.quiet or as_json):
        for note in exported.notes:
            print(f"note: {note}", file=sys.stderr)
    targets = [(file.path if args.out is None else str(args.out / file.path), file.text) for file in exported.files]
    if args.out is not None:
        existing = [path for path, _ in targets if Path(path).exists()]
        if existing and not args.yes:
            files = plural(len(existing), "existing file")
            raise NbjobsError(f"refusing to overwrite {files} ({', '.join(existing)}): choose another --out, or "
                              "give --yes (-y)")  # fmt: skip
        for path, text in targets:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(text, encoding="utf-8")
    if as_json:
        common.print_json({
            "format_version": 1,
            "out": str(args.out) if args.out is not None else None,
            "jobs": exported.jobs,
            "queues": exported.queues,
            "files": [{"path": path, "written": args.out is not None, "text": text} for path, text in targets],
            "notes": list(exported.notes),
            "warnings": [common.diagnostic_document(d) for d in discovery.problems],
        })  # fmt: skip
        return 0
    if args.out is None:
        sys.stdout.write(exported.files[0].text)
    where = "" if args.out is None else f" into {plural(len(exported.files), 'file')} under {args.out}"
    print(f"Exported {plural(exported.jobs, 'job')} and {plural(exported.queues, 'queue')}{where}; a plan of them "
          "shows no changes.", file=sys.stderr)  # fmt: skip
    return 0
