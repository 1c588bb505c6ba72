"""The consumer layer: workers, scheduler, worker types and health, driven by the daemon.

``from hueyd.consumer import Consumer`` is huey's embeddable consumer.
"""
from hueyd.consumer.consumer import Consumer

__all__ = ["Consumer"]
