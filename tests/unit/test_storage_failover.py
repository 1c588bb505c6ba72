"""Issue 18: what a failover does to the Redis storage, on real servers.

- an acknowledgement of a message its consumer no longer holds (a failover lost the
  take: the new master has it queued again) changes nothing: the revoke-once entry and
  the count of deaths stay for the run to come;
- a master demoted under a blocking take (``UNBLOCKED``) is "reconnect", not a refusal;
- ``redis+sentinel://`` URLs that do not parse are one line, without the password;
- a Sentinel-managed storage follows a coordinated failover (``SENTINEL FAILOVER``)
  that demotes the master under a blocking take.
"""
from __future__ import annotations

import hashlib
import threading
import time

import pytest
import redis

from hueyd.storage.base import StorageError, StorageRefused, StorageUnusable
from hueyd.storage.redis import PriorityRedisStorage, RedisStorage
from tests.helpers import RedisServer, wait_for
from tests.redis_ha import SERVICE, SentinelGroup


def test_an_ack_of_a_take_the_failover_lost_changes_nothing(redis_url):
    storage = RedisStorage("fo", url=redis_url)
    storage.start_consuming("c1")
    try:
        storage.enqueue(b"task-1")
        message = storage.dequeue()
        digest = hashlib.sha1(b"task-1").hexdigest()
        keys = storage.keys
        client = redis.Redis.from_url(redis_url)
        # the new master's state: the take never happened, the message is queued again
        client.lrem(message.receipt.held_in, 1, message.receipt.entry)
        client.rpush(keys.queue, message.receipt.entry)
        client.hset(keys.deliveries, digest, 2)
        storage.put_data("r:task-1", b"revoked once")
        storage.finish(message, ["r:task-1"])
        assert storage.peek_data("r:task-1") == b"revoked once"
        assert client.hget(keys.deliveries, digest) == b"2"
        assert client.lrange(keys.queue, 0, -1) == [b"task-1"]
        held = storage.dequeue()  # the run to come acknowledges for real
        storage.finish(held, ["r:task-1"])
        assert storage.peek_data("r:task-1") is None
        assert client.hget(keys.deliveries, digest) is None
    finally:
        storage.close()


@pytest.mark.parametrize("kind", [RedisStorage, PriorityRedisStorage])
def test_a_master_demoted_under_a_blocking_take_means_reconnect(own_redis, kind):
    """Redis answers ``UNBLOCKED`` to a blocked client when its server turns replica
    (BLMOVE's connection is then closed; the priority queue's BLPOP reads the reply)."""
    storage = kind("demoted", url=own_redis.url)
    storage.start_consuming("c1")
    failures: list[BaseException] = []

    def take() -> None:
        try:
            storage.dequeue(timeout=2)
        except BaseException as exc:
            failures.append(exc)

    with RedisServer() as other:
        client = redis.Redis(port=own_redis.port)
        thread = threading.Thread(target=take)
        thread.start()
        wait_for(lambda: client.info("clients")["blocked_clients"] == 1, 5)
        client.replicaof("127.0.0.1", other.port)
        thread.join(5)
        client.replicaof("no", "one")
    storage.close()
    assert len(failures) == 1
    assert isinstance(failures[0], StorageError)
    assert not isinstance(failures[0], StorageRefused), failures[0]


@pytest.mark.parametrize("url, words", [
    ("redis+sentinel://:s3cret-pw@127.0.0.1:26379", "needs the service name"),
    ("redis+sentinel://:s3cret-pw@127.0.0.1:port/svc", "port is not a number"),
    ("redis+sentinel://:s3cret-pw@/svc", "at least one Sentinel"),
    ("redis+sentinel://127.0.0.1/svc?sentinel_password=s3cret-pw&colour=red",
     "unknown option 'colour'"),
])
def test_a_sentinel_url_that_does_not_parse_is_one_line_without_password(url, words):
    with pytest.raises(ValueError) as caught:
        RedisStorage("bad", url=url)
    assert words in str(caught.value)
    assert "s3cret-pw" not in str(caught.value)


def test_a_sentinel_storage_leaves_a_master_the_sentinels_replaced():
    """SENTINEL FAILOVER promotes the replica while the old master stays a master for
    several seconds (until the Sentinels reconfigure it): a worker blocked on it, and
    its connection kept for the next takes, must leave it for the new one."""
    group = SentinelGroup()
    worker = RedisStorage("follow", url=group.url)
    worker.start_consuming("c1")
    taken: list[object] = []

    def take() -> None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not taken:
            try:
                message = worker.dequeue(timeout=1)
            except StorageError:
                continue
            if message is not None:
                taken.append((time.monotonic(), message.data))

    try:
        assert worker.location.startswith(f"sentinel service {SERVICE} via 127.0.0.1:")
        master = redis.Redis(port=group.master.port)
        worker.ping()
        thread = threading.Thread(target=take)
        thread.start()
        wait_for(lambda: master.info("clients")["blocked_clients"] == 1, 5)
        with group.sentinels[0].client() as sentinel:
            sentinel.execute_command("SENTINEL", "FAILOVER", SERVICE)
        wait_for(group.promoted, 20, message="the replica promoted")
        assert master.info("replication")["role"] == "master"  # not reconfigured yet
        promoted = time.monotonic()
        with redis.Redis(port=group.replica.port) as new_master:
            new_master.lpush(worker.keys.queue, b"after")
        thread.join(20)
        assert taken and taken[0][1] == b"after"
        assert taken[0][0] - promoted < 5
    finally:
        worker.close()
        group.cleanup()


def test_the_sentinels_own_password_is_separate_and_never_printed():
    group = SentinelGroup(password="data-Pw-71", sentinel_password="sent-Pw-93")
    assert "sentinel_password=sent-Pw-93" in group.url
    storage = RedisStorage("auth", url=group.url)
    wrong = RedisStorage("auth", url=group.url.replace("sent-Pw-93", "guess-Pw-00"))
    try:
        storage.enqueue(b"x")
        assert storage.dequeue().data == b"x"
        with pytest.raises(StorageUnusable, match="wrong password") as caught:
            wrong.ping()  # for good: check and run exit 78
        for secret in ("data-Pw-71", "sent-Pw-93", "guess-Pw-00"):
            assert secret not in str(caught.value) and secret not in storage.location
    finally:
        storage.close()
        wrong.close()
        group.cleanup()
