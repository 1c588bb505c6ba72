"""``redis+cluster://`` URLs: a pool that talks to the one master owning the storage's slot.

``redis+cluster://[[USER]:PASSWORD@]HOST1:7000,HOST2:7001[?OPTIONS]`` (``rediss+cluster``:
TLS); options ``password``, ``username``, ``socket_timeout``, ``socket_connect_timeout``,
``ssl_ca_certs``, ``ssl_certfile``, ``ssl_keyfile``, ``ssl_cert_reqs``.

Every key of a storage is ``hueyd:{NAME}:...``: one hash tag, one slot, one master.
So a storage needs no cluster client (redis-py's ``RedisCluster`` differs between 4.3
and current releases in its pipelines and scripts): it asks any node ``CLUSTER SLOTS``
which master serves its slot and keeps a plain pool to it, so the worker's hand-packed
round trips, the scripts and ``SCAN`` work unchanged (a storage's keys all live on
that node). A queue lives on one shard; Cluster spreads queues, not one queue.

After a failover the connections fail, or a node answers ``MOVED``/``CLUSTERDOWN``/
``TRYAGAIN``: the caller backs off (StorageError) and the pool asks the cluster again
(and once a second in any case, see :class:`~hueyd.storage.redis.follow.Follower`).
"""
from __future__ import annotations

import inspect
from typing import Any
from urllib.parse import parse_qsl

import redis
from redis.crc import key_slot
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from hueyd.storage.redis.follow import CREDENTIALS, FLOATS, TEXTS, Follower, split_hosts

SCHEMES = ("redis+cluster://", "rediss+cluster://")


def is_cluster_url(url: str | None) -> bool:
    return bool(url) and url.lower().startswith(SCHEMES)  # type: ignore[union-attr]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class SlotPool(Follower, redis.ConnectionPool):
    """A pool to the master that serves one slot, re-pointed when the slot moves."""

    def __init__(self, nodes: list[tuple[str, int]], key: str, tls: bool,
                 **params: Any) -> None:
        params.pop("ssl", None)
        kind = redis.SSLConnection if tls else redis.Connection
        super().__init__(connection_class=kind, **{**params, "host": nodes[0][0],
                                                   "port": nodes[0][1]})
        self.nodes = list(nodes)
        self.slot = key_slot(key.encode())
        self.where = (f"cluster slot {self.slot} via "
                      f"{','.join(f'{h}:{p}' for h, p in nodes)}")
        self.start_following(f"the master of slot {self.slot}", "the cluster")

    def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        self.confirm()
        return super().get_connection(*args, **kwargs)

    # the parent's: redis-py 4.x requires a command name, later releases deprecate it
    get_connection.__signature__ = inspect.signature(  # type: ignore[attr-defined]
        redis.ConnectionPool.get_connection)

    def locate(self) -> tuple[str, int]:
        """Ask the nodes, the current master first, which master serves the slot."""
        candidates = [*([self.master] if self.master else []), *self.nodes]
        for host, port in dict.fromkeys(candidates):
            try:
                ranges = self._ask(host, port)
            except RedisError:
                continue
            for first, last, master, *_ in ranges:
                if int(first) <= self.slot <= int(last):
                    return _text(master[0]) or host, int(master[1])
        raise RedisConnectionError(f"no cluster node names a master for slot {self.slot}")

    def _ask(self, host: str, port: int) -> list:
        conn = self.connection_class(**{**self.connection_kwargs, "host": host, "port": port})
        try:
            conn.send_command("CLUSTER", "SLOTS")
            return conn.read_response()
        finally:
            conn.disconnect()

    def moved(self, address: tuple[str, int]) -> None:
        """New connections go to ``address``; idle ones are closed and pointed there; one
        in use is closed when it comes back (:meth:`owns_connection`)."""
        self.connection_kwargs["host"], self.connection_kwargs["port"] = address
        with self._lock:
            for conn in self._available_connections:
                conn.disconnect()
                conn.host, conn.port = address

    def owns_connection(self, connection: Any) -> bool:
        here = (self.connection_kwargs["host"], self.connection_kwargs["port"])
        return super().owns_connection(connection) and (connection.host,
                                                        connection.port) == here


def cluster_pool(url: str, params: dict[str, Any], key: str) -> SlotPool:
    """The pool for ``url`` serving ``key``'s slot, with hueyd's connection ``params``."""
    parts = split_hosts(url, 6379, "cluster node")
    if parts.path.strip("/") not in ("", "0"):
        raise ValueError("redis+cluster:// has database 0 only: no /DB after the nodes")
    options: dict[str, Any] = {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name in FLOATS:
            try:
                options[name] = float(value)
            except ValueError:
                raise ValueError(f"{name} is not a number: {value!r}") from None
        elif name in TEXTS and parts.tls or name in CREDENTIALS:
            options[name] = value
        else:
            raise ValueError(f"unknown option {name!r} in a redis+cluster:// URL (known: "
                             f"{', '.join(FLOATS + TEXTS + CREDENTIALS)})")
    params.pop("db", None)
    return SlotPool(parts.hosts, key, parts.tls, **{**params, **parts.credentials, **options})
