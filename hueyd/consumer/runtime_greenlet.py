"""Greenlet workers: roles run as gevent greenlets of the master process.

Imported only for this worker type; the command line monkey-patches before
anything else loads. A greenlet is interrupted by raising inside it at its next
switch; one that never yields blocks the whole process (and the master loop,
so the watchdog stops being pinged: that is the report).
"""
from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import gevent
import gevent.event
from gevent import monkey

from hueyd.api.exceptions import TaskTimeout
from hueyd.consumer.role import Role, StopFlag, WorkerInterrupted, run_role
from hueyd.consumer.runtime import Handle, Runtime

logger = logging.getLogger("hueyd.consumer")


class GreenletHandle(Handle):
    def __init__(self, role: Role, greenlet: gevent.Greenlet) -> None:
        super().__init__(role)
        self.greenlet = greenlet

    def is_alive(self) -> bool:
        return not self.greenlet.dead

    def interrupt(self) -> bool:
        if self.role.busy:  # only a running task is interrupted; an idle role just stops
            self.greenlet.kill(WorkerInterrupted(), block=False)
        return True


class GreenletRuntime(Runtime):
    name = "greenlet"

    def __init__(self) -> None:
        if not monkey.is_module_patched("socket"):
            logger.warning("greenlet workers without gevent's monkey-patching: "
                           "blocking I/O will block every worker")

    def stop_flag(self) -> StopFlag:
        return gevent.event.Event()

    def spawn(self, role: Role) -> Handle:
        return GreenletHandle(role, gevent.spawn(run_role, role, role.stop_flag.is_set, logger))

    @contextlib.contextmanager
    def timeout(self, seconds: float) -> Iterator[None]:
        with gevent.Timeout(seconds, TaskTimeout(f"timeout ({seconds:g}s)")):
            yield
