"""What durable writes cost (issue 18): enqueues and a worker's acknowledge-and-take
round trips per second on a master with one replica, with ``durable=1`` and without,
alternated in one run (compare the ratio, not the absolute figures: see
/work/shared/README.md section 8 on CPU placement).

    python3 bench/durable.py [--count 3000] [--rounds 3]

The master and the replica are pinned to CPU 0, this client to CPU 1 (if there are two).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import redis  # noqa: E402

from hueyd.storage.redis import RedisStorage  # noqa: E402
from tests.helpers import RedisServer, wait_for  # noqa: E402

PAYLOAD = b"x" * 200


def enqueues(url: str, count: int) -> float:
    storage = RedisStorage("bench", url=url)
    storage.flush_queue()
    started = time.perf_counter()
    for _ in range(count):
        storage.enqueue(PAYLOAD)
    rate = count / (time.perf_counter() - started)
    storage.close()
    return rate


def round_trips(url: str, count: int) -> float:
    """A worker's steady state: acknowledge task N and take task N+1, one round trip."""
    storage = RedisStorage("bench", url=url)
    storage.start_consuming("bench")
    message = storage.dequeue()
    started = time.perf_counter()
    for _ in range(count - 1):
        message = storage.finish_and_dequeue(message, ())
    rate = (count - 1) / (time.perf_counter() - started)
    storage.finish(message)
    storage.stop_consuming()
    storage.close()
    return rate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    master = RedisServer(extra=("--repl-diskless-sync-delay", "0")).start()
    replica = RedisServer(extra=("--replicaof", "127.0.0.1", str(master.port))).start()
    try:
        if os.cpu_count() and os.cpu_count() > 1:
            for server in (master, replica):
                os.sched_setaffinity(server.proc.pid, {0})
            os.sched_setaffinity(0, {1})
        with redis.Redis(port=master.port) as client:
            wait_for(lambda: client.set("probe", 1) and client.wait(1, 100) == 1, 10)
        rates: dict[str, list[float]] = {}
        for _ in range(args.rounds):
            for mode, query in (("async", ""), ("durable=1", "?durable=1")):
                url = master.url + query
                rates.setdefault(f"enqueue {mode}", []).append(enqueues(url, args.count))
                rates.setdefault(f"ack+take {mode}", []).append(round_trips(url, args.count))
        for name, values in rates.items():
            print(f"{name:22s} {statistics.median(values):8.0f}/s  "
                  f"({', '.join(f'{v:.0f}' for v in values)})")
        for kind in ("enqueue", "ack+take"):  # each round's pair, run back to back
            ratios = [d / a for d, a in zip(rates[f"{kind} durable=1"], rates[f"{kind} async"])]
            print(f"{kind}: durable runs at {statistics.median(ratios):.2f} of the asynchronous "
                  f"rate (per round: {', '.join(f'{r:.2f}' for r in ratios)})")
    finally:
        replica.cleanup()
        master.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
