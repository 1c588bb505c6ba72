"""Pipelines (``.then``/``.error``), ``group`` and ``chord``.

A chord runs its callback once every member pipeline has finished. Without a
counter in the storage contract, each member stores its value under
``chord:<cid>:<idx>``, then reads all members in one ``peek_many``; whoever sees
them all complete claims ``chord:<cid>:fired`` with ``put_if_empty``, so exactly
one member enqueues the callback even when the last two finish together.
"""
from __future__ import annotations

import copy
import logging
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hueyd.api.exceptions import MessageError
from hueyd.api.registry import ChordConfig
from hueyd.api.result import SKIPPED, ChordResult, Error, Result, ResultGroup
from hueyd.api.task import Task, signature

if TYPE_CHECKING:  # pragma: no cover
    from hueyd.storage.base import Storage

logger = logging.getLogger("hueyd")

#: how long the "callback already fired" marker outlives a chord (seconds)
CHORD_MARKER_TTL = 7 * 24 * 3600


class group:
    """Tasks enqueued together; ``.then(cb)`` turns the group into a chord."""

    def __init__(self, tasks: list[Task]) -> None:
        self.tasks = tasks

    def then(self, task: Any, *args: Any, **kwargs: Any) -> chord:
        return chord(self.tasks, signature(task, args, kwargs))

    def error(self, *args: Any, **kwargs: Any) -> group:
        for task in self.tasks:
            task.error(*args, **kwargs)
        return self


class chord:
    """Member tasks (or pipelines) whose results, as one list, feed ``callback``."""

    def __init__(self, tasks: list[Any], callback: Any) -> None:
        self.tasks = tasks
        self.callback = signature(callback)

    def then(self, task: Any, *args: Any, **kwargs: Any) -> chord:
        self.callback.then(task, *args, **kwargs)
        return self

    def error(self, task: Any, *args: Any, **kwargs: Any) -> chord:
        self.callback.error(task, *args, **kwargs)
        return self


class Pipelines:
    """Enqueues groups and chords and reports chord members, over one storage.

    ``enqueue`` queues one task (the Huey's, so a member goes through its signals and
    immediate mode) and ``result_of`` makes the Result handle of a task.
    """

    def __init__(self, storage: Storage, serializer: Any, enqueue: Callable[[Any], Any],
                 result_of: Callable[[Task], Result]) -> None:
        self.storage = storage
        self.serializer = serializer
        self.enqueue = enqueue
        self.result_of = result_of

    def pipeline_results(self, task: Task | None) -> list[Result]:
        """One Result per stage of the pipeline that starts at ``task``."""
        results = []
        while task is not None:
            results.append(self.result_of(task))
            task = task.on_complete
        return results

    def enqueue_group(self, tasks: group) -> ResultGroup:
        return ResultGroup([self.enqueue(t) for t in tasks.tasks])

    def enqueue_chord(self, chord_obj: chord) -> ChordResult:
        cid = str(uuid.uuid4())
        size = len(chord_obj.tasks)
        members = []
        for idx, member in enumerate(chord_obj.tasks):
            if isinstance(member, group):
                raise ValueError("a group cannot be a chord member: "
                                 "use .then() to make it a chord")
            members.append(self._enqueue_member(member, ChordConfig(cid, size, idx,
                                                                    chord_obj.callback)))
        if not size:
            callback = copy.copy(chord_obj.callback)
            callback.extend_data(([],))
            self.enqueue(callback)
        stages = self.pipeline_results(chord_obj.callback)
        return ChordResult(members, stages[0], ResultGroup(stages) if len(stages) > 1 else None)

    def _enqueue_member(self, member: Any, config: ChordConfig) -> Result:
        head = member.callback if isinstance(member, chord) else member
        tail = head
        while tail.on_complete is not None:
            tail = tail.on_complete
        tail.chord_config = config
        if isinstance(member, chord):
            self.enqueue_chord(member)
        else:
            self.enqueue(head)
        return self.result_of(tail)

    def member_done(self, config: ChordConfig, value: Any) -> None:
        """Record one member's final value; the member that completes the set fires the
        callback."""
        keys = [f"chord:{config.cid}:{i}" for i in range(config.size)]
        self.storage.put_data(keys[config.idx], self.serializer.serialize(value),
                              is_result=True)
        if any(raw is None for raw in self.storage.peek_many(keys)):
            return
        if not self.storage.put_if_empty(f"chord:{config.cid}:fired", b"1", CHORD_MARKER_TTL):
            return
        values = [self._member_value(key, raw)
                  for key, raw in zip(keys, self.storage.peek_many(keys))]
        for key in keys:
            self.storage.delete_data(key)
        callback = config.callback
        callback.extend_data((values,))
        self.enqueue(callback)

    def _member_value(self, key: str, raw: bytes) -> Any:
        """A member's stored value; one that fails verification (planted, or signed with
        another key) is never unpickled: the callback gets an Error in its place."""
        try:
            return self.serializer.deserialize(raw)
        except MessageError as exc:
            logger.error("chord result %s refused: %s", key, exc)
            return Error({"error": f"unreadable chord result: {exc}", "retries": 0,
                          "task_id": key, "traceback": ""})

    def abort_member(self, task: Task | None, value: Any = SKIPPED) -> None:
        """A pipeline stopped early (revoked, expired, canceled, failed): report to its
        chord."""
        while task is not None:
            if task.chord_config is not None:
                self.member_done(task.chord_config, value)
                return
            task = task.on_complete
