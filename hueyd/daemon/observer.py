"""What the master shows the world besides STATUS=: its activity (activity.py) and,
when ``metrics.listen`` is set, the Prometheus endpoint (metrics_http.py).

A metrics endpoint that cannot start (the client library missing, the address
taken) is one error line: the daemon runs on without it, since tasks matter more
than their graphs.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from hueyd import __version__
from hueyd.daemon.activity import Activity, busy_idle

if TYPE_CHECKING:  # pragma: no cover
    from hueyd.api.huey import Huey
    from hueyd.consumer.consumer import Consumer
    from hueyd.daemon.config import Config
    from hueyd.daemon.metrics_http import MetricsEndpoint
    from hueyd.daemon.metrics_view import Snapshot

logger = logging.getLogger("hueyd.metrics")


class Observer:
    def __init__(self, config: Config, huey: Huey, consumer: Callable[[], Consumer]) -> None:
        self.config = config
        self.huey = huey
        self.consumer = consumer  # the master's current one (a refused reload makes another)
        self.activity = Activity(huey, gauges=bool(config.metrics_listen))
        self.endpoint: MetricsEndpoint | None = None

    def start(self) -> None:
        """Serve the metrics, if asked to."""
        listen = self.config.metrics_listen
        if not listen or self.endpoint is not None:
            return
        from hueyd.daemon.metrics_view import library_problem, renderer  # only if asked

        problem = library_problem()
        if problem:
            logger.error("metrics.listen %s: no metrics endpoint: %s", listen, problem)
            return
        from hueyd.daemon.metrics_http import MetricsEndpoint  # http.server: 25 ms at start

        endpoint = MetricsEndpoint(listen, renderer(self.snapshot))
        try:
            endpoint.start()
        except OSError as exc:
            logger.error("metrics.listen %s: no metrics endpoint: %s", listen,
                         exc.strerror or exc)
            return
        self.endpoint = endpoint
        logger.info("metrics at http://%s/metrics", listen)

    def observe(self, now: float) -> None:
        self.activity.observe(now, self.consumer())

    def snapshot(self) -> Snapshot:
        """Read in the endpoint's thread at each scrape."""
        from hueyd.daemon.metrics_view import Snapshot

        consumer = self.consumer()
        busy, idle = busy_idle(consumer)
        return Snapshot(self.huey.name, __version__, consumer.counts.tally(), busy, idle,
                        self.activity.gauges)

    def close(self) -> None:
        if self.endpoint is not None:
            self.endpoint.close()
            self.endpoint = None
