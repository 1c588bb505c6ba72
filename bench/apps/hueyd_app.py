"""The same no-op app written for hueyd: only the import differs from huey_app.py."""
import os
import time

from tasklog import record

from hueyd import RedisHuey

huey = RedisHuey("bench", url=os.environ["HUEYD_BENCH_REDIS"])


@huey.task()
def noop(seq):
    record(seq)


@huey.task()
def sleepy(seq, ms):
    """An I/O-bound task: records its start, then waits ``ms`` milliseconds."""
    record(seq)
    time.sleep(ms / 1000)


@huey.task()
def compute(seq, loops):
    """A CPU-bound task: records its start, then ``loops`` rounds of pure Python
    (20,000 take about 2 ms on the bench machine)."""
    record(seq)
    total = 0
    for i in range(loops):
        total += i * i
