"""The blog's task queue: ``hueyd run blog.main.huey`` (from examples/blog) consumes it.

Written as a huey app would be; only the import names hueyd. SQLite keeps it
broker-free; ``BLOG_DB`` picks the database file, by default ``blog.db`` in the working
directory (under ``hueyd@blog``, its state folder /var/lib/hueyd/blog). A server's YAML
says where the queue is (``sqlite_path``/``redis_url``) and which key signs it; a web
process gets the same with ``hueyd.instance("blog")``.
"""
from __future__ import annotations

import logging
import os
import time

from hueyd import SqliteHuey, crontab

huey = SqliteHuey("blog", filename=os.environ.get("BLOG_DB", "blog.db"))
logger = logging.getLogger("blog")

#: where the periodic task leaves its last run time (read it with huey.get(..., peek=True))
HEARTBEAT_KEY = "blog:heartbeat"


@huey.task()
def add(a: int, b: int) -> int:
    return a + b


@huey.task()
def slow(seconds: float) -> float:
    """Stands in for real work (rendering, mail): keeps a worker busy."""
    time.sleep(seconds)
    return seconds


@huey.task(retries=2, retry_delay=1, context=True)
def flaky(fail_times: int = 1, task=None) -> int:
    """Fails its first ``fail_times`` attempts, then succeeds; returns the attempt number."""
    attempt = flaky.retries - task.retries + 1
    if attempt <= fail_times:
        raise RuntimeError(f"flaky: attempt {attempt} fails on purpose")
    return attempt


@huey.task()
def fail(message: str = "this task always fails") -> None:
    raise ValueError(message)


@huey.periodic_task(crontab(minute="*"))
def heartbeat() -> None:
    """Every minute: proves the scheduler runs."""
    now = time.time()
    huey.put(HEARTBEAT_KEY, now)
    logger.info("blog heartbeat at %.0f", now)
