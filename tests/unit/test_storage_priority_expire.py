"""PriorityRedisExpireHuey as huey's: priorities order the queue, results expire after
``expire_time`` and reading one does not remove it, revocations and locks outlive
results, counters expire too; all through huey's interface on ``huey.storage``."""
from __future__ import annotations

import hueyd
from hueyd.storage import EmptyData
from tests.helpers import wait_for


def test_priority_and_expiring_results_as_hueys(redis_url):
    huey = hueyd.PriorityRedisExpireHuey("pre", url=redis_url, expire_time=1)
    storage = huey.storage
    try:
        assert storage.priority is True and storage.supports_hash_ttl is True

        @huey.task()
        def job(tag):
            return tag

        for tag, priority in (("low", 1), ("none", None), ("high", 10), ("mid", 5)):
            huey.enqueue(job.s(tag, priority=priority))
        order = [huey.deserialize_task(storage.dequeue()).args[0] for _ in range(4)]
        assert order == ["high", "mid", "low", "none"]
        assert storage.dequeue() is None

        result = job("kept")
        huey.execute(huey.dequeue())
        storage.put_data("revoked-flag", b"1")  # not a result: never expires
        assert storage.pop_data(result.id) is not EmptyData
        assert storage.peek_data(result.id) is not EmptyData, "a read leaves a result"
        assert storage.incr("hits") == 1 and storage.incr("hits", 2) == 3
        assert storage.put_if_empty("lock", b"1", ttl=30) is True
        wait_for(lambda: storage.peek_data(result.id) is EmptyData, 10,
                 message="the result to expire")
        # polled on the server: an incr(key, 0) would renew the counter's TTL (as in huey)
        wait_for(lambda: not list(storage.conn.scan_iter(match="*:counter:hits")), 10,
                 message="the counter to expire")
        assert storage.incr("hits", 0) == 0
        assert storage.peek_data("revoked-flag") == b"1"
        assert storage.put_if_empty("lock", b"2") is False
    finally:
        storage.flush_all()
        storage.close()
