"""huey's PostgresStorage on psycopg2 (Debian's python3-psycopg2): ``PostgresHuey('app',
dsn='dbname=app user=app')``, huey 3.5.4's arguments and tables (``<prefix>_task``,
``_schedule``, ``_kv``, ``_counter``, every row tagged with the queue's name).

A take is one ``DELETE ... WHERE id = (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING``,
so workers on any number of hosts never take the same message; ``blocking`` waits on
LISTEN/NOTIFY up to ``read_timeout`` seconds instead of polling. It speaks huey's
interface: a message is gone once taken, so under ``hueyd run`` delivery is
at-most-once, as with huey's consumer (docs/compat.md). Connections are per thread
and per process (a forked worker opens its own).
"""
from __future__ import annotations

import functools
import hashlib
import os
import re
import select
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from hueyd.storage.errors import StorageError
from hueyd.storage.huey_base import BaseStorage, EmptyData, posix_of

F = TypeVar("F", bound=Callable[..., Any])

#: huey's tables, for one prefix
TABLES = (
    "CREATE TABLE IF NOT EXISTS {p}_kv (queue text NOT NULL, key text NOT NULL, "
    "value bytea NOT NULL, PRIMARY KEY (queue, key))",
    "CREATE TABLE IF NOT EXISTS {p}_schedule (id bigserial PRIMARY KEY, queue text NOT NULL, "
    "data bytea NOT NULL, timestamp double precision NOT NULL)",
    "CREATE INDEX IF NOT EXISTS {p}_schedule_queue_timestamp ON {p}_schedule (queue, timestamp)",
    "CREATE TABLE IF NOT EXISTS {p}_task (id bigserial PRIMARY KEY, queue text NOT NULL, "
    "data bytea NOT NULL, priority double precision NOT NULL DEFAULT 0.0)",
    "CREATE INDEX IF NOT EXISTS {p}_task_queue_priority_id ON {p}_task (queue, priority DESC, id)",
    "CREATE TABLE IF NOT EXISTS {p}_counter (queue text NOT NULL, key text NOT NULL, "
    "value bigint NOT NULL DEFAULT 0, PRIMARY KEY (queue, key))",
)


def translate_errors(method: F) -> F:
    """psycopg2's connection and server errors as :class:`StorageError` (callers back
    off and retry); this process's connection is dropped so the next call reconnects."""

    @functools.wraps(method)
    def wrapper(self: PostgresStorage, *args: Any, **kwargs: Any) -> Any:
        import psycopg2
        try:
            return method(self, *args, **kwargs)
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
            self._drop()
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise StorageError(f"postgres: {first}") from exc
    return wrapper  # type: ignore[return-value]


class PostgresStorage(BaseStorage):
    """huey's arguments: ``dsn`` or psycopg2 keywords (host, port, dbname, user...), or
    ``connection``, a callable returning a new psycopg2 connection."""

    priority = True

    def __init__(self, name: str = "huey", dsn: str | None = None,
                 connection: Callable[[], Any] | None = None, blocking: bool = True,
                 read_timeout: float = 1, table_prefix: str = "huey",
                 create_tables: bool = True, **connection_params: Any) -> None:
        super().__init__(name)
        try:
            import psycopg2  # noqa: F401 (a clear error now, not at the first task)
        except ImportError:
            raise ImportError("PostgresHuey needs psycopg2 (Debian: apt install "
                              "python3-psycopg2)") from None
        self.dsn, self.connection, self.connection_params = dsn, connection, connection_params
        self.blocking, self.read_timeout = blocking, read_timeout
        prefix = re.sub("[^A-Za-z0-9_]", "", table_prefix)
        self.table_kv, self.table_schedule = f"{prefix}_kv", f"{prefix}_schedule"
        self.table_task, self.table_counter = f"{prefix}_task", f"{prefix}_counter"
        channel = f"{prefix}.q.{name}"
        if len(channel.encode()) > 63:  # PostgreSQL's identifier limit
            channel = "huey.q." + hashlib.md5(channel.encode(), usedforsecurity=False).hexdigest()
        self.channel = channel
        self._local = threading.local()
        if create_tables:
            self._create_tables(prefix)

    # -- connections -------------------------------------------------------------------
    def _connect(self) -> Any:
        import psycopg2
        conn = (self.connection() if self.connection is not None
                else psycopg2.connect(self.dsn or "", **self.connection_params))
        conn.autocommit = True
        return conn

    def _conn(self, kind: str = "conn") -> Any:
        """This thread's connection of ``kind`` (queries, or the LISTEN one)."""
        pid, conn = getattr(self._local, kind, (None, None))
        if pid != os.getpid() or conn is None or conn.closed:
            conn = self._connect()  # an inherited one is left to its owner process
            setattr(self._local, kind, (os.getpid(), conn))
        return conn

    def _listener(self) -> Any:
        """This thread's connection that LISTENs on the queue's channel."""
        pid, conn = getattr(self._local, "listen", (None, None))
        if pid == os.getpid() and conn is not None and not conn.closed:
            return conn
        conn = self._conn("listen")  # a new one: LISTEN lasts as long as the connection
        quoted = self.channel.replace('"', '""')
        with conn.cursor() as cursor:
            cursor.execute(f'LISTEN "{quoted}"')
        return conn

    def _drop(self) -> None:
        for kind in ("conn", "listen"):
            pid, conn = getattr(self._local, kind, (None, None))
            setattr(self._local, kind, (None, None))
            if conn is not None and pid == os.getpid():
                try:
                    conn.close()
                except Exception:  # noqa: BLE001 (already broken: nothing to add)
                    pass

    def close(self) -> None:
        self._drop()

    @translate_errors
    def _sql(self, query: str, *params: Any) -> list[tuple]:
        with self._conn().cursor() as cursor:
            cursor.execute(query, params)
            return cursor.fetchall() if cursor.description else []

    def _create_tables(self, prefix: str) -> None:
        for statement in TABLES:
            self._sql(statement.format(p=prefix))

    # -- queue -------------------------------------------------------------------------
    def enqueue(self, data: bytes, priority: float | None = None) -> None:
        self._sql(f"""INSERT INTO {self.table_task} (queue, data, priority)
                      VALUES (%s, %s, %s)""", self.name, data, priority or 0)
        self._sql("SELECT pg_notify(%s, '')", self.channel)

    def _take(self) -> bytes | None:
        rows = self._sql(f"""DELETE FROM {self.table_task} WHERE id = (
            SELECT id FROM {self.table_task} WHERE queue = %s ORDER BY priority DESC, id
            LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING data""", self.name)
        return bytes(rows[0][0]) if rows else None

    def dequeue(self) -> bytes | None:
        data = self._take()
        if data is not None or not self.blocking:
            return data
        return self._wait_and_take()

    @translate_errors
    def _wait_and_take(self) -> bytes | None:
        """LISTEN on this thread's own connection until a NOTIFY or ``read_timeout``."""
        listener = self._listener()
        deadline = time.monotonic() + self.read_timeout
        while (remaining := deadline - time.monotonic()) > 0:
            data = self._take()  # also covers a NOTIFY sent before LISTEN took effect
            if data is not None:
                return data
            if select.select([listener], [], [], remaining)[0]:
                listener.poll()
                listener.notifies.clear()
        return None

    def queue_size(self) -> int:
        return self._sql(f"SELECT count(*) FROM {self.table_task} WHERE queue = %s",
                         self.name)[0][0]

    def enqueued_items(self, limit: int | None = None) -> list[bytes]:
        rows = self._sql(f"""SELECT data FROM {self.table_task} WHERE queue = %s
                             ORDER BY priority DESC, id LIMIT %s""", self.name, limit)
        return [bytes(r[0]) for r in rows]

    def flush_queue(self) -> None:
        self._sql(f"DELETE FROM {self.table_task} WHERE queue = %s", self.name)

    # -- schedule ----------------------------------------------------------------------
    def add_to_schedule(self, data: bytes, ts: Any) -> None:
        self._sql(f"""INSERT INTO {self.table_schedule} (queue, data, timestamp)
                      VALUES (%s, %s, %s)""", self.name, data, posix_of(ts))

    def read_schedule(self, ts: Any) -> list[bytes]:
        rows = self._sql(f"""DELETE FROM {self.table_schedule} WHERE id IN (
            SELECT id FROM {self.table_schedule} WHERE queue = %s AND timestamp <= %s
            FOR UPDATE SKIP LOCKED) RETURNING timestamp, id, data""", self.name, posix_of(ts))
        return [bytes(data) for _, _, data in sorted(rows, key=lambda row: row[:2])]

    def schedule_size(self) -> int:
        return self._sql(f"SELECT count(*) FROM {self.table_schedule} WHERE queue = %s",
                         self.name)[0][0]

    def scheduled_items(self, limit: int | None = None) -> list[bytes]:
        rows = self._sql(f"""SELECT data FROM {self.table_schedule} WHERE queue = %s
                             ORDER BY timestamp, id LIMIT %s""", self.name, limit)
        return [bytes(r[0]) for r in rows]

    def flush_schedule(self) -> None:
        self._sql(f"DELETE FROM {self.table_schedule} WHERE queue = %s", self.name)

    # -- key/value ---------------------------------------------------------------------
    def put_data(self, key: str, value: bytes, is_result: bool = False) -> None:
        self._sql(f"""INSERT INTO {self.table_kv} (queue, key, value) VALUES (%s, %s, %s)
                      ON CONFLICT (queue, key) DO UPDATE SET value = excluded.value""",
                  self.name, key, value)

    def peek_data(self, key: str) -> Any:
        rows = self._sql(f"SELECT value FROM {self.table_kv} WHERE queue = %s AND key = %s",
                         self.name, key)
        return bytes(rows[0][0]) if rows else EmptyData

    def peek_many(self, keys: Iterable[str]) -> dict[str, bytes]:
        rows = self._sql(f"""SELECT key, value FROM {self.table_kv}
                             WHERE queue = %s AND key = ANY(%s)""", self.name, list(keys))
        return {key: bytes(value) for key, value in rows}

    def pop_data(self, key: str) -> Any:
        rows = self._sql(f"""DELETE FROM {self.table_kv} WHERE queue = %s AND key = %s
                             RETURNING value""", self.name, key)
        return bytes(rows[0][0]) if rows else EmptyData

    def has_data_for_key(self, key: str) -> bool:
        return bool(self._sql(f"SELECT 1 FROM {self.table_kv} WHERE queue = %s AND key = %s",
                              self.name, key))

    def put_if_empty(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        if ttl is not None:
            raise NotImplementedError("ttl is not supported by PostgresStorage (as in huey)")
        return bool(self._sql(f"""INSERT INTO {self.table_kv} (queue, key, value)
            VALUES (%s, %s, %s) ON CONFLICT DO NOTHING RETURNING 1""", self.name, key, value))

    def incr(self, key: str, amount: int = 1) -> int:
        return self._sql(f"""INSERT INTO {self.table_counter} AS c (queue, key, value)
            VALUES (%s, %s, %s) ON CONFLICT (queue, key)
            DO UPDATE SET value = c.value + excluded.value RETURNING value""",
                         self.name, key, amount)[0][0]

    def delete_counter(self, key: str) -> None:
        self._sql(f"DELETE FROM {self.table_counter} WHERE queue = %s AND key = %s",
                  self.name, key)

    def result_store_size(self) -> int:
        return self._sql(f"SELECT count(*) FROM {self.table_kv} WHERE queue = %s",
                         self.name)[0][0]

    def result_items(self) -> dict[str, bytes]:
        rows = self._sql(f"SELECT key, value FROM {self.table_kv} WHERE queue = %s", self.name)
        return {key: bytes(value) for key, value in rows}

    def flush_results(self) -> None:
        self._sql(f"DELETE FROM {self.table_kv} WHERE queue = %s", self.name)

    def flush_counters(self) -> None:
        self._sql(f"DELETE FROM {self.table_counter} WHERE queue = %s", self.name)
