"""Process workers: each role is a child forked from the master, reaped with waitpid.

The master tells children what to do; they ignore the terminal's SIGINT/SIGHUP
(sent to the whole process group) and react to:
- SIGTERM: raise WorkerInterrupted inside the running task (the worker hands it
  back to the queue), or just stop when idle;
- SIGUSR1: reopen log files at the next iteration;
- SIGALRM: a task's time limit (huey's timeout handler), raising TaskTimeout;
- SIGABRT: the master gave up on it (hung, or stuck past the time limit):
  faulthandler writes every thread's stack to the log, then the child dies.
Handlers only set flags or raise; a per-child self-pipe (``set_wakeup_fd``)
cuts short the idle wait so a flag is acted on at once. The master's death
reaches the child as SIGTERM too (:mod:`hueyd.consumer.parent_death`).

Time limits: the child enforces ``task_timeout`` itself with SIGALRM, so an
overlong task fails through huey's normal path (error result, retries). The
master steps in only as a backstop, when a child is still in the same task a
grace period later (stuck in C code that never returns to Python): SIGABRT,
so the log shows where it was stuck, then SIGKILL if that did not end it.
"""
from __future__ import annotations

import contextlib
import faulthandler
import logging
import os
import select
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import IO, Any, NoReturn

from hueyd.api.exceptions import TaskTimeout
from hueyd.consumer import parent_death
from hueyd.consumer.role import Role, WorkerInterrupted, run_role
from hueyd.consumer.runtime import Handle, Runtime
from hueyd.selfpipe import arm_wakeup_pipe

logger = logging.getLogger("hueyd.consumer")

#: how old a child's "no stop asked" may be (see ChildFlag)
RECHECK = 0.002
CHILD_SIGNALS = {signal.SIGTERM, signal.SIGUSR1, signal.SIGALRM, signal.SIGINT,
                 signal.SIGHUP, signal.SIGCHLD, signal.SIGABRT}


def _readable(fds: list[int], timeout: float | None) -> list[int]:
    # select, not poll: gevent's monkey-patching removes select.poll
    return select.select(fds, [], [], timeout)[0]


class PipeFlag:
    """A stop flag that works across fork: set = one byte in a pipe, never read."""

    def __init__(self) -> None:
        self.read_fd, self.write_fd = os.pipe()
        os.set_blocking(self.write_fd, False)

    def set(self) -> None:
        if self.write_fd >= 0 and not self.is_set():
            os.write(self.write_fd, b"x")

    def is_set(self) -> bool:
        return self.read_fd >= 0 and bool(_readable([self.read_fd], 0))

    def wait(self, timeout: float | None = None) -> bool:
        return bool(_readable([self.read_fd], timeout))

    def close(self) -> None:
        for fd in (self.read_fd, self.write_fd):
            if fd >= 0:
                os.close(fd)
        self.read_fd = self.write_fd = -1


class ChildFlag:
    """The stop flag as a child sees it: the master's pipe, its own SIGTERM, or the
    master gone (when no parent-death signal could be armed, it is seen here).

    ``wait`` also returns when a signal arrives (the child's wakeup pipe), so a
    reopen request is not stuck behind a long backoff sleep.

    A worker asks several times per task; looking at the pipe and the parent costs two
    system calls (~2 µs each time), so between tasks the answer may be up to
    :data:`RECHECK` old: a graceful stop is seen that much later (a SIGTERM at once).
    """

    def __init__(self, parent: PipeFlag, wake_fd: int, master_pid: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.parent = parent
        self.wake_fd = wake_fd
        self.master_pid = master_pid
        self.terminated = False
        self.clock = clock
        self._fresh_until = 0.0  # until then, "not set" needs no new look
        self._stopped = False  # the master's pipe said stop (it never takes it back)

    def set(self) -> None:
        self.terminated = True

    def is_set(self) -> bool:
        if self.terminated or self._stopped:
            return True
        now = self.clock()
        if now < self._fresh_until:
            return False
        if parent_death.orphaned(self.master_pid):
            self.terminated = True
            return True
        self._stopped = self.parent.is_set()
        self._fresh_until = now + RECHECK
        return self._stopped

    def wait(self, timeout: float | None = None) -> bool:
        if not self.is_set():
            if self.wake_fd in _readable([self.parent.read_fd, self.wake_fd], timeout):
                with contextlib.suppress(BlockingIOError):
                    os.read(self.wake_fd, 512)
        self._fresh_until = 0.0  # woken by the pipe, maybe: look again now
        return self.is_set()


class ProcessHandle(Handle):
    def __init__(self, role: Role, pid: int, flag: PipeFlag) -> None:
        super().__init__(role)
        self.pid = pid
        self.flag = flag
        self.status: int | None = None

    def is_alive(self) -> bool:
        """Reaps the child if it has exited (waitpid on its own pid, never -1:
        other children of the master are not ours to reap)."""
        if self.status is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                pid, status = self.pid, 0
            if pid:
                self.status = status
                self.flag.close()
        return self.status is None

    def _send(self, signum: int) -> bool:
        # never signal a reaped pid: the number may belong to another process by now
        if self.is_alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)
        return True

    def interrupt(self) -> bool:
        return self._send(signal.SIGTERM)

    def kill(self) -> bool:
        return self._send(signal.SIGKILL)

    def abort(self) -> bool:
        return self._send(signal.SIGABRT)

    def reopen_logs(self) -> None:
        self._send(signal.SIGUSR1)

    def describe_exit(self) -> str:
        if self.status is None:
            return "running"
        if os.WIFSIGNALED(self.status):
            return f"killed by {signal.Signals(os.WTERMSIG(self.status)).name}"
        return f"exit code {os.waitstatus_to_exitcode(self.status)}"


class ProcessRuntime(Runtime):
    name = "process"
    shared_slots = True
    forks = True

    def stop_flag(self) -> PipeFlag:
        return PipeFlag()

    def spawn(self, role: Role) -> Handle:
        flag = role.stop_flag
        assert isinstance(flag, PipeFlag)
        master = os.getpid()
        # the kernel's parent-death signal follows the forking thread (parent_death.py)
        lifelong = threading.current_thread() is threading.main_thread()
        parent_death.prepare()
        pid = os.fork()
        if pid == 0:
            self._child(role, flag, master, lifelong)
        logger.debug("%s started, pid %d", role.name, pid)
        return ProcessHandle(role, pid, flag)

    def _child(self, role: Role, flag: PipeFlag, master: int, lifelong: bool) -> NoReturn:
        code = 1
        try:
            role.stop_flag = child_flag = ChildFlag(flag, _install_wakeup(), master)

            def on_term(signum: int, frame: object) -> None:
                child_flag.terminated = True
                if role.busy:
                    raise WorkerInterrupted()

            def on_usr1(signum: int, frame: object) -> None:
                role.request_reopen()

            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGHUP, signal.SIG_IGN)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, on_term)
            signal.signal(signal.SIGUSR1, on_usr1)
            # a re-executed master starts with signals blocked: children must not
            signal.pthread_sigmask(signal.SIG_UNBLOCK, CHILD_SIGNALS)
            trace_on_abort(role)
            # the master's death = its SIGTERM: the running task and those taken ahead
            # go back to the queue (a master gone before prctl ran sends nothing: the
            # stop flag sees it before the first iteration)
            problem = parent_death.ask_for_signal(signal.SIGTERM) if lifelong else None
            if problem is not None:
                logger.warning("%s stops only between tasks if the master dies: %s",
                               role.name, problem)
            code = run_role(role, child_flag.is_set, logger)
            if parent_death.orphaned(master):
                logger.warning("%s stopped: its master (PID %d) is gone", role.name, master)
        except BaseException:
            logger.exception("%s could not start", role.name)
        finally:
            logging.shutdown()  # flush this process's handlers before leaving
            os._exit(code)

    @contextlib.contextmanager
    def timeout(self, seconds: float) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield  # signals reach the main thread only
            return

        def on_alarm(signum: int, frame: object) -> None:
            raise TaskTimeout(f"timeout ({seconds:g}s)")

        previous = signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)


def trace_on_abort(role: Role) -> None:
    """Enable faulthandler (SIGABRT from the master: every thread's stack to the log)
    now and again after each log reopen: faulthandler writes to the file descriptor
    it was given, and a reopen closes that one (its number may come back for another
    file, or not)."""
    _point_faulthandler_at_log()
    reopen = role.reopen_logs

    def reopen_and_repoint() -> None:
        if reopen is not None:
            reopen()
        _point_faulthandler_at_log()

    role.reopen_logs = reopen_and_repoint


def _point_faulthandler_at_log() -> None:
    for stream in (_log_stream(), sys.stderr):
        try:
            faulthandler.enable(file=stream, all_threads=True)  # type: ignore[arg-type]
            return
        except (AttributeError, ValueError, OSError, RuntimeError):
            continue  # no file descriptor behind it (a test's capture, a closed stderr)


def _log_stream() -> IO[Any] | None:
    """Where this process's log records go: the log file if there is one, else the
    first stream with a file descriptor (stderr, the journal under systemd)."""
    handlers = [h for h in logging.getLogger().handlers if isinstance(h, logging.StreamHandler)]
    handlers.sort(key=lambda h: not isinstance(h, logging.FileHandler))
    for handler in handlers:
        try:
            handler.stream.fileno()
        except (AttributeError, ValueError, OSError):
            continue
        return handler.stream
    return None


def _install_wakeup() -> int:
    """A child's own self-pipe for signals (the inherited one is the master's)."""
    return arm_wakeup_pipe()[0]
