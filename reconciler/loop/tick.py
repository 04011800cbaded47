"""One tick of the reconcile loop for one target: fetch, fingerprint, plan, act by policy, record.

The tick is the same pipeline as `nbjobs plan` and `nbjobs apply` (snapshot -> plan -> apply, with the
apply lock, the change log, the history and the mass-delete guard); what it adds is deciding when there
is nothing to do and what the policy allows:

- **Idle.** When the remote's head, the fingerprint of Nautobot's job, queue and assignment rows and
  the fingerprint of the job code all equal the last run's, and that run needs no action under the
  current policy (DESIGN.md: in sync; or detect then and now; or a permanent error, which waits for a
  new revision or new code), the tick issues three statements (fingerprint, last run, heartbeat) and
  one `git ls-remote`, and returns.
- **detect** records the drift and changes nothing; **heal** applies the plan except deletions and
  purges, which wait as pending unless `prune`; **suspend** acts on nothing and keeps reporting; sync
  windows deny applies outside allowed hours.
- **Errors.** Invalid manifests on the branch, or a plan the guards refuse, are permanent: recorded once
  with their locations, not retried until the revision or the code changes. Unreachable databases and
  remotes are transient: recorded when the database answers, and raised as TransientTickError so the
  Celery task retries with backoff.
- **A tick that died.** When the tick lock says the tick before this one never finished (its worker was
  killed mid-tick; loop/lock.py), this tick does not take the idle shortcut, and its run's message says
  so. Whatever the dead tick had written was in a transaction the database rolled back: nothing of it
  was applied, and this tick applies it once.

Every message a run records has its URL passwords masked (config.mask_url).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from reconciler.apply import ApplyFailedError, ApplyOptions, LockHeldError, apply, read_actual, utc_now
from reconciler.audit.gather import run_audit
from reconciler.audit.render import audit_document
from reconciler.audit.types import AuditSettings
from reconciler.config import Policy, Settings, Target, mask_url
from reconciler.diagnostics import InputError, NbjobsError, plural
from reconciler.discovery.apps import app_directory
from reconciler.discovery.sources import discover
from reconciler.discovery.types import Discovery
from reconciler.loop.remote import RemoteError, RemoteSpec, ensure_fetched, head_revision, read_manifests
from reconciler.loop.windows import applies_allowed
from reconciler.manifest.types import DesiredState
from reconciler.nautobot.attribution import attribute, job_changes
from reconciler.nautobot.connect import create_db_engine, target_from_url
from reconciler.nautobot.fingerprint import code_fingerprint, rows_fingerprint
from reconciler.nautobot.records import Snapshot
from reconciler.plan.operations import CreateQueue, DeleteJob, Plan, SetEnabled, SetField, UpdateQueue
from reconciler.plan.planner import PlanSettings, plan
from reconciler.plan.queues import queue_uses
from reconciler.preflight.check import run_preflight
from reconciler.render.preflight import preflight_document
from reconciler.state.migrate import require_current
from reconciler.state.runs import RunRecord, heartbeat, last_run, record_run

SHORT = 12


class TransientTickError(NbjobsError):
    """A failure worth retrying (database, git remote, broker): the task retries it with backoff."""


@dataclass(frozen=True)
class TickOutcome:
    target: str
    state: str  # in_sync | drifted | pending | error | suspended
    action: str  # idle | none | applied | denied-by-window | suspended | locked | failed
    revision: str | None
    observed: str = ""  # what the run saw, whatever it did (a suspended run still observes)
    message: str = ""
    drift: tuple[dict[str, Any], ...] = ()
    pending: tuple[dict[str, Any], ...] = ()
    errors: tuple[dict[str, Any], ...] = ()
    apply_id: UUID | None = None
    run_id: UUID | None = None

    @property
    def idle(self) -> bool:
        return self.action == "idle"


@dataclass
class _Run:
    """What a tick learned so far; turned into one nbjobs_run row at the end."""

    target: Target
    started_at: datetime
    began: float
    revision: str | None = None
    rows_fingerprint: str | None = None
    code_fingerprint: str | None = None
    drift: list[dict[str, Any]] = field(default_factory=list)
    pending: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    preflight: dict[str, Any] | None = None
    audit: dict[str, Any] | None = None  # with audit = true: the audit's JSON document
    interval: float | None = None
    interrupted: str | None = None  # the tick before this one died mid-tick: its owner and start (loop/lock.py)


_ENGINES: dict[str, Engine] = {}


def engine_for(target: Target) -> Engine:
    """One engine (and pool) per database for the life of the process: an idle tick opens no connection
    and issues no dialect start-up queries."""
    url = target.database_url or ""
    if url not in _ENGINES:
        _ENGINES[url] = create_db_engine(target_from_url(target.database_url, f"target {target.name}", Path.cwd()))
    return _ENGINES[url]


def dispose_engines() -> None:
    for engine in _ENGINES.values():
        engine.dispose()
    _ENGINES.clear()


def remote_spec(settings: Settings, target: Target) -> RemoteSpec:
    if not target.repo:
        raise RemoteError(f"target {target.name!r} has no manifests repository: set `repo` (or --repo URL)",
                          transient=False)  # fmt: skip
    password = settings.git_password.get_secret_value() if settings.git_password else None
    return RemoteSpec(target.repo, target.branch, target.path, settings.git_username, password)


_DISCOVERIES: dict[str, tuple[str | None, Discovery]] = {}


def _discovery(target: Target, fingerprint: str | None) -> Discovery:
    """The target's job code, discovered again only when its files changed (the code fingerprint):
    a new manifests revision alone reuses the last discovery, which is most of a full tick's time."""
    cached = _DISCOVERIES.get(target.name)
    if cached is not None and fingerprint is not None and cached[0] == fingerprint:
        return cached[1]
    found = discover(jobs_root=target.jobs_root, git_root=target.git_root, apps=list(target.apps),
                     default_queue=target.default_queue)  # fmt: skip
    _DISCOVERIES[target.name] = (fingerprint, found)
    return found


def code_roots(target: Target) -> list[Path]:
    roots = [p for p in (target.jobs_root, target.git_root) if p is not None]
    roots += [d for app in target.apps if (d := app_directory(app)) is not None]
    return roots


def run_tick(settings: Settings, target: Target, clock: Callable[[], datetime] = utc_now, *,
             interrupted: str | None = None) -> TickOutcome:  # fmt: skip
    """One tick; records its run in nbjobs' history and returns what it did. `interrupted` names the
    tick before this one when it died mid-tick (the tick lock's Lease says so)."""
    run = _Run(target, clock(), time.monotonic(), interval=settings.interval, interrupted=interrupted)
    engine = engine_for(target)
    try:
        spec = remote_spec(settings, target)
        run.revision = head_revision(spec, settings.cache_dir)
    except RemoteError as exc:
        return _failed(engine, run, clock, str(exc), transient=exc.transient)
    run.code_fingerprint = code_fingerprint(code_roots(target))

    def idle_check() -> TickOutcome | None:
        with engine.connect() as connection:
            run.rows_fingerprint = rows_fingerprint(connection)
            previous = last_run(connection, target.name)
            if previous is not None and run.interrupted is None and _idle(previous, run, target):
                heartbeat(connection, previous.id, clock())
                connection.commit()
                idle = _outcome_of(previous, "idle")
                since = f"nothing changed since the run of {previous.started_at:%Y-%m-%d %H:%M:%S} UTC"
                return replace(idle, message=f"{since} ({previous.state}: {previous.message})")
        return None

    try:
        try:
            idle = idle_check()
        except DBAPIError as exc:
            # A pooled connection the server cut since the last tick (it restarted, or ended idle sessions):
            # the others in the pool are as dead; drop them all, and try once more on a new connection.
            if not exc.connection_invalidated:
                raise
            engine.dispose()
            idle = idle_check()
    except SQLAlchemyError as exc:
        missing = _unreadable(engine)
        return _failed(engine, run, clock, missing or _database_message(exc), transient=missing is None)
    if idle is not None:
        return idle
    return _full_tick(settings, target, engine, spec, run, clock)


def _unreadable(engine: Engine) -> str | None:
    """Why nbjobs' own tables cannot be read, when that is the trouble (a permanent error: retrying
    cannot help until someone runs `nbjobs db upgrade`); None when the database itself failed."""
    try:
        with engine.connect() as connection:
            require_current(connection)
    except NbjobsError as exc:
        return str(exc)
    except SQLAlchemyError:
        return None
    return None


def _idle(previous: RunRecord, run: _Run, target: Target) -> bool:
    """DESIGN.md's idle shortcut: nothing changed, and the last outcome needs no action now."""
    same_inputs = (
        previous.revision == run.revision
        and previous.code_fingerprint == run.code_fingerprint
        and previous.policy == target.policy.value
        and previous.prune == target.prune
        and (previous.state == "suspended") == target.suspend
    )
    if not same_inputs:
        return False
    if previous.permanent_error:
        return True  # the same revision and code fail the same way, whatever the rows: wait for a change
    if previous.rows_fingerprint != run.rows_fingerprint:
        return False
    if previous.state in ("in_sync", "suspended"):
        return True
    return target.policy is Policy.DETECT and previous.state in ("drifted", "pending")


def _full_tick(
    settings: Settings, target: Target, engine: Engine, spec: RemoteSpec, run: _Run, clock: Callable[[], datetime]
) -> TickOutcome:
    assert run.revision is not None
    short = run.revision[:SHORT]
    try:
        cache = ensure_fetched(spec, settings.cache_dir, run.revision)
        desired, _notes = read_manifests(spec, cache, run.revision, settings.manifest_limits())
    except RemoteError as exc:
        return _failed(engine, run, clock, str(exc), transient=exc.transient)
    except InputError as exc:
        return _invalid(engine, run, clock, f"the manifests at {short} are invalid", exc)
    discovery = _discovery(target, run.code_fingerprint)
    plan_settings = PlanSettings(target.default_queue, allow_mass_delete=False, prune=target.prune,
                                 mass_delete_min_managed=settings.mass_delete_min_managed)  # fmt: skip
    try:
        with _read_transaction(engine) as connection:
            require_current(connection)
            snapshot, state = read_actual(connection, desired, engine.url.render_as_string(hide_password=True), clock())
            current = plan(desired, discovery, snapshot, plan_settings, state)
            run.drift = _drift(connection, current)
            if settings.audit:  # in the same transaction: the facts of the snapshot's moment
                run.audit = _audited(connection, settings, target, desired, discovery, snapshot, run, clock())
        if settings.preflight:
            run.preflight = _readiness(settings, desired, snapshot, current)
    except InputError as exc:
        return _invalid(engine, run, clock, f"the plan for the manifests at {short} is refused", exc)
    except NbjobsError as exc:
        return _failed(engine, run, clock, str(exc), transient=False)
    except SQLAlchemyError as exc:
        return _failed(engine, run, clock, _database_message(exc), transient=True)
    run.pending = [{"job": r.class_path, "step": r.step, "reason": r.blockers[0], "location": str(r.location)}
                   for r in current.retirements if r.awaiting_prune]  # fmt: skip
    observed = "drifted" if not current.is_empty else "pending" if run.pending else "in_sync"
    if target.suspend:
        return _record(engine, run, clock, "suspended", observed, "suspended", "suspended: nothing applied")
    if target.policy is Policy.DETECT or current.is_empty:
        return _record(engine, run, clock, observed, observed, "none", _summary(run))
    verdict = applies_allowed(settings.windows, clock())
    if not verdict.allowed:
        return _record(engine, run, clock, observed, observed, "denied-by-window", verdict.reason)
    return _heal(settings, target, engine, run, clock, desired, discovery, plan_settings)


def _heal(
    settings: Settings,
    target: Target,
    engine: Engine,
    run: _Run,
    clock: Callable[[], datetime],
    desired: DesiredState,
    discovery: Discovery,
    plan_settings: PlanSettings,
) -> TickOutcome:
    assert run.revision is not None
    options = ApplyOptions(database=engine.url.render_as_string(hide_password=True), username=target.user,
                           revision=run.revision[:SHORT], lock_timeout=settings.lock_timeout, clock=clock)  # fmt: skip
    try:
        result = apply(engine, desired, discovery, plan_settings, options)
    except LockHeldError as exc:
        return _record(engine, run, clock, "drifted", "drifted", "locked", str(exc))
    except InputError as exc:
        return _invalid(engine, run, clock, "the apply was refused", exc)
    except ApplyFailedError as exc:  # the database failed under the apply (rolled back): the next try finishes it
        return _failed(engine, run, clock, str(exc), transient=True)
    except NbjobsError as exc:
        return _failed(engine, run, clock, str(exc), transient=False)
    except SQLAlchemyError as exc:
        return _failed(engine, run, clock, _database_message(exc), transient=True)
    for entry in run.drift:
        entry["healed"] = True
    # No fingerprint for the rows it wrote: one read after the commit could take an edit made in between
    # for the healed state and hide it for good. The next tick plans once more (and finds it in sync).
    run.rows_fingerprint = None
    state = "pending" if run.pending else "in_sync"
    message = f"applied {plural(len(result.plan.operations), 'operation')}; history id {result.apply_id.hex[:12]}"
    return _record(engine, run, clock, state, "drifted", "applied", message, apply_id=result.apply_id)


@contextmanager
def _read_transaction(engine: Engine) -> Iterator[Connection]:
    isolation = {} if engine.dialect.name == "sqlite" else {"isolation_level": "REPEATABLE READ"}
    with engine.connect().execution_options(**isolation) as connection, connection.begin():
        yield connection


def _readiness(settings: Settings, desired: DesiredState, snapshot: Snapshot, current: Plan) -> dict[str, Any]:
    """Queue readiness for the run's record and the nbjobs_queue_workers metric (never fails the tick)."""
    broker = settings.inspected_broker
    report = run_preflight(queue_uses(desired, snapshot, current), broker, settings.kubernetes(),
                           broker_display=mask_url(broker) if broker else None,
                           timeout=settings.preflight_timeout)  # fmt: skip
    return preflight_document(report)


def _audited(
    connection: Connection,
    settings: Settings,
    target: Target,
    desired: DesiredState,
    discovery: Discovery,
    snapshot: Snapshot,
    run: _Run,
    now: datetime,
) -> dict[str, Any]:
    """`nbjobs audit` on the run's inputs, for its record and the nbjobs_audit_findings metric."""
    audit_settings = AuditSettings(unused_days=settings.audit_unused_days,
                                   module_threshold=settings.audit_module_threshold,
                                   default_queue=target.default_queue)  # fmt: skip
    report = run_audit(connection, desired, discovery, snapshot, audit_settings, now)
    return audit_document(report, revision=run.revision[:SHORT] if run.revision else None)


def _drift(connection: Connection, current: Plan) -> list[dict[str, Any]]:
    """Each planned change as (job, field, desired, actual), with who made it when Nautobot logged it."""
    entries: list[dict[str, Any]] = []
    job_ids = set()
    for op in current.operations:
        if isinstance(op, SetField):
            entries.append({"job": op.job.class_path, "field": op.field, "desired": _plain(op.after),
                            "actual": _plain(op.before), "verdict": op.verdict.value, "_id": op.job.id})  # fmt: skip
            job_ids.add(op.job.id)
        elif isinstance(op, SetEnabled):
            entries.append({"job": op.job.class_path, "field": "enabled", "desired": op.after, "actual": op.before,
                            "verdict": "enabled", "_id": op.job.id})  # fmt: skip
            job_ids.add(op.job.id)
        elif isinstance(op, DeleteJob):
            entries.append({"job": op.job.class_path, "field": None, "desired": "deleted", "actual": "present",
                            "verdict": "retire"})  # fmt: skip
        elif isinstance(op, CreateQueue | UpdateQueue):
            actual = "missing" if isinstance(op, CreateQueue) else "differs"
            entries.append({"job": None, "queue": op.name, "field": "queue", "desired": "as declared",
                            "actual": actual, "verdict": "queue"})  # fmt: skip
    changes = job_changes(connection, job_ids)
    for entry in entries:
        job_id = entry.pop("_id", None)
        found = attribute(changes.get(job_id, []), entry["field"], entry["actual"]) if job_id else None
        entry["changed_by"] = found.user_name if found else None
        entry["changed_at"] = found.time.isoformat() if found else None
        entry["attribution"] = found.describe() if found else None
    return entries


def _plain(value: object) -> object:
    return list(value) if isinstance(value, tuple) else value


def _summary(run: _Run) -> str:
    parts = []
    if run.drift:
        parts.append(plural(len(run.drift), "drifted field"))
    if run.pending:
        parts.append(plural(len(run.pending), "pending deletion or purge", "pending deletions or purges"))
    return ", ".join(parts) or "in sync"


def _database_message(exc: SQLAlchemyError) -> str:
    detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"database: {detail[0] if detail else type(exc).__name__}"


def _invalid(engine: Engine, run: _Run, clock: Callable[[], datetime], what: str, exc: InputError) -> TickOutcome:
    run.errors = [{"message": d.message, "location": str(d.location), "severity": str(d.severity), "transient": False}
                  for d in exc.diagnostics]  # fmt: skip
    return _record(engine, run, clock, "error", "error", "failed", f"{what}: {plural(len(run.errors), 'problem')}",
                   permanent=True)  # fmt: skip


def _failed(engine: Engine, run: _Run, clock: Callable[[], datetime], message: str, *, transient: bool) -> TickOutcome:
    message = mask_url(message)
    run.errors = [{"message": message, "location": None, "transient": transient}]
    # Best effort: the database that failed, or one without nbjobs' tables, cannot record it either.
    outcome = _record(engine, run, clock, "error", "error", "failed", message, permanent=not transient,
                      best_effort=True)  # fmt: skip
    if transient:
        raise TransientTickError(message)
    return outcome


def _record(
    engine: Engine,
    run: _Run,
    clock: Callable[[], datetime],
    state: str,
    observed: str,
    action: str,
    message: str,
    *,
    apply_id: UUID | None = None,
    permanent: bool = False,
    best_effort: bool = False,
) -> TickOutcome:
    finished = clock()
    if run.interrupted:
        message += f"; the tick before this one ({run.interrupted}) did not finish: its worker died mid-tick"
    message = mask_url(message)
    run.errors = [{**error, "message": mask_url(str(error["message"]))} for error in run.errors]
    record = RunRecord(
        id=uuid4(), target=run.target.name, started_at=run.started_at, finished_at=finished,
        duration_seconds=time.monotonic() - run.began, host=socket.gethostname(), revision=run.revision,
        policy=run.target.policy.value, prune=run.target.prune, state=state, observed=observed, action=action,
        message=message, rows_fingerprint=run.rows_fingerprint, code_fingerprint=run.code_fingerprint,
        permanent_error=permanent, drift=run.drift, pending=run.pending, errors=run.errors, apply_id=apply_id,
        preflight=run.preflight, audit=run.audit, interval_seconds=run.interval,
    )  # fmt: skip
    try:
        with engine.begin() as connection:
            record_run(connection, record)
    except SQLAlchemyError:
        if not best_effort:
            raise
    return _outcome_of(record, action)


def _outcome_of(record: RunRecord, action: str) -> TickOutcome:
    return TickOutcome(
        target=record.target, state=record.state, action=action, revision=record.revision, message=record.message,
        observed=record.observed,
        drift=tuple(record.drift), pending=tuple(record.pending), errors=tuple(record.errors),
        apply_id=record.apply_id, run_id=record.id,
    )  # fmt: skip
