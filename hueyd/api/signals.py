"""Task-lifecycle signals (huey's ``SIGNAL_*``) and their dispatch; not POSIX signals.

Handlers are called as ``handler(signal, task, *args)``; SIGNAL_ERROR passes the
exception as the third argument. A handler that raises is logged and the others still run.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

logger = logging.getLogger("hueyd.signals")

SIGNAL_CANCELED = "canceled"
SIGNAL_COMPLETE = "complete"
SIGNAL_ERROR = "error"
SIGNAL_EXECUTING = "executing"
SIGNAL_EXPIRED = "expired"
SIGNAL_LOCKED = "locked"
SIGNAL_RETRYING = "retrying"
SIGNAL_REVOKED = "revoked"
SIGNAL_SCHEDULED = "scheduled"
SIGNAL_INTERRUPTED = "interrupted"
SIGNAL_ENQUEUED = "enqueued"
SIGNAL_TIMEOUT = "timeout"
SIGNAL_RATE_LIMITED = "rate-limited"

ALL_SIGNALS = (SIGNAL_CANCELED, SIGNAL_COMPLETE, SIGNAL_ERROR, SIGNAL_EXECUTING,
               SIGNAL_EXPIRED, SIGNAL_LOCKED, SIGNAL_RETRYING, SIGNAL_REVOKED,
               SIGNAL_SCHEDULED, SIGNAL_INTERRUPTED, SIGNAL_ENQUEUED, SIGNAL_TIMEOUT,
               SIGNAL_RATE_LIMITED)

#: receivers registered without naming a signal hear every signal
ANY = "any"

Receiver = Callable[..., Any]


class Signal:
    """Receivers per signal name; ``send`` calls the specific ones, then the catch-all ones."""

    def __init__(self) -> None:
        self.receivers: dict[str, list[Receiver]] = {ANY: []}
        #: per signal, the receivers ``send`` calls, in order (sent twice per task run);
        #: replaced, never cleared, after a change: a send racing it fills the old one
        self._targets: dict[str, tuple[Receiver, ...]] = {}

    def connect(self, receiver: Receiver, *signals: str) -> None:
        for name in signals or (ANY,):
            self.receivers.setdefault(name, []).append(receiver)
        self._targets = {}

    def disconnect(self, receiver: Receiver, *signals: str) -> None:
        for name in signals or tuple(self.receivers):
            bucket = self.receivers.get(name, [])
            if receiver in bucket:
                bucket.remove(receiver)
        self._targets = {}

    def heard(self, signal: str) -> bool:
        """Whether any receiver hears ``signal`` (a bulk enqueue skips sending otherwise)."""
        return bool(self.receivers.get(signal) or self.receivers[ANY])

    def send(self, signal: str, task: Any, *args: Any, **kwargs: Any) -> None:
        targets = self._targets
        receivers = targets.get(signal)
        if receivers is None:
            receivers = targets[signal] = (*self.receivers.get(signal, ()),
                                           *self.receivers[ANY])
        for receiver in receivers:
            try:
                receiver(signal, task, *args, **kwargs)
            except Exception:
                logger.exception("signal handler %s failed for %r",
                                 getattr(receiver, "__name__", repr(receiver)), signal)
