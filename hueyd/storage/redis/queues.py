"""The queue of a Redis storage (one of its parts): a FIFO list, or a sorted set by
priority. Each knows how to push, how a taken entry becomes a :class:`Message`, and
the Lua ``push`` functions every script that puts a message back starts with.

A list is taken from with BLMOVE, which rides in the worker's batch (see
:meth:`ListQueue.packed_take`); a sorted set is taken from with a script that may
have to wait for a wake-up token first, so it is a round trip of its own
(:meth:`PriorityQueue.take`).
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import hueyd.storage.redis.lease_scripts as lease_lua
import hueyd.storage.redis.scripts as lua
from hueyd.storage.base import Message
from hueyd.storage.redis.client import translate_errors
from hueyd.storage.redis.push import Pusher, lpush
from hueyd.storage.redis.server import Part, Server
from hueyd.storage.redis.wire import Batch


class InFlight(NamedTuple):
    """Receipt of a Redis message: its entry in the in-flight list ``held_in``, and
    its priority."""

    entry: bytes
    priority: float = 0
    held_in: str = ""


class ListQueue(Part):
    """huey's RedisStorage queue: LPUSH at the tail, taken from the head (right) into
    the in-flight list; ``priority`` is ignored."""

    push_lua = lua.LIST_PUSH
    #: the take is a plain command that can share a batch with acknowledgements
    batched = True

    def __init__(self, server: Server) -> None:
        super().__init__(server)
        self._takes: dict[tuple[str, float, int], bytes] = {}  # (holder, wait, n) -> packed
        self._key = self.keys.queue.encode()
        self._pusher = Pusher(self.pool)

    def enqueue(self, data: bytes, priority: int | None = None) -> None:
        self.push((data,))

    def enqueue_many(self, messages: Sequence[tuple[bytes, int | None]]) -> None:
        """One LPUSH of every message, in order (the first pushed is the first taken)."""
        if messages:
            self.push([data for data, _ in messages])

    @translate_errors
    def push(self, data: Sequence[bytes]) -> None:
        """One LPUSH packed by hand (:mod:`~hueyd.storage.redis.push`) on the kept
        connection, and the WAIT of a durable storage behind it: one write, one round
        trip."""
        packed, waits = self._packed(data)
        self._pushed(self._pusher.exchange(packed, 2 if waits else 1), waits)

    @translate_errors
    def send_many(self, messages: Sequence[tuple[bytes, int | None]]) -> Callable[[], None]:
        """:meth:`push` in two halves (see :meth:`Storage.send_many`)."""
        packed, waits = self._packed([data for data, _ in messages])
        return functools.partial(self._confirm, self._pusher.send(packed, 2 if waits else 1),
                                 waits)

    @translate_errors
    def _confirm(self, replies: Callable[[], list[Any]], waits: bool) -> None:
        self._pushed(replies(), waits)

    def _packed(self, data: Sequence[bytes]) -> tuple[bytes, bool]:
        packed, durability = lpush(self._key, data), self.durability
        waits = durability.waits(self.conn)
        return (packed + durability.packed_wait if waits else packed), waits

    def _pushed(self, replies: list[Any], waits: bool) -> None:
        """Raise the first error reply; log a write fewer replicas confirmed than asked."""
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        if waits:
            self.durability.confirmed(replies[1], "an enqueue")

    def packed_take(self, held: str, wait: float, count: int) -> bytes:
        """``count`` moves from the queue into ``held`` (blocking ``wait`` seconds if not
        0), packed once per holder: a holder's takes never change."""
        packed = self._takes.get((held, wait, count))
        if packed is None:
            move: tuple = (("BLMOVE", self.keys.queue, held, "RIGHT", "LEFT", wait) if wait
                           else ("LMOVE", self.keys.queue, held, "RIGHT", "LEFT"))
            take = Batch()
            for _ in range(count):  # each move is atomic; past the queue's end they move nil
                take.command(*move)
            packed = self._takes[(held, wait, count)] = take.packed_commands()
        return packed

    def message(self, entry: bytes, held: str, revocations: int | None = None) -> Message:
        return Message(entry, InFlight(entry, 0, held), revocations)

    @translate_errors
    def size(self) -> int:
        return self.conn.llen(self.keys.queue)

    @translate_errors
    def items(self, limit: int | None = None) -> list[bytes]:
        start = -limit if limit else 0
        return self.conn.lrange(self.keys.queue, start, -1)[::-1]


class PriorityQueue(Part):
    """A sorted set: higher priority first, FIFO within a priority (Redis >= 5)."""

    push_lua = lua.PRIORITY_PUSH
    batched = False

    def __init__(self, server: Server) -> None:
        super().__init__(server)
        self._enqueue = self.conn.register_script(lua.queue_script(self.push_lua, lua.ENQUEUE))
        self._enqueue_many = self.conn.register_script(
            lua.queue_script(self.push_lua, lua.ENQUEUE_MANY))
        self._take = self.conn.register_script(
            lua.queue_script(self.push_lua, lease_lua.PRIORITY_TAKE))

    @translate_errors
    def enqueue(self, data: bytes, priority: int | None = None) -> None:
        args = [data, repr(priority or 0)]
        self.durability.run(
            self.conn, lambda c: self._enqueue(keys=self.keys.queue_keys(), args=args, client=c),
            "an enqueue")

    @translate_errors
    def enqueue_many(self, messages: Sequence[tuple[bytes, int | None]]) -> None:
        """One script call pushes them all (atomic: all or none)."""
        if messages:
            args = [arg for data, priority in messages for arg in (data, repr(priority or 0))]
            self.durability.run(self.conn, lambda c: self._enqueue_many(
                keys=self.keys.queue_keys(), args=args, client=c), "an enqueue")

    def take(self, held: str, wait: float) -> bytes | None:
        """Take the best message with a script; when there is none, wait up to ``wait``
        seconds (0: not at all) for a wake-up token (BLPOP) and try once more. A
        spurious wake-up returns None."""
        keys = [*self.keys.queue_keys(), held]
        entry = self._take(keys=keys)
        if entry is None and wait:
            if self.conn.blpop([self.keys.wake], wait):
                entry = self._take(keys=keys)
        return entry

    def message(self, entry: bytes, held: str, revocations: int | None = None) -> Message:
        score, member = entry.split(b":", 1)
        return Message(member[lua.PRIORITY_PREFIX_LEN:],
                       InFlight(entry, -float(score) or 0, held), revocations)

    @translate_errors
    def size(self) -> int:
        return self.conn.zcard(self.keys.queue)

    @translate_errors
    def items(self, limit: int | None = None) -> list[bytes]:
        members = self.conn.zrange(self.keys.queue, 0, limit - 1 if limit else -1)
        return [m[lua.PRIORITY_PREFIX_LEN:] for m in members]
