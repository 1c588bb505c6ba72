"""Redis work per task in a worker's steady state, counted by the suite's redis-server.

A worker acknowledges task N with the take of task N+1 (one pipeline), and learns with
each take whether any revocation exists, so a queue with none costs one round trip
per task: one BLMOVE, no revocation read. Speed itself is measured in bench/.
"""
from __future__ import annotations

import threading

import redis

import hueyd
from hueyd.consumer.heartbeat import make_slots
from hueyd.consumer.worker import Worker

TASKS = 200


def command_counts(client: redis.Redis) -> dict[str, int]:
    return {name.removeprefix("cmdstat_"): stats["calls"]
            for name, stats in client.info("commandstats").items()}


def reads_processed(client: redis.Redis) -> int:
    return client.info("stats")["total_reads_processed"]


def drain(huey: hueyd.RedisHuey, tasks: int) -> Worker:
    worker = Worker(huey, make_slots(1, shared=False)[0], threading.Event(), delay=0.01)
    worker.initialize()
    for _ in range(tasks + 1):  # the last take acknowledges the last task
        worker.loop()
    return worker


def noop_app(redis_url: str, name: str) -> tuple[hueyd.RedisHuey, object, list, redis.Redis]:
    huey = hueyd.RedisHuey(name, url=redis_url, read_timeout=0.1)
    ran: list[int] = []

    @huey.task()
    def noop(n):
        ran.append(n)

    huey.storage.start_consuming()
    return huey, noop, ran, redis.Redis.from_url(redis_url)


def test_one_round_trip_and_no_revocation_read_per_task(redis_url):
    huey, noop, ran, client = noop_app(redis_url, "roundtrips")
    for n in range(TASKS):
        noop(n)
    client.config_resetstat()
    before = reads_processed(client)
    drain(huey, TASKS)
    reads = reads_processed(client) - before - 2  # INFO itself counts
    counts = command_counts(client)
    assert ran == list(range(TASKS)) and huey.storage.queue_size() == 0
    assert counts["blmove"] == TASKS + 1
    assert not {"hget", "hmget", "mget"} & set(counts), counts  # no revocation read
    assert counts["lrem"] == TASKS  # every task acknowledged
    assert reads <= TASKS * 1.1 + 5, reads  # one round trip each (was 4)
    huey.storage.release()


def test_a_revocation_is_still_seen(redis_url):
    huey, noop, ran, client = noop_app(redis_url, "roundtrips-revoked")
    results = [noop(n) for n in range(5)]
    results[2].revoke()
    drain(huey, 5)
    assert ran == [0, 1, 3, 4]
    assert client.hlen("hueyd:{roundtrips-revoked}:revoked") == 0  # spent: deleted
    huey.storage.release()
