"""The no-op benchmark app written for huey 3.5.4 (runs in the harness's huey virtualenv)."""
import os
import time

from huey import RedisHuey
from tasklog import record

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
