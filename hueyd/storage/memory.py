"""In-process storage: tests, ``immediate`` mode, and apps that need no broker.

Everything lives in this process behind one condition variable, so thread and
greenlet workers share it safely; a process worker would get a private copy,
so it is not for ``-k process``.
"""
from __future__ import annotations

import heapq
import itertools
import threading
import time
import uuid
from collections.abc import Iterable, Sequence

from hueyd.storage.base import Counters, DeadLetter, Message, Storage


class MemoryCounters(Counters):
    """Counters in a dict behind the storage's lock."""

    def __init__(self, lock: threading.Condition) -> None:
        self._lock = lock
        self._values: dict[str, int] = {}

    def incr(self, key: str, amount: int = 1) -> int:
        with self._lock:
            value = self._values[key] = self._values.get(key, 0) + amount
            return value

    def delete(self, key: str) -> None:
        with self._lock:
            self._values.pop(key, None)

    def flush(self) -> None:
        with self._lock:
            self._values.clear()


class MemoryStorage(Storage):
    """Priority queue (higher first, FIFO within a priority), schedule heap, TTL'd key/value."""

    blocking = True

    def __init__(self, name: str = "huey", **kwargs: object) -> None:
        super().__init__(name)
        self._cond = threading.Condition()
        self._seq = itertools.count()          # FIFO order among equal priorities
        self._head_seq = itertools.count(-1, -1)  # requeued messages go before everything
        self._queue: list[tuple[int, int, int, bytes]] = []   # (-priority, seq, id, data)
        self._in_flight: dict[int, tuple[int, bytes]] = {}      # id -> (priority, data)
        self._ids = itertools.count(1)
        self._schedule: list[tuple[float, int, int, bytes]] = []  # (ts, seq, priority, data)
        self._kv: dict[str, tuple[bytes, float | None]] = {}    # key -> (value, deadline)
        self._dead: list[DeadLetter] = []
        self.counters = MemoryCounters(self._cond)

    def ping(self) -> None:
        return None

    # -- queue ----------------------------------------------------------------
    def enqueue(self, data: bytes, priority: int | None = None) -> None:
        with self._cond:
            self._push(data, priority or 0, next(self._seq))

    def enqueue_many(self, messages: Sequence[tuple[bytes, int | None]]) -> None:
        with self._cond:
            for data, priority in messages:
                self._push(data, priority or 0, next(self._seq))

    def _push(self, data: bytes, priority: int, seq: int) -> None:
        heapq.heappush(self._queue, (-priority, seq, next(self._ids), data))
        self._cond.notify()

    def dequeue(self, timeout: float = 0) -> Message | None:
        deadline = time.monotonic() + max(timeout or 0, 0)
        with self._cond:
            while not self._queue:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)
            neg_priority, _, msg_id, data = heapq.heappop(self._queue)
            self._in_flight[msg_id] = (-neg_priority, data)
            return Message(data, msg_id)

    def ack(self, message: Message) -> None:
        with self._cond:
            self._in_flight.pop(message.receipt, None)

    def hand_back(self, message: Message) -> None:
        with self._cond:
            priority, data = self._in_flight.pop(message.receipt, (0, message.data))
            self._push(data, priority, next(self._head_seq))

    def stop_consuming(self) -> int:
        """Everything dequeued and not acked goes back to the head, oldest first
        (nothing outlives this process, so there is no lease to drop)."""
        with self._cond:
            held, self._in_flight = self._in_flight, {}
            for priority, data in reversed(list(held.values())):
                self._push(data, priority, next(self._head_seq))
            return len(held)

    def queue_size(self) -> int:
        with self._cond:
            return len(self._queue)

    def enqueued_items(self, limit: int | None = None) -> list[bytes]:
        with self._cond:
            return [item[3] for item in sorted(self._queue)[:limit]]

    def flush_queue(self) -> None:
        with self._cond:
            self._queue.clear()
            self._in_flight.clear()

    # -- schedule -------------------------------------------------------------
    def add_to_schedule(self, data: bytes, ts: float, priority: int | None = None) -> None:
        with self._cond:
            heapq.heappush(self._schedule, (float(ts), next(self._seq), priority or 0, data))

    def _pop_due(self, ts: float) -> list[tuple[float, int, int, bytes]]:
        due = []
        while self._schedule and self._schedule[0][0] <= ts:
            due.append(heapq.heappop(self._schedule))
        return due

    def read_schedule(self, ts: float) -> list[bytes]:
        with self._cond:
            return [entry[3] for entry in self._pop_due(ts)]

    def move_due(self, ts: float) -> int:
        # One critical section, and the entry keeps its priority.
        with self._cond:
            due = self._pop_due(ts)
            for _, _, priority, data in due:
                self._push(data, priority, next(self._seq))
            return len(due)

    def next_scheduled_time(self) -> float | None:
        with self._cond:
            return self._schedule[0][0] if self._schedule else None

    def schedule_size(self) -> int:
        with self._cond:
            return len(self._schedule)

    def scheduled_items(self, limit: int | None = None) -> list[bytes]:
        with self._cond:
            return [entry[3] for entry in sorted(self._schedule)[:limit]]

    def flush_schedule(self) -> None:
        with self._cond:
            self._schedule.clear()

    # -- key/value ------------------------------------------------------------
    def _live(self, key: str) -> bytes | None:
        """The value if present and not past its TTL (expired entries are dropped here)."""
        entry = self._kv.get(key)
        if entry is None:
            return None
        value, deadline = entry
        if deadline is not None and deadline <= time.monotonic():
            del self._kv[key]
            return None
        return value

    def put_data(self, key: str, value: bytes, is_result: bool = False) -> None:
        with self._cond:
            self._kv[key] = (value, None)

    def peek_data(self, key: str) -> bytes | None:
        with self._cond:
            return self._live(key)

    def pop_data(self, key: str) -> bytes | None:
        with self._cond:
            value = self._live(key)
            self._kv.pop(key, None)
            return value

    def peek_many(self, keys: Iterable[str]) -> list[bytes | None]:
        with self._cond:
            return [self._live(k) for k in keys]

    def count_in_window(self, key: str, window: int, amount: int = 1) -> int:
        with self._cond:  # re-entrant: the read and the write are one step
            return super().count_in_window(key, window, amount)

    def put_if_empty(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        with self._cond:
            if self._live(key) is not None:
                return False
            deadline = time.monotonic() + ttl if ttl else None
            self._kv[key] = (value, deadline)
            return True

    def delete_data(self, key: str) -> bool:
        with self._cond:
            existed = self._live(key) is not None
            self._kv.pop(key, None)
            return existed

    def result_store_size(self) -> int:
        return len(self.result_items())

    def result_items(self) -> dict[str, bytes]:
        with self._cond:
            return {k: v for k in list(self._kv) if (v := self._live(k)) is not None}

    def flush_results(self) -> None:
        with self._cond:
            self._kv.clear()

    # -- dead letters -----------------------------------------------------------
    def add_dead_letter(self, data: bytes, reason: str, ts: float) -> None:
        with self._cond:
            self._dead.append(DeadLetter(data, reason, ts, uuid.uuid4().hex))

    def dead_letters(self, limit: int | None = None) -> list[DeadLetter]:
        with self._cond:
            return list(self._dead[:limit])

    def dead_letter_count(self) -> int:
        with self._cond:
            return len(self._dead)

    def requeue_dead_letters(self, limit: int | None = None) -> int:
        with self._cond:
            letters, self._dead = self._dead[:limit], self._dead[len(self._dead[:limit]):]
            for letter in letters:
                self._push(letter.data, 0, next(self._seq))
            return len(letters)

    def purge_dead_letters(self, limit: int | None = None) -> int:
        with self._cond:
            count = len(self._dead[:limit])
            del self._dead[:count]
            return count
