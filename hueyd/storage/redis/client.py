"""Connecting to Redis the way huey's ``RedisStorage`` is configured, and turning
"the server is not there" into :class:`StorageError`.

Only APIs that redis-py 4.3 (Debian 12) and current releases share are used.
redis-py's ``ConnectionPool`` checks ``os.getpid()`` on every checkout and
starts afresh in a forked child, which is what makes the backends fork-safe.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import redis
from redis import exceptions as redis_errors
from redis.backoff import NoBackoff
from redis.retry import Retry

from hueyd.storage.errors import StorageError, StorageRefused, StorageUnusable

F = TypeVar("F", bound=Callable[..., Any])

#: errors that mean "back off and retry": unreachable, timed out, loading,
#: or a replica that refuses writes during a failover
UNREACHABLE = (redis_errors.ConnectionError, redis_errors.TimeoutError,
               redis_errors.ReadOnlyError)
#: replies that mean "the master is elsewhere now, reconnect": a master demoted under a
#: blocking command, a cluster's slot moving or failing over. redis-py's cluster parser
#: has classes for some (and strips the word), a plain connection's does not
MOVING_WORDS = ("UNBLOCKED", "MOVED", "ASK", "TRYAGAIN", "CLUSTERDOWN", "MASTERDOWN")
MOVING = (redis_errors.AskError, redis_errors.TryAgainError, redis_errors.ClusterDownError)
#: replies that no retry changes, by what they say: redis-py 4.3 leaves WRONGPASS and NOPERM
#: plain ResponseErrors, later releases map them to their own classes and strip the code
#: (and 8.x authenticates with HELLO, whose refusals read differently)
REFUSALS = {"WRONGPASS": "wrong password or user",
            "invalid username-password pair": "wrong password or user",
            "NOAUTH": "a password is required",
            "Authentication required": "a password is required",
            "HELLO must be called with the client already authenticated":
                "a password is required",
            "AUTH <password> called without": "a password is given but the server has none",
            "NOPERM": "the Redis user lacks a permission"}

#: what pools that hueyd builds use unless the app (or its URL) says otherwise. A dead or
#: unreachable server is noticed within seconds, before a worker's silence looks like a
#: hang (blocking pops stay under half the socket timeout). redis-py's own retries (none
#: in 4.x, ten with backoff since 6.x) are off: a BLMOVE retried after its reply was lost
#: would leave the first message stranded in flight, and retrying with backoff stalls the
#: heartbeats; the workers and the scheduler back off and reconnect themselves.
POOL_DEFAULTS = {"socket_connect_timeout": 5.0, "socket_timeout": 5.0}

#: connection parameters that say *where* the server is; a ``url`` replaces them
ADDRESS_PARAMS = ("host", "port", "db", "username", "password", "unix_socket_path", "path")


def translate_errors(method: F) -> F:
    """Raise :class:`StorageError` (naming the server) for an unreachable Redis, and
    :class:`StorageRefused` for an error reply (``OOM command not allowed``, a key of
    the wrong type, a script error): the server is there and says no;
    :class:`StorageUnusable` when it refuses our credentials (no retry helps)."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except (*UNREACHABLE, redis_errors.ResponseError) as exc:
            cause = refusal(exc)
            if cause:
                raise StorageUnusable(f"redis at {self.location}: {cause} ({exc})") from exc
            if isinstance(exc, (*UNREACHABLE, *MOVING)) or \
                    str(exc).split(" ", 1)[0] in MOVING_WORDS:
                lost = getattr(self.pool, "lost", None)  # a pool that follows a failover
                note = lost(exc) if lost is not None else ""
                raise StorageError(f"redis at {self.location}: {note}{exc}") from exc
            # redis-py >= 4.5 drops the reply's code for the errors it has a class for
            # ("OOM command not allowed" becomes OutOfMemoryError("command not allowed"))
            kind = type(exc).__name__
            detail = str(exc) if kind == "ResponseError" else f"{kind}: {exc}"
            raise StorageRefused(f"redis at {self.location}: {detail}") from exc

    return wrapper  # type: ignore[return-value]


def refusal(exc: Exception) -> str | None:
    """Why Redis refuses us for good (credentials, permissions), or None."""
    text = str(exc)
    for words, cause in REFUSALS.items():
        if words in text:
            return cause
    if isinstance(exc, redis_errors.NoPermissionError):
        return REFUSALS["NOPERM"]
    if isinstance(exc, (redis_errors.AuthenticationError, redis_errors.AuthorizationError)):
        return "authentication failed"
    return None


def build_pool(url: str | None, connection_pool: redis.ConnectionPool | None,
               client_name: str | None, connection_params: dict[str, Any],
               slot_key: str = "") -> tuple[redis.ConnectionPool, bool]:
    """The pool to use and whether this storage owns it (and may disconnect it).

    ``url`` wins over ``connection_pool``, which wins over host/port/db: the daemon
    overrides an app's connection with ``redis_url`` by adding ``url=``. ``slot_key``:
    one of the storage's keys (a cluster pool serves its slot).
    """
    params = {k: v for k, v in connection_params.items()
              if not (k in ("host", "port", "db") and v is None)}
    params.setdefault("retry", Retry(NoBackoff(), 0))
    if client_name is not None:
        params["client_name"] = client_name
    if connection_pool is not None and not url:
        if client_name is not None:
            connection_pool.connection_kwargs.setdefault("client_name", client_name)
        return connection_pool, False
    if url:
        for key in ADDRESS_PARAMS:
            params.pop(key, None)
        pool = from_url(url, params, slot_key)
    else:
        pool = redis.ConnectionPool(**params)
    check_params(pool)
    apply_defaults(pool)
    return pool, True


def from_url(url: str, params: dict[str, Any], key: str) -> redis.ConnectionPool:
    """A pool for ``redis://``, ``rediss://``, ``unix://``, ``redis+sentinel://`` or
    ``redis+cluster://`` (serving ``key``'s slot)."""
    if "+" in url.partition("://")[0]:  # their modules load only for such a URL (start-up)
        from hueyd.storage.redis.cluster import cluster_pool, is_cluster_url
        from hueyd.storage.redis.sentinel import is_sentinel_url, sentinel_pool
        if is_sentinel_url(url):
            return sentinel_pool(url, params)
        if is_cluster_url(url):
            return cluster_pool(url, params, key)
    return redis.ConnectionPool.from_url(url, **params)


def apply_defaults(pool: redis.ConnectionPool) -> None:
    """:data:`POOL_DEFAULTS` for what the app left unset and the connection type takes
    (a Unix socket connection has no connect timeout in current redis-py)."""
    kwargs = pool.connection_kwargs
    for key, value in POOL_DEFAULTS.items():
        if key not in kwargs:
            kwargs[key] = value
            try:
                pool.connection_class(**kwargs)
            except TypeError:
                del kwargs[key]


def check_params(pool: redis.ConnectionPool) -> None:
    """Fail now, in one line, on a misspelt connection parameter (not at the first
    command, deep inside redis-py). Building a connection object does no I/O."""
    try:
        pool.connection_class(**pool.connection_kwargs)
    except TypeError as exc:
        raise ValueError(f"redis connection parameters: {exc}") from None


def describe(pool: redis.ConnectionPool) -> str:
    """``host:port/db`` or the socket path, for error messages."""
    where = getattr(pool, "where", None)  # a Sentinel or Cluster pool says what it follows
    if where:
        return where
    kwargs = pool.connection_kwargs
    if kwargs.get("path"):
        return f"{kwargs['path']}/{kwargs.get('db', 0)}"
    return f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"


def block_seconds(timeout: float, pool: redis.ConnectionPool) -> float:
    """How long a blocking pop may wait on the server.

    Kept under the client's ``socket_timeout`` (a read that outlives it would
    look like a dead server) and at least 1 ms: Redis reads a timeout below
    1 ms as 0, which means "block forever".
    """
    socket_timeout = pool.connection_kwargs.get("socket_timeout")
    wait = min(timeout, socket_timeout / 2) if socket_timeout else timeout
    return max(round(wait, 3), 0.001)
