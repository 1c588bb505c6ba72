"""``huey.create_consumer(**options)``, huey's embedding: the consumer runs in a thread of
the test's own process (as in a web app that embeds it), on a real SQLite file and a
real Redis; ``stop(graceful=True)`` lets running tasks finish and returns in time."""
from __future__ import annotations

import threading
import time

import pytest

from hueyd import RedisHuey, SqliteHuey
from tests.helpers import wait_for

DEADLINE = 15.0


def make_huey(kind: str, tmp_path, request) -> SqliteHuey | RedisHuey:
    if kind == "redis":
        return RedisHuey("embed", url=request.getfixturevalue("redis_url"))
    return SqliteHuey("embed", filename=str(tmp_path / "embed.db"))


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_run_in_a_thread_then_graceful_stop(kind, tmp_path, request):
    huey = make_huey(kind, tmp_path, request)
    started = threading.Event()

    @huey.task()
    def add(a, b):
        return a + b

    @huey.task()
    def slow(seconds):
        started.set()
        time.sleep(seconds)
        return "finished"

    consumer = huey.create_consumer(workers=2, worker_type="thread", initial_delay=0.05,
                                    max_delay=0.2, max_tasks=50, shutdown_timeout=10,
                                    graceful_signal="TERM")
    assert (consumer.workers, consumer.max_tasks, consumer.shutdown_timeout,
            consumer.graceful_signal) == (2, 50, 10, "TERM")
    runner = threading.Thread(target=consumer.run, name="embedded-consumer", daemon=True)
    runner.start()
    try:
        results = [add(i, i) for i in range(10)]
        assert [r.get(blocking=True, timeout=DEADLINE) for r in results] == \
            [2 * i for i in range(10)]
        long_one = slow(1.0)
        assert started.wait(DEADLINE)
    finally:
        began = time.monotonic()
        consumer.stop(graceful=True)
        stopped_in = time.monotonic() - began
        runner.join(DEADLINE)
    assert not runner.is_alive(), "run() did not return after stop()"
    assert stopped_in < 5.0, stopped_in
    assert long_one.get(preserve=True) == "finished"  # graceful: it was let finish
    assert huey.pending_count() == 0
    huey.storage.close()


def test_start_and_stop_as_hueys_docs_show(tmp_path, request):
    """huey's docs: ``consumer.start()`` ... ``consumer.stop(graceful=True)``."""
    huey = make_huey("sqlite", tmp_path, request)

    @huey.task()
    def mul(a, b):
        return a * b

    consumer = huey.create_consumer(workers=1, worker_type="thread", initial_delay=0.05,
                                    max_delay=0.2)
    consumer.start()
    try:
        assert mul(6, 7).get(blocking=True, timeout=DEADLINE) == 42
    finally:
        consumer.stop(graceful=True)
    wait_for(lambda: consumer.stopped, DEADLINE, message="every role to end")
    huey.storage.close()
