"""What the commands share: where manifests, job code and the database come from, and output style."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, TextIO

from reconciler.config import Loaded, Target, load_settings
from reconciler.diagnostics import NbjobsError
from reconciler.discovery.sources import discover
from reconciler.discovery.types import Discovery
from reconciler.manifest.load import load_manifests
from reconciler.manifest.types import DesiredState
from reconciler.nautobot.connect import DatabaseTarget, target_from_url
from reconciler.render.text import Style, ansi, plain

DEFAULT_MANIFESTS = Path("manifests")


def add_code_sources(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--jobs-root", type=Path, help="Nautobot's JOBS_ROOT (default NAUTOBOT_JOBS_ROOT)")
    parser.add_argument("--git-root", type=Path, help="Nautobot's GIT_ROOT (default NAUTOBOT_GIT_ROOT)")
    parser.add_argument("--app", action="append", metavar="PACKAGE",
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


def add_preflight(parser: argparse.ArgumentParser) -> None:
    """Where preflight looks: the broker Nautobot's workers use, and the Kubernetes cluster."""
    parser.add_argument("--broker-url", dest="nautobot_broker_url", metavar="URL",
                        help="the broker Nautobot's workers use (default NAUTOBOT_CELERY_BROKER_URL)")  # fmt: skip
    parser.add_argument("--kubeconfig", type=Path, metavar="FILE",
                        help="kubeconfig (default Nautobot's KUBERNETES_* service-account settings)")  # fmt: skip
    parser.add_argument("--k8s-namespace", metavar="NS", help="KUBERNETES_JOB_POD_NAMESPACE (default 'default')")
    parser.add_argument("--k8s-manifest", type=Path, metavar="FILE", help="KUBERNETES_JOB_MANIFEST, from a file")
    parser.add_argument("--job-queue-path", type=Path, metavar="DIR",
                        help="JOB_QUEUE_PATH: per-queue manifests at DIR/<queue>/manifest.json")  # fmt: skip
    parser.add_argument("--preflight-timeout", type=float, metavar="SECONDS", help="default 3")
    parser.add_argument("--strict", action="store_true", help="a queue that is not ready is an error (exit 1)")


def add_target(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--target", metavar="NAME", help="which target of the configuration's fleet (default: the only one)"
    )


# Flags that set a configuration field of the same meaning: (attribute on args, settings field).
_FLAG_FIELDS = (
    ("database_url", "database_url"), ("jobs_root", "jobs_root"), ("git_root", "git_root"), ("app", "apps"),
    ("default_queue", "default_queue"), ("username", "user"), ("repo", "repo"), ("branch", "branch"),
    ("path", "path"), ("policy", "policy"), ("prune", "prune"), ("interval", "interval"),
    ("broker_url", "broker_url"), ("metrics_port", "metrics_port"), ("lock_timeout", "lock_timeout"),
    ("cache_dir", "cache_dir"), ("nautobot_broker_url", "nautobot_broker_url"), ("kubeconfig", "kubeconfig"),
    ("k8s_namespace", "kubernetes_job_pod_namespace"), ("k8s_manifest", "kubernetes_job_manifest_file"),
    ("job_queue_path", "job_queue_path"), ("preflight_timeout", "preflight_timeout"),
)  # fmt: skip


def settings(args: argparse.Namespace) -> Loaded:
    """The one configuration object, built once per command from the flags, the environment and the file."""
    cached: Loaded | None = getattr(args, "_settings", None)
    if cached is None:
        flags: dict[str, Any] = {}
        for attribute, name in _FLAG_FIELDS:
            value = getattr(args, attribute, None)
            if value is None or value is False or value == []:  # not given (store_true only turns a setting on)
                continue
            flags[name] = tuple(value) if isinstance(value, list) else value
        cached = load_settings(flags, getattr(args, "config", None))
        args._settings = cached
    return cached


def selected(args: argparse.Namespace) -> Target:
    """The target this command works on (`--target NAME`, or the only one)."""
    return settings(args).settings.target(getattr(args, "target", None))


def default_queue(args: argparse.Namespace) -> str:
    return selected(args).default_queue


def code_roots(target: Target) -> tuple[Path | None, Path | None]:
    """JOBS_ROOT and GIT_ROOT: the configured ones, else Nautobot's defaults under NAUTOBOT_ROOT when they exist."""
    nautobot_root = Path(os.environ.get("NAUTOBOT_ROOT", Path.home() / ".nautobot"))
    jobs_root = target.jobs_root or _existing(nautobot_root / "jobs")
    git_root = target.git_root or _existing(nautobot_root / "git")
    return jobs_root, git_root


def code(args: argparse.Namespace) -> Discovery:
    """Job code from the configuration (flags, NAUTOBOT_JOBS_ROOT/GIT_ROOT, the file), else Nautobot's defaults."""
    target = selected(args)
    for given, flag in ((target.jobs_root, "jobs root"), (target.git_root, "git root")):
        if given is not None and not given.is_dir():
            raise NbjobsError(f"{flag} {given}: no such directory")
    jobs_root, git_root = code_roots(target)
    return discover(jobs_root=jobs_root, git_root=git_root, apps=list(target.apps), default_queue=target.default_queue)


def _existing(path: Path) -> Path | None:
    return path if path.is_dir() else None


def manifests(args: argparse.Namespace) -> tuple[DesiredState, list[Path]]:
    paths: list[Path] = args.manifests or [DEFAULT_MANIFESTS]
    if not args.manifests and not DEFAULT_MANIFESTS.exists():
        raise NbjobsError("no manifests given and no manifests/ directory here; name manifest files or directories")
    return load_manifests(paths), paths


def target(args: argparse.Namespace) -> DatabaseTarget:
    loaded = settings(args)
    return target_from_url(selected(args).database_url, loaded.origins["database_url"], Path.cwd())


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
