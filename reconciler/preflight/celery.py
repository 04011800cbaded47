"""Which Celery workers consume each queue, asked of the broker Nautobot's workers use.

The same question Nautobot's own `get_celery_queues()` asks (`app.control.inspect().active_queues()`,
extras/utils.py:460), with a timeout, from a throwaway app that sends nothing but the broadcast.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from reconciler.diagnostics import NbjobsError


class BrokerUnreachableError(NbjobsError):
    pass


def workers_by_queue(broker_url: str, timeout: float = 2.0) -> dict[str, tuple[str, ...]]:
    """{queue: worker names} for every queue some worker consumes; raises BrokerUnreachableError."""
    from celery import Celery
    from kombu.exceptions import OperationalError

    app = Celery("nbjobs-preflight", broker=broker_url, set_as_current=False)
    app.conf.broker_connection_timeout = timeout
    app.conf.broker_connection_retry = False
    app.conf.broker_connection_max_retries = 0
    try:
        answers = app.control.inspect(timeout=timeout).active_queues() or {}
    except (OperationalError, OSError, ConnectionError) as exc:
        raise BrokerUnreachableError(f"the broker does not answer ({type(exc).__name__}: {exc})") from None
    except Exception as exc:  # redis-py and amqp raise their own connection errors
        if "connect" in type(exc).__name__.lower() or "connect" in str(exc).lower():
            raise BrokerUnreachableError(f"the broker does not answer ({type(exc).__name__})") from None
        if isinstance(exc, _transport_errors(app)):  # e.g. py-amqp's AccessRefused for a wrong password
            raise BrokerUnreachableError(f"the broker refused the inspection ({type(exc).__name__}: {exc})") from None
        raise
    finally:
        app.close()
    found: dict[str, set[str]] = defaultdict(set)
    for worker, queues in answers.items():
        for queue in queues or ():
            found[str(queue["name"])].add(str(worker))
    return {queue: tuple(sorted(names)) for queue, names in found.items()}


def _transport_errors(app: Any) -> tuple[type[BaseException], ...]:
    """The transport's own connection and channel errors (py-amqp's, redis-py's), as kombu lists them."""
    try:
        connection = app.connection_for_read()  # does not connect
        try:
            return (*connection.connection_errors, *connection.channel_errors)
        finally:
            connection.release()
    except Exception:  # an unknown transport: nothing more to recognise
        return ()
