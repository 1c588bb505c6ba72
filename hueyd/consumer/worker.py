"""The worker role: take → run → acknowledge, one task at a time, with a heartbeat.

With a blocking storage (Redis) the worker waits inside ``dequeue(timeout)``:
no polling. Otherwise (SQLite) it polls, sleeping ``delay`` seconds after an
empty read and multiplying the delay by ``backoff`` up to ``max_delay``
(huey's rule); a task resets the delay.

Taking and acknowledging (taking ahead while tasks are short, acknowledging with
the next take, settling what the storage failed to settle) is take_ahead.py's.
Thread workers also share a :class:`~hueyd.consumer.lane.Lane`: while tasks are
short and CPU-bound, one of them drains and the others park before taking.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from hueyd.api.consuming import HAND_BACK, SET_ASIDE, Unsettled
from hueyd.api.execution import OutcomeNotStored
from hueyd.constants import WORKER_GREENLET
from hueyd.consumer.abandoned import WorkerLost, fail, hand_back
from hueyd.consumer.heartbeat import Slot
from hueyd.consumer.lane import Lane, waited
from hueyd.consumer.metrics import DEAD_LETTERED, Board, LocalBoard, RunNote
from hueyd.consumer.outcome import Unstored
from hueyd.consumer.role import Role, StopFlag, WorkerInterrupted
from hueyd.consumer.settings import DEFAULTS, ConsumerSettings
from hueyd.consumer.take_ahead import AHEAD_BELOW, TakeAhead
from hueyd.ratelog import RateLimitedLog, flush_due
from hueyd.storage.base import StorageError

if TYPE_CHECKING:  # pragma: no cover
    from hueyd.api.huey import Huey
    from hueyd.api.task import Task
    from hueyd.storage.base import Message

logger = logging.getLogger("hueyd.consumer.worker")
#: errors no message should cause (a bug, or something the checks did not foresee):
#: with their traceback, one line per interval in each process
FAILED_LOG = RateLimitedLog(logger)

#: how long a blocking dequeue waits when the storage does not say (huey's BRPOP timeout)
DEFAULT_READ_TIMEOUT = 1.0
#: the mark a worker leaves in its slot when it ends for max_tasks: replace me now
RECYCLED = -1.0


class Interruptible:
    """:meth:`Worker.interruptible`: one object per worker, entered once per task (a
    generator-based context manager would be built for every task)."""

    __slots__ = ("worker", "cpu", "started")

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.cpu = self.started = 0.0

    def __enter__(self) -> None:
        worker = self.worker
        worker.busy = True
        self.cpu = time.thread_time() if worker.lane is not None else 0.0
        self.started = worker.clock()

    def __exit__(self, *exc: object) -> None:
        worker = self.worker
        worker.busy = False
        worker.last_run = worker.note.duration = worker.clock() - self.started
        lane = worker.lane
        if lane is not None:
            worker._judge(time.thread_time() - self.cpu, lane.crowded)
        if worker.early_take and worker.last_run >= AHEAD_BELOW and not \
                worker.stop_flag.is_set() and (lane is None or lane.open_to(worker)):
            worker.taking.take_next()  # its round trip overlaps storing the outcome


class Worker(Role):
    def __init__(self, huey: Huey, slot: Slot, stop_flag: StopFlag, name: str = "Worker-1",
                 settings: ConsumerSettings = DEFAULTS,
                 reopen_logs: Callable[[], None] | None = None,
                 clock: Callable[[], float] = time.monotonic, lane: Lane | None = None,
                 wake: Callable[[], None] | None = None,
                 board: Board | None = None) -> None:
        super().__init__(stop_flag, reopen_logs)
        self.huey = huey
        self.slot = slot
        self.name = name
        self.settings = settings
        self.delay = settings.delay  # the current polling delay (backs off, see pause)
        self.clock = clock
        self.errors = RateLimitedLog(logger)
        #: what this worker took and what it owes the queue (take_ahead.py)
        self.taking = TakeAhead(huey, name, self.errors)
        #: the task that ran last, if its outcome could not be stored yet
        self.unstored: Unstored | None = None
        #: how long the last task ran (infinite until one has: no taking ahead at first)
        self.last_run = float("inf")
        self.lane = lane
        #: the last task was short and CPU-bound: the next one runs holding the lane
        self.cpu_short = False
        self.waits_in_row = 0  # tasks in a row that spent their time waiting
        #: take the next message as a long task's code returns (take_ahead.py), except
        #: with greenlets: the others fill a greenlet's wait for Redis, and the early
        #: take's extra write costs the one core they share (measured: -w50, -7 %)
        self.early_take = settings.worker_type != WORKER_GREENLET
        self.ran = 0  # tasks run, for max_tasks
        self.recycled = False
        self.wake = wake
        #: this worker's counts (metrics.py) and what it learns about the running task
        self.board = LocalBoard() if board is None else board
        self.note = RunNote()
        self._interruptible = Interruptible(self)

    def initialize(self) -> None:
        self.slot.reset(self.clock())
        self.board.adopt()
        self.note.listen()
        self._hooks("startup hooks", self.huey.run_startup_hooks)

    def shutdown(self) -> None:
        if self.lane is not None:
            self.lane.leave(self)
        self._finish_pending()
        self.board.publish(self.clock(), force=True)
        self._hooks("shutdown hooks", self.huey.run_shutdown_hooks)
        if self.recycled:  # the last write to the slot: the master replaces this worker
            self.slot.set_mark(RECYCLED)
            if self.wake is not None:
                self.wake()

    def _finish_pending(self) -> None:
        """Store what is still to be stored, acknowledge the last tasks run and hand back
        those taken ahead."""
        flush_due(force=True)
        try:
            self.taking.collect()
            unstored, self.unstored = self.unstored, None
            if unstored is not None:
                unstored.store()
                self.taking.finished = unstored.task
            self.taking.close()
        except Exception as exc:  # the lease hands them back: at least once, as promised
            logger.error("%s cannot settle its last tasks: %s", self.name, exc)

    def _hooks(self, what: str, run: Callable[[], None]) -> None:
        """Hooks may take a while: they count as a task, so silence is not a hang."""
        self.slot.start_task(self.clock(), "", what, None)
        try:
            run()
        finally:
            self.slot.end_task(self.clock(), counted=False)

    def loop(self, now: float | None = None) -> None:
        """One iteration: stamp, take a task (or wait for one), run it."""
        now = self.clock() if now is None else now
        self.slot.beat(now)
        self.board.publish(now)
        self.reopen_if_asked()
        flush_due()
        if self.unstored is not None:
            self._store_outcome()
            return
        storage = self.huey.backend
        wait = getattr(storage, "read_timeout", DEFAULT_READ_TIMEOUT) if storage.blocking else 0
        lane = self.lane
        taking = self.taking
        if lane is not None and not taking.ahead and not lane.enter(self, self.stop_flag.is_set):
            return  # parked: another worker drains short tasks
        try:
            settled = taking.settle()
            task = taking.next(wait)
        except StorageError as exc:
            self.errors.error("%s cannot read the queue: %s", self.name, exc)
            self.pause()
            return
        except Exception as exc:
            FAILED_LOG.error("%s: error reading from the queue: %s", self.name, exc,
                             exc_info=True)
            self.pause()
            return
        self.errors.recovered("%s reads the queue again%s", self.name, settled)
        if task is None:
            self.board.publish(now, force=True)  # idle: the master sees the latest counts
            if lane is not None:
                lane.leave(self)
            if not storage.blocking:
                self.pause()
            return
        self.delay = self.settings.delay
        self.reopen_if_asked()  # asked while waiting in dequeue: before this task logs
        if self.stop_flag.is_set():  # stopping: a task not started yet goes back (at
            taking.put_back(task)  # shutdown, in its place before those taken ahead)
            return
        self.run(task)
        self.ran += 1
        if self.settings.max_tasks and self.ran >= self.settings.max_tasks:
            logger.info("%s ran %d tasks (max_tasks): it ends, a fresh worker follows",
                        self.name, self.ran)
            self.recycled = True
            self.stop_flag.set()  # what it took ahead goes back at shutdown

    def _set_aside(self, message: Message | None, reason: str, task_name: str) -> None:
        """A message this worker cannot run goes to the dead letters, now or, if the
        storage fails, as soon as it answers again."""
        if message is None:
            return
        self.board.tally.count(task_name, DEAD_LETTERED)
        try:
            self.huey.settle(Unsettled(message, SET_ASIDE, reason), self.taking.unsettled)
        except Exception as exc:  # kept in self.taking.unsettled
            self.errors.error("%s cannot set a message aside yet: %s", self.name, exc)

    def _store_outcome(self) -> None:
        """Try again to store the outcome of the task that ran last (outcome.py); the
        wait is spent in short steps: the heartbeat stays fresh and a stop is seen."""
        unstored = self.unstored
        wait = unstored.next_at - self.clock()
        if wait > 0:
            self.stop_flag.wait(min(wait, 1.0))
            return
        task = unstored.task
        try:
            unstored.store()
        except StorageError as exc:
            self._outcome_failed(unstored, exc)
            return
        except Exception as exc:
            self.unstored = None
            FAILED_LOG.error("%s cannot store the outcome of task %s: %s", self.name,
                             task.id, exc, exc_info=True)
            self._set_aside(task.message, unstored.reason(exc), task.name)
            return
        self.unstored = None
        self.taking.finished = task  # acknowledged with the next take (logs the recovery)
        logger.debug("%s stored the outcome of task %s", self.name, task.id)

    def _outcome_failed(self, unstored: Unstored, exc: StorageError) -> None:
        """Schedule the next try, or set the message aside when refusals are used up."""
        wait = unstored.failed(exc, self.clock())
        self.unstored = None if wait is None else unstored
        if wait is None:
            self._set_aside(unstored.task.message, unstored.reason(exc), unstored.task.name)
            return
        self.errors.error("%s cannot store the outcome of task %s yet (next try in "
                          "%.0fs): %s", self.name, unstored.task.id, wait, exc)

    def interruptible(self) -> Interruptible:
        """Around the task's own code: only there may a stop interrupt it. Once it
        returned, its outcome is stored and acknowledged, or it would run twice.
        Also where a task's duration is measured: its own code, not the storing."""
        return self._interruptible

    def pause(self) -> None:
        """Sleep ``delay`` (or less, if stopped meanwhile), then back off."""
        self.delay = min(self.delay, self.settings.max_delay)
        self.stop_flag.wait(self.delay)
        self.delay *= self.settings.backoff

    def run(self, task: Task) -> None:
        """Execute one task; its outcome is stored, and its message acknowledged with
        the next take (or at shutdown)."""
        limit = self.settings.task_timeout
        if limit and (not task.timeout or task.timeout > limit):
            task.timeout = limit  # the runtime's timeout handler enforces it
        finished, message, stalled = True, task.message, False
        taking, lane = self.taking, self.lane
        previous, taking.finished = taking.finished, None
        taking.send(previous, short=self._short())
        if lane is not None:
            lane.step(self, keep=self.cpu_short)
        note = self.note
        note.begin(task)
        try:
            self.slot.start_task(self.clock(), task.id, task.name, task.message)
            self.huey.execute(task, finish=False, guard=self.interruptible())
            taking.done(task)
        except WorkerInterrupted:
            self.busy = finished = False
            hand_back(self.huey, task)
            taking.hand_back_all()
            raise
        except OutcomeNotStored as exc:  # it ran: its outcome is tried again, not the task
            if lane is not None:
                lane.leave(self)
            self._outcome_failed(Unstored(task, exc.store), exc)
        except StorageError as exc:  # before it ran: it goes back, after a pause
            self.errors.error("%s lost the storage while running task %s: %s", self.name,
                              task.id, exc)
            taking.unsettled.append(Unsettled(message, HAND_BACK))
            stalled = True
        except Exception as exc:
            FAILED_LOG.error("%s: unhandled error while executing task %s: %s", self.name,
                             task.id, exc, exc_info=True)
            self._set_aside(message, f"{task.name} {task.id}: cannot be handled: "
                            f"{type(exc).__name__}: {exc}", task.name)
        except BaseException as exc:  # SystemExit & co. end this worker, as in huey
            self.busy = False
            fail(self.huey, task, WorkerLost(f"{type(exc).__name__} raised in {self.name}"))
            taking.hand_back_all()
            raise
        finally:
            self.busy = False
            if lane is not None:
                lane.step(self, keep=self.cpu_short)
            self.slot.end_task(self.clock(), counted=finished)
            self.board.tally.record(note)
            note.task = None
        taking.collect_take()
        if stalled:
            self.pause()

    def _short(self) -> bool:
        """Whether to take ahead: the last task ran short, no stop is asked, and the
        lane (thread workers) lets this worker drain."""
        return (self.last_run < AHEAD_BELOW and not self.stop_flag.is_set()
                and (self.lane is None or self.lane.open_to(self)))

    def _judge(self, cpu: float, crowded: bool) -> None:
        """Whether the next task runs holding the lane (see lane.py): a wait while others
        ran outside the lane may have been for the GIL, and does not count."""
        if waited(self.last_run, cpu) and not crowded:
            self.waits_in_row += 1
        else:
            self.waits_in_row = 0
        self.cpu_short = self.last_run < AHEAD_BELOW and self.waits_in_row < 2
