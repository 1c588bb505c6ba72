"""huey's ``ConsumerConfig``: the consumer options as one value, for programs that build
a consumer the way huey's ``huey_consumer`` does (``Consumer(huey, **config.values)``).

The field names are huey's (they are also the YAML keys of the daemon's new options);
``hueyd run`` itself reads its options through ``daemon/config.py``, not this class.
"""
from __future__ import annotations

import logging
from typing import NamedTuple

from hueyd.consumer.settings import SCHEDULER_INTERVAL_MAX, SCHEDULER_INTERVAL_MIN

#: formats of huey's consumer log: the worker is a process id or a thread name
LOG_FORMAT = "[%(asctime)s] %(levelname)s:%(name)s:{worker}:%(message)s"
SIMPLE_FORMAT, SIMPLE_DATE = "%(asctime)s %(message)s", "%H:%M:%S"
#: the fields that configure logging, not the consumer
LOGGING_FIELDS = ("logfile", "verbose", "simple_log")


class ConsumerConfig(NamedTuple):
    """huey_consumer's options with huey's defaults; ``values`` are Consumer keywords."""

    workers: int = 1
    worker_type: str = "thread"
    initial_delay: float = 0.1
    backoff: float = 1.15
    max_delay: float = 10.0
    check_worker_health: bool = True
    health_check_interval: float = 10
    scheduler_interval: int = 1
    periodic: bool = True
    logfile: str | None = None
    verbose: bool | None = None
    simple_log: bool | None = None
    flush_locks: bool = False
    extra_locks: str | None = None
    max_tasks: int | None = None
    shutdown_timeout: float | None = None
    graceful_signal: str = "INT"

    def validate(self) -> None:
        """ValueError naming the first option out of huey's bounds."""
        interval = self.scheduler_interval
        if self.backoff < 1:
            raise ValueError("The backoff must be at least 1.")
        if not SCHEDULER_INTERVAL_MIN <= interval <= SCHEDULER_INTERVAL_MAX:
            raise ValueError("The scheduler must run at least once a minute and at most "
                             "once a second (1-60).")
        if 60 % interval:
            raise ValueError("The scheduler interval must divide 60: 1, 2, 3, 4, 5, 6, "
                             "10, 12, 15, 20, 30 or 60.")
        if self.graceful_signal not in ("INT", "TERM"):
            raise ValueError("The graceful signal must be INT or TERM.")

    @property
    def loglevel(self) -> int:
        """INFO, DEBUG with ``verbose`` true, WARNING with it false (huey's -v/-q)."""
        if self.verbose is None:
            return logging.INFO
        return logging.DEBUG if self.verbose else logging.WARNING

    def setup_logger(self, logger: logging.Logger | None = None) -> None:
        """One handler on ``logger`` (the root logger by default): the log file or
        stderr, in huey's consumer format or, with ``simple_log``, time and message."""
        worker = "%(process)d" if self.worker_type == "process" else "%(threadName)s"
        if self.simple_log:
            formatter = logging.Formatter(SIMPLE_FORMAT, SIMPLE_DATE)
        else:
            formatter = logging.Formatter(LOG_FORMAT.format(worker=worker))
        handler = logging.FileHandler(self.logfile) if self.logfile else logging.StreamHandler()
        handler.setFormatter(formatter)
        logger = logger or logging.getLogger()
        logger.addHandler(handler)
        logger.setLevel(self.loglevel)

    @property
    def values(self) -> dict[str, object]:
        """The consumer's keywords: every field but the logging ones."""
        return {k: v for k, v in self._asdict().items() if k not in LOGGING_FIELDS}
