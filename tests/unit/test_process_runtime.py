"""Pieces of the process runtime that the daemon tests cannot isolate, on real forked
processes: the parent-death signal, the stop flag's own look at the master, the
faulthandler target following the log across a reopen, and the SIGABRT → SIGKILL
deadline."""
from __future__ import annotations

import faulthandler
import logging
import os
import select
import signal

from hueyd.consumer import parent_death
from hueyd.consumer.aborts import Aborts
from hueyd.consumer.health import State, Verdict
from hueyd.consumer.role import Role
from hueyd.consumer.runtime_process import ChildFlag, PipeFlag, ProcessHandle, trace_on_abort
from tests.helpers import wait_for


def forked(body) -> int:
    """Run ``body()`` in a child process that never returns into pytest; its pid."""
    pid = os.fork()
    if pid == 0:
        try:
            body()
        finally:
            os._exit(0)
    return pid


def ended(pid: int) -> bool:
    """Whether ``pid`` has exited (a zombie counts: an orphan may never be reaped here)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_the_parent_death_signal_reaches_a_worker_whose_parent_dies():
    read_fd, write_fd = os.pipe()  # to the test
    armed_fd, arming_fd = os.pipe()  # to the worker's parent

    def parent() -> None:
        def worker() -> None:
            problem = parent_death.ask_for_signal(signal.SIGTERM)  # default action: die
            os.write(write_fd, f"{os.getpid()} {problem}\n".encode())
            os.write(arming_fd, b"x")
            select.select([], [], [], 30)  # until the signal comes

        forked(worker)
        select.select([armed_fd], [], [], 10)  # the worker has armed: now die

    middle = forked(parent)
    worker, problem = os.read(read_fd, 100).decode().split()
    os.waitpid(middle, 0)
    assert problem == "None"
    wait_for(lambda: ended(int(worker)), 2, message="the orphaned worker to get SIGTERM")


def test_the_stop_flag_is_set_once_the_master_is_gone():
    """Where no parent-death signal is armed (forked by another thread, a master gone
    before prctl ran), the worker still stops between tasks."""
    flag = PipeFlag()
    read_fd, _ = os.pipe()
    assert not ChildFlag(flag, read_fd, os.getppid()).is_set()  # our parent: still there
    orphan = ChildFlag(flag, read_fd, master_pid=os.getpid())  # "forked by" someone else
    assert orphan.is_set() and orphan.terminated
    flag.close()


def test_a_hung_workers_stack_follows_the_log_to_its_new_file(tmp_path):
    old, new = tmp_path / "old.log", tmp_path / "new.log"

    def worker() -> None:
        root = logging.getLogger()
        for handler in list(root.handlers):
            root.removeHandler(handler)
        root.addHandler(logging.FileHandler(old))

        def reopen() -> None:  # a reopen whose file gets a new descriptor
            root.addHandler(logging.FileHandler(new))
            root.removeHandler(root.handlers[0])

        role = Role(PipeFlag(), reopen_logs=reopen)
        trace_on_abort(role)
        role.request_reopen()
        role.reopen_if_asked()
        os.abort()  # what the master's SIGABRT does, from this frame

    pid = forked(worker)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGABRT
    trace = new.read_text()
    assert "Fatal Python error: Aborted" in trace
    assert 'test_process_runtime.py", line' in trace and "in worker" in trace
    assert "Fatal Python error" not in old.read_text()


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def sleeper(block_abort: bool) -> ProcessHandle:
    """A real child that sleeps (deaf to SIGABRT if asked), under a process handle."""
    ready_fd, readying_fd = os.pipe()

    def body() -> None:
        faulthandler.disable()  # pytest's, inherited: nothing to print here
        if block_abort:
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGABRT})
        os.write(readying_fd, b"x")
        select.select([], [], [], 30)

    pid = forked(body)
    select.select([ready_fd], [], [], 10)
    return ProcessHandle(Role(PipeFlag()), pid, PipeFlag())


def test_an_aborted_worker_gets_sigkill_only_after_the_grace():
    clock = Clock()
    aborts = Aborts(grace=2.0, clock=clock)
    stuck = Verdict("Worker-1", State.STUCK, task_id="t1", task_name="app.slow", seconds=9)
    deaf, plain = sleeper(block_abort=True), sleeper(block_abort=False)
    try:
        assert aborts.begin(deaf, stuck) and aborts.begin(plain, stuck)
        assert aborts.holds(deaf) and aborts.next_wake() == 2.0
        (gone,) = wait_for(aborts.ended, 5, message="the plain child to die of SIGABRT")
        assert gone.handle is plain and plain.describe_exit() == "killed by SIGABRT"
        clock.now += 1.9
        assert not aborts.ended() and deaf.is_alive()  # within its grace: left alone
        clock.now += 0.1
        assert aborts.ended() == [] and aborts.next_wake() is None  # SIGKILL sent
        (gone,) = wait_for(aborts.ended, 5, message="the deaf child to die of SIGKILL")
        assert gone.handle is deaf and deaf.describe_exit() == "killed by SIGKILL"
        assert not aborts.holds(deaf)
    finally:
        for handle in (deaf, plain):
            handle.kill()


class CountedPipe(PipeFlag):
    """The master's pipe flag, counting how often a child looks at it."""

    looks = 0

    def is_set(self) -> bool:
        self.looks += 1
        return super().is_set()


def test_a_childs_stop_flag_looks_at_the_pipe_once_per_recheck_not_per_ask():
    """A worker asks for its stop flag several times per task: looking at the master's
    pipe and at its parent each time cost two system calls per ask (~9 µs per no-op
    task). The answer "no stop" is kept RECHECK seconds; a SIGTERM (``set``) counts at
    once, and a wait woken by the pipe looks again at once."""
    from hueyd.consumer.runtime_process import RECHECK
    now = [100.0]
    flag = CountedPipe()
    read_fd, write_fd = os.pipe()
    child = ChildFlag(flag, read_fd, os.getppid(), clock=lambda: now[0])
    try:
        assert not any(child.is_set() for _ in range(1000))
        assert flag.looks == 1  # was 1000
        flag.set()  # the master asks for a graceful stop
        looks = flag.looks
        now[0] += RECHECK
        assert child.is_set() and child.is_set() and flag.looks == looks + 1  # seen, kept
        other = ChildFlag(CountedPipe(), read_fd, os.getppid(), clock=lambda: now[0])
        assert not other.is_set()
        other.parent.set()
        assert other.wait(0.5)  # the pipe woke the wait: no RECHECK delay
        sigterm = ChildFlag(CountedPipe(), read_fd, os.getppid(), clock=lambda: now[0])
        assert not sigterm.is_set()
        sigterm.set()
        assert sigterm.is_set()
    finally:
        for fd in (read_fd, write_fd):
            os.close(fd)
        flag.close()
