"""MiniHuey: huey's in-process task runner on gevent (huey's ``huey.contrib.mini``).

No consumer, no storage, no retries: calling a task spawns a greenlet from a pool at
once and returns a result you call (or ``.get()``) to wait for the value. ``start()``
runs a scheduler greenlet for ``task.schedule(...)`` and periodic tasks (a crontab
checked once a minute, in local time). The application must have monkey-patched
with gevent first, as for any gevent program.
"""
from __future__ import annotations

import datetime as dt
import functools
import heapq
import itertools
import logging
import time
from collections.abc import Callable
from typing import Any

import gevent
from gevent.event import AsyncResult, Event
from gevent.pool import Pool

from hueyd import crontab  # noqa: F401 (huey's module offers it, for periodic tasks)
from hueyd.api.clock import normalize_time

logger = logging.getLogger("hueyd.mini")


class MiniHueyResult(AsyncResult):
    """gevent's AsyncResult; calling it waits for the value, as ``get()`` does."""

    def __call__(self, block: bool = True, timeout: float | None = None) -> Any:
        return self.get(block, timeout)


class MiniHuey:
    """Tasks run in greenlets of this process; at most ``pool_size`` at once (None: no
    limit); the scheduler looks for due tasks every ``interval`` seconds."""

    def __init__(self, name: str = "huey", interval: float = 1,
                 pool_size: int | None = None) -> None:
        self.name = name
        self.interval = interval
        self._pool = Pool(pool_size)
        self._periodic: list[tuple[Callable[[dt.datetime], bool], Callable]] = []
        self._due: list[tuple[dt.datetime, int, Callable, tuple, dict, MiniHueyResult]] = []
        self._order = itertools.count()  # ties on the same eta keep their order
        self._minute = dt.datetime.now().replace(second=0, microsecond=0)
        self._stop = Event()
        self._runner: gevent.Greenlet | None = None

    # -- declaring tasks -------------------------------------------------------------
    def task(self, validate_func: Callable[[dt.datetime], bool] | None = None) -> Callable:
        """``@mini.task()``: calls run in a greenlet; ``@mini.task(crontab(...))``: a
        periodic task the scheduler starts (the function itself is left as it is)."""
        if validate_func is not None:
            def periodic(fn: Callable) -> Callable:
                self._periodic.append((validate_func, fn))
                return fn
            return periodic

        def decorator(fn: Callable) -> Callable:
            @functools.wraps(fn)
            def call(*args: Any, **kwargs: Any) -> MiniHueyResult:
                result = MiniHueyResult()
                self._spawn(fn, args, kwargs, result)
                return result

            def schedule(args: tuple | None = None, kwargs: dict | None = None,
                         delay: float | dt.timedelta | None = None,
                         eta: dt.datetime | None = None) -> MiniHueyResult:
                when = normalize_time(eta, delay, utc=False)  # local, as the scheduler
                result = MiniHueyResult()
                heapq.heappush(self._due, (when, next(self._order), fn, tuple(args or ()),
                                           dict(kwargs or {}), result))
                return result

            call.schedule = schedule  # type: ignore[attr-defined]
            return call
        return decorator

    def periodic_task(self, validate_func: Callable[[dt.datetime], bool]) -> Callable:
        return self.task(validate_func)

    # -- the scheduler ---------------------------------------------------------------
    def start(self) -> None:
        """Run the scheduler in a greenlet (needed for schedule() and periodic tasks)."""
        if self._runner is not None:
            raise RuntimeError("MiniHuey's scheduler is already running")
        self._stop.clear()
        self._runner = gevent.spawn(self._run)

    def stop(self) -> None:
        """Stop the scheduler and wait for it (tasks already running go on)."""
        if self._runner is None:
            raise RuntimeError("MiniHuey's scheduler is not running")
        self._stop.set()
        self._runner.join()
        self._runner = None

    def _run(self) -> None:
        logger.info("MiniHuey %s: scheduler started", self.name)
        while not self._stop.is_set():
            began = time.monotonic()
            try:
                self.tick(dt.datetime.now())
            except Exception:
                logger.exception("MiniHuey %s: scheduler error", self.name)
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - began)))
        logger.info("MiniHuey %s: scheduler stopped", self.name)

    def tick(self, now: dt.datetime) -> None:
        """Start the periodic tasks of a new minute, then every scheduled task due."""
        minute = now.replace(second=0, microsecond=0)
        if minute > self._minute:
            self._minute = minute
            for validate, fn in self._periodic:
                if validate(now):
                    self._spawn(fn, (), {}, None)
        while self._due and self._due[0][0] <= now:
            _, _, fn, args, kwargs, result = heapq.heappop(self._due)
            self._spawn(fn, args, kwargs, result)

    # -- running -----------------------------------------------------------------------
    def _spawn(self, fn: Callable, args: tuple, kwargs: dict,
               result: MiniHueyResult | None) -> None:
        logger.info("MiniHuey %s: running %s", self.name, fn.__name__)
        self._pool.spawn(self._execute, fn, args, kwargs, result)

    def _execute(self, fn: Callable, args: tuple, kwargs: dict,
                 result: MiniHueyResult | None) -> None:
        began = time.monotonic()
        try:
            value = fn(*args, **kwargs)
        except Exception as exc:
            logger.exception("MiniHuey %s: task %s failed", self.name, fn.__name__)
            if result is not None:
                result.set_exception(exc)
            return
        if result is not None:
            result.set(value)
        logger.info("MiniHuey %s: %s ran in %.3fs", self.name, fn.__name__,
                    time.monotonic() - began)
