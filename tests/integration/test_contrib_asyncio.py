"""``hueyd.contrib.asyncio``: awaiting results of tasks a real consumer runs (an embedded
consumer in a thread of this process, on a real SQLite file and a real Redis)."""
from __future__ import annotations

import asyncio
import threading
import time

import pytest

from hueyd import RedisHuey, ResultTimeout, SqliteHuey, TaskException
from hueyd.contrib.asyncio import aget_result, aget_result_group


@pytest.fixture(params=["sqlite", "redis"])
def running(request, tmp_path):
    """(huey, tasks) with a 3-thread consumer running until the test ends."""
    if request.param == "redis":
        huey = RedisHuey("aio", url=request.getfixturevalue("redis_url"), store_none=True)
    else:
        huey = SqliteHuey("aio", filename=str(tmp_path / "aio.db"), store_none=True)

    @huey.task()
    def sleep(n):
        time.sleep(n)
        return n

    @huey.task()
    def nothing():
        return None

    @huey.task()
    def fail():
        raise ValueError("no")

    consumer = huey.create_consumer(workers=3, initial_delay=0.02, max_delay=0.1)
    runner = threading.Thread(target=consumer.run, daemon=True)
    runner.start()
    yield huey, {"sleep": sleep, "nothing": nothing, "fail": fail}
    consumer.stop(graceful=True)
    runner.join(15)
    assert not runner.is_alive()
    huey.storage.close()


def test_results_are_awaited_concurrently(running):
    _, tasks = running

    async def main():
        began = time.monotonic()
        values = await asyncio.gather(*(aget_result(tasks["sleep"](1)) for _ in range(3)))
        return values, time.monotonic() - began

    values, took = asyncio.run(main())
    assert values == [1, 1, 1]
    assert took < 2.5, took  # three workers: side by side, not one after another


def test_result_group_none_error_and_timeout(running):
    _, tasks = running

    async def main():
        group = await aget_result_group(tasks["sleep"].map([0.2, 0.1, 0.3]))
        none = await aget_result(tasks["nothing"](), timeout=10)
        with pytest.raises(TaskException):
            await aget_result(tasks["fail"](), timeout=10)
        with pytest.raises(ResultTimeout):
            await aget_result(tasks["sleep"](3), timeout=0.3)
        with pytest.raises(TaskException):  # one fails: the group raises
            await aget_result_group(tasks["fail"].map([(), ()]), timeout=10)
        return group, none

    assert asyncio.run(main()) == ([0.2, 0.1, 0.3], None)


def test_preserve_leaves_the_result_stored(running):
    huey, tasks = running
    result = tasks["sleep"](0)
    assert asyncio.run(aget_result(result, preserve=True, timeout=10)) == 0
    result.reset()
    assert result.get(preserve=True) == 0
