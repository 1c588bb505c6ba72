"""Rate-limited logging for failures that repeat: one line per interval, with a count.

A storage outage makes every worker fail every iteration; 10,000 garbage messages
make the same complaint 10,000 times. One :class:`RateLimitedLog` per kind of
failure logs the first at once, counts the rest, and says how many there were:
with the next line it logs, or on its own once the interval has passed
(:func:`flush_due`, called from the roles' loops, so a burst that stops is still
counted). Importable from every layer (the api sets messages aside, the consumer
loses its storage).
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

#: seconds between two lines of one kind
INTERVAL = 10.0

#: the logs that hold a count not written yet (what :func:`flush_due` looks at: a
#: worker calls it once per task, so the usual case is one test of an empty set)
_holding: set[RateLimitedLog] = set()


class RateLimitedLog:
    """Log a recurring failure at most once per ``interval`` seconds, with a count."""

    def __init__(self, logger: logging.Logger, interval: float = INTERVAL,
                 clock: Callable[[], float] = time.monotonic,
                 level: int = logging.ERROR) -> None:
        self.logger = logger
        self.interval = interval
        self.clock = clock
        self.level = level
        self.suppressed = 0
        self._last: float | None = None  # when the last line was written
        self._held: tuple[str, tuple] | None = None  # the latest suppressed message
        self._lock = threading.Lock()  # thread workers share the api's logs

    def error(self, message: str, *args: object, exc_info: bool = False) -> None:
        """Log ``message`` now, or count it if a line of this kind was written less than
        ``interval`` ago. ``exc_info``: the traceback, on the lines that are written."""
        now = self.clock()
        with self._lock:
            if self._last is not None and now - self._last < self.interval:
                self.suppressed += 1
                self._held = (message, args)
                _holding.add(self)
                return
            more, since = self.suppressed, now - (self._last or now)
            self._last = now
            self._reset()
        if more:
            message += " (%d more like it in the last %.0fs)"
            args = (*args, more, since)
        self.logger.log(self.level, message, *args, exc_info=exc_info)

    log = error

    def _reset(self) -> None:
        self.suppressed, self._held = 0, None
        _holding.discard(self)

    def flush(self, force: bool = False) -> None:
        """Say how many were counted since the last line, once ``interval`` has passed
        (or at once with ``force``): the latest of them, with the count of the others."""
        now = self.clock()
        with self._lock:
            held, more = self._held, self.suppressed
            if held is None or (not force and now - (self._last or now) < self.interval):
                return
            since = now - (self._last or now)
            self._last = now
            self._reset()
        message, args = held
        if more > 1:
            message += " (%d more like it in the last %.0fs)"
            args = (*args, more - 1, since)
        self.logger.log(self.level, message, *args)

    def recovered(self, message: str, *args: object) -> None:
        """The failure stopped: say so once, and log the next failure at once."""
        if self._last is None and not self.suppressed:
            return  # the usual case, once per task: no lock
        with self._lock:
            failing, self._last, more = self._last is not None, None, self.suppressed
            self._reset()
        if failing:
            if more:
                message += " (after %d more failures like the last)"
                args = (*args, more)
            self.logger.info(message, *args)


def flush_due(force: bool = False) -> None:
    """:meth:`RateLimitedLog.flush` every log of this process that holds a count."""
    if _holding:
        for log in list(_holding):
            log.flush(force)
