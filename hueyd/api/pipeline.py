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
from typing import TYPE_CHECKING, Any

from hueyd.api.exceptions import MessageError
from hueyd.api.registry import ChordConfig
from hueyd.api.result import SKIPPED, ChordResult, Error, Result, ResultGroup
from hueyd.api.task import Task, signature

if TYPE_CHECKING:  # pragma: no cover
    from hueyd.api.huey import Huey

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


def pipeline_results(huey: Huey, task: Task | None) -> list[Result]:
    """One Result per stage of the pipeline that starts at ``task``."""
    results = []
    while task is not None:
        results.append(Result(huey, task))
        task = task.on_complete
    return results


def enqueue_group(huey: Huey, tasks: group) -> ResultGroup:
    return ResultGroup([huey.enqueue(t) for t in tasks.tasks])


def enqueue_chord(huey: Huey, chord_obj: chord) -> ChordResult:
    cid = str(uuid.uuid4())
    size = len(chord_obj.tasks)
    members = []
    for idx, member in enumerate(chord_obj.tasks):
        if isinstance(member, group):
            raise ValueError("a group cannot be a chord member: use .then() to make it a chord")
        members.append(_enqueue_member(huey, member, ChordConfig(cid, size, idx,
                                                                 chord_obj.callback)))
    if not size:
        callback = copy.copy(chord_obj.callback)
        callback.extend_data(([],))
        huey.enqueue(callback)
    stages = pipeline_results(huey, chord_obj.callback)
    return ChordResult(members, stages[0], ResultGroup(stages) if len(stages) > 1 else None)


def _enqueue_member(huey: Huey, member: Any, config: ChordConfig) -> Result:
    head = member.callback if isinstance(member, chord) else member
    tail = head
    while tail.on_complete is not None:
        tail = tail.on_complete
    tail.chord_config = config
    if isinstance(member, chord):
        enqueue_chord(huey, member)
    else:
        huey.enqueue(head)
    return Result(huey, tail)


def member_done(huey: Huey, config: ChordConfig, value: Any) -> None:
    """Record one member's final value; the member that completes the set fires the callback."""
    keys = [f"chord:{config.cid}:{i}" for i in range(config.size)]
    huey.put_result(keys[config.idx], value)
    if any(raw is None for raw in huey.storage.peek_many(keys)):
        return
    if not huey.storage.put_if_empty(f"chord:{config.cid}:fired", b"1", CHORD_MARKER_TTL):
        return
    values = [_member_value(huey, key, raw)
              for key, raw in zip(keys, huey.storage.peek_many(keys))]
    for key in keys:
        huey.delete(key)
    callback = config.callback
    callback.extend_data((values,))
    huey.enqueue(callback)


def _member_value(huey: Huey, key: str, raw: bytes) -> Any:
    """A member's stored value; one that fails verification (planted, or signed with
    another key) is never unpickled: the callback gets an Error in its place."""
    try:
        return huey.serializer.deserialize(raw)
    except MessageError as exc:
        logger.error("chord result %s refused: %s", key, exc)
        return Error({"error": f"unreadable chord result: {exc}", "retries": 0,
                      "task_id": key, "traceback": ""})


def abort_member(huey: Huey, task: Task | None, value: Any = SKIPPED) -> None:
    """A pipeline stopped early (revoked, expired, canceled, failed): report to its chord."""
    while task is not None:
        if task.chord_config is not None:
            member_done(huey, task.chord_config, value)
            return
        task = task.on_complete
