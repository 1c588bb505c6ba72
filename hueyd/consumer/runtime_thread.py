"""Thread workers: roles run as daemon threads of the master process.

A thread cannot be interrupted or killed: a task past its time limit is only
reported, and on an immediate stop the consumer hands back its task itself.
"""
from __future__ import annotations

import logging
import threading

from hueyd.consumer.lane import Lane
from hueyd.consumer.role import Role, StopFlag, run_role
from hueyd.consumer.runtime import Handle, Runtime
from hueyd.consumer.take_ahead import AHEAD_BELOW

logger = logging.getLogger("hueyd.consumer")


class ThreadHandle(Handle):
    def __init__(self, role: Role, thread: threading.Thread) -> None:
        super().__init__(role)
        self.thread = thread

    def is_alive(self) -> bool:
        return self.thread.is_alive()


class ThreadRuntime(Runtime):
    name = "thread"

    def stop_flag(self) -> StopFlag:
        return threading.Event()

    def lane(self) -> Lane:
        return Lane(patience=AHEAD_BELOW)

    def spawn(self, role: Role) -> Handle:
        # daemon: an immediate stop must not wait for a task that cannot be interrupted
        thread = threading.Thread(target=run_role, args=(role, role.stop_flag.is_set, logger),
                                  name=role.name, daemon=True)
        thread.start()
        return ThreadHandle(role, thread)
