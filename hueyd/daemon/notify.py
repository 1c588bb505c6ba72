"""sd_notify: telling systemd we are ready, reloading, stopping, alive, and how we are.

The protocol is one ``AF_UNIX`` datagram of newline-separated ``KEY=VALUE``
lines, UTF-8, to ``$NOTIFY_SOCKET`` (a leading ``@`` names an abstract socket).
Written here rather than taken from the ``sdnotify`` package, which encodes
latin-1 (a non-ASCII STATUS loses the whole datagram, READY=1 included) and
hides every error. Here errors are logged, rate-limited, and never fatal.
"""
from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import MutableMapping

from hueyd.daemon.redact import redact
from hueyd.ratelog import RateLimitedLog

logger = logging.getLogger("hueyd.notify")

#: seconds between two log lines about failing sends
FAILURE_LOG_EVERY = 60.0
#: systemd truncates STATUS= far below this; keep datagrams small
STATUS_LIMIT = 1024
#: a socket that is gone fails every ping: one line per period, with a count
_failures = RateLimitedLog(logger, interval=FAILURE_LOG_EVERY, level=logging.WARNING)


def send(message: str, socket_path: str) -> bool:
    """Send one datagram; True if it was sent. Failures are logged, not raised."""
    address = "\0" + socket_path[1:] if socket_path.startswith("@") else socket_path
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto(message.encode("utf-8"), address)
    except OSError as exc:
        _failures.log("cannot notify systemd at %s: %s", socket_path, exc)
        return False
    return True


def one_line(text: str) -> str:
    """A STATUS value: one line (a newline would start a new KEY=VALUE), no password
    (``systemctl status`` shows it to every local user)."""
    return redact(" ".join(text.split()))[:STATUS_LIMIT]


class Notifier:
    """What the daemon tells systemd. Without a socket, every method does nothing."""

    def __init__(self, socket_path: str | None = None,
                 watchdog_usec: int | None = None) -> None:
        self.socket_path = socket_path or None
        self.watchdog_usec = watchdog_usec if self.socket_path else None
        self.last_ping: float | None = None

    @classmethod
    def from_environ(cls, environ: MutableMapping[str, str]) -> Notifier:
        """Read and remove NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID from ``environ``,
        so that no worker or task started later can ever notify in our name."""
        socket_path = environ.pop("NOTIFY_SOCKET", None)
        usec_text = environ.pop("WATCHDOG_USEC", None)
        pid_text = environ.pop("WATCHDOG_PID", None)
        usec = None
        if usec_text is not None:
            try:
                usec = int(usec_text)
            except ValueError:
                logger.warning("ignoring WATCHDOG_USEC=%r: not a number", usec_text)
        if usec is not None and usec <= 0:
            usec = None
        if usec is not None and pid_text and pid_text.strip() != str(os.getpid()):
            usec = None  # the watchdog is meant for another process
        return cls(socket_path, usec)

    @property
    def enabled(self) -> bool:
        return self.socket_path is not None

    def notify(self, **fields: str | int) -> bool:
        """Send ``KEY=VALUE`` lines in the given order; False if not sent."""
        if self.socket_path is None:
            return False
        return send("\n".join(f"{key}={value}" for key, value in fields.items()),
                    self.socket_path)

    def ready(self, status: str | None = None) -> bool:
        if status is None:
            return self.notify(READY=1)
        return self.notify(READY=1, STATUS=one_line(status))

    def status(self, text: str) -> bool:
        return self.notify(STATUS=one_line(text))

    def reloading(self) -> bool:
        """RELOADING=1 with the CLOCK_MONOTONIC time, as Type=notify-reload wants."""
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.notify(RELOADING=1, MONOTONIC_USEC=usec)

    def stopping(self) -> bool:
        return self.notify(STOPPING=1)

    @property
    def watchdog_interval(self) -> float | None:
        """Seconds between pings (half of WatchdogSec=), or None without a watchdog."""
        return self.watchdog_usec / 2 / 1e6 if self.watchdog_usec else None

    def watchdog(self, now: float) -> bool:
        """Ping WATCHDOG=1 if a ping is due at ``now``; True if it pinged."""
        interval = self.watchdog_interval
        if interval is None:
            return False
        if self.last_ping is not None and now - self.last_ping < interval:
            return False
        self.last_ping = now
        return self.notify(WATCHDOG=1)
