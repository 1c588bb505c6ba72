"""``redis+sentinel://`` URLs: a pool whose every new connection asks the Sentinels
where the master is, so that a failover is followed by reconnecting.

``redis+sentinel://[[USER]:PASSWORD@]HOST1:26379,HOST2:26379/SERVICE[/DB][?OPTIONS]``
(``rediss+sentinel://``: TLS to the data nodes and the Sentinels). The password is the
data nodes'; the Sentinels' own goes in ``sentinel_password=`` (and
``sentinel_username=``); the data nodes' may also go in ``password=``, ``username=``. Other
options: ``socket_timeout``, ``socket_connect_timeout``, ``sentinel_tls`` (0/1, default: as
the scheme), ``ssl_ca_certs``, ``ssl_certfile``, ``ssl_keyfile``, ``ssl_cert_reqs``.

How a failover is followed (redis-py 4.3 and current releases): a connection refused,
reset or timed out, a ``READONLY`` reply (the old master came back as a replica) and an
``UNBLOCKED`` reply (a master demoted under a blocking take) all close the connection;
the caller backs off (:class:`~hueyd.storage.errors.StorageError`) and its next
connection asks the Sentinels again. The log says ``failing over`` once when the
master is lost and once when a master answers again.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.sentinel import (
    Sentinel,
    SentinelConnectionPool,
    SentinelManagedConnection,
    SentinelManagedSSLConnection,
)

from hueyd.storage.redis.follow import CREDENTIALS, FLOATS, TEXTS, Follower, split_hosts

SCHEMES = ("redis+sentinel://", "rediss+sentinel://")
#: query options and how to read them
SENTINEL_OPTIONS = ("sentinel_password", "sentinel_username", "sentinel_tls")
#: the reply to a blocking command whose server turned from master into replica
DEMOTED = "UNBLOCKED"
#: seconds to wait for one Sentinel (the next is asked after it)
SENTINEL_TIMEOUT = 1.0



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


def parse(url: str) -> SentinelAddress:
    """The Sentinels, the service and the options of ``url``; ValueError (naming the
    part, never the password) for one that does not parse."""
    url_parts = split_hosts(url, 26379, "Sentinel")
    address = SentinelAddress(url_parts.hosts, "", tls=url_parts.tls)
    service, _, db = url_parts.path.strip("/").partition("/")
    if not service:
        raise ValueError("redis+sentinel:// needs the service name: .../SERVICE[/DB]")
    address.service = unquote(service)
    try:
        address.db = int(db) if db else 0
    except ValueError:
        raise ValueError(f"the database after the service is not a number: {db!r}") from None
    address.node.update(url_parts.credentials)
    _options(address, parse_qsl(url_parts.query, keep_blank_values=True))
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
        elif key in CREDENTIALS:
            address.node[key] = value
        else:
            raise ValueError(f"unknown option {key!r} in a redis+sentinel:// URL (known: "
                             f"{', '.join(FLOATS + TEXTS + CREDENTIALS + SENTINEL_OPTIONS)})")
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


class FollowingPool(Follower, SentinelConnectionPool):
    """A Sentinel-managed pool that follows the master (see :class:`Follower`)."""

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
        self.start_following(f"the master of {address.service}", "the Sentinels")

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

    def locate(self) -> tuple[str, int]:
        """The Sentinels' answer (redis-py then closes the idle connections to a master
        that is no longer one)."""
        return self.get_master_address()


def sentinel_pool(url: str, params: dict[str, Any]) -> FollowingPool:
    """The pool for ``url`` with hueyd's connection ``params``."""
    return FollowingPool(parse(url), **params)
