"""Consumer leases: who holds in-flight messages, and how to tell that it is gone.

Every consumer (one per daemon, shared by its workers) has an id
``host:pid:random`` and a lease that its scheduler renews about once a second.
A backend keeps, per consumer, the lease expiry and a small JSON card
(:class:`ConsumerCard`: host, pid, start time, where it runs). Messages held by
a consumer whose lease ran out go back to the queue.

A consumer on the same machine whose process is gone need not wait for the
lease: :func:`process_gone` proves it (pid missing, or reused by a process
started at another time), and the card's ``machine`` (hostname, boot id, pid
namespace) says whether "same machine" holds.
"""
from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import time
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache

from hueyd.storage.errors import StorageError

logger = logging.getLogger("hueyd.storage")

#: seconds a lease lasts without renewal (storage keyword ``lease_timeout``)
DEFAULT_LEASE_TIMEOUT = 30.0
#: deliveries that ended with the consumer's death before a message is set aside
#: (storage keyword ``max_deliveries``)
DEFAULT_MAX_DELIVERIES = 5
#: seconds between two looks for expired leases by one consumer
RECOVER_EVERY = 2.0
#: a lease renewed this recently is never cut short, even if its pid looks gone
#: (an orphaned worker of a dead daemon may still be running)
RENEWAL_GRACE = 3.0


def poison_reason(deliveries: int) -> str:
    """The dead-letter reason for a message that ended its consumer every time."""
    return f"killed its consumer {deliveries} times"


@dataclass(frozen=True)
class ConsumerCard:
    """What a consumer says about itself next to its lease (for status and recovery)."""

    host: str
    pid: int
    started: float
    machine: str = ""
    pid_start: str = ""
    lease_timeout: float = DEFAULT_LEASE_TIMEOUT
    #: what the consumer's master last said about its workers (``hueyd status``)
    report: dict = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes | None) -> ConsumerCard:
        """A card from storage; an unreadable one becomes an anonymous card."""
        try:
            fields = json.loads(text or "{}")
            return cls(**{k: v for k, v in fields.items() if k in cls.__dataclass_fields__})
        except (ValueError, TypeError):
            return cls(host="?", pid=0, started=0.0)

    @classmethod
    def here(cls, lease_timeout: float) -> ConsumerCard:
        pid = os.getpid()
        return cls(socket.gethostname(), pid, time.time(), machine_id(),
                   process_start(pid), lease_timeout)


@dataclass(frozen=True)
class ConsumerLease:
    """One consumer as the storage sees it (``hueyd status``)."""

    id: str
    card: ConsumerCard
    #: POSIX time the lease runs out (on Redis: by the server's clock)
    expires: float
    in_flight: int
    alive: bool
    #: seconds until the lease runs out (negative: ago), by the storage's clock
    remaining: float = 0.0


def new_consumer_id() -> str:
    """``host:pid:random``: unique per daemon start, readable in ``hueyd status``."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


@lru_cache(maxsize=1)
def machine_id() -> str:
    """hostname, kernel boot id and pid namespace: equal only where pids are comparable."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            boot = f.read().strip()
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return ""  # no /proc: never judge another process by its pid
    return f"{socket.gethostname()}/{boot}/{namespace}"


def process_start(pid: int) -> str:
    """The start time of ``pid`` in clock ticks since boot ('' if unknown)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return ""
    # the command name may contain spaces and parentheses: fields after the last ')'
    fields = stat.rsplit(")", 1)[1].split()
    return fields[19] if len(fields) > 19 else ""


def process_gone(card: ConsumerCard) -> bool:
    """True only when ``card`` describes a process of this machine that no longer runs."""
    if not card.machine or card.machine != machine_id() or card.pid <= 0:
        return False
    if card.pid == os.getpid():
        return card.pid_start != process_start(card.pid)
    try:
        os.kill(card.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # exists, owned by another user
    return bool(card.pid_start) and card.pid_start != process_start(card.pid)


def alive(card: ConsumerCard, expires: float, now: float) -> bool:
    """What ``hueyd status`` says: the lease runs and the process is not known gone."""
    return expires >= now and not process_gone(card)


def reclaimable(card: ConsumerCard, expires: float, now: float) -> bool:
    """Whether a consumer's in-flight messages may be taken back at ``now``.

    Its lease ran out, or its process is gone from this machine and it has not
    renewed for :data:`RENEWAL_GRACE` seconds.
    """
    if expires < now:
        return True
    renewed = expires - card.lease_timeout
    return now - renewed > RENEWAL_GRACE and process_gone(card)


class LeaseHolder:
    """The lease part of a backend (its storage holds one and delegates to it): the
    consumer's id and card, the lazy first lease, and the keep-alive rhythm (renew
    every call, recover every :data:`RECOVER_EVERY`).

    A backend's part supplies ``_write_lease()`` (renew this consumer's lease, raising
    StorageError when unreachable), ``recover()`` and ``stop_consuming()``.
    """

    def __init__(self, lease_timeout: float, max_deliveries: int) -> None:
        if not lease_timeout > 0:
            raise ValueError(f"lease_timeout must be greater than 0, not {lease_timeout!r}")
        if int(max_deliveries) < 1:
            raise ValueError(f"max_deliveries must be at least 1, not {max_deliveries!r}")
        self.lease_timeout = float(lease_timeout)
        self.max_deliveries = int(max_deliveries)
        #: id of the consumer whose lease holds what the storage dequeues (None: not yet
        #: chosen; the first dequeue picks one). Forked workers inherit it.
        self.consumer_id: str | None = None
        self._card: ConsumerCard | None = None
        self._leased = False  # this process has written the lease at least once
        self._next_recovery = 0.0  # monotonic
        self._failing = False  # the last renewal failed: an outage

    def start_consuming(self, consumer_id: str | None = None) -> str:
        """Hold what the storage dequeues from now on under ``consumer_id``'s lease (a
        new id if None); no I/O."""
        self.consumer_id = consumer_id or new_consumer_id()
        self._card = ConsumerCard.here(self.lease_timeout)
        self._leased = False
        return self.consumer_id

    @property
    def card(self) -> ConsumerCard:
        """This consumer's card (an id and a card are picked on first use)."""
        if self.consumer_id is None or self._card is None:
            self.start_consuming(self.consumer_id)
        return self._card  # type: ignore[return-value]

    def set_report(self, report: dict) -> None:
        """Carried on the card from the next renewal on."""
        self._card = replace(self.card, report=report)

    def own_id(self) -> str:
        """This consumer's id (picked, with its card, on first use)."""
        if self.consumer_id is None or self._card is None:
            self.start_consuming(self.consumer_id)
        return self.consumer_id  # type: ignore[return-value]

    def ensure_lease(self) -> None:
        """A consumer's first dequeue in a process writes its lease, so that nothing
        is ever held in flight without one (a dequeue without a scheduler, too)."""
        if not self._leased:
            self._renew()

    def _renew(self) -> None:
        self.own_id()
        self._write_lease()
        self._leased = True

    def _write_lease(self) -> None:
        raise NotImplementedError

    def recover(self) -> tuple[int, int]:
        """Hand the messages of expired or vanished consumers back to the queue;
        returns (requeued, dead-lettered)."""
        raise NotImplementedError

    def keep_alive(self) -> None:
        now = time.monotonic()
        try:
            self._renew()
        except Exception:
            self._failing = True
            raise
        if self._failing:
            # Back from an outage: the others' leases may have lapsed meanwhile.
            # Give every live consumer one lease period to renew before judging.
            self._failing = False
            self._next_recovery = now + self.lease_timeout
        if now >= self._next_recovery:
            self._next_recovery = now + RECOVER_EVERY
            try:
                self.recover()
            except StorageError:
                raise
            except Exception:  # a bug here must not take the scheduler down with it
                logger.exception("taking back the messages of dead consumers failed")

    def _candidates(self, leases: dict[str, tuple[ConsumerCard, float]],
                    now: float) -> list[tuple[str, bool]]:
        """(id, forced) of every other consumer whose messages may be taken back;
        ``forced``: its lease still runs, but its process is gone."""
        return [(cid, not expires < now) for cid, (card, expires) in leases.items()
                if cid != self.consumer_id and reclaimable(card, expires, now)]
