"""huey's ``consumer_options``: ``ConsumerConfig`` (the consumer options as one value) and
``OptionParserHandler`` (huey_consumer's optparse options), for programs that build a
consumer the way huey's ``huey_consumer`` does::

    options, args = OptionParserHandler().get_option_parser().parse_args()
    config = ConsumerConfig(**{k: v for k, v in vars(options).items() if v is not None})
    config.validate()
    Consumer(huey, **config.values).run()

The field names are huey's (they are also the YAML keys of the daemon's new options);
``hueyd run`` itself reads its options through ``daemon/config.py``, not this module.
"""
from __future__ import annotations

import logging
import optparse
from typing import Any, NamedTuple

from hueyd.consumer.settings import (
    SCHEDULER_INTERVAL_MAX,
    SCHEDULER_INTERVAL_MIN,
    WORKER_TYPE_ALIASES,
    WORKER_TYPES,
)

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


#: (name, default) per field, and the names alone, as huey's module has them
config_defaults = tuple(ConsumerConfig._field_defaults.items())
config_keys = list(ConsumerConfig._fields)


def option(name: str | tuple[str, str], **options: Any) -> tuple[str, str, dict[str, Any]]:
    """(short flag, long flag, optparse keywords): a field name gives its first letter and
    its dashed name (and is the ``dest``); a (letter, long name) pair gives those."""
    if isinstance(name, tuple):
        letter, long = name
    else:
        letter, long = name[0], name.replace("_", "-")
        options.setdefault("dest", name)
    return f"-{letter}", f"--{long}", options


class OptionParserHandler:
    """huey_consumer's command line as an optparse parser: three groups of options whose
    ``dest`` are ConsumerConfig fields."""

    def get_logging_options(self) -> tuple:
        return (option("logfile", metavar="FILE"),
                option("verbose", action="store_true", help="log DEBUG lines too"),
                option("quiet", action="store_false", dest="verbose", help="log less"),
                option(("S", "simple"), action="store_true", dest="simple_log",
                       help="simple log format (time and message)"))

    def get_worker_options(self) -> tuple:
        seconds = {"type": "float", "metavar": "SECONDS"}
        return (option("workers", type="int", help="number of workers (default 1)"),
                option(("k", "worker-type"), dest="worker_type",
                       choices=(*WORKER_TYPES, *WORKER_TYPE_ALIASES),
                       help="thread, greenlet or process"),
                option("delay", dest="initial_delay", help="first polling delay", **seconds),
                option("max_delay", help="longest polling delay", **seconds),
                option("backoff", type="float", metavar="FACTOR", help="polling backoff"),
                option(("c", "health-check-interval"), dest="health_check_interval",
                       help="seconds between health checks", **seconds),
                option(("C", "disable-health-check"), action="store_false",
                       dest="check_worker_health", help="do not replace dead workers"),
                option("flush_locks", action="store_true", help="flush locks at start"),
                option(("L", "extra-locks"), dest="extra_locks",
                       help="more locks to flush, comma-separated"),
                option(("M", "max-tasks"), dest="max_tasks", type="int", metavar="COUNT",
                       help="recycle a worker after COUNT tasks"),
                option(("t", "shutdown-timeout"), dest="shutdown_timeout",
                       help="seconds running tasks get on a graceful stop", **seconds),
                option(("g", "graceful-signal"), dest="graceful_signal",
                       choices=("INT", "TERM"), help="INT or TERM: the graceful one"))

    def get_scheduler_options(self) -> tuple:
        return (option("scheduler_interval", type="int", help="scheduler tick (1-60 s)"),
                option("no_periodic", action="store_false", dest="periodic",
                       help="do not enqueue periodic tasks"))

    def get_option_parser(self) -> optparse.OptionParser:
        parser = optparse.OptionParser("Usage: %prog [options] path.to.huey_instance")
        for title, options in (("Logging", self.get_logging_options()),
                               ("Workers", self.get_worker_options()),
                               ("Scheduler", self.get_scheduler_options())):
            group = parser.add_option_group(title)
            for short, long, keywords in options:
                group.add_option(short, long, **keywords)
        return parser
