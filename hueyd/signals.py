"""``from huey.signals import SIGNAL_ERROR`` ports as ``from hueyd.signals import SIGNAL_ERROR``."""
from hueyd import lazy
from hueyd.api.signals import (  # noqa: F401
    ALL_SIGNALS,
    SIGNAL_CANCELED,
    SIGNAL_COMPLETE,
    SIGNAL_ENQUEUED,
    SIGNAL_ERROR,
    SIGNAL_EXECUTING,
    SIGNAL_EXPIRED,
    SIGNAL_INTERRUPTED,
    SIGNAL_LOCKED,
    SIGNAL_RATE_LIMITED,
    SIGNAL_RETRYING,
    SIGNAL_REVOKED,
    SIGNAL_SCHEDULED,
    SIGNAL_TIMEOUT,
    Signal,
)

__all__ = ["ALL_SIGNALS", "SIGNAL_CANCELED", "SIGNAL_COMPLETE", "SIGNAL_ENQUEUED",
           "SIGNAL_ERROR", "SIGNAL_EXECUTING", "SIGNAL_EXPIRED", "SIGNAL_INTERRUPTED",
           "SIGNAL_LOCKED", "SIGNAL_RATE_LIMITED", "SIGNAL_RETRYING", "SIGNAL_REVOKED", "SIGNAL_SCHEDULED",
           "SIGNAL_TIMEOUT", "Signal"]

#: names added to huey's API later (``hueyd.api.signals``) come through as well
__getattr__, __dir__ = lazy.exports(__name__, {}, fallback="hueyd.api.signals")
