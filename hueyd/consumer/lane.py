"""One lane for short, CPU-bound tasks among thread workers.

Thread workers share one GIL. When tasks are short and spend their time computing,
several threads draining at once gain nothing: they hand the GIL to each other at
every system call, and each hand-off is a context switch. Measured on a no-op drain,
8 threads ran 35 % slower than 1. So while a worker's tasks are short and CPU-bound,
it holds the lane and the other workers park *before* taking a message (nothing
waits behind a worker that cannot run it). A parked worker goes ahead as soon as
the holder has been on one step (a take or a task) for longer than ``patience``:
a long task, an I/O-bound one, or an empty queue. A worker whose last task waited
(for I/O, a lock, a sleep) twice in a row runs the next one outside the lane, so
I/O-bound tasks keep all the concurrency threads give them (once is forgiven: the
kernel preempting the thread looks the same). Waiting for the GIL looks the same
too: while workers that went ahead are still running outside the lane
(:attr:`Lane.crowded`), the holder does not count its waits.

Greenlets switch only where they wait and processes have a GIL each: the lane is
for thread workers only.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable

#: how long a parked worker waits at most before returning to its loop (to beat its
#: heartbeat and see stop requests); it parks again if the lane is still busy
PARK_AT_MOST = 1.0


def waited(ran: float, cpu: float) -> bool:
    """Whether a task that took ``ran`` seconds, ``cpu`` of them on the CPU, spent more
    than a fifth of its time waiting (I/O, a lock, a sleep; or preempted)."""
    return ran - cpu > 0.2 * ran + 0.0001


class Lane:
    def __init__(self, patience: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.patience = patience
        self.clock = clock
        self._cond = threading.Condition()
        self._holder: object | None = None
        self._since = 0.0  # when the holder started its current step
        self._outside: set[object] = set()  # went ahead while the lane was held
        #: the one parked worker that watches the holder's steps (the others sleep until
        #: woken: seven threads polling every few ms cost the holder its GIL)
        self._watcher: object | None = None

    def open_to(self, worker: object) -> bool:
        """Whether ``worker`` holds the lane, or nobody does. A worker that went ahead
        of the holder takes nothing ahead: after its task, it parks again."""
        return self._holder is None or self._holder is worker

    @property
    def crowded(self) -> bool:
        """Workers that went ahead are still on their task (outside the lane)."""
        return bool(self._outside)

    @property
    def holder(self) -> object | None:
        return self._holder

    def enter(self, worker: object, stopping: Callable[[], bool]) -> bool:
        """Before a take. True: go ahead (holding the lane if it was free). False: the
        lane stayed busy with short steps for :data:`PARK_AT_MOST`; ask again later."""
        deadline = self.clock() + PARK_AT_MOST
        with self._cond:
            self._outside.discard(worker)
            try:
                while self._holder is not None and self._holder is not worker:
                    now = self.clock()
                    if now - self._since >= self.patience or stopping():
                        self._outside.add(worker)
                        self._cond.notify_all()  # the other parked ones go ahead too
                        return True  # the holder is busy with something long
                    if now >= deadline:
                        return False
                    if self._watcher is None:
                        self._watcher = worker
                    wake = self._since + self.patience if self._watcher is worker else deadline
                    self._cond.wait(min(wake, deadline) - now)
                self._holder = worker
                self._since = self.clock()
                return True
            finally:
                if self._watcher is worker:
                    self._watcher = None
                    self._cond.notify()  # another parked worker takes over the watch

    def step(self, worker: object, keep: bool) -> None:
        """``worker`` starts a step: the lane stays its own only if ``keep``."""
        if self._holder is worker:
            if keep:
                self._since = self.clock()
            else:
                self.leave(worker)

    def leave(self, worker: object) -> None:
        """``worker`` stops draining (its next task may wait, the queue is empty, or it
        stops): parked workers may take the lane."""
        self._outside.discard(worker)
        if self._holder is worker:
            with self._cond:
                self._holder = None
                self._cond.notify_all()
