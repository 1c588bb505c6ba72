"""The consumer's settings: one frozen object handed to Consumer, Worker and Scheduler.

The defaults here are those of an embedded consumer (huey's); the daemon builds the
object from its own ``Config`` (:meth:`ConsumerSettings.taken_from`), whose setting
table holds the daemon's defaults. Standard library only: the daemon's config reads
:data:`WORKER_TYPES` before the command line knows whether gevent must monkey-patch.
"""
from __future__ import annotations

import dataclasses
import signal
from dataclasses import dataclass
from typing import Any

#: the worker types a consumer runs (runtime.py maps each to its module; daemon/config.py)
from hueyd.constants import WORKER_GREENLET
from hueyd.constants import WORKER_TYPES as WORKER_TYPES

#: huey's other names for a worker type, spelled the one way at this door
WORKER_TYPE_ALIASES = {"gevent": WORKER_GREENLET}

#: the scheduler runs every 1 to 60 seconds (huey's range)
SCHEDULER_INTERVAL_MIN, SCHEDULER_INTERVAL_MAX = 1, 60
#: huey's keyword for the first polling delay
ALIASES = {"initial_delay": "delay"}


@dataclass(frozen=True)
class ConsumerSettings:
    """What a consumer runs, and how often it polls, checks and schedules."""

    workers: int = 1
    worker_type: str = "thread"
    periodic: bool = True
    delay: float = 0.1  # first polling delay after an empty read (huey's initial_delay)
    max_delay: float = 10.0
    backoff: float = 1.15
    health_check_interval: float = 10.0
    check_worker_health: bool = True
    scheduler_interval: float = 1
    utc: bool = True
    task_timeout: float | None = None
    shutdown_timeout: float | None = None
    flush_locks: bool = False
    extra_locks: str | None = None
    #: a worker that ran this many tasks ends and a fresh one takes its place (huey's -M)
    max_tasks: int | None = None
    #: the signal that stops gracefully ("INT" or "TERM"); the other interrupts tasks
    graceful_signal: str = "INT"

    def __post_init__(self) -> None:
        object.__setattr__(self, "worker_type",
                           WORKER_TYPE_ALIASES.get(self.worker_type, self.worker_type))
        # the one place the interval is clamped (the daemon's check refuses what is out)
        interval = min(max(self.scheduler_interval, SCHEDULER_INTERVAL_MIN),
                       SCHEDULER_INTERVAL_MAX)
        object.__setattr__(self, "scheduler_interval", interval)
        object.__setattr__(self, "health_check_interval", float(self.health_check_interval))
        if self.graceful_signal not in ("INT", "TERM"):
            raise ValueError(f"graceful_signal must be INT or TERM, not {self.graceful_signal!r}")
        if not self.max_tasks or self.max_tasks < 0:  # huey: 0 (or None) never recycles
            object.__setattr__(self, "max_tasks", None)

    @property
    def stop_signals(self) -> tuple[signal.Signals, signal.Signals]:
        """(graceful, immediate): SIGINT and SIGTERM, swapped by ``graceful_signal="TERM"``
        (huey's -g TERM, for platforms that only send SIGTERM)."""
        if self.graceful_signal == "TERM":
            return signal.SIGTERM, signal.SIGINT
        return signal.SIGINT, signal.SIGTERM

    @classmethod
    def from_options(cls, **options: Any) -> ConsumerSettings:
        """From huey's ``Consumer`` keywords (``initial_delay`` included); an unknown
        keyword is a TypeError, as for any call."""
        for alias, name in ALIASES.items():
            if alias in options:
                value = options.pop(alias)
                if value is not None:
                    options[name] = value
        return cls(**options)

    @classmethod
    def taken_from(cls, source: Any, renamed: dict[str, str] | None = None) -> ConsumerSettings:
        """The settings ``source`` (e.g. the daemon's Config) has an attribute for, by
        field name (``renamed`` maps a field to the source's name for it); the others
        keep their defaults."""
        renamed = renamed or {}
        values = {}
        for f in dataclasses.fields(cls):
            name = renamed.get(f.name, f.name)
            if hasattr(source, name):
                values[f.name] = getattr(source, name)
        return cls(**values)


#: an embedded consumer's settings (for a role built without any, as in tests)
DEFAULTS = ConsumerSettings()
