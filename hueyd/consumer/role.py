"""What every consumer role (worker, scheduler) shares: the loop contract and its runner.

A role is ``initialize()`` once, ``loop(now)`` many times, ``shutdown()`` once.
``loop`` does one iteration and returns, so a unit test drives exactly one
iteration with its own clock; the runner (:func:`run_role`) is the only place
that repeats it.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol


class WorkerInterrupted(BaseException):
    """Raised inside a running task to stop it now (SIGTERM, shutdown timeout).

    A ``BaseException``, so huey's execute lets it through unacked and the
    worker can hand the task back to the queue.
    """


class StopFlag(Protocol):
    """Set by the master to stop a role; ``wait`` also returns early when set."""

    def set(self) -> None: ...

    def is_set(self) -> bool: ...

    def wait(self, timeout: float | None = None) -> bool: ...


class Role:
    """One unit of consumer work, run by a worker type's runtime.

    ``busy`` is True while a task runs: only then may a stop raise inside it.
    ``request_reopen`` is safe from a signal handler: it only sets a flag that
    the next iteration acts on (the role's own process reopens its log files).
    """

    name = "role"
    busy = False

    def __init__(self, stop_flag: StopFlag, reopen_logs: Callable[[], None] | None = None) -> None:
        self.stop_flag = stop_flag
        self.reopen_logs = reopen_logs
        self._reopen_pending = False

    def request_reopen(self) -> None:
        self._reopen_pending = True

    def reopen_if_asked(self) -> None:
        if self._reopen_pending:
            self._reopen_pending = False
            if self.reopen_logs is not None:
                self.reopen_logs()

    def initialize(self) -> None:
        """Called once in the role's own thread/process/greenlet before looping."""

    def loop(self, now: float | None = None) -> None:
        raise NotImplementedError

    def shutdown(self) -> None:
        """Called once when the role stops, even after an error."""


def run_role(role: Role, stopping: Callable[[], bool], logger: logging.Logger) -> int:
    """Repeat ``role.loop()`` until ``stopping()``; returns an exit code (0 = clean stop).

    An exception escaping ``loop`` ends the role: the master notices it is dead
    and replaces it at the next health check, as huey does.
    """
    code = 0
    try:
        role.initialize()
        while not stopping():
            role.loop()
    except WorkerInterrupted:
        logger.info("%s interrupted", role.name)
    except BaseException:
        logger.exception("%s died", role.name)
        code = 1
    finally:
        try:
            role.shutdown()
        except BaseException:
            logger.exception("%s failed to shut down cleanly", role.name)
    return code

