"""The reconcile loop's commands: config, loop, reconcile, status."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from reconciler.cli import catalog, common
from reconciler.config import LOOP_QUEUE, Policy, describe
from reconciler.diagnostics import NbjobsError


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    config = catalog.add(commands, "config")
    _add_loop_options(config)
    config.add_argument("--format", choices=("text", "json"), default="text")
    config.set_defaults(handler=_config)

    loop = catalog.add(commands, "loop")
    _add_loop_options(loop)
    loop.add_argument("--concurrency", type=int, default=1, metavar="N", help="worker processes (default 1)")
    loop.add_argument("--loglevel", default="INFO", help="Celery's log level (default INFO)")
    loop.set_defaults(handler=_loop)

    reconcile = catalog.add(commands, "reconcile")
    _add_loop_options(reconcile)
    reconcile.add_argument("--format", choices=("text", "json"), default="text")
    reconcile.set_defaults(handler=_reconcile)

    status = catalog.add(commands, "status")
    common.add_database(status)
    common.add_target(status)
    status.add_argument("--format", choices=("text", "json"), default="text")
    status.set_defaults(handler=_status)


def _add_loop_options(parser: argparse.ArgumentParser) -> None:
    common.add_code_sources(parser)
    common.add_database(parser)
    common.add_target(parser)
    parser.add_argument("--repo", metavar="URL", help="git remote of the manifests (default NBJOBS_REPO)")
    parser.add_argument("--branch", help="branch of the manifests repository (default main)")
    parser.add_argument("--path", help="manifests directory inside the repository (default manifests)")
    parser.add_argument("--interval", type=float, metavar="SECONDS", help="seconds between ticks (default 300)")
    parser.add_argument("--policy", choices=[p.value for p in Policy], help="detect (default) or heal")
    parser.add_argument("--prune", action="store_true", default=None,
                        help="heal also deletes and purges (retirement steps 4-5)")  # fmt: skip
    parser.add_argument("--broker-url", help="the loop's Celery broker (default NBJOBS_BROKER_URL, "
                        "then NAUTOBOT_CELERY_BROKER_URL)")  # fmt: skip
    parser.add_argument("--metrics-port", type=int, metavar="PORT", help="serve Prometheus metrics on PORT")
    parser.add_argument("--cache-dir", type=Path, metavar="DIR", help="where the git cache clones live")
    parser.add_argument("--as", dest="username", metavar="USERNAME",
                        help="Nautobot user recorded in the change log (default NBJOBS_USER)")  # fmt: skip


def _config(args: argparse.Namespace) -> int:
    loaded = common.settings(args)
    rows = describe(loaded)
    if args.format == "json":
        print(json.dumps({"file": str(loaded.file) if loaded.file else None,
                          "settings": {name: {"value": value, "origin": origin} for name, value, origin in rows}},
                         indent=2))  # fmt: skip
        return 0
    print(f"Settings file: {loaded.file or 'none'}")
    width = max(len(name) for name, _, _ in rows)
    for name, value, origin in rows:
        print(f"  {name:<{width}}  {value}  ({origin})")
    return 0


def _loop(args: argparse.Namespace) -> int:
    from reconciler.loop.app import make_app

    settings = common.settings(args).settings
    app = make_app(settings)
    targets = ", ".join(t.name for t in settings.resolved_targets())
    print(f"nbjobs loop: targets {targets}; every {settings.interval:g}s (+ up to {settings.jitter:g}s jitter); "
          f"queue {LOOP_QUEUE}", file=sys.stderr)  # fmt: skip
    argv = ["worker", "--beat", "--queues", LOOP_QUEUE, "--concurrency", str(args.concurrency),
            "--loglevel", args.loglevel, "--schedule", str(settings.cache_dir / "beat-schedule")]  # fmt: skip
    settings.cache_dir.mkdir(parents=True, exist_ok=True)
    app.worker_main(argv)
    return 0


def _reconcile(args: argparse.Namespace) -> int:
    from reconciler.loop.lock import LockUnavailableError, TickLockedError, tick_lock
    from reconciler.loop.status import exit_code
    from reconciler.loop.tick import TransientTickError, dispose_engines, run_tick

    settings = common.settings(args).settings
    target = common.selected(args)
    try:
        with tick_lock(settings.loop_broker if settings.broker_url else None, target.name, settings.lock_ttl) as lease:
            outcome = run_tick(settings, target, interrupted=lease.interrupted if lease else None)
    except TickLockedError as exc:
        print(str(exc), file=sys.stderr)  # another worker is doing this very work: not a failure
        return 0
    except (TransientTickError, LockUnavailableError) as exc:
        raise NbjobsError(f"{exc} (transient: the loop would retry)") from None
    finally:
        dispose_engines()
    if args.format == "json":
        data: dict[str, Any] = asdict(outcome)
        data["apply_id"] = outcome.apply_id.hex if outcome.apply_id else None
        data["run_id"] = outcome.run_id.hex if outcome.run_id else None
        print(json.dumps(data, indent=2, default=str))
    else:
        print(f"{outcome.target}: {outcome.state} ({outcome.action}) at {(outcome.revision or '-')[:12]}: "
              f"{outcome.message}")  # fmt: skip
        for error in outcome.errors:
            where = f"{error['location']}: " if error.get("location") else ""
            print(f"  {where}{error['message']}", file=sys.stderr)
    return exit_code(outcome.state, outcome.observed)


def _status(args: argparse.Namespace) -> int:
    from reconciler.loop.status import read_status, render_text
    from reconciler.loop.tick import dispose_engines, engine_for
    from reconciler.nautobot.connect import target_from_url
    from reconciler.state.migrate import require_current

    settings = common.settings(args).settings
    targets = [common.selected(args)] if getattr(args, "target", None) else list(settings.resolved_targets())
    statuses = []
    try:
        for target in targets:
            engine = engine_for(target)
            common.require_database(target_from_url(target.database_url, f"target {target.name}", Path.cwd()), engine)
            with engine.connect() as connection:
                require_current(connection)
                statuses += read_status(connection, settings, [target])
    finally:
        dispose_engines()
    if args.format == "json":
        documents = [s.as_json() for s in statuses]
        print(json.dumps(documents[0] if len(documents) == 1 else documents, indent=2, default=str))
    else:
        sys.stdout.write(render_text(statuses))
    return max(s.exit_code for s in statuses)
