"""At most one tick per target at a time, across every worker of a fleet.

With a Redis broker the tick holds a Redis lock named after the target, with an owner (host, pid) and
a TTL: a slow run is never stacked under the next tick, two workers never reconcile one target at once,
and a worker killed mid-tick frees the lock when the TTL runs out. With RabbitMQ there is no Redis to
hold it, and the database's apply lock (held by every apply) serves alone (DESIGN.md).

Beside the lock, a tick leaves a mark (`nbjobs:tick:<target>:running`, its owner and start) that it
removes when it ends, however it ends short of being killed: the next tick that finds a mark left behind
knows the one before it died mid-tick (SIGKILL, the OOM killer, a lost node), and its run says so.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from uuid import uuid4

from reconciler.config import mask_url
from reconciler.diagnostics import NbjobsError

LOCK_PREFIX = "nbjobs:tick:"
RUNNING_SUFFIX = ":running"
RUNNING_SECONDS = 7 * 86400  # a mark outlives any tick; a target removed from the configuration loses it in a week
# Removes the mark only if it is still this tick's: one that outlived its lock's TTL must not remove the
# mark of the tick that took the lock after it.
_REMOVE_OWN_MARK = """
local mark = redis.call('get', KEYS[1])
if mark and string.sub(mark, 1, string.len(ARGV[1])) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


class TickLockedError(NbjobsError):
    """Another worker is ticking this target now."""


class LockUnavailableError(NbjobsError):
    """The Redis that holds the tick locks cannot be reached (or refuses us): worth retrying."""


class Lease(str):
    """The owner token of a held tick lock (a str, as Redis stores it), and `interrupted`: the owner and
    start of the tick before it when that one died mid-tick (its mark was left behind), else None."""

    interrupted: str | None = None


def owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid4().hex[:8]}"


@contextmanager
def tick_lock(broker_url: str | None, target: str, ttl: float) -> Iterator[Lease | None]:
    """Hold the target's tick lock for the block; yields its Lease (None without Redis).

    Raises TickLockedError when another worker holds it, LockUnavailableError when Redis cannot be
    reached or refuses the credentials (with the URL's password masked), NbjobsError for a URL that
    is not one."""
    if not broker_url or not broker_url.startswith(("redis://", "rediss://", "unix://")):
        yield None
        return
    import redis

    try:
        client = redis.Redis.from_url(broker_url, socket_timeout=10, socket_connect_timeout=10)
    except ValueError as exc:
        raise NbjobsError(f"the broker URL {mask_url(broker_url)} is not valid: {exc}") from None
    try:
        key = LOCK_PREFIX + target
        lock = client.lock(key, timeout=ttl, blocking=False)
        token = Lease(owner())
        try:
            if not lock.acquire(token=token):
                holder = client.get(key)
                named = holder.decode(errors="replace") if isinstance(holder, bytes) else str(holder or "unknown")
                raise TickLockedError(f"target {target!r} is being reconciled by another worker ({named}); skipped")
            started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
            left = client.getset(key + RUNNING_SUFFIX, f"{token}, started {started}")
            client.expire(key + RUNNING_SUFFIX, RUNNING_SECONDS)
        except redis.exceptions.RedisError as exc:
            raise LockUnavailableError(f"the tick lock's Redis ({mask_url(broker_url)}) cannot be used: "
                                       f"{type(exc).__name__}: {exc}") from None  # fmt: skip
        token.interrupted = left.decode(errors="replace") if isinstance(left, bytes) else None
        try:
            yield token
        finally:
            with suppress(redis.exceptions.RedisError):  # Redis gone meanwhile: the mark and the lock expire
                client.eval(_REMOVE_OWN_MARK, 1, key + RUNNING_SUFFIX, f"{token},")
            with suppress(redis.exceptions.LockError, redis.exceptions.RedisError):  # the TTL ran out first
                lock.release()
    finally:
        client.close()
