"""huey's counters on SQLite: one row per key, each increment one atomic upsert."""
from __future__ import annotations

from hueyd.storage.base import Counters
from hueyd.storage.sqlite.db import Connections, translate_errors


class SqliteCounters(Counters):
    """Rows of ``hueyd_counter`` for one storage name."""

    def __init__(self, name: str, filename: str, db: Connections) -> None:
        self.name, self.filename, self._db = name, filename, db

    @translate_errors
    def incr(self, key: str, amount: int = 1) -> int:
        row = self._db.get().execute(
            """INSERT INTO hueyd_counter (name, key, value) VALUES (?, ?, ?)
               ON CONFLICT (name, key) DO UPDATE SET value = value + excluded.value
               RETURNING value""", (self.name, key, amount)).fetchone()
        return row[0]

    @translate_errors
    def delete(self, key: str) -> None:
        self._db.get().execute("DELETE FROM hueyd_counter WHERE name = ? AND key = ?",
                               (self.name, key))

    @translate_errors
    def flush(self) -> None:
        self._db.get().execute("DELETE FROM hueyd_counter WHERE name = ?", (self.name,))
