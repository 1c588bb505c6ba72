"""The daemon's master: one loop supervising the consumer (gunicorn's arbiter shape).

Each iteration: wait (until the next health check, watchdog ping, STATUS refresh
or deadline, or a signal) → dispatch the recorded signals to ``handle_<sig>`` →
reap and check health → ping the watchdog if every role is healthy → STATUS.
Checking a reload, draining, reloading and stopping are phases of this one loop,
never nested waits, so signals, the watchdog and STATUS keep working while a
child checks the new code or tasks finish.
"""
from __future__ import annotations

import enum
import logging
import os
import signal
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from hueyd.consumer.banner import log_storage_warnings
from hueyd.consumer.consumer import KILL_GRACE, Consumer
from hueyd.consumer.health import Verdict
from hueyd.consumer.settings import ConsumerSettings
from hueyd.daemon import logs, reload_reply
from hueyd.daemon.loader import storage_refused
from hueyd.daemon.notify import Notifier
from hueyd.daemon.observer import Observer
from hueyd.daemon.reexec import START_CWD, keep_notify_env, replace_image, take_periodic_minute
from hueyd.daemon.reload_check import Reloads
from hueyd.daemon.status import Observed, blocking_problems, status_line
from hueyd.daemon.wakeup import SignalWakeup
from hueyd.exitcodes import EX_CONFIG, EX_OK, EX_SOFTWARE, EX_UNAVAILABLE
from hueyd.storage.base import StorageError, StorageUnusable

if TYPE_CHECKING:  # pragma: no cover
    from hueyd.api.huey import Huey
    from hueyd.daemon.config import Config

logger = logging.getLogger("hueyd.master")

#: seconds between queue-length reads for STATUS=
STATUS_EVERY = 5.0
#: seconds between storage pings while waiting for it at start
STARTUP_RETRY = 0.5
#: while roles exit: threads and greenlets do not signal their exit, so look this often
STOP_POLL = 0.05
#: while a reload's check runs: look at the child this often (SIGCHLD may not wake us)
CHECK_POLL = 0.05


class Phase(enum.Enum):
    STARTING = "starting"    # waiting for the storage, then starting the consumer
    RUNNING = "running"
    CHECKING = "reload check"  # SIGHUP: a child checks the new code; workers keep running
    DRAINING = "draining"    # SIGINT: no new tasks, running ones finish, then exit
    RELOADING = "reloading"  # SIGHUP: running tasks finish, then re-execute in place
    STOPPING = "stopping"    # SIGTERM or a deadline passed: tasks interrupted
    STOPPED = "stopped"


def build_consumer(config: Config, huey: Huey, periodic_minute: int | None = None,
                   wake: Callable[[], None] | None = None) -> Consumer:
    """``wake``: how a worker thread wakes the master (a recycled one is replaced at once)."""
    settings = ConsumerSettings.taken_from(config, {"check_worker_health": "health_check"})
    return Consumer(huey, settings, reopen_logs=logs.reopen, periodic_minute=periodic_minute,
                    wake=wake)


class Master:
    def __init__(self, config: Config, huey: Huey, notifier: Notifier,
                 notify_env: dict[str, str] | None = None, periodic_minute: int | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 run_options: Sequence[str] | None = None,
                 runtime_folder: str | None = None) -> None:
        self.config = config
        if run_options is None:  # not from the command line: the file, else the app
            run_options = ["--config", config.config_path] if config.config_path \
                else [config.app]
        # a reload's check runs ``hueyd check`` with ``hueyd run``'s options
        self.reloads = Reloads(run_options, config.startup_timeout, START_CWD,
                               runtime_folder)
        self.huey = huey
        self.notifier = notifier
        self.notify_env = notify_env or {}
        self.clock = clock
        self.wake = lambda: self.wakeup.wake()  # a worker thread wakes the loop
        self.consumer = build_consumer(config, huey, periodic_minute, self.wake)
        self.observer = Observer(config, huey, lambda: self.consumer)  # metrics, rates
        self.phase = Phase.STARTING
        self.exit_code = EX_OK
        self.then_reexec = False  # what ends a drain: exit, or re-execute (SIGHUP)
        self.deadline = clock() + config.startup_timeout  # of the current phase
        self.killed = False  # STOPPING: SIGKILL already sent to what was left
        self.waiting_logged = False  # STARTING: said once that the storage does not answer
        self.next_health = 0.0
        self.next_queue_read = 0.0
        self.queued: int | None = 0
        self.status_text = ""
        self.problems: list[Verdict] = []
        graceful, immediate = self.consumer.settings.stop_signals  # -g TERM swaps them
        self.handlers: dict[int, Callable[[], None]] = {
            graceful: self.handle_int,
            immediate: self.handle_term,
            signal.SIGHUP: self.handle_hup,
            signal.SIGUSR1: self.handle_usr1,
            signal.SIGCHLD: self.handle_chld,
        }
        # SIGCHLD matters only when workers are our children; gevent, for greenlet
        # workers, wants SIGCHLD for itself
        self.wakeup = SignalWakeup(s for s in self.handlers
                                   if s != signal.SIGCHLD or self.consumer.runtime.forks)

    @property
    def instance(self) -> str:
        return self.config.instance or self.huey.name

    # -- signals: each runs in the loop, never in the signal handler --------------------
    def handle_int(self) -> None:
        """SIGINT (SIGTERM with graceful_signal TERM). Graceful stop: no new tasks,
        running tasks finish; after shutdown_timeout the rest are interrupted and
        handed back to the queue; exit 0. A second one interrupts at once."""
        if self.phase is Phase.DRAINING:
            self._interrupt()
        elif self.phase in (Phase.STARTING, Phase.RUNNING, Phase.CHECKING, Phase.RELOADING):
            self.notifier.stopping()
            self._cancel_reload()
            self._drain(Phase.DRAINING)

    def handle_term(self) -> None:
        """SIGTERM (SIGINT with graceful_signal TERM). Immediate stop: running tasks
        are interrupted and handed back to the queue (process workers by their own
        SIGTERM handler); exit 0 promptly."""
        if self.phase not in (Phase.STOPPING, Phase.STOPPED):
            self.notifier.stopping()
            self._cancel_reload()
            if self.phase is Phase.STARTING:
                self.phase = Phase.STOPPED
            else:
                self._interrupt()

    def handle_hup(self) -> None:
        """Reload: reopen log files at once (master and every worker), then check the
        new YAML and application code in a child (``hueyd check --offline``, within
        startup_timeout) while the workers keep running. If it passes, all workers
        restart gracefully (running tasks finish) and the master re-executes in place
        (same PID) on the new code; if not, one error line and STATUS say why and
        nothing else changes. ``hueyd reload`` clients get the verdict."""
        self._reopen_logs()
        if self.phase in (Phase.RUNNING, Phase.CHECKING):
            self.notifier.reloading()
            self.phase = Phase.CHECKING
            self.reloads.begin(self.clock())
        elif self.phase is Phase.RELOADING:  # newer files: checked again before the exec
            self.reloads.begin(self.clock())
        else:
            self.reloads.decline(f"hueyd is {self.phase.value}")

    def handle_usr1(self) -> None:
        """Reopen log files (master and every worker); nothing restarts."""
        self._reopen_logs()

    def handle_chld(self) -> None:
        """A child exited: reap it now (it is replaced at the next health check)."""
        self.consumer.reap()

    def dispatch(self, signum: int) -> None:
        level = logging.DEBUG if signum == signal.SIGCHLD else logging.INFO
        logger.log(level, "received %s", signal.Signals(signum).name)
        self.handlers[signum]()

    # -- phase changes ---------------------------------------------------------------------
    def _drain(self, phase: Phase) -> None:
        if self.phase is Phase.STARTING:
            self.phase = Phase.STOPPED  # nothing runs yet
            return
        self.consumer.request_stop()
        self.phase = phase
        if self.config.shutdown_timeout is None:
            self.deadline = None
        else:
            self.deadline = self.clock() + self.config.shutdown_timeout

    def _interrupt(self) -> None:
        logger.info("interrupting running tasks")
        self.consumer.interrupt()
        self.phase = Phase.STOPPING
        self.deadline = self.clock() + KILL_GRACE

    def _reopen_logs(self) -> None:
        logs.reopen()
        self.consumer.reopen_logs()
        logger.info("log files reopened")

    # -- reload ------------------------------------------------------------------------
    def _check_done(self, now: float) -> None:
        """CHECKING: the workers keep running until the check passes or fails."""
        outcome = self.reloads.outcome(now)
        if outcome is not None and outcome.passed:
            self.then_reexec = True
            self._drain(Phase.RELOADING)
        elif outcome is not None:
            self._reload_refused(now)

    def _reload_refused(self, now: float) -> None:
        self.phase = Phase.RUNNING
        self._report(now, force=True)
        self.notifier.ready(status=self.status_text)

    def _cancel_reload(self) -> None:
        """A stop wins over a reload: no check, no re-exec."""
        self.then_reexec = False
        self.reloads.cancel("hueyd is stopping")

    # -- the loop ---------------------------------------------------------------------------
    def run(self) -> int:
        self.wakeup.install()
        try:
            timeout = 0.0
            while True:
                self.wakeup.wait(timeout)
                for signum in self.wakeup.take():
                    self.dispatch(signum)
                now = self.clock()
                self.step(now)
                if self.phase is Phase.STOPPED:
                    break
                timeout = self._timeout(self.clock())
        except BaseException:
            logger.exception("the master loop failed: stopping every worker")
            self.consumer.interrupt()
            self.consumer.kill_remaining()
            self.exit_code = EX_SOFTWARE
        finally:
            self._cancel_reload()
            self.observer.close()
            self.wakeup.uninstall()
        logger.info("hueyd exiting (code %d)", self.exit_code)
        return self.exit_code

    def step(self, now: float) -> None:
        """One iteration after the signals: start/supervise/wind down, watchdog, STATUS."""
        if self.phase is Phase.STARTING:
            self._start(now)
        elif self.phase in (Phase.RUNNING, Phase.CHECKING):
            self.consumer.reap()
            if self.config.health_check and now >= self.next_health:
                self.consumer.check_health(now)
                self.next_health = now + self.config.health_check_interval
            if self.phase is Phase.CHECKING:
                self._check_done(now)
        elif self.phase is not Phase.STOPPED:
            self._wind_down(now)
        if self.phase is Phase.STOPPED:
            return
        verdicts = self.consumer.health(now) if self.consumer.members else []
        dead_counts = self.phase in (Phase.RUNNING, Phase.CHECKING) \
            and not self.config.health_check
        self.problems = blocking_problems(verdicts, dead_counts)
        if not self.problems:
            self.notifier.watchdog(now)  # pings only when one is due
        self._report(now)

    def _start(self, now: float) -> None:
        try:
            self.huey.backend.ping()
        except StorageUnusable as exc:
            self._storage_refuses(exc)
            return
        except StorageError as exc:
            if now >= self.deadline:
                logger.error("storage unreachable for %gs, giving up: %s",
                             self.config.startup_timeout, exc)
                self.exit_code = EX_UNAVAILABLE
                self.phase = Phase.STOPPED
            elif not self.waiting_logged:
                logger.warning("waiting up to %gs for the storage: %s",
                               self.config.startup_timeout, exc)
                self.waiting_logged = True
            return
        self.consumer.start(check_storage=False)
        self.observer.start()
        self.phase = Phase.RUNNING
        self.next_health = now + self.config.health_check_interval
        self._report(now, force=True)
        self.notifier.ready(status=self.status_text)
        log_storage_warnings(self.huey)  # the storage's settings, once READY=1 is out

    def _storage_refuses(self, exc: StorageUnusable) -> None:
        """The storage refuses us for good (a wrong password, a corrupt or read-only file):
        one line, stop at once, exit 78 (systemd does not restart: retrying cannot help)."""
        if self.phase in (Phase.STOPPING, Phase.STOPPED):
            return
        logger.error("%s", str(storage_refused(self.config, exc)).removeprefix("hueyd: "))
        self.exit_code = EX_CONFIG
        self.then_reexec = False
        if self.phase is Phase.STARTING:
            self.phase = Phase.STOPPED
            return
        self.notifier.stopping()
        self._interrupt()

    def _wind_down(self, now: float) -> None:
        self.consumer.reap()
        if self.consumer.stopped:
            if self.then_reexec and self.reloads.checking:  # SIGHUP during the drain
                outcome = self.reloads.outcome(now)
                if outcome is None:
                    return
                if not outcome.passed:  # the workers start again on the code loaded here
                    self.consumer.stop_consuming()
                    self.consumer = build_consumer(self.config, self.huey,
                                                   self.consumer.periodic_minute, self.wake)
                    self.consumer.start()
                    self.then_reexec = False
                    self.next_health = now + self.config.health_check_interval
                    self._reload_refused(now)
                    return
            self.consumer.stop_consuming()  # what is still in flight goes back; the lease goes
            if self.then_reexec:
                self._reexec()
            self.phase = Phase.STOPPED
            return
        if self.deadline is None or now < self.deadline:
            return
        if self.phase is not Phase.STOPPING:
            logger.warning("shutdown timeout of %gs elapsed", self.config.shutdown_timeout)
            self._interrupt()
        elif not self.killed:
            logger.warning("workers still running %gs after the interrupt: killing them",
                           KILL_GRACE)
            self.consumer.kill_remaining()
            self.killed, self.deadline = True, now + KILL_GRACE
        else:
            logger.error("giving up on %s", ", ".join(h.name for h in self.consumer.alive))
            self.phase = Phase.STOPPED

    def _timeout(self, now: float) -> float:
        wakes = [self.next_queue_read]
        if self.phase is Phase.STARTING:
            wakes.append(now + STARTUP_RETRY)
        elif self.phase in (Phase.RUNNING, Phase.CHECKING):
            if self.config.health_check:
                wakes.append(self.next_health)
            due = self.consumer.next_wake()  # a hung worker's SIGKILL after its SIGABRT
            if due is not None:
                wakes.append(now + due)
            if self.phase is Phase.CHECKING:
                wakes.append(now + CHECK_POLL)
        else:
            wakes.append(now + STOP_POLL)
        interval = self.notifier.watchdog_interval
        if interval:
            last = self.notifier.last_ping  # the one clock of pings
            if self.problems or last is None:  # not pinging: look again later
                wakes.append(now + interval)
            else:
                wakes.append(last + interval)
        return max(0.0, min(wakes) - now)

    # -- STATUS ----------------------------------------------------------------------------
    def _report(self, now: float, force: bool = False) -> None:
        if force or now >= self.next_queue_read:
            self.next_queue_read = now + STATUS_EVERY
            try:
                self.queued = self.huey.backend.queue_size()
            except StorageUnusable as exc:
                self.queued = None
                self._storage_refuses(exc)
            except StorageError:
                self.queued = None
            self.observer.observe(now)
        _, error = self.consumer.last_error
        text = status_line(Observed(self.instance, self.config.workers, self.config.worker_type,
                                    self.phase.value, self.queued, self.consumer.tasks_done,
                                    error, self.observer.activity.per_second(),
                                    self.huey.backend.failing_over), self.problems)
        if self.reloads.refused:  # until the next reload: `systemctl status` shows why
            text += f"; reload refused: {self.reloads.refused}"
        if text != self.status_text:
            self.status_text = text
            if not force:
                self.notifier.status(text)

    def _reexec(self) -> None:
        if not replace_image(self.huey.backend, self.wakeup, self.notify_env,
                             self.consumer.periodic_minute):
            self.exit_code = EX_SOFTWARE


def run(config: Config, huey: Huey, run_options: Sequence[str] | None = None) -> int:
    """Run the daemon until it stops; returns the process exit code.

    ``run_options``: the options ``hueyd run`` was given; on SIGHUP a child runs
    ``hueyd check --offline`` with them before the master re-executes."""
    kept = keep_notify_env(os.environ)
    notifier = Notifier.from_environ(os.environ)  # removes them: workers never see them
    master = Master(config, huey, notifier, notify_env=kept,
                    periodic_minute=take_periodic_minute(os.environ), run_options=run_options,
                    runtime_folder=reload_reply.runtime_folder(os.environ))
    return master.run()
