"""PostgreSQL plumbing for :mod:`hueyd.storage.postgres`: table names, schema,
connections per thread and per process, transactions, error translation.

Times that several hosts compare (lease expiry, TTLs) come from the server's clock
(:data:`NOW`), so consumers on machines whose clocks differ agree.
"""
from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from hueyd.storage.errors import StorageError

F = TypeVar("F", bound=Callable[..., Any])

#: the server's clock, in POSIX seconds
NOW = "extract(epoch from clock_timestamp())"


@dataclass(frozen=True)
class Tables:
    """The table names for one prefix (huey's ``table_prefix``)."""

    queue: str
    consumer: str
    schedule: str
    kv: str
    dead: str
    counter: str

    @classmethod
    def for_prefix(cls, prefix: str) -> Tables:
        return cls(*(f"{prefix}_{part}" for part in
                     ("queue", "consumer", "schedule", "kv", "dead_letter", "counter")))

    def schema(self) -> list[str]:
        """CREATE statements; a queue row's ``seq`` orders it (a handed-back row gets one
        below every other), ``claim`` marks the take that holds it under ``consumer``."""
        return [
            f"CREATE SEQUENCE IF NOT EXISTS {self.queue}_seq",
            f"""CREATE TABLE IF NOT EXISTS {self.queue} (id bigserial PRIMARY KEY,
                name text NOT NULL, data bytea NOT NULL,
                priority double precision NOT NULL DEFAULT 0,
                seq bigint NOT NULL DEFAULT nextval('{self.queue}_seq'),
                claim bigint, claimed_at double precision, consumer text,
                deliveries integer NOT NULL DEFAULT 0)""",
            f"""CREATE INDEX IF NOT EXISTS {self.queue}_next ON {self.queue}
                (name, priority DESC, seq) WHERE claim IS NULL""",
            f"""CREATE INDEX IF NOT EXISTS {self.queue}_claimed ON {self.queue}
                (name, consumer) WHERE claim IS NOT NULL""",
            f"""CREATE TABLE IF NOT EXISTS {self.consumer} (name text NOT NULL,
                id text NOT NULL, expires double precision NOT NULL, card text NOT NULL,
                PRIMARY KEY (name, id))""",
            f"""CREATE TABLE IF NOT EXISTS {self.schedule} (id bigserial PRIMARY KEY,
                name text NOT NULL, data bytea NOT NULL, ts double precision NOT NULL,
                priority double precision NOT NULL DEFAULT 0)""",
            f"CREATE INDEX IF NOT EXISTS {self.schedule}_due ON {self.schedule} (name, ts, id)",
            f"""CREATE TABLE IF NOT EXISTS {self.kv} (name text NOT NULL, key text NOT NULL,
                value bytea NOT NULL, expires double precision, PRIMARY KEY (name, key))""",
            f"""CREATE TABLE IF NOT EXISTS {self.dead} (id bigserial PRIMARY KEY,
                name text NOT NULL, data bytea NOT NULL, reason text NOT NULL,
                ts double precision NOT NULL)""",
            f"""CREATE TABLE IF NOT EXISTS {self.counter} (name text NOT NULL,
                key text NOT NULL, value bigint NOT NULL, PRIMARY KEY (name, key))""",
        ]


def translate_errors(method: F) -> F:
    """psycopg2's connection errors as :class:`StorageError` (callers back off); the
    thread's connections are dropped so the next call reconnects."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        import psycopg2
        try:
            return method(self, *args, **kwargs)
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
            self._db.drop()
            text = str(exc).strip()
            line = text.splitlines()[0] if text else type(exc).__name__
            raise StorageError(f"postgres at {self._db.location}: {line}") from exc
    return wrapper  # type: ignore[return-value]


class Connections:
    """One autocommit connection per thread and process (and one that LISTENs); a
    forked child opens its own, and leaves the inherited ones to their owner."""

    def __init__(self, dsn: str | None, connection: Callable[[], Any] | None,
                 params: dict[str, Any], schema: list[str] | None) -> None:
        self.dsn, self.connection, self.params = dsn, connection, params
        self._schema = schema
        self._schema_pid: int | None = None
        self._local = threading.local()
        where = dict(p.split("=", 1) for p in (dsn or "").split() if "=" in p)
        where.update({k: str(v) for k, v in params.items()})
        self.location = (f"{where.get('host', 'localhost')}:{where.get('port', 5432)}"
                         f"/{where.get('dbname', where.get('database', ''))}")

    def _open(self) -> Any:
        import psycopg2
        conn = (self.connection() if self.connection is not None
                else psycopg2.connect(self.dsn or "", **self.params))
        conn.autocommit = True
        if self._schema and self._schema_pid != os.getpid():
            with transaction(conn) as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(7419)")  # one creator at a time
                for statement in self._schema:
                    cursor.execute(statement)
            self._schema_pid = os.getpid()
        return conn

    def get(self, kind: str = "conn") -> Any:
        pid, conn = getattr(self._local, kind, (None, None))
        if pid != os.getpid() or conn is None or conn.closed:
            conn = self._open()
            setattr(self._local, kind, (os.getpid(), conn))
        return conn

    def listener(self, channel: str) -> Any:
        """This thread's connection that LISTENs on ``channel``."""
        pid, conn = getattr(self._local, "listen", (None, None))
        if pid == os.getpid() and conn is not None and not conn.closed:
            return conn
        conn = self.get("listen")
        quoted = channel.replace('"', '""')
        with conn.cursor() as cursor:
            cursor.execute(f'LISTEN "{quoted}"')
        return conn

    def drop(self) -> None:
        for kind in ("conn", "listen"):
            pid, conn = getattr(self._local, kind, (None, None))
            setattr(self._local, kind, (None, None))
            if conn is not None and pid == os.getpid():
                try:
                    conn.close()
                except Exception:  # noqa: BLE001 (already broken: nothing to add)
                    pass


@contextmanager
def transaction(conn: Any) -> Iterator[Any]:
    """A cursor inside BEGIN ... COMMIT (ROLLBACK on an error) on an autocommit connection."""
    with conn.cursor() as cursor:
        cursor.execute("BEGIN")
        try:
            yield cursor
        except BaseException:
            if not conn.closed:
                cursor.execute("ROLLBACK")
            raise
        cursor.execute("COMMIT")
