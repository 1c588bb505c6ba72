"""Issue 20's scenarios: realistic tasks, the producer's bulk call, memory per worker type.

- ``io-*``: tasks that sleep 10 ms (I/O-bound: the worker waits, the GIL is free). The
  ideal rate is workers / 10 ms; ``efficiency`` is the measured rate over it (goal: hueyd
  within 10 %, wherever one core can carry the rate). A lane that serialized waiting tasks
  would show as efficiency near 1/workers.
- ``cpu-*``: tasks of ~2 ms of pure Python (20,000 loop rounds): more threads cannot add
  throughput on one GIL, so the figure to watch is hueyd >= huey at every count.
- ``producer``: one client call ``noop.map(range(N))`` (N = 10,000); hueyd batches it
  (bulk enqueue), huey 3.5.4's ``map`` enqueues one by one. ``speedup`` is that rate over
  the same system's one-call-per-task rate (goal: hueyd >= 10x).
- ``memory-*``: RSS/PSS of an idle consumer of each worker type, after its first task.
"""
from __future__ import annotations

import time

import procs
from apps import tasklog
from scenarios import Bench, Goal, Metric, Scenario, drain, drain_metrics, wait_for_tasks
from systems import System

#: the I/O-bound task's wait (ms) and the CPU-bound task's loop rounds (~2 ms)
IO_MS = 10
CPU_LOOPS = 20000


def io_drain(workers: int, kind: str):
    run = drain(workers, kind, "sleepy", IO_MS, prefix="io")

    def measured(bench: Bench, system: System) -> dict:
        sample = run(bench, system)
        sample["efficiency"] = sample["rate"] / (workers * 1000 / IO_MS)
        return sample
    return measured


def io_metrics() -> list[Metric]:
    rate, *rest = drain_metrics(None)
    return [Metric("rate", "tasks/s", "1/s", True, Goal(1.0)),
            Metric("efficiency", "share of the ideal (workers / 10 ms)", "%", True,
                   Goal(0.9, on_ratio=False), scale=100),
            *(m for m in rest if m.key in ("cpu", "others"))]


def cpu_metrics() -> list[Metric]:
    return [Metric("rate", "tasks/s", "1/s", True, Goal(1.0)),
            *(m for m in drain_metrics(None) if m.key in ("cpu", "others"))]


def bulk_enqueue(bench: Bench, system: System) -> dict:
    """One map() of N tasks, then N/2 sequential calls from a fresh client: the bulk
    call's speed-up over the same system's one-by-one enqueue."""
    bench.redis.reset()
    log = bench.task_log(system, "producer")
    count = bench.settings.bulk_tasks
    bulk = bench.client(system, log, "enqueue", "--count", str(count), "--bulk")["rate"]
    bench.redis.reset()
    one_by_one = bench.client(system, log, "enqueue", "--count", str(count // 2))["rate"]
    return {"rate": bulk, "sequential": one_by_one, "speedup": bulk / one_by_one}


def idle_memory(workers: int, kind: str):
    def run(bench: Bench, system: System) -> dict:
        bench.redis.reset()
        log = bench.task_log(system, f"memory-{kind}-{workers}")
        bench.client(system, log, "enqueue", "--count", "1")
        consumer = bench.consumer(system, log, workers, kind)
        try:
            wait_for_tasks(consumer, log, 1)
            time.sleep(1.0)  # every worker started and settled
            consumer.check_alive()
            memory = procs.group_memory_kib(consumer.pid)
        finally:
            consumer.stop()
        ran = tasklog.count(log)
        return {"rss": memory["Rss"] / 1024, "pss": memory["Pss"] / 1024,
                "problems": [] if ran == 1 else [f"the one task ran {ran} times"]}
    return run


def memory_metrics() -> list[Metric]:
    return [Metric("rss", "RSS, idle after one task", "MiB", False, Goal(1.0, at_most=True)),
            Metric("pss", "PSS, idle after one task", "MiB", False, Goal(1.0, at_most=True))]


SCENARIOS = [
    *(Scenario(f"io-{kind}-{n}", f"I/O-bound {IO_MS} ms tasks, {kind} -w{n}", io_metrics(),
               io_drain(n, kind))
      for kind, n in (("thread", 1), ("thread", 4), ("thread", 8), ("process", 2),
                      ("greenlet", 50))),
    *(Scenario(f"cpu-{kind}-{n}", f"CPU-bound 2 ms tasks, {kind} -w{n}", cpu_metrics(),
               drain(n, kind, "compute", CPU_LOOPS, prefix="cpu"))
      for kind, n in (("thread", 1), ("thread", 4), ("thread", 8), ("process", 2))),
    Scenario("producer", "client enqueue, one map() of N tasks",
             [Metric("rate", "map() tasks/s", "1/s", True),
              Metric("sequential", "one call per task, tasks/s", "1/s", True, Goal(1.5)),
              Metric("speedup", "map() / one call per task", "x", True,
                     Goal(10.0, on_ratio=False))], bulk_enqueue),
    *(Scenario(f"memory-{kind}-{n}", f"memory, {kind} -w{n}", memory_metrics(),
               idle_memory(n, kind))
      for kind, n in (("thread", 8), ("process", 2), ("greenlet", 50))),
]
