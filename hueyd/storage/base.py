"""The storage contract every backend fulfils.

Storage moves opaque ``bytes`` around; it never unpickles anything. The task
layer (``hueyd.api``) serializes, signs and interprets messages. Keeping the
contract this small is what lets at-least-once delivery, dead letters and new
backends arrive without touching callers.

Times are POSIX timestamps (``float`` seconds, UTC by definition).
"""
from __future__ import annotations

import abc
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hueyd.storage.errors import StorageError, StorageRefused, StorageUnusable

if TYPE_CHECKING:  # pragma: no cover
    from hueyd.storage.leases import ConsumerLease

#: the errors belong to the contract: ``from hueyd.storage.base import StorageError``
__all__ = ["Counters", "DeadLetter", "Message", "PendingTake", "REVOCATION_PREFIXES", "Storage",
           "StorageError", "StorageRefused", "StorageUnusable"]


#: the key prefixes of the api's revocation entries (task id, task class); a backend may
#: keep them apart to tell cheaply whether any exist (Message.revocations)
REVOCATION_PREFIXES = ("r:", "rt:")


@dataclass(frozen=True)
class Message:
    """One message taken from the queue.

    ``receipt`` is the backend's handle for :meth:`Storage.ack` and
    :meth:`Storage.hand_back` (Redis: the raw in-flight entry; SQLite: a row id).
    Callers treat it as opaque.
    """

    data: bytes
    receipt: Any = field(default=None, compare=False)
    #: how many revocation entries the storage held when this message was taken, where
    #: it could tell in the same round trip (None: unknown). 0 lets the executor skip
    #: the revocation read.
    revocations: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class DeadLetter:
    """A message set aside because it cannot be run (bad signature, garbage,
    unknown task). Kept so an operator can inspect, requeue or purge it."""

    data: bytes
    reason: str
    timestamp: float
    id: str = ""


class PendingTake(abc.ABC):
    """Requests on their way whose answers are read later (:meth:`Storage.take_ahead`):
    acknowledgements, and at most one take. Exactly one of ``collect`` or ``drop`` is
    called."""

    #: a take is among the requests (more requests may join until one is)
    taking: bool = False

    @abc.abstractmethod
    def collect(self) -> list[Message]:
        """The messages taken, oldest first (none: the queue was empty, or nothing was
        taken). The acknowledgements sent with them count as done only once this
        returned."""

    @abc.abstractmethod
    def drop(self) -> None:
        """Give up on the answers (the caller is being interrupted). Whatever the take
        moved stays held under the consumer's lease and goes back with it."""


class Counters(abc.ABC):
    """A backend's counters (huey's ``incr``: rate limits), apart from the values."""

    @abc.abstractmethod
    def incr(self, key: str, amount: int = 1) -> int:
        """Add ``amount`` (0 when missing) atomically, across processes; the new value."""

    @abc.abstractmethod
    def delete(self, key: str) -> None: ...

    @abc.abstractmethod
    def flush(self) -> None: ...


class Storage(abc.ABC):
    """Queue, schedule, key/value (results, revocations, locks) and dead letters."""

    #: True when :meth:`dequeue` can block server-side (Redis). Workers then wait
    #: inside ``dequeue(timeout)`` instead of polling with delay/backoff.
    blocking: bool = False

    #: huey's flag: False where the queue cannot order by priority, so the api refuses
    #: a task that has one (NotImplementedError, as huey's RedisStorage does)
    priority: bool = True

    #: id of the consumer whose lease holds what this storage dequeues (None: not yet
    #: chosen; the first dequeue picks one). Forked workers inherit it.
    consumer_id: str | None = None

    def __init__(self, name: str = "huey", **kwargs: Any) -> None:
        self.name = name

    # -- lifecycle ----------------------------------------------------------
    def close(self) -> None:
        """Release connections; the storage may be used again afterwards."""

    @abc.abstractmethod
    def ping(self) -> None:
        """Raise :class:`StorageError` unless the backend answers."""

    def check(self) -> None:
        """What ``hueyd check`` asks: raise :class:`StorageError` unless the backend
        answers and would let a consumer work, changing nothing (SQLite creates no file)."""
        self.ping()

    @property
    def failing_over(self) -> bool:
        """Whether the backend's master was lost and a new one not reached yet (Redis
        Sentinel or Cluster): the status line says so."""
        return False

    def server_warnings(self) -> list[str]:
        """Settings of the backend under which tasks can vanish without an error (one
        line each), for ``hueyd check`` and the start; raises :class:`StorageError`."""
        return []

    # -- queue ------------------------------------------------------------
    @abc.abstractmethod
    def enqueue(self, data: bytes, priority: int | None = None) -> None:
        """Append a message; higher ``priority`` is dequeued first where supported."""

    def enqueue_many(self, messages: Sequence[tuple[bytes, int | None]]) -> None:
        """Append ``(data, priority)`` messages in their order, as :meth:`enqueue` would
        one by one. Backends override it to write them in one step (a round trip on
        Redis, a transaction on SQLite): bulk enqueue. This default loops."""
        for data, priority in messages:
            self.enqueue(data, priority)

    def send_many(self, messages: Sequence[tuple[bytes, int | None]]) -> Callable[[], None]:
        """:meth:`enqueue_many` in two halves: write now; the call returned waits until
        the messages are in and raises what ``enqueue_many`` would. A bulk enqueue
        prepares its next batch meanwhile (Redis). This default writes at once."""
        self.enqueue_many(messages)
        return _written

    @abc.abstractmethod
    def dequeue(self, timeout: float = 0) -> Message | None:
        """Take the next message, waiting up to ``timeout`` seconds if ``blocking``.

        The message stays owned by the caller until :meth:`ack` or :meth:`hand_back`;
        on Redis and SQLite it is held under this storage's consumer lease, so it
        returns to the queue if the consumer dies (at-least-once delivery).
        """

    def ack(self, message: Message) -> None:
        """The message was handled (result stored): forget it for good."""

    def finish(self, message: Message, forget: Sequence[str] = ()) -> None:
        """Acknowledge ``message`` and delete the ``forget`` keys (its task's spent
        revocation entry). Backends that can do both in one round trip override this."""
        for key in forget:
            self.delete_data(key)
        self.ack(message)

    def finish_and_dequeue(self, message: Message, forget: Sequence[str],
                           timeout: float = 0) -> Message | None:
        """:meth:`finish` one task and take the next message: a worker's steady state,
        one round trip on Redis instead of two."""
        self.finish(message, forget)
        return self.dequeue(timeout)

    def take_ahead(self, finished: Message | None, forget: Sequence[str] = (),
                   count: int = 1, onto: PendingTake | None = None) -> PendingTake | None:
        """Send a non-blocking take of up to ``count`` messages (none: 0) and the
        :meth:`finish` of ``finished`` now, read the answers later: a worker about to
        run a short task collects them afterwards, so the round trip overlaps the task.
        ``onto``: requests sent earlier and not collected yet; these join them (one
        read for all); a take joins only requests without one. None where the backend cannot; then nothing was
        sent and ``finished`` is still to be finished."""
        return None

    def hand_back(self, message: Message) -> None:
        """Hand an unfinished message back to the head of the queue."""
        self.enqueue(message.data)

    def set_aside(self, message: Message, reason: str, ts: float) -> None:
        """Move a message that cannot be run from the consumer's hands to the dead
        letters, with ``reason``. Backends with leases do it in one atomic step that
        adds nothing if the message is no longer held (taken back by a recovery)."""
        self.add_dead_letter(message.data, reason, ts)
        self.ack(message)

    # -- leases: at-least-once delivery --------------------------------------------
    def start_consuming(self, consumer_id: str | None = None) -> str:
        """Hold what this storage dequeues from now on under ``consumer_id``'s lease.

        The consumer calls it once before starting (and forking) its workers, so
        they all share one lease. No I/O: the lease is written by the first
        :meth:`keep_alive` or dequeue. Returns the id (a new one if None).
        """
        from hueyd.storage.leases import new_consumer_id  # logging imports threading: lazily
        self.consumer_id = consumer_id or new_consumer_id()
        return self.consumer_id

    def keep_alive(self) -> None:
        """Renew this consumer's lease and, every few seconds, hand the messages of
        consumers whose lease ran out back to the queue. The scheduler calls it
        each tick; :class:`StorageError` when the backend is unreachable."""

    def hand_back_worker(self, pid: int) -> int:
        """Hand back what worker process ``pid`` of this consumer held when it died;
        returns how many. Backends that cannot tell workers apart return 0: what the
        worker held goes back when the consumer stops or its lease runs out."""
        return 0

    def stop_consuming(self) -> int:
        """Hand every message still held by this consumer back to the head of the
        queue and drop its lease (graceful or immediate stop, after the workers
        exited). Returns how many messages went back."""
        return 0

    def consumers(self) -> list[ConsumerLease]:
        """Every consumer with a lease (alive or expired), for ``hueyd status``."""
        return []

    @abc.abstractmethod
    def queue_size(self) -> int: ...

    @abc.abstractmethod
    def enqueued_items(self, limit: int | None = None) -> list[bytes]:
        """The queued messages, next-to-run first, without removing them."""

    @abc.abstractmethod
    def flush_queue(self) -> None: ...

    # -- schedule -----------------------------------------------------------
    @abc.abstractmethod
    def add_to_schedule(self, data: bytes, ts: float, priority: int | None = None) -> None: ...

    @abc.abstractmethod
    def read_schedule(self, ts: float) -> list[bytes]:
        """Remove and return every entry due at ``ts`` (atomically: an entry is
        returned to exactly one caller)."""

    def move_due(self, ts: float) -> int:
        """Move every entry due at ``ts`` from the schedule to the queue.

        Backends override this to do it in one atomic step, so a crash between
        read and enqueue cannot lose a task and two schedulers never enqueue
        the same entry twice. Returns how many entries moved.
        """
        due = self.read_schedule(ts)
        for data in due:
            self.enqueue(data)
        return len(due)

    @abc.abstractmethod
    def next_scheduled_time(self) -> float | None:
        """Timestamp of the earliest scheduled entry, so a scheduler can sleep until then."""

    @abc.abstractmethod
    def schedule_size(self) -> int: ...

    @abc.abstractmethod
    def scheduled_items(self, limit: int | None = None) -> list[bytes]: ...

    @abc.abstractmethod
    def flush_schedule(self) -> None: ...

    # -- key/value: results, revocations, locks, user data -------------------
    @abc.abstractmethod
    def put_data(self, key: str, value: bytes, is_result: bool = False) -> None:
        """Store ``value``; ``is_result`` lets a backend expire results (RedisExpireHuey)."""

    @abc.abstractmethod
    def peek_data(self, key: str) -> bytes | None:
        """The value for ``key``, or None, leaving it in place."""

    @abc.abstractmethod
    def pop_data(self, key: str) -> bytes | None:
        """The value for ``key``, or None, removing it (atomically)."""

    def peek_many(self, keys: Iterable[str]) -> list[bytes | None]:
        """Several peeks in one round trip (revocation checks on the hot path)."""
        return [self.peek_data(k) for k in keys]

    def has_data_for_key(self, key: str) -> bool:
        return self.peek_data(key) is not None

    @abc.abstractmethod
    def put_if_empty(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        """Set ``key`` only if absent (locks); True if this call set it."""

    @abc.abstractmethod
    def delete_data(self, key: str) -> bool:
        """Remove ``key``; True if it existed."""

    def count_in_window(self, key: str, window: int, amount: int = 1) -> int:
        """Add ``amount`` to the count kept under ``key`` for the fixed window ``window``
        and return it; a count kept for another window starts again from 0 (rate
        limits). ``amount=0`` only reads. Kept in the key/value store as
        ``b"<window>:<count>"``, so ``delete_data(key)`` resets it. This default is a
        read then a write: backends override it to be atomic across consumers."""
        count = window_count(self.peek_data(key), window) + amount
        if amount:
            self.put_data(key, b"%d:%d" % (window, count))
        return count

    @abc.abstractmethod
    def result_store_size(self) -> int: ...

    @abc.abstractmethod
    def result_items(self) -> dict[str, bytes]: ...

    @abc.abstractmethod
    def flush_results(self) -> None: ...

    # -- counters ----------------------------------------------------------------
    #: the backend's counters part (None: it keeps none, and incr() is not supported)
    counters: Counters | None = None

    def incr(self, key: str, amount: int = 1) -> int:
        """huey's counter: add ``amount`` atomically and return the new value."""
        if self.counters is None:
            raise NotImplementedError(f"{type(self).__name__} keeps no counters")
        return self.counters.incr(key, amount)

    def delete_counter(self, key: str) -> None:
        if self.counters is not None:
            self.counters.delete(key)

    def flush_counters(self) -> None:
        if self.counters is not None:
            self.counters.flush()

    # -- dead letters ----------------------------------------------------------
    @abc.abstractmethod
    def add_dead_letter(self, data: bytes, reason: str, ts: float) -> None: ...

    @abc.abstractmethod
    def dead_letters(self, limit: int | None = None) -> list[DeadLetter]: ...

    @abc.abstractmethod
    def dead_letter_count(self) -> int: ...

    @abc.abstractmethod
    def requeue_dead_letters(self, limit: int | None = None) -> int:
        """Put the dead letters (the oldest ``limit``, or all) back on the queue;
        returns how many."""

    @abc.abstractmethod
    def purge_dead_letters(self, limit: int | None = None) -> int:
        """Delete the dead letters (the oldest ``limit``, or all); returns how many."""

    # -- everything ------------------------------------------------------------
    def flush_all(self) -> None:
        self.flush_queue()
        self.flush_schedule()
        self.flush_results()
        self.flush_counters()
        self.purge_dead_letters()


def window_count(stored: bytes | None, window: int) -> int:
    """The count in a ``b"<window>:<count>"`` value if it is for ``window``, else 0."""
    if stored is None:
        return 0
    head, _, count = stored.partition(b":")
    try:
        return int(count) if int(head) == window else 0
    except ValueError:
        return 0


def _written() -> None:
    """What :meth:`Storage.send_many` returns when the messages are in already."""


def refuse_priority(storage: Storage, priority: int | None) -> None:
    """huey's rule: a task with a priority on a storage without priorities is an error,
    not a priority silently ignored."""
    if priority and not storage.priority:
        raise NotImplementedError(f"{type(storage).__name__} does not support task "
                                  "priorities: use PriorityRedisHuey")
