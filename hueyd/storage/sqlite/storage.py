"""SQLite backend: one file, shared safely by several processes and threads.

Several storages (names) can share a file: every row carries its ``name``.
Each write that reads first runs in ``BEGIN IMMEDIATE``, so two processes never
claim the same message or move the same schedule entry. ``dequeue`` claims a
row for its consumer (it stays, marked, until ``ack``); the consumer's lease
(:mod:`hueyd.storage.sqlite.leases`) decides when a claim of a dead consumer
goes back to the queue: at-least-once delivery within one machine. SQLite
cannot block on a server: ``blocking = False`` and the consumer polls with
delay/backoff.
"""
from __future__ import annotations

import secrets
import time
from collections.abc import Iterable, Sequence
from typing import Any

from hueyd.storage.base import DeadLetter, Message
from hueyd.storage.leased import LeasedStorage
from hueyd.storage.leases import DEFAULT_LEASE_TIMEOUT, DEFAULT_MAX_DELIVERIES
from hueyd.storage.sqlite.counters import SqliteCounters
from hueyd.storage.sqlite.db import Connections, check_file, translate_errors, write_transaction
from hueyd.storage.sqlite.leases import HEAD_ID, SqliteLeases

#: keys per ``IN (...)`` in peek_many (under every SQLite build's variable limit)
PEEK_CHUNK = 500

#: the oldest dead letters of a name; parameters: name, limit (-1 = all)
OLDEST_DEAD = "name = ? ORDER BY id LIMIT ?"
#: parameters: name, data, reason, ts
ADD_DEAD = "INSERT INTO hueyd_dead_letter (name, data, reason, ts) VALUES (?, ?, ?, ?)"
#: a kv row is visible while it has no expiry or has not reached it
LIVE = "(expires IS NULL OR expires > ?)"

#: parameters: name, data, priority
INSERT_MESSAGE = "INSERT INTO hueyd_queue (name, data, priority) VALUES (?, ?, ?)"
# The next message: highest priority first, then lowest id (a requeued row gets
# an id below every other, so it runs next within its priority).
NEXT_WAITING = """SELECT id FROM hueyd_queue WHERE name = ? AND claim IS NULL
                  ORDER BY priority DESC, id LIMIT 1"""
CLAIM_NEXT = f"""UPDATE hueyd_queue SET claim = ?, claimed_at = ?, consumer = ?
                 WHERE id = ({NEXT_WAITING}) RETURNING id, data"""


class SqliteStorage(LeasedStorage):
    """huey's SqliteStorage arguments. ``strict_fifo`` is accepted for compatibility:
    order is always strict FIFO within a priority. ``lease_timeout`` and
    ``max_deliveries`` as for :class:`~hueyd.storage.redis.RedisStorage`."""

    blocking = False
    priority = True

    def __init__(self, name: str = "huey", filename: str = "huey.db", cache_mb: int = 8,
                 fsync: bool = False, journal_mode: str = "wal", timeout: float = 5,
                 strict_fifo: bool = False, lease_timeout: float = DEFAULT_LEASE_TIMEOUT,
                 max_deliveries: int = DEFAULT_MAX_DELIVERIES) -> None:
        super().__init__(name)
        self.filename = filename
        self.strict_fifo = strict_fifo
        # WAL with synchronous=NORMAL survives a process crash; FULL also an OS crash.
        self._db = Connections(filename, timeout, journal_mode,
                               synchronous="FULL" if fsync else "NORMAL",
                               cache_kib=int(cache_mb * 1024))
        self.leases = SqliteLeases(name, filename, self._db, lease_timeout, max_deliveries)
        self.counters = SqliteCounters(name, filename, self._db)

    def _sql(self, query: str, *params: Any) -> list[tuple]:
        return self._db.get().execute(query, params).fetchall()

    def _count(self, query: str, *params: Any) -> int:
        cursor = self._db.get().execute(query, params)
        return cursor.rowcount

    # -- lifecycle -----------------------------------------------------------------
    def close(self) -> None:
        self._db.close()

    @translate_errors
    def ping(self) -> None:
        self._sql("SELECT 1")

    def check(self) -> None:
        check_file(self.filename, self._db.timeout)

    # -- queue -------------------------------------------------------------------------
    @translate_errors
    def enqueue(self, data: bytes, priority: int | None = None) -> None:
        self._sql(INSERT_MESSAGE, self.name, data, priority or 0)

    @translate_errors
    def enqueue_many(self, messages: Sequence[tuple[bytes, int | None]]) -> None:
        """One transaction: every message is queued, or none."""
        with write_transaction(self._db.get()) as conn:
            conn.executemany(INSERT_MESSAGE, [(self.name, data, priority or 0)
                                              for data, priority in messages])

    @translate_errors
    def dequeue(self, timeout: float = 0) -> Message | None:
        if not self._sql(NEXT_WAITING, self.name):
            return None  # idle pollers never take the write lock
        self.leases.ensure_lease()
        claim = secrets.randbits(62)
        with write_transaction(self._db.get()) as conn:
            row = conn.execute(CLAIM_NEXT, (claim, time.time(), self.consumer_id,
                                            self.name)).fetchone()
        if row is None:
            return None
        return Message(row[1], (row[0], claim))

    @translate_errors
    def ack(self, message: Message) -> None:
        if message.receipt is None:
            return  # never dequeued: nothing is held
        row_id, claim = message.receipt
        self._sql("DELETE FROM hueyd_queue WHERE id = ? AND claim = ?", row_id, claim)

    @translate_errors
    def set_aside(self, message: Message, reason: str, ts: float) -> None:
        """Delete the claimed row and add the dead letter in one transaction; nothing
        is added if the row is no longer this claim's (taken back by a recovery)."""
        with write_transaction(self._db.get()) as conn:
            if message.receipt is not None:
                row_id, claim = message.receipt
                if not conn.execute("DELETE FROM hueyd_queue WHERE id = ? AND claim = ?",
                                    (row_id, claim)).rowcount:
                    return
            conn.execute(ADD_DEAD, (self.name, message.data, reason, float(ts)))

    @translate_errors
    def hand_back(self, message: Message) -> None:
        """Release the claim and move the row ahead of every waiting one.

        A receipt whose row is gone (the queue was flushed) puts nothing back;
        a message without a receipt is inserted at the head.
        """
        if message.receipt is None:
            self._sql(f"INSERT INTO hueyd_queue (id, name, data) VALUES ({HEAD_ID}, ?, ?)",
                      self.name, message.data)
            return
        row_id, claim = message.receipt
        self._sql(f"""UPDATE hueyd_queue SET id = {HEAD_ID}, claim = NULL, claimed_at = NULL,
                      consumer = NULL WHERE id = ? AND claim = ?""", row_id, claim)

    @translate_errors
    def queue_size(self) -> int:
        return self._sql("SELECT count(*) FROM hueyd_queue WHERE name = ? AND claim IS NULL",
                         self.name)[0][0]

    @translate_errors
    def enqueued_items(self, limit: int | None = None) -> list[bytes]:
        rows = self._sql("""SELECT data FROM hueyd_queue WHERE name = ? AND claim IS NULL
                            ORDER BY priority DESC, id LIMIT ?""", self.name, limit or -1)
        return [r[0] for r in rows]

    @translate_errors
    def flush_queue(self) -> None:
        self._sql("DELETE FROM hueyd_queue WHERE name = ?", self.name)

    # -- schedule ----------------------------------------------------------------------
    @translate_errors
    def add_to_schedule(self, data: bytes, ts: float, priority: int | None = None) -> None:
        self._sql("INSERT INTO hueyd_schedule (name, data, ts, priority) VALUES (?, ?, ?, ?)",
                  self.name, data, float(ts), priority or 0)

    @translate_errors
    def read_schedule(self, ts: float) -> list[bytes]:
        rows = self._sql("""DELETE FROM hueyd_schedule WHERE name = ? AND ts <= ?
                            RETURNING ts, id, data""", self.name, float(ts))
        return [r[2] for r in sorted(rows)]

    @translate_errors
    def move_due(self, ts: float) -> int:
        due = (self.name, float(ts))
        with write_transaction(self._db.get()) as conn:
            moved = conn.execute("""INSERT INTO hueyd_queue (name, data, priority)
                SELECT name, data, priority FROM hueyd_schedule WHERE name = ? AND ts <= ?
                ORDER BY ts, id""", due).rowcount
            conn.execute("DELETE FROM hueyd_schedule WHERE name = ? AND ts <= ?", due)
        return moved

    @translate_errors
    def next_scheduled_time(self) -> float | None:
        return self._sql("SELECT min(ts) FROM hueyd_schedule WHERE name = ?", self.name)[0][0]

    @translate_errors
    def schedule_size(self) -> int:
        return self._sql("SELECT count(*) FROM hueyd_schedule WHERE name = ?", self.name)[0][0]

    @translate_errors
    def scheduled_items(self, limit: int | None = None) -> list[bytes]:
        rows = self._sql("""SELECT data FROM hueyd_schedule WHERE name = ?
                            ORDER BY ts, id LIMIT ?""", self.name, limit or -1)
        return [r[0] for r in rows]

    @translate_errors
    def flush_schedule(self) -> None:
        self._sql("DELETE FROM hueyd_schedule WHERE name = ?", self.name)

    # -- key/value -------------------------------------------------------------------------
    @translate_errors
    def put_data(self, key: str, value: bytes, is_result: bool = False) -> None:
        self._sql("""INSERT INTO hueyd_kv (name, key, value) VALUES (?, ?, ?)
                     ON CONFLICT (name, key) DO UPDATE
                     SET value = excluded.value, expires = NULL""", self.name, key, value)

    @translate_errors
    def peek_data(self, key: str) -> bytes | None:
        rows = self._sql(f"SELECT value FROM hueyd_kv WHERE name = ? AND key = ? AND {LIVE}",
                         self.name, key, time.time())
        return rows[0][0] if rows else None

    @translate_errors
    def peek_many(self, keys: Iterable[str]) -> list[bytes | None]:
        keys = list(keys)
        found: dict[str, bytes] = {}
        now = time.time()
        for start in range(0, len(keys), PEEK_CHUNK):
            chunk = keys[start:start + PEEK_CHUNK]
            marks = ", ".join("?" * len(chunk))
            found.update(self._sql(f"""SELECT key, value FROM hueyd_kv
                WHERE name = ? AND key IN ({marks}) AND {LIVE}""", self.name, *chunk, now))
        return [found.get(k) for k in keys]

    @translate_errors
    def pop_data(self, key: str) -> bytes | None:
        rows = self._sql("""DELETE FROM hueyd_kv WHERE name = ? AND key = ?
                            RETURNING value, expires""", self.name, key)
        return rows[0][0] if rows and _live(rows[0][1]) else None

    @translate_errors
    def put_if_empty(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        # Inserts, or replaces a row whose TTL has run out; a live row stays (0 changes).
        now = time.time()
        return self._count(f"""INSERT INTO hueyd_kv (name, key, value, expires)
            VALUES (?, ?, ?, ?) ON CONFLICT (name, key) DO UPDATE
            SET value = excluded.value, expires = excluded.expires WHERE NOT {LIVE}""",
                           self.name, key, value, now + ttl if ttl else None, now) == 1

    @translate_errors
    def count_in_window(self, key: str, window: int, amount: int = 1) -> int:
        # BEGIN IMMEDIATE: no other process reads the count between our read and write
        with write_transaction(self._db.get()):
            return super().count_in_window(key, window, amount)

    @translate_errors
    def delete_data(self, key: str) -> bool:
        rows = self._sql("DELETE FROM hueyd_kv WHERE name = ? AND key = ? RETURNING expires",
                         self.name, key)
        return bool(rows) and _live(rows[0][0])

    @translate_errors
    def result_store_size(self) -> int:
        return self._sql(f"SELECT count(*) FROM hueyd_kv WHERE name = ? AND {LIVE}",
                         self.name, time.time())[0][0]

    @translate_errors
    def result_items(self) -> dict[str, bytes]:
        return dict(self._sql(f"SELECT key, value FROM hueyd_kv WHERE name = ? AND {LIVE}",
                              self.name, time.time()))

    @translate_errors
    def flush_results(self) -> None:
        self._sql("DELETE FROM hueyd_kv WHERE name = ?", self.name)

    # -- dead letters ----------------------------------------------------------------------
    @translate_errors
    def add_dead_letter(self, data: bytes, reason: str, ts: float) -> None:
        self._sql(ADD_DEAD, self.name, data, reason, float(ts))

    @translate_errors
    def dead_letters(self, limit: int | None = None) -> list[DeadLetter]:
        rows = self._sql("""SELECT data, reason, ts, id FROM hueyd_dead_letter WHERE name = ?
                            ORDER BY id LIMIT ?""", self.name, limit or -1)
        return [DeadLetter(data, reason, ts, str(row_id)) for data, reason, ts, row_id in rows]

    @translate_errors
    def dead_letter_count(self) -> int:
        return self._sql("SELECT count(*) FROM hueyd_dead_letter WHERE name = ?",
                         self.name)[0][0]

    @translate_errors
    def requeue_dead_letters(self, limit: int | None = None) -> int:
        with write_transaction(self._db.get()) as conn:
            moved = conn.execute(f"""INSERT INTO hueyd_queue (name, data)
                SELECT name, data FROM hueyd_dead_letter WHERE {OLDEST_DEAD}""",
                                 (self.name, limit or -1)).rowcount
            conn.execute(f"DELETE FROM hueyd_dead_letter WHERE id IN (SELECT id "
                         f"FROM hueyd_dead_letter WHERE {OLDEST_DEAD})", (self.name, limit or -1))
        return moved

    @translate_errors
    def purge_dead_letters(self, limit: int | None = None) -> int:
        return self._count(f"DELETE FROM hueyd_dead_letter WHERE id IN (SELECT id "
                           f"FROM hueyd_dead_letter WHERE {OLDEST_DEAD})", self.name, limit or -1)


def _live(expires: float | None) -> bool:
    return expires is None or expires > time.time()
