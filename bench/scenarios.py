"""The benchmark scenarios: each runs one system once and returns its measurements.

A scenario declares its metrics (label, unit, which way is better, the goal from
issues 8 and 20) and a ``run(bench, system)`` returning ``{metric key: value}``. Anything
that breaks correctness (a task lost or run twice) is returned under
``"problems"`` and fails the whole run.
"""
from __future__ import annotations

import collections
import json
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass

import procs
from apps import tasklog
from systems import System

#: sequence numbers of warm-up tasks, far from those measured
WARMUP_FIRST = 900_000_000
#: a drain that makes no progress for this long has lost tasks
STALL_SECONDS = 15.0


@dataclass(frozen=True)
class Goal:
    """Issue 8's acceptance for one metric: a bound on hueyd/huey, or on hueyd's own value."""

    bound: float
    on_ratio: bool = True
    at_most: bool = False

    def met(self, hueyd: float | None, ratio: float | None) -> bool | None:
        value = ratio if self.on_ratio else hueyd
        if value is None:
            return None
        return value <= self.bound if self.at_most else value >= self.bound

    def __str__(self) -> str:
        what = "ratio" if self.on_ratio else "hueyd"
        unit = "x" if self.on_ratio else ""
        return f"{what} {'<=' if self.at_most else '>='} {self.bound:g}{unit}"


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    unit: str
    higher_is_better: bool
    goal: Goal | None = None
    scale: float = 1.0  # stored value * scale = shown value


@dataclass
class Settings:
    """Sizes of one run (``--quick`` shrinks them)."""

    drain_tasks: int = 10000
    latency_tasks: int = 200
    schedule_tasks: int = 30
    schedule_spread: float = 3.0
    enqueue_tasks: int = 5000
    io_tasks: int = 800
    cpu_tasks: int = 1500
    bulk_tasks: int = 10000

    @classmethod
    def quick(cls) -> Settings:
        return cls(drain_tasks=2000, latency_tasks=50, schedule_tasks=10, schedule_spread=1.5,
                   enqueue_tasks=1000, io_tasks=200, cpu_tasks=300, bulk_tasks=2000)

    def tasks_of(self, task: str) -> int:
        """How many tasks a drain of ``task`` runs."""
        return {"sleepy": self.io_tasks, "compute": self.cpu_tasks}.get(task, self.drain_tasks)


@dataclass
class Bench:
    """What every scenario needs: the private Redis, a work directory, CPU placement."""

    redis: procs.RedisServer
    workdir: str
    cpu: int | None
    settings: Settings
    repeat: int = 0

    def task_log(self, system: System, scenario: str) -> str:
        path = os.path.join(self.workdir, f"{scenario}.{system.name}.{self.repeat}.tasks")
        if os.path.exists(path):
            os.unlink(path)
        return path

    def client(self, system: System, log: str, command: str, *options: str,
               timeout: float = 600) -> dict:
        """Run bench/client.py under the system's Python, on the consumer's CPU."""
        argv = procs.pinned(system.client_argv(command, *options), self.cpu)
        env = system.env(HUEYD_BENCH_REDIS=self.redis.url, **{tasklog.LOG_ENV: log})
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"client {command} failed ({done.returncode}): "
                               f"{done.stderr.strip()[-1500:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])

    def consumer(self, system: System, log: str, workers: int = 1, kind: str = "thread",
                 **env: str) -> procs.Group:
        argv = procs.pinned(system.consumer_argv(workers, kind), self.cpu)
        output = log.removesuffix(".tasks") + ".out"
        return procs.Group(argv, env=system.env(HUEYD_BENCH_REDIS=self.redis.url,
                                                **{tasklog.LOG_ENV: log}, **env),
                           output=output, cwd=self.workdir)


@dataclass
class Scenario:
    name: str
    title: str
    metrics: list[Metric]
    run: Callable[[Bench, System], dict]


# -- drain -----------------------------------------------------------------------------------
def wait_for_tasks(consumer: procs.Group, log: str, target: int) -> int:
    """Wait until ``target`` tasks have run; fail when the consumer dies or stalls."""
    last, last_change = -1, time.monotonic()
    while True:
        n = tasklog.count(log)
        if n >= target:
            return n
        consumer.check_alive()
        now = time.monotonic()
        if n != last:
            last, last_change = n, now
        elif now - last_change > STALL_SECONDS:
            raise RuntimeError(f"only {n} of {target} tasks ran (no progress for "
                               f"{STALL_SECONDS:g}s): tasks lost")
        time.sleep(0.005)


@dataclass(frozen=True)
class CpuSnapshot:
    """CPU seconds used so far by the consumer, redis-server, this harness and the machine."""

    wall: float
    consumer: float
    redis: float
    harness: float
    machine: float

    @classmethod
    def take(cls, bench: Bench, consumer: procs.Group) -> CpuSnapshot:
        return cls(time.monotonic(), procs.group_cpu_seconds(consumer.pid),
                   procs.group_cpu_seconds(bench.redis.group.pid), procs.own_cpu_seconds(),
                   procs.machine_busy_seconds())

    def others_since(self, start: CpuSnapshot) -> float:
        """Share of one CPU used meanwhile by processes that are not part of the benchmark
        (other jobs on the machine, the hypervisor's steal): they skew the figures."""
        ours = sum(getattr(self, k) - getattr(start, k) for k in ("consumer", "redis", "harness"))
        return max(0.0, (self.machine - start.machine - ours) / (self.wall - start.wall))


def check_exactly_once(records: list[tasklog.Record], count: int) -> list[str]:
    """Problems found: tasks of 0..count-1 that never ran, ran twice, or were never sent."""
    seen = collections.Counter(r.seq for r in records)
    lost = [s for s in range(count) if s not in seen]
    twice = {s: n for s, n in seen.items() if n > 1}
    strangers = [s for s in seen if not 0 <= s < count]
    problems = []
    if lost:
        problems.append(f"{len(lost)} tasks lost (e.g. {lost[:5]})")
    if twice:
        problems.append(f"{len(twice)} tasks ran more than once (e.g. {list(twice)[:5]})")
    if strangers:
        problems.append(f"{len(strangers)} unexpected task ids (e.g. {strangers[:5]})")
    return problems


def drain(workers: int, kind: str, task: str = "noop", arg: int = 0,
          prefix: str = "drain") -> Callable[[Bench, System], dict]:
    """N pre-queued tasks (no-op ones, or ``task`` with ``arg``: see client.py) drained by
    ``workers`` of ``kind``."""
    def run(bench: Bench, system: System) -> dict:
        count = bench.settings.tasks_of(task)
        name = f"{prefix}-{kind}-{workers}"
        bench.redis.reset()
        log = bench.task_log(system, name)
        bench.client(system, log, "enqueue", "--count", str(count), "--task", task,
                     "--arg", str(arg), "--bulk")
        bench.redis.reset_counters()
        consumer = bench.consumer(system, log, workers, kind)
        try:
            wait_for_tasks(consumer, log, 1)
            start = CpuSnapshot.take(bench, consumer)
            done_start = tasklog.count(log)
            wait_for_tasks(consumer, log, count)
            end = CpuSnapshot.take(bench, consumer)
            done_end = tasklog.count(log)
            memory = procs.group_memory_kib(consumer.pid)
            commands = bench.redis.command_counts()
            round_trips = bench.redis.round_trips()
            time.sleep(0.3)  # a task run twice shows up as an extra line
            consumer.check_alive()
        finally:
            consumer.stop()
        records = tasklog.read(log)
        starts = sorted(r.started for r in records)
        per_task = {cmd: n / count for cmd, n in sorted(commands.items(), key=lambda kv: -kv[1])}
        return {
            "rate": (len(starts) - 1) / (starts[-1] - starts[0]),
            "cpu": (end.consumer - start.consumer) / max(1, done_end - done_start),
            "redis_cpu": (end.redis - start.redis) / max(1, done_end - done_start),
            "others": end.others_since(start),
            "commands": sum(commands.values()) / count,
            "round_trips": round_trips / count,
            "rss": memory["Rss"] / 1024,
            "pss": memory["Pss"] / 1024,
            "processes": len({r.pid for r in records}),
            "command_mix": per_task,
            "problems": check_exactly_once(records, count),
        }
    return run


def drain_metrics(goal: float | None) -> list[Metric]:
    return [
        Metric("rate", "tasks/s", "1/s", True, Goal(goal) if goal else None),
        Metric("cpu", "consumer CPU per task", "µs", False, scale=1e6),
        Metric("commands", "Redis commands per task", "", False),
        Metric("round_trips", "Redis reads (client writes) per task", "", False),
        Metric("redis_cpu", "redis-server CPU per task", "µs", False, scale=1e6),
        Metric("rss", "RSS after drain (all processes)", "MiB", False,
               Goal(1.0, at_most=True)),
        Metric("pss", "PSS after drain (all processes)", "MiB", False),
        Metric("others", "CPU used by other processes meanwhile", "%", False, scale=100),
    ]


# -- latency, schedule, startup, enqueue ----------------------------------------------------
def percentile(samples: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(samples)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def idle_latency(bench: Bench, system: System) -> dict:
    bench.redis.reset()
    log = bench.task_log(system, "latency")
    consumer = bench.consumer(system, log)
    try:
        out = bench.client(system, log, "latency", "--count", str(bench.settings.latency_tasks),
                           "--warmup", "5", "--warmup-first", str(WARMUP_FIRST))
        consumer.check_alive()
    finally:
        consumer.stop()
    samples = out["samples"]
    return {"p50": percentile(samples, 50), "p95": percentile(samples, 95),
            "p99": percentile(samples, 99), "samples": samples}


def schedule_error(bench: Bench, system: System) -> dict:
    bench.redis.reset()
    log = bench.task_log(system, "schedule")
    consumer = bench.consumer(system, log)
    s = bench.settings
    try:
        out = bench.client(system, log, "schedule", "--count", str(s.schedule_tasks),
                           "--delay", "2", "--spread", str(s.schedule_spread),
                           "--warmup", "1", "--warmup-first", str(WARMUP_FIRST))
        consumer.check_alive()
    finally:
        consumer.stop()
    samples = out["samples"]
    return {"p50": percentile(samples, 50), "p95": percentile(samples, 95), "max": max(samples),
            "samples": samples}


def startup(bench: Bench, system: System) -> dict:
    bench.redis.reset()
    log = bench.task_log(system, "startup")
    bench.client(system, log, "enqueue", "--count", "1")
    notify = procs.NotifySocket(os.path.join(bench.workdir, "notify.sock"))
    try:
        consumer = bench.consumer(system, log, NOTIFY_SOCKET=notify.path)
        try:
            wait_for_tasks(consumer, log, 1)
            first = tasklog.read(log)[0].started - consumer.started
            ready = (procs.wait_until(notify.ready_seen, 5.0, "READY=1", interval=0.002)
                     if system.notifies else None)
        finally:
            consumer.stop()
    finally:
        notify.close()
    return {"first_task": first, "ready": None if ready is None else ready - consumer.started}


def enqueue_rate(bench: Bench, system: System) -> dict:
    bench.redis.reset()
    log = bench.task_log(system, "enqueue")
    out = bench.client(system, log, "enqueue", "--count", str(bench.settings.enqueue_tasks))
    return {"rate": out["rate"]}


def ms(key: str, label: str, goal: Goal | None = None) -> Metric:
    return Metric(key, label, "ms", False, goal, scale=1e3)


SCENARIOS = [
    Scenario("drain-thread-1", "drain, thread -w1", drain_metrics(2.0), drain(1, "thread")),
    Scenario("drain-thread-4", "drain, thread -w4", drain_metrics(2.0), drain(4, "thread")),
    Scenario("drain-thread-8", "drain, thread -w8", drain_metrics(2.0), drain(8, "thread")),
    Scenario("drain-process-2", "drain, process -w2", drain_metrics(2.0), drain(2, "process")),
    Scenario("drain-greenlet-50", "drain, greenlet -w50", drain_metrics(2.0),
             drain(50, "greenlet")),
    Scenario("latency", "idle latency enqueue -> start (thread -w1)",
             [ms("p50", "p50"), ms("p95", "p95", Goal(1.0, at_most=True)), ms("p99", "p99")],
             idle_latency),
    Scenario("schedule", "start error, schedule(delay=2) (thread -w1)",
             [ms("p50", "p50"), ms("p95", "p95", Goal(0.050, on_ratio=False, at_most=True)),
              ms("max", "max")], schedule_error),
    Scenario("startup", "process start -> (thread -w1)",
             [Metric("first_task", "first task run", "s", False, Goal(1.0, at_most=True)),
              Metric("ready", "READY=1 on NOTIFY_SOCKET", "s", False,
                     Goal(0.3, on_ratio=False, at_most=True))], startup),
    Scenario("enqueue", "client enqueue, sequential",
             [Metric("rate", "tasks/s", "1/s", True, Goal(1.5))], enqueue_rate),
]


def select(patterns: list[str], every: list[Scenario] = SCENARIOS) -> list[Scenario]:
    """Scenarios whose name equals or starts with one of ``patterns`` (all when empty)."""
    if not patterns:
        return list(every)
    chosen = [s for s in every if any(s.name == p or s.name.startswith(p + "-")
                                          or s.name.startswith(p) for p in patterns)]
    if not chosen:
        names = ", ".join(s.name for s in every)
        raise SystemExit(f"--only: no scenario matches {patterns}; choose from: {names}")
    return chosen
