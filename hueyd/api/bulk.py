"""Bulk enqueue: ``huey.enqueue_many(tasks)`` and ``task.map(iterable_of_args)``.

Why: a sequential enqueue costs one round trip per task, so a producer queueing
thousands of tasks waits on the network thousands of times. Here tasks go to the
storage in batches of :data:`BATCH` (``Storage.enqueue_many``: one round trip on
Redis, one transaction on SQLite). Each task still gets what ``Huey.enqueue`` gives
it, in order: the priority check, its expiry fixed, ``SIGNAL_ENQUEUED``; in
immediate mode each runs at once, one after the other, as huey's ``map`` does.

A task that cannot be enqueued (its arguments do not pickle, a priority the storage
refuses) stops the call with :class:`EnqueueManyError` naming it: every task before
it is queued, none from it on.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from hueyd.api import signals as S
from hueyd.api.exceptions import EnqueueManyError
from hueyd.api.result import Result, ResultGroup
from hueyd.api.task import Task
from hueyd.storage.base import StorageError, refuse_priority

#: tasks written to the storage in one step
BATCH = 1000


class _Batch:
    """The tasks prepared for the next write, and what the call returns."""

    def __init__(self, huey: Any) -> None:
        self.huey = huey
        self.tasks: list[Task] = []
        self.messages: list[tuple[bytes, int | None]] = []
        self.results: list[Any] = []
        self.enqueued = 0  # tasks in the queue so far

    def add(self, task: Task) -> None:
        """Check and serialize ``task`` (raises if it cannot be enqueued)."""
        huey = self.huey
        refuse_priority(huey.backend, task.priority)
        if task.expires:
            task.resolve_expires(huey.utc)
        self.messages.append((huey.serialize_task(task), task.priority))
        self.tasks.append(task)

    def write(self) -> None:
        """Signal and queue the prepared tasks in one storage step."""
        if not self.tasks:
            return
        for task in self.tasks:
            self.huey.emit(S.SIGNAL_ENQUEUED, task)
        self.huey.backend.enqueue_many(self.messages)
        self.results.extend(results_of(self.huey, task) for task in self.tasks)
        self.enqueued += len(self.tasks)
        self.tasks, self.messages = [], []

    def returned(self) -> ResultGroup | None:
        return ResultGroup(self.results) if self.huey.results else None


def results_of(huey: Any, task: Task) -> Any:
    """What ``huey.enqueue(task)`` returns: a Result, a ResultGroup for a pipeline."""
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
    try:
        for task in tasks:
            if huey.immediate or not isinstance(task, Task):
                batch.write()
                batch.results.append(huey.enqueue(task))
                batch.enqueued += 1
                continue
            batch.add(task)
            if len(batch.tasks) >= BATCH:
                batch.write()
        batch.write()
    except StorageError as exc:  # the batch being written: none of it is known to be in
        first = batch.tasks[0] if batch.tasks else task
        raise EnqueueManyError(batch.enqueued, first, batch.enqueued, batch.returned(),
                               exc) from exc
    except Exception as exc:
        index = batch.enqueued + len(batch.tasks)  # every task before it is in either
        try:
            batch.write()  # the tasks before it go, as the error says
        except StorageError:
            pass  # ... or fewer: ``enqueued`` says how many
        raise EnqueueManyError(index, task, batch.enqueued, batch.returned(), exc) from exc
    return batch.returned()

