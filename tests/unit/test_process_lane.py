"""The lane across worker processes (process_lane.py): no more short-task drains than
the CPUs the consumer may use, parked processes go ahead after a long step, and a
holder that dies frees its place (the kernel drops its lock), with real forks."""
from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator

import pytest

from hueyd.consumer.process_lane import PLACE, ProcessLane, usable_cpus
from hueyd.consumer.runtime_process import ProcessRuntime


def never() -> bool:
    return False


@contextlib.contextmanager
def affinity(cpus: set[int]) -> Iterator[None]:
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def holder_pid(lane: ProcessLane, place: int = 0) -> int:
    return PLACE.unpack_from(lane._page, place * PLACE.size)[0]


def fork_holder(lane: ProcessLane, short_for: float, then_long: float) -> tuple[int, int]:
    """A child that takes the lane, steps short for ``short_for`` seconds, then stays on
    one step for ``then_long``; writes the time its long step began to the pipe."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.close(read_fd)
            assert lane.enter(object(), never)
            until = time.monotonic() + short_for
            while time.monotonic() < until:
                lane.step(None, keep=True)
                time.sleep(0.005)
            lane.step(None, keep=True)
            os.write(write_fd, repr(time.monotonic()).encode())
            time.sleep(then_long)
        finally:
            os._exit(0)
    os.close(write_fd)
    return pid, read_fd


def wait_held(lane: ProcessLane, pid: int) -> None:
    deadline = time.monotonic() + 10
    while holder_pid(lane) != pid:
        assert time.monotonic() < deadline, "the child never took the lane"
        time.sleep(0.005)


def test_usable_cpus_is_the_affinity_capped_by_the_cgroup_quota(tmp_path):
    with open("/proc/self/cgroup") as f:
        line = next((line for line in f if line.startswith("0::")), "0::/\n")
    group = tmp_path / line.split(":", 2)[2].strip().lstrip("/")
    group.mkdir(parents=True, exist_ok=True)
    cpus = len(os.sched_getaffinity(0))
    (group / "cpu.max").write_text("max 100000\n")
    assert usable_cpus(cgroup_root=str(tmp_path)) == cpus
    (group / "cpu.max").write_text("50000 100000\n")  # half a CPU: still one drain
    assert usable_cpus(cgroup_root=str(tmp_path)) == 1
    with affinity({min(os.sched_getaffinity(0))}):
        assert usable_cpus() == 1


def test_process_workers_get_a_lane_only_where_they_outnumber_the_cpus():
    cpus = os.sched_getaffinity(0)
    with affinity({min(cpus)}):  # pinned to one CPU (as bench/ pins the consumer)
        lane = ProcessRuntime().lane(2)
        assert isinstance(lane, ProcessLane) and lane.places == 1
        assert ProcessRuntime().lane(1) is None
    if len(cpus) < 2 or usable_cpus() < 2:
        pytest.skip("needs 2 usable CPUs")
    with affinity(set(sorted(cpus)[:2])):  # unpinned on 2 cores: both drain in parallel
        assert ProcessRuntime().lane(2) is None


def test_a_parked_process_waits_while_the_holder_steps_and_goes_ahead_after_a_long_step():
    lane = ProcessLane(patience=0.2, places=1)
    pid, read_fd = fork_holder(lane, short_for=0.8, then_long=3)
    try:
        wait_held(lane, pid)
        assert not lane.open_to(None)  # the place is taken: this process takes nothing ahead
        went = lane.enter(None, never)
        while went is False:  # parked for PARK_AT_MOST: ask again, as the worker loop does
            went = lane.enter(None, never)
        gone_at = time.monotonic()
        long_from = float(os.read(read_fd, 64))
        # it parked while the holder stepped, and went ahead (outside) once a step ran long
        assert long_from + 0.2 <= gone_at < long_from + 1.0
        assert lane.holder is None and holder_pid(lane) == pid
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(read_fd)


def test_a_holder_killed_while_it_drains_frees_its_place_at_once():
    lane = ProcessLane(patience=30, places=1)  # its steps would never look long
    pid, read_fd = fork_holder(lane, short_for=60, then_long=0)
    try:
        wait_held(lane, pid)
        os.kill(pid, signal.SIGKILL)  # holding the lane, mid-drain
        os.waitpid(pid, 0)
        started = time.monotonic()
        assert lane.enter(None, never)
        assert lane.holder == os.getpid()  # the kernel dropped the dead one's lock
        assert time.monotonic() - started < 1.0
        lane.leave(None)
        assert holder_pid(lane) == 0 and lane.holder is None
    finally:
        with contextlib.suppress(ProcessLookupError, ChildProcessError):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(read_fd)
