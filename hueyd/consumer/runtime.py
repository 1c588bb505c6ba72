"""Worker types behind one small interface (huey's Environment idea).

A :class:`Runtime` knows how to run a role in a thread, a child process or a
greenlet; the :class:`Handle` it returns is what the consumer supervises. Each
worker type lives in its own module and is imported only when chosen, so gevent
is imported only for greenlet workers (after the CLI has monkey-patched).
"""
from __future__ import annotations

import abc
import contextlib
import importlib
import logging
from contextlib import AbstractContextManager as ContextManager
from typing import Any

from hueyd.api.exceptions import ConfigurationError
from hueyd.consumer.lane import Lane
from hueyd.consumer.role import Role, StopFlag
from hueyd.consumer.settings import WORKER_TYPES

logger = logging.getLogger("hueyd.consumer")

#: worker type -> "module:Class" (ConsumerSettings has already spelled an alias out);
#: loaded on demand
RUNTIMES = {
    "thread": "hueyd.consumer.runtime_thread:ThreadRuntime",
    "process": "hueyd.consumer.runtime_process:ProcessRuntime",
    "greenlet": "hueyd.consumer.runtime_greenlet:GreenletRuntime",
}


class Handle(abc.ABC):
    """One running role."""

    #: OS process id when the role runs in a process of its own
    pid: int | None = None

    def __init__(self, role: Role) -> None:
        self.role = role

    @property
    def name(self) -> str:
        return self.role.name

    @abc.abstractmethod
    def is_alive(self) -> bool: ...

    def interrupt(self) -> bool:
        """Stop the running task now; True if the role then hands its task back itself.

        False (threads) means the consumer must hand back the task in the slot.
        """
        return False

    def kill(self) -> bool:
        """Stop the role by force; False if the worker type cannot."""
        return False

    def abort(self) -> bool:
        """Ask the role to die leaving its stack in the log (SIGABRT); False if the
        worker type cannot (then :meth:`kill`)."""
        return False

    def reopen_logs(self) -> None:
        """Make the role reopen its log files; roles in the master's process share its
        handlers, so only a separate process needs telling."""

    def describe_exit(self) -> str:
        return "exited"


class Runtime(abc.ABC):
    """How one worker type runs roles."""

    name = ""
    #: roles write heartbeat slots in shared memory (separate processes)
    shared_slots = False
    #: roles are separate processes: the master's storage connections must not be shared
    forks = False

    @abc.abstractmethod
    def stop_flag(self) -> StopFlag: ...

    @abc.abstractmethod
    def spawn(self, role: Role) -> Handle:
        """Start ``role`` (``run_role`` until its stop flag is set)."""

    def lane(self) -> Lane | None:
        """What the workers of one consumer share to keep short tasks off the GIL's
        merry-go-round (thread workers only)."""
        return None

    def timeout(self, seconds: float) -> ContextManager[Any]:
        """huey's timeout handler: raise TaskTimeout inside a task after ``seconds``.

        The default cannot interrupt: tasks check ``task.is_timed_out`` themselves.
        """
        return contextlib.nullcontext()


def get_runtime(worker_type: str) -> Runtime:
    spec = RUNTIMES.get(worker_type)
    if spec is None:
        raise ConfigurationError(f"worker_type must be one of {', '.join(WORKER_TYPES)}, "
                                 f"not {worker_type!r}")
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)()
