"""What happens to a task whose run did not end normally.

Two outcomes, one helper each:
- ``hand_back``: the consumer stopped it (SIGTERM, shutdown timeout). The task
  did nothing wrong: its message goes back to the head of the queue and
  SIGNAL_INTERRUPTED is sent with ``task.handed_back`` True (huey's recipe that
  re-enqueues it from that signal then does nothing: it would run twice).
- ``fail``: its worker was lost (killed past ``task_timeout``, crashed, or the
  task raised SystemExit). It counts as a failed run, so retries, error results,
  signals and hooks follow huey's rules; a task that kills its worker every time
  therefore stops after its retries instead of looping forever.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from hueyd.api import signals as S
from hueyd.api.exceptions import HueyException
from hueyd.storage.base import Message

if TYPE_CHECKING:  # pragma: no cover
    from hueyd.api.huey import Huey
    from hueyd.api.task import Task

logger = logging.getLogger("hueyd.consumer")


class WorkerLost(HueyException):
    """The worker running a task died or was killed before the task finished."""


def task_of(huey: Huey, message: Message) -> Task | None:
    """The task in a message copied from a heartbeat slot, owning that message."""
    try:
        task = huey.deserialize_task(message.data)
    except Exception:
        logger.exception("cannot read the message of an abandoned task")
        return None
    task.message = message
    return task


def hand_back(huey: Huey, task: Task) -> None:
    """Return an interrupted task to the queue (unless it was already acked)."""
    if task.message is not None:
        huey.hand_back(task)
        logger.info("task %s interrupted, handed back to the queue", task.id)
    huey.emit(S.SIGNAL_INTERRUPTED, task)


def fail(huey: Huey, task: Task, error: Exception) -> None:
    """Record ``error`` as the outcome of ``task``'s run, then ack its message
    (``Huey.fail``: retries, error results, signals and hooks as for a task that raised)."""
    try:
        huey.fail(task, error)
    except Exception:
        logger.exception("cannot record the failure of task %s", task.id)
