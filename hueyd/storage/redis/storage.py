"""Redis backends, each an assembly of parts: a queue (:mod:`~hueyd.storage.redis.queues`:
a FIFO list or a sorted set by priority) and a value store
(:mod:`~hueyd.storage.redis.values`: one hash, or expiring string keys), around the
consumer leases (:mod:`~hueyd.storage.redis.leases`). RedisStorage (list, hash),
PriorityRedisStorage (sorted set), RedisExpireStorage (results expire) and
PriorityRedisExpireStorage (both) differ only in the parts they name.

All keys of a storage are ``hueyd:{<name>}:<part>`` (see
:class:`~hueyd.storage.redis.scripts.RedisKeys`): queue, schedule (sorted set
scored by due time), kv (hash), dead (list), and the consumers' leases and
in-flight lists (:mod:`hueyd.storage.redis.leases`).

At-least-once delivery: ``dequeue`` moves a message atomically into an
in-flight list of its consumer (one per thread or greenlet; BLMOVE, or a script
for the priority queue), ``ack`` removes it (one round trip), and a consumer
that dies leaves it there until a live consumer's recovery pushes it back to the
queue. Workers wait inside ``dequeue(timeout)`` on the server: no polling. The
receipt (:class:`InFlight`) names the entry and its list. Needs Redis >= 6.2.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar, NamedTuple

import redis

import hueyd.storage.redis.scripts as lua
from hueyd.storage.base import DeadLetter, Message, PendingTake
from hueyd.storage.leased import LeasedStorage
from hueyd.storage.leases import DEFAULT_LEASE_TIMEOUT, DEFAULT_MAX_DELIVERIES
from hueyd.storage.redis import probe
from hueyd.storage.redis.client import block_seconds, build_pool, describe, translate_errors
from hueyd.storage.redis.durable import split_url
from hueyd.storage.redis.leases import RedisLeases
from hueyd.storage.redis.push import Enqueues
from hueyd.storage.redis.queues import InFlight, ListQueue, PriorityQueue
from hueyd.storage.redis.server import Server
from hueyd.storage.redis.values import ExpiringValues, HashCounters, HashValues
from hueyd.storage.redis.wire import Batch

#: how many schedule entries one script call moves; each batch is atomic
SCHEDULE_BATCH = 1000


class _Take(NamedTuple):
    """Where a take sits in its batch: the holder's list, the index of its first reply,
    how many messages it takes, and whether the revocation count follows them."""

    held: str
    skip: int
    counted: bool
    count: int = 1


class _Ahead(PendingTake):
    """Acknowledgements and at most one take, written on the holder's connection as
    they come (one batch, one exchange), their replies read together by ``collect``."""

    def __init__(self, storage: RedisStorage, held: str) -> None:
        self.storage, self.held = storage, held
        self.batch, self.sent = Batch(), None
        self.take: _Take | None = None
        self.receipts: list[InFlight] = []  # acknowledged once the replies are read

    @property
    def taking(self) -> bool:
        return self.take is not None

    def send(self) -> None:
        """Write what was added since the last send."""
        if self.sent is None:
            self.sent = self.batch.send(self.storage.pool)
        else:
            self.batch.send_more(self.sent)

    def collect(self) -> list[Message]:
        return self.storage._collect_ahead(self)

    def drop(self) -> None:
        if self.sent is not None:
            self.sent.drop()
        self.storage.leases.suspects.add(self.held)


__all__ = ["InFlight", "PriorityRedisExpireStorage", "PriorityRedisStorage",
           "RedisExpireStorage", "RedisStorage"]


class RedisStorage(Enqueues, LeasedStorage):
    """huey's RedisStorage: a list for the queue, FIFO; a ``priority`` is refused.

    ``lease_timeout``: seconds a consumer that stopped renewing keeps its
    in-flight messages; ``max_deliveries``: how many times a message may go down
    with its consumer before it is set aside as a dead letter.
    """

    priority = False  # huey's flag: PriorityRedisStorage orders by priority
    #: the parts a variant is assembled from
    queue_kind: ClassVar[type[ListQueue | PriorityQueue]] = ListQueue
    values_kind: ClassVar[type[HashValues | ExpiringValues]] = HashValues

    def __init__(self, name: str = "huey", blocking: bool = True, read_timeout: float = 1,
                 connection_pool: redis.ConnectionPool | None = None, url: str | None = None,
                 client_name: str | None = None, notify_result: bool = False,
                 notify_result_ttl: float = 60, clean_name: bool = True,
                 lease_timeout: float = DEFAULT_LEASE_TIMEOUT,
                 max_deliveries: int = DEFAULT_MAX_DELIVERIES,
                 **connection_params: Any) -> None:
        # notify_result, notify_result_ttl and clean_name are huey's, accepted so an
        # app ports unchanged: results are polled and keys are hueyd's own.
        super().__init__(name)
        options = {key: connection_params.pop(key, default)
                   for key, default in self.values_kind.OPTIONS.items()}
        self.blocking = blocking
        #: the wait a worker should pass to ``dequeue`` (huey's BRPOP timeout)
        self.read_timeout = read_timeout
        url, self.durability = split_url(url, connection_params)
        self.keys = lua.RedisKeys.for_name(name)
        self.pool, self._owns_pool = build_pool(url, connection_pool, client_name,
                                                connection_params, self.keys.queue)
        self.location = describe(self.pool)
        self.conn = redis.Redis(connection_pool=self.pool)
        server = Server(self.conn, self.pool, self.keys, self.location, self.durability)
        self.queue = self.queue_kind(server)
        self.values = self.values_kind(server, **options)
        self.counters = HashCounters(server, options.get("expire_time"))
        script, push = self.conn.register_script, self.queue.push_lua
        self._pop_due = script(lua.POP_DUE)
        self._move_due = script(lua.queue_script(push, lua.MOVE_DUE))
        self._requeue_dead = script(lua.queue_script(push, lua.REQUEUE_DEAD))
        self._purge_dead = script(lua.PURGE_DEAD)
        self.leases = RedisLeases(server, self.queue, self.values, lease_timeout, max_deliveries)

    # -- lifecycle -------------------------------------------------------------
    def close(self) -> None:
        """Drop this process's connections (a pool passed in by the app is left alone)."""
        if self._owns_pool:
            self.pool.disconnect()

    @translate_errors
    def ping(self) -> None:
        self.conn.ping()

    @property
    def failing_over(self) -> bool:
        return bool(getattr(self.pool, "failing", False))

    @translate_errors
    def server_warnings(self) -> list[str]:
        return [f"redis at {self.location}: {line}" for line in probe.server_warnings(self.conn)]

    # -- queue: written by push.Enqueues, taken into the holder's in-flight list ----------
    @translate_errors
    def dequeue(self, timeout: float = 0) -> Message | None:
        if self.queue.batched:
            return self._take_next(Batch(), timeout)
        held = self.leases.holder_list()
        entry = self.leases.taken(held, lambda: self.queue.take(held, self._wait(timeout)))
        return None if entry is None else self.queue.message(entry, held)

    @translate_errors
    def finish_and_dequeue(self, message: Message, forget: Sequence[str],
                           timeout: float = 0) -> Message | None:
        """Acknowledge one task and take the next message in one round trip: the ack's
        commands and the BLMOVE share a batch (the server runs them in order). Two
        round trips where the take is a script that may wait for a wake-up token."""
        if not self.queue.batched:
            self.finish(message, forget)
            return self.dequeue(timeout)
        batch = Batch()
        receipt = self.leases.finish_into(batch, message, forget)
        taken = self._take_next(batch, timeout)
        if receipt is not None:
            self.leases.settled(receipt)
        return taken

    def _take_next(self, batch: Batch, timeout: float) -> Message | None:
        """Run ``batch`` with the take appended (BLMOVE into this holder's in-flight list:
        one atomic step on the server) and the revocation count riding along."""
        take = self._add_take(batch, timeout)
        return self._received(take, lambda: batch.execute(self.pool))

    @translate_errors
    def take_ahead(self, finished: Message | None, forget: Sequence[str] = (),
                   count: int = 1, onto: PendingTake | None = None) -> PendingTake | None:
        if not self.queue.batched:
            return None  # the take is a script that may wait for a wake-up token
        ahead = onto if isinstance(onto, _Ahead) else _Ahead(self, self.leases.holder_list())
        if count and ahead.take is not None:
            raise ValueError("a take is already on its way: collect it first")
        if finished is not None:
            receipt = self.leases.finish_into(ahead.batch, finished, forget)
            if receipt is not None:
                ahead.receipts.append(receipt)
        if count:
            ahead.take = self._add_take(ahead.batch, 0, count)
        try:
            ahead.send()
        except BaseException:
            self.leases.suspects.add(ahead.held)
            raise
        return ahead

    def _wait(self, timeout: float) -> float:
        """Seconds a take may block on the server (0: it must not)."""
        blocks = self.blocking and timeout and timeout > 0
        return block_seconds(timeout, self.pool) if blocks else 0

    def _add_take(self, batch: Batch, timeout: float, count: int = 1) -> _Take:
        held, skip = self.leases.holder_list(), len(batch)
        batch.packed(self.queue.packed_take(held, self._wait(timeout), count), count)
        return _Take(held, skip, self.values.count_revocations_into(batch), count)

    def _received(self, take: _Take, run: Callable[[], list[Any]]) -> Message | None:
        """The message among the replies of ``run()`` (which sends or reads the take)."""
        replies: list[Any] = []

        def entry() -> bytes | None:
            replies[:] = run()[take.skip:]
            return replies[0]

        taken = self.leases.taken(take.held, entry)
        if taken is None:
            return None
        return self.queue.message(taken, take.held, replies[1] if take.counted else None)

    @translate_errors
    def _collect_ahead(self, ahead: _Ahead) -> list[Message]:
        take = ahead.take
        try:
            replies = ahead.batch.collect(ahead.sent) if ahead.sent is not None else []
        except BaseException:  # interrupted too: what the take moved may be unknown
            self.leases.suspects.add(ahead.held)
            raise
        for receipt in ahead.receipts:
            self.leases.settled(receipt)
        if take is None:
            return []
        entries = replies[take.skip:take.skip + take.count]
        revocations = replies[take.skip + take.count] if take.counted else None
        given_out = self.leases.given_out
        return [self.queue.message(given_out(take.held, entry), take.held, revocations)
                for entry in entries if entry is not None]

    def queue_size(self) -> int:
        return self.queue.size()

    def enqueued_items(self, limit: int | None = None) -> list[bytes]:
        return self.queue.items(limit)

    @translate_errors
    def flush_queue(self) -> None:
        self.conn.delete(self.keys.queue, self.keys.wake)
        self.leases.flush_in_flight()

    # -- settling a message: the lease part ------------------------------------------------
    def ack(self, message: Message) -> None:
        self.leases.ack(message)

    def finish(self, message: Message, forget: Sequence[str] = ()) -> None:
        self.leases.finish(message, forget)

    def set_aside(self, message: Message, reason: str, ts: float) -> None:
        self.leases.set_aside(message, reason, ts)

    def hand_back(self, message: Message) -> None:
        self.leases.hand_back(message)

    def hand_back_worker(self, pid: int) -> int:
        return self.leases.hand_back_worker(pid)

    # -- key/value: the value store ----------------------------------------------------
    def put_data(self, key: str, value: bytes, is_result: bool = False) -> None:
        self.values.put_data(key, value, is_result)

    def peek_data(self, key: str) -> bytes | None:
        return self.values.peek_data(key)

    def peek_many(self, keys: Iterable[str]) -> list[bytes | None]:
        return self.values.peek_many(keys)

    def pop_data(self, key: str) -> bytes | None:
        return self.values.pop_data(key)

    def put_if_empty(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        return self.values.put_if_empty(key, value, ttl)

    def delete_data(self, key: str) -> bool:
        return self.values.delete_data(key)

    def count_in_window(self, key: str, window: int, amount: int = 1) -> int:
        return self.values.count_in_window(key, window, amount)

    def result_store_size(self) -> int:
        return self.values.result_store_size()

    def result_items(self) -> dict[str, bytes]:
        return self.values.result_items()

    def flush_results(self) -> None:
        self.values.flush_results()

    # -- schedule ----------------------------------------------------------------
    @translate_errors
    def add_to_schedule(self, data: bytes, ts: float, priority: int | None = None) -> None:
        member = b"%s:%s" % (repr(priority or 0).encode(), data)
        self.durability.run(self.conn, lambda c: c.zadd(self.keys.schedule, {member: float(ts)}),
                            "a schedule entry")

    @translate_errors
    def read_schedule(self, ts: float) -> list[bytes]:
        due: list[bytes] = []
        while True:
            batch = self._pop_due(keys=[self.keys.schedule], args=[float(ts), SCHEDULE_BATCH])
            due.extend(lua.scheduled_data(m) for m in batch)
            if len(batch) < SCHEDULE_BATCH:
                return due

    @translate_errors
    def move_due(self, ts: float) -> int:
        keys = [*self.keys.queue_keys(), self.keys.schedule]
        moved = 0
        while True:
            count = self._move_due(keys=keys, args=[float(ts), SCHEDULE_BATCH])
            moved += count
            if count < SCHEDULE_BATCH:
                return moved

    @translate_errors
    def next_scheduled_time(self) -> float | None:
        first = self.conn.zrange(self.keys.schedule, 0, 0, withscores=True)
        return first[0][1] if first else None

    @translate_errors
    def schedule_size(self) -> int:
        return self.conn.zcard(self.keys.schedule)

    @translate_errors
    def scheduled_items(self, limit: int | None = None) -> list[bytes]:
        members = self.conn.zrange(self.keys.schedule, 0, limit - 1 if limit else -1)
        return [lua.scheduled_data(m) for m in members]

    @translate_errors
    def flush_schedule(self) -> None:
        self.conn.delete(self.keys.schedule)

    # -- dead letters --------------------------------------------------------------
    @translate_errors
    def add_dead_letter(self, data: bytes, reason: str, ts: float) -> None:
        self.conn.rpush(self.keys.dead, lua.letter(data, reason, ts))

    @translate_errors
    def dead_letters(self, limit: int | None = None) -> list[DeadLetter]:
        entries = self.conn.lrange(self.keys.dead, 0, limit - 1 if limit else -1)
        return [lua.dead_letter(e) for e in entries]

    @translate_errors
    def dead_letter_count(self) -> int:
        return self.conn.llen(self.keys.dead)

    @translate_errors
    def requeue_dead_letters(self, limit: int | None = None) -> int:
        return self._requeue_dead(keys=[*self.keys.queue_keys(), self.keys.dead],
                                  args=[limit or 0])

    @translate_errors
    def purge_dead_letters(self, limit: int | None = None) -> int:
        return self._purge_dead(keys=[self.keys.dead], args=[limit or 0])


class PriorityRedisStorage(RedisStorage):
    """Queue as a sorted set: higher priority first, FIFO within a priority (Redis >= 5)."""

    priority = True
    queue_kind = PriorityQueue


class RedisExpireStorage(RedisStorage):
    """RedisStorage whose results expire after ``expire_time`` seconds (huey's RedisExpireHuey)."""

    values_kind = ExpiringValues

    def __init__(self, name: str = "huey", expire_time: float = 86400, **kwargs: Any) -> None:
        self.expire_time = expire_time
        super().__init__(name, expire_time=expire_time, **kwargs)


class PriorityRedisExpireStorage(PriorityRedisStorage):
    """Priority queue and expiring results."""

    values_kind = ExpiringValues

    def __init__(self, name: str = "huey", expire_time: float = 86400, **kwargs: Any) -> None:
        self.expire_time = expire_time
        super().__init__(name, expire_time=expire_time, **kwargs)

