"""Health verdicts from heartbeats: a pure function of (snapshot, now, limits).

huey only asks ``is_alive()``, so a worker blocked forever looks fine. Here a
role is judged by its heartbeat too (gunicorn's arbiter idea): idle roles stamp
every loop, so silence outside a task means hung; inside a task the task's own
time limit applies instead, so a long task is not mistaken for a hang.
"""
from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import NamedTuple

from hueyd.consumer.heartbeat import Beat


class State(enum.Enum):
    HEALTHY = "healthy"
    DEAD = "dead"
    HUNG = "hung"
    STUCK = "stuck"  # inside one task for longer than task_timeout


class Observation(NamedTuple):  # not a frozen dataclass: ~0.4 ms less at start
    """What the master saw of one role: is its thread/process/greenlet alive, its slot."""

    name: str
    alive: bool
    beat: Beat
    kind: str = "worker"  # or "scheduler"


class Limits(NamedTuple):  # not a frozen dataclass: ~0.4 ms less at start
    #: seconds without a heartbeat, outside a task, before a worker counts as hung
    worker_hang_after: float
    #: the same for the scheduler (it stamps at least every second)
    scheduler_hang_after: float = 10.0
    #: seconds one task may run (None = no limit)
    task_timeout: float | None = None


class Verdict(NamedTuple):  # not a frozen dataclass: ~0.4 ms less at start
    name: str
    state: State
    reason: str = ""
    task_id: str = ""
    task_name: str = ""
    #: seconds in the current task (STUCK) or since the last heartbeat (HUNG)
    seconds: float = 0.0

    @property
    def healthy(self) -> bool:
        return self.state is State.HEALTHY

    def describe(self) -> str:
        """One phrase for logs and STATUS=, e.g. ``Worker-2 stuck in app.slow (id) for 75s``."""
        if self.state is State.STUCK:
            return (f"{self.name} stuck in {self.task_name or 'a task'} ({self.task_id}) "
                    f"for {self.seconds:.0f}s")
        if self.state is State.HUNG:
            return f"{self.name} hung: {self.reason}"
        if self.state is State.DEAD:
            return f"{self.name} dead"
        return f"{self.name} healthy"


def judge(seen: Observation, now: float, limits: Limits) -> Verdict:
    """The verdict on one role at monotonic time ``now``."""
    beat = seen.beat
    task = {"task_id": beat.task_id, "task_name": beat.task_name}
    if not seen.alive:
        return Verdict(seen.name, State.DEAD, "exited", **task)
    if beat.task_started is not None:
        running = now - beat.task_started
        if limits.task_timeout is not None and running > limits.task_timeout:
            return Verdict(seen.name, State.STUCK, f"task over {limits.task_timeout:g}s",
                           seconds=running, **task)
        return Verdict(seen.name, State.HEALTHY, **task)
    hang_after = (limits.scheduler_hang_after if seen.kind == "scheduler"
                  else limits.worker_hang_after)
    silent = now - beat.beat
    if silent > hang_after:
        return Verdict(seen.name, State.HUNG, f"no heartbeat for {silent:.0f}s",
                       seconds=silent)
    return Verdict(seen.name, State.HEALTHY)


def judge_all(snapshot: Iterable[Observation], now: float, limits: Limits) -> list[Verdict]:
    return [judge(seen, now, limits) for seen in snapshot]
