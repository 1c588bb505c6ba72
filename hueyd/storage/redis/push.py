"""A producer's enqueue packed by hand: one LPUSH (and a WAIT when durable) written in
one piece on a connection the process keeps for its enqueues.

Why: through redis-py a sequential ``task()`` call spends more CPU in the client than
in everything else it does (packing through the Encoder, the pool's lock, the pool's
"has the connection unread data" probe, three system calls on redis-py 4, and a
response callback): ~60 µs per call against ~35 µs packed here. Only the packing is
ours: the connection, its authentication, TLS and reply parser stay redis-py's.

One connection per storage and process, kept between enqueues under a lock, not one
per thread as a worker keeps (:mod:`~hueyd.storage.redis.wire`): a producer may be a
web server starting a thread or greenlet per request, and each would hold a socket for
good. A caller that finds it busy borrows one from the pool for that call. What the
pool checks before it hands a connection out is kept: a forked child opens its own; a
pool that follows its master (Sentinel, Cluster) is asked whom it follows (at most once
a second) and a connection to a former master is closed; and before each write the
socket is asked whether it has anything to read (one ``poll``, where the pool's
probe makes three system calls): a connection the server closed meanwhile (it
restarted, or its ``timeout`` dropped idle clients) is replaced, not written to.
"""
from __future__ import annotations

import functools
import os
import select
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

import redis
from redis.exceptions import ResponseError

from hueyd.storage.redis.wire import checkout


def lpush(key: bytes, messages: Sequence[bytes]) -> bytes:
    """``LPUSH key m1 m2 ...`` in RESP (``key`` already encoded)."""
    parts = [b"*%d\r\n$5\r\nLPUSH\r\n$%d\r\n%s\r\n" % (len(messages) + 2, len(key), key)]
    parts += [b"$%d\r\n%s\r\n" % (len(m), m) for m in messages]
    return b"".join(parts)


def talk(conn: Any, packed: bytes, count: int) -> list[Any]:
    """Write ``packed`` (``count`` commands; nothing: written before) and read every
    reply; error replies are returned. A connection whose exchange did not complete is
    closed."""
    try:
        if packed:
            conn.send_packed_command([packed])
        replies: list[Any] = []
        for _ in range(count):
            try:
                replies.append(conn.read_response(disable_decoding=True))
            except ResponseError as exc:
                replies.append(exc)
        return replies
    except BaseException:
        conn.disconnect()
        raise


class Pusher:
    """The kept connection of one storage's pool in this process."""

    __slots__ = ("pool", "lock", "conn", "pid", "generation")

    def __init__(self, pool: redis.ConnectionPool) -> None:
        self.pool = pool
        self.lock = threading.Lock()
        self.conn: Any = None
        self.pid, self.generation = 0, 0

    def exchange(self, packed: bytes, count: int) -> list[Any]:
        """The replies to the ``count`` commands in ``packed``, in order."""
        if not self.lock.acquire(blocking=False):  # another thread is enqueueing
            conn = checkout(self.pool)
            try:
                return talk(conn, packed, count)
            finally:
                self.pool.release(conn)
        try:
            return talk(self._kept(), packed, count)
        finally:
            self.lock.release()

    def send(self, packed: bytes, count: int) -> Callable[[], list[Any]]:
        """Write ``packed`` on a connection from the pool; the call returned reads the
        replies and gives the connection back (a bulk enqueue's batch: one checkout per
        batch, the kept connection stays free for the calls in between)."""
        conn = checkout(self.pool)
        try:
            conn.send_packed_command([packed])
        except BaseException:
            conn.disconnect()
            self.pool.release(conn)
            raise

        def replies() -> list[Any]:
            try:
                return talk(conn, b"", count)
            finally:
                self.pool.release(conn)
        return replies

    def _kept(self) -> Any:
        """The kept connection, replaced when forked, followed elsewhere, or closed."""
        confirm = getattr(self.pool, "confirm", None)
        generation = 0 if confirm is None else confirm()
        conn = self.conn
        if conn is not None and self.pid != os.getpid():
            conn = None  # the parent's: never touched here
        elif conn is not None and (generation != self.generation or readable(conn)):
            conn.disconnect()
            self.pool.release(conn)
            conn = None
        if conn is None:
            conn = self.conn = checkout(self.pool)  # the pool's own checks
            self.pid, self.generation = os.getpid(), generation
        return conn


def readable(conn: Any) -> bool:
    """Whether an idle connection's socket has something to read: the server closed it,
    or sent what nobody asked for. Either way it is not written to."""
    sock = getattr(conn, "_sock", None)
    if sock is None:
        return False  # not connected: the write connects
    try:
        poller = _poll()()  # not select(): a web server's sockets may pass fd 1024
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))  # readable, hung up or failed
    except (OSError, ValueError):
        return True


@functools.cache
def _poll() -> Any:
    """``select.poll`` as the system has it: a zero timeout never blocks, and gevent's
    own (after its monkey-patching) costs ~60 µs a call, a third of the enqueue."""
    monkey = sys.modules.get("gevent.monkey")
    if monkey is not None and monkey.is_module_patched("select"):
        return monkey.get_original("select", "poll")
    return select.poll


class Enqueues:
    """A Redis storage's enqueue side, written by its queue part (RedisStorage mixes it
    in ahead of the Storage contract): a FIFO list packs by hand, a sorted set runs a
    script and writes a bulk enqueue at once."""

    queue: Any

    def enqueue(self, data: bytes, priority: int | None = None) -> None:
        self.queue.enqueue(data, priority)

    def enqueue_many(self, messages: Sequence[tuple[bytes, int | None]]) -> None:
        self.queue.enqueue_many(messages)  # one command or script: one round trip

    def send_many(self, messages: Sequence[tuple[bytes, int | None]]) -> Callable[[], None]:
        send = getattr(self.queue, "send_many", None)
        if send is None:
            return super().send_many(messages)  # type: ignore[misc]
        return send(messages)
