"""The lane (lane.py) across worker processes: no more short-task drains than CPUs.

Process workers have a GIL each, but not a CPU each: when the consumer may use fewer
CPUs than it has worker processes (``taskset``, a cgroup's ``cpu.max``), processes
that all drain short CPU-bound tasks take turns on one core, and every turn costs a
context switch and cold caches (measured pinned to one CPU: 270 µs of CPU per no-op
task with 2 processes, 160 µs with 1 thread). So at most :func:`usable_cpus` of them
drain short tasks at once; the others park before taking, exactly as thread workers
do, and go ahead as soon as a holder has been on one step (a task, a take) for longer
than ``patience``: a long task, an I/O-bound one, or an empty queue. With as many CPUs
as processes there is no lane at all: each drains on its own core.

Each place in the lane is one byte of a file locked with ``fcntl`` (a POSIX record
lock belongs to the process: the kernel releases it when the holder dies, so a worker
killed while it drains stalls no one). The file and a shared page saying when each
holder started its current step are made before the fork. A parked process sleeps
until the holder's step could have run too long, then looks again (no wake-up per
task while the holder drains).
"""
from __future__ import annotations

import contextlib
import fcntl
import math
import mmap
import os
import struct
import tempfile
import time
import weakref
from collections.abc import Callable

from hueyd.consumer.lane import PARK_AT_MOST, Lane

#: one place: the holder's pid and when it started its current step (CLOCK_MONOTONIC,
#: the same clock in every process)
PLACE = struct.Struct("qd")
SINCE = struct.Struct("d")  # the second field alone, rewritten at every step


def usable_cpus(pid: int = 0, cgroup_root: str = "/sys/fs/cgroup") -> int:
    """How many CPUs this process may keep busy at once: its CPU affinity, and the
    quota of its cgroup (v2 ``cpu.max``) when one is set."""
    cpus = len(os.sched_getaffinity(pid))
    try:
        with open(f"/proc/{pid or 'self'}/cgroup") as f:
            path = next(line.split(":", 2)[2].strip() for line in f if line.startswith("0::"))
        with open(os.path.join(cgroup_root, path.lstrip("/"), "cpu.max")) as f:
            quota, period = f.read().split()
    except (OSError, StopIteration, ValueError):
        return cpus
    if quota == "max":
        return cpus
    return max(1, min(cpus, math.ceil(int(quota) / int(period))))


class ProcessLane(Lane):
    """``places`` short-task drains at once among forked workers (one worker each)."""

    def __init__(self, patience: float, places: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(patience, clock)
        self.places = places
        with tempfile.TemporaryFile() as f:  # unlinked at once; the locks need a file
            self._fd = os.dup(f.fileno())
        os.set_inheritable(self._fd, False)  # inherited by fork, not by exec
        os.ftruncate(self._fd, places)
        self._page = mmap.mmap(-1, PLACE.size * places)  # MAP_SHARED: seen by every fork
        weakref.finalize(self, os.close, self._fd)
        self._held: tuple[int, int] | None = None  # (pid, place) while this process holds

    def _place(self) -> int | None:
        held = self._held
        return held[1] if held is not None and held[0] == os.getpid() else None

    def open_to(self, worker: object) -> bool:
        """Whether this process holds a place, taking a free one if there is: a process
        that takes ahead drains, and every drain holds a place (one that went ahead of
        the holders takes nothing ahead: after its task, it parks again)."""
        return self._place() is not None or self._try()

    @property
    def crowded(self) -> bool:
        return False  # no GIL shared: a wait is not another worker's doing

    @property
    def holder(self) -> object | None:
        place = self._place()
        return None if place is None else os.getpid()

    def _try(self) -> bool:
        for place in range(self.places):
            try:
                fcntl.lockf(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, place)
            except OSError:
                continue
            self._held = (os.getpid(), place)
            PLACE.pack_into(self._page, place * PLACE.size, os.getpid(), self.clock())
            return True
        return False

    def enter(self, worker: object, stopping: Callable[[], bool]) -> bool:
        """Before a take: True to go ahead (holding a place if one was free), False
        when every place stayed busy with short steps for :data:`PARK_AT_MOST`."""
        if self._place() is not None:
            return True
        deadline = self.clock() + PARK_AT_MOST
        while not self._try():
            # every place is held (a dead holder's lock is gone: _try took its place)
            since = min(PLACE.unpack_from(self._page, i * PLACE.size)[1]
                        for i in range(self.places))
            now = self.clock()
            if now - since >= self.patience or stopping():
                return True  # a holder is busy with something long: go ahead outside
            if now >= deadline:
                return False
            time.sleep(min(since + self.patience, deadline) - now)
        return True

    def step(self, worker: object, keep: bool) -> None:
        place = self._place()
        if place is not None:
            if keep:
                SINCE.pack_into(self._page, place * PLACE.size + 8, self.clock())
            else:
                self.leave(worker)

    def leave(self, worker: object) -> None:
        place = self._place()
        if place is not None:
            self._held = None
            PLACE.pack_into(self._page, place * PLACE.size, 0, 0.0)
            with contextlib.suppress(OSError):
                fcntl.lockf(self._fd, fcntl.LOCK_UN, 1, place)
