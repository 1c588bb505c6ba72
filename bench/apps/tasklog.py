"""The benchmark's task record: one fixed-width line per task run, appended to a file.

A no-op task still has to leave proof that it ran, and when: the line holds the
task's sequence number, the PID that ran it and the wall-clock time at which its
body started. The file is opened with ``O_APPEND``, so thread, greenlet and
process workers append whole lines without a lock and without a Redis round trip
(which would blur the consumer's own Redis traffic we want to count). Fixed-width
lines let the harness count finished tasks from the file size alone.

Imported by both apps (huey's and hueyd's) and by the harness; imports neither.
"""
from __future__ import annotations

import os
import time
from typing import NamedTuple

#: environment variable naming the record file, set by the harness for the consumer
LOG_ENV = "HUEYD_BENCH_LOG"
LINE = "{seq:010d} {pid:07d} {started:017.6f}\n"
LINE_BYTES = len(LINE.format(seq=0, pid=0, started=time.time()))

_fd: int | None = None
_fd_pid = 0


class Record(NamedTuple):
    seq: int
    pid: int
    started: float


def record(seq: int) -> None:
    """The task body: note when task ``seq`` started (reopens the file after a fork)."""
    started = time.time()
    global _fd, _fd_pid
    if _fd is None or _fd_pid != os.getpid():
        _fd = os.open(os.environ[LOG_ENV], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        _fd_pid = os.getpid()
    os.write(_fd, LINE.format(seq=seq, pid=_fd_pid, started=started).encode())


def count(path: str) -> int:
    """How many tasks have written their line so far."""
    try:
        return os.stat(path).st_size // LINE_BYTES
    except FileNotFoundError:
        return 0


def read(path: str) -> list[Record]:
    """Every record of the file, in the order written."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return []
    records = []
    for line in data.splitlines():
        seq, pid, started = line.split()
        records.append(Record(int(seq), int(pid), float(started)))
    return records


def wait_count(path: str, target: int, timeout: float, interval: float = 0.001) -> int:
    """Poll until ``target`` records exist or ``timeout`` passes; the count reached."""
    deadline = time.monotonic() + timeout
    while True:
        n = count(path)
        if n >= target or time.monotonic() >= deadline:
            return n
        time.sleep(interval)
