"""The master's periodic look at its consumer and queue: rates over the last minute
(STATUS=, ``hueyd status``), the queue's gauges (the metrics endpoint) and the report
put on the consumer's lease card.

The master calls :meth:`Activity.observe` from its loop every few seconds; the
endpoint's thread only reads what the last observation left (a frozen value,
replaced whole), so a slow scraper never touches the storage nor waits for it.
"""
from __future__ import annotations

import time
from collections import deque
from typing import TYPE_CHECKING, NamedTuple

from hueyd.api.exceptions import MessageError
from hueyd.consumer.metrics import COMPLETED, FAILED, RETRIED
from hueyd.storage.base import StorageError

if TYPE_CHECKING:  # pragma: no cover
    from hueyd.api.huey import Huey
    from hueyd.consumer.consumer import Consumer

#: the window of "the last minute"
WINDOW = 60.0


class QueueGauges(NamedTuple):  # not a frozen dataclass: ~0.4 ms less at start
    """The queue as the storage showed it at the last observation (``up`` False: it
    did not answer, the numbers are absent)."""

    up: bool
    queued: int = 0
    scheduled: int = 0
    in_flight: int = 0
    dead_letters: int = 0
    consumers_alive: int = 0
    oldest_age: float = 0.0


def read_gauges(huey: Huey) -> QueueGauges:
    """Every gauge of the queue, from the storage (several round trips)."""
    storage = huey.backend
    try:
        consumers = storage.consumers()
        return QueueGauges(True, storage.queue_size(), storage.schedule_size(),
                           sum(c.in_flight for c in consumers), storage.dead_letter_count(),
                           sum(c.alive for c in consumers), oldest_age(huey))
    except StorageError:
        return QueueGauges(False)


def oldest_age(huey: Huey) -> float:
    """Seconds the next message to run has been due (0: none, or it does not say)."""
    items = huey.backend.enqueued_items(1)
    if not items:
        return 0.0
    try:
        due = huey.deserialize_task(items[0]).due_at
    except MessageError:
        return 0.0
    return 0.0 if due is None else max(0.0, time.time() - due)


def busy_idle(consumer: Consumer) -> tuple[int, int]:
    """(busy, idle) workers, as their heartbeat slots say."""
    beats = [m.slot.read() for m in consumer.worker_members]
    busy = sum(beat.task_started is not None for beat in beats)
    return busy, len(beats) - busy


class Sample(NamedTuple):  # not a frozen dataclass: ~0.4 ms less at start
    at: float  # monotonic
    done: int  # runs ended, as the heartbeat slots count them
    completed: int
    failed: int  # runs that raised: failed for good, or to be retried


def last_error_parts(text: str) -> tuple[str, str]:
    """("send_mail", "ValueError: bad address") from the slot's "send_mail: ValueError:
    bad address"."""
    task, _, error = text.partition(": ")
    return task, error


class Activity:
    def __init__(self, huey: Huey, gauges: bool) -> None:
        self.huey = huey
        self.wants_gauges = gauges
        self.samples: deque[Sample] = deque()
        #: the last reading, for the endpoint's thread
        self.gauges: QueueGauges | None = None

    def observe(self, now: float, consumer: Consumer) -> None:
        """Sample the counts, read the gauges (if an endpoint serves them) and leave the
        report for the lease card."""
        tally = consumer.counts.tally()
        self.samples.append(Sample(now, consumer.tasks_done, tally.total(COMPLETED),
                                   tally.total(FAILED) + tally.total(RETRIED)))
        while len(self.samples) > 2 and now - self.samples[1].at >= WINDOW:
            self.samples.popleft()  # keep one sample at least a minute old
        if self.wants_gauges:
            self.gauges = read_gauges(self.huey)
        consumer.counts.post_report(self.report(consumer))

    def _span(self) -> tuple[Sample, Sample] | None:
        if len(self.samples) < 2:
            return None
        return self.samples[0], self.samples[-1]

    def per_second(self) -> float | None:
        """Runs per second over the last minute (None: not observed long enough)."""
        span = self._span()
        if span is None or span[1].at <= span[0].at:
            return None
        first, last = span
        return (last.done - first.done) / (last.at - first.at)

    def last_minute(self) -> tuple[int, int]:
        """(completed, failed) over the last minute (or since start)."""
        if not self.samples:
            return 0, 0
        first, last = self.samples[0], self.samples[-1]
        if len(self.samples) == 1 or last.at - first.at < WINDOW / 2:
            first = Sample(first.at, 0, 0, 0)  # young: everything so far
        return last.completed - first.completed, last.failed - first.failed

    def report(self, consumer: Consumer) -> dict:
        """What ``hueyd status`` shows for this consumer."""
        busy, idle = busy_idle(consumer)
        completed, failed = self.last_minute()
        error_at, text = consumer.last_error
        rate = self.per_second()
        report = {"workers": busy + idle, "busy": busy, "idle": idle,
                  "completed_1m": completed, "failed_1m": failed,
                  "per_second": None if rate is None else round(rate, 2)}
        if text:
            task, error = last_error_parts(text)
            report["last_error"] = {"task": task, "error": error,
                                    "at": round(time.time() - (time.monotonic() - error_at), 3)}
        return report
