"""SQLite plumbing for :mod:`hueyd.storage.sqlite`: schema, one connection per
thread per process, write transactions, error translation.

A thread's (or greenlet's) connection is closed when it ends, so a web app
with a thread per request does not leak them. Connections must never cross
``fork()``: a child that inherits one opens its own, and the inherited one is
kept referenced and never closed (closing it in the child could release the
child's own POSIX locks on the file). A parent should still
:meth:`Connections.close` before forking workers, so that SQLite's per-process
lock bookkeeping is not inherited either.
"""
from __future__ import annotations

import functools
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar
from urllib.parse import quote

from hueyd.storage.errors import StorageError, StorageRefused, StorageUnusable

F = TypeVar("F", bound=Callable[..., Any])

JOURNAL_MODES = ("wal", "delete", "truncate", "persist", "memory", "off")

#: SQLite's primary result codes that no retry changes: no permission, read-only, corrupt,
#: cannot open (a missing or closed folder), not a database
PERM, READONLY, CORRUPT, CANTOPEN, NOTADB = 3, 8, 11, 14, 26
UNUSABLE = (PERM, READONLY, CORRUPT, CANTOPEN, NOTADB)

#: bumped when a table changes shape (2: consumer leases on claimed queue rows)
SCHEMA_VERSION = 2

SCHEMA = (
    # claim: token of the dequeue that holds the row (NULL = waiting); consumer: whose
    # lease covers the claim; deliveries: claims that ended with their consumer's death.
    """CREATE TABLE IF NOT EXISTS hueyd_queue (
        id INTEGER PRIMARY KEY, name TEXT NOT NULL, data BLOB NOT NULL,
        priority NUMERIC NOT NULL DEFAULT 0, claim INTEGER, claimed_at REAL,
        consumer TEXT, deliveries INTEGER NOT NULL DEFAULT 0)""",
    """CREATE INDEX IF NOT EXISTS hueyd_queue_next
        ON hueyd_queue (name, priority DESC, id) WHERE claim IS NULL""",
    # one lease per consumer (renewed by its heartbeat) covers all the rows it claimed
    """CREATE TABLE IF NOT EXISTS hueyd_consumer (
        name TEXT NOT NULL, id TEXT NOT NULL, expires REAL NOT NULL, card TEXT NOT NULL,
        PRIMARY KEY (name, id)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS hueyd_schedule (
        id INTEGER PRIMARY KEY, name TEXT NOT NULL, data BLOB NOT NULL,
        ts REAL NOT NULL, priority NUMERIC NOT NULL DEFAULT 0)""",
    "CREATE INDEX IF NOT EXISTS hueyd_schedule_due ON hueyd_schedule (name, ts, id)",
    """CREATE TABLE IF NOT EXISTS hueyd_kv (
        name TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, expires REAL,
        PRIMARY KEY (name, key)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS hueyd_dead_letter (
        id INTEGER PRIMARY KEY, name TEXT NOT NULL, data BLOB NOT NULL,
        reason TEXT NOT NULL, ts REAL NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS hueyd_dead_letter_name ON hueyd_dead_letter (name, id)",
    # huey's counters (incr): rate limits
    """CREATE TABLE IF NOT EXISTS hueyd_counter (
        name TEXT NOT NULL, key TEXT NOT NULL, value INTEGER NOT NULL,
        PRIMARY KEY (name, key)) WITHOUT ROWID""",
)

#: columns added since version 1, for files created by an older hueyd
ADDED_COLUMNS = (("hueyd_queue", "consumer", "TEXT"),
                 ("hueyd_queue", "deliveries", "INTEGER NOT NULL DEFAULT 0"))

#: statements that need the added columns
LATE_SCHEMA = (
    """CREATE INDEX IF NOT EXISTS hueyd_queue_claimed
        ON hueyd_queue (name, consumer) WHERE claim IS NOT NULL""",
)

#: connections a forked child inherited: referenced forever so they are never finalized
_INHERITED: list[sqlite3.Connection] = []


def _release(conn: sqlite3.Connection, owner_pid: int) -> None:
    """Close a connection whose thread ended or whose storage closed, unless it
    was inherited over fork: that one is only set aside."""
    if os.getpid() == owner_pid:
        conn.close()
    else:
        _INHERITED.append(conn)


class _ThreadConnection:
    """Lives in one thread's (or greenlet's) local storage; when that ends, the
    holder is collected and its finalizer releases the connection."""

    __slots__ = ("conn", "key", "__weakref__")

    def __init__(self, conn: sqlite3.Connection, key: tuple[int, int]) -> None:
        self.conn = conn
        self.key = key  # (pid, generation) it was opened for


#: primary result codes that say the file refuses writes (a full disk, a read-only
#: file or folder), as opposed to a lock held too long (``sqlite_errorcode``: 3.11)
REFUSING = {getattr(sqlite3, name, -1) for name in ("SQLITE_FULL", "SQLITE_READONLY")}


def translate_errors(method: F) -> F:
    """Raise :class:`StorageError` (naming the file) when SQLite cannot serve us:
    locked past the busy timeout, I/O errors; :class:`StorageRefused` when it refuses
    writes for now (a full disk); :class:`StorageUnusable` when it never will:
    unopenable, read-only, not a database, corrupt."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, (sqlite3.IntegrityError, sqlite3.ProgrammingError)):
                raise  # our bug, not the backend's state
            error = storage_error(self.filename, exc)
            code = getattr(exc, "sqlite_errorcode", -1) & 0xFF
            if type(error) is StorageError and code in REFUSING:  # a full disk
                error = StorageRefused(str(error))
            raise error from exc

    return wrapper  # type: ignore[return-value]


def storage_error(filename: str, exc: sqlite3.DatabaseError) -> StorageError:
    """The error for ``exc``: what no retry changes is :class:`StorageUnusable`, with the
    reason a read-only or unopenable file has (the file, or its folder)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None or code & 0xFF not in UNUSABLE:
        return StorageError(f"sqlite {filename}: {exc}")
    why = access_problem(filename) if code & 0xFF in (PERM, READONLY, CANTOPEN) else None
    return StorageUnusable(f"sqlite {filename}: {exc}{f': {why}' if why else ''}")


def access_problem(filename: str) -> str | None:
    """Why this process cannot write the database ``filename`` or the journal files SQLite
    keeps beside it (-wal, -shm, -journal), or None."""
    if filename in ("", ":memory:") or filename.startswith("file:"):
        return None
    path = os.path.abspath(filename)
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        return f"its folder {folder} does not exist"
    if not os.access(folder, os.W_OK | os.X_OK):
        return (f"its folder {folder} is not writable (SQLite writes its -wal and -journal "
                "files there)")
    if os.path.exists(path) and not os.access(path, os.R_OK | os.W_OK):
        return "the file is not writable"
    return None


def check_file(filename: str, timeout: float) -> None:
    """Raise :class:`StorageError` unless ``filename`` is a database this process can
    write, or does not exist yet in a folder it can write. Creates nothing. A folder that
    does not exist yet is only a StorageError: systemd creates the unit's StateDirectory=
    at its first start, after ``hueyd check``."""
    folder = os.path.dirname(os.path.abspath(filename))
    if filename not in ("", ":memory:") and not os.path.isdir(folder):
        raise StorageError(f"sqlite {filename}: its folder {folder} does not exist yet")
    problem = access_problem(filename)
    if problem:
        raise StorageUnusable(f"sqlite {filename}: {problem}")
    if filename in ("", ":memory:") or not os.path.exists(filename):
        return
    try:
        conn = sqlite3.connect(f"file:{quote(os.path.abspath(filename))}?mode=rw", uri=True,
                               timeout=timeout, isolation_level=None)
        try:
            conn.execute("PRAGMA schema_version").fetchone()  # reads the header
            conn.execute("BEGIN IMMEDIATE")  # takes the write lock: fails if read-only
            conn.execute("ROLLBACK")
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise storage_error(filename, exc) from exc


class Connections:
    """One connection per thread (or greenlet) per process, opened on first use."""

    def __init__(self, filename: str, timeout: float, journal_mode: str,
                 synchronous: str, cache_kib: int) -> None:
        if journal_mode.lower() not in JOURNAL_MODES:
            raise ValueError(f"journal_mode {journal_mode!r}: expected one of "
                             f"{', '.join(JOURNAL_MODES)}")
        self.filename = filename
        self.timeout = timeout
        self.journal_mode = journal_mode.lower()
        self._pragmas = (f"PRAGMA synchronous = {synchronous}",
                         f"PRAGMA cache_size = -{cache_kib}")
        self._local = threading.local()
        self._lock = threading.Lock()
        self._finalizers: list[weakref.finalize] = []  # one per open connection
        self._generation = 0  # bumped by close(): every thread reopens
        self._schema_pid: int | None = None

    def get(self) -> sqlite3.Connection:
        """This thread's connection, opened (with the schema in place) if needed."""
        key = (os.getpid(), self._generation)
        holder = getattr(self._local, "holder", None)
        if holder is not None and holder.key == key:
            return holder.conn
        conn = self._connect()
        holder = _ThreadConnection(conn, key)
        with self._lock:
            self._finalizers = [f for f in self._finalizers if f.alive]
            self._finalizers.append(weakref.finalize(holder, _release, conn, key[0]))
        self._local.holder = holder  # replacing an old holder releases its connection
        return conn

    def close(self) -> None:
        """Close every connection this process opened, in any thread."""
        with self._lock:
            finalizers, self._finalizers = self._finalizers, []
            self._generation += 1
        for finalizer in finalizers:
            finalizer()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.filename, timeout=self.timeout, isolation_level=None,
                               check_same_thread=False)
        try:
            self._set_journal_mode(conn)
            for pragma in self._pragmas:
                conn.execute(pragma)
            if self._schema_pid != os.getpid():
                with write_transaction(conn):
                    for statement in SCHEMA:
                        conn.execute(statement)
                    add_missing_columns(conn)
                    for statement in LATE_SCHEMA:
                        conn.execute(statement)
                    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                self._schema_pid = os.getpid()
        except BaseException:
            conn.close()
            raise
        return conn

    def _set_journal_mode(self, conn: sqlite3.Connection) -> None:
        """Switch the file's journal mode, retrying while other processes hold it.

        The switch needs a lock no busy handler waits for, so several processes
        opening a new file at once can see "database is locked" here.
        """
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                current = conn.execute("PRAGMA journal_mode").fetchone()[0]
                if current != self.journal_mode:
                    conn.execute(f"PRAGMA journal_mode = {self.journal_mode}")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)


def add_missing_columns(conn: sqlite3.Connection) -> None:
    """Bring a table made by an older version up to date (ALTER TABLE ADD COLUMN)."""
    for table, column, declaration in ADDED_COLUMNS:
        present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        if column not in present:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")


@contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE: take the write lock first, so what is read is what is changed."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
