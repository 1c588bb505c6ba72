"""The benchmark's client: enqueues tasks through an app's own API and times what it sees.

Run by the harness with the Python of the system under test (huey's virtualenv, or
/usr/bin/python3 for hueyd) and ``bench/apps`` on PYTHONPATH:

    python client.py huey_app enqueue --count 10000
    python client.py hueyd_app latency --count 200
    python client.py hueyd_app schedule --count 30 --delay 2 --spread 3

Prints one JSON object on stdout. Times are wall-clock (``time.time()``), the same
clock the task records use.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import random
import time

import tasklog


def enqueue(app, args) -> dict:
    """Enqueue ``count`` tasks (``--task``: noop, sleepy or compute, with ``--arg``),
    numbered from ``first``: one call each, or with ``--bulk`` one ``map`` call."""
    task = getattr(app, args.task)
    seqs = range(args.first, args.first + args.count)
    started = time.perf_counter()
    if args.bulk:
        task.map(seqs if args.task == "noop" else [(seq, args.arg) for seq in seqs])
    elif args.task == "noop":
        for seq in seqs:
            task(seq)
    else:
        for seq in seqs:
            task(seq, args.arg)
    elapsed = time.perf_counter() - started
    return {"count": args.count, "seconds": elapsed, "rate": args.count / elapsed}


def run_one(app, log: str, seq: int, timeout: float) -> float:
    """Enqueue task ``seq`` and wait until it has run; its start minus the enqueue time."""
    done = tasklog.count(log) + 1
    before = time.time()
    app.noop(seq)
    if tasklog.wait_count(log, done, timeout) < done:
        raise SystemExit(f"task {seq} did not run within {timeout}s")
    last = tasklog.read(log)[-1]
    if last.seq != seq:
        raise SystemExit(f"expected task {seq} to run, found {last.seq}")
    return last.started - before


def warm_up(app, args) -> None:
    """Tasks run before measuring: the consumer has started and taken its first task."""
    log = os.environ[tasklog.LOG_ENV]
    for i in range(args.warmup):
        run_one(app, log, args.warmup_first + i, args.startup_timeout)


def latency(app, args) -> dict:
    """One task at a time into an idle consumer: task start minus the moment before enqueue."""
    log = os.environ[tasklog.LOG_ENV]
    warm_up(app, args)
    rng = random.Random(args.seed)
    samples = []
    for i in range(args.count):
        time.sleep(rng.uniform(0.005, 0.020))  # let the consumer go back to waiting
        samples.append(run_one(app, log, args.first + i, args.timeout))
    return {"samples": samples}


def schedule(app, args) -> dict:
    """Tasks scheduled ``delay`` s ahead, spread over ``spread`` s so that they fall at every
    phase of a fixed scheduler tick; start error = start - due time."""
    log = os.environ[tasklog.LOG_ENV]
    warm_up(app, args)
    done = tasklog.count(log)
    rng = random.Random(args.seed)
    due = {}
    for i in range(args.count):
        seq = args.first + i
        due[seq] = time.time() + args.delay
        app.noop.schedule(args=(seq,), delay=args.delay)
        time.sleep(rng.uniform(0, 2 * args.spread / args.count))
    target = done + args.count
    timeout = max(due.values()) - time.time() + args.timeout
    if tasklog.wait_count(log, target, timeout, interval=0.01) < target:
        raise SystemExit(f"only {tasklog.count(log) - done} of {args.count} scheduled tasks ran")
    started = {r.seq: r.started for r in tasklog.read(log) if r.seq in due}
    return {"samples": [started[seq] - due[seq] for seq in sorted(due)]}


COMMANDS = {"enqueue": enqueue, "latency": latency, "schedule": schedule}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("app", help="module of the app: huey_app or hueyd_app")
    parser.add_argument("command", choices=sorted(COMMANDS))
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--first", type=int, default=0, help="sequence number of the first task")
    parser.add_argument("--task", default="noop", choices=("noop", "sleepy", "compute"))
    parser.add_argument("--arg", type=int, default=0, help="sleepy: ms; compute: loops")
    parser.add_argument("--bulk", action="store_true", help="enqueue: one map() call")
    parser.add_argument("--delay", type=float, default=2.0)
    parser.add_argument("--spread", type=float, default=3.0)
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=0, help="tasks run before measuring")
    parser.add_argument("--warmup-first", type=int, default=900_000_000)
    parser.add_argument("--startup-timeout", type=float, default=30.0)
    args = parser.parse_args()
    app = importlib.import_module(args.app)
    print(json.dumps(COMMANDS[args.command](app, args)))


if __name__ == "__main__":
    main()
