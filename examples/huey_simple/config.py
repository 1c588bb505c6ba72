"""The example's Huey: a blocking Redis queue named simple.test."""
import os

from hueyd import RedisHuey

# REDIS_URL: a server other than localhost:6379 (the test suite's own)
huey = RedisHuey("simple.test", blocking=True, url=os.environ.get("REDIS_URL"))
