"""Helpers for the api tests: run a Huey in-process, the way a consumer would.

No consumer exists at this level, so tests drive ``huey.dequeue()`` +
``huey.execute(task)`` themselves. (Named test_* only to sit with the api tests.)
"""
from __future__ import annotations

import time
from typing import Any


def drain(huey: Any, timestamp: float | None = None, limit: int = 100) -> list:
    """Execute queued tasks until the queue is empty; return the tasks taken."""
    taken = []
    for _ in range(limit):
        task = huey.dequeue()
        if task is None:
            return taken
        huey.execute(task, timestamp)
        taken.append(task)
    raise AssertionError(f"queue of {huey.name} did not drain in {limit} tasks")


def step(huey: Any, timestamp: float | None = None) -> Any:
    """Execute exactly one queued task (there must be one); return it."""
    task = huey.dequeue()
    assert task is not None, f"queue of {huey.name} is empty"
    huey.execute(task, timestamp)
    return task


def run_due(huey: Any, seconds_ahead: float) -> list:
    """Pretend ``seconds_ahead`` have passed: move due scheduled tasks and run them."""
    future = time.time() + seconds_ahead
    huey.enqueue_due(future)
    return drain(huey, future)


class Recorder:
    """A signal handler that remembers ``(signal, task id, extra args)``."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def __call__(self, signal: str, task: Any, *args: Any) -> None:
        self.calls.append((signal, task.id, args))

    def signals(self) -> list[str]:
        return [c[0] for c in self.calls]


def test_drain_fails_when_the_queue_never_empties(make_huey):
    huey = make_huey()

    @huey.task()
    def forever():
        forever()  # each run enqueues another

    forever()
    try:
        drain(huey, limit=3)
    except AssertionError as exc:
        assert "did not drain" in str(exc)
    else:
        raise AssertionError("drain should have given up")
