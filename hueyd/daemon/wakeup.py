"""POSIX signals for the master: handlers that only record, and a self-pipe that wakes it.

A handler's whole body is ``pending.put_nowait(signum)`` (SimpleQueue.put is
reentrant-safe); the master loop takes the recorded signals and dispatches them
itself, where logging, I/O and exceptions are safe. ``signal.set_wakeup_fd`` on
a non-blocking pipe makes the C-level handler write a byte, so the loop's
``select`` returns even when the signal arrives just before it blocks.
"""
from __future__ import annotations

import contextlib
import os
import queue
import select
import signal
from collections.abc import Iterable
from typing import Any

from hueyd.selfpipe import arm_wakeup_pipe

#: every signal the master may find blocked when it starts: held by hueyd/__main__.py
#: from the first instant of ``hueyd run`` (SIGHUP, SIGUSR1), or by ``block()`` across
#: a re-exec (the old image's signals, SIGCHLD included even if the new one does not
#: handle it). ``install()`` releases them all, so nothing stays blocked in the master
#: or in the workers and task subprocesses that inherit its mask.
MASTER_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1,
                            signal.SIGCHLD})


class SignalWakeup:
    def __init__(self, signals: Iterable[int]) -> None:
        self.signals = tuple(signals)
        self.pending: queue.SimpleQueue[int] = queue.SimpleQueue()
        self.read_fd = self.write_fd = -1
        self._previous: dict[int, Any] = {}
        self._previous_fd = -1

    def install(self) -> None:
        """Record ``signals`` from now on, then release MASTER_SIGNALS: what was held
        since the start or across a re-exec is handled now."""
        self.read_fd, self.write_fd, self._previous_fd = arm_wakeup_pipe()
        for signum in self.signals:
            self._previous[signum] = signal.signal(signum, self.record)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, MASTER_SIGNALS | set(self.signals))

    def record(self, signum: int, frame: object = None) -> None:
        """The signal handler: record, nothing else."""
        self.pending.put_nowait(signum)

    def wait(self, timeout: float | None) -> None:
        """Block until a signal or a ``wake()``, at most ``timeout`` seconds."""
        if self.pending.empty():
            # select, not poll: gevent's monkey-patching keeps select cooperative
            select.select([self.read_fd], [], [], timeout)
        with contextlib.suppress(BlockingIOError):
            while os.read(self.read_fd, 512):
                pass

    def wake(self) -> None:
        """Wake the loop from another thread or greenlet."""
        with contextlib.suppress(BlockingIOError):
            os.write(self.write_fd, b"\0")

    def take(self) -> list[int]:
        """The signals recorded since the last call, in arrival order."""
        taken = []
        while not self.pending.empty():
            taken.append(self.pending.get_nowait())
        return taken

    def block(self) -> None:
        """Hold our signals pending (before exec: the new image handles them)."""
        signal.pthread_sigmask(signal.SIG_BLOCK, MASTER_SIGNALS | set(self.signals))

    def uninstall(self) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
        self._previous.clear()
        signal.set_wakeup_fd(self._previous_fd)
        for fd in (self.read_fd, self.write_fd):
            if fd >= 0:
                os.close(fd)
        self.read_fd = self.write_fd = -1
