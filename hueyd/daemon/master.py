"""The daemon's master: one loop supervising the consumer (gunicorn's arbiter shape).

Each iteration: wait (until the next health check, watchdog ping, STATUS refresh
or deadline, or a signal) → dispatch the recorded signals to ``handle_<sig>`` →
reap and check health → ping the watchdog if every role is healthy → STATUS.
Draining, reloading and stopping are phases of this one loop, never nested
waits, so signals, the watchdog and STATUS keep working while tasks finish.
"""
from __future__ import annotations

import enum
import logging
import os
import signal
import sys
import time
from typing import TYPE_CHECKING, Any, Callable

from hueyd.consumer.consumer import KILL_GRACE, Consumer
from hueyd.consumer.health import Verdict
from hueyd.daemon import logs
from hueyd.daemon.config import ConfigError, load_config
from hueyd.daemon.loader import storage_refused
from hueyd.daemon.notify import Notifier
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
#: the scheduler's last handled minute, carried to the re-executed image
PERIODIC_ENV = "HUEYD_PERIODIC_MINUTE"
#: what the Notifier removes from the environment; only the re-executed image gets it back
NOTIFY_ENV = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")
#: the directory hueyd was started in (the loader may chdir): re-exec from there
START_CWD = os.getcwd()


class Phase(enum.Enum):
    STARTING = "starting"    # waiting for the storage, then starting the consumer
    RUNNING = "running"
    DRAINING = "draining"    # SIGINT: no new tasks, running ones finish, then exit
    RELOADING = "reloading"  # SIGHUP: running tasks finish, then re-execute in place
    STOPPING = "stopping"    # SIGTERM or a deadline passed: tasks interrupted
    STOPPED = "stopped"


def build_consumer(config: Config, huey: Huey, periodic_minute: int | None = None) -> Consumer:
    return Consumer(huey, workers=config.workers, worker_type=config.worker_type,
                    periodic=config.periodic, delay=config.delay, max_delay=config.max_delay,
                    backoff=config.backoff, health_check_interval=config.health_check_interval,
                    check_worker_health=config.health_check,
                    scheduler_interval=config.scheduler_interval, utc=config.utc,
                    task_timeout=config.task_timeout, shutdown_timeout=config.shutdown_timeout,
                    reopen_logs=logs.reopen, periodic_minute=periodic_minute)


class Master:
    def __init__(self, config: Config, huey: Huey, notifier: Notifier,
                 notify_env: dict[str, str] | None = None, periodic_minute: int | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 reread: Callable[[], Config] | None = None) -> None:
        self.config = config
        self.reread = reread or (lambda: load_config(config.config_path, {}))
        self.huey = huey
        self.notifier = notifier
        self.notify_env = notify_env or {}
        self.clock = clock
        self.consumer = build_consumer(config, huey, periodic_minute)
        self.phase = Phase.STARTING
        self.exit_code = EX_OK
        self.then_reexec = False  # what ends a drain: exit, or re-execute (SIGHUP)
        self.deadline = clock() + config.startup_timeout  # of the current phase
        self.killed = False  # STOPPING: SIGKILL already sent to what was left
        self.waiting_logged = False  # STARTING: said once that the storage does not answer
        self.next_health = 0.0
        self.last_ping: float | None = None
        self.next_queue_read = 0.0
        self.queued: int | None = 0
        self.status_text = ""
        self.problems: list[Verdict] = []
        self.handlers: dict[int, Callable[[], None]] = {
            signal.SIGINT: self.handle_int,
            signal.SIGTERM: self.handle_term,
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
        """Graceful stop: no new tasks, running tasks finish; after shutdown_timeout the
        rest are interrupted and handed back to the queue; exit 0. A second SIGINT
        interrupts at once."""
        if self.phase is Phase.DRAINING:
            self._interrupt()
        elif self.phase in (Phase.STARTING, Phase.RUNNING, Phase.RELOADING):
            self.notifier.stopping()
            self.then_reexec = False
            self._drain(Phase.DRAINING)

    def handle_term(self) -> None:
        """Immediate stop: running tasks are interrupted and handed back to the queue
        (process workers by their own SIGTERM handler); exit 0 promptly."""
        if self.phase not in (Phase.STOPPING, Phase.STOPPED):
            self.notifier.stopping()
            self.then_reexec = False
            if self.phase is Phase.STARTING:
                self.phase = Phase.STOPPED
            else:
                self._interrupt()

    def handle_hup(self) -> None:
        """Reload: reopen log files at once (master and every worker), re-read and
        validate the YAML, then restart all workers gracefully (running tasks finish)
        and re-execute the master in place (same PID) so new application code loads.
        An invalid YAML is logged and ignored: the daemon keeps its old configuration."""
        self._reopen_logs()
        if self.phase is not Phase.RUNNING:
            return
        self.notifier.reloading()
        problem = self._config_problem()
        if problem is not None:
            logger.error("reload refused, keeping the running configuration: %s", problem)
            self._report(self.clock(), force=True)
            self.notifier.ready(status=f"{self.status_text}; reload refused: {problem}")
            return
        logger.info("reloading: running tasks finish, then hueyd re-executes itself")
        self.then_reexec = True
        self._drain(Phase.RELOADING)

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

    def _config_problem(self) -> str | None:
        if not self.config.config_path:
            return None
        try:
            self.reread()
        except ConfigError as exc:
            return str(exc)
        return None

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
            self.wakeup.uninstall()
        logger.info("hueyd exiting (code %d)", self.exit_code)
        return self.exit_code

    def step(self, now: float) -> None:
        """One iteration after the signals: start/supervise/wind down, watchdog, STATUS."""
        if self.phase is Phase.STARTING:
            self._start(now)
        elif self.phase is Phase.RUNNING:
            self.consumer.reap()
            if self.config.health_check and now >= self.next_health:
                self.consumer.check_health(now)
                self.next_health = now + self.config.health_check_interval
        elif self.phase is not Phase.STOPPED:
            self._wind_down(now)
        if self.phase is Phase.STOPPED:
            return
        verdicts = self.consumer.health(now) if self.consumer.members else []
        dead_counts = self.phase is Phase.RUNNING and not self.config.health_check
        self.problems = blocking_problems(verdicts, dead_counts)
        if not self.problems and self.notifier.watchdog(now):
            self.last_ping = now
        self._report(now)

    def _start(self, now: float) -> None:
        try:
            self.huey.storage.ping()
        except StorageUnusable as exc:
            self._refused(exc)
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
        self.consumer.start()
        self.phase = Phase.RUNNING
        self.next_health = now + self.config.health_check_interval
        self._report(now, force=True)
        self.notifier.ready(status=self.status_text)

    def _refused(self, exc: StorageUnusable) -> None:
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
            self.consumer.release()  # what is still in flight goes back; the lease goes
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
        elif self.phase is Phase.RUNNING:
            if self.config.health_check:
                wakes.append(self.next_health)
            due = self.consumer.next_wake()  # a hung worker's SIGKILL after its SIGABRT
            if due is not None:
                wakes.append(now + due)
        else:
            wakes.append(now + STOP_POLL)
        interval = self.notifier.watchdog_interval
        if interval:
            if self.problems or self.last_ping is None:  # not pinging: look again later
                wakes.append(now + interval)
            else:
                wakes.append(self.last_ping + interval)
        return max(0.0, min(wakes) - now)

    # -- STATUS ----------------------------------------------------------------------------
    def _report(self, now: float, force: bool = False) -> None:
        if force or now >= self.next_queue_read:
            self.next_queue_read = now + STATUS_EVERY
            try:
                self.queued = self.huey.storage.queue_size()
            except StorageUnusable as exc:
                self.queued = None
                self._refused(exc)
            except StorageError:
                self.queued = None
        _, error = self.consumer.last_error
        text = status_line(Observed(self.instance, self.config.workers, self.config.worker_type,
                                    self.phase.value, self.queued, self.consumer.tasks_done,
                                    error), self.problems)
        if text != self.status_text:
            self.status_text = text
            if not force:
                self.notifier.status(text)

    # -- reload ----------------------------------------------------------------------------
    def _reexec(self) -> None:
        """Replace this process image with a fresh one: same PID, original argv."""
        argv = list(sys.orig_argv)
        env: dict[str, Any] = {**os.environ, **self.notify_env}
        if self.consumer.periodic_minute:
            env[PERIODIC_ENV] = str(self.consumer.periodic_minute)
        logger.info("re-executing: %s", " ".join(argv))
        self.huey.storage.close()
        self.wakeup.block()  # a signal arriving now stays pending for the new image
        self.wakeup.uninstall()
        for handler in logging.getLogger().handlers:
            handler.flush()
        try:
            os.chdir(START_CWD)
            os.execve(sys.executable, argv, env)
        except OSError:
            logger.exception("re-executing failed")
            self.exit_code = EX_SOFTWARE
            signal.pthread_sigmask(signal.SIG_UNBLOCK, self.handlers)


def run(config: Config, huey: Huey, reread: Callable[[], Config] | None = None) -> int:
    """Run the daemon until it stops; returns the process exit code.

    ``reread`` loads the configuration as at start (file and command line): SIGHUP
    validates with it before re-executing."""
    kept = {name: os.environ[name] for name in NOTIFY_ENV if name in os.environ}
    notifier = Notifier.from_environ(os.environ)  # removes them: workers never see them
    minute = os.environ.pop(PERIODIC_ENV, "")
    master = Master(config, huey, notifier, notify_env=kept,
                    periodic_minute=int(minute) if minute.isdigit() else None, reread=reread)
    return master.run()
