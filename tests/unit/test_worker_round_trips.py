"""Redis work per task in a worker's steady state, counted by the suite's redis-server.

A worker acknowledges task N with the take of task N+1 (one pipeline), and learns with
each take whether any revocation exists, so a queue with none costs one round trip
per task: one take, no revocation read. While tasks are short, that round trip is sent
before the task runs and read after it (taking ahead), and each take moves twice as
many messages as the last, up to AHEAD_MOST: the worker then waits for Redis once per
take, not once per task. Speed itself is measured in bench/.
"""
from __future__ import annotations

import threading

import redis

import hueyd
from hueyd.consumer import worker as worker_module
from hueyd.consumer.heartbeat import make_slots
from hueyd.consumer.settings import ConsumerSettings
from hueyd.consumer.take_ahead import AHEAD_MOST
from hueyd.consumer.worker import Worker

TASKS = 200


def command_counts(client: redis.Redis) -> dict[str, int]:
    return {name.removeprefix("cmdstat_"): stats["calls"]
            for name, stats in client.info("commandstats").items()}


def reads_processed(client: redis.Redis) -> int:
    return client.info("stats")["total_reads_processed"]


def drain(huey: hueyd.RedisHuey, tasks: int, worker_type: str = "thread") -> Worker:
    worker = Worker(huey, make_slots(1, shared=False)[0], threading.Event(),
                    settings=ConsumerSettings(delay=0.01, worker_type=worker_type))
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
    # one move per task, plus the empty ones at the end (taken ahead, then waited for)
    moves = counts.get("blmove", 0) + counts.get("lmove", 0)
    assert TASKS + 1 <= moves <= TASKS + 2 * AHEAD_MOST, counts
    assert counts.get("lmove", 0) >= TASKS - 2  # short tasks: taken ahead, without blocking
    # one revocation count per take: AHEAD_MOST moves per take once tasks proved short
    assert counts["hlen"] <= TASKS / AHEAD_MOST + 10, counts
    assert not {"hget", "hmget", "mget"} & set(counts), counts  # no revocation read
    assert counts["lrem"] == TASKS  # every task acknowledged
    assert reads <= TASKS * 1.1 + 5, reads  # one round trip each (was 4)
    huey.storage.stop_consuming()


def test_a_revocation_is_still_seen(redis_url):
    huey, noop, ran, client = noop_app(redis_url, "roundtrips-revoked")
    results = [noop(n) for n in range(5)]
    results[2].revoke()
    drain(huey, 5)
    assert ran == [0, 1, 3, 4]
    assert client.hlen("hueyd:{roundtrips-revoked}:revoked") == 0  # spent: deleted
    huey.storage.stop_consuming()


def test_short_tasks_take_the_next_ones_ahead_and_long_ones_do_not(redis_url, monkeypatch):
    """While a short task runs, the next messages are already in this worker's in-flight
    list, more with each take while tasks stay short; after a task that ran long, the
    worker takes nothing ahead of the next one, and starts over from one (few messages
    wait behind a long task while other workers may be idle)."""
    # "short" is 50 ms here, not 5: a loaded CI machine must not make a no-op task long
    monkeypatch.setattr(worker_module, "AHEAD_BELOW", 0.05)
    huey = hueyd.RedisHuey("ahead", url=redis_url, read_timeout=0.1)
    held_while_running: list[int] = []

    def in_flight() -> int:
        return sum(c.in_flight for c in huey.storage.consumers())

    @huey.task()
    def short(n):
        held_while_running.append(in_flight())

    @huey.task()
    def long(n):
        held_while_running.append(in_flight())
        threading.Event().wait(0.3)  # longer than AHEAD_BELOW (patched above)

    huey.storage.start_consuming()
    for n in range(3):
        short(n)
    long(3)
    long(4)
    short(5)
    drain(huey, 6)
    # short 0 ran first (nothing known yet: alone); short 1 had short 2 behind it (a take
    # of one); short 2 had long 3 and long 4 (a take of two); long 3 had long 4 still
    # behind it; long 4 ran alone, and so did short 5 (long 4 was long)
    assert held_while_running == [1, 2, 3, 2, 1, 1]
    assert in_flight() == 0 and huey.storage.queue_size() == 0
    huey.storage.stop_consuming()


def test_a_stop_hands_back_the_tasks_taken_ahead_in_their_order(redis_url):
    """A worker stopping with tasks taken ahead acknowledges what it ran and hands the
    rest back in their order: none lost, none run twice, FIFO kept."""
    huey, noop, ran, client = noop_app(redis_url, "ahead-stop")
    for n in range(12):
        noop(n)
    worker = Worker(huey, make_slots(1, shared=False)[0], threading.Event(),
                    settings=ConsumerSettings(delay=0.01))
    worker.initialize()
    for _ in range(3):  # a take of one with task 1, a take of two with task 2
        worker.loop()
    in_flight = sum(c.in_flight for c in huey.storage.consumers())
    assert ran == [0, 1, 2] and in_flight == 3  # task 2 not acknowledged yet, 3 and 4 ahead
    worker.stop_flag.set()
    worker.loop()  # the stop is seen with task 3 in hand: it is not started
    assert ran == [0, 1, 2]
    worker.shutdown()
    assert sum(c.in_flight for c in huey.storage.consumers()) == 0
    drain(huey, 9)
    assert ran == list(range(12))
    huey.storage.stop_consuming()


def test_after_a_long_task_the_next_take_overlaps_storing_its_outcome(redis_url, monkeypatch):
    """A task that ran long: the next message is taken (without blocking) as soon as its
    own code returns, so Redis answers while its outcome is stored; its acknowledgement
    is written before the next task starts and read with the next take. Nothing was
    taken while it ran, nothing waits behind it, every task is acknowledged."""
    monkeypatch.setattr(worker_module, "AHEAD_BELOW", 0.02)  # "long": 20 ms, not 5
    huey = hueyd.RedisHuey("early", url=redis_url, read_timeout=0.1)
    client = redis.Redis.from_url(redis_url)
    while_running: list[int] = []
    while_storing: list[int] = []

    def in_flight() -> int:
        return sum(c.in_flight for c in huey.storage.consumers())

    @huey.task()
    def long(n):
        while_running.append(huey.storage.queue_size())
        threading.Event().wait(0.03)
        return n

    @huey.post_execute()
    def outcome_stored(task, value, exc):  # runs once the result is in the store
        while_storing.append(huey.storage.queue_size())

    huey.storage.start_consuming()
    results = [long(n) for n in range(5)]
    client.config_resetstat()
    drain(huey, 5)
    counts = command_counts(client)
    assert [r.get() for r in results] == list(range(5))
    # still queued while each ran: all the others (nothing taken ahead of it); while
    # its outcome was stored: one fewer (the next one, taken as its code ended)
    assert while_running == [4, 3, 2, 1, 0]
    assert while_storing == [3, 2, 1, 0, 0]
    # non-blocking takes after each task (the last finds the queue empty), one blocking
    # take once it is; every task acknowledged, none set aside
    assert counts.get("lmove", 0) == 5 and counts.get("blmove", 0) >= 1, counts
    assert counts["lrem"] == 5 and "rpush" not in counts, counts
    assert huey.storage.dead_letter_count() == 0 and in_flight() == 0
    # greenlets: the others fill a greenlet's wait, an early take would only add a write
    results = [long(n) for n in range(5, 8)]
    while_storing.clear()
    drain(huey, 3, worker_type="greenlet")
    assert [r.get() for r in results] == [5, 6, 7] and while_storing == [2, 1, 0]
    # huey's name for them, as an embedded consumer may be given it
    results = [long(n) for n in range(8, 11)]
    while_storing.clear()
    drain(huey, 3, worker_type="gevent")
    assert [r.get() for r in results] == [8, 9, 10] and while_storing == [2, 1, 0]
    huey.storage.stop_consuming()
