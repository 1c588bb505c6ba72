"""Consumer leases on PostgreSQL (the in-flight half of :mod:`hueyd.storage.postgres`).

As on SQLite: a claimed queue row names its consumer, one consumer row carries the
lease (expiry by the server's clock) and its card; rows of a consumer whose lease ran
out, whose process is gone, or that has no lease row go back to the head of the queue,
each counting one more death, and to the dead letters at ``max_deliveries``. Rows are
locked (``FOR UPDATE SKIP LOCKED``) while they are taken back, so two consumers
recovering at once never move one row twice.
"""
from __future__ import annotations

import logging
from typing import Any

from hueyd.storage.leases import ConsumerCard, ConsumerLease, LeaseHolder, alive, poison_reason
from hueyd.storage.postgres.db import NOW, Connections, Tables, transaction, translate_errors

logger = logging.getLogger("hueyd.storage")


def head_seq(t: Tables) -> str:
    """SQL for a ``seq`` ahead of every row of the queue; parameter: name."""
    return f"(SELECT coalesce(min(seq), 1) - 1 FROM {t.queue} WHERE name = %s)"


class PostgresLeases(LeaseHolder):
    """The lease part of :class:`~hueyd.storage.postgres.PostgresStorage`."""

    def __init__(self, name: str, db: Connections, tables: Tables, lease_timeout: float,
                 max_deliveries: int) -> None:
        super().__init__(lease_timeout, max_deliveries)
        self.name, self._db, self.t = name, db, tables

    @translate_errors
    def _write_lease(self) -> None:
        with self._db.get().cursor() as cursor:
            cursor.execute(f"""INSERT INTO {self.t.consumer} (name, id, expires, card)
                VALUES (%s, %s, {NOW} + %s, %s) ON CONFLICT (name, id) DO UPDATE
                SET expires = excluded.expires, card = excluded.card""",
                           (self.name, self.consumer_id, self.lease_timeout,
                            self.card.to_json()))

    def _leases(self, cursor: Any) -> tuple[dict[str, tuple[ConsumerCard, float]], float]:
        """Every lease of this queue, and the server's time now."""
        cursor.execute(f"SELECT id, card, expires, {NOW} FROM {self.t.consumer} "
                       "WHERE name = %s", (self.name,))
        rows = cursor.fetchall()
        if not rows:
            cursor.execute(f"SELECT {NOW}")
            return {}, float(cursor.fetchone()[0])
        return ({cid: (ConsumerCard.from_json(card), expires) for cid, card, expires, _ in rows},
                float(rows[0][3]))

    def _held_by_the_gone(self, dead: list[str]) -> str:
        return (f"""SELECT id, data, deliveries FROM {self.t.queue} WHERE name = %s
            AND claim IS NOT NULL AND (consumer = ANY(%s) OR consumer IS NULL OR consumer
            NOT IN (SELECT id FROM {self.t.consumer} WHERE name = %s))
            ORDER BY seq DESC FOR UPDATE SKIP LOCKED""")

    @translate_errors
    def recover(self) -> tuple[int, int]:
        """Hand back the rows of dead consumers; returns (requeued, dead-lettered)."""
        with transaction(self._db.get()) as cursor:
            leases, now = self._leases(cursor)
            dead = [cid for cid, _ in self._candidates(leases, now)]
            cursor.execute(self._held_by_the_gone(dead), (self.name, dead, self.name))
            rows = cursor.fetchall()
            dead_lettered = 0
            for row_id, data, deliveries in rows:
                if deliveries + 1 >= self.max_deliveries:
                    cursor.execute(f"""INSERT INTO {self.t.dead} (name, data, reason, ts)
                        VALUES (%s, %s, %s, {NOW})""",
                                   (self.name, data, poison_reason(deliveries + 1)))
                    cursor.execute(f"DELETE FROM {self.t.queue} WHERE id = %s", (row_id,))
                    dead_lettered += 1
                else:
                    self._to_head(cursor, row_id, deliveries + 1)
            cursor.execute(f"DELETE FROM {self.t.consumer} WHERE name = %s AND id = ANY(%s)",
                           (self.name, dead))
        if rows:
            logger.warning("took back %d message(s) held by consumer(s) that are gone (%s)%s",
                           len(rows), ", ".join(dead) or "without a lease",
                           f"; {dead_lettered} set aside as dead letters"
                           if dead_lettered else "")
        return len(rows) - dead_lettered, dead_lettered

    def _to_head(self, cursor: Any, row_id: int, deliveries: int) -> None:
        cursor.execute(f"""UPDATE {self.t.queue} SET seq = {head_seq(self.t)}, claim = NULL,
            claimed_at = NULL, consumer = NULL, deliveries = %s WHERE id = %s""",
                       (self.name, deliveries, row_id))

    @translate_errors
    def stop_consuming(self) -> int:
        if self.consumer_id is None:
            return 0
        with transaction(self._db.get()) as cursor:
            cursor.execute(f"""SELECT id, deliveries FROM {self.t.queue} WHERE name = %s
                AND consumer = %s AND claim IS NOT NULL ORDER BY seq DESC FOR UPDATE""",
                           (self.name, self.consumer_id))
            rows = cursor.fetchall()
            for row_id, deliveries in rows:
                self._to_head(cursor, row_id, deliveries)
            cursor.execute(f"DELETE FROM {self.t.consumer} WHERE name = %s AND id = %s",
                           (self.name, self.consumer_id))
            if rows:
                cursor.execute("SELECT pg_notify(%s, '')", (self.channel,))
        self._leased = False
        return len(rows)

    @property
    def channel(self) -> str:
        return channel_of(self.t, self.name)

    @translate_errors
    def consumers(self) -> list[ConsumerLease]:
        with self._db.get().cursor() as cursor:
            cursor.execute(f"""SELECT consumer, count(*) FROM {self.t.queue}
                WHERE name = %s AND claim IS NOT NULL GROUP BY consumer""", (self.name,))
            counts = dict(cursor.fetchall())
            leases, now = self._leases(cursor)
        return [ConsumerLease(cid, card, expires, counts.get(cid, 0),
                              alive(card, expires, now), expires - now)
                for cid, (card, expires) in sorted(leases.items())]


def channel_of(tables: Tables, name: str) -> str:
    """The NOTIFY channel of a queue (at most 63 bytes: PostgreSQL's identifier limit)."""
    import hashlib
    channel = f"{tables.queue}.{name}"
    if len(channel.encode()) > 63:
        channel = "hueyd." + hashlib.md5(channel.encode(), usedforsecurity=False).hexdigest()
    return channel
