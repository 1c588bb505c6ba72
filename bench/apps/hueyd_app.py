"""The same no-op app written for hueyd: only the import differs from huey_app.py."""
import os

from tasklog import record

from hueyd import RedisHuey

huey = RedisHuey("bench", url=os.environ["HUEYD_BENCH_REDIS"])


@huey.task()
def noop(seq):
    record(seq)
