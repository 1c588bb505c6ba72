"""The consumer layer: workers, scheduler, worker types and health, driven by the daemon.

``from hueyd.consumer import Consumer`` is huey's embeddable consumer (``huey.consumer``'s
names are here). They load on first use: the daemon's config imports
:mod:`hueyd.consumer.settings` (standard library only) before the command line knows
whether gevent must monkey-patch.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from hueyd import lazy
from hueyd.constants import WORKER_GREENLET, WORKER_PROCESS, WORKER_THREAD, WORKER_TYPES
from hueyd.consumer.settings import ConsumerSettings

if TYPE_CHECKING:  # pragma: no cover
    from hueyd.consumer.consumer import Consumer

#: huey's consumer_options names, defined in options.py
OPTION_NAMES = ("ConsumerConfig", "OptionParserHandler", "config_defaults", "config_keys",
                "option")

#: public name -> module that defines it
_EXPORTS = {
    "Consumer": "hueyd.consumer.consumer",
    "Worker": "hueyd.consumer.worker",
    "Scheduler": "hueyd.consumer.scheduler",
    "ConfigurationError": "hueyd.api.exceptions",
    "TaskTimeout": "hueyd.api.exceptions",
    "noop_context": "contextlib:nullcontext",
    **{name: "hueyd.consumer.options" for name in OPTION_NAMES},
}

__all__ = ["ConfigurationError", "Consumer", "ConsumerSettings", "Scheduler", "TaskTimeout",
           "WORKER_GREENLET", "WORKER_PROCESS", "WORKER_THREAD", "WORKER_TYPES", "Worker",
           "noop_context", *OPTION_NAMES]

__getattr__, __dir__ = lazy.exports(__name__, _EXPORTS)
