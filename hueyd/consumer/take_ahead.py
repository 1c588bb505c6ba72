"""A worker's messages between the queue and its tasks: what it took, what it owes.

A worker acknowledges the task it ran last with the take of its next one (one round
trip). While its tasks are short (the last one ran under :data:`AHEAD_BELOW`), it
sends that take just before running the current task and reads the answer afterwards:
the round trip overlaps the task. Each take while tasks stay short takes twice as many
as the last, up to :data:`AHEAD_MOST`; while those run, each acknowledgement is
written at once and its reply read with the next take (one wait per take, not per
task). A task that runs long starts the count over, so a few messages at most wait
behind a long task while other workers may be idle; a stop hands them back. Nothing
is taken while a long task runs, but the take of the next one is sent as its own code
returns (:meth:`take_next`): Redis answers while the outcome is stored, and
:meth:`done` writes the acknowledgement before the next task starts (its reply is read
with the next take). Only an empty queue costs a blocking take.

What the storage failed to settle (an acknowledgement whose reply was lost, a task
that goes back, a message set aside) waits in ``unsettled`` and is settled first when
the storage answers again, so no message stays held for nothing.
"""
from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from hueyd.api.consuming import ACK, Unsettled
from hueyd.ratelog import RateLimitedLog
from hueyd.storage.base import StorageError

if TYPE_CHECKING:  # pragma: no cover
    from hueyd.api.huey import Huey
    from hueyd.api.task import Task
    from hueyd.storage.base import PendingTake

#: a worker takes its next tasks ahead only while the last one ran shorter than this
AHEAD_BELOW = 0.005
#: the most messages one take ahead moves (each take while tasks are short doubles)
AHEAD_MOST = 8


class TakeAhead:
    """One worker's takes and acknowledgements; ``name`` and ``errors`` are the worker's
    (its log lines name it; its recovery line follows them)."""

    def __init__(self, huey: Huey, name: str, errors: RateLimitedLog) -> None:
        self.huey = huey
        self.name = name
        self.errors = errors
        #: the last task run, not acknowledged yet: the next take does it in the same
        #: round trip (its message is already applied server-side when that one blocks)
        self.finished: Task | None = None
        #: messages the storage failed to settle, oldest first
        self.unsettled: list[Unsettled] = []
        #: the next tasks, taken ahead while earlier ones ran (not started yet)
        self.ahead: deque[Task] = deque()
        #: requests written and not read yet (acknowledgements, maybe a take)
        self.pending: PendingTake | None = None
        #: the tasks whose acknowledgements are in ``pending``
        self.acking: list[Task] = []
        #: how many messages the next take ahead moves
        self.take_size = 1
        #: the take in ``pending`` was sent as the last task's own code ended (it ran
        #: long): :meth:`done` reads it once the outcome is stored, then acknowledges
        self.early = False

    # -- take ---------------------------------------------------------------------------
    def next(self, wait: float) -> Task | None:
        """The next task: one taken ahead, else one taken now (waiting up to ``wait``
        on a blocking storage), acknowledging the last task run in the same trip."""
        if self.ahead:
            return self.ahead.popleft()
        self.collect()  # acknowledgements still unread: before a take that waits
        task = self.huey.dequeue(wait, finished=self.finished, unsettled=self.unsettled)
        self.finished = None
        return task

    def put_back(self, task: Task) -> None:
        """A task not started (the worker stops): first in line to be handed back."""
        self.ahead.appendleft(task)

    def send(self, previous: Task | None, short: bool) -> None:
        """Before a task runs: send the take of the next tasks now (if tasks are
        ``short`` and none is left from the last take), or at least the acknowledgement
        of ``previous``; after a long task, make sure ``previous`` is acknowledged
        before one that may run long. An acknowledgement the storage did not confirm
        is sent again later."""
        message, forget = (None, ()) if previous is None else (previous.message, previous.forget)
        try:
            if short:
                count = 0 if self.ahead else self.take_size
                pending = self.huey.take_ahead(previous, count, self.pending)
                if pending is not None:
                    self.pending = pending
                    if previous is not None:
                        self.acking.append(previous)
                    if count:
                        self.take_size = min(count * 2, AHEAD_MOST)
                    return
            self.take_size = 1
            if previous is not None:
                self.collect()
                self.huey.finish(previous)
        except StorageError as exc:
            self.drop_pending()
            if message is not None:
                self.unsettled.append(Unsettled(message, ACK, forget=tuple(forget)))
            self.errors.error("%s cannot reach the queue: %s", self.name, exc)

    def take_next(self) -> None:
        """A task's own code ended and it ran long: take the next message now (no wait
        on the server), so that the round trip overlaps the storing of its outcome
        instead of following it. Nothing waits behind the task: it has run."""
        if self.ahead or (self.pending is not None and self.pending.taking):
            return  # the next task is in hand, or a take is on its way
        try:
            pending = self.huey.take_ahead(None, 1, self.pending)
        except StorageError as exc:
            self.drop_pending()
            self.errors.error("%s cannot reach the queue: %s", self.name, exc)
            return
        if pending is not None:
            self.pending, self.early = pending, True

    def done(self, task: Task) -> None:
        """``task`` ran and its outcome is stored. After an early take: read it (its
        answer came while the outcome was stored) and, if it brought the next task,
        write this acknowledgement now and read its reply with the next take, as
        while tasks are short. Otherwise the acknowledgement rides with the next
        take (the blocking one, on an empty queue)."""
        early, self.early = self.early, False
        if early:
            self.collect()
        if not (early and self.ahead):
            self.finished = task
            return
        try:
            pending = self.huey.take_ahead(task, 0, None)
        except StorageError as exc:
            if task.message is not None:
                self.unsettled.append(Unsettled(task.message, ACK, forget=tuple(task.forget)))
            self.errors.error("%s cannot reach the queue: %s", self.name, exc)
            return
        if pending is None:
            self.finished = task
        else:
            self.pending = pending
            self.acking.append(task)

    def collect_take(self) -> None:
        """After a task ran: read the take sent before it, if one was."""
        if self.pending is not None and self.pending.taking:
            self.collect()

    def collect(self) -> None:
        """Read what :meth:`send` sent: the tasks taken join ``ahead``."""
        pending, self.pending = self.pending, None
        acking, self.acking = self.acking, []
        self.early = False
        if pending is None:
            return
        try:
            self.ahead.extend(self.huey.receive(pending, acking, unsettled=self.unsettled))
        except StorageError as exc:  # the acknowledgements are sent again
            self._ack_later(acking)
            self.errors.error("%s cannot read the queue: %s", self.name, exc)

    # -- acknowledge and settle ---------------------------------------------------------
    def settle(self) -> str:
        """Settle what the storage failed to settle before, oldest first (a message
        handed back runs again: at least once; one already acknowledged after all is
        not queued twice). Raises if the storage still fails: the rest waits."""
        done = 0
        while self.unsettled:
            self.huey.settle(self.unsettled[0])
            del self.unsettled[0]
            done += 1
        return f", and settled {done} message(s) it held" if done else ""

    def drop_pending(self) -> None:
        """Give up on the answers still unread: what they took stays held under the
        lease, which hands it back (at least once); what they acknowledged is sent
        again."""
        pending, self.pending = self.pending, None
        self._ack_later(self.acking)
        self.acking = []
        self.early = False
        if pending is not None:
            pending.drop()

    def _ack_later(self, tasks: list[Task]) -> None:
        """Acknowledgements whose replies were lost: sent again once the storage answers
        (a message acknowledged already is not touched again)."""
        self.unsettled.extend(Unsettled(t.message, ACK, forget=tuple(t.forget))
                              for t in tasks if t.message is not None)

    # -- stop -----------------------------------------------------------------------------
    def close(self) -> None:
        """At shutdown, once what was sent is read: settle, acknowledge the last task
        run and hand back those taken ahead. Raises if the storage fails."""
        self.settle()
        finished, self.finished = self.finished, None
        if finished is not None:
            self.huey.finish(finished)
        self.hand_back_taken()

    def hand_back_taken(self) -> None:
        """The tasks taken ahead go back to the head of the queue, in their order."""
        while self.ahead:
            self.huey.hand_back(self.ahead.pop())

    def hand_back_all(self) -> None:
        """The worker stops in the middle of a task: those taken ahead go back."""
        try:
            self.collect()
            self.hand_back_taken()
        except BaseException:
            self.drop_pending()
            self.ahead.clear()
            raise
