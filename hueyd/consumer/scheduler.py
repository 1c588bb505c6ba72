"""The scheduler role: moves due tasks to the queue and enqueues periodic tasks.

Every ``interval`` seconds (1–60) it calls ``huey.enqueue_due(now)``. It also
wakes at the earliest scheduled time it knows of, so a task scheduled two
seconds ahead starts at its eta, not up to one interval later.

Periodic tasks fire exactly once per minute: the scheduler remembers the last
minute it handled (in its heartbeat slot, so a replacement scheduler and, via
the master, a re-executed daemon continue from it) and wakes at each minute
boundary, whatever the interval. A minute missed during a stall is skipped, as
in huey; a clock stepping backwards never fires a minute twice.
"""
from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from hueyd.consumer.heartbeat import Slot
from hueyd.consumer.mailbox import Mailbox
from hueyd.consumer.metrics import read_report
from hueyd.consumer.role import Role, StopFlag
from hueyd.consumer.settings import DEFAULTS, ConsumerSettings
from hueyd.ratelog import RateLimitedLog, flush_due
from hueyd.storage.base import StorageError

if TYPE_CHECKING:  # pragma: no cover
    from hueyd.api.huey import Huey

logger = logging.getLogger("hueyd.consumer.scheduler")

#: the scheduler stamps its heartbeat at least this often (seconds)
BEAT_EVERY = 1.0


#: seconds a consumer's claim on "periodic task X for minute M" is kept
PERIODIC_CLAIM_TTL = 180.0


def minute_of(timestamp: float) -> int:
    """The number of the POSIX minute containing ``timestamp``."""
    return int(timestamp // 60)


class Scheduler(Role):
    name = "Scheduler"

    def __init__(self, huey: Huey, slot: Slot, stop_flag: StopFlag,
                 settings: ConsumerSettings = DEFAULTS,
                 reopen_logs: Callable[[], None] | None = None,
                 clock: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic,
                 report: Mailbox | None = None) -> None:
        super().__init__(stop_flag, reopen_logs)
        self.report = report  # the master's, put on the lease card (metrics.py)
        self.huey = huey
        self.slot = slot
        self.interval = settings.scheduler_interval  # clamped by the settings
        self.periodic = settings.periodic
        self.utc = settings.utc
        self.clock = clock
        self.monotonic = monotonic
        self.next_tick: float | None = None
        self.next_eta: float | None = None
        self.last_minute: int | None = None
        self.errors = RateLimitedLog(logger)

    def initialize(self) -> None:
        self.slot.reset(self.monotonic())
        mark = self.slot.read().mark
        self.last_minute = int(mark) if mark else None

    def loop(self, now: float | None = None) -> None:
        self.stop_flag.wait(self.step(self.clock() if now is None else now))

    def step(self, now: float) -> float:
        """One iteration at wall-clock ``now``; returns the seconds until the next one."""
        self.slot.beat(self.monotonic())
        self.reopen_if_asked()
        flush_due()  # counts held by rate-limited logs of this process
        tick_due = self.next_tick is None or now >= self.next_tick
        if tick_due:
            self.next_tick = self._following_tick(now)
        try:
            self._card_report()
            self.huey.backend.keep_alive()  # the consumer's lease; takes back dead ones' tasks
            minute = minute_of(now)
            if self.periodic and (self.last_minute is None or minute > self.last_minute):
                self._handle_minute(minute)
            if tick_due or (self.next_eta is not None and now >= self.next_eta):
                self.huey.enqueue_due(now)
            self.next_eta = self.huey.next_scheduled_time()
        except StorageError as exc:
            self.errors.error("scheduler cannot reach the storage: %s", exc)
            self.next_eta = None
        else:
            self.errors.recovered("scheduler reaches the storage again")
        return max(0.0, self._next_wake(now) - now)

    def _card_report(self) -> None:
        """The master's latest report onto this consumer's lease card."""
        leases = getattr(self.huey.backend, "leases", None)
        report = read_report(self.report) if self.report is not None else None
        if leases is not None and report is not None:
            leases.set_report(report)

    def _following_tick(self, now: float) -> float:
        if self.next_tick is None:
            return now + self.interval
        following = self.next_tick + self.interval
        return following if following > now else now + self.interval  # skip missed ticks

    def _next_wake(self, now: float) -> float:
        wake = min(self.next_tick or now, now + BEAT_EVERY)
        if self.next_eta is not None:
            wake = min(wake, self.next_eta)
        if self.periodic:
            wake = min(wake, (minute_of(now) + 1) * 60.0)
        return wake

    def _handle_minute(self, minute: int) -> None:
        """Enqueue the periodic tasks of ``minute``; the minute counts as handled even if
        the storage fails midway (at most once rather than twice)."""
        self.last_minute = minute
        self.slot.set_mark(minute)
        start = minute * 60.0
        if self.utc:
            moment = dt.datetime.fromtimestamp(start, dt.UTC).replace(tzinfo=None)
        else:
            moment = dt.datetime.fromtimestamp(start)
        for task in self.huey.read_periodic(moment):
            # several consumers (hosts) share one queue: the first to claim the minute
            # enqueues the task, the others leave it; the claim expires on its own
            claim = f"hueyd:periodic:{task.name}:{minute}"
            if not self.huey.backend.put_if_empty(claim, b"1", ttl=PERIODIC_CLAIM_TTL):
                logger.debug("periodic task %s already enqueued for this minute", task.name)
                continue
            logger.info("enqueueing periodic task %s", task)
            self.huey.enqueue_quietly(task, "periodic task")
