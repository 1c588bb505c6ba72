"""What a consumer calls on a Huey to take, run, acknowledge and hand back tasks
(the facade delegates to :class:`Consuming`). Storage round trips are folded together
here: a task is acknowledged with the take of the next one, and a worker about to run
a short task can start that take before running it (:meth:`take_ahead`), so the round
trip overlaps the task instead of following it.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager as ContextManager
from typing import TYPE_CHECKING, Any, NamedTuple

from hueyd.api.clock import Instant, as_clock, to_posix
from hueyd.api.exceptions import MessageError
from hueyd.ratelog import RateLimitedLog
from hueyd.storage.base import Message, StorageError

if TYPE_CHECKING:  # pragma: no cover
    from hueyd.api.codec import TaskCodec
    from hueyd.api.execution import Executor
    from hueyd.api.task import Task
    from hueyd.storage.base import PendingTake, Storage

logger = logging.getLogger("hueyd")

#: every message set aside in this process is logged through this one log: a flood of
#: garbage writes a line per interval, with the count
SET_ASIDE_LOG = RateLimitedLog(logger)
#: the longest reason kept with a dead letter
MAX_REASON = 500

#: what to do with a message still held (:class:`Unsettled`)
ACK, HAND_BACK, SET_ASIDE = "ack", "hand back", "set aside"


class Unsettled(NamedTuple):
    """A message a consumer still holds because the storage failed as it was to be
    settled, and what to do once it answers: ``ACK`` (its outcome is stored),
    ``HAND_BACK`` (run it again) or ``SET_ASIDE`` (a dead letter with ``reason``)."""

    message: Message
    action: str
    reason: str = ""
    forget: Sequence[str] = ()


class Consuming:
    """dequeue / take_ahead / receive / execute / finish / hand_back over one storage, for
    the Huey named ``name`` (its messages read by ``codec``, its tasks run by ``executor``)."""

    def __init__(self, name: str, storage: Storage, codec: TaskCodec, executor: Executor,
                 utc: bool) -> None:
        self.name = name
        self.storage = storage
        self.codec = codec
        self._executor = executor
        self.utc = utc

    def dequeue(self, timeout: float = 0, finished: Task | None = None,
                unsettled: list[Unsettled] | None = None) -> Task | None:
        """The next runnable task, or None when the queue stays empty for ``timeout``.

        ``finished``: a task run with ``execute(..., finish=False)``; it is acknowledged
        in the same round trip. A message that cannot be run (garbage, bad signature,
        unknown task, a field of the wrong type) is set aside as a dead letter with its
        reason and skipped: the next one is tried at once. If the storage fails while
        setting it aside, it joins ``unsettled`` (when given) and the error is raised.
        """
        if finished is not None and finished.message is not None:
            message = self.storage.finish_and_dequeue(finished.message, finished.forget,
                                                      timeout)
            finished.message, finished.forget = None, []
        else:
            message = self.storage.dequeue(timeout)
        while message is not None:
            task = self._runnable(message, unsettled)
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

    def receive(self, pending: PendingTake, finished: Sequence[Task] = (),
                unsettled: list[Unsettled] | None = None) -> list[Task]:
        """The runnable tasks a :meth:`take_ahead` took, oldest first. The ``finished``
        tasks (passed to take_ahead) count as acknowledged only now: if the answer is
        lost, they are still the caller's to finish. With ``unsettled``, a message that
        could not be set aside joins it and the others are still returned."""
        messages = pending.collect()
        for task in finished:
            task.message, task.forget = None, []
        tasks = []
        for message in messages:
            try:
                task = self._runnable(message, unsettled)
            except StorageError:
                if unsettled is None:
                    raise
                continue  # in ``unsettled``: the caller settles it later
            if task is not None:
                tasks.append(task)
        return tasks

    def _runnable(self, message: Message, unsettled: list[Unsettled] | None) -> Task | None:
        """The message's task, owning the message; None after setting it aside."""
        try:
            task = self.codec.decode(message.data)
        except MessageError as exc:
            self.settle(Unsettled(message, SET_ASIDE, str(exc)), unsettled)
            return None
        task.message = message
        return task

    def settle(self, item: Unsettled, unsettled: list[Unsettled] | None = None) -> None:
        """Do what ``item`` says. If the storage fails, ``item`` joins ``unsettled``
        (when given: the caller tries again later) and the error is raised."""
        try:
            if item.action == ACK:
                self.storage.finish(item.message, item.forget)
            elif item.action == HAND_BACK:
                self.storage.hand_back(item.message)
            else:
                self.storage.set_aside(item.message, item.reason[:MAX_REASON], time.time())
                SET_ASIDE_LOG.error("set aside a message of %s as a dead letter: %s",
                                    self.name, item.reason[:MAX_REASON])
        except Exception:
            if unsettled is not None:
                unsettled.append(item)
            raise

    def dead_letter(self, data: bytes, reason: str) -> None:
        """A message read from the schedule (held by no one) goes to the dead letters."""
        self.settle(Unsettled(Message(data), SET_ASIDE, reason))

    def execute(self, task: Task, timestamp: Instant | None = None,
                finish: bool = True, guard: ContextManager[Any] | None = None) -> Any:
        """Run ``task`` with huey's semantics, store its outcome, then acknowledge its
        message; with ``finish=False`` the caller does that (``finish`` or ``dequeue``).
        ``guard`` is entered around the task's own code only (the consumer interrupts a
        task there, never while its outcome is being stored)."""
        now = None if timestamp is None else as_clock(timestamp, self.utc)
        value = self._executor.execute(task, now, guard)
        if finish:
            self.finish(task)
        return value

    def fail(self, task: Task, error: Exception, timestamp: Instant | None = None) -> None:
        """Record ``error`` as the outcome of ``task``'s run, then acknowledge its message:
        the consumer's verdict on a task whose worker was lost. Retries, error results,
        signals and hooks follow huey's rules, as if the task had raised ``error``."""
        self._executor.fail(task, error, as_clock(timestamp, self.utc))
        self.finish(task)

    def finish(self, task: Task) -> None:
        """Acknowledge an executed task's message (and drop its spent revocation)."""
        if task.message is not None:
            message, task.message = task.message, None
            self.storage.finish(message, task.forget)
            task.forget = []

    def hand_back(self, task: Task) -> None:
        """Hand an unfinished task back to the queue (its message, when it has one)."""
        message = task.message
        task.message = None
        if message is not None:
            self.storage.hand_back(message)
        else:
            self.storage.enqueue(self.codec.encode(task), task.priority)
        task.handed_back = True

    # -- the scheduler's calls --------------------------------------------------------------
    def _posix(self, timestamp: Instant | None) -> float:
        return time.time() if timestamp is None else to_posix(timestamp, self.utc)

    def enqueue_due(self, timestamp: Instant | None = None) -> int:
        """Move every scheduled task due at ``timestamp`` to the queue (atomically)."""
        return self.storage.move_due(self._posix(timestamp))

    def read_schedule(self, timestamp: Instant | None = None) -> list[Task]:
        """Remove and return the due scheduled tasks; unreadable entries are dead-lettered."""
        tasks = []
        for data in self.storage.read_schedule(self._posix(timestamp)):
            try:
                tasks.append(self.codec.decode(data))
            except MessageError as exc:
                self.dead_letter(data, str(exc))
        return tasks

    def next_scheduled_time(self) -> float | None:
        return self.storage.next_scheduled_time()

    def ready_to_run(self, task: Task, timestamp: Instant | None = None) -> bool:
        return task.eta is None or to_posix(task.eta, self.utc) <= self._posix(timestamp)
