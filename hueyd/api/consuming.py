"""What a consumer calls on a Huey to take, run, acknowledge and hand back tasks
(a mixin of the facade). Storage round trips are folded together here: a task is
acknowledged with the take of the next one, and a worker about to run a short task
can start that take before running it (:meth:`take_ahead`), so the round trip
overlaps the task instead of following it.
"""
from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any, ContextManager, Sequence

from hueyd.api.clock import Instant, as_clock
from hueyd.api.exceptions import MessageError

if TYPE_CHECKING:  # pragma: no cover
    from hueyd.api.execution import Executor
    from hueyd.api.task import Task
    from hueyd.storage.base import Message, PendingTake, Storage

logger = logging.getLogger("hueyd")


class ConsumerSurface:
    """dequeue / take_ahead / receive / execute / finish / requeue over ``self.storage``."""

    name: str
    storage: Storage
    utc: bool
    _executor: Executor

    def deserialize_task(self, data: bytes) -> Task:  # provided by Huey
        raise NotImplementedError

    def serialize_task(self, task: Task) -> bytes:  # provided by Huey
        raise NotImplementedError

    def dequeue(self, timeout: float = 0, finished: Task | None = None) -> Task | None:
        """The next runnable task, or None when the queue stays empty for ``timeout``.

        ``finished``: a task run with ``execute(..., finish=False)``; it is acknowledged
        in the same round trip. A message that cannot be run (garbage, bad signature,
        unknown task) is dead-lettered, acked and skipped: the next one is tried at once.
        """
        if finished is not None and finished.message is not None:
            message = self.storage.finish_and_dequeue(finished.message, finished.forget,
                                                      timeout)
            finished.message, finished.forget = None, []
        else:
            message = self.storage.dequeue(timeout)
        while message is not None:
            task = self._runnable(message)
            if task is not None:
                return task
            message = self.storage.dequeue(0)  # already waited: only what is there
        return None

    def take_ahead(self, finished: Task | None = None, count: int = 1,
                   onto: PendingTake | None = None) -> PendingTake | None:
        """Start taking up to ``count`` messages (0: none) without waiting for them, and
        acknowledge ``finished`` with them; :meth:`receive` gets the tasks once the
        current one ran. ``onto``: an earlier PendingTake without a take, not received
        yet: these requests join it. None when the storage cannot: nothing was sent,
        the caller dequeues as usual."""
        message = finished.message if finished is not None else None
        return self.storage.take_ahead(message, finished.forget if message else (),
                                       count, onto)

    def receive(self, pending: PendingTake, finished: Sequence[Task] = ()) -> list[Task]:
        """The runnable tasks a :meth:`take_ahead` took, oldest first. The ``finished``
        tasks (passed to take_ahead) count as acknowledged only now: if the answer is
        lost, they are still the caller's to finish."""
        messages = pending.collect()
        for task in finished:
            task.message, task.forget = None, []
        return [task for task in map(self._runnable, messages) if task is not None]

    def _runnable(self, message: Message) -> Task | None:
        """The message's task, owning the message; None after dead-lettering it."""
        try:
            task = self.deserialize_task(message.data)
        except MessageError as exc:
            self._dead_letter(message.data, str(exc))
            self.storage.ack(message)
            return None
        task.message = message
        return task

    def _dead_letter(self, data: bytes, reason: str) -> None:
        self.storage.add_dead_letter(data, reason, time.time())
        logger.error("dead-lettered a message of %s: %s", self.name, reason)

    def execute(self, task: Task, timestamp: Instant | None = None,
                finish: bool = True, guard: ContextManager[Any] | None = None) -> Any:
        """Run ``task`` with huey's semantics, store its outcome, then acknowledge its
        message; with ``finish=False`` the caller does that (``finish`` or ``dequeue``).
        ``guard`` is entered around the task's own code only (the consumer interrupts a
        task there, never while its outcome is being stored)."""
        value = self._executor.execute(task, as_clock(timestamp, self.utc), guard)
        if finish:
            self.finish(task)
        return value

    def finish(self, task: Task) -> None:
        """Acknowledge an executed task's message (and drop its spent revocation)."""
        if task.message is not None:
            message, task.message = task.message, None
            self.storage.finish(message, task.forget)
            task.forget = []

    def requeue(self, task: Task) -> None:
        """Hand an unfinished task back to the queue (its message, when it has one)."""
        message = task.message
        task.message = None
        if message is not None:
            self.storage.requeue(message)
        else:
            self.storage.enqueue(self.serialize_task(task), task.priority)
