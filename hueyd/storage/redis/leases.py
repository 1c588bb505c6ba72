"""Consumer leases and in-flight lists on Redis (the half of :mod:`hueyd.storage.redis`
that makes delivery at-least-once).

Keys, all under the storage's ``{name}`` hash tag: ``consumers`` (sorted set:
consumer id -> lease expiry, server time), ``consumer-cards`` (hash: id -> JSON
card), ``inflight:<id>:<holder>`` (what one thread or greenlet of one process of
that consumer has taken), ``holders:<id>`` (the set of those lists) and
``deliveries`` (hash: sha1 of a message -> how often it went down with its
consumer). The scripts are in :mod:`hueyd.storage.redis.lease_scripts`.

Why a list per holder: when a connection breaks, a BLMOVE may have moved a
message whose reply never arrived. Only the holder that sent it can tell such a
stray from what it did receive; before its next take it hands strays back.
"""
from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import hueyd.storage.redis.lease_scripts as lease_lua
import hueyd.storage.redis.scripts as lua
from hueyd.storage.base import Message
from hueyd.storage.leases import ConsumerCard, ConsumerLease, LeaseHolder, alive, poison_reason
from hueyd.storage.redis.client import translate_errors
from hueyd.storage.redis.queues import InFlight
from hueyd.storage.redis.server import Server
from hueyd.storage.redis.wire import Batch, Script

if TYPE_CHECKING:  # pragma: no cover
    from hueyd.storage.redis.queues import ListQueue, PriorityQueue
    from hueyd.storage.redis.values import ExpiringValues, HashValues

logger = logging.getLogger("hueyd.storage")

FINISH = Script(lease_lua.FINISH)
SET_ASIDE = Script(lease_lua.SET_ASIDE)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisLeases(LeaseHolder):
    """The lease part of a Redis storage: leases and in-flight bookkeeping. It works
    with the storage's ``queue`` (whose Lua ``push`` functions its scripts start with)
    and ``values`` (where an acknowledgement's ``forget`` keys live)."""

    def __init__(self, server: Server, queue: ListQueue | PriorityQueue,
                 values: HashValues | ExpiringValues, lease_timeout: float,
                 max_deliveries: int) -> None:
        super().__init__(lease_timeout, max_deliveries)
        self.conn, self.pool, self.keys = server.conn, server.pool, server.keys
        self.location = server.location
        self.durability = server.durability
        self.values = values
        script, push = self.conn.register_script, queue.push_lua
        self._push_head = script(lua.queue_script(push, lua.REQUEUE_HEAD))
        self._hand_back_one_script = script(push + lease_lua.HAND_BACK_ONE)
        self._renew_script = script(lease_lua.RENEW)
        self._release_script = script(push + lease_lua.RELEASE)
        self._hand_back_script = script(push + lease_lua.HAND_BACK)
        self._recover_script = script(push + lease_lua.RECOVER)
        self._registered: set[str] = set()  # lists this process has added to its set
        self._given: dict[str, Counter] = {}  # list -> entries returned, not yet settled
        #: lists whose last take lost its connection
        self.suspects: set[str] = set()

    @translate_errors
    def _write_lease(self) -> None:
        self._renew_script(keys=[self.keys.consumers, self.keys.cards],
                           args=[self.consumer_id, self.lease_timeout, self.card.to_json()])

    # -- taking, acknowledging, handing back ------------------------------------------------
    def holder_list(self) -> str:
        """The in-flight list of the calling thread or greenlet (registered on first use)."""
        cid = self.own_id()
        self.ensure_lease()
        key = self.keys.in_flight(cid, f"{os.getpid()}-{threading.get_ident()}")
        if key not in self._registered:
            self.conn.sadd(self.keys.holders(cid), key)
            self._registered.add(key)
        if key in self.suspects:
            self._return_strays(key)
        return key

    def taken(self, held: str, take: Callable[[], bytes | None]) -> bytes | None:
        """Run ``take()`` (which moves one entry into ``held``); remember what it returned,
        or that its reply may have been lost."""
        try:
            entry = take()
        except BaseException:  # interrupted too: the reply may never be read
            self.suspects.add(held)
            raise
        return None if entry is None else self.given_out(held, entry)

    def given_out(self, held: str, entry: bytes) -> bytes:
        """Remember that ``entry``, moved into ``held``, was returned to its holder."""
        self._given.setdefault(held, Counter())[entry] += 1
        return entry

    def settled(self, receipt: InFlight) -> None:
        """The holder settled this message (acked or handed back): no longer "given".
        Called only once the storage confirmed it, so that after a failed ack the
        entry is not mistaken for a stray."""
        given = self._given.get(receipt.held_in)
        if given and given[receipt.entry] > 0:
            given[receipt.entry] -= 1
            if not given[receipt.entry]:
                del given[receipt.entry]

    def _return_strays(self, held: str) -> None:
        """Hand back what this holder's list has but the holder never received: moves
        whose reply was lost with the connection. Runs once after such a loss."""
        given = Counter(self._given.get(held))
        strays = []
        for entry in self.conn.lrange(held, 0, -1):
            if given[entry] > 0:
                given[entry] -= 1
            else:
                strays.append(entry)
        for entry in strays:
            self._hand_back_one_script(keys=[*self.keys.queue_keys(), held], args=[entry])
        self.suspects.discard(held)
        if strays:
            logger.warning("handed back %d message(s) taken while the connection to redis "
                           "broke", len(strays))

    def finish_into(self, batch: Batch, message: Message,
                     forget: Sequence[str] = ()) -> InFlight | None:
        """Queue the acknowledgement of ``message`` on ``batch``: drop its in-flight entry,
        its count of deaths and the ``forget`` keys, in one script rather than a command
        each (what a worker's client spends its time packing and parsing)."""
        receipt = message.receipt
        if not (isinstance(receipt, InFlight) and receipt.held_in):
            for key in forget:
                self.values.delete_into(batch, key)
            return None
        places = [place for key in forget for place in self.values.places(key)]
        batch.script(FINISH, [receipt.held_in, self.keys.deliveries, *places],
                     [receipt.entry, hashlib.sha1(message.data).hexdigest(), *forget])
        if self.durability.waits(self.conn):  # its reply (how many replicas) is unchecked
            batch.packed(self.durability.packed_wait)
        return receipt

    @translate_errors
    def ack(self, message: Message) -> None:
        """Drop the message from its in-flight list: one round trip."""
        self.finish(message)

    @translate_errors
    def finish(self, message: Message, forget: Sequence[str] = ()) -> None:
        """Acknowledge ``message`` and delete the ``forget`` keys: one round trip."""
        batch = Batch()
        receipt = self.finish_into(batch, message, forget)
        if len(batch):
            batch.execute(self.pool)
        if receipt is not None:
            self.settled(receipt)

    @translate_errors
    def set_aside(self, message: Message, reason: str, ts: float) -> None:
        """From the in-flight list to the dead letters in one script (see SET_ASIDE)."""
        receipt = message.receipt
        if not (isinstance(receipt, InFlight) and receipt.held_in):
            self.conn.rpush(self.keys.dead, lua.letter(message.data, reason, ts))
            return
        batch = Batch()
        batch.script(SET_ASIDE, [receipt.held_in, self.keys.deliveries, self.keys.dead],
                     [receipt.entry, hashlib.sha1(message.data).hexdigest(),
                      lua.letter(message.data, reason, ts)])
        batch.execute(self.pool)
        self.settled(receipt)

    @translate_errors
    def hand_back(self, message: Message) -> None:
        """Back to the head of the queue, if it is still in flight: a message already
        acked, or taken back by a recovery, is not queued twice."""
        receipt = message.receipt
        if isinstance(receipt, InFlight) and receipt.held_in:
            self._hand_back_one_script(keys=[*self.keys.queue_keys(), receipt.held_in],
                                       args=[receipt.entry])
            self.settled(receipt)
        else:
            self._push_head(keys=self.keys.queue_keys(), args=[message.data, 0])

    # -- taking back what dead consumers held ---------------------------------------------
    def _lists_of(self, ids: list[str]) -> list[list[str]]:
        """Each consumer's in-flight lists, in one round trip."""
        pipe = self.conn.pipeline(transaction=False)
        for cid in ids:
            pipe.smembers(self.keys.holders(cid))
        return [sorted(_text(k) for k in members) for members in pipe.execute()] if ids else []

    @translate_errors
    def recover(self) -> tuple[int, int]:
        """Hand the messages of expired or vanished consumers back to the queue.

        Returns (requeued, dead-lettered). One round trip when nobody expired.
        """
        now, leases = self._read_leases()
        candidates = self._candidates(leases, now)
        if not candidates:
            return 0, 0
        keys = [*self.keys.queue_keys(), self.keys.consumers, self.keys.cards,
                self.keys.deliveries, self.keys.dead]
        args: list[Any] = [self.max_deliveries, poison_reason(self.max_deliveries)]
        ids = [cid for cid, _ in candidates]
        for (cid, forced), lists in zip(candidates, self._lists_of(ids)):
            keys += [self.keys.holders(cid), *lists]
            args += [cid, "1" if forced else "0", len(lists)]
        requeued, dead, taken = self._recover_script(keys=keys, args=args)
        if requeued + dead:
            logger.warning("took back %d message(s) held by %d consumer(s) that are gone "
                           "(%s)%s", requeued + dead, taken, ", ".join(ids),
                           f"; {dead} set aside as dead letters" if dead else "")
        return requeued, dead

    def _read_leases(self) -> tuple[float, dict[str, tuple[ConsumerCard, float]]]:
        """Server time, and every consumer's (card, lease expiry), in one round trip."""
        pipe = self.conn.pipeline(transaction=False)
        pipe.time()
        pipe.zrange(self.keys.consumers, 0, -1, withscores=True)
        pipe.hgetall(self.keys.cards)
        (seconds, micros), expiries, cards = pipe.execute()
        leases = {_text(cid): (ConsumerCard.from_json(cards.get(cid)), float(expires))
                  for cid, expires in expiries}
        return seconds + micros / 1e6, leases

    @translate_errors
    def stop_consuming(self) -> int:
        if self.consumer_id is None:
            return 0
        (lists,) = self._lists_of([self.consumer_id])
        keys = [*self.keys.queue_keys(), self.keys.consumers, self.keys.cards,
                self.keys.holders(self.consumer_id), *lists]
        count = self._release_script(keys=keys, args=[self.consumer_id])
        self._leased = False
        self._registered.clear()
        self._given.clear()
        return count

    @translate_errors
    def hand_back_worker(self, pid: int) -> int:
        """Hand back what a worker process of this consumer held when it died (a task
        taken ahead, an unacknowledged one): now, not when the consumer stops."""
        if self.consumer_id is None:
            return 0
        (lists,) = self._lists_of([self.consumer_id])
        dead = [key for key in lists if key.rsplit(":", 1)[-1].split("-")[0] == str(pid)]
        if not dead:
            return 0
        count = self._hand_back_script(
            keys=[*self.keys.queue_keys(), self.keys.holders(self.consumer_id), *dead])
        if count:
            logger.warning("handed back %d message(s) held by worker process %d", count, pid)
        return count

    @translate_errors
    def consumers(self) -> list[ConsumerLease]:
        now, leases = self._read_leases()
        ids = sorted(leases)
        lists = self._lists_of(ids)
        pipe = self.conn.pipeline(transaction=False)
        for key in (key for group in lists for key in group):
            pipe.llen(key)
        lengths = iter(pipe.execute() if any(lists) else [])
        return [ConsumerLease(cid, card, expires, sum(next(lengths) for _ in group),
                              alive(card, expires, now), expires - now)
                for cid, group in zip(ids, lists) for card, expires in [leases[cid]]]

    def flush_in_flight(self) -> None:
        """Forget every in-flight message (flush_queue): their acks become no-ops."""
        ids = [_text(cid) for cid in self.conn.zrange(self.keys.consumers, 0, -1)]
        if self.consumer_id is not None and self.consumer_id not in ids:
            ids.append(self.consumer_id)
        lists = [key for group in self._lists_of(ids) for key in group]
        self.conn.delete(self.keys.deliveries, *lists)
        self._given.clear()
