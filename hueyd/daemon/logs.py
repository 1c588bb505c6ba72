"""Logging for the daemon: huey's consumer format, journald priorities, reopenable files.

Under systemd, stderr is the journal stream: journald stores each line as one
entry and reads a leading ``<N>`` as its priority. So there every line of a
record, traceback lines included, gets the record's ``<N>`` and no timestamp
(journald adds its own); ``journalctl -p err`` then shows whole tracebacks.

A log file is opened in append mode and reopened by :func:`reopen` (SIGHUP and
SIGUSR1 after logrotate has renamed it), in the master and in each process
worker: the consumer is given ``reopen`` as its ``reopen_logs``.
"""
from __future__ import annotations

import logging
import os
import sys
import time

from hueyd.daemon.redact import redact

FORMAT = "[%(asctime)s] %(levelname)s:%(name)s:%(process)d:%(threadName)s:%(message)s"
#: journald timestamps each entry itself
JOURNAL_FORMAT = "%(levelname)s:%(name)s:%(process)d:%(threadName)s:%(message)s"
#: syslog priorities (sd-daemon.h), from the most severe level down
PRIORITIES = ((logging.CRITICAL, 2), (logging.ERROR, 3), (logging.WARNING, 4),
              (logging.INFO, 6))
DEBUG_PRIORITY = 7
#: huey's -S: the time of day and the message (journald stamps its entries itself)
SIMPLE_FORMAT, SIMPLE_DATE = "%(asctime)s %(message)s", "%H:%M:%S"


def priority(levelno: int) -> int:
    """The syslog priority of a logging level (custom levels round down)."""
    return next((prio for level, prio in PRIORITIES if levelno >= level), DEBUG_PRIORITY)


def stderr_is_journal(environ: dict[str, str] | None = None) -> bool:
    """True when fd 2 is the stream systemd connected to journald.

    Being set is not enough: ``$JOURNAL_STREAM`` is inherited by anything the
    service starts, even with stderr redirected, so compare device and inode.
    """
    value = (os.environ if environ is None else environ).get("JOURNAL_STREAM", "")
    device, _, inode = value.partition(":")
    try:
        st = os.fstat(2)
        return (int(device), int(inode)) == (st.st_dev, st.st_ino)
    except (ValueError, OSError):
        return False


def journal_line(text: str, levelno: int = logging.ERROR) -> str:
    """``text`` with every line prefixed by the ``<N>`` of ``levelno``."""
    prefix = f"<{priority(levelno)}>"
    return "\n".join(prefix + line for line in text.split("\n"))


class Formatter(logging.Formatter):
    """logging's Formatter, with one ``strftime`` per second instead of per record (a
    worker logs two records per task), and the common record (a %-style format, no
    traceback) formatted in one step; the text is the same, passwords masked."""

    _cached: tuple[int, str] = (-1, "")

    def __init__(self, fmt: str | None = None, datefmt: str | None = None) -> None:
        super().__init__(fmt, datefmt)
        self._percent = type(self._style) is logging.PercentStyle and not self._style._defaults
        self._stamped = self.usesTime()

    def format(self, record: logging.LogRecord) -> str:
        if not self._percent or record.exc_info or record.exc_text or record.stack_info:
            return redact(super().format(record))  # a URL can reach any record, even a traceback
        record.message = record.getMessage()
        if self._stamped:
            record.asctime = self.formatTime(record, self.datefmt)
        return redact(self._fmt % record.__dict__)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        if datefmt is not None or self.converter is not time.localtime:
            return super().formatTime(record, datefmt)
        second, stamp = self._cached
        if int(record.created) != second:
            second = int(record.created)
            stamp = time.strftime(self.default_time_format, time.localtime(second))
            self._cached = (second, stamp)  # one assignment: threads see a matching pair
        return self.default_msec_format % (stamp, record.msecs)


class JournalFormatter(Formatter):
    """Prefixes each line of the formatted record, traceback included, with ``<N>``."""

    def format(self, record: logging.LogRecord) -> str:
        return journal_line(super().format(record), record.levelno)


class FastEmit(logging.StreamHandler):
    """``emit`` in one step: format, write, flush (the caller holds the handler's lock)."""

    def emit(self, record: logging.LogRecord) -> None:
        stream = self.stream
        if stream is None:  # a closed file: logging's own rules (reopen, or drop)
            super().emit(record)
            return
        try:
            stream.write(self.format(record) + self.terminator)
            stream.flush()
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)


class ReopenableFileHandler(FastEmit, logging.FileHandler):
    """A log file that can be closed and opened again at the same path (logrotate)."""

    def __init__(self, filename: str) -> None:
        super().__init__(filename, mode="a", encoding="utf-8")

    def reopen(self) -> None:
        self.acquire()
        try:
            if self.stream is not None:
                self.stream.flush()
                self.stream.close()
            self.stream = self._open()
        finally:
            self.release()


class OwnStreamHandler(FastEmit):
    """stderr, told apart from handlers that others (pytest, the app) installed."""


OWN_HANDLERS = (ReopenableFileHandler, OwnStreamHandler)


def setup(level: str | int, logfile: str | None = None, fmt: str | None = None,
          simple: bool = False) -> None:
    """Route every logger through one handler of ours: ``logfile`` or stderr;
    ``simple`` is huey's -S format, unless ``fmt`` is given.

    Calling it again replaces the handler it installed before (and only that):
    OSError if ``logfile`` cannot be opened, ValueError for a bad ``fmt``.
    """
    handler: logging.Handler
    journal = not logfile and stderr_is_journal()
    datefmt = SIMPLE_DATE if simple and not fmt else None
    if simple and not fmt:
        fmt = "%(message)s" if journal else SIMPLE_FORMAT
    if logfile:
        handler = ReopenableFileHandler(logfile)
        formatter = Formatter(fmt or FORMAT, datefmt)
    else:
        handler = OwnStreamHandler(sys.stderr)
        cls = JournalFormatter if journal else Formatter
        formatter = cls(fmt or (JOURNAL_FORMAT if journal else FORMAT), datefmt)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, OWN_HANDLERS)]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    logging.captureWarnings(True)  # warnings get the format and the priority too


def reopen() -> None:
    """Reopen hueyd's log files (after a rename); stderr needs nothing."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, ReopenableFileHandler):
            handler.reopen()


def writes_to_stderr() -> bool:
    """Whether our records go to stderr (else a file, or not set up)."""
    return any(isinstance(h, OwnStreamHandler) for h in logging.getLogger().handlers)
