"""``from huey.consumer_options import ConsumerConfig`` ports as
``from hueyd.consumer_options import ConsumerConfig``: the names :mod:`hueyd.consumer`
exports, plus huey's worker-type constants."""
from __future__ import annotations

from hueyd import lazy
from hueyd.constants import WORKER_THREAD, WORKER_TYPES

__all__ = ["WORKER_THREAD", "WORKER_TYPES"]

__getattr__, __dir__ = lazy.exports(__name__, {}, fallback="hueyd.consumer")
