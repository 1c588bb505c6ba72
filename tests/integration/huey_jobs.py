"""A huey 3.5.4 application, as a team runs it before moving to hueyd.

The migration test copies it twice as ``jobs.py``: unchanged, for huey's own venv, and
with ``from huey`` replaced by ``from hueyd`` (the port), for ``hueyd run``. Every run
of ``record`` appends one line to MIGRATE_OUT/runs: how the test counts runs.
"""
import datetime
import os
from typing import NamedTuple

from huey import PriorityRedisHuey, RedisExpireHuey, RedisHuey

OUT = os.environ["MIGRATE_OUT"]
FLAVOUR = {"RedisHuey": RedisHuey, "PriorityRedisHuey": PriorityRedisHuey,
           "RedisExpireHuey": RedisExpireHuey}
#: huey's own signing, kept by the port (MIGRATE_SECRET set: the secret; compressed too)
SIGNED = os.environ.get("MIGRATE_SECRET")
SERIALIZER = None
if SIGNED:
    from huey.serializer import SignedSerializer
    SERIALIZER = SignedSerializer(SIGNED, salt="shop", compression=True)
huey = FLAVOUR[os.environ["MIGRATE_FLAVOUR"]]("shop", url=os.environ["MIGRATE_REDIS"],
                                              serializer=SERIALIZER)


class Parcel(NamedTuple):
    """One of the app's own classes, travelling as a task argument and in a result."""

    sku: str
    weight: float


@huey.task()
def record(label, n, parcel=None, when=None):
    with open(os.path.join(OUT, "runs"), "a") as f:
        f.write(f"{label} {n}\n")
    return {"n": n * 2, "parcel": parcel, "when": when}


@huey.task()
def boom():
    raise ValueError("boom from huey")


def when():
    return datetime.datetime(2026, 12, 4, 12, 30)
