"""huey's ``huey.contrib.helpers``: a lock that ``value`` holders may take at once.

``RedisSemaphore`` keeps its holders in a Redis sorted set scored by the server's time
of their last renewal; a holder not renewed for ``timeout`` seconds (its worker died)
no longer counts. ``lock_task_semaphore`` wraps a task: it takes a place or raises
TaskLockedException (so the task's retries apply), and renews the place from a thread
while the task runs.
"""
from __future__ import annotations

import functools
import threading
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hueyd.api.exceptions import ConfigurationError, TaskLockedException
from hueyd.api.locks import lock_key

if TYPE_CHECKING:  # pragma: no cover
    from hueyd.api.huey import Huey

#: KEYS[1] the set; ARGV: timeout, value, holder. Forget expired holders, then take a
#: place unless every place is held (a holder asking again keeps its place).
ACQUIRE_LUA = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1e6
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', t - tonumber(ARGV[1]))
local mine = redis.call('ZSCORE', KEYS[1], ARGV[3])
if not mine and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], t, ARGV[3])
return 1
"""
#: KEYS[1] the set; ARGV[1] holder: renew a place still held (an expired one is lost)
RENEW_LUA = """
local now = redis.call('TIME')
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], tonumber(now[1]) + tonumber(now[2]) / 1e6, ARGV[1])
return 1
"""
DEFAULT_TIMEOUT = 300


class RedisSemaphore:
    """At most ``value`` holders of ``name``; needs a Redis storage (checked at first use)."""

    def __init__(self, huey: Huey, name: str, value: int = 1,
                 timeout: float | None = None) -> None:
        self.huey = huey
        self.key = lock_key(huey.name, name)
        self.value = value
        self.timeout = timeout or DEFAULT_TIMEOUT
        huey.known_locks.add(self.key)  # flush_locks knows it

    @property
    def conn(self) -> Any:
        conn = getattr(self.huey.storage, "conn", None)
        if conn is None:
            raise ConfigurationError("RedisSemaphore needs a Redis storage, not "
                                     f"{self.huey.storage.__class__.__name__}")
        return conn

    def acquire(self, name: str | None = None) -> str | None:
        """The holder's name if a place was free (or already its own), else None."""
        name = name or uuid.uuid4().hex
        taken = self.conn.eval(ACQUIRE_LUA, 1, self.key, self.timeout, self.value, name)
        return name if taken else None

    def renew(self, name: str) -> bool:
        return bool(self.conn.eval(RENEW_LUA, 1, self.key, name))

    def release(self, name: str) -> int:
        """1 if ``name`` held a place, 0 if not (released already, or expired)."""
        return self.conn.zrem(self.key, name)

    def keep_renewing(self, name: str, stop: threading.Event) -> None:
        """Renew ``name`` every third of the timeout until ``stop`` is set."""
        while not stop.wait(self.timeout / 3):
            self.renew(name)


def lock_task_semaphore(huey: Huey, lock_name: str, value: int = 1,
                        timeout: float | None = None) -> Callable[[Callable], Callable]:
    """Decorate a task so that at most ``value`` runs of it hold ``lock_name`` at once; a
    run that finds no place raises TaskLockedException."""
    semaphore = RedisSemaphore(huey, lock_name, value, timeout)

    def decorator(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            holder = semaphore.acquire()
            if holder is None:
                raise TaskLockedException(f"unable to acquire lock {lock_name}")
            stop = threading.Event()
            renewer = threading.Thread(target=semaphore.keep_renewing, args=(holder, stop),
                                       name=f"renew-{lock_name}", daemon=True)
            renewer.start()
            try:
                return fn(*args, **kwargs)
            finally:
                stop.set()
                renewer.join()
                semaphore.release(holder)
        return inner
    return decorator
