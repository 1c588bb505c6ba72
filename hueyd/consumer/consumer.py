"""The Consumer: huey's embeddable surface, and what the daemon's master supervises.

``Consumer(huey, workers=4, worker_type='process').run()`` works as in huey:
it blocks, SIGINT stops gracefully, SIGTERM at once, SIGHUP restarts. The
daemon drives the same object without blocking: ``start()``, then from its own
loop ``check_health``, ``request_stop``, ``interrupt``, ``kill_remaining``,
``reopen_logs``, reading ``health`` and ``tasks_done`` for the watchdog and STATUS.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hueyd.api import signals as S
from hueyd.api.exceptions import ConfigurationError, TaskTimeout
from hueyd.consumer.abandoned import WorkerLost, fail, hand_back, task_of
from hueyd.consumer.aborts import Aborts
from hueyd.consumer.banner import log_banner
from hueyd.consumer.health import Limits, Observation, State, Verdict, judge_all
from hueyd.consumer.heartbeat import Slot, make_slots
from hueyd.consumer.metrics import Counts, listen_to
from hueyd.consumer.role import Role
from hueyd.consumer.runtime import Handle, get_runtime
from hueyd.consumer.scheduler import Scheduler
from hueyd.consumer.settings import ConsumerSettings
from hueyd.consumer.worker import DEFAULT_READ_TIMEOUT, RECYCLED, Worker
from hueyd.storage.base import StorageError

if TYPE_CHECKING:  # pragma: no cover
    from hueyd.api.huey import Huey

logger = logging.getLogger("hueyd.consumer")

#: a task gets task_timeout to finish (its own TaskTimeout fires then); the master's
#: verdict, and for process workers the SIGKILL backstop, come this much later
TIMEOUT_GRACE = 1.0
#: after an interrupt, how long roles get to hand their tasks back before SIGKILL
KILL_GRACE = 3.0
#: a role silent for less than this is never called hung
HANG_FLOOR = 10.0
#: on an interrupt, how long a thread worker (it cannot be interrupted) may take to end its
#: task on its own before the task is handed back: a task that short runs once, not again
ABANDON_AFTER = 0.25
#: ``members[SCHEDULER]`` is the scheduler; the workers follow it, Worker-1 first
SCHEDULER = 0


@dataclass
class Member:
    """One supervised role and where it runs."""

    role: Role
    slot: Slot
    handle: Handle | None = None


class Consumer:
    """Runs ``workers`` workers of ``worker_type`` plus one scheduler for ``huey``."""

    def __init__(self, huey: Huey, settings: ConsumerSettings | None = None, *,
                 reopen_logs: Callable[[], None] | None = None,
                 periodic_minute: int | None = None,
                 wake: Callable[[], None] | None = None, **options: Any) -> None:
        """``settings`` or huey's keywords (``workers=4``...), not both. ``wake``: thread and
        greenlet workers tell the supervising loop that one wants replacing now."""
        if settings is None:
            settings = ConsumerSettings.from_options(**options)
        elif options:
            raise TypeError(f"settings given: no keywords too ({', '.join(options)})")
        if settings.workers < 1:
            raise ConfigurationError(f"workers must be at least 1, not {settings.workers}")
        if settings.backoff <= 1:
            raise ConfigurationError(f"backoff must be greater than 1, not {settings.backoff}")
        if huey.immediate:
            logger.warning("Consumer created for a Huey in immediate mode: "
                           "disable immediate mode before running it")
        self.huey = huey
        self.settings = settings
        self.reopen_logs_hook = reopen_logs
        self.runtime = get_runtime(settings.worker_type)
        self._lane = self.runtime.lane()  # shared by every worker, replacements too
        self.counts = Counts(settings.workers + 1, self.runtime.shared_slots)  # metrics.py
        huey.timeout_handler = self.runtime.timeout
        self.members: list[Member] = []
        self.stopping = False
        self._periodic_minute = periodic_minute
        self._dying: list[Handle] = []  # killed, replaced, not reaped yet
        self._abandoned: list[Handle] = []  # running a handed-back task we cannot stop
        self._aborts = Aborts()  # hung worker processes sent SIGABRT, not gone yet
        self._wake = None if self.runtime.forks else wake  # processes: SIGCHLD wakes it
        self.stopped_event = threading.Event()  # set once stop() is complete

    def __getattr__(self, name: str) -> Any:
        """huey's Consumer attributes (``workers``, ``worker_type``, ``delay``...)."""
        if name in ConsumerSettings.__dataclass_fields__ and "settings" in self.__dict__:
            return getattr(self.settings, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    # -- start ---------------------------------------------------------------------------
    def start(self, check_storage: bool = True) -> None:
        """Spawn the workers, then the scheduler (signal handling is the caller's);
        ``check_storage``: see log_banner."""
        if self.huey.immediate:
            raise ConfigurationError("the consumer cannot run a Huey in immediate mode: "
                                     "set huey.immediate = False")
        log_banner(self.huey, self.settings, check_storage)
        self._flush_locks()
        slots = make_slots(self.settings.workers + 1, self.runtime.shared_slots)
        if self._periodic_minute:
            slots[SCHEDULER].set_mark(self._periodic_minute)
        self.members = [Member(self._make_role(i, slot), slot) for i, slot in enumerate(slots)]
        self.huey.signal(S.SIGNAL_ERROR, S.SIGNAL_TIMEOUT)(self._record_error)
        listen_to(self.huey)
        # one lease for every role: forked workers inherit the consumer id
        self.consumer_id = self.huey.backend.start_consuming()
        if self.runtime.forks:
            self.huey.backend.close()  # children must open their own connections
        for member in [*self.worker_members, self.members[SCHEDULER]]:  # tasks first
            self._spawn(member)

    def _flush_locks(self) -> None:
        """huey's -f/-L: locks a killed consumer left, once the storage answers."""
        extra = self.settings.extra_locks
        if self.settings.flush_locks or extra:
            flushed = self.huey.flush_locks(*(extra.split(",") if extra else ()))
            if flushed:
                logger.warning("found stale locks: %s", ", ".join(sorted(flushed)))

    def _make_role(self, index: int, slot: Slot) -> Role:
        flag = self.runtime.stop_flag()
        if index == SCHEDULER:
            return Scheduler(self.huey, slot, flag, self.settings,
                             reopen_logs=self.reopen_logs_hook, report=self.counts.report)
        return Worker(self.huey, slot, flag, f"Worker-{index}", self.settings,
                      reopen_logs=self.reopen_logs_hook, lane=self._lane, wake=self._wake,
                      board=self.counts.boards[index])

    def _spawn(self, member: Member) -> None:
        member.slot.reset(time.monotonic())  # a fresh beat: starting is not hanging
        member.handle = self.runtime.spawn(member.role)

    def _record_error(self, signal_name: str, task: Any, *args: Any) -> None:
        """Keep the latest task error for STATUS=, in the slot of the worker running the
        task (this runs in that worker's thread or process: the slot's one writer)."""
        detail = f"{type(args[0]).__name__}: {args[0]}" if args else signal_name
        for member in self.worker_members:
            if member.slot.read().task_id == task.id:
                member.slot.record_error(time.monotonic(), f"{task.name}: {detail}")
                return

    # -- supervision ---------------------------------------------------------------------
    @property
    def limits(self) -> Limits:
        storage = self.huey.backend
        idle = (getattr(storage, "read_timeout", DEFAULT_READ_TIMEOUT) if storage.blocking
                else self.settings.max_delay)
        task_timeout = self.settings.task_timeout
        timeout = None if task_timeout is None else task_timeout + TIMEOUT_GRACE
        return Limits(worker_hang_after=max(HANG_FLOOR, 3 * idle + 5),
                      scheduler_hang_after=HANG_FLOOR, task_timeout=timeout)

    def snapshot(self) -> list[Observation]:
        return [Observation(m.role.name, m.handle is not None and m.handle.is_alive(),
                            m.slot.read(), "scheduler" if i == SCHEDULER else "worker")
                for i, m in enumerate(self.members)]

    def health(self, now: float | None = None) -> list[Verdict]:
        """Verdict per role (scheduler first); reaps exited children on the way."""
        return judge_all(self.snapshot(), time.monotonic() if now is None else now,
                         self.limits)

    def check_health(self, now: float | None = None) -> list[Verdict]:
        """Replace dead roles; abort (see aborts.py) or kill, then replace, stuck or
        hung ones where the worker type allows; returns the verdicts that remain
        (e.g. a stuck thread, a process being aborted)."""
        if self.stopping:
            return self.health(now)
        repaired = self._settle_aborts()
        verdicts = self.health(now)
        for member, verdict in zip(self.members, verdicts):
            if verdict.state is State.HEALTHY or self._aborts.holds(member.handle):
                continue
            if verdict.state is not State.DEAD and self._aborts.begin(member.handle, verdict):
                continue  # replaced once its process is gone
            if verdict.state is State.DEAD or member.handle.kill():
                self._replace(member, verdict)
                repaired = True
            else:
                logger.error("%s, and a %s worker cannot be stopped", verdict.describe(),
                             self.settings.worker_type)
        return self.health(now) if repaired else verdicts

    def _replace(self, member: Member, verdict: Verdict) -> None:
        handle = member.handle
        then = "" if self.stopping else ", restarting it"
        if verdict.state is State.DEAD:
            logger.warning("%s %s%s", member.role.name, handle.describe_exit(), then)
        else:
            how = "killed" if handle.is_alive() else handle.describe_exit()
            logger.error("%s: %s%s", verdict.describe(), how, then)
        message = member.slot.message() if verdict.task_id else None
        task = task_of(self.huey, message) if message is not None else None
        if task is not None:
            error: Exception = (TaskTimeout(f"killed after {verdict.seconds:.0f}s")
                                if verdict.state is State.STUCK else
                                WorkerLost(f"{member.role.name} {handle.describe_exit()}"))
            fail(self.huey, task, error)
        if handle.pid is not None:
            try:
                self.huey.backend.hand_back_worker(handle.pid)
            except StorageError as exc:
                logger.warning("cannot hand back what %s held yet (it returns when this "
                               "consumer stops): %s", member.role.name, exc)
        self._dying.append(handle)
        if not self.stopping:
            member.role = self._make_role(self.members.index(member), member.slot)
            self._spawn(member)

    def _settle_aborts(self) -> bool:
        """Replace the aborted workers whose processes are gone (while stopping, only
        settle their tasks); SIGKILL those past their grace."""
        ended = self._aborts.ended()
        for abort in ended:
            member = next(m for m in self.members if m.handle is abort.handle)
            self._replace(member, abort.verdict)
        return bool(ended)

    def reap(self) -> None:
        """Collect exited children (the master calls this on SIGCHLD and every loop):
        is_alive reaps; an aborted worker that is gone is replaced at once."""
        for member in self.members:
            if member.handle is not None:
                member.handle.is_alive()
        self._dying = [h for h in self._dying if h.is_alive()]
        self._settle_aborts()
        for member in self.worker_members:
            if not self.stopping and member.slot.read().mark == RECYCLED:
                self._recycle(member)

    def _recycle(self, member: Member) -> None:
        """A worker that reached max_tasks ended (or is ending) cleanly: a fresh one
        takes its slot at once, health checks or not."""
        member.slot.set_mark(0)
        self._dying.append(member.handle)
        member.role = self._make_role(self.members.index(member), member.slot)
        self._spawn(member)
        logger.info("%s recycled after %d tasks", member.role.name, self.settings.max_tasks)

    def next_wake(self) -> float | None:
        """Seconds until this consumer has a deadline of its own (a SIGKILL due)."""
        return self._aborts.next_wake()

    @property
    def alive(self) -> list[Handle]:
        self._dying = [h for h in self._dying if h.is_alive()]
        handles = [m.handle for m in self.members
                   if m.handle is not None and m.handle not in self._abandoned]
        return [h for h in handles if h.is_alive()] + self._dying

    @property
    def stopped(self) -> bool:
        return not self.alive

    # -- stopping ------------------------------------------------------------------------
    def request_stop(self) -> None:
        """No new tasks: every role finishes what it is doing, then exits."""
        self.stopping = True
        for member in self.members:
            member.role.stop_flag.set()

    def interrupt(self) -> None:
        """Stop running tasks now: they are handed back to the queue. A thread cannot be
        interrupted: if its task does not end within :data:`ABANDON_AFTER` (then the
        thread acknowledges it and stops), the task is handed back by us and the thread
        is no longer waited for. Handing it back at once would run a short task twice:
        it ends anyway before the process exits."""
        self.request_stop()
        def on_task(member: Member) -> bool:
            return member.handle.is_alive() and member.slot.read().task_started is not None

        stuck = [m for m in self._running() if not m.handle.interrupt()]
        deadline = time.monotonic() + ABANDON_AFTER
        while (stuck := [m for m in stuck if on_task(m)]) and time.monotonic() < deadline:
            time.sleep(0.01)
        for member in stuck:
            self._abandon(member)

    def kill_remaining(self) -> None:
        """Last resort after ``interrupt``: SIGKILL what is left, hand back its task."""
        for member in self._running():
            if member.handle.kill():
                self._hand_back_slot(member)
            else:
                self._abandon(member)
        self._aborts.kill_all()  # their tasks are settled as failed once they are gone

    def _running(self) -> list[Member]:
        """The roles a stop still has to reach (an aborted one is the abort's)."""
        return [m for m in self.members if m.handle is not None and m.handle.is_alive()
                and m.handle not in self._abandoned and not self._aborts.holds(m.handle)]

    def _abandon(self, member: Member) -> None:
        if member.slot.read().task_started is not None:
            self._hand_back_slot(member)
            self._abandoned.append(member.handle)
            logger.warning("%s cannot be interrupted: its task was handed back, "
                           "the %s is left to finish", member.role.name, self.settings.worker_type)

    def _hand_back_slot(self, member: Member) -> None:
        message = member.slot.message()
        task = task_of(self.huey, message) if message is not None else None
        if task is not None:
            hand_back(self.huey, task)

    def stop(self, graceful: bool = False) -> None:
        """huey's stop: with ``graceful``, wait for running tasks (up to
        ``shutdown_timeout``), then interrupt whatever still runs."""
        from hueyd.consumer.embedded import stop_blocking  # not the daemon's: not at start
        stop_blocking(self, graceful, KILL_GRACE)

    def disconnect(self) -> None:
        """After a blocking stop: no more error records, the lease handed back."""
        self.huey.disconnect_signal(self._record_error)
        self.stop_consuming()
        self.stopped_event.set()

    def stop_consuming(self) -> None:
        """Once the roles have exited: hand back whatever this consumer still holds
        and drop its lease (if the storage is unreachable, the lease expires)."""
        try:
            count = self.huey.backend.stop_consuming()
        except StorageError as exc:
            logger.warning("cannot hand back in-flight messages now, they return when "
                           "this consumer's lease expires: %s", exc)
            return
        if count:
            logger.info("handed %d in-flight message(s) back to the queue", count)

    # -- what the master reports ---------------------------------------------------------
    def reopen_logs(self) -> None:
        """Forward a reopen to roles in other processes (the caller reopens its own)."""
        for member in self.members:
            if member.handle is not None:
                member.handle.reopen_logs()

    @property
    def tasks_done(self) -> int:
        return sum(m.slot.read().done for m in self.members)

    @property
    def last_error(self) -> tuple[float, str]:
        """(monotonic time, text) of the most recent task error, or (0, '')."""
        beats = [m.slot.read() for m in self.members]
        latest = max(beats, key=lambda b: b.error_at, default=None)
        return (latest.error_at, latest.error) if latest and latest.error else (0.0, "")

    @property
    def periodic_minute(self) -> int | None:
        """The last minute the scheduler handled (carried over a restart)."""
        mark = self.members[SCHEDULER].slot.read().mark if self.members else 0
        return int(mark) if mark else None

    @property
    def worker_threads(self) -> list[tuple[Role, Handle | None]]:
        """huey's attribute: (worker, process) per worker."""
        return [(m.role, m.handle) for m in self.worker_members]

    @property
    def worker_members(self) -> list[Member]:
        """The members that run tasks (all but the scheduler)."""
        return [m for i, m in enumerate(self.members) if i != SCHEDULER]

    def run(self) -> None:
        """huey's blocking run: until SIGINT, SIGTERM, SIGHUP or ``stop()`` (embedded.py)."""
        from hueyd.consumer.embedded import run_blocking
        run_blocking(self)
