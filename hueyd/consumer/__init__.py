"""The consumer layer: workers, scheduler, worker types and health, driven by the daemon.

``from hueyd.consumer import Consumer`` is huey's embeddable consumer. It is loaded on
first use: the daemon's config imports :mod:`hueyd.consumer.settings` (standard library
only) before the command line knows whether gevent must monkey-patch.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hueyd.consumer.settings import ConsumerSettings

if TYPE_CHECKING:  # pragma: no cover
    from hueyd.consumer.consumer import Consumer

#: huey's consumer_options names, defined in options.py
OPTION_NAMES = ("ConsumerConfig", "OptionParserHandler", "config_defaults", "config_keys",
                "option")
__all__ = ["Consumer", "ConsumerSettings", *OPTION_NAMES]


def __getattr__(name: str) -> Any:
    if name == "Consumer":
        from hueyd.consumer.consumer import Consumer
        return Consumer
    if name in OPTION_NAMES:
        from hueyd.consumer import options
        return getattr(options, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
