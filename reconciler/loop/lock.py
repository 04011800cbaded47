"""At most one tick per target at a time, across every worker of a fleet.

With a Redis broker the tick holds a Redis lock named after the target, with an owner (host, pid) and
a TTL: a slow run is never stacked under the next tick, two workers never reconcile one target at once,
and a worker killed mid-tick frees the lock when the TTL runs out. With RabbitMQ there is no Redis to
hold it, and the database's apply lock (held by every apply) serves alone (DESIGN.md).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from uuid import uuid4

from reconciler.diagnostics import NbjobsError

LOCK_PREFIX = "nbjobs:tick:"


class TickLockedError(NbjobsError):
    """Another worker is ticking this target now."""


def owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid4().hex[:8]}"


@contextmanager
def tick_lock(broker_url: str | None, target: str, ttl: float) -> Iterator[str | None]:
    """Hold the target's tick lock for the block; yields the owner token (None without Redis)."""
    if not broker_url or not broker_url.startswith(("redis://", "rediss://", "unix://")):
        yield None
        return
    import redis

    client = redis.Redis.from_url(broker_url, socket_timeout=10, socket_connect_timeout=10)
    try:
        lock = client.lock(LOCK_PREFIX + target, timeout=ttl, blocking=False)
        token = owner()
        if not lock.acquire(token=token):
            holder = client.get(LOCK_PREFIX + target)
            named = holder.decode(errors="replace") if isinstance(holder, bytes) else str(holder or "unknown")
            raise TickLockedError(f"target {target!r} is being reconciled by another worker ({named}); skipped")
        try:
            yield token
        finally:
            with suppress(redis.exceptions.LockError):  # the TTL ran out first: the holder now is not us
                lock.release()
    finally:
        client.close()
