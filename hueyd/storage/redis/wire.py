"""A worker's round trip, packed by hand: the few commands of an acknowledgement
and a take, written in one piece and read back in order.

Why: redis-py's ``Pipeline`` builds objects, encodes every argument through its
``Encoder`` and runs a response callback per reply. For the three commands of a
worker's steady state that costs about 140 µs of CPU per task (measured: 190 µs
per round trip with a pipeline, 50 µs packed here), more than everything else a
no-op task does. Only the packing is ours: the connection comes from the pool and
replies are read by the connection's own parser, so authentication, TLS and
hiredis stay redis-py's.

Each thread (or greenlet) keeps the connection of its exchanges checked out
between them: no pool lock and no "has the connection unread data" probe (a
system call on redis-py 4) per task. An exchange started while that connection
is busy with another (a task's own storage call during a take ahead) uses a
pooled one. A forked child never uses its parent's.
"""
from __future__ import annotations

import hashlib
import inspect
import os
import threading
import weakref
from collections.abc import Sequence
from typing import Any

import redis
from redis.exceptions import NoScriptError, ResponseError

Arg = bytes | str | int | float


def pack(*args: Arg) -> bytes:
    """One command in RESP: an array of bulk strings."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, str):
            arg = arg.encode()
        elif not isinstance(arg, bytes):
            arg = repr(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
    return b"".join(parts)


class Script:
    """A Lua script run by its SHA1; its text is sent only when the server lacks it
    (after a restart or SCRIPT FLUSH), so the common case packs 40 bytes."""

    __slots__ = ("text", "sha")

    def __init__(self, text: str) -> None:
        self.text = text
        self.sha = hashlib.sha1(text.encode()).hexdigest()


class Batch:
    """Commands sent in one write (or a few, see :meth:`send_more`), replies read in
    order (no MULTI: a pipeline)."""

    __slots__ = ("_parts", "_count", "_scripts", "_sent")

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._count = 0  # commands (a part packed beforehand may hold several)
        self._scripts: dict[int, tuple] = {}  # reply index -> what to EVAL on NOSCRIPT
        self._sent = (0, 0)  # parts, commands written so far

    def __len__(self) -> int:
        return self._count

    def command(self, *args: Arg) -> None:
        self._parts.append(pack(*args))
        self._count += 1

    def packed(self, commands: bytes, count: int = 1) -> None:
        """``count`` commands packed beforehand (ones whose arguments never change)."""
        self._parts.append(commands)
        self._count += count

    def packed_commands(self) -> bytes:
        """Every command so far, packed (for :meth:`packed`)."""
        if self._scripts:
            raise ValueError("a script's fallback cannot be packed ahead")
        return b"".join(self._parts)

    def script(self, script: Script, keys: Sequence[Arg], args: Sequence[Arg]) -> None:
        self._scripts[self._count] = ("EVAL", script.text, len(keys), *keys, *args)
        self.command("EVALSHA", script.sha, len(keys), *keys, *args)

    def execute(self, pool: redis.ConnectionPool) -> list[Any]:
        """Every reply, in order; the first error reply is raised once all are read."""
        return self.collect(self.send(pool))

    def send(self, pool: redis.ConnectionPool) -> Exchange:
        """Write the commands now; :meth:`collect` reads the replies later."""
        self._sent = (len(self._parts), self._count)
        return Exchange(pool, self._parts, self._count)

    def send_more(self, sent: Exchange) -> None:
        """Write the commands added since on the same connection, replies still unread:
        :meth:`collect` then reads them all."""
        parts, count = self._sent
        sent.more(self._parts[parts:], self._count - count)
        self._sent = (len(self._parts), self._count)

    def collect(self, sent: Exchange) -> list[Any]:
        """The replies of ``sent``, as :meth:`execute` returns them."""
        pool, replies = sent.pool, sent.replies()
        missing = [i for i in self._scripts if isinstance(replies[i], NoScriptError)]
        if missing:
            evals = [pack(*self._scripts[i]) for i in missing]
            for i, reply in zip(missing, exchange(pool, evals)):
                replies[i] = reply
        for reply in replies:
            if isinstance(reply, ResponseError):
                raise reply
        return replies


class Exchange:
    """Commands written in one piece on a pooled connection, their replies not read
    yet. The connection stays checked out until :meth:`replies` (or :meth:`drop`); one
    whose exchange did not complete is closed, never handed to the next caller with
    replies pending."""

    __slots__ = ("pool", "conn", "count", "own")

    def __init__(self, pool: redis.ConnectionPool, commands: list[bytes],
                 count: int | None = None) -> None:
        self.pool, self.count = pool, len(commands) if count is None else count
        self.own: _Own | None = _own(pool)
        if self.own is not None:
            self.own.busy = True
            self.conn: Any = self.own.conn
        else:
            self.conn = checkout(pool)
        try:
            self.conn.send_packed_command([b"".join(commands)])
        except BaseException:
            self.drop()
            raise

    def more(self, commands: list[bytes], count: int) -> None:
        """Write more commands behind those whose replies are not read yet."""
        if self.conn is None:
            raise redis.ConnectionError("the exchange was dropped before its replies came")
        try:
            self.conn.send_packed_command([b"".join(commands)])
        except BaseException:
            self.drop()
            raise
        self.count += count

    def replies(self) -> list[Any]:
        """One reply per command; error replies are returned, not raised."""
        if self.conn is None:
            raise redis.ConnectionError("the exchange was dropped before its replies came")
        complete = False
        try:
            replies: list[Any] = []
            for _ in range(self.count):
                try:
                    replies.append(self.conn.read_response(disable_decoding=True))
                except ResponseError as exc:
                    replies.append(exc)
            complete = True
            return replies
        finally:
            self._release(complete)

    def drop(self) -> None:
        """Give up on the replies: the connection is closed."""
        if self.conn is not None:
            self._release(False)

    def _release(self, clean: bool) -> None:
        conn, self.conn = self.conn, None
        own = self.own
        if own is not None and clean:
            own.busy = False
            return
        if own is not None:  # broken: this thread gets another one next time
            del _local.own[id(self.pool)]
        if not clean:
            conn.disconnect()
        self.pool.release(conn)


class _Own:
    """The connection a thread keeps for its exchanges with one pool (of one generation:
    a pool that follows a Sentinel or Cluster failover counts the masters it has seen)."""

    __slots__ = ("conn", "pid", "busy", "pool", "generation")

    def __init__(self, pool: redis.ConnectionPool, generation: int) -> None:
        self.conn, self.pid, self.busy = checkout(pool), os.getpid(), False
        self.pool = weakref.ref(pool)  # ids are reused once a pool is gone
        self.generation = generation


_local = threading.local()  # greenlet-local once gevent has patched threading


def _own(pool: redis.ConnectionPool) -> _Own | None:
    """This thread's connection to ``pool``; None if it is busy with another exchange."""
    try:
        owned = _local.own
    except AttributeError:
        owned = _local.own = {}
    own = owned.get(id(pool))
    if own is not None and (own.pid != os.getpid() or own.pool() is not pool):
        own = None  # a forked child's, or a pool that is gone
    confirm = getattr(pool, "confirm", None)
    generation = 0 if confirm is None else confirm()
    if own is not None and own.generation != generation:
        if own.busy:
            return None  # replaced once its exchange is over
        own.conn.disconnect()  # it talks to a master that is no longer one
        pool.release(own.conn)
        own = None
    if own is None:
        own = owned[id(pool)] = _Own(pool, generation)
    return None if own.busy else own


def exchange(pool: redis.ConnectionPool, commands: list[bytes]) -> list[Any]:
    """Send ``commands`` and read their replies (error replies returned, not raised)."""
    return Exchange(pool, commands).replies()


_NAMES_COMMAND: dict[type, bool] = {}


def checkout(pool: redis.ConnectionPool) -> Any:
    """A connection from ``pool``. redis-py 4.x requires a command name here; since
    5.3 passing one is deprecated (a warning per call)."""
    kind = type(pool)
    needs_name = _NAMES_COMMAND.get(kind)
    if needs_name is None:
        param = inspect.signature(pool.get_connection).parameters.get("command_name")
        needs_name = param is not None and param.default is inspect.Parameter.empty
        _NAMES_COMMAND[kind] = needs_name
    return pool.get_connection("PIPELINE") if needs_name else pool.get_connection()
