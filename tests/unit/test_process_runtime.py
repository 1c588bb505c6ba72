"""Pieces of the process runtime that the daemon tests cannot isolate, on real forked
processes: the parent-death signal and the stop flag's own look at the master."""
from __future__ import annotations

import os
import select
import signal

from hueyd.consumer import parent_death
from hueyd.consumer.runtime_process import ChildFlag, PipeFlag
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
