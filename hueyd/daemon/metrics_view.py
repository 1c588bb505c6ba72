"""What the metrics endpoint shows: hueyd's counts and gauges as Prometheus families.

Names follow Prometheus' conventions: one ``hueyd_`` prefix, base units, ``_total``
counters, a ``queue`` label (the Huey's name) on every metric so one Prometheus can
scrape many instances, task names (never ids) as the only other label. Built from a
:class:`Snapshot` at each scrape; prometheus_client is imported only here, and
only when an endpoint is asked for.
"""
from __future__ import annotations

import platform
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from hueyd.consumer.metrics import BUCKETS, OUTCOMES, Tally
from hueyd.daemon.activity import QueueGauges

#: what a scrape shows when the client library is missing
MISSING = "python3-prometheus-client is not installed (apt install python3-prometheus-client)"


@dataclass(frozen=True)
class Snapshot:
    queue: str
    version: str
    tally: Tally
    busy: int
    idle: int
    gauges: QueueGauges | None  # None: not read yet


def library_problem() -> str | None:
    """Why the endpoint cannot run here, or None."""
    try:
        import prometheus_client  # noqa: F401
    except ImportError:
        return MISSING
    return None


def _histogram(family: Any, queue: str, histograms: dict[str, list[float]]) -> None:
    for task, hist in sorted(histograms.items()):
        cumulative, buckets = 0.0, []
        for bound, count in zip((*BUCKETS, float("inf")), hist[:-1]):
            cumulative += count
            buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
        family.add_metric([queue, task], buckets, hist[-1])


def families(snap: Snapshot) -> Iterator[Any]:
    """Every family, in the order an operator reads them."""
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
    q = snap.queue
    runs = CounterMetricFamily("hueyd_tasks", "Task runs by outcome: completed, failed, "
                               "retried, revoked, expired, locked, dead_lettered",
                               labels=["queue", "task", "outcome"])
    for (task, outcome), count in sorted(snap.tally.outcomes.items()):
        if outcome in OUTCOMES:
            runs.add_metric([q, task, outcome], count)
    yield runs
    for name, text, data in (
            ("hueyd_task_duration_seconds", "How long tasks' own code ran",
             snap.tally.durations),
            ("hueyd_task_queue_wait_seconds", "How long tasks waited from when they were "
             "due (enqueued, or their eta) until a worker started them", snap.tally.waits)):
        family = HistogramMetricFamily(name, text, labels=["queue", "task"])
        _histogram(family, q, data)
        yield family
    workers = GaugeMetricFamily("hueyd_workers", "This consumer's workers, busy or idle",
                                labels=["queue", "state"])
    workers.add_metric([q, "busy"], snap.busy)
    workers.add_metric([q, "idle"], snap.idle)
    yield workers
    yield from _queue_gauges(GaugeMetricFamily, q, snap.gauges)
    info = GaugeMetricFamily("hueyd_build_info", "hueyd's version (always 1)",
                             labels=["queue", "version", "python"])
    info.add_metric([q, snap.version, platform.python_version()], 1)
    yield info


def _queue_gauges(gauge: Callable[..., Any], q: str,
                  seen: QueueGauges | None) -> Iterator[Any]:
    up = gauge("hueyd_storage_up", "1 if the storage answered the last reading",
               labels=["queue"])
    up.add_metric([q], 1 if seen is not None and seen.up else 0)
    yield up
    if seen is None or not seen.up:
        return  # absent, not zero: an alert on "queue empty" must not fire on an outage
    for name, text, value in (
            ("hueyd_queue_length", "Messages waiting in the queue", seen.queued),
            ("hueyd_scheduled_tasks", "Tasks waiting for their eta", seen.scheduled),
            ("hueyd_in_flight_tasks", "Messages taken by consumers and not yet "
             "acknowledged (all hosts)", seen.in_flight),
            ("hueyd_dead_letters", "Messages set aside as dead letters", seen.dead_letters),
            ("hueyd_consumers_alive", "Consumers with a live lease on the queue (all "
             "hosts)", seen.consumers_alive),
            ("hueyd_oldest_task_age_seconds", "How long the next message to run has been "
             "due", seen.oldest_age)):
        family = gauge(name, text, labels=["queue"])
        family.add_metric([q], value)
        yield family


class Collector:
    """A prometheus_client collector over a snapshot function (read at each scrape)."""

    def __init__(self, snapshot: Callable[[], Snapshot]) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Any]:
        yield from families(self.snapshot())


def renderer(snapshot: Callable[[], Snapshot]) -> Callable[[], bytes]:
    """The exposition text of a registry holding only hueyd's collector."""
    from prometheus_client import CollectorRegistry, generate_latest
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Collector(snapshot))
    return lambda: generate_latest(registry)
