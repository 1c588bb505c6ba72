"""Benchmark hueyd's consumer against huey 3.5.4's on a private redis-server.

    python3 bench/run.py [--quick] [--unpinned] [--repeats N] [--only SCENARIO]
                         [--markdown FILE] [--json FILE] [--systems huey,hueyd]

Both consumers run the same no-op app (bench/apps/) through the same scenarios,
huey and hueyd alternating within each repeat (who goes first swaps every repeat),
so the ratios compare runs made seconds apart on the same machine state. Repeats
are rounds: each runs every chosen scenario once, so scenarios compared with each
other (thread -w1/-w4/-w8) also sample the same stretches of time. By
default redis-server is pinned to CPU 0 and everything else (consumers, clients,
this harness) to CPU 1: on a 2-core machine a Redis round trip costs about 4x more
when both sides share or bounce between CPUs. See bench/README.md.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import procs  # bench/ itself: python3 bench/run.py puts a script's folder first on sys.path
import report
import scenarios
import systems
import workloads


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="smaller task counts and one repeat (a smoke run, not figures)")
    parser.add_argument("--unpinned", action="store_true",
                        help="let the kernel place redis-server and the consumer")
    parser.add_argument("--repeats", type=int, help="repeats per scenario (default 3, quick 1)")
    parser.add_argument("--only", action="append", default=[], metavar="SCENARIO",
                        help="run only these scenarios (name or prefix, e.g. drain, "
                             "drain-thread-1, latency); repeatable or comma-separated")
    parser.add_argument("--systems", default="huey,hueyd",
                        help="comma-separated systems to run (default huey,hueyd)")
    parser.add_argument("--drain-tasks", type=int, help="tasks per drain (default 10000)")
    parser.add_argument("--markdown", metavar="FILE", help="also write the table as Markdown")
    parser.add_argument("--json", metavar="FILE", help="also write every sample as JSON")
    parser.add_argument("--cache", default=systems.DEFAULT_CACHE,
                        help="where huey's virtualenv is kept (default %(default)s)")
    parser.add_argument("--redis-cpu", type=int, default=0)
    parser.add_argument("--consumer-cpu", type=int, default=1)
    parser.add_argument("--quiet-below", type=float, default=25.0, metavar="PCT",
                        help="before each run, wait until other processes use less than PCT%% "
                             "of one CPU (default %(default)s)")
    parser.add_argument("--quiet-wait", type=float, default=60.0, metavar="SECONDS",
                        help="wait at most this long for that (0: never wait; default "
                             "%(default)s)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the work directory (task records, consumer output)")
    args = parser.parse_args(argv)
    args.only = [p for item in args.only for p in item.split(",") if p]
    if args.repeats is not None and args.repeats < 1:
        parser.error("--repeats must be at least 1")
    return args


def placement(args: argparse.Namespace) -> tuple[int | None, int | None]:
    """(redis CPU, consumer CPU), or (None, None) unpinned."""
    if args.unpinned:
        return None, None
    allowed = os.sched_getaffinity(0)
    if args.redis_cpu == args.consumer_cpu or not {args.redis_cpu,
                                                   args.consumer_cpu} <= allowed:
        sys.exit(f"--redis-cpu {args.redis_cpu} / --consumer-cpu {args.consumer_cpu}: need two "
                 f"different CPUs among {sorted(allowed)} (or --unpinned)")
    return args.redis_cpu, args.consumer_cpu


def wait_for_quiet(args: argparse.Namespace, redis: procs.RedisServer, log) -> float:
    """Let other jobs on the machine finish their burst before measuring; the foreign load
    seen last (share of one CPU)."""
    deadline = time.monotonic() + args.quiet_wait
    while True:
        load = procs.foreign_load(0.5, [redis.group.pid])
        if load * 100 < args.quiet_below or time.monotonic() >= deadline:
            if load * 100 >= args.quiet_below and args.quiet_wait > 0:
                log(f"  other processes still use {load:.0%} of a CPU: measuring anyway")
            return load
        time.sleep(0.5)


def describe_run(args, sysl, settings, repeats, redis_cpu, consumer_cpu) -> list[str]:
    def out(*argv: str) -> str:
        try:
            return subprocess.run(argv, capture_output=True, text=True,
                                  cwd=systems.ROOT).stdout.strip()
        except OSError:
            return "?"
    commit = out("git", "rev-parse", "--short", "HEAD")
    dirty = " + uncommitted changes" if out("git", "status", "--porcelain", "--", "hueyd") else ""
    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                  if line.startswith("model name")), platform.machine())
    where = ("unpinned" if redis_cpu is None
             else f"redis-server on CPU {redis_cpu}, consumers and clients on CPU {consumer_cpu}")
    return [
        f"hueyd bench, {datetime.datetime.now().isoformat(timespec='seconds')}, "
        f"{os.cpu_count()} x {model}",
        f"placement: {where}; {repeats} repeat(s), huey/hueyd alternating",
        f"drain: {settings.drain_tasks} pre-queued no-op tasks; latency: "
        f"{settings.latency_tasks} tasks; schedule: {settings.schedule_tasks} tasks",
        "systems: " + "; ".join(f"{s.name} {s.version} ({s.python})" for s in sysl)
        + f"; hueyd tree {commit}{dirty}",
        out("redis-server", "--version").split(" sha=")[0],
    ]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    chosen = scenarios.select(args.only, scenarios.SCENARIOS + workloads.SCENARIOS)
    settings = scenarios.Settings.quick() if args.quick else scenarios.Settings()
    if args.drain_tasks:
        settings.drain_tasks = args.drain_tasks
    repeats = args.repeats or (1 if args.quick else 3)
    redis_cpu, consumer_cpu = placement(args)
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    sysl = systems.build([s for s in args.systems.split(",") if s], args.cache, log)
    if consumer_cpu is not None:
        os.sched_setaffinity(0, {consumer_cpu})  # the harness's polling stays off Redis's CPU

    # SIGINT/SIGTERM/SIGHUP unwind, so every finally below stops what it started (SIGINT too:
    # a shell starts background jobs with it ignored, and Python then keeps it ignored)
    def unwind(signum, frame):
        raise KeyboardInterrupt(signal.Signals(signum).name)
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, unwind)

    header = describe_run(args, sysl, settings, repeats, redis_cpu, consumer_cpu)
    results = report.Results([s.name for s in sysl])
    workdir = tempfile.mkdtemp(prefix="hueyd-bench-")
    redis = None
    try:
        redis = procs.RedisServer(workdir, redis_cpu)
        bench = scenarios.Bench(redis, workdir, consumer_cpu, settings)
        for repeat in range(repeats):  # rounds: each runs every scenario once
            for scenario in chosen:
                for system in (sysl if repeat % 2 == 0 else sysl[::-1]):
                    bench.repeat = repeat
                    if args.quiet_wait > 0:
                        wait_for_quiet(args, redis, log)
                    started = time.monotonic()
                    try:
                        sample = scenario.run(bench, system)
                    except Exception as exc:  # recorded, the other runs go on
                        message = f"{scenario.name} {system.name} repeat {repeat + 1}: {exc}"
                        results.errors.append(message)
                        log(f"  ERROR {message}")
                        continue
                    results.add(scenario.name, system.name, repeat, sample)
                    shown = ", ".join(f"{k} {v:.4g}" for k, v in sample.items()
                                      if isinstance(v, float))
                    log(f"{scenario.name:18} {system.name:5} #{repeat + 1} "
                        f"({time.monotonic() - started:.1f}s): {shown}")
    except KeyboardInterrupt as exc:
        log(f"interrupted ({exc or 'SIGINT'}): stopping and reporting what ran")
    finally:
        if redis is not None:
            redis.stop()
        if args.keep:
            log(f"work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    print(report.render(results, chosen, header))
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(report.render(results, chosen, header, markdown=True))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"header": header, "samples": results.samples, "errors": results.errors,
                       "problems": results.problems}, f, indent=1)
    return 1 if results.problems or results.errors else 0


if __name__ == "__main__":
    sys.exit(main())
