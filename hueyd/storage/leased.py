"""A storage whose in-flight messages are held under a consumer lease: what the Redis
and SQLite backends share. The lease itself is a part (:attr:`LeasedStorage.leases`,
a :class:`~hueyd.storage.leases.LeaseHolder` of the backend); the storage answers the
contract's lease methods by asking it."""
from __future__ import annotations

from hueyd.storage.base import Storage
from hueyd.storage.leases import ConsumerLease, LeaseHolder


class LeasedStorage(Storage):
    """The contract's lease methods, answered by the ``leases`` part the backend builds."""

    leases: LeaseHolder

    @property  # type: ignore[override]
    def consumer_id(self) -> str | None:
        """The lease part's consumer id (one place, so storage and part never disagree)."""
        return self.leases.consumer_id

    def start_consuming(self, consumer_id: str | None = None) -> str:
        return self.leases.start_consuming(consumer_id)

    def keep_alive(self) -> None:
        self.leases.keep_alive()

    def recover(self) -> tuple[int, int]:
        """Hand the messages of expired or vanished consumers back to the queue now;
        returns (requeued, dead-lettered)."""
        return self.leases.recover()

    def stop_consuming(self) -> int:
        return self.leases.stop_consuming()

    def consumers(self) -> list[ConsumerLease]:
        return self.leases.consumers()
