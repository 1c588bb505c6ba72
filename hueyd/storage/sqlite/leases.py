"""Consumer leases on SQLite (the in-flight half of :mod:`hueyd.storage.sqlite`).

A claimed queue row names its consumer; one ``hueyd_consumer`` row per
consumer carries the lease (expiry by this machine's clock, which every
process sharing the file reads) and its card. Renewing is one row update per
heartbeat, however many rows the consumer holds. Rows of a consumer whose
lease ran out, or whose process is gone, or that has no lease row at all go
back to the head of the queue, each counting one more death; at
``max_deliveries`` a row goes to the dead letters instead.
"""
from __future__ import annotations

import logging
import sqlite3
import time
from typing import TYPE_CHECKING, Any

from hueyd.storage.leases import ConsumerCard, ConsumerLease, LeaseHolder, alive, poison_reason
from hueyd.storage.sqlite.db import translate_errors, write_transaction

if TYPE_CHECKING:  # pragma: no cover
    from hueyd.storage.sqlite.db import Connections

logger = logging.getLogger("hueyd.storage")

#: id that puts a row ahead of every other
HEAD_ID = "(SELECT coalesce(min(id), 1) - 1 FROM hueyd_queue)"
#: claimed rows whose consumer has no lease row (or none recorded); parameter: name
ORPHANED = """(consumer IS NULL OR consumer NOT IN
               (SELECT id FROM hueyd_consumer WHERE name = ?))"""


class SqliteLeases(LeaseHolder):
    """The lease part of :class:`~hueyd.storage.sqlite.SqliteStorage`: the consumers'
    rows, and claims of dead consumers back to the queue."""

    def __init__(self, name: str, filename: str, db: Connections, lease_timeout: float,
                 max_deliveries: int) -> None:
        super().__init__(lease_timeout, max_deliveries)
        self.name, self.filename, self._db = name, filename, db

    @translate_errors
    def _write_lease(self) -> None:
        self._db.get().execute(
            """INSERT INTO hueyd_consumer (name, id, expires, card) VALUES (?, ?, ?, ?)
               ON CONFLICT (name, id) DO UPDATE
               SET expires = excluded.expires, card = excluded.card""",
            (self.name, self.consumer_id, time.time() + self.lease_timeout,
             self.card.to_json()))

    def _read_leases(self, conn: sqlite3.Connection) -> dict[str, tuple[ConsumerCard, float]]:
        rows = conn.execute("SELECT id, card, expires FROM hueyd_consumer WHERE name = ?",
                            (self.name,))
        return {cid: (ConsumerCard.from_json(card), expires) for cid, card, expires in rows}

    def _plan(self, conn: sqlite3.Connection, now: float) -> tuple[list[str], bool]:
        """Consumers to take back from, and whether orphaned claims exist."""
        dead = [cid for cid, _ in self._candidates(self._read_leases(conn), now)]
        orphans = conn.execute(f"""SELECT 1 FROM hueyd_queue WHERE name = ?
                                   AND claim IS NOT NULL AND {ORPHANED} LIMIT 1""",
                               (self.name, self.name)).fetchone()
        return dead, orphans is not None

    @translate_errors
    def recover(self) -> tuple[int, int]:
        """Hand back the rows of dead consumers; returns (requeued, dead-lettered).
        A read only, unless something is to be taken back."""
        now = time.time()
        dead, orphans = self._plan(self._db.get(), now)
        if not dead and not orphans:
            return 0, 0
        with write_transaction(self._db.get()) as conn:
            dead, orphans = self._plan(conn, now)  # again, under the write lock
            marks = ", ".join("?" * len(dead))
            rows = conn.execute(
                f"""SELECT id, data, deliveries FROM hueyd_queue WHERE name = ?
                    AND claim IS NOT NULL AND (consumer IN ({marks}) OR {ORPHANED})
                    ORDER BY id DESC""", (self.name, *dead, self.name)).fetchall()
            requeued = dead_lettered = 0
            for row_id, data, deliveries in rows:
                if deliveries + 1 >= self.max_deliveries:
                    conn.execute("""INSERT INTO hueyd_dead_letter (name, data, reason, ts)
                                    VALUES (?, ?, ?, ?)""",
                                 (self.name, data, poison_reason(deliveries + 1), now))
                    conn.execute("DELETE FROM hueyd_queue WHERE id = ?", (row_id,))
                    dead_lettered += 1
                else:
                    _to_head(conn, row_id, deliveries + 1)
                    requeued += 1
            conn.executemany("DELETE FROM hueyd_consumer WHERE name = ? AND id = ?",
                             [(self.name, cid) for cid in dead])
        if rows:
            logger.warning("took back %d message(s) held by consumer(s) that are gone (%s)%s",
                           len(rows), ", ".join(dead) or "without a lease",
                           f"; {dead_lettered} set aside as dead letters"
                           if dead_lettered else "")
        return requeued, dead_lettered

    @translate_errors
    def stop_consuming(self) -> int:
        if self.consumer_id is None:
            return 0
        with write_transaction(self._db.get()) as conn:
            rows = conn.execute("""SELECT id, deliveries FROM hueyd_queue WHERE name = ?
                                   AND consumer = ? AND claim IS NOT NULL ORDER BY id DESC""",
                                (self.name, self.consumer_id)).fetchall()
            for row_id, deliveries in rows:
                _to_head(conn, row_id, deliveries)
            conn.execute("DELETE FROM hueyd_consumer WHERE name = ? AND id = ?",
                         (self.name, self.consumer_id))
        self._leased = False
        return len(rows)

    @translate_errors
    def consumers(self) -> list[ConsumerLease]:
        now = time.time()
        conn = self._db.get()
        counts: dict[Any, int] = dict(conn.execute(
            """SELECT consumer, count(*) FROM hueyd_queue WHERE name = ? AND claim IS NOT NULL
               GROUP BY consumer""", (self.name,)).fetchall())
        return [ConsumerLease(cid, card, expires, counts.get(cid, 0),
                              alive(card, expires, now), expires - now)
                for cid, (card, expires) in sorted(self._read_leases(conn).items())]


def _to_head(conn: sqlite3.Connection, row_id: int, deliveries: int) -> None:
    """Release a claimed row and put it ahead of every waiting one."""
    conn.execute(f"""UPDATE hueyd_queue SET id = {HEAD_ID}, claim = NULL, claimed_at = NULL,
                     consumer = NULL, deliveries = ? WHERE id = ?""", (deliveries, row_id))
