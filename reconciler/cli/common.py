"""What the commands share: where manifests, job code and the database come from, and output style."""

from __future__ import annotations

import argparse
import atexit
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import Engine

from reconciler.cli.colour import colour_off
from reconciler.config import Loaded, Target, load_settings
from reconciler.diagnostics import Diagnostic, InputError, Location, NbjobsError, plural
from reconciler.discovery.sources import discover
from reconciler.discovery.types import Discovery
from reconciler.manifest.limits import ManifestLimits
from reconciler.manifest.load import load_manifests
from reconciler.manifest.types import DesiredState
from reconciler.nautobot.connect import DatabaseTarget, create_db_engine, target_from_url
from reconciler.nautobot.identity import Identity, require_nautobot
from reconciler.nautobot.records import Snapshot
from reconciler.nautobot.snapshot import read_snapshot
from reconciler.plan.planner import PlanSettings
from reconciler.render.text import Style, ansi, plain

DEFAULT_MANIFESTS = Path("manifests")


def add_code_sources(parser: argparse.ArgumentParser, *, no_code: bool = False) -> None:
    """Where the job code is; `no_code` adds `--no-code`, and with it the gate of `code()`: a command that
    finds no job code, or none holding a job class, fails unless told `--no-code`."""
    parser.add_argument("--jobs-root", type=Path, help="Nautobot's JOBS_ROOT (default NAUTOBOT_JOBS_ROOT)")
    parser.add_argument("--git-root", type=Path, help="Nautobot's GIT_ROOT (default NAUTOBOT_GIT_ROOT)")
    parser.add_argument("--app", action="append", metavar="PACKAGE",
                        help="an App package providing jobs (name or path; repeatable; never imported)")  # fmt: skip
    parser.add_argument(
        "--default-queue", help="CELERY_TASK_DEFAULT_QUEUE (default NAUTOBOT_CELERY_TASK_DEFAULT_QUEUE)"
    )
    if no_code:
        parser.add_argument("--no-code", action="store_true",
                            help="work without job code on purpose (otherwise finding none is an error)")  # fmt: skip


def add_database(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url", help="SQLAlchemy URL (default NBJOBS_DATABASE_URL, NAUTOBOT_DB_*, ./nbjobs.db)"
    )


def add_sources(parser: argparse.ArgumentParser, *, database: bool = True) -> None:
    parser.add_argument("manifests", nargs="*", type=Path, help="manifest files or directories (default manifests/)")
    add_code_sources(parser, no_code=True)
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


def add_yes(parser: argparse.ArgumentParser, what: str) -> None:
    """`-y/--yes`: go ahead without asking (apply), or do what is otherwise only counted or refused."""
    parser.add_argument("-y", "--yes", action="store_true", help=what)


def add_quiet(parser: argparse.ArgumentParser) -> None:
    """`-q/--quiet`: no plan, progress, notes nor warnings; only errors and the closing summary line."""
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="print only errors and the closing summary line")  # fmt: skip


def add_format(parser: argparse.ArgumentParser, *more: str) -> None:
    """`--format text|json[|...]`: json is one document on standard output, with the same keys every time,
    and nothing else there."""
    parser.add_argument("--format", choices=("text", "json", *more), default="text",
                        help="text (default), or json: one document on stdout, nothing else there")  # fmt: skip


def print_json(document: object) -> None:
    """A command's JSON report: the one document it writes to standard output."""
    sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")


def diagnostic_document(diagnostic: Diagnostic) -> dict[str, object]:
    """A problem in a JSON report: where (as printed, and in parts: 0 is unknown), what, and how bad."""
    where = diagnostic.location
    located = {"location": str(where), "file": where.file, "line": where.line, "column": where.column}
    if not where.file:  # a problem of no file (no job code found, say)
        located = dict.fromkeys(located)
    return {**located, "message": diagnostic.message, "severity": str(diagnostic.severity)}


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


def plan_settings(args: argparse.Namespace, *, allow_mass_delete: bool = False) -> PlanSettings:
    """What every command that plans tells the planner: the default queue and the mass-delete guard."""
    return PlanSettings(default_queue(args), allow_mass_delete=allow_mass_delete,
                        mass_delete_min_managed=settings(args).settings.mass_delete_min_managed)  # fmt: skip


def code_roots(target: Target) -> tuple[Path | None, Path | None]:
    """JOBS_ROOT and GIT_ROOT: the configured ones, else Nautobot's defaults under NAUTOBOT_ROOT when they exist."""
    nautobot_root = _nautobot_root()
    jobs_root = target.jobs_root or _existing(nautobot_root / "jobs")
    git_root = target.git_root or _existing(nautobot_root / "git")
    return jobs_root, git_root


def code(args: argparse.Namespace) -> Discovery:
    """Job code from the configuration (flags, NAUTOBOT_JOBS_ROOT/GIT_ROOT, the file), else Nautobot's defaults.

    Commands with `--no-code` (see add_code_sources) fail when there is no code source, or when the
    sources hold no job class: a gate that passes because it read nothing would pass by accident."""
    target = selected(args)
    if without_code(args):
        return Discovery(())
    for given, flag in ((target.jobs_root, "jobs root"), (target.git_root, "git root")):
        if given is not None and not given.is_dir():
            raise NbjobsError(f"{flag} {given}: no such directory")
    jobs_root, git_root = code_roots(target)
    gated = hasattr(args, "no_code")
    if gated:
        require_code_source(args)
    discovery = discover(
        jobs_root=jobs_root, git_root=git_root, apps=list(target.apps), default_queue=target.default_queue
    )
    if gated:
        require_job_classes(args, discovery)
    return discovery


def without_code(args: argparse.Namespace) -> bool:
    """`--no-code`: read no job code on purpose (a code flag given beside it is a contradiction)."""
    if not getattr(args, "no_code", False):
        return False
    given = [flag for attribute, flag in _CODE_FLAGS if getattr(args, attribute, None)]
    if given:
        were = "was" if len(given) == 1 else "were"
        raise NbjobsError(
            f"--no-code reads no job code, but {' and '.join(given)} {were} given too: drop one or the other"
        )
    return True


def require_job_classes(args: argparse.Namespace, discovery: Discovery, at: str = "") -> None:
    """Code sources that hold no job class are an error, with the problems that may explain why."""
    if discovery.jobs:
        return
    read, _ = _code_sources(args)
    where = Location(read[0][0]) if read else Location("<job code>")
    sources = "; ".join(text for _, text in read)
    problem = (f"no job class found in the job code read{at} ({sources}): Nautobot records only classes passed to "
               "register_jobs(...); name the job code, or pass --no-code to work without it on purpose")  # fmt: skip
    raise InputError([*discovery.problems, Diagnostic(where, problem)])


def require_code_source(args: argparse.Namespace) -> None:
    """No code source at all (no flag, variable, setting, nor Nautobot's default directories) is an error."""
    read, looked_for = _code_sources(args)
    if not read:
        raise NbjobsError("no job code to read: looked for\n"
                          + "".join(f"  {line}\n" for line in looked_for)
                          + "Name the job code (--jobs-root DIR, --git-root DIR or --app PACKAGE), or pass --no-code "
                          "to work without it on purpose.")  # fmt: skip


_CODE_FLAGS = (("jobs_root", "--jobs-root"), ("git_root", "--git-root"), ("app", "--app"))


def _code_sources(args: argparse.Namespace) -> tuple[list[tuple[str, str]], list[str]]:
    """The code sources read, (path or package, what it is and where it was named), and where the missing
    ones were looked for."""
    loaded, target = settings(args), selected(args)
    jobs_root, git_root = code_roots(target)
    nautobot_root = _nautobot_root()
    in_file = f", {loaded.file}" if loaded.file else ""
    default_origin = "Nautobot's default under NAUTOBOT_ROOT"
    read: list[tuple[str, str]] = []
    looked_for: list[str] = []
    for name, label, value, variables, default in (
        ("jobs_root", "JOBS_ROOT", jobs_root, "NBJOBS_JOBS_ROOT, NAUTOBOT_JOBS_ROOT", nautobot_root / "jobs"),
        ("git_root", "GIT_ROOT", git_root, "NBJOBS_GIT_ROOT, NAUTOBOT_GIT_ROOT", nautobot_root / "git"),
    ):
        flag = "--" + name.replace("_", "-")
        if value is not None:
            read.append((str(value), f"{label} {value} (from {_origin(loaded, target, name, flag) or default_origin})"))
        else:
            looked_for.append(f"{label}: not in {flag}, {variables}{in_file}; {default} does not exist")
    if target.apps:
        read.append(
            (
                target.apps[0],
                f"{'App' if len(target.apps) == 1 else 'Apps'} {', '.join(target.apps)} "
                f"(from {_origin(loaded, target, 'apps', '--app')})",
            )
        )
    else:
        looked_for.append(f"Apps: not in --app, NBJOBS_APPS{in_file}")
    return read, looked_for


def _origin(loaded: Loaded, target: Target, name: str, flag: str) -> str | None:
    """Where a code setting's value came from, as the user named it; None when nothing named it."""
    origin = loaded.origins[name]
    top = getattr(loaded.settings, name)
    if getattr(target, name) != top:
        return f"target {target.name!r} in {loaded.file}"
    names = {"flag": flag, "env NBJOBS_*": f"NBJOBS_{name.upper()}", "env NAUTOBOT_*": f"NAUTOBOT_{name.upper()}"}
    if origin == "default":
        return None
    return names.get(origin, f"{name} in {origin.removeprefix('file ')}")


def _nautobot_root() -> Path:
    return Path(os.environ.get("NAUTOBOT_ROOT", Path.home() / ".nautobot"))


def _existing(path: Path) -> Path | None:
    return path if path.is_dir() else None


def manifests(args: argparse.Namespace) -> tuple[DesiredState, list[Path]]:
    paths: list[Path] = args.manifests or [DEFAULT_MANIFESTS]
    if not args.manifests and not DEFAULT_MANIFESTS.exists():
        raise NbjobsError("no manifests given and no manifests/ directory here; name manifest files or directories")
    return load_manifests(paths, manifest_limits(args)), paths


def manifest_limits(args: argparse.Namespace) -> ManifestLimits:
    """What the manifests may hold (the manifest_max_* settings)."""
    return settings(args).settings.manifest_limits()


def target(args: argparse.Namespace) -> DatabaseTarget:
    loaded = settings(args)
    return target_from_url(selected(args).database_url, loaded.origins["database_url"], Path.cwd())


def read_nautobot(target: DatabaseTarget) -> Snapshot:
    """Nautobot's rows (the planner's snapshot) from `target`, on a short-lived engine."""
    engine = create_db_engine(target)
    try:
        with engine.connect() as connection:
            return read_snapshot(connection, target.display_url)
    finally:
        engine.dispose()


def require_database(database: DatabaseTarget, engine: Engine | None = None) -> Identity:
    """The database a command reads Nautobot's tables from must exist and be Nautobot's (or the sandbox):
    otherwise one sentence says what it is instead. A Nautobot whose migration level nbjobs does not know
    is a warning here (apply refuses it). Two queries, on `engine` or a short-lived one of its own."""
    if database.is_sqlite and database.url.database and not Path(database.url.database).exists():
        raise NbjobsError(f"no database at {database.display_url}: run `nbjobs sandbox` or give --database-url")
    own = engine is None
    engine = create_db_engine(database) if engine is None else engine
    try:
        with engine.connect() as connection:
            identity = require_nautobot(connection, database.display_url)
    finally:
        if own:
            engine.dispose()
    if identity.level_problem:
        print(f"warning: {identity.level_problem}: what nbjobs reads there may be wrong, and apply refuses to "
              "write to it", file=sys.stderr)  # fmt: skip
    return identity


def style(stream: TextIO) -> Style:
    return ansi if stream.isatty() and not colour_off() else plain


class ProgressReporter:
    """Progress of long work (the purges of apply and purge-orphans), on standard error, called after each
    batch as (what, done, total): a rich progress bar on a terminal; elsewhere (CI logs, files) one line at
    most every `interval` seconds or `step` percent, and the last one. Both say the rate and the time left.
    `console` (a rich Console) forces the bar; `clock` is for tests."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        console: Any = None,
        clock: Callable[[], float] = time.monotonic,
        interval: float = 5.0,
        step: float = 10.0,
    ) -> None:
        self._stream, self._console, self._clock = stream, console, clock
        self.interval, self.step = interval, step
        self._runs: dict[str, _Run] = {}

    def __call__(self, what: str, done: int, total: int) -> None:
        now = self._clock()
        run = self._runs.get(what)
        if run is None or done < run.done:  # the first batch of this work (the clock starts once it is done)
            run = self._runs[what] = _Run(started=now, first=done, done=done)
        run.done = done
        elapsed = now - run.started
        rate = (done - run.first) / elapsed if elapsed > 0 and done > run.first else None
        finished = done >= total
        stream = self._stream or sys.stderr
        if self._console is not None or stream.isatty():
            self._bar(run, what, done, total, rate, stream)
        elif finished or now - run.printed >= self.interval or _percent(done, total) - run.percent >= self.step:
            run.printed, run.percent = now, _percent(done, total)
            print(progress_line(what, done, total, rate, elapsed if finished else None), file=stream, flush=True)
        if finished:
            if run.bar is not None:
                run.bar.stop()
                atexit.unregister(run.bar.stop)
            del self._runs[what]

    def _bar(self, run: _Run, what: str, done: int, total: int, rate: float | None, stream: TextIO) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn

        if run.bar is None:
            console = self._console or Console(file=stream, no_color=colour_off() or None)
            run.bar = Progress(TextColumn("  purging {task.description}"), BarColumn(), MofNCompleteColumn(),
                               TaskProgressColumn(), TextColumn("{task.fields[rate]}"), console=console,
                               auto_refresh=False, redirect_stdout=False, redirect_stderr=False)  # fmt: skip
            run.task = run.bar.add_task(what, total=total, rate="")
            run.bar.start()
            atexit.register(run.bar.stop)  # an error midway leaves no hidden cursor behind
        left = f", {_duration((total - done) / rate)} left" if rate and done < total else ""
        speed = f"{rate:,.0f} results/s{left}" if rate else ""
        run.bar.update(run.task, completed=done, total=total, rate=speed, refresh=True)


@dataclass
class _Run:
    """One piece of work being reported: when and where it started, and what was last shown."""

    started: float
    first: int  # done at the first call: the rate counts what was done after it
    done: int
    printed: float = float("-inf")
    percent: float = 0.0
    bar: Any = None  # a rich Progress, on a terminal
    task: Any = None


def progress_line(what: str, done: int, total: int, rate: float | None, took: float | None = None) -> str:
    """`  purging orphans: 40,000/100,000 results (40%), 2,500 results/s, about 24s left`."""
    line = f"  purging {what}: {done:,}/{plural(total, 'result', thousands=True)} ({_percent(done, total):.0f}%)"
    if rate:
        line += f", {rate:,.0f} results/s"
        line += f", about {_duration((total - done) / rate)} left" if done < total else ""
    return line + (f", done in {_duration(took)}" if took is not None and done >= total else "")


def _percent(done: int, total: int) -> float:
    return 100.0 * done / total if total > 0 else 100.0


def _duration(seconds: float) -> str:
    """`45s`, `3m05s`, `1h02m`."""
    whole = max(0, round(seconds))
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


progress = ProgressReporter()
