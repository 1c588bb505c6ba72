"""huey's BlackHoleStorage: accepts everything and keeps nothing (benchmarks of the
producer side, or switching a queue off without touching the code)."""
from __future__ import annotations

from typing import Any

from hueyd.storage.huey_base import BaseStorage, EmptyData


class BlackHoleStorage(BaseStorage):
    """Every write vanishes; every read finds nothing; a lock is always free."""

    supports_hash_ttl = True

    def enqueue(self, data: bytes, priority: float | None = None) -> None:
        pass

    def dequeue(self) -> bytes | None:
        return None

    def queue_size(self) -> int:
        return 0

    def enqueued_items(self, limit: int | None = None) -> list[bytes]:
        return []

    def flush_queue(self) -> None:
        pass

    def add_to_schedule(self, data: bytes, ts: Any) -> None:
        pass

    def read_schedule(self, ts: Any) -> list[bytes]:
        return []

    def schedule_size(self) -> int:
        return 0

    def scheduled_items(self, limit: int | None = None) -> list[bytes]:
        return []

    def flush_schedule(self) -> None:
        pass

    def put_data(self, key: str, value: bytes, is_result: bool = False) -> None:
        pass

    def peek_data(self, key: str) -> Any:
        return EmptyData

    def pop_data(self, key: str) -> Any:
        return EmptyData

    def has_data_for_key(self, key: str) -> bool:
        return False

    def put_if_empty(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        return True

    def incr(self, key: str, amount: int = 1) -> int:
        return amount

    def delete_counter(self, key: str) -> None:
        pass

    def result_store_size(self) -> int:
        return 0

    def result_items(self) -> dict[str, bytes]:
        return {}

    def flush_results(self) -> None:
        pass

    def flush_counters(self) -> None:
        pass
