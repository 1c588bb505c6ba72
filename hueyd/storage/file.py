"""huey's FileStorage: a folder, one file per message, schedule entry, value and counter.

Every change happens under one exclusive lock: ``flock`` on ``<path>/.lock`` (so
several processes share the folder safely, as process workers do), or a thread lock
with ``use_thread_lock=True`` (one process only). Files are written under a
temporary name and renamed, so a reader never sees half a message. Names sort in
the order things are taken: queue ``<65535-priority>-<ns>``, schedule ``<ms>-<ns>``.
It speaks huey's interface (:class:`~hueyd.storage.huey_base.BaseStorage`): under
``hueyd run`` delivery is at-most-once. For small deployments and tests, as in huey.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import struct
import threading
import time
from collections.abc import Iterator
from typing import Any

from hueyd.storage.huey_base import BaseStorage, EmptyData, posix_of

MAX_PRIORITY = 0xFFFF
#: a value file starts with the key's length and the expiry (POSIX seconds, 0: none)
HEADER = struct.Struct(">Id")
TMP = ".tmp"


class FileLock:
    """huey's FileLock: an exclusive lock on a file, across processes (flock) and threads
    (each acquisition opens its own descriptor, so a forked child never shares one)."""

    def __init__(self, filename: str) -> None:
        os.makedirs(os.path.dirname(filename) or ".", exist_ok=True)
        self.filename = filename
        self._threads = threading.Lock()
        self._fd: int | None = None

    def acquire(self) -> None:
        self._threads.acquire()
        try:
            fd = os.open(self.filename, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            self._threads.release()
            raise
        self._fd = fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        try:
            if fd is not None:
                os.close(fd)  # closing the descriptor releases the flock
        finally:
            self._threads.release()

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class FileStorage(BaseStorage):
    """``FileHuey('app', path='/var/lib/app/queue', levels=2, use_thread_lock=False)``."""

    priority = True
    supports_hash_ttl = True

    def __init__(self, name: str = "huey", path: str = "huey-storage", levels: int = 2,
                 use_thread_lock: bool = False, **storage_kwargs: Any) -> None:
        super().__init__(name)
        if os.path.exists(path) and not os.path.isdir(path):
            raise ValueError(f"FileStorage path {path!r} is not a folder")
        if not 0 <= levels <= 4:
            raise ValueError(f"FileStorage levels must be 0 to 4, not {levels}")
        self.path, self.levels = path, levels
        self.queue_path = os.path.join(path, "queue")
        self.schedule_path = os.path.join(path, "schedule")
        self.result_path = os.path.join(path, "results")
        self.counter_path = os.path.join(path, "counters")
        if use_thread_lock:
            self.lock: Any = threading.Lock()
        else:
            self.lock = FileLock(os.path.join(path, ".lock"))

    # -- files -------------------------------------------------------------------------
    @staticmethod
    def _write(filename: str, data: bytes) -> None:
        os.makedirs(os.path.dirname(filename), exist_ok=True)
        with open(filename + TMP, "wb") as fh:
            fh.write(data)
        os.replace(filename + TMP, filename)

    @staticmethod
    def _read(filename: str) -> bytes | None:
        try:
            with open(filename, "rb") as fh:
                return fh.read()
        except FileNotFoundError:
            return None

    @staticmethod
    def _names(folder: str) -> list[str]:
        try:
            return sorted(n for n in os.listdir(folder) if not n.endswith(TMP))
        except FileNotFoundError:
            return []

    def _contents(self, folder: str, limit: int | None) -> list[bytes]:
        found = (self._read(os.path.join(folder, n)) for n in self._names(folder)[:limit])
        return [data for data in found if data is not None]

    @staticmethod
    def _flush(folder: str) -> None:
        shutil.rmtree(folder, ignore_errors=True)

    # -- queue -------------------------------------------------------------------------
    def enqueue(self, data: bytes, priority: float | None = None) -> None:
        level = int(priority or 0)
        if not 0 <= level <= MAX_PRIORITY:
            raise ValueError(f"priority must be 0 to {MAX_PRIORITY}, not {priority}")
        with self.lock:
            self._write(self._new_name(self.queue_path, f"{MAX_PRIORITY - level:04x}"), data)

    @staticmethod
    def _new_name(folder: str, prefix: str) -> str:
        """A name after every name with the same prefix (the caller holds the lock)."""
        stamp = time.time_ns()
        while True:
            filename = os.path.join(folder, f"{prefix}-{stamp:016x}")
            if not os.path.exists(filename):
                return filename
            stamp += 1

    def dequeue(self) -> bytes | None:
        with self.lock:
            for name in self._names(self.queue_path)[:1]:
                filename = os.path.join(self.queue_path, name)
                data = self._read(filename)
                os.unlink(filename)
                return data
        return None

    def queue_size(self) -> int:
        return len(self._names(self.queue_path))

    def enqueued_items(self, limit: int | None = None) -> list[bytes]:
        return self._contents(self.queue_path, limit)

    def flush_queue(self) -> None:
        with self.lock:
            self._flush(self.queue_path)

    # -- schedule ----------------------------------------------------------------------
    @staticmethod
    def _ms(ts: Any) -> str:
        return f"{max(0, int(posix_of(ts) * 1000)):012x}"

    def add_to_schedule(self, data: bytes, ts: Any) -> None:
        with self.lock:
            self._write(self._new_name(self.schedule_path, self._ms(ts)), data)

    def read_schedule(self, ts: Any) -> list[bytes]:
        due, until = [], self._ms(ts)
        with self.lock:
            for name in self._names(self.schedule_path):
                if name[:12] > until:
                    break
                filename = os.path.join(self.schedule_path, name)
                data = self._read(filename)
                os.unlink(filename)
                if data is not None:
                    due.append(data)
        return due

    def schedule_size(self) -> int:
        return len(self._names(self.schedule_path))

    def scheduled_items(self, limit: int | None = None) -> list[bytes]:
        return self._contents(self.schedule_path, limit)

    def flush_schedule(self) -> None:
        with self.lock:
            self._flush(self.schedule_path)

    # -- key/value ---------------------------------------------------------------------
    def path_for_key(self, key: str | bytes) -> str:
        raw = key.encode() if isinstance(key, str) else key
        digest = hashlib.md5(raw, usedforsecurity=False).hexdigest()
        return os.path.join(self.result_path, *digest[:self.levels], digest)

    def _load(self, filename: str) -> tuple[str, bytes] | None:
        """(key, value) of a value file, or None: missing, expired or unreadable."""
        raw = self._read(filename)
        if raw is None or len(raw) < HEADER.size:
            return None
        size, expires = HEADER.unpack_from(raw)
        key = raw[HEADER.size:HEADER.size + size]
        if len(key) != size or (expires and expires <= time.time()):
            return None
        return key.decode("utf-8", "replace"), raw[HEADER.size + size:]

    def _store(self, key: str | bytes, value: bytes, ttl: float | None = None) -> None:
        raw = key.encode() if isinstance(key, str) else key
        header = HEADER.pack(len(raw), time.time() + ttl if ttl else 0.0)
        self._write(self.path_for_key(key), header + raw + value)

    def put_data(self, key: str, value: bytes, is_result: bool = False) -> None:
        with self.lock:
            self._store(key, value)

    def put_if_empty(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        with self.lock:
            if self._load(self.path_for_key(key)) is not None:
                return False
            self._store(key, value, ttl)
            return True

    def peek_data(self, key: str) -> Any:
        found = self._load(self.path_for_key(key))
        return EmptyData if found is None else found[1]

    def pop_data(self, key: str) -> Any:
        filename = self.path_for_key(key)
        with self.lock:
            found = self._load(filename)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(filename)
        return EmptyData if found is None else found[1]

    def has_data_for_key(self, key: str) -> bool:
        return self._load(self.path_for_key(key)) is not None

    def _value_files(self) -> Iterator[str]:
        for root, _, names in os.walk(self.result_path):
            yield from (os.path.join(root, n) for n in names if not n.endswith(TMP))

    def result_store_size(self) -> int:
        return len(self.result_items())

    def result_items(self) -> dict[str, bytes]:
        return dict(item for item in map(self._load, self._value_files()) if item is not None)

    def flush_results(self) -> None:
        with self.lock:
            self._flush(self.result_path)

    # -- counters ----------------------------------------------------------------------
    def _counter_file(self, key: str) -> str:
        digest = hashlib.md5(key.encode(), usedforsecurity=False).hexdigest()
        return os.path.join(self.counter_path, digest)

    def incr(self, key: str, amount: int = 1) -> int:
        filename = self._counter_file(key)
        with self.lock:
            raw = self._read(filename)
            value = (int(raw) if raw and raw.strip().lstrip(b"-").isdigit() else 0) + amount
            self._write(filename, str(value).encode())
        return value

    def delete_counter(self, key: str) -> None:
        with self.lock, contextlib.suppress(FileNotFoundError):
            os.unlink(self._counter_file(key))

    def flush_counters(self) -> None:
        with self.lock:
            self._flush(self.counter_path)
