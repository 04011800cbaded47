"""`nbjobs preflight`: is anything there to run the jobs the desired state routes, queue by queue."""

from __future__ import annotations

import argparse
import json
import sys

from reconciler.apply import read_actual
from reconciler.cli import catalog, common
from reconciler.config import mask_url
from reconciler.diagnostics import plural
from reconciler.manifest.types import DesiredState
from reconciler.nautobot.connect import create_db_engine
from reconciler.nautobot.records import Snapshot
from reconciler.plan.operations import Plan
from reconciler.plan.planner import plan
from reconciler.plan.queues import queue_uses
from reconciler.preflight.check import run_preflight
from reconciler.preflight.types import PreflightReport
from reconciler.render.markdown import Comment, compose
from reconciler.render.preflight import preflight_block, preflight_document, preflight_text


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    preflight = catalog.add(commands, "preflight")
    common.add_sources(preflight)
    common.add_preflight(preflight)
    preflight.add_argument("--format", choices=("text", "json", "markdown"), default="text")
    preflight.set_defaults(handler=_preflight)


def readiness(args: argparse.Namespace, desired: DesiredState, snapshot: Snapshot, current: Plan) -> PreflightReport:
    settings = common.settings(args).settings
    broker = settings.inspected_broker
    return run_preflight(queue_uses(desired, snapshot, current), broker, settings.kubernetes(),
                         broker_display=mask_url(broker) if broker else None,
                         timeout=settings.preflight_timeout)  # fmt: skip


def _preflight(args: argparse.Namespace) -> int:
    desired, _ = common.manifests(args)
    discovery = common.code(args)
    target = common.target(args)
    common.require_database(target)
    engine = create_db_engine(target)
    try:
        with engine.connect() as connection, connection.begin():
            snapshot, state = read_actual(connection, desired, target.display_url)
    finally:
        engine.dispose()
    current = plan(desired, discovery, snapshot, common.plan_settings(args), state)
    report = readiness(args, desired, snapshot, current)
    if args.format == "json":
        print(json.dumps(preflight_document(report), indent=2))
    elif args.format == "markdown":
        sys.stdout.write(
            compose(Comment(("### nbjobs preflight",), (preflight_block(report),), marker="<!-- nbjobs:preflight -->"))
            + "\n"
        )
    else:
        sys.stdout.write(preflight_text(report, common.style(sys.stdout)).lstrip("\n"))
    if report.not_ready:
        severity = "error" if args.strict else "warning"
        print(f"{severity}: {plural(len(report.not_ready), 'queue')} not ready", file=sys.stderr)
        return 1 if args.strict else 0
    return 0
