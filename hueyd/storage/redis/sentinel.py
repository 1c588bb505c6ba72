"""``redis+sentinel://`` URLs: a pool whose every new connection asks the Sentinels
where the master is, so that a failover is followed by reconnecting.

``redis+sentinel://[[USER]:PASSWORD@]HOST1:26379,HOST2:26379/SERVICE[/DB][?OPTIONS]``
(``rediss+sentinel://``: TLS to the data nodes and the Sentinels). The password is the
data nodes'; the Sentinels' own goes in ``sentinel_password=`` (and
``sentinel_username=``). Other options: ``socket_timeout``, ``socket_connect_timeout``,
``sentinel_tls`` (0/1, default: as the scheme), ``ssl_ca_certs``, ``ssl_certfile``,
``ssl_keyfile``, ``ssl_cert_reqs``.

How a failover is followed (redis-py 4.3 and current releases): a connection refused,
reset or timed out, a ``READONLY`` reply (the old master came back as a replica) and an
``UNBLOCKED`` reply (a master demoted under a blocking take) all close the connection;
the caller backs off (:class:`~hueyd.storage.errors.StorageError`) and its next
connection asks the Sentinels again. The log says ``failing over`` once when the
master is lost and once when a master answers again.
"""
from __future__ import annotations

import inspect
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.sentinel import (
                            Sentinel,
                            SentinelConnectionPool,
                            SentinelManagedConnection,
                            SentinelManagedSSLConnection,
)

logger = logging.getLogger("hueyd.storage")

SCHEMES = ("redis+sentinel://", "rediss+sentinel://")
#: query options and how to read them
FLOATS = ("socket_timeout", "socket_connect_timeout")
TEXTS = ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile", "ssl_cert_reqs")
SENTINEL_OPTIONS = ("sentinel_password", "sentinel_username", "sentinel_tls")
#: the reply to a blocking command whose server turned from master into replica
DEMOTED = "UNBLOCKED"
#: seconds to wait for one Sentinel (the next is asked after it)
SENTINEL_TIMEOUT = 2.0
#: seconds between two questions to the Sentinels from a process that keeps connections
#: open: after a promotion the old master may stay a master for many seconds (until the
#: Sentinels reconfigure it), and nothing would make those connections leave it
CONFIRM_EVERY = 1.0


def is_sentinel_url(url: str | None) -> bool:
    return bool(url) and url.lower().startswith(SCHEMES)  # type: ignore[union-attr]


@dataclass
class SentinelAddress:
    """A parsed ``redis+sentinel://`` URL (never printed: it may hold passwords)."""

    sentinels: list[tuple[str, int]]
    service: str
    db: int = 0
    tls: bool = False
    node: dict[str, Any] = field(default_factory=dict)  # data nodes' connection options
    sentinel: dict[str, Any] = field(default_factory=dict)  # the Sentinels' options


def _host_port(text: str) -> tuple[str, int]:
    """``host:port``, ``[v6]:port`` or ``host`` (port 26379)."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port = text.rpartition(":") if ":" in text else (text, "", "")
    if not host:
        raise ValueError(f"a Sentinel address has no host: {text!r}")
    try:
        number = int(port) if port else 26379
    except ValueError:
        raise ValueError(f"a Sentinel's port is not a number: {text!r}") from None
    if not 0 < number < 65536:
        raise ValueError(f"a Sentinel's port is out of range: {text!r}")
    return host, number


def parse(url: str) -> SentinelAddress:
    """The Sentinels, the service and the options of ``url``; ValueError (naming the
    part, never the password) for one that does not parse."""
    scheme, _, rest = url.partition("://")
    rest, _, query = rest.partition("?")
    netloc, _, path = rest.partition("/")
    userinfo, at, hosts = netloc.rpartition("@")
    if not at:
        userinfo, hosts = "", netloc
    address = SentinelAddress([_host_port(h) for h in hosts.split(",") if h], "",
                              tls=scheme.lower() == "rediss+sentinel")
    if not address.sentinels:
        raise ValueError("redis+sentinel:// needs at least one Sentinel host:port")
    service, _, db = path.strip("/").partition("/")
    if not service:
        raise ValueError("redis+sentinel:// needs the service name: .../SERVICE[/DB]")
    address.service = unquote(service)
    try:
        address.db = int(db) if db else 0
    except ValueError:
        raise ValueError(f"the database after the service is not a number: {db!r}") from None
    if userinfo:
        user, colon, password = userinfo.partition(":")
        if not colon:
            user, password = "", user
        address.node.update({k: unquote(v) for k, v in
                             (("username", user), ("password", password)) if v})
    _options(address, parse_qsl(query, keep_blank_values=True))
    return address


def _options(address: SentinelAddress, pairs: list[tuple[str, str]]) -> None:
    sentinel_tls = address.tls
    for key, value in pairs:
        if key in FLOATS:
            try:
                address.node[key] = address.sentinel[key] = float(value)
            except ValueError:
                raise ValueError(f"{key} is not a number: {value!r}") from None
        elif key in TEXTS:
            address.node[key] = address.sentinel[key] = value
        elif key == "sentinel_tls":
            sentinel_tls = value.lower() in ("1", "true", "yes", "on")
        elif key in ("sentinel_password", "sentinel_username"):
            address.sentinel[key.split("_", 1)[1]] = value
        else:
            raise ValueError(f"unknown option {key!r} in a redis+sentinel:// URL (known: "
                             f"{', '.join(FLOATS + TEXTS + SENTINEL_OPTIONS)})")
    if sentinel_tls:
        address.sentinel["ssl"] = True
    else:  # the certificate options apply to TLS connections only
        for key in TEXTS:
            address.sentinel.pop(key, None)
    if not address.tls:
        for key in TEXTS:
            address.node.pop(key, None)


class _Following:
    """What hueyd adds to redis-py's Sentinel-managed connection: the pool hears of each
    master reached, and a master demoted under a blocking take means "reconnect" on
    every redis-py (4.3 returns ``UNBLOCKED`` as a plain error reply)."""

    follower: FollowingPool | None = None

    def connect_to(self, address: tuple[str, int]) -> None:
        super().connect_to(address)  # type: ignore[misc]
        if self.follower is not None:
            self.follower.reached((address[0], int(address[1])))

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().read_response(*args, **kwargs)  # type: ignore[misc]
        except ResponseError as exc:
            if not str(exc).startswith(DEMOTED):
                raise
            self.disconnect()  # type: ignore[attr-defined]
            raise RedisConnectionError("the master was demoted under a blocking "
                                       "command") from exc


class FollowingConnection(_Following, SentinelManagedConnection):
    pass


class FollowingSSLConnection(_Following, SentinelManagedSSLConnection):
    pass


class FollowingPool(SentinelConnectionPool):
    """A Sentinel-managed pool that asks the Sentinels at most once a second where the
    master is (``generation`` counts the masters seen: a connection kept open across a
    change must be replaced), and says once when it loses the master and when it
    reaches one again."""

    def __init__(self, address: SentinelAddress, **params: Any) -> None:
        for key in FLOATS:  # a Sentinel that does not answer must not hang the caller
            address.sentinel.setdefault(key, params.get(key) or SENTINEL_TIMEOUT)
        manager = Sentinel(address.sentinels, sentinel_kwargs=address.sentinel)
        kind = FollowingSSLConnection if address.tls else FollowingConnection
        params.pop("ssl", None)
        super().__init__(address.service, manager, connection_class=kind,
                         db=address.db, **{**params, **address.node})
        self.where = (f"sentinel service {address.service} via "
                      f"{','.join(f'{h}:{p}' for h, p in address.sentinels)}/{address.db}")
        self.master: tuple[str, int] | None = None
        self.failing = False
        self.generation = 0
        self._next_confirm = 0.0
        self._lock = threading.Lock()  # the threads of a process share the pool

    def make_connection(self) -> Any:
        conn = super().make_connection()
        conn.follower = self
        return conn

    def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        self.confirm()
        return super().get_connection(*args, **kwargs)

    # the parent's: redis-py 4.x requires a command name, later releases deprecate it
    get_connection.__signature__ = inspect.signature(  # type: ignore[attr-defined]
        SentinelConnectionPool.get_connection)

    def confirm(self) -> int:
        """The current ``generation``, after asking the Sentinels if a second has passed
        (redis-py then closes the idle connections to a master that is no longer one).
        Sentinels that do not answer change nothing: the connections show the outage."""
        now = time.monotonic()
        if now < self._next_confirm:
            return self.generation
        with self._lock:
            if now < self._next_confirm:
                return self.generation
            self._next_confirm = now + CONFIRM_EVERY
        try:
            address = self.get_master_address()
        except (RedisConnectionError, RedisTimeoutError, ResponseError):
            return self.generation
        self.reached((address[0], int(address[1])), connected=False)
        return self.generation

    def lost(self, exc: BaseException) -> str:
        """Called for each connection error: logs ``failing over`` the first time; the
        words that start the caller's error line."""
        with self._lock:
            first, self.failing = not self.failing, True
        if first:
            master = "{}:{}".format(*self.master) if self.master else "unknown"
            logger.warning("failing over: lost the master of %s (last at %s: %s); "
                           "asking the Sentinels for the new one", self.service_name,
                           master, exc)
        return "failing over: "

    def reached(self, address: tuple[str, int], connected: bool = True) -> None:
        """The Sentinels name ``address`` (``connected``: and a connection to it opened)."""
        with self._lock:
            moved = self.master is not None and address != self.master
            news = moved or (self.failing and connected)
            if moved:
                self.generation += 1
            self.master = address
            if news:
                self.failing = False
        if news:
            logger.warning("failed over: the master of %s is %s:%d%s", self.service_name,
                           *address, " (a new one)" if moved else " (the same)")


def sentinel_pool(url: str, params: dict[str, Any]) -> FollowingPool:
    """The pool for ``url`` with hueyd's connection ``params``."""
    return FollowingPool(parse(url), **params)
