"""Where a consumer's time per task goes during a drain: py-spy stacks plus Redis counters.

    python3 bench/profile.py [--system hueyd|huey] [-w 1] [-k thread] [--tasks 10000]

Queues ``--tasks`` no-op tasks on a private redis-server (pinned like bench/run.py), starts
the consumer, attaches py-spy (installed from PyPI into ``<cache>/venv-tools``) once the
first task has run, and detaches when the last one has. Prints, for the busiest thread:
the share of its wall time inside each function of the consumer's code (inclusive), the
share spent waiting for Redis replies, the hottest leaf frames; then Redis commands and
round trips per task. ``--stacks FILE`` keeps py-spy's collapsed stacks (flamegraph input).
"""
from __future__ import annotations

import argparse
import collections
import os
import re
import signal
import subprocess
import sys
import tempfile

import procs  # bench/ itself: python3 bench/profile.py puts it first on sys.path
import scenarios
import systems
from apps import tasklog

#: frames that mean "this thread waits for Redis's reply"
WAITING = re.compile(r"_read_from_socket|SocketBuffer\.readline|read_response \(redis/_parsers|"
                     r"recv|wait_for_read")


def py_spy(cache: str) -> str:
    """py-spy in a virtualenv of the cache (created on first use)."""
    venv = os.path.join(cache, "venv-tools")
    binary = os.path.join(venv, "bin", "py-spy")
    if not os.path.exists(binary):
        print(f"installing py-spy into {venv} ...", file=sys.stderr)
        subprocess.run([systems.SYSTEM_PYTHON, "-m", "venv", venv], check=True)
        subprocess.run([os.path.join(venv, "bin", "pip"), "install", "--quiet",
                        "--disable-pip-version-check", "py-spy"], check=True)
    return binary


def frame_name(frame: str) -> str:
    """``func (path:line)`` -> ``func (path)``: one entry per function, not per line."""
    return re.sub(r":\d+\)$", ")", frame)


def summarise(stacks: str, package: str, top: int) -> str:
    per_thread: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    leaves: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    waiting: collections.Counter = collections.Counter()
    totals: collections.Counter = collections.Counter()
    with open(stacks) as f:
        for line in f:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            frames = stack.split(";")
            thread, n = frames[0], int(count)
            totals[thread] += n
            for name in {frame_name(fr) for fr in frames[1:]}:
                per_thread[thread][name] += n
            leaves[thread][frame_name(frames[-1])] += n
            if WAITING.search(frames[-1]):
                waiting[thread] += n
    out = ["samples per thread: " + ", ".join(f"{t.split(': ', 1)[-1]} {n}"
                                              for t, n in totals.most_common())]
    thread, total = totals.most_common(1)[0]
    out.append(f"\nbusiest thread {thread}: {100 * waiting[thread] / total:.1f}% of its samples "
               "wait for a Redis reply")
    out.append(f"\ninclusive share of its samples, functions of {package}/ and the app:")
    for name, n in per_thread[thread].most_common():
        if f"{package}/" in name or "_app.py" in name or "tasklog.py" in name:
            out.append(f"  {100 * n / total:5.1f}%  {name}")
    out.append("\nhottest leaf frames:")
    for name, n in leaves[thread].most_common(top):
        out.append(f"  {100 * n / total:5.1f}%  {name}")
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--system", default="hueyd", choices=["hueyd", "huey"])
    parser.add_argument("-w", "--workers", type=int, default=1)
    parser.add_argument("-k", "--worker-type", default="thread",
                        choices=["thread", "process", "greenlet"])
    parser.add_argument("--tasks", type=int, default=10000)
    parser.add_argument("--rate", type=int, default=500, help="py-spy samples per second")
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--stacks", help="keep py-spy's collapsed stacks in this file")
    parser.add_argument("--unpinned", action="store_true")
    parser.add_argument("--cache", default=systems.DEFAULT_CACHE)
    args = parser.parse_args()

    spy = py_spy(args.cache)
    system = systems.build([args.system], args.cache)[0]
    redis_cpu, cpu = (None, None) if args.unpinned else (0, 1)
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    def unwind(signum, frame):
        raise KeyboardInterrupt(signal.Signals(signum).name)
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, unwind)
    workdir = tempfile.mkdtemp(prefix="hueyd-profile-")
    stacks = args.stacks or os.path.join(workdir, "stacks.txt")
    redis = procs.RedisServer(workdir, redis_cpu)
    try:
        bench = scenarios.Bench(redis, workdir, cpu, scenarios.Settings())
        log = bench.task_log(system, "profile")
        bench.client(system, log, "enqueue", "--count", str(args.tasks))
        consumer = bench.consumer(system, log, args.workers, args.worker_type)
        recorder = None
        try:
            scenarios.wait_for_tasks(consumer, log, 1)
            redis.reset_counters()
            done_start = tasklog.count(log)
            argv = [spy, "record", "--pid", str(consumer.pid), "--threads", "--idle",
                    "--nonblocking", "--format", "raw", "--rate", str(args.rate), "-o", stacks]
            if args.worker_type == "process":
                argv.append("--subprocesses")
            recorder = procs.Group(procs.pinned(argv, cpu),
                                   output=os.path.join(workdir, "py-spy.out"))
            scenarios.wait_for_tasks(consumer, log, args.tasks)
            done = tasklog.count(log) - done_start
            commands = redis.command_counts()
            trips = redis.round_trips()
        finally:
            if recorder is not None:
                recorder.stop(signal.SIGINT, timeout=60)  # py-spy writes its file on SIGINT
            consumer.stop()
    finally:
        redis.stop()
    print(f"{system.name} {system.version}, -w {args.workers} -k {args.worker_type}, "
          f"{done} tasks profiled")
    print(summarise(stacks, "hueyd" if system.name == "hueyd" else "huey", args.top))
    mix = ", ".join(f"{c} {n / done:.2f}" for c, n in
                    sorted(commands.items(), key=lambda kv: -kv[1]) if n / done >= 0.01)
    print(f"\nRedis per task: {sum(commands.values()) / done:.2f} commands ({mix}), "
          f"{trips / done:.2f} round trips")
    if not args.stacks:
        subprocess.run(["rm", "-rf", workdir])
    return 0


if __name__ == "__main__":
    sys.exit(main())
