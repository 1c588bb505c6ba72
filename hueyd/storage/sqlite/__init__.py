"""SQLite backend: ``db`` (connections, schema, errors), ``leases`` (claims of dead
consumers), ``storage`` (:class:`SqliteStorage`)."""
from __future__ import annotations

from hueyd.storage.sqlite.storage import SqliteStorage

__all__ = ["SqliteStorage"]
