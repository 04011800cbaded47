"""What the commands share: where manifests, job code and the database come from, and output style."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TextIO

from reconciler.diagnostics import NbjobsError
from reconciler.discovery.sources import discover
from reconciler.discovery.types import Discovery
from reconciler.fields import DEFAULT_QUEUE_NAME
from reconciler.manifest.load import load_manifests
from reconciler.manifest.types import DesiredState
from reconciler.nautobot.connect import DatabaseTarget, resolve_target
from reconciler.render.text import Style, ansi, plain

DEFAULT_MANIFESTS = Path("manifests")


def add_code_sources(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--jobs-root", type=Path, help="Nautobot's JOBS_ROOT (default NAUTOBOT_JOBS_ROOT)")
    parser.add_argument("--git-root", type=Path, help="Nautobot's GIT_ROOT (default NAUTOBOT_GIT_ROOT)")
    parser.add_argument("--app", action="append", default=[], metavar="PACKAGE",
                        help="an App package providing jobs (name or path; repeatable; never imported)")  # fmt: skip
    parser.add_argument(
        "--default-queue", help="CELERY_TASK_DEFAULT_QUEUE (default NAUTOBOT_CELERY_TASK_DEFAULT_QUEUE)"
    )


def add_database(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url", help="SQLAlchemy URL (default NBJOBS_DATABASE_URL, NAUTOBOT_DB_*, ./nbjobs.db)"
    )


def add_sources(parser: argparse.ArgumentParser, *, database: bool = True) -> None:
    parser.add_argument("manifests", nargs="*", type=Path, help="manifest files or directories (default manifests/)")
    add_code_sources(parser)
    if database:
        add_database(parser)


def default_queue(args: argparse.Namespace) -> str:
    return str(args.default_queue or os.environ.get("NAUTOBOT_CELERY_TASK_DEFAULT_QUEUE") or DEFAULT_QUEUE_NAME)


def code(args: argparse.Namespace) -> Discovery:
    """Job code from the flags, else Nautobot's own settings (JOBS_ROOT, GIT_ROOT under NAUTOBOT_ROOT)."""
    nautobot_root = Path(os.environ.get("NAUTOBOT_ROOT", Path.home() / ".nautobot"))
    jobs_root = args.jobs_root or _env_path("NAUTOBOT_JOBS_ROOT") or _existing(nautobot_root / "jobs")
    git_root = args.git_root or _env_path("NAUTOBOT_GIT_ROOT") or _existing(nautobot_root / "git")
    for given, flag in ((args.jobs_root, "--jobs-root"), (args.git_root, "--git-root")):
        if given is not None and not given.is_dir():
            raise NbjobsError(f"{flag} {given}: no such directory")
    return discover(jobs_root=jobs_root, git_root=git_root, apps=args.app, default_queue=default_queue(args))


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value) if value else None


def _existing(path: Path) -> Path | None:
    return path if path.is_dir() else None


def manifests(args: argparse.Namespace) -> tuple[DesiredState, list[Path]]:
    paths: list[Path] = args.manifests or [DEFAULT_MANIFESTS]
    if not args.manifests and not DEFAULT_MANIFESTS.exists():
        raise NbjobsError("no manifests given and no manifests/ directory here; name manifest files or directories")
    return load_manifests(paths), paths


def target(args: argparse.Namespace) -> DatabaseTarget:
    return resolve_target(args.database_url, os.environ, Path.cwd())


def require_database(database: DatabaseTarget) -> None:
    if database.is_sqlite and database.url.database and not Path(database.url.database).exists():
        raise NbjobsError(f"no database at {database.display_url}: run `nbjobs sandbox` or give --database-url")


def style(stream: TextIO) -> Style:
    return ansi if stream.isatty() and not os.environ.get("NO_COLOR") else plain


def progress(what: str, done: int, total: int) -> None:
    """Progress of long work, on standard error (one line updated in place on a terminal)."""
    line = f"  purging {what}: {done}/{total} result(s)"
    if sys.stderr.isatty():
        print(f"\r{line}", end="" if done < total else "\n", file=sys.stderr, flush=True)
    elif done == total or done % 50_000 < 1000:
        print(line, file=sys.stderr, flush=True)
