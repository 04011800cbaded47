"""The loop's Celery app: a beat entry per target, one task per tick, on nbjobs' own queue.

`celery -A reconciler.loop worker -B` builds the settings from the environment and the settings file;
`nbjobs loop` builds them from its flags too and starts the same worker with beat embedded. Celery is
the distributed engine: beat sends one task per target per interval, any worker of the pool takes it,
and the per-target tick lock keeps two workers off one target. nbjobs schedules nothing itself.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.signals import worker_init

from reconciler.config import LOOP_QUEUE, Settings, load_settings
from reconciler.diagnostics import NbjobsError
from reconciler.loop.lock import LockUnavailableError, TickLockedError, tick_lock
from reconciler.loop.schedule import JitteredSchedule
from reconciler.loop.tick import TransientTickError, run_tick

TASK_NAME = "nbjobs.reconcile"
_settings: Settings | None = None


def current_settings() -> Settings:
    global _settings
    if _settings is None:
        _settings = load_settings().settings
    return _settings


def make_app(settings: Settings | None = None) -> Celery:
    global _settings
    _settings = settings or current_settings()
    broker = _settings.loop_broker
    if not broker:
        raise NbjobsError("the loop needs a broker: set broker_url (NBJOBS_BROKER_URL, --broker-url) or "
                          "NAUTOBOT_CELERY_BROKER_URL")  # fmt: skip
    app = Celery("nbjobs", broker=broker, set_as_current=False)
    app.conf.update(
        task_default_queue=LOOP_QUEUE,
        task_serializer="json",
        accept_content=["json"],
        result_backend=None,
        task_ignore_result=True,
        worker_prefetch_multiplier=1,  # a tick is long: do not hoard the next target's
        task_acks_late=False,  # a tick killed mid-way is not redelivered; the next beat tick redoes it
        broker_connection_retry_on_startup=True,
        enable_utc=True,
        beat_schedule={
            f"reconcile-{target.name}": {
                "task": TASK_NAME,
                "schedule": JitteredSchedule(_settings.interval, _settings.jitter),
                "args": (target.name,),
                # A tick not started within an interval is dropped: the next one supersedes it.
                "options": {"queue": LOOP_QUEUE, "expires": _settings.interval},
            }
            for target in _settings.resolved_targets()
        },
    )
    app.task(name=TASK_NAME, bind=True, autoretry_for=(TransientTickError,), retry_backoff=5,
             retry_backoff_max=300, retry_jitter=True, max_retries=5)(_reconcile)  # fmt: skip
    return app


def _reconcile(task: Any, target_name: str) -> dict[str, Any]:
    settings = current_settings()
    target = settings.target(target_name)
    try:
        with tick_lock(settings.loop_broker, target.name, settings.lock_ttl) as lease:
            outcome = run_tick(settings, target, interrupted=lease.interrupted if lease else None)
    except TickLockedError as exc:
        return {"target": target.name, "action": "skipped", "message": str(exc)}
    except LockUnavailableError as exc:  # the broker's Redis went away after it handed us the task
        raise TransientTickError(str(exc)) from None
    # What Celery logs and stores for the task: a summary; the whole run is in nbjobs' history.
    return {"target": outcome.target, "state": outcome.state, "action": outcome.action,
            "revision": outcome.revision, "message": outcome.message, "drift": len(outcome.drift),
            "pending": len(outcome.pending), "errors": len(outcome.errors),
            "run_id": outcome.run_id.hex if outcome.run_id else None}  # fmt: skip


@worker_init.connect  # type: ignore[untyped-decorator]
def _serve_metrics(**_kwargs: Any) -> None:
    settings = current_settings()
    if settings.metrics_port is not None:
        from reconciler.loop.metrics import serve

        serve(settings, settings.metrics_port)
