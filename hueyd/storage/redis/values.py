"""The value store of a Redis storage (one of its parts): results, revocations, locks.

:class:`HashValues` (RedisStorage) keeps values in one hash, so a revocation
check is one HMGET. A value written with a TTL (a lock taken with
``put_if_empty(..., ttl)``) lives in a string key of its own that Redis expires
by itself: hash fields cannot expire before Redis 7.4. Reads look in both
places within one round trip.

:class:`ExpiringValues` (RedisExpireStorage) keeps every value in its own
string key; results get ``expire_time`` and are not removed by a read.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

import hueyd.storage.redis.scripts as lua
from hueyd.storage.base import REVOCATION_PREFIXES, Counters
from hueyd.storage.redis.client import translate_errors
from hueyd.storage.redis.server import Part, Server
from hueyd.storage.redis.wire import Batch, pack


def ttl_ms(ttl: float | None) -> int | None:
    """A TTL in whole milliseconds (at least 1), or None for "no TTL" (None or 0)."""
    return max(1, round(ttl * 1000)) if ttl else None


class _StringValues(Part):
    """What both layouts share: values in ``hueyd:{name}:kv:<key>`` string keys."""

    #: the storage keywords this store takes, and their defaults (the storage's
    #: other keywords are connection parameters)
    OPTIONS: ClassVar[dict[str, Any]] = {}

    def _value_keys(self) -> list[bytes]:
        return list(self.conn.scan_iter(match=self.keys.value_pattern, count=500))

    def _string_items(self) -> dict[str, bytes]:
        keys = self._value_keys()
        if not keys:
            return {}
        skip = len(self.keys.value_prefix)
        return {k[skip:].decode(): v for k, v in zip(keys, self.conn.mget(keys), strict=True)
                if v is not None}

    def _delete_strings(self) -> None:
        keys = self._value_keys()
        for start in range(0, len(keys), 500):
            self.conn.delete(*keys[start:start + 500])


class HashValues(_StringValues):
    """Values in the ``kv`` hash, revocations in the ``revoked`` hash; values with a TTL
    in their own string keys."""

    def __init__(self, server: Server) -> None:
        super().__init__(server)
        self._hlen_revoked = pack("HLEN", self.keys.revoked)
        self._put_if_empty = self.conn.register_script(lua.PUT_IF_EMPTY)
        self._pop_value = self.conn.register_script(lua.POP_VALUE)
        self._count = self.conn.register_script(lua.HASH_FIELD + lua.COUNT_IN_WINDOW)

    def _hash_of(self, key: str) -> str:
        return self.keys.revoked if key.startswith(REVOCATION_PREFIXES) else self.keys.values

    def count_revocations_into(self, batch: Batch) -> bool:
        """Queue HLEN of the revocations on ``batch`` (it rides along with a take)."""
        batch.packed(self._hlen_revoked)
        return True

    @translate_errors
    def put_data(self, key: str, value: bytes, is_result: bool = False) -> None:
        self.conn.hset(self._hash_of(key), key, value)

    @translate_errors
    def peek_data(self, key: str) -> bytes | None:
        return self.peek_many([key])[0]

    @translate_errors
    def peek_many(self, keys: Iterable[str]) -> list[bytes | None]:
        keys = list(keys)
        if not keys:
            return []
        pipe = self.conn.pipeline(transaction=False)
        for key in keys:
            pipe.hget(self._hash_of(key), key)
        pipe.mget([self.keys.value(k) for k in keys])
        *in_hash, in_strings = pipe.execute()
        return [a if a is not None else b for a, b in zip(in_hash, in_strings, strict=True)]

    @translate_errors
    def pop_data(self, key: str) -> bytes | None:
        return self._pop_value(keys=[self._hash_of(key), self.keys.value(key)], args=[key])

    @translate_errors
    def put_if_empty(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        ms = ttl_ms(ttl)
        return bool(self._put_if_empty(keys=[self._hash_of(key), self.keys.value(key)],
                                       args=[key, value, "" if ms is None else ms]))

    @translate_errors
    def count_in_window(self, key: str, window: int, amount: int = 1) -> int:
        return self._count(keys=[self._hash_of(key)], args=[key, window, amount])

    @translate_errors
    def delete_data(self, key: str) -> bool:
        batch = Batch()
        self.delete_into(batch, key)
        return sum(batch.execute(self.pool)) > 0

    def delete_into(self, batch: Batch, key: str) -> None:
        """Queue the deletion of ``key`` on ``batch`` (so an ack can carry it along)."""
        batch.command("HDEL", self._hash_of(key), key)
        batch.command("DEL", self.keys.value(key))

    def places(self, key: str) -> tuple[str, str]:
        """The hash and the string key where ``key``'s value may be."""
        return self._hash_of(key), self.keys.value(key)

    @translate_errors
    def result_store_size(self) -> int:
        pipe = self.conn.pipeline(transaction=False)
        pipe.hlen(self.keys.values).hlen(self.keys.revoked)
        return sum(pipe.execute()) + len(self._value_keys())

    @translate_errors
    def result_items(self) -> dict[str, bytes]:
        items = self._string_items()
        for hash_key in (self.keys.values, self.keys.revoked):
            items.update((k.decode(), v) for k, v in self.conn.hgetall(hash_key).items())
        return items

    @translate_errors
    def flush_results(self) -> None:
        self.conn.delete(self.keys.values, self.keys.revoked)
        self._delete_strings()


class ExpiringValues(_StringValues):
    """Every value in its own string key; results expire after ``expire_time`` seconds."""

    OPTIONS: ClassVar[dict[str, Any]] = {"expire_time": 86400}

    def __init__(self, server: Server, expire_time: float = 86400) -> None:
        super().__init__(server)
        self.expire_time = expire_time
        self._pop_value = self.conn.register_script(lua.POP_UNLESS_EXPIRING)
        self._count = self.conn.register_script(lua.STRING_KEY + lua.COUNT_IN_WINDOW)

    @translate_errors
    def put_data(self, key: str, value: bytes, is_result: bool = False) -> None:
        # Only results expire: a revocation or user value must outlive them.
        expiry = ttl_ms(self.expire_time) if is_result else None
        self.conn.set(self.keys.value(key), value, px=expiry)

    @translate_errors
    def peek_data(self, key: str) -> bytes | None:
        return self.conn.get(self.keys.value(key))

    @translate_errors
    def peek_many(self, keys: Iterable[str]) -> list[bytes | None]:
        keys = list(keys)
        return self.conn.mget([self.keys.value(k) for k in keys]) if keys else []

    @translate_errors
    def pop_data(self, key: str) -> bytes | None:
        # As in huey's RedisExpireHuey, reading a result does not delete it: it expires.
        return self._pop_value(keys=[self.keys.value(key)])

    @translate_errors
    def put_if_empty(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        return bool(self.conn.set(self.keys.value(key), value, nx=True, px=ttl_ms(ttl)))

    @translate_errors
    def count_in_window(self, key: str, window: int, amount: int = 1) -> int:
        return self._count(keys=[self.keys.value(key)], args=[key, window, amount])

    @translate_errors
    def delete_data(self, key: str) -> bool:
        return self.conn.delete(self.keys.value(key)) > 0

    def delete_into(self, batch: Batch, key: str) -> None:
        batch.command("DEL", self.keys.value(key))

    def places(self, key: str) -> tuple[str, str]:
        return self.keys.values, self.keys.value(key)  # no hash here: its HDEL is a no-op

    def count_revocations_into(self, batch: Batch) -> bool:
        return False  # revocations are string keys among the others: no cheap count

    @translate_errors
    def result_store_size(self) -> int:
        return len(self._value_keys())

    @translate_errors
    def result_items(self) -> dict[str, bytes]:
        return self._string_items()

    @translate_errors
    def flush_results(self) -> None:
        self._delete_strings()


class HashCounters(Part, Counters):
    """huey's counters (incr): one hash, ``hueyd:{name}:counters`` (HINCRBY is atomic);
    with ``expire_time`` (the -Expire storages, as in huey) a string key per counter,
    ``hueyd:{name}:counter:<key>``, that expires that long after its last change."""

    def __init__(self, server: Server, expire_time: float | None = None) -> None:
        super().__init__(server)
        self.expire_time = expire_time
        self._hash = f"{self.keys.prefix}:counters"
        self._prefix = f"{self.keys.prefix}:counter:"

    @translate_errors
    def incr(self, key: str, amount: int = 1) -> int:
        if self.expire_time is None:
            return self.conn.hincrby(self._hash, key, amount)
        pipe = self.conn.pipeline()
        pipe.incrby(self._prefix + key, amount)
        pipe.pexpire(self._prefix + key, ttl_ms(self.expire_time))
        return pipe.execute()[0]

    @translate_errors
    def delete(self, key: str) -> None:
        self.conn.delete(self._prefix + key)
        self.conn.hdel(self._hash, key)

    @translate_errors
    def flush(self) -> None:
        self.conn.delete(self._hash)
        keys = list(self.conn.scan_iter(match=lua.glob_escape(self._prefix) + "*", count=500))
        for start in range(0, len(keys), 500):
            self.conn.delete(*keys[start:start + 500])
