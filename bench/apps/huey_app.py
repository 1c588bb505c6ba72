"""The no-op benchmark app written for huey 3.5.4 (runs in the harness's huey virtualenv)."""
import os

from huey import RedisHuey
from tasklog import record

huey = RedisHuey("bench", url=os.environ["HUEYD_BENCH_REDIS"])


@huey.task()
def noop(seq):
    record(seq)
