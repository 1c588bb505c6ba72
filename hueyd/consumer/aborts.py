"""Ending a hung worker process with a trace: SIGABRT first, SIGKILL after a grace.

A worker judged hung (no heartbeat) or stuck past its task's time limit used to get
SIGKILL, which leaves nothing to say where it was stuck. Now it gets SIGABRT: the
worker runs with faulthandler on, so every thread's stack reaches its log before it
dies. One that is still there :data:`ABORT_GRACE` seconds later (it blocked SIGABRT,
or the kernel holds it) gets SIGKILL, as gunicorn's arbiter does. The grace is a
deadline the master's loop checks (:meth:`Aborts.ended`, :meth:`Aborts.next_wake`),
never a sleep; the consumer replaces a worker once its process is gone.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hueyd.consumer.health import Verdict

if TYPE_CHECKING:  # pragma: no cover
    from hueyd.consumer.runtime import Handle

logger = logging.getLogger("hueyd.consumer")

#: seconds between SIGABRT and SIGKILL (faulthandler needs milliseconds)
ABORT_GRACE = 2.0


@dataclass
class Abort:
    handle: Handle
    verdict: Verdict
    kill_at: float
    killed: bool = False


class Aborts:
    """The workers sent SIGABRT, until their processes are gone."""

    def __init__(self, grace: float = ABORT_GRACE,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.grace = grace
        self.clock = clock  # real time: signal delivery and dying happen in real time
        self.pending: list[Abort] = []

    def begin(self, handle: Handle, verdict: Verdict) -> bool:
        """SIGABRT the worker of ``handle``; False if its worker type cannot."""
        if not handle.abort():
            return False
        logger.error("%s: sending SIGABRT (its stack goes to the log), then SIGKILL in %gs "
                     "if it is still running", verdict.describe(), self.grace)
        self.pending.append(Abort(handle, verdict, self.clock() + self.grace))
        return True

    def holds(self, handle: Handle | None) -> bool:
        return any(abort.handle is handle for abort in self.pending)

    def ended(self) -> list[Abort]:
        """The aborts whose process is gone (forgotten here); SIGKILL for those still
        running past their grace."""
        now, gone = self.clock(), []
        for abort in list(self.pending):
            if not abort.handle.is_alive():
                self.pending.remove(abort)
                gone.append(abort)
            elif not abort.killed and now >= abort.kill_at:
                logger.warning("%s still running %gs after SIGABRT: SIGKILL",
                               abort.handle.name, self.grace)
                abort.killed = abort.handle.kill()
        return gone

    def kill_all(self) -> None:
        """The consumer's last resort at stop reaches these too."""
        for abort in self.pending:
            if not abort.killed:
                abort.killed = abort.handle.kill()

    def next_wake(self) -> float | None:
        """Seconds until the next SIGKILL is due (None: none is)."""
        due = [abort.kill_at for abort in self.pending if not abort.killed]
        return max(0.0, min(due) - self.clock()) if due else None
