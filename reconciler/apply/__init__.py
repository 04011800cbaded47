"""Carry a plan out in one transaction, exactly as Nautobot itself would have written it.

Every apply runs in one transaction that holds nbjobs' apply lock (reconciler.apply.lock), in order:
1. prepare: from manifests, plan inside the transaction (and, when the plan was shown first, refuse
   unless it is exactly that one); from a saved plan, check the database identity, then whether the
   history shows the plan applied already (a saved plan applies once: applying it again changes nothing
   and says which apply did it), then the before-images of every touched row, refusing with what moved;
2. act as the Nautobot user given (--as): refuse, listing what is missing, unless the user holds
   every permission the plan needs;
3. write the operations and their change log (reconciler.apply.writes);
4. verify: from manifests the plan is computed again and must be empty; from a saved plan the touched
   rows must read back as planned. Anything else rolls everything back;
5. record the apply and each change in nbjobs' history, in the same transaction.
Then, still holding the lock, the results of retired jobs are purged in batches, each batch its own
transaction (reconciler.apply.purge). A refused or failed apply is recorded in the history too, in a
transaction of its own. A crash at any point leaves the database as before, as after, or as after with a
whole number of purge batches done (tests/test_faults_kill.py kills applies at the fault points of
reconciler.faults); a connection lost under the apply is told in one sentence (`_failed`).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import Connection, Engine, select
from sqlalchemy.exc import SQLAlchemyError

from reconciler.apply.lock import Holder, LockHeldError, apply_lock
from reconciler.apply.ownership import record_ownership
from reconciler.apply.purge import PurgeInterruptedError, note_purged, purge_captured
from reconciler.apply.saved import SavedPlan, SavedPlanError, database_identity, sources_digest
from reconciler.apply.writes import Provenance, change_context, execute, utc_now
from reconciler.diagnostics import NbjobsError, plural
from reconciler.discovery.types import Discovery
from reconciler.faults import fault_point
from reconciler.manifest.types import DesiredState
from reconciler.nautobot.connect import database_problem, write_transaction
from reconciler.nautobot.identity import require_nautobot
from reconciler.nautobot.images import Image, read_images
from reconciler.nautobot.permissions import UserRecord, read_user
from reconciler.nautobot.records import Snapshot
from reconciler.nautobot.snapshot import read_snapshot
from reconciler.plan.images import expected_after, labels, moved, touched
from reconciler.plan.operations import (
    CreateQueue,
    DeleteJob,
    DisableReceivers,
    DisableSchedules,
    ForgetTombstone,
    Plan,
    SetEnabled,
    SetField,
    UpdateQueue,
)
from reconciler.plan.ownership import Ownership, ownership
from reconciler.plan.permissions import Denial, Grant, UserGrants, denials, required_permissions
from reconciler.plan.planner import PlanSettings, plan
from reconciler.plan.summary import Summary
from reconciler.state.history import ApplyRecord, ChangeRecord, applied_as, record_apply
from reconciler.state.migrate import require_current
from reconciler.state.read import read_state
from reconciler.state.tables import nbjobs_apply
from reconciler.state.types import NbjobsState

__all__ = [
    "AppliedBefore",
    "ApplyFailedError",
    "ApplyOptions",
    "ApplyResult",
    "LockHeldError",
    "PermissionDeniedError",
    "SavedPlanError",
    "StalePlanError",
    "applied_before",
    "apply",
    "apply_saved",
    "read_actual",
    "utc_now",
]


REFUSAL_RECORD_SECONDS = 5.0


class StalePlanError(NbjobsError):
    """The database moved since the plan was made or shown."""


class PermissionDeniedError(NbjobsError):
    def __init__(self, username: str, missing: list[Denial]) -> None:
        lines = "\n".join(f"  - {denial}" for denial in missing)
        super().__init__(f"user {username!r} lacks {plural(len(missing), 'permission')} this plan needs; nothing was "
                         f"changed:\n{lines}")  # fmt: skip
        self.missing = missing


@dataclass(frozen=True)
class ApplyOptions:
    database: str = ""  # display name, password masked
    username: str | None = None
    revision: str | None = None
    lock_timeout: float = 0.0
    batch_size: int = 1000  # results purged per transaction
    clock: Callable[[], datetime] = utc_now
    progress: Callable[[str, int, int], None] | None = None  # (class path, purged so far, total)


@dataclass(frozen=True)
class AppliedBefore:
    """The apply that already applied a saved plan: its history id, when it started, and as whom."""

    apply_id: UUID
    started_at: datetime
    user_name: str


@dataclass(frozen=True)
class ApplyResult:
    plan: Plan  # what was applied: empty when nothing was
    object_changes: int
    apply_id: UUID
    purged: int = 0
    already_applied: AppliedBefore | None = None  # a saved plan applied before: this apply changed nothing

    @property
    def outcome(self) -> str:
        """`applied`, `no-changes` (as the history records them), or `already-applied` (a saved plan that an
        earlier apply carried out; the history records this one as `no-changes`)."""
        if self.already_applied is not None:
            return "already-applied"
        return _outcome(self.object_changes, self.plan)


def applied_before(connection: Connection, saved: SavedPlan) -> AppliedBefore | None:
    """The apply that applied this saved plan (the same digest) already, as nbjobs' history records it."""
    row = applied_as(connection, saved.digest)
    if row is None:
        return None
    return AppliedBefore(row["id"], row["started_at"], row["user_name"] or "")


def read_actual(
    connection: Connection, desired: DesiredState, database: str = "", now: datetime | None = None
) -> tuple[Snapshot, NbjobsState]:
    """Everything the planner reads from the database: Nautobot's rows (with the dependents of jobs
    being retired) and nbjobs' own state."""
    retiring = [entry.match for entry in desired.retire]
    return read_snapshot(connection, database, retiring, now), read_state(connection)


@dataclass(frozen=True)
class _Prepared:
    plan: Plan
    before: dict[str, Image]
    verify: Callable[[Connection], str | None]  # a problem, or None when the writes read back as planned
    plan_digest: str | None
    sources_digest: str | None
    already_applied: AppliedBefore | None = None
    ownership: Ownership | None = None  # who owns what after this apply; None leaves the record as it is


def apply(
    engine: Engine,
    desired: DesiredState,
    discovery: Discovery,
    settings: PlanSettings,
    options: ApplyOptions | None = None,
    *,
    expected: Plan | None = None,
) -> ApplyResult:
    """Plan from the manifests and code inside the transaction and write it."""
    options = options or ApplyOptions()
    sources = sources_digest(desired, discovery)

    def planned(connection: Connection) -> Plan:
        snapshot, state = read_actual(connection, desired, options.database, options.clock())
        return plan(desired, discovery, snapshot, settings, state)

    def prepare(connection: Connection) -> _Prepared:
        snapshot, state = read_actual(connection, desired, options.database, options.clock())
        current = plan(desired, discovery, snapshot, settings, state)
        if expected is not None and current.operations != expected.operations:
            raise StalePlanError("the database changed since the plan was shown; nothing was applied, plan again")
        rows = touched(current)

        def verify(after: Connection) -> str | None:
            left = planned(after).operations  # (results to purge are purged after the commit)
            return None if not left else f"{plural(len(left), 'change')} left after applying"

        before = read_images(connection, rows.job_ids, rows.queue_names, rows.retiring)
        owned = ownership(desired, discovery, snapshot, current, settings)
        return _Prepared(current, before, verify, None, sources, ownership=owned)

    return _run(engine, options, prepare)


def apply_saved(engine: Engine, saved: SavedPlan, options: ApplyOptions | None = None) -> ApplyResult:
    """Apply exactly a saved plan, or refuse, changing nothing, if any row it touches moved since. A plan
    the history shows applied already is not stale but done: nothing is written, and the result names
    that apply (`already_applied`)."""
    options = replace(options or ApplyOptions(), revision=(options.revision if options else None) or saved.revision)
    rows = touched(saved.plan)
    names = labels(saved.plan)

    def prepare(connection: Connection) -> _Prepared:
        if database_identity(connection) != saved.database_identity:
            raise SavedPlanError("the plan was made against another database; nothing was applied")
        earlier = applied_before(connection, saved)
        if earlier is not None:  # before the staleness check: its own writes moved every row it touches
            done = replace(saved.plan, operations=(), purges=(), retirements=())
            return _Prepared(done, {}, lambda _after: None, saved.digest, saved.sources_digest, earlier)
        now = read_images(connection, rows.job_ids, rows.queue_names, rows.retiring)
        stale = moved(saved.before, now, names)
        if stale:
            listed = "\n".join(f"  - {change}" for change in stale)
            raise StalePlanError(f"the plan is stale: {plural(len(stale), 'field')} it depends on moved since it was "
                                 f"made; nothing was applied, plan again:\n{listed}")  # fmt: skip
        wanted = expected_after(saved.before, saved.plan)

        def verify(after: Connection) -> str | None:
            off = moved(wanted, read_images(after, rows.job_ids, rows.queue_names, rows.retiring), names)
            return None if not off else "rows do not read back as planned: " + "; ".join(map(str, off))

        return _Prepared(
            saved.plan, saved.before, verify, saved.digest, saved.sources_digest, ownership=saved.ownership
        )

    return _run(engine, options, prepare)


def _run(engine: Engine, options: ApplyOptions, prepare: Callable[[Connection], _Prepared]) -> ApplyResult:
    started = options.clock()
    with engine.connect() as connection:
        _require_known_nautobot(connection, options.database or engine.url.render_as_string(hide_password=True))
        require_current(connection)
    apply_id = uuid4()
    holder = Holder.this_process(started, options.revision, options.username)
    prepared: _Prepared | None = None
    written = 0
    committing = False  # from here on, a lost connection leaves it unknown whether the commit went through
    try:
        with apply_lock(engine, holder, options.lock_timeout) as lock:
            with lock.transaction() as connection:
                prepared = prepare(connection)
                user = _acting_user(connection, options.username, prepared)
                request_id = None
                if not prepared.plan.is_empty:
                    context = change_context(user, options.revision)
                    provenance = Provenance(apply_id, options.revision)
                    written = execute(connection, prepared.plan, context, options.clock, provenance)
                    request_id = context.request_id
                    problem = prepared.verify(connection)
                    if problem:
                        raise NbjobsError(f"internal error: {problem}; everything was rolled back")
                outcome = _outcome(written, prepared.plan)
                earlier = prepared.already_applied
                message = f"already applied as {earlier.apply_id.hex[:12]}" if earlier else ""
                record_apply(connection, _record(apply_id, options, holder, prepared, outcome, message, request_id),
                             _changes(prepared.plan))  # fmt: skip
                if prepared.ownership is not None:  # even when nothing changed: the manifests may have moved
                    record_ownership(connection, prepared.ownership, apply_id, options.revision, options.clock())
                fault_point("apply.before-commit")
                committing = True
            fault_point("apply.committed")
            # Under the lock still: another apply planning now would plan the rest of this purge too.
            purged = _purge(engine, apply_id, prepared.plan, options)
    except NbjobsError as exc:
        if committing:
            raise  # the purge's own error: the apply is in the history as applied already
        outcome = "refused" if _is_refusal(exc) else "failed"
        _record_outside(engine, _record(apply_id, options, holder, prepared, outcome, str(exc), None))
        raise
    except SQLAlchemyError as exc:
        raise _failed(engine, exc, apply_id, options, holder, prepared, committing) from None
    return ApplyResult(prepared.plan, written, apply_id, purged, prepared.already_applied)


class ApplyFailedError(NbjobsError):
    """The database failed under the apply (a lost connection, a restarted server): its transaction was
    rolled back, or, when the connection was lost as it committed, nbjobs says what it could find out."""


def _failed(
    engine: Engine,
    exc: SQLAlchemyError,
    apply_id: UUID,
    options: ApplyOptions,
    holder: Holder,
    prepared: _Prepared | None,
    committing: bool,
) -> NbjobsError:
    """What to tell of a database error under the apply; recorded in the history when the database
    still takes it."""
    problem = database_problem(exc)
    if committing:  # the commit was sent, or had gone through when releasing the lock failed
        committed = _committed(engine, apply_id)
        if committed is None:
            return ApplyFailedError(
                f"{problem} as the apply committed, and the database cannot be reached to check whether the commit "
                f"went through: `nbjobs history` lists apply {apply_id.hex[:12]} if it did; either way nothing is "
                "half-applied, and running the apply again finishes the work"
            )  # fmt: skip
        if committed:
            return ApplyFailedError(
                f"{problem} after the apply committed (history id {apply_id.hex[:12]}): its changes are in; run the "
                "apply again to finish what was left after them (the purge of results)"
            )  # fmt: skip
    _record_outside(engine, _record(apply_id, options, holder, prepared, "failed", problem, None))
    return ApplyFailedError(f"{problem} during the apply; its transaction was rolled back and nothing was changed. "
                            "Run the apply again once the database is reachable.")  # fmt: skip


def _committed(engine: Engine, apply_id: UUID) -> bool | None:
    """Whether the apply's transaction committed (its history row is written in it); None if unknown."""
    try:
        with engine.connect() as connection:
            found = connection.execute(select(nbjobs_apply.c.id).where(nbjobs_apply.c.id == apply_id)).first()
    except SQLAlchemyError:
        return None
    return found is not None


def _purge(engine: Engine, apply_id: UUID, plan_: Plan, options: ApplyOptions) -> int:
    """Step 5 of each retirement, after the commit: the results captured, in batches. A database failure
    midway keeps the batches done (noted in the history, best effort) and says what is left."""
    purged = 0
    try:
        for path, _ in plan_.purges:
            purged += purge_captured(engine, path, options.batch_size, options.progress)
    except PurgeInterruptedError as exc:
        purged += exc.done
        _note_purged(engine, apply_id, purged)
        raise NbjobsError(f"the apply was committed (history id {apply_id.hex[:12]}), but {exc}") from None
    _note_purged(engine, apply_id, purged)
    return purged


def _note_purged(engine: Engine, apply_id: UUID, purged: int) -> None:
    """The purge's count in the apply's history row; best effort: the results are purged either way."""
    if purged:
        with suppress(SQLAlchemyError):
            note_purged(engine, apply_id, purged)


def _outcome(written: int, plan_: Plan) -> str:
    return "applied" if written or plan_.purges else "no-changes"


def _require_known_nautobot(connection: Connection, database: str) -> None:
    """nbjobs writes only the tables of the Nautobot it was checked against: another database, or a Nautobot
    at a migration level nbjobs does not know, is refused before anything is read."""
    problem = require_nautobot(connection, database).level_problem
    if problem:
        raise NbjobsError(f"refusing to apply: {problem}; nothing was changed")


def _is_refusal(exc: NbjobsError) -> bool:
    """Refused: the apply met a guard. Failed: it broke."""
    return not str(exc).startswith("internal error")


def _acting_user(connection: Connection, username: str | None, prepared: _Prepared) -> UserRecord | None:
    if username is None:
        return None
    found = read_user(connection, username)
    if found is None:
        raise NbjobsError(f"Nautobot user {username!r} does not exist; nothing was applied")
    user, permissions = found
    grants = UserGrants(user.username, user.is_active, user.is_superuser, tuple(
        Grant(p.name, frozenset(p.actions), frozenset(p.object_types), p.constraints) for p in permissions
    ))  # fmt: skip
    after = expected_after(prepared.before, prepared.plan)
    missing = denials(required_permissions(prepared.plan), grants, prepared.before, after)
    if missing:
        raise PermissionDeniedError(username, missing)
    return user


def _record(
    apply_id: UUID,
    options: ApplyOptions,
    holder: Holder,
    prepared: _Prepared | None,
    outcome: str,
    message: str,
    request_id: UUID | None,
) -> ApplyRecord:
    return ApplyRecord(
        id=apply_id,
        started_at=holder.started_at,
        finished_at=options.clock(),
        user_name=options.username or "",
        host=holder.host,
        revision=options.revision,
        plan_digest=prepared.plan_digest if prepared else None,
        sources_digest=prepared.sources_digest if prepared else None,
        database=options.database,
        outcome=outcome,
        message=message,
        counts=asdict(Summary.of(prepared.plan)) if prepared else {},
        request_id=request_id,
    )


def _record_outside(engine: Engine, entry: ApplyRecord) -> None:
    """History of a refused or failed apply, in its own transaction; best effort (the database may be
    the very thing that failed). On SQLite the apply holding the lock may hold the write lock too: a
    refusal waits for it up to REFUSAL_RECORD_SECONDS, not the longer busy timeout, and goes unrecorded
    past that, so that --lock-timeout 0 still fails fast."""
    with suppress(SQLAlchemyError), write_transaction(engine, REFUSAL_RECORD_SECONDS) as connection:
        record_apply(connection, entry, [])


def _changes(plan_: Plan) -> list[ChangeRecord]:
    changes: list[ChangeRecord] = []
    for op in plan_.operations:
        if isinstance(op, CreateQueue):
            after: Any = {"queue_type": op.queue_type, "description": op.description}
            changes.append(ChangeRecord("jobqueue", None, op.name, None, None, after, "create"))
        elif isinstance(op, UpdateQueue):
            changes += [ChangeRecord("jobqueue", op.queue_id, op.name, column, before, after_, "update")
                        for column, before, after_ in op.changes]  # fmt: skip
        elif isinstance(op, SetEnabled):
            changes.append(ChangeRecord("job", op.job.id, op.job.class_path, "enabled", op.before, op.after, None))
        elif isinstance(op, DisableReceivers):
            receivers = [("jobbutton", b) for b in op.buttons] + [("jobhook", h) for h in op.hooks]
            changes += [ChangeRecord(model, r.id, r.name, "enabled", True, False, "retire") for model, r in receivers]
        elif isinstance(op, DisableSchedules):
            changes += [
                ChangeRecord("scheduledjob", s.id, s.name, "enabled", True, False, "retire") for s in op.schedules
            ]
            changes += [ChangeRecord("approvalworkflow", a.id, a.name, "current_state", "Pending", "Canceled", "retire")
                        for a in op.approvals]  # fmt: skip
        elif isinstance(op, DeleteJob):
            before_ = {"name": op.job.name, "results": op.results, "purge_results": op.purge_results}
            changes.append(ChangeRecord("job", op.job.id, op.job.class_path, None, before_, None, "delete"))
        elif isinstance(op, ForgetTombstone):
            changes.append(ChangeRecord("tombstone", None, op.class_path, None, "retired", None, "forget"))
        elif isinstance(op, SetField):
            changes.append(ChangeRecord(
                "job", op.job.id, op.job.class_path, op.field,
                {"value": _json(op.before), "override": op.override_before},
                {"value": _json(op.after), "override": op.override_after}, op.verdict.value,
            ))  # fmt: skip
    return changes


def _json(value: object) -> object:
    return list(value) if isinstance(value, tuple) else value
