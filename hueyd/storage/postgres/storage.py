"""PostgresStorage: huey's PostgresHuey on Debian's psycopg2, under hueyd's contract.

A take claims the best waiting row with ``UPDATE ... WHERE id = (SELECT ... FOR
UPDATE SKIP LOCKED)``, so consumers on any number of hosts never take the same
message; the row stays, marked, until acknowledged, under the consumer's lease
(:mod:`hueyd.storage.postgres.leases`): at-least-once delivery, as on Redis and
SQLite. An empty queue is waited on with LISTEN/NOTIFY, not polled. Tables are
hueyd's (``<table_prefix>_queue``, ``_schedule``, ``_kv``, ...), created on first use.
"""
from __future__ import annotations

import secrets
import select
import time
from collections.abc import Callable, Iterable
from typing import Any

from hueyd.storage.base import Counters, DeadLetter, Message
from hueyd.storage.leased import LeasedStorage
from hueyd.storage.leases import DEFAULT_LEASE_TIMEOUT, DEFAULT_MAX_DELIVERIES
from hueyd.storage.postgres.db import NOW, Connections, Tables, transaction, translate_errors
from hueyd.storage.postgres.leases import PostgresLeases, channel_of, head_seq

#: a kv row is visible while it has no expiry or has not reached it
LIVE = f"(expires IS NULL OR expires > {NOW})"


class PostgresCounters(Counters):
    """huey's counters: one row each, every increment one atomic upsert."""

    def __init__(self, storage: PostgresStorage) -> None:
        self._storage = storage
        self._table = storage.t.counter

    def incr(self, key: str, amount: int = 1) -> int:
        return self._storage._sql(f"""INSERT INTO {self._table} AS c (name, key, value)
            VALUES (%s, %s, %s) ON CONFLICT (name, key)
            DO UPDATE SET value = c.value + excluded.value RETURNING value""",
                                  self._storage.name, key, amount)[0][0]

    def delete(self, key: str) -> None:
        self._storage._sql(f"DELETE FROM {self._table} WHERE name = %s AND key = %s",
                           self._storage.name, key)

    def flush(self) -> None:
        self._storage._sql(f"DELETE FROM {self._table} WHERE name = %s", self._storage.name)


class PostgresStorage(LeasedStorage):
    """``PostgresHuey('app', dsn='dbname=app user=app')``: huey's arguments (``dsn``, or
    psycopg2's keywords, or ``connection``, a callable returning a new connection;
    ``blocking``, ``read_timeout``, ``table_prefix``, ``create_tables``), plus
    ``lease_timeout`` and ``max_deliveries`` as for :class:`~hueyd.storage.redis.RedisStorage`."""

    priority = True

    def __init__(self, name: str = "huey", dsn: str | None = None,
                 connection: Callable[[], Any] | None = None, blocking: bool = True,
                 read_timeout: float = 1, table_prefix: str = "hueyd",
                 create_tables: bool = True, lease_timeout: float = DEFAULT_LEASE_TIMEOUT,
                 max_deliveries: int = DEFAULT_MAX_DELIVERIES,
                 **connection_params: Any) -> None:
        super().__init__(name)
        try:
            import psycopg2  # noqa: F401 (a clear error now, not at the first task)
        except ImportError:
            raise ImportError("PostgresHuey needs psycopg2 (Debian: apt install "
                              "python3-psycopg2)") from None
        self.blocking, self.read_timeout = blocking, read_timeout
        prefix = "".join(c for c in table_prefix if c.isascii() and (c.isalnum() or c == "_"))
        self.t = Tables.for_prefix(prefix or "hueyd")
        self.channel = channel_of(self.t, name)
        self._db = Connections(dsn, connection, connection_params,
                               self.t.schema() if create_tables else None)
        self.location = self._db.location
        self.leases = PostgresLeases(name, self._db, self.t, lease_timeout, max_deliveries)
        self.counters = PostgresCounters(self)

    @translate_errors
    def _sql(self, query: str, *params: Any) -> list[tuple]:
        with self._db.get().cursor() as cursor:
            cursor.execute(query, params)
            return cursor.fetchall() if cursor.description else []

    @translate_errors
    def _count(self, query: str, *params: Any) -> int:
        with self._db.get().cursor() as cursor:
            cursor.execute(query, params)
            return cursor.rowcount

    def close(self) -> None:
        self._db.drop()

    def ping(self) -> None:
        self._sql("SELECT 1")

    # -- queue -------------------------------------------------------------------------
    def enqueue(self, data: bytes, priority: int | None = None) -> None:
        self._sql(f"""WITH added AS (INSERT INTO {self.t.queue} (name, data, priority)
            VALUES (%s, %s, %s)) SELECT pg_notify(%s, '')""",
                  self.name, data, priority or 0, self.channel)

    def _claim(self) -> Message | None:
        self.leases.ensure_lease()
        claim = secrets.randbits(62)
        rows = self._sql(f"""UPDATE {self.t.queue} SET claim = %s, claimed_at = {NOW},
            consumer = %s WHERE id = (SELECT id FROM {self.t.queue} WHERE name = %s
            AND claim IS NULL ORDER BY priority DESC, seq LIMIT 1 FOR UPDATE SKIP LOCKED)
            RETURNING id, data""", claim, self.consumer_id, self.name)
        return Message(bytes(rows[0][1]), (rows[0][0], claim)) if rows else None

    def dequeue(self, timeout: float = 0) -> Message | None:
        message = self._claim()
        if message is not None or not timeout or not self.blocking:
            return message
        return self._wait_and_claim(timeout)

    @translate_errors
    def _wait_and_claim(self, timeout: float) -> Message | None:
        listener = self._db.listener(self.channel)
        deadline = time.monotonic() + timeout
        while True:
            message = self._claim()  # first: what was enqueued before LISTEN took effect
            remaining = deadline - time.monotonic()
            if message is not None or remaining <= 0:
                return message
            if select.select([listener], [], [], remaining)[0]:
                listener.poll()
                listener.notifies.clear()

    def ack(self, message: Message) -> None:
        if message.receipt is not None:
            row_id, claim = message.receipt
            self._sql(f"DELETE FROM {self.t.queue} WHERE id = %s AND claim = %s", row_id, claim)

    @translate_errors
    def set_aside(self, message: Message, reason: str, ts: float) -> None:
        """Delete the claimed row and add the dead letter in one transaction; nothing
        is added if the row is no longer this claim's (taken back by a recovery)."""
        with transaction(self._db.get()) as cursor:
            if message.receipt is not None:
                row_id, claim = message.receipt
                cursor.execute(f"DELETE FROM {self.t.queue} WHERE id = %s AND claim = %s",
                               (row_id, claim))
                if not cursor.rowcount:
                    return
            cursor.execute(f"INSERT INTO {self.t.dead} (name, data, reason, ts) "
                           "VALUES (%s, %s, %s, %s)", (self.name, message.data, reason, ts))

    def hand_back(self, message: Message) -> None:
        """Release the claim and put the row ahead of every waiting one (a message
        without a receipt is inserted there)."""
        if message.receipt is None:
            self._sql(f"""INSERT INTO {self.t.queue} (name, data, seq)
                VALUES (%s, %s, {head_seq(self.t)})""", self.name, message.data, self.name)
        else:
            row_id, claim = message.receipt
            self._sql(f"""UPDATE {self.t.queue} SET seq = {head_seq(self.t)}, claim = NULL,
                claimed_at = NULL, consumer = NULL WHERE id = %s AND claim = %s""",
                      self.name, row_id, claim)
        self._sql("SELECT pg_notify(%s, '')", self.channel)

    def queue_size(self) -> int:
        return self._sql(f"SELECT count(*) FROM {self.t.queue} WHERE name = %s "
                         "AND claim IS NULL", self.name)[0][0]

    def enqueued_items(self, limit: int | None = None) -> list[bytes]:
        rows = self._sql(f"""SELECT data FROM {self.t.queue} WHERE name = %s AND claim IS NULL
            ORDER BY priority DESC, seq LIMIT %s""", self.name, limit)
        return [bytes(r[0]) for r in rows]

    def flush_queue(self) -> None:
        self._sql(f"DELETE FROM {self.t.queue} WHERE name = %s", self.name)

    # -- schedule ----------------------------------------------------------------------
    def add_to_schedule(self, data: bytes, ts: float, priority: int | None = None) -> None:
        self._sql(f"INSERT INTO {self.t.schedule} (name, data, ts, priority) "
                  "VALUES (%s, %s, %s, %s)", self.name, data, float(ts), priority or 0)

    def _due(self) -> str:
        return f"""DELETE FROM {self.t.schedule} WHERE id IN (SELECT id FROM
            {self.t.schedule} WHERE name = %s AND ts <= %s FOR UPDATE SKIP LOCKED)
            RETURNING name, data, priority, ts, id"""

    def read_schedule(self, ts: float) -> list[bytes]:
        rows = self._sql(self._due(), self.name, float(ts))
        return [bytes(data) for *_, data in sorted((r[3], r[4], r[1]) for r in rows)]

    def move_due(self, ts: float) -> int:
        """One statement: the due rows leave the schedule and join the queue together."""
        moved = self._count(f"""WITH due AS ({self._due()})
            INSERT INTO {self.t.queue} (name, data, priority)
            SELECT name, data, priority FROM due ORDER BY ts, id""", self.name, float(ts))
        if moved:
            self._sql("SELECT pg_notify(%s, '')", self.channel)
        return moved

    def next_scheduled_time(self) -> float | None:
        return self._sql(f"SELECT min(ts) FROM {self.t.schedule} WHERE name = %s",
                         self.name)[0][0]

    def schedule_size(self) -> int:
        return self._sql(f"SELECT count(*) FROM {self.t.schedule} WHERE name = %s",
                         self.name)[0][0]

    def scheduled_items(self, limit: int | None = None) -> list[bytes]:
        rows = self._sql(f"""SELECT data FROM {self.t.schedule} WHERE name = %s
            ORDER BY ts, id LIMIT %s""", self.name, limit)
        return [bytes(r[0]) for r in rows]

    def flush_schedule(self) -> None:
        self._sql(f"DELETE FROM {self.t.schedule} WHERE name = %s", self.name)

    # -- key/value ---------------------------------------------------------------------
    def put_data(self, key: str, value: bytes, is_result: bool = False) -> None:
        self._sql(f"""INSERT INTO {self.t.kv} (name, key, value) VALUES (%s, %s, %s)
            ON CONFLICT (name, key) DO UPDATE SET value = excluded.value, expires = NULL""",
                  self.name, key, value)

    def peek_data(self, key: str) -> bytes | None:
        rows = self._sql(f"SELECT value FROM {self.t.kv} WHERE name = %s AND key = %s "
                         f"AND {LIVE}", self.name, key)
        return bytes(rows[0][0]) if rows else None

    def peek_many(self, keys: Iterable[str]) -> list[bytes | None]:
        keys = list(keys)
        found = dict(self._sql(f"""SELECT key, value FROM {self.t.kv} WHERE name = %s
            AND key = ANY(%s) AND {LIVE}""", self.name, keys))
        return [None if found.get(k) is None else bytes(found[k]) for k in keys]

    def pop_data(self, key: str) -> bytes | None:
        rows = self._sql(f"""DELETE FROM {self.t.kv} WHERE name = %s AND key = %s
            RETURNING value, {LIVE}""", self.name, key)
        return bytes(rows[0][0]) if rows and rows[0][1] else None

    def put_if_empty(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        # Inserts, or replaces a row whose TTL has run out; a live row stays.
        return bool(self._sql(f"""INSERT INTO {self.t.kv} AS kv (name, key, value, expires)
            VALUES (%s, %s, %s, {NOW} + %s) ON CONFLICT (name, key) DO UPDATE
            SET value = excluded.value, expires = excluded.expires
            WHERE kv.expires IS NOT NULL AND kv.expires <= {NOW} RETURNING 1""",
                              self.name, key, value, ttl or None))

    @translate_errors
    def count_in_window(self, key: str, window: int, amount: int = 1) -> int:
        # one transaction per key at a time (a lock on the key's hash): read, then write
        with transaction(self._db.get()) as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"{self.name}/{key}",))
            return super().count_in_window(key, window, amount)

    def delete_data(self, key: str) -> bool:
        rows = self._sql(f"""DELETE FROM {self.t.kv} WHERE name = %s AND key = %s
            RETURNING {LIVE}""", self.name, key)
        return bool(rows) and bool(rows[0][0])

    def result_store_size(self) -> int:
        return self._sql(f"SELECT count(*) FROM {self.t.kv} WHERE name = %s AND {LIVE}",
                         self.name)[0][0]

    def result_items(self) -> dict[str, bytes]:
        rows = self._sql(f"SELECT key, value FROM {self.t.kv} WHERE name = %s AND {LIVE}",
                         self.name)
        return {key: bytes(value) for key, value in rows}

    def flush_results(self) -> None:
        self._sql(f"DELETE FROM {self.t.kv} WHERE name = %s", self.name)

    # -- dead letters ------------------------------------------------------------------
    def add_dead_letter(self, data: bytes, reason: str, ts: float) -> None:
        self._sql(f"INSERT INTO {self.t.dead} (name, data, reason, ts) VALUES (%s, %s, %s, %s)",
                  self.name, data, reason, float(ts))

    def dead_letters(self, limit: int | None = None) -> list[DeadLetter]:
        rows = self._sql(f"""SELECT data, reason, ts, id FROM {self.t.dead} WHERE name = %s
            ORDER BY id LIMIT %s""", self.name, limit)
        return [DeadLetter(bytes(data), reason, ts, str(row_id))
                for data, reason, ts, row_id in rows]

    def dead_letter_count(self) -> int:
        return self._sql(f"SELECT count(*) FROM {self.t.dead} WHERE name = %s",
                         self.name)[0][0]

    def _oldest_dead(self) -> str:
        return f"""DELETE FROM {self.t.dead} WHERE id IN (SELECT id FROM {self.t.dead}
            WHERE name = %s ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED)"""

    def requeue_dead_letters(self, limit: int | None = None) -> int:
        moved = self._count(f"""WITH moved AS ({self._oldest_dead()} RETURNING name, data, id)
            INSERT INTO {self.t.queue} (name, data) SELECT name, data FROM moved
            ORDER BY id""", self.name, limit)
        if moved:
            self._sql("SELECT pg_notify(%s, '')", self.channel)
        return moved

    def purge_dead_letters(self, limit: int | None = None) -> int:
        return self._count(self._oldest_dead(), self.name, limit)
