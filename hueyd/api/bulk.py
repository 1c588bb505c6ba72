"""Bulk enqueue: ``huey.enqueue_many(tasks)`` and ``task.map(iterable_of_args)``.

Why: a sequential enqueue costs one round trip per task, so a producer queueing
thousands of tasks waits on the network thousands of times. Here tasks go to the
storage in batches of :data:`BATCH` (``Storage.send_many``: one write on Redis, whose
reply is read once the next batch is prepared; one transaction on SQLite). Each task still gets what ``Huey.enqueue`` gives
it, in order: the priority check, its expiry fixed, ``SIGNAL_ENQUEUED``; in
immediate mode each runs at once, one after the other, as huey's ``map`` does.

A task that cannot be enqueued (its arguments do not pickle, a priority the storage
refuses) stops the call with :class:`EnqueueManyError` naming it: every task before
it is queued, none from it on.
"""
from __future__ import annotations

import gc
from collections.abc import Callable, Iterable
from typing import Any

from hueyd.api import signals as S
from hueyd.api.exceptions import EnqueueManyError
from hueyd.api.result import Result, ResultGroup
from hueyd.api.task import Task
from hueyd.storage.base import StorageError, refuse_priority

#: tasks written to the storage in one step
BATCH = 1000


class _Batch:
    """The tasks prepared for the next write, the write whose replies are still unread,
    and what the call returns. Built for the least Python per task: what each task
    needs is looked up once per call."""

    def __init__(self, huey: Any) -> None:
        self.huey = huey
        self.tasks: list[Task] = []
        self.messages: list[tuple[bytes, int | None]] = []
        self.sent: list[Task] = []  # written, not confirmed yet
        self.confirm: Callable[[], None] | None = None
        self.results: list[Any] = []
        self.enqueued = 0  # tasks known to be in the queue
        self.serialize = huey.serialize_task
        self.priorities = huey.backend.priority
        self.keeps_results = huey.results

    def add(self, task: Task) -> None:
        """Check and serialize ``task`` (raises if it cannot be enqueued)."""
        if task.priority and not self.priorities:
            refuse_priority(self.huey.backend, task.priority)
        if task.expires:
            task.resolve_expires(self.huey.utc)
        self.messages.append((self.serialize(task), task.priority))
        self.tasks.append(task)

    def write(self) -> None:
        """Confirm the batch written before, then signal and write the prepared tasks
        (``Storage.send_many``: the next batch is prepared while the storage works)."""
        self.settle()
        if not self.tasks:
            return
        huey = self.huey
        if huey._signal.heard(S.SIGNAL_ENQUEUED):
            for task in self.tasks:
                huey.emit(S.SIGNAL_ENQUEUED, task)
        self.sent, self.tasks = self.tasks, []
        messages, self.messages = self.messages, []
        self.confirm = huey.backend.send_many(messages)

    def settle(self) -> None:
        """Wait until the batch written last is in: its tasks count and get results."""
        confirm, self.confirm = self.confirm, None
        if confirm is None:
            return
        confirm()
        if self.keeps_results:
            self.results += [results_of(self.huey, task) for task in self.sent]
        self.enqueued += len(self.sent)
        self.sent = []

    def abandon(self) -> None:
        """Read the replies of a write the call gives up on (its connection goes back)."""
        confirm, self.confirm = self.confirm, None
        if confirm is not None:
            try:
                confirm()
            except Exception:  # the call is failing already: its error is the one raised
                pass

    def returned(self) -> ResultGroup | None:
        return ResultGroup(self.results) if self.keeps_results else None


def results_of(huey: Any, task: Task) -> Any:
    """What ``huey.enqueue(task)`` returns: a Result, a ResultGroup for a pipeline."""
    if task.on_complete is None:  # most tasks: no list built
        return Result(huey, task)
    stages = [Result(huey, task)]
    while stages[-1].task.on_complete is not None:
        stages.append(Result(huey, stages[-1].task.on_complete))
    return ResultGroup(stages) if len(stages) > 1 else stages[0]


def enqueue_many(huey: Any, tasks: Iterable[Any]) -> ResultGroup | None:
    """Enqueue ``tasks`` (Task instances, e.g. ``add.s(1, 2)``; a group or chord goes
    through ``enqueue``) in order, :data:`BATCH` per storage step; a ResultGroup of
    their results (None when the Huey keeps no results)."""
    batch = _Batch(huey)
    task = None
    add, prepared, immediate = batch.add, batch.tasks, huey.immediate
    collecting = gc.isenabled()
    if collecting:  # every object made here lives until the call returns, in no cycle:
        gc.disable()  # the collector would only scan the growing batch again and again
    try:
        for task in tasks:
            if immediate or not isinstance(task, Task):
                batch.write()
                batch.settle()
                batch.results.append(huey.enqueue(task))
                batch.enqueued += 1
                prepared = batch.tasks
                continue
            add(task)
            if len(prepared) >= BATCH:
                batch.write()
                prepared = batch.tasks
        batch.write()
        batch.settle()
    except StorageError as exc:  # the batch being written: none of it is known to be in
        first = (batch.sent or batch.tasks or [task])[0]
        raise EnqueueManyError(batch.enqueued, first, batch.enqueued, batch.returned(),
                               exc) from exc
    except Exception as exc:
        index = batch.enqueued + len(batch.sent) + len(batch.tasks)  # all before it are in
        try:
            batch.write()  # the tasks before it go, as the error says
            batch.settle()
        except StorageError:
            pass  # ... or fewer: ``enqueued`` says how many
        raise EnqueueManyError(index, task, batch.enqueued, batch.returned(), exc) from exc
    finally:
        batch.abandon()
        if collecting:
            gc.enable()
    return batch.returned()
